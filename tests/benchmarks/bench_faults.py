"""Reliability figures: faults injected, samples lost, time to fail, on one managed vLLM server.

    .venv/bin/python tests/benchmarks/bench_faults.py [--limit 24] [--seeds 3]

The scenarios of tests/run/test_faults.py, measured and recorded rather than asserted:

1. Both reversal-curse tasks straight to the server (the baseline), then behind the
   fault-injecting proxy at 30% mixed faults (429, 500, 503, dropped connections), once
   per seed: faults injected, samples lost or duplicated, scores that differ.
2. The proxy failing every request: seconds until the run ends, and its last line.
3. The harness SIGKILLed mid-run and the same command run again: samples kept, samples
   run again, scores that differ from the baseline.

Writes tests/benchmarks/RESULTS_FAULTS.md. Not a test: the timings vary with the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from prosaic_evals.run._resume import samples_written

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from prosaic_evals.models import POOL, resolve_model
from prosaic_evals.run import sample_frame
from tests._faults import FaultProxy

RESULTS = Path(__file__).with_name("RESULTS_FAULTS.md")
TASKS = ["reversal_curse", "reversal_curse_likelihood"]


def cli(
    server: Any, limit: int, url: str, log_dir: Path, *extra: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "prosaic_evals._cli", "run", *TASKS, "--limit", str(limit), "--model", url,
         "--log-dir", str(log_dir), "--no-cache", "--display", "plain", *extra],
        capture_output=True, text=True, env={**os.environ, "VLLM_API_KEY": server.api_key},
    )  # fmt: skip
    return done, time.monotonic() - began


def values(log_dir: Path) -> pd.Series:
    frame = sample_frame(sorted(log_dir.glob("*.eval")))
    return frame.set_index(["task", "sample_id", "metric"])["value"].sort_index()


def compare(after: pd.Series, baseline: pd.Series) -> tuple[int, int, int]:
    """(samples lost, samples duplicated, values that differ)."""
    keys = baseline.index.droplevel("metric").unique()
    got = after.index.droplevel("metric")
    lost = len(set(keys) - set(got))
    duplicated = int(after.index.duplicated().sum())
    shared = after[~after.index.duplicated()].reindex(baseline.index)
    return lost, duplicated, int((shared != baseline).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=24)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    os.environ["PROSAIC_EVALS_HOME"] = str(root / "home")
    server = resolve_model("local").api.server  # type: ignore[attr-defined]
    lines = ["# Reliability under injected faults", "",
             f"Command: `.venv/bin/python tests/benchmarks/bench_faults.py --limit {args.limit} --seeds {args.seeds}`",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
             "embedded model on one managed vLLM-CPU server; both reversal-curse tasks, "
             f"{args.limit} samples each, caching off.", ""]  # fmt: skip
    try:
        done, seconds = cli(server, args.limit, server.base_url, root / "baseline")
        assert done.returncode == 0, done.stderr[-2000:]
        baseline = values(root / "baseline")
        samples = len(baseline.index.droplevel("metric").unique())
        lines += [f"Baseline: {samples} samples, {len(baseline)} scores, {seconds:.0f} s.", "",
                  "## 30% mixed faults (429, 500, 503, dropped connections)", "",
                  "| seed | faults injected | requests forwarded | samples lost | duplicated | scores that differ | time |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for seed in range(args.seeds):
            with FaultProxy(server.root_url, rate=0.3, seed=seed) as proxy:
                done, seconds = cli(server, args.limit, f"{proxy.url}/v1", root / f"faults-{seed}")
            assert done.returncode == 0, done.stderr[-2000:]
            lost, duplicated, differ = compare(values(root / f"faults-{seed}"), baseline)
            kinds = ", ".join(f"{n} x {k}" for k, n in sorted(proxy.faults.items()))
            lines.append(f"| {seed} | {sum(proxy.faults.values())} ({kinds}) | {proxy.forwarded} | {lost} | "
                         f"{duplicated} | {differ} | {seconds:.0f} s |")  # fmt: skip
        with FaultProxy(server.root_url, rate=1.0) as proxy:
            done, seconds = cli(server, 2, f"{proxy.url}/v1", root / "dead")
        last = done.stderr.strip().splitlines()[-1]
        lines += ["", "## Every request failing (default --max-retries 10, --timeout 300)", "",
                  f"Exit code {done.returncode} after {seconds:.0f} s and {sum(proxy.faults.values())} failed "
                  f"requests; the last line: `{last[:400]}`"]  # fmt: skip
        lines += [
            "",
            "## The harness SIGKILLed mid-run, then the same command again",
            "",
            *kill_and_resume(server, args.limit, root / "killed", baseline),
        ]
    finally:
        POOL.shutdown()
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def kill_and_resume(server: Any, limit: int, log_dir: Path, baseline: pd.Series) -> list[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "prosaic_evals._cli", "run", *TASKS, "--limit", str(limit), "--model",
         server.base_url, "--log-dir", str(log_dir), "--no-cache", "--max-connections", "2", "--display", "none"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "VLLM_API_KEY": server.api_key},
    )  # fmt: skip
    while process.poll() is None and samples_written(log_dir) < limit // 2:
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = samples_written(log_dir)
    done, seconds = cli(server, limit, server.base_url, log_dir)
    assert done.returncode == 0, done.stderr[-2000:]
    lost, duplicated, differ = compare(values(log_dir), baseline)
    return [f"Killed with {before} samples in its logs; the second run kept them and ran the rest in {seconds:.0f} s: "
            f"{lost} samples lost, {duplicated} duplicated, {differ} scores that differ from the baseline."]  # fmt: skip


if __name__ == "__main__":
    main()
