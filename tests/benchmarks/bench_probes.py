"""Benchmark: activation extraction against a plain transformers forward pass, and its memory.

    .venv/bin/python tests/benchmarks/bench_probes.py [--texts 512] [--repeats 2] [--sizes 250,1000,2000]

1. Throughput: `probes.extract` (every layer, one position, batches of 16, chunks written to
   disk) against a plain loop over the same padded batches calling
   `model(input_ids, attention_mask, output_hidden_states=True)` and keeping the same
   slices in memory. Target: extraction within 1.1x of the plain loop.
2. Peak memory (max RSS of a fresh process) of an extraction of N texts, for several N.
   Target: flat in N (chunks are streamed to disk, nothing accumulates).

Writes tests/benchmarks/RESULTS_PROBES.md. Not a test: timings vary with the machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("RESULTS_PROBES.md")
BATCH = 16


def texts(n: int) -> list[str]:
    """Reversal-curse statements (true and false), cycled when more are needed (same lengths at every n)."""
    from prosaic_evals.probes._questions import reversal_truth
    from prosaic_evals.spec import load_task

    task = load_task("reversal_curse")
    base = reversal_truth(task.params, "reversal_curse").texts
    return [base[i % len(base)] for i in range(n)]


def prepare(n: int) -> tuple[Any, Any]:
    from prosaic_evals.probes import load_local, locate

    lm = load_local("local")
    batch = texts(n)
    located = locate(lm.tokenizer, batch, [{} for _ in batch], ["end"], [str(i) for i in range(n)])
    return lm, located


def ours(lm: Any, located: Any, root: Path) -> float:
    from prosaic_evals.probes import extract

    start = time.perf_counter()
    extract(lm, located, positions=["end"], layers=list(range(lm.n_layers + 1)), batch_size=BATCH, root=root)
    return time.perf_counter() - start


def plain(lm: Any, located: Any) -> float:
    """What a hand-written script does: pad, forward with hidden states, keep the slices."""
    import numpy as np
    import torch

    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else lm.tokenizer.eos_token_id
    kept = []
    start = time.perf_counter()
    for s in range(0, len(located.ids), BATCH):
        ids = located.ids[s : s + BATCH]
        width = max(len(i) for i in ids)
        batch = torch.tensor([i + [pad] * (width - len(i)) for i in ids])
        mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids])
        with torch.no_grad():
            states = lm.model(input_ids=batch, attention_mask=mask, output_hidden_states=True).hidden_states
        where = torch.tensor([w[0] for w in located.indices[s : s + BATCH]])
        rows = torch.arange(len(ids))
        kept.append(np.stack([h[rows, where].numpy() for h in states], axis=1))
    np.concatenate(kept)
    return time.perf_counter() - start


def peak_memory(n: int) -> dict[str, float]:
    """Extraction of n texts in a fresh process: RSS before it, and the peak RSS during it.

    Loading the model peaks above what it keeps, which would hide extraction in the process's max
    RSS, so the peak (VmHWM) is reset to the current RSS just before extracting (Linux clear_refs).
    """
    code = f"""
import json, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, {str(Path(__file__).parent)!r})
from bench_probes import prepare
from prosaic_evals.probes import extract
def status(key):
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(key))
    return int(line.split()[1]) / 1024
lm, located = prepare({n})
Path("/proc/self/clear_refs").write_text("5")
before = status("VmRSS:")
start = time.perf_counter()
extract(lm, located, positions=["end"], layers=list(range(lm.n_layers + 1)), batch_size={BATCH}, chunk=250,
        root=Path(tempfile.mkdtemp()))
print(json.dumps({{"before": before, "after": status("VmHWM:"), "seconds": time.perf_counter() - start}}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sizes", default="250,1000,2000")
    args = parser.parse_args()

    lm, located = prepare(args.texts)
    plain(lm, located)  # warm-up: first-call allocations
    runs: dict[str, list[float]] = {"plain": [], "ours": []}
    for r in range(args.repeats):
        runs["plain"].append(plain(lm, located))
        runs["ours"].append(ours(lm, located, Path(tempfile.mkdtemp())))
        print(f"repeat {r + 1}: plain {runs['plain'][-1]:.1f} s, extract {runs['ours'][-1]:.1f} s", flush=True)
    med = {k: statistics.median(v) for k, v in runs.items()}
    tokens = sum(len(i) for i in located.ids)
    memory = {}
    for n in [int(s) for s in args.sizes.split(",")]:
        memory[n] = peak_memory(n)
        print(f"{n} texts: {memory[n]}", flush=True)

    lines = [
        "# Probe extraction benchmark results",
        "",
        f"Command: `.venv/bin/python tests/benchmarks/bench_probes.py --texts {args.texts} --repeats {args.repeats} "
        f"--sizes {args.sizes}`",
        f"Machine: {platform.machine()}, CPU only, Python {platform.python_version()}; SmolLM2-135M-Instruct, "
        f"float32, every layer (0-{lm.n_layers}) at one position, batches of {BATCH}.",
        "",
        f"## Throughput ({args.texts} reversal-curse statements, {tokens} tokens)",
        "",
        f"| path | wall time (median of {args.repeats}) | texts/s | runs |",
        "| --- | --- | --- | --- |",
        f"| plain transformers loop (hidden states kept in memory) | {med['plain']:.1f} s | "
        f"{args.texts / med['plain']:.1f} | {', '.join(f'{t:.1f}' for t in runs['plain'])} |",
        f"| prosaic-evals `extract` (chunks written to disk) | {med['ours']:.1f} s | {args.texts / med['ours']:.1f} | "
        f"{', '.join(f'{t:.1f}' for t in runs['ours'])} |",
        "",
        f"Ratio extract / plain: **{med['ours'] / med['plain']:.2f}x** (target <= 1.1x). `extract` runs the decoder "
        "without the vocabulary projection, which the plain loop computes and throws away.",
        "",
        "## Peak memory against the number of texts (fresh process each, chunks of 250; peak reset after loading the model)",
        "",
        "| texts | RSS before extraction | peak RSS during extraction | extraction time |",
        "| --- | --- | --- | --- |",
        *[f"| {n} | {m['before']:.0f} MiB | {m['after']:.0f} MiB | {m['seconds']:.0f} s |" for n, m in memory.items()],
        "",
        f"Activations kept per text: {(lm.n_layers + 1) * lm.model.config.hidden_size * 4 / 1024:.0f} KiB, so "
        f"{max(memory)} texts held in memory would add "
        f"{max(memory) * (lm.n_layers + 1) * lm.model.config.hidden_size * 4 / 2**20:.0f} MiB; "
        f"the growth of the peak from {min(memory)} to {max(memory)} texts is "
        f"{memory[max(memory)]['after'] - memory[min(memory)]['after']:+.0f} MiB.",
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
