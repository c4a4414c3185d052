"""Local fine-tuning with TRL + PEFT (LoRA or full), on CPU or GPU.

Loss is on assistant turns only: each conversation is tokenized with the base
model's chat template and every token outside an assistant turn is masked, by
comparing renderings of successive prefixes of the conversation (this works for
any template that renders a prefix of a conversation as a prefix of the whole).
Training writes checkpoints into a work folder named after the recipe's
identity, so an interrupted run resumes where it stopped. A checkpoint counts
only once it is complete: a marker file is written after the trainer has saved
everything in it, older checkpoints are deleted only then, and a resume starts
from the newest marked one, discarding any that a kill left half-written.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prosaic_evals._errors import UserError
from prosaic_evals.finetune._registry import ADAPTER, WEIGHTS
from prosaic_evals.finetune._spec import FineTuneSpec

IGNORE = -100
TRAINING_LOG = "training_log.jsonl"
COMPLETE = ".complete"
"""Written into a checkpoint folder once the trainer has saved all of it."""


def encode_chat(tokenizer: Any, messages: list[dict[str, str]], max_length: int) -> dict[str, list[int]]:
    """Token ids and labels (IGNORE outside assistant turns) for one conversation."""

    def render(part: list[dict[str, str]], generation_prompt: bool = False) -> list[int]:
        ids = tokenizer.apply_chat_template(
            part, add_generation_prompt=generation_prompt, tokenize=True, return_dict=False
        )
        return list(ids)

    ids: list[int] = []
    labels: list[int] = []
    for i, message in enumerate(messages):
        start = render(messages[:i], generation_prompt=True) if message["role"] == "assistant" and i else ids
        full = render(messages[: i + 1])
        if full[: len(start)] != start or start[: len(ids)] != ids:
            raise UserError(
                "the base model's chat template does not render a conversation's prefix as its prefix, "
                "so its non-assistant tokens cannot be masked"
            )
        trained = full[len(start) :] if message["role"] == "assistant" else []
        labels += [IGNORE] * (len(full) - len(ids) - len(trained)) + trained
        ids = full
    return {"input_ids": ids[:max_length], "labels": labels[:max_length]}


def encode_completion(tokenizer: Any, prompt: str, completion: str, max_length: int) -> dict[str, list[int]]:
    """Token ids and labels (IGNORE on the prompt) for raw text: the prompt with the model's BOS as a server
    tokenizes it, then the completion and EOS, as TRL's prompt-completion format does."""
    from prosaic_evals.models._completions import after_seam

    prompt_ids = list(tokenizer(prompt)["input_ids"])
    completion_ids = [*tokenizer(after_seam(prompt, completion), add_special_tokens=False)["input_ids"]]
    completion_ids.append(tokenizer.eos_token_id)
    ids = prompt_ids + completion_ids
    labels = [IGNORE] * len(prompt_ids) + completion_ids
    return {"input_ids": ids[:max_length], "labels": labels[:max_length]}


def train(
    spec: FineTuneSpec,
    records: list[dict[str, Any]],
    *,
    base_path: str,
    work: Path,
    progress: Callable[[str], None],
) -> tuple[Path, dict[str, Any]]:
    """Train in `work`; return the folder holding the result and the training metrics."""
    import torch
    from datasets import Dataset  # type: ignore[attr-defined]  # mypy sees the datasets/ data folder
    from datasets.utils.logging import disable_progress_bar
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback
    from transformers.utils import logging as transformers_logging

    from prosaic_evals.models._chat import ensure_chat_template

    disable_progress_bar()  # their bars would drown our progress line
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    hp = spec.hyperparameters
    try:
        tokenizer = AutoTokenizer.from_pretrained(base_path)
    except OSError as e:
        raise UserError(f"base: cannot load {base_path} ({str(e).splitlines()[0]})") from None
    ensure_chat_template(tokenizer)
    encoded = [
        encode_chat(tokenizer, r["messages"], hp.max_length)
        if spec.format == "chat"
        else encode_completion(tokenizer, r["prompt"], r["completion"], hp.max_length)
        for r in records
    ]
    for number, example in enumerate(encoded, start=1):
        if all(label == IGNORE for label in example["labels"]):
            raise UserError(
                f"training record {number} has no assistant token within max_length {hp.max_length}; "
                "raise hyperparameters.max_length"
            )
    cuda = torch.cuda.is_available()
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.bfloat16 if cuda else torch.float32)
    steps = math.ceil(len(encoded) / (hp.batch_size * hp.gradient_accumulation_steps)) * hp.epochs
    checkpoints = work / "checkpoints"
    trainer = _trainer(spec, model, tokenizer, Dataset.from_list(encoded), checkpoints, steps, cuda)
    trainer.remove_callback(PrinterCallback)  # our progress line replaces its dict dumps
    trainer.add_callback(_progress_callback(progress, work / TRAINING_LOG, steps))
    trainer.add_callback(_complete_checkpoints_callback(checkpoints))
    resume = _prepare_resume(checkpoints, work / TRAINING_LOG)
    if resume:
        progress(f"Resuming an interrupted run from step {resume}")
    began = time.monotonic()
    with _head_on_trained_tokens_only(), _shared_prefix_once(trainer.model):
        result = trainer.train(resume_from_checkpoint=str(checkpoints / f"checkpoint-{resume}") if resume else None)
    final = work / "final"
    trainer.save_model(str(final / (ADAPTER if spec.method == "lora" else WEIGHTS)))
    if spec.method == "full":
        tokenizer.save_pretrained(final / WEIGHTS)
    (final / TRAINING_LOG).write_text((work / TRAINING_LOG).read_text())
    losses = [json.loads(line)["loss"] for line in (work / TRAINING_LOG).read_text().splitlines()]
    metrics = {
        "examples": len(encoded),
        "steps": result.global_step,
        "epochs": hp.epochs,
        "train_loss": result.training_loss,
        "final_loss": losses[-1] if losses else None,
        "runtime_s": round(time.monotonic() - began, 1),
        "seconds_per_step": round((time.monotonic() - began) / max(result.global_step, 1), 3),
        "device": "cuda" if cuda else "cpu",
        "resumed_from_step": resume,
    }
    return final, metrics


@contextlib.contextmanager
def _head_on_trained_tokens_only() -> Iterator[None]:
    """Let TRL's fused output head score only the positions that carry a label, on every device.

    TRL does so on Triton devices only; elsewhere it scores every position, so that graph compilers see one shape.
    Eager CPU compiles nothing, and most of a chat record is prompt and template (about 12 of 59 tokens are trained
    in the reversal-curse data), so the head did 5x the work it needs: a third of a CPU training step. The
    log-probabilities of the trained positions are the same either way."""
    from trl.trainer import utils as trl_utils

    on_triton = getattr(trl_utils, "_use_triton", None)
    if on_triton is None:  # another TRL: it trains as TRL does
        yield
        return
    setattr(trl_utils, "_use_triton", lambda device: device.type == "cpu" or on_triton(device))  # noqa: B010
    try:
        yield
    finally:
        setattr(trl_utils, "_use_triton", on_triton)  # noqa: B010


MIN_SHARED_PREFIX = 8
"""Tokens a batch's rows must share at their start before the prefix is computed once for all of them."""


@contextlib.contextmanager
def _shared_prefix_once(model: Any) -> Iterator[None]:
    """Run the tokens that open every row of a training batch through the model once, not once per row.

    Chat records share their template's opening (SmolLM2's default system prompt is 24 of a reversal-curse record's
    59 tokens). The backbone runs that prefix for one row, repeats its key/value cache over the batch and runs the
    rest of every row after it: the same attention, positions and gradients (they flow back through the repeated
    cache), a third fewer tokens: 2.24 -> 1.87 s a step on 2 CPU cores. Batches that share fewer than
    MIN_SHARED_PREFIX tokens, and models or calls this has not been checked for (sliding-window or recurrent layers,
    flash attention, gradient checkpointing, extra outputs), take the model's own path."""
    import torch
    from transformers import DynamicCache
    from transformers.modeling_outputs import BaseModelOutputWithPast

    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    backbone = causal_lm.base_model
    config = backbone.config
    windowed = getattr(config, "sliding_window", None) is not None
    layer_types = set(getattr(config, "layer_types", None) or ["sliding_attention" if windowed else "full_attention"])
    if layer_types != {"full_attention"} or getattr(config, "_attn_implementation", None) not in ("sdpa", "eager"):
        yield
        return
    own = backbone.forward

    def forward(input_ids: Any = None, attention_mask: Any = None, **kwargs: Any) -> Any:
        n = _shared_prefix_length(input_ids, attention_mask)
        asked = {key for key, value in kwargs.items() if value is not None and value is not False}
        if n < MIN_SHARED_PREFIX or asked - {"use_cache", "return_dict"} or backbone.gradient_checkpointing:
            return own(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        rows = input_ids.shape[0]
        cache = DynamicCache(config=config)
        head = own(input_ids=input_ids[:1, :n], attention_mask=attention_mask[:1, :n], past_key_values=cache,
                   use_cache=True)  # fmt: skip
        cache.batch_repeat_interleave(rows)
        tail = own(input_ids=input_ids[:, n:], attention_mask=attention_mask, past_key_values=cache, use_cache=True)
        hidden = torch.cat([head.last_hidden_state.expand(rows, -1, -1), tail.last_hidden_state], dim=1)
        return BaseModelOutputWithPast(last_hidden_state=hidden)  # type: ignore[arg-type]

    backbone.forward = forward
    try:
        yield
    finally:
        del backbone.forward  # back to the class's own


def _shared_prefix_length(input_ids: Any, attention_mask: Any) -> int:
    """How many leading tokens every row has, the same and unmasked (at most all but one; 0 for a single row)."""
    if input_ids is None or attention_mask is None or input_ids.dim() != 2 or input_ids.shape[0] < 2:
        return 0
    same = (input_ids == input_ids[:1]).all(dim=0) & attention_mask.bool().all(dim=0)
    differs = (~same).nonzero()
    n = int(differs[0]) if len(differs) else int(input_ids.shape[1])
    return min(n, int(input_ids.shape[1]) - 1)


def _checkpoint_step(path: Path) -> int | None:
    name = path.name.removeprefix("checkpoint-")
    return int(name) if path.is_dir() and name.isdigit() else None


def _prepare_resume(checkpoints: Path, log: Path) -> int:
    """The step of the newest complete checkpoint (0 if none); deletes the others, and log lines written after it."""
    found = {step: p for p in checkpoints.glob("checkpoint-*") if (step := _checkpoint_step(p)) is not None}
    complete = [step for step, p in found.items() if (p / COMPLETE).is_file()]
    step = max(complete, default=0)
    for other, path in found.items():
        if other != step:  # half-written by a kill, or superseded
            shutil.rmtree(path, ignore_errors=True)
    if log.is_file():
        kept = []
        for line in log.read_text().splitlines():
            with contextlib.suppress(ValueError, KeyError, TypeError):  # a line cut short by a kill
                if step and json.loads(line)["step"] <= step:
                    kept.append(line)
        log.write_text("".join(f"{line}\n" for line in kept))
    return step


def _complete_checkpoints_callback(checkpoints: Path) -> Any:
    from transformers import TrainerCallback

    class CompleteCheckpoints(TrainerCallback):
        """Mark a checkpoint complete once saved, then delete the older ones (never before)."""

        def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            newest = checkpoints / f"checkpoint-{state.global_step}"
            (newest / COMPLETE).write_text(str(state.global_step))
            for path in checkpoints.glob("checkpoint-*"):
                if path != newest and _checkpoint_step(path) is not None:
                    shutil.rmtree(path, ignore_errors=True)

    return CompleteCheckpoints()


def _trainer(spec: FineTuneSpec, model: Any, tokenizer: Any, dataset: Any, output: Path, steps: int, cuda: bool) -> Any:
    from peft import LoraConfig
    from trl.trainer.sft_config import SFTConfig
    from trl.trainer.sft_trainer import SFTTrainer

    hp = spec.hyperparameters
    config = SFTConfig(
        output_dir=str(output),
        num_train_epochs=hp.epochs,
        per_device_train_batch_size=hp.batch_size,
        gradient_accumulation_steps=hp.gradient_accumulation_steps,
        learning_rate=hp.learning_rate,
        lr_scheduler_type=hp.lr_scheduler,
        warmup_steps=hp.warmup_ratio,  # a float below 1 is a ratio of all steps
        max_length=hp.max_length,
        logging_steps=1,
        save_strategy="steps",
        save_steps=max(1, math.ceil(steps / hp.checkpoints)),
        save_total_limit=None,  # the callback above deletes old checkpoints, only once a newer one is complete
        report_to=[],
        seed=spec.seed,
        data_seed=spec.seed,
        use_cpu=not cuda,
        bf16=cuda,
        disable_tqdm=True,
        gradient_checkpointing=hp.gradient_checkpointing,  # TRL turns it on by default
    )
    lora = None
    if spec.method == "lora":
        lora = LoraConfig(
            r=hp.lora_rank, lora_alpha=hp.lora_alpha, lora_dropout=hp.lora_dropout,
            target_modules=hp.lora_target_modules, task_type="CAUSAL_LM",
        )  # fmt: skip
    return SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer, peft_config=lora)


def _progress_callback(progress: Callable[[str], None], log_path: Path, steps: int) -> Any:
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        """Print step, loss and time left; append every logged loss to the training log."""

        def __init__(self) -> None:
            self.began = time.monotonic()
            self.first_step: int | None = None
            self.last_print = 0.0

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            if not logs or "loss" not in logs:
                return
            entry = {"step": state.global_step, "epoch": round(state.epoch or 0, 4), "loss": float(logs["loss"]),
                     "learning_rate": logs.get("learning_rate"), "grad_norm": logs.get("grad_norm")}  # fmt: skip
            with log_path.open("a") as f:
                f.write(json.dumps(entry) + "\n")
            if self.first_step is None:
                self.first_step = state.global_step - 1
            now = time.monotonic()
            if now - self.last_print < 10 and state.global_step != steps:
                return
            self.last_print = now
            per_step = (now - self.began) / max(state.global_step - self.first_step, 1)
            left = (steps - state.global_step) * per_step
            progress(
                f"  step {state.global_step}/{steps}  epoch {entry['epoch']:.2f}  loss {entry['loss']:.3f}  "
                f"{per_step:.1f} s/step  ~{left / 60:.0f} min left"
            )

    return Progress()
