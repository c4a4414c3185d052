"""Benchmark: a study matrix against the same cells run by hand, and the Ray executor against the local one.

    .venv/bin/python tests/benchmarks/bench_sweep.py [--facts 2] [--epochs 1]

A 2 x 2 sweep (seeds 0, 1 x two recipes) of tiny reversal-curse cells (exact match only), three ways, each from a
fresh state folder (nothing reused, the embedded model shared):

1. `prosaic-evals study FILE` (local executor: one cell after another, one evaluation per base);
2. by hand: per cell `prosaic-evals finetune SPEC` and `prosaic-evals compare ... -m local -m
   variant/NAME -o DIR`, each its own process, as a researcher without sweeps would script it;
3. `prosaic-evals study FILE --executor ray` (a local Ray cluster with this machine's CPUs).

Target for 1 against 2: <= 1.05x. Writes tests/benchmarks/RESULTS_SWEEP.md. Not a test: timings
vary with the machine; run it on an idle one.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

RESULTS = Path(__file__).with_name("RESULTS_SWEEP.md")
CLI = [sys.executable, "-m", "prosaic_evals._cli"]


def study_file(folder: Path, facts: int, epochs: int) -> Path:
    spec = {
        "name": "bench_sweep", "tasks": ["reversal_curse"],
        "task_args": {"seed": 0, "facts_per_subset": facts, "train_templates": 4}, "seeds": [0, 1],
        "recipes": [{"name": "r8", "hyperparameters": {"lora_rank": 8}}, {"name": "r16", "hyperparameters": {"lora_rank": 16}}],
        "finetune": {"name": "bench-sweep", "hyperparameters": {"epochs": epochs, "batch_size": 8, "learning_rate": 3e-3}},
    }  # fmt: skip
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    began = time.monotonic()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[3:])} failed:\n{done.stderr[-3000:]}")
    return time.monotonic() - began


def fresh_env(root: Path, name: str) -> dict[str, str]:
    home = root / name
    return {**os.environ, "PROSAIC_EVALS_HOME": str(home), "INSPECT_CACHE_DIR": str(home / "inspect-cache")}


def by_hand(path: Path, env: dict[str, str]) -> float:
    """Each cell as its own fine-tune and compare commands, from the same cell specs the study expands."""
    from prosaic_evals.study._study import cells, load_study

    spec = load_study(path)
    total = 0.0
    for cell in cells(spec):
        cell_file = path.parent / f"{cell.key}.yaml"
        cell_file.write_text(yaml.safe_dump(cell.finetune.model_dump(mode="json", exclude_unset=True)))
        total += timed([*CLI, "finetune", str(cell_file)], env, path.parent)
        overrides = [x for k, v in spec.task_args.items() for x in ("-T", f"{k}={v}")]
        total += timed([*CLI, "compare", *spec.tasks, *overrides, "-m", "local", "-m", f"variant/{cell.finetune.name}",
                        "--log-dir", str(path.parent / "hand" / cell.key / "logs"), "-o",
                        str(path.parent / "hand" / cell.key), "--display", "none"], env, path.parent)  # fmt: skip
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--facts", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        root = Path(tmp)
        path = study_file(root, args.facts, args.epochs)
        print("study, local executor ...", flush=True)
        study = timed([*CLI, "study", str(path), "-o", str(root / "local")], fresh_env(root, "home-local"), root)
        print(f"  {study:.0f} s\nby hand ...", flush=True)
        hand = by_hand(path, fresh_env(root, "home-hand"))
        print(f"  {hand:.0f} s\nstudy, Ray executor ...", flush=True)
        ray = timed([*CLI, "study", str(path), "-o", str(root / "ray"), "--executor", "ray"],
                    fresh_env(root, "home-ray"), root)  # fmt: skip
        print(f"  {ray:.0f} s", flush=True)
    RESULTS.write_text(f"""# Sweep benchmark results

Command: `.venv/bin/python tests/benchmarks/bench_sweep.py --facts {args.facts} --epochs {args.epochs}`
Machine: {platform.machine()}, {os.cpu_count()} cores, CPU only; load average {load:.2f} at the start.
A 2 x 2 matrix (seeds 0, 1 x LoRA rank 8, 16) of tiny reversal-curse cells ({args.facts} facts per subset,
{args.epochs} epoch), both tasks, each way from a fresh state folder (fine-tunes, server starts and
evaluations all counted); the reversal_curse task (exact match) only.

| way | wall time |
| --- | --- |
| `prosaic-evals study` (local executor) | {study:.0f} s |
| by hand: `finetune` + `compare` per cell | {hand:.0f} s |
| `prosaic-evals study --executor ray` (local cluster, {os.cpu_count()} CPUs) | {ray:.0f} s |

Sweep against by hand: **{study / hand:.2f}x** (target <= 1.05x). Ray against the local executor:
{ray / study:.2f}x.
""")
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
