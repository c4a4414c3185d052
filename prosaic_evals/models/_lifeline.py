"""Tie a server's life to the harness that started it: `python _lifeline.py FD -- COMMAND...`.

Run as a plain script (no package imports, so it starts in milliseconds). It
leads the server's process group, runs COMMAND as its child, and when the
harness goes away by any path, SIGKILL and the OOM killer included, it takes
the whole group down: the kernel closes the harness's end of the pipe FD
(read here as end-of-file), and the harness's death reparents this process
(a changed parent pid), whichever is noticed first. A SIGTERM to this process
alone does the same. Its exit code is the server's.

Descendants that leave the group (Ray's raylet starts each worker in a session
of its own) go down with it: this process is their "child subreaper" (Linux),
so they stay its descendants even when their own parent dies first.
"""

import contextlib
import ctypes
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


PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> None:
    """Orphaned descendants are re-parented to this process instead of init (Linux; elsewhere a no-op)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _take_down_group() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the group signal must not stop us before the kill
    group = os.getpgrp()
    os.killpg(group, signal.SIGTERM)
    _signal(_others(group), signal.SIGTERM)  # the descendants outside the group
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline and _others(group):
        time.sleep(0.2)
    _signal(_others(group), signal.SIGKILL)
    os.killpg(group, signal.SIGKILL)  # kills us too


def _signal(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def _others(group: int) -> list[int]:
    """Live processes other than this one in `group` or descended from this one."""
    me, parents, found = os.getpid(), {}, []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] == "Z":
            continue
        if int(fields[2]) == group:
            found.append(int(entry))
        else:
            parents[int(entry)] = int(fields[1])
    for pid in parents:  # the rest: ours if a chain of parents leads to a process of the group
        chain, ancestor = 0, parents[pid]
        while ancestor in parents and chain < 64:
            ancestor, chain = parents[ancestor], chain + 1
        if ancestor == me or ancestor in found:
            found.append(pid)
    return found


def main() -> None:
    fd, separator, command = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    assert separator == "--" and command, "usage: _lifeline.py FD -- COMMAND..."
    parent = os.getppid()
    signal.signal(signal.SIGTERM, _on_sigterm)
    _become_subreaper()
    server = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    try:
        while os.getppid() == parent:
            code = server.poll()
            if code is not None:  # the server ended on its own: the harness restarts or reports it
                _signal(_others(os.getpgrp()), signal.SIGKILL)  # its engine and workers must not outlive it
                sys.exit(code)
            readable, _, _ = select.select([fd], [], [], 0.5)
            if readable and not os.read(fd, 1):
                break  # end of file: the harness closed its end, or died
    except _Stop:
        pass
    _take_down_group()


if __name__ == "__main__":
    main()
