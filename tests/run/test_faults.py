"""Faults on a real server: a flaky or dead server behind a fault-injecting proxy, a harness killed
or stopped mid-run. Runs go through the server URL (`--model http://...`), so the session's shared
tiny-model server serves them all (faults and resumes are the same for any model, and it answers fast);
what a managed server does when the harness dies is in tests/test_cli.py."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from inspect_ai.log import read_eval_log

from prosaic_evals.run import sample_frame
from prosaic_evals.run._resume import samples_written
from tests._faults import FaultProxy
from tests._processes import sigint_default

pytestmark = pytest.mark.slow
TASKS = ["reversal_curse", "reversal_curse_likelihood"]


@pytest.fixture(scope="module")
def server(tiny_server: Any) -> Any:
    return tiny_server


def cli(server: Any, *args: str, timeout: float = 900) -> tuple[subprocess.CompletedProcess[str], float]:
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "prosaic_evals._cli", *args, *(["--display", "plain"] if args[0] == "run" else [])],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, "VLLM_API_KEY": server.api_key},
    )  # fmt: skip
    return done, time.monotonic() - began


def values(log_dir: Path) -> pd.Series:
    frame = sample_frame(sorted(log_dir.glob("*.eval")))
    return frame.set_index(["task", "sample_id", "metric"])["value"].sort_index()


@pytest.fixture(scope="module")
def baseline(server: Any, tmp_path_factory: pytest.TempPathFactory) -> pd.Series:
    """Both tasks on 24 samples each, straight to the server, nothing cached."""
    logs = tmp_path_factory.mktemp("baseline")
    done, _ = cli(
        server, "run", *TASKS, "--limit", "24", "--model", server.base_url, "--log-dir", str(logs), "--no-cache"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return values(logs)


def test_a_30_percent_fault_rate_changes_no_result(server: Any, baseline: pd.Series, tmp_path: Path) -> None:
    with FaultProxy(server.root_url, rate=0.3, seed=7) as proxy:
        done, _ = cli(server, "run", *TASKS, "--limit", "24", "--model", f"{proxy.url}/v1", "--log-dir", str(tmp_path),
                      "--no-cache")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    injected = sum(proxy.faults.values())
    assert injected >= 20 and set(proxy.faults) == {"429", "500", "503", "drop"}, proxy.faults
    assert "retry 1 of 10" in done.stdout + done.stderr  # retries are shown as they happen
    after = values(tmp_path)
    assert after.index.equals(baseline.index)  # no sample lost or duplicated
    assert after.equals(baseline)  # and every score identical


def test_a_server_failing_every_request_ends_the_run_in_bounded_time_with_one_line(server: Any, tmp_path: Path) -> None:
    with FaultProxy(server.root_url, rate=1.0, seed=7) as proxy:  # 3 retries; the defaults' bound: test_retry.py
        done, seconds = cli(server, "run", "reversal_curse", "--limit", "2", "--model", f"{proxy.url}/v1",
                            "--log-dir", str(tmp_path), "--no-cache", "--max-retries", "3")  # fmt: skip
    assert done.returncode == 2, done.stderr[-3000:]
    assert seconds < 120
    assert sum(proxy.faults.values()) >= 4
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and done.stderr.strip().splitlines()[-1] == errors[0]
    assert "ran out of retries" in errors[0] and "--max-retries and --timeout" in errors[0]
    assert re.search(r"retry \d+ of 3", output)


def _interrupt(server: Any, log_dir: Path, signum: int, *, after_samples: int) -> subprocess.Popen[str]:
    """A run of both tasks on 40 samples, sent `signum` once `after_samples` samples are in its logs."""
    process = subprocess.Popen(
        [sys.executable, "-m", "prosaic_evals._cli", "run", *TASKS, "--limit", "24", "--model", server.base_url,
         "--log-dir", str(log_dir), "--no-cache", "--max-connections", "2", "--display", "plain"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=sigint_default,
        env={**os.environ, "VLLM_API_KEY": server.api_key},
    )  # fmt: skip
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        if samples_written(log_dir) >= after_samples:
            break
        time.sleep(0.2)
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(signum)
    process.wait(timeout=120)
    return process


def test_a_sigkilled_run_resumes_with_only_the_missing_samples_and_identical_numbers(
    server: Any, baseline: pd.Series, tmp_path: Path
) -> None:
    killed = _interrupt(server, tmp_path, signal.SIGKILL, after_samples=6)
    assert killed.returncode == -signal.SIGKILL
    statuses = {read_eval_log(str(p), header_only=True).status for p in tmp_path.glob("*.eval")}
    assert "started" in statuses  # a killed process never finished its logs

    done, _ = cli(server, "run", *TASKS, "--limit", "24", "--model", server.base_url, "--log-dir", str(tmp_path),
                  "--no-cache")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Resuming" in done.stderr and "only the missing samples run" in done.stderr
    kept = re.search(r"(\d+) were already in the log folder", " ".join(done.stdout.split()))
    assert kept and int(kept.group(1)) >= 6
    assert len(list(tmp_path.glob("*.eval"))) == 2  # the resumed logs replaced the interrupted ones
    assert values(tmp_path).equals(baseline)


def test_sigterm_cancels_the_logs_and_a_rerun_or_inspect_eval_retry_finishes_them(
    server: Any, baseline: pd.Series, tmp_path: Path
) -> None:
    stopped = _interrupt(server, tmp_path, signal.SIGTERM, after_samples=4)
    assert stopped.returncode == 128 + signal.SIGTERM
    last = (stopped.stderr.read() if stopped.stderr else "").strip().splitlines()[-1]
    assert last.startswith("interrupted by SIGTERM; logs of what completed are in")
    logs = sorted(tmp_path.glob("*.eval"))  # tasks run one after the other: the first was stopped mid-way
    assert [read_eval_log(str(p), header_only=True).status for p in logs] == ["cancelled"]

    results, _ = cli(server, "results", str(tmp_path))  # a partial log is flagged, counted against what was asked
    assert results.returncode == 0
    flat = " ".join(results.stdout.split())  # rich wraps long lines
    assert re.search(r"did not finish \(status cancelled\): \d+ of 24 samples were scored", flat)

    header = read_eval_log(str(logs[0]), header_only=True)
    assert header.eval.task_registry_name in {f"prosaic_evals/{t}" for t in TASKS}
    assert header.eval.task_args_passed["facts_per_subset"] == 30  # every parameter, for the viewer and evals_df
    retry = subprocess.run(
        [sys.executable, "-m", "inspect_ai", "eval-retry", str(logs[0]), "--log-dir", str(tmp_path), "--display", "none"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "VLLM_API_KEY": server.api_key},
    )  # fmt: skip
    assert retry.returncode == 0, retry.stderr[-3000:]

    done, _ = cli(server, "run", *TASKS, "--limit", "24", "--model", server.base_url, "--log-dir", str(tmp_path),
                  "--no-cache")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "is complete for this task and model: reused, nothing runs" in done.stderr  # inspect's retry finished it
    assert "Resuming" not in done.stderr  # and the second task had not begun: it runs in full
    final, _ = cli(server, "results", str(tmp_path))
    assert "superseded by its retry" in final.stderr
    current = [p for p in tmp_path.glob("*.eval") if read_eval_log(str(p), header_only=True).status == "success"]
    assert values_of(current).equals(baseline)


def values_of(paths: list[Path]) -> pd.Series:
    frame = sample_frame(sorted(paths))
    return frame.set_index(["task", "sample_id", "metric"])["value"].sort_index()
