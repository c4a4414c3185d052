"""Tie a server's life to the harness that started it: `python _lifeline.py FD -- COMMAND...`.

Run as a plain script (no package imports, so it starts in milliseconds). It
leads the server's process group, runs COMMAND as its child, and when the
harness goes away by any path, SIGKILL and the OOM killer included, it takes
the whole group down: the kernel closes the harness's end of the pipe FD
(read here as end-of-file), and the harness's death reparents this process
(a changed parent pid), whichever is noticed first. A SIGTERM to this process
alone does the same. Its exit code is the server's.
"""

import contextlib
import os
import select
import signal
import subprocess
import sys
import time

GRACE_S = 20.0
"""How long the server gets to exit after SIGTERM before the group is killed."""


class _Stop(Exception):
    """SIGTERM arrived."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Stop


def _take_down_group() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the group signal must not stop us before the kill
    group = os.getpgrp()
    os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline and _others_alive(group):
        time.sleep(0.2)
    os.killpg(group, signal.SIGKILL)  # kills us too


def _others_alive(group: int) -> bool:
    return bool(_others(group))


def _others(group: int) -> list[int]:
    """Live processes of `group` other than this one."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == group:
            found.append(int(entry))
    return found


def main() -> None:
    fd, separator, command = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    assert separator == "--" and command, "usage: _lifeline.py FD -- COMMAND..."
    parent = os.getppid()
    signal.signal(signal.SIGTERM, _on_sigterm)
    server = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    try:
        while os.getppid() == parent:
            code = server.poll()
            if code is not None:  # the server ended on its own: the harness restarts or reports it
                for pid in _others(os.getpgrp()):  # its engine and workers must not outlive it
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                sys.exit(code)
            readable, _, _ = select.select([fd], [], [], 0.5)
            if readable and not os.read(fd, 1):
                break  # end of file: the harness closed its end, or died
    except _Stop:
        pass
    _take_down_group()


if __name__ == "__main__":
    main()
