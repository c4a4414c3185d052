"""No server outlives the harness: the lifeline, and the reaping of orphans left by older versions.

A stand-in server (a tiny HTTP server with a child of its own, like vLLM's engine
core) runs through the real VLLMServer code path, so these run in seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from prosaic_evals.models._vllm_server import _group_members, reap_orphans, write_record

STAND_IN = textwrap.dedent(
    """
    import http.server, os, subprocess, sys
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)"])  # the "engine core"
    # a worker in a session of its own, as Ray's raylet starts them (marked by the test's home folder)
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)", "escaped", os.environ["PROSAIC_EVALS_HOME"]],
                     start_new_session=True)

    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers()
        def log_message(self, *a):
            pass

    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Ok).serve_forever()
    """
)

HARNESS = textwrap.dedent(
    """
    import sys, time
    from prosaic_evals.models._vllm_server import LaunchSpec, VLLMServer

    class StandIn(LaunchSpec):
        def command(self, port):
            return [sys.executable, "-c", sys.argv[1], str(port)]

    server = VLLMServer(StandIn(model="m", served_name="stand-in"))
    server.start(progress=lambda _: None)
    print(server._process.pid, flush=True)
    time.sleep(1000)
    """
)


def wait_until_gone(group: int, timeout: float = 40) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _group_members(group):
            return True
        time.sleep(0.2)
    return False


def start_harness(tmp_path: Path) -> tuple[subprocess.Popen[str], int]:
    harness = subprocess.Popen(
        [sys.executable, "-c", HARNESS, STAND_IN], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PROSAIC_EVALS_HOME": str(tmp_path)},
    )  # fmt: skip
    assert harness.stdout is not None
    group = int(harness.stdout.readline())
    members = []
    for _ in range(100):  # the stand-in and its child
        members = _group_members(group)
        if len(members) >= 3:
            break
        time.sleep(0.1)
    assert len(members) >= 3, members  # lifeline, server, engine core
    return harness, group


def escaped(tmp_path: Path) -> list[int]:
    """The stand-in's worker that left the group, while it lives."""
    marker = b"\0escaped\0" + str(tmp_path).encode() + b"\0"
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and marker in _cmdline(int(p.name))]


def wait_until_escaped_gone(tmp_path: Path, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while escaped(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not escaped(tmp_path)


def test_a_sigkilled_harness_takes_its_server_group_with_it(tmp_path: Path) -> None:
    harness, group = start_harness(tmp_path)
    for _ in range(50):
        if escaped(tmp_path):
            break
        time.sleep(0.1)
    assert escaped(tmp_path)
    harness.kill()  # SIGKILL: no handler, no atexit
    harness.wait()
    assert wait_until_gone(group), _group_members(group)
    assert wait_until_escaped_gone(tmp_path), "a descendant outside the group outlived the harness"


def test_a_server_killed_alone_does_not_leave_its_children(tmp_path: Path) -> None:
    harness, group = start_harness(tmp_path)
    try:
        server = next(pid for pid in _group_members(group) if pid != group and b"serve_forever" in _cmdline(pid))
        os.kill(server, signal.SIGKILL)  # the server crashes: its engine core must not linger
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(_group_members(group)) > 0:
            time.sleep(0.2)
        assert _group_members(group) == []
        assert wait_until_escaped_gone(tmp_path)
        assert harness.poll() is None  # the harness is untouched: it restarts or reports the server
    finally:
        harness.kill()
        harness.wait()


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_orphans_of_dead_harnesses_are_reaped_and_live_ones_left_alone(tmp_path: Path) -> None:
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)"], start_new_session=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)"], start_new_session=True)
    try:
        write_record(tmp_path / "orphan-1.json", orphan.pid, 1, "orphan")
        record = json.loads((tmp_path / "orphan-1.json").read_text())
        record["owner"] = {"pid": 2**22 + 7, "start": "0"}  # a harness that no longer exists
        (tmp_path / "orphan-1.json").write_text(json.dumps(record))
        write_record(tmp_path / "live-2.json", live.pid, 2, "live")  # owned by this (live) process
        (tmp_path / "junk.json").write_text("{not json")
        said: list[str] = []
        assert reap_orphans(tmp_path, said.append) == [1]
        assert orphan.wait(timeout=30) is not None
        assert live.poll() is None and (tmp_path / "live-2.json").is_file()
        assert not (tmp_path / "orphan-1.json").exists()
        assert said == ["Stopping an orphaned vLLM server from an earlier run (orphan, port 1)"]
    finally:
        for process in (orphan, live):
            process.kill()
            process.wait()


def test_a_reused_pid_is_not_mistaken_for_the_orphan(tmp_path: Path) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)"], start_new_session=True)
    try:
        write_record(tmp_path / "gone-3.json", bystander.pid, 3, "gone")
        record = json.loads((tmp_path / "gone-3.json").read_text())
        record["owner"] = {"pid": 2**22 + 7, "start": "0"}
        record["group_start"] = "1"  # the recorded server started at another time: this pid was reused
        (tmp_path / "gone-3.json").write_text(json.dumps(record))
        assert reap_orphans(tmp_path, lambda _: None) == []
        assert bystander.poll() is None and not (tmp_path / "gone-3.json").exists()
    finally:
        bystander.kill()
        bystander.wait()
