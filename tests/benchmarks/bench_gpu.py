"""Benchmark: the local-weights paths on a GPU against plain PyTorch loops (training step, probes, likelihood).

    .venv/bin/python tests/benchmarks/bench_gpu.py [--device cuda] [--dtype bfloat16] [--size 135m]
        [--repeats 5] [--checkpointing project|on|off] [--out tests/benchmarks/RESULTS_GPU.md] [--quick]

Made for a CUDA machine with torch, transformers and peft (+ numpy) and nothing else: no vLLM,
no TRL, no inspect-ai, no package registry, no network. The model is built from a config
(LlamaConfig of SmolLM2-135M's shape by default, `--size` for bigger shapes), random weights
from a fixed seed, float32 on CPU and bfloat16 on CUDA by default; random token ids as data.
`--quick` (a tiny model, a few items) proves the script works on a CPU in well under a minute.

1. LoRA training step: forward, backward, gradient clipping (1.0) and a fused AdamW step on the
   model wrapped by peft with the LoRA configuration the project builds, against the same step
   with LoRA written by hand (the same A and B weights on the same linear layers) and a
   hand-written cross-entropy. Also: |loss difference| of the first step (same weights, same batch).
2. Probe extraction: `prosaic_evals.probes._extract.extract` (every layer, two positions per text,
   batches of 16, chunks written to a fresh folder each repeat) against a plain loop calling
   `model(input_ids, attention_mask, output_hidden_states=True)` on the same padded batches and
   keeping the same slices in memory (as bench_probes.py). Also: max |difference| of the activations.
3. Local-weights likelihood: `HFForward._forward` (prosaic_evals/likelihood/_backends.py, as this
   checkout has it) on prompts x candidates, against one right-padded forward pass over prompt +
   candidate for every candidate (batches of 16). Also: max |difference| of the log-probabilities.

Target for each: the project path within 1.05x of the plain loop (median of --repeats runs after one
warm-up run of each; runs alternate between the two; torch.cuda.synchronize() around every timer on CUDA).

What is the project's code and what is not:
- Likelihood and extraction call the project's functions unchanged. They are imported without
  running the sub-packages' `__init__` (prosaic_evals/probes/__init__.py imports `_run`, which
  imports pandas; the likelihood and models packages pull in the engine, the vLLM server code and
  httpx). `_backends.py` imports httpx and anyio at module level for its vLLM backend only; where
  they are not installed, empty placeholder modules stand in for them (HFForward never uses them),
  and the results file says so.
- Training: the project trains through TRL's SFTTrainer, which is not installed there. The project
  code used is `prosaic_evals.finetune._local._trainer`, run on the default FineTuneSpec with TRL's
  two classes replaced by placeholders that record their arguments: that gives the peft LoraConfig
  the project builds (rank 16, alpha 32, dropout 0, all-linear) and its learning rate, batch size,
  max_length and bf16 flag. Where pydantic (needed by the spec) is missing, a copy of the defaults
  in finetune/_spec.py is used instead, and the results file says so. The step itself is not the
  project's code: it is what the Trainer does each step (HF's loss, backward, clipping to 1.0, fused
  AdamW without weight decay, bf16 autocast on CUDA), with gradient checkpointing as the project's
  SFTConfig sets it (off by default; `--checkpointing on|off` to choose),
  applied to both sides. The Trainer's data collation, scheduler, logging and checkpoint saving are
  not measured. So this row measures peft's LoRA layers against hand-written LoRA, not the loop.

Writes tests/benchmarks/RESULTS_GPU.md (or --out). Not a test: timings vary with the machine.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import importlib.util
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).with_name("RESULTS_GPU.md")
TARGET = 1.05
SEED = 0
BATCH = 16
FORBIDDEN = ("inspect_ai", "vllm", "trl", "openai", "anthropic", "pandas", "scipy")
"""Not installed on the GPU machine: nothing this script runs may import them."""

OPTIONAL = ("httpx", "anyio")
"""Imported at module level by likelihood/_backends.py (for the vLLM backend): placeholders where missing."""

PLACEHOLDERS: list[str] = []

COMMON = {"max_position_embeddings": 8192, "rms_norm_eps": 1e-5, "tie_word_embeddings": True}
SIZES: dict[str, tuple[str, dict[str, int]]] = {
    "tiny": ("a tiny shape, for --quick", {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 1024}),
    "135m": ("the shape of SmolLM2-135M", {"hidden_size": 576, "num_hidden_layers": 30, "num_attention_heads": 9,
             "num_key_value_heads": 3, "intermediate_size": 1536, "vocab_size": 49152}),
    "360m": ("the shape of SmolLM2-360M", {"hidden_size": 960, "num_hidden_layers": 32, "num_attention_heads": 15,
             "num_key_value_heads": 5, "intermediate_size": 2560, "vocab_size": 49152}),
    "1b": ("the shape of Llama-3.2-1B", {"hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 32,
           "num_key_value_heads": 8, "intermediate_size": 8192, "vocab_size": 128256}),
    "1.7b": ("the shape of SmolLM2-1.7B", {"hidden_size": 2048, "num_hidden_layers": 24, "num_attention_heads": 32,
             "num_key_value_heads": 32, "intermediate_size": 8192, "vocab_size": 49152}),
}  # fmt: skip

HYPER_COPY = {"lora_rank": 16, "lora_alpha": 32, "lora_dropout": 0.0, "lora_target_modules": "all-linear",
              "learning_rate": 1e-3, "batch_size": 8, "max_length": 256, "gradient_checkpointing": False}  # fmt: skip
"""Hyperparameters defaults of prosaic_evals/finetune/_spec.py, used only where pydantic is missing."""


@dataclass(frozen=True)
class Workload:
    prompts: int
    candidates: int
    prompt_len: tuple[int, int]
    texts: int
    text_len: tuple[int, int]
    extract_batch: int


FULL = Workload(prompts=8, candidates=12, prompt_len=(100, 300), texts=256, text_len=(20, 200), extract_batch=BATCH)
QUICK = Workload(prompts=3, candidates=4, prompt_len=(20, 40), texts=12, text_len=(8, 30), extract_batch=4)


@dataclass
class Measurement:
    title: str
    workload: str
    ours: str
    plain: str
    ours_s: list[float]
    plain_s: list[float]
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return statistics.median(self.ours_s) / statistics.median(self.plain_s)


# --- importing the project's code without the packages the GPU machine lacks ---


def project_module(name: str) -> ModuleType:
    """Import `name` (prosaic_evals.<package>.<module>) without running its sub-package's `__init__`."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))  # the checkout this script lives in, installed or not
    for missing in OPTIONAL:
        if missing not in sys.modules and importlib.util.find_spec(missing) is None:
            sys.modules[missing] = ModuleType(missing)
            PLACEHOLDERS.append(missing)
    parts = name.split(".")
    for depth in range(2, len(parts)):
        package = ".".join(parts[:depth])
        if package not in sys.modules:
            spec = importlib.util.find_spec(package)
            if spec is None or spec.submodule_search_locations is None:
                raise ImportError(f"no package {package}")
            bare = ModuleType(package)
            bare.__path__ = list(spec.submodule_search_locations)
            bare.__spec__ = spec
            sys.modules[package] = bare
    return importlib.import_module(name)


@contextmanager
def recording_trl(calls: dict[str, dict[str, Any]]) -> Iterator[None]:
    """Placeholder `trl.trainer.sft_config.SFTConfig` and `...sft_trainer.SFTTrainer` that record their arguments."""

    def recorder(kind: str) -> type:
        def init(self: Any, **kwargs: Any) -> None:
            calls[kind] = kwargs

        return type(kind, (), {"__init__": init})

    names = ["trl", "trl.trainer", "trl.trainer.sft_config", "trl.trainer.sft_trainer"]
    saved = {n: sys.modules.get(n) for n in names}
    fakes = {n: ModuleType(n) for n in names}
    fakes["trl.trainer.sft_config"].SFTConfig = recorder("SFTConfig")  # type: ignore[attr-defined]
    fakes["trl.trainer.sft_trainer"].SFTTrainer = recorder("SFTTrainer")  # type: ignore[attr-defined]
    sys.modules.update(fakes)
    try:
        yield
    finally:
        for n, module in saved.items():
            if module is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = module


def project_lora(cuda: bool, notes: list[str]) -> tuple[Any, dict[str, Any]]:
    """The LoraConfig and training settings that `finetune._local._trainer` builds from the default spec."""
    from peft import LoraConfig

    try:
        spec_module = project_module("prosaic_evals.finetune._spec")
        local = project_module("prosaic_evals.finetune._local")
    except ImportError as e:
        notes.append(
            f"prosaic_evals.finetune cannot be imported here ({e}): LoraConfig built from a copy of the "
            "defaults in finetune/_spec.py, as _local._trainer builds it"
        )
        hp = SimpleNamespace(**HYPER_COPY)
        lora = LoraConfig(
            r=hp.lora_rank, lora_alpha=hp.lora_alpha, lora_dropout=hp.lora_dropout,
            target_modules=hp.lora_target_modules, task_type="CAUSAL_LM",
        )  # fmt: skip
        settings = {"learning_rate": hp.learning_rate, "per_device_train_batch_size": hp.batch_size,
                    "max_length": hp.max_length, "bf16": cuda, "gradient_checkpointing": hp.gradient_checkpointing}  # fmt: skip
        return lora, settings
    spec = spec_module.FineTuneSpec(name="bench-gpu", data=spec_module.DataSpec(jsonl=Path("unused.jsonl")))
    calls: dict[str, dict[str, Any]] = {}
    with recording_trl(calls), tempfile.TemporaryDirectory() as tmp:
        local._trainer(spec, None, None, None, Path(tmp), 1, cuda)
    notes.append(
        "LoraConfig, learning rate, batch size, max_length, bf16 and gradient checkpointing recorded from `finetune._local._trainer` "
        "on the default FineTuneSpec (TRL's SFTConfig/SFTTrainer replaced by recorders; TRL not imported)"
    )
    return calls["SFTTrainer"]["peft_config"], calls["SFTConfig"]


# --- model, timing ---


def build_model(size: str, device: torch.device, dtype: torch.dtype) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**SIZES[size][1], **COMMON)  # type: ignore[arg-type]
    factory: Any = LlamaForCausalLM
    torch.manual_seed(SEED)
    with device:
        model = factory(config)
    return model.to(dtype).eval()


def make_sync(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def compare(
    ours: Callable[[], object],
    plain: Callable[[], object],
    repeats: int,
    sync: Callable[[], None],
) -> tuple[list[float], list[float]]:
    """Seconds of each run after one warm-up run of each; the order alternates between repeats."""

    def timed(fn: Callable[[], object]) -> float:
        sync()
        start = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - start

    ours()
    plain()
    times: dict[str, list[float]] = {"ours": [], "plain": []}
    for r in range(repeats):
        order = [("ours", ours), ("plain", plain)] if r % 2 == 0 else [("plain", plain), ("ours", ours)]
        for key, fn in order:
            times[key].append(timed(fn))
    return times["ours"], times["plain"]


def random_ids(rng: random.Random, n: int, vocab: int) -> tuple[int, ...]:
    return tuple(rng.randrange(1, vocab) for _ in range(n))


# --- 1. LoRA training step ---


class HandLoRA(torch.nn.Module):
    """base(x) + B(A(x)) * scaling, the adapter in its own dtype as peft keeps it."""

    def __init__(self, base: torch.nn.Module, a: torch.Tensor, b: torch.Tensor, scaling: float) -> None:
        super().__init__()
        self.base = base
        self.a = torch.nn.Parameter(a.detach().clone())
        self.b = torch.nn.Parameter(b.detach().clone())
        self.scaling = scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.base(x)
        lora = F.linear(F.linear(x.to(self.a.dtype), self.a), self.b) * self.scaling
        return out + lora.to(out.dtype)


def hand_lora(model: Any, peft_model: Any) -> list[torch.nn.Parameter]:
    """Put hand-written LoRA on `model` (an untouched copy) where peft put its layers, with peft's weights."""
    from peft.tuners.lora import LoraLayer

    for p in model.parameters():
        p.requires_grad_(False)
    trained: list[torch.nn.Parameter] = []
    for name, module in peft_model.named_modules():
        if not isinstance(module, LoraLayer):
            continue
        layer: Any = module
        path = name.removeprefix("base_model.model.")
        parent_name, _, child = path.rpartition(".")
        parent = model.get_submodule(parent_name)
        adapter = layer.active_adapters[0]
        replacement = HandLoRA(
            getattr(parent, child),
            layer.lora_A[adapter].weight,
            layer.lora_B[adapter].weight,
            float(layer.scaling[adapter]),
        )
        setattr(parent, child, replacement)
        trained += [replacement.a, replacement.b]
    return trained


def adamw(params: list[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
    """The Trainer's default optimizer (adamw_torch_fused on torch >= 2.8; no weight decay)."""
    try:
        return torch.optim.AdamW(params, lr=lr, weight_decay=0.0, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.AdamW(params, lr=lr, weight_decay=0.0)


def bench_training(
    model: Any, device: torch.device, dtype: torch.dtype, args: argparse.Namespace, sync: Callable[[], None]
) -> Measurement:
    from peft import get_peft_model

    notes: list[str] = []
    lora, settings = project_lora(device.type == "cuda", notes)
    batch = 2 if args.quick else int(settings["per_device_train_batch_size"])
    length = 32 if args.quick else int(settings["max_length"])
    lr = float(settings["learning_rate"])
    autocast = bool(settings.get("bf16")) and device.type == "cuda" and dtype == torch.bfloat16
    checkpointing = args.checkpointing == "on" or (
        args.checkpointing == "project" and settings["gradient_checkpointing"]
    )
    targets = lora.target_modules  # peft replaces it with the names it resolved

    plain_model = copy.deepcopy(model)
    peft_model = get_peft_model(copy.deepcopy(model), lora)
    trained = hand_lora(plain_model, peft_model)
    for m in (peft_model, plain_model):
        m.train()
        if checkpointing:
            m.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if checkpointing:
        peft_model.enable_input_require_grads()  # as SFTTrainer does for a peft model with checkpointing
    peft_params = [p for p in peft_model.parameters() if p.requires_grad]
    opt_ours, opt_plain = adamw(peft_params, lr), adamw(trained, lr)

    g = torch.Generator().manual_seed(SEED)
    vocab = model.config.vocab_size
    ids = torch.randint(1, vocab, (batch, length), generator=g).to(device)
    mask = torch.ones_like(ids)
    labels = ids.clone()
    labels[:, : length // 2] = -100  # loss on the second half only, as on a completion
    amp = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if autocast else nullcontext
    losses: dict[str, list[float]] = {"ours": [], "plain": []}

    def ours() -> None:
        with amp():
            loss = peft_model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(peft_params, 1.0)
        opt_ours.step()
        opt_ours.zero_grad(set_to_none=True)
        losses["ours"].append(float(loss.detach()))

    def plain() -> None:
        with amp():
            logits = plain_model(input_ids=ids, attention_mask=mask).logits
        loss: Any = F.cross_entropy(logits[:, :-1].float().flatten(0, 1), labels[:, 1:].flatten(), ignore_index=-100)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        opt_plain.step()
        opt_plain.zero_grad(set_to_none=True)
        losses["plain"].append(float(loss.detach()))

    ours_s, plain_s = compare(ours, plain, args.repeats, sync)
    n_trained = sum(p.numel() for p in trained)
    notes.append(
        f"first step (same weights, same batch): loss {losses['ours'][0]:.6f} against {losses['plain'][0]:.6f}, "
        f"|difference| {abs(losses['ours'][0] - losses['plain'][0]):.2e}"
    )
    notes.append(
        f"LoRA r={lora.r}, alpha={lora.lora_alpha}, dropout={lora.lora_dropout}, target_modules {targets!r}: "
        f"{len(trained) // 2} layers, {n_trained / 1e6:.2f}M trained parameters; learning rate {lr}; "
        f"gradient checkpointing {'on' if checkpointing else 'off'}; bf16 autocast {'on' if autocast else 'off'}"
    )
    return Measurement(
        title="LoRA training step",
        workload=f"one optimizer step on a batch of {batch} x {length} tokens (loss on the last {length - length // 2})",
        ours="peft model, project's LoraConfig (HF loss, clip, fused AdamW)",
        plain="hand-written LoRA, same weights (hand-written loss, clip, fused AdamW)",
        ours_s=ours_s,
        plain_s=plain_s,
        notes=notes,
    )


# --- 2. probe extraction ---


def bench_extraction(
    model: Any, device: torch.device, args: argparse.Namespace, work: Workload, sync: Callable[[], None]
) -> Measurement:
    notes: list[str] = []
    extract_module = project_module("prosaic_evals.probes._extract")
    positions_module = project_module("prosaic_evals.probes._positions")
    weights_module = project_module("prosaic_evals.probes._weights")

    rng = random.Random(SEED + 1)
    vocab = model.config.vocab_size
    ids = [list(random_ids(rng, rng.randint(*work.text_len), vocab)) for _ in range(work.texts)]
    indices = [[len(t) - 1, rng.randrange(len(t))] for t in ids]  # "last" and one other position
    located = positions_module.Located(ids, indices)
    tokenizer = SimpleNamespace(pad_token_id=0, eos_token_id=0)
    lm = weights_module.LocalModel(name="bench-gpu", identity="bench-gpu", model=model, tokenizer=tokenizer)
    layers = list(range(model.config.num_hidden_layers + 1))
    batch_size = work.extract_batch
    root = Path(tempfile.mkdtemp(prefix="bench-gpu-"))
    runs = iter(range(10**6))
    got: dict[str, Any] = {}

    def ours() -> None:
        folder = root / f"run-{next(runs)}"  # a fresh folder: never read from the cache
        got["ours"] = extract_module.extract(
            lm, located, positions=["last", "other"], layers=layers, batch_size=batch_size, root=folder
        )

    def plain() -> None:
        kept = []
        for s in range(0, len(ids), batch_size):
            rows = ids[s : s + batch_size]
            width = max(len(r) for r in rows)
            batch = torch.tensor([r + [0] * (width - len(r)) for r in rows], device=device)
            mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=device)
            with torch.no_grad():
                states = model(input_ids=batch, attention_mask=mask, output_hidden_states=True).hidden_states
            where = torch.tensor(indices[s : s + batch_size], device=device)
            at = torch.arange(len(rows), device=device)[:, None]
            kept.append(torch.stack([states[k][at, where] for k in layers], dim=2).float().cpu().numpy())
        got["plain"] = np.concatenate(kept)

    try:
        ours_s, plain_s = compare(ours, plain, args.repeats, sync)
        activations = got["ours"]
        theirs = np.concatenate([np.load(c) for c in activations.chunks()])
        diff = float(np.abs(theirs - got["plain"]).max())
    finally:
        shutil.rmtree(root, ignore_errors=True)
    tokens = sum(len(t) for t in ids)
    notes.append(f"activations {theirs.shape} (texts, positions, layers, hidden): max |difference| {diff:.2e}")
    return Measurement(
        title="Probe extraction",
        workload=f"{work.texts} texts of {work.text_len[0]}-{work.text_len[1]} tokens ({tokens} in all), 2 positions, "
        f"every layer (0-{len(layers) - 1}), batches of {batch_size}",
        ours="`probes._extract.extract` (chunks written to a fresh folder)",
        plain="`model(..., output_hidden_states=True)`, slices kept in memory",
        ours_s=ours_s,
        plain_s=plain_s,
        notes=notes,
    )


# --- 3. local-weights likelihood ---


def bench_likelihood(
    model: Any, device: torch.device, args: argparse.Namespace, work: Workload, sync: Callable[[], None]
) -> Measurement:
    notes: list[str] = []
    types = project_module("prosaic_evals.likelihood._types")
    backends = project_module("prosaic_evals.likelihood._backends")

    rng = random.Random(SEED + 2)
    vocab = model.config.vocab_size
    items = []
    for _ in range(work.prompts):
        prompt = random_ids(rng, rng.randint(*work.prompt_len), vocab)
        items += [types.Tokenized(prompt, random_ids(rng, rng.randint(1, 6), vocab)) for _ in range(work.candidates)]
    pad = 0
    forward = backends.HFForward(model=model, identity="bench-gpu")
    got: dict[str, list[float]] = {}

    def ours() -> None:
        got["ours"] = forward._forward(items)

    def plain() -> None:
        out: list[float] = []
        for s in range(0, len(items), BATCH):
            rows = items[s : s + BATCH]
            seqs = [list(t.prompt + t.continuation) for t in rows]
            width = max(len(q) for q in seqs)
            ids = torch.tensor([q + [pad] * (width - len(q)) for q in seqs], device=device)
            mask = torch.tensor([[1] * len(q) + [0] * (width - len(q)) for q in seqs], device=device)
            with torch.no_grad():
                logits = model(input_ids=ids, attention_mask=mask).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
            out += [
                float(logp[row, len(t.prompt) - 1 : len(t.prompt) - 1 + len(t.continuation)].sum())
                for row, t in enumerate(rows)
            ]
        got["plain"] = out

    requests_before = forward.requests
    ours_s, plain_s = compare(ours, plain, args.repeats, sync)
    per_run = (forward.requests - requests_before) // (args.repeats + 1)
    diff = max(abs(a - b) for a, b in zip(got["ours"], got["plain"], strict=True))
    notes.append(
        f"log-probabilities (nats): max |difference| {diff:.2e} over {len(items)} candidates "
        f"(sums from {min(got['plain']):.1f} to {max(got['plain']):.1f})"
    )
    notes.append(
        f"HFForward counted {per_run} requests per run (its `requests` counter, chunk {forward.chunk}); "
        f"the plain loop made {-(-len(items) // BATCH)} padded passes"
    )
    return Measurement(
        title="Local-weights likelihood",
        workload=f"{work.prompts} prompts of {work.prompt_len[0]}-{work.prompt_len[1]} tokens x {work.candidates} "
        "candidates of 1-6 tokens",
        ours="`HFForward._forward`",
        plain="one padded pass over prompt + candidate per candidate (batches of 16)",
        ours_s=ours_s,
        plain_s=plain_s,
        notes=notes,
    )


# --- report ---


def loaded() -> list[str]:
    return [m for m in FORBIDDEN if m in sys.modules]


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (cuda, CUDA {torch.version.cuda})"
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads"


def table(m: Measurement, repeats: int) -> list[str]:
    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1e3:.1f} ms"

    verdict = "pass" if m.ratio <= TARGET else "FAIL"
    return [
        f"## {m.title}",
        "",
        f"Workload: {m.workload}.",
        "",
        f"| project path | median of {repeats} | plain PyTorch loop | median of {repeats} | ratio | target | result |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| {m.ours} | {ms(m.ours_s)} | {m.plain} | {ms(m.plain_s)} | {m.ratio:.2f}x | <= {TARGET}x | {verdict} |",
        "",
        f"- runs (ms), project: {', '.join(f'{t * 1e3:.1f}' for t in m.ours_s)}; "
        f"plain: {', '.join(f'{t * 1e3:.1f}' for t in m.plain_s)}",
        *[f"- {note}" for note in dict.fromkeys(m.notes)],
        "",
    ]


def report(args: argparse.Namespace, device: torch.device, dtype: torch.dtype, model: Any,
           measurements: list[Measurement]) -> str:  # fmt: skip
    import peft
    import transformers

    shape_of, shape = SIZES[args.size]
    n_params = sum(p.numel() for p in model.parameters())
    command = " ".join(["bench_gpu.py", *sys.argv[1:]])
    return "\n".join(
        [
            "# GPU benchmark: local-weights paths against plain PyTorch loops",
            "",
            f"Command: `.venv/bin/python tests/benchmarks/{command}`",
            f"Device: {device_name(device)}; Python {platform.python_version()}, torch {torch.__version__}, "
            f"transformers {transformers.__version__}, peft {peft.__version__}, numpy {np.__version__}.",
            f"Model: LlamaConfig with {shape_of} (hidden {shape['hidden_size']}, {shape['num_hidden_layers']} "
            f"layers, {shape['num_attention_heads']} heads, {shape['num_key_value_heads']} kv heads, intermediate "
            f"{shape['intermediate_size']}, vocab {shape['vocab_size']}; {n_params / 1e6:.1f}M parameters), "
            f"random weights (seed {SEED}), {str(dtype).removeprefix('torch.')}.",
            f"Not installed on the GPU machine: {', '.join(FORBIDDEN)}. Of these, loaded by the project code and "
            f"peft: {', '.join(sorted(set(loaded()) - set(args.loaded_first))) or 'none'}; loaded by torch and "
            f"transformers before any project code ran: {', '.join(args.loaded_first) or 'none'}"
            f"{' (optional imports of what is installed, e.g. scikit-learn by transformers)' if args.loaded_first else ''}.",
            "Project modules imported without their sub-package's `__init__`"
            + (
                f"; not installed, so empty placeholder modules stood in for them: {', '.join(PLACEHOLDERS)} "
                "(imported by likelihood/_backends.py for its vLLM backend only)."
                if PLACEHOLDERS
                else "."
            ),
            "",
            *[line for m in measurements for line in table(m, args.repeats)],
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="default: bfloat16 on CUDA")
    parser.add_argument("--size", choices=list(SIZES), help="model shape (default 135m; tiny with --quick)")
    parser.add_argument("--repeats", type=int, help="timed runs of each path after one warm-up (default 5; 3 quick)")
    parser.add_argument("--checkpointing", choices=["project", "on", "off"], default="project",
                        help="gradient checkpointing in the training step (project: as the project's SFTConfig)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="a tiny model and a few items, to prove the script")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.size = args.size or ("tiny" if args.quick else "135m")
    args.repeats = args.repeats or (3 if args.quick else 5)
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype or ("bfloat16" if device.type == "cuda" else "float32"))
    work = QUICK if args.quick else FULL
    sync = make_sync(device)

    model = build_model(args.size, device, dtype)
    args.loaded_first = loaded()
    measurements: list[Measurement] = []
    runs: list[tuple[str, Callable[[], Measurement]]] = [
        ("LoRA training step", lambda: bench_training(model, device, dtype, args, sync)),
        ("probe extraction", lambda: bench_extraction(model, device, args, work, sync)),
        ("likelihood", lambda: bench_likelihood(model, device, args, work, sync)),
    ]
    for name, run in runs:
        print(f"measuring: {name} ...", flush=True)
        measurements.append(run())
        if device.type == "cuda":
            torch.cuda.empty_cache()
    text = report(args, device, dtype, model, measurements)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
