"""Turn a validated task file into an inspect `Task`."""

from __future__ import annotations

import hashlib
import json
import random
from typing import TYPE_CHECKING, Any

from prosaic_evals import __version__
from prosaic_evals._errors import UserError
from prosaic_evals._paths import display_path
from prosaic_evals.families import Item, check_unique_ids
from prosaic_evals.spec import (
    BehaviourSpec,
    ChainOfThoughtSpec,
    CodeSecuritySpec,
    FaithfulnessSpec,
    JudgeSpec,
    LikelihoodSpec,
    LoadedTask,
    MisalignmentSpec,
    NumberSpec,
)

if TYPE_CHECKING:
    from inspect_ai import Task
    from inspect_ai.dataset import Sample


def all_items(task: LoadedTask) -> list[Item]:
    """Every item the family generates for the task's parameters, all conditions."""
    try:
        return task.family.items(task.params)
    except UserError as e:
        raise UserError(f"{display_path(task.path)}: {e}") from None


def eval_items(task: LoadedTask, every: list[Item] | None = None) -> list[Item]:
    """The task's items for its selected conditions, ids checked for uniqueness."""
    wanted = set(task.conditions)
    items = [item for item in (every if every is not None else all_items(task)) if item.condition in wanted]
    check_unique_ids(items, display_path(task.path))
    empty = [c for c in task.conditions if not any(item.condition == c for item in items)]
    if empty:
        raise UserError(f"{display_path(task.path)}: condition {empty[0]} has no items with these parameters "
                        "(see any notice above; or leave it out with -T conditions=...)")  # fmt: skip
    return interleave(items)


def interleave(items: list[Item]) -> list[Item]:
    """Round-robin over conditions, and within each over clusters (facts), so that `--limit N`
    samples every condition and as many facts of each as N allows, not N templates of one fact."""
    by_condition: dict[str, list[Item]] = {}
    for item in items:
        by_condition.setdefault(item.condition, []).append(item)
    return _round_robin([_round_robin(_groups(queue, lambda i: i.cluster)) for queue in by_condition.values()])


def _groups(items: list[Item], key: Any) -> list[list[Item]]:
    grouped: dict[str, list[Item]] = {}
    for item in items:
        grouped.setdefault(key(item), []).append(item)
    return list(grouped.values())


def _round_robin(queues: list[list[Item]]) -> list[Item]:
    longest = max((len(q) for q in queues), default=0)
    return [q[i] for i in range(longest) for q in queues if i < len(q)]


def build_task(task: LoadedTask, *, cache: bool = True) -> Task:
    """An inspect Task: one sample per item; the scorer and decoding from the file."""
    from inspect_ai import Task
    from inspect_ai.dataset import MemoryDataset
    from inspect_ai.model import CachePolicy, GenerateConfig
    from inspect_ai.solver import generate

    from prosaic_evals.models._completions import COMPLETION_FORMAT
    from prosaic_evals.scorers import likelihood

    every = all_items(task)  # distractors may come from conditions not run here
    items = eval_items(task, every)
    spec = task.spec
    if spec.format == "completion" and any(item.messages for item in items):
        raise UserError(f"{display_path(task.path)}: format: completion takes text prompts; the items are chat "
                        "messages (use format: chat)")  # fmt: skip
    if isinstance(spec.scorer, LikelihoodSpec):
        samples = [_sample(item, _distractors(task, item, every)) for item in items]
        solver: list[Any] = []  # nothing is generated: the scorer reads log-probabilities
        scorer = likelihood(normalize=spec.scorer.normalize, cache=cache, completion=spec.format == "completion")
        config = GenerateConfig()
    elif isinstance(spec.scorer, FaithfulnessSpec):
        from prosaic_evals.families.cot_faithfulness import faithfulness, faithfulness_solver

        samples = [_sample(item) for item in items]
        solver = [faithfulness_solver(cache=cache)]  # several calls per sample: cued/uncued, interventions
        scorer = faithfulness(cache=cache)
        config = spec.generation.to_config()
    else:
        if isinstance(spec.scorer, BehaviourSpec):
            _check_graders(task, items)
        if isinstance(spec.scorer, ChainOfThoughtSpec):
            _check_bridges(task, items)
        samples = [_sample(item) for item in items]
        solver = [generate(cache=CachePolicy(expiry=None) if cache else False)]
        scorer = _generation_scorer(spec.scorer, cache)
        config = spec.generation.to_config()
        if spec.format == "completion":  # read by the vLLM providers, which then call /v1/completions
            config = config.merge(GenerateConfig(extra_body={COMPLETION_FORMAT: True}))
    return Task(
        dataset=MemoryDataset(samples, name=task.name),
        solver=solver,
        scorer=scorer,
        config=config,
        name=task.name,
        version=spec.version,
        epochs=spec.epochs,
        metadata=task_metadata(task),
    )


def _check_graders(task: LoadedTask, items: list[Item]) -> None:
    from prosaic_evals.scorers._behaviour import GRADERS

    for item in items:
        grader = item.metadata.get("grader", item.metadata.get("behaviour"))
        if grader not in GRADERS:
            raise UserError(
                f"{display_path(task.path)}: item {item.id}: the behaviour scorer grades with the grader named in "
                f"the item's metadata (grader or behaviour), one of {', '.join(GRADERS)}; got {grader!r}"
            )


def _check_bridges(task: LoadedTask, items: list[Item]) -> None:
    for item in items:
        if not str(item.metadata.get("bridge") or "").strip():
            raise UserError(f"{display_path(task.path)}: item {item.id}: the chain_of_thought scorer needs the bridge "
                            "entity in the item's metadata (bridge), e.g. fields.keep: [bridge]")  # fmt: skip


def _generation_scorer(spec: Any, cache: bool) -> Any:
    from prosaic_evals.scorers import behaviour, chain_of_thought, exact_match, judge, misalignment, number

    if isinstance(spec, JudgeSpec):
        return judge(template=spec.template, grade=spec.grade, scale=spec.scale, cache=cache)
    if isinstance(spec, MisalignmentSpec):
        return misalignment(spec.alignment_template, spec.coherence_template, spec.aligned_below,
                            spec.coherent_above, cache=cache)  # fmt: skip
    if isinstance(spec, CodeSecuritySpec):
        from prosaic_evals.families.emergent_misalignment import code_security

        return code_security()
    if isinstance(spec, NumberSpec):
        return number(scale=spec.scale)
    if isinstance(spec, ChainOfThoughtSpec):
        return chain_of_thought()
    if isinstance(spec, BehaviourSpec):
        return behaviour()
    return exact_match(match=spec.match)


def spec_hash(task: LoadedTask) -> str:
    """A hash of everything the task file says, once validated (an edited file makes a new run)."""
    # margins are analysis only; epochs = 1 is left out so that files from before it existed keep their identity
    exclude = (
        {"margins"}
        | ({"epochs"} if task.spec.epochs == 1 else set())
        | ({"format"} if task.spec.format == "chat" else set())
    )
    content = task.spec.model_dump(mode="json", exclude=exclude) | {
        "parameters": task.params.model_dump(mode="json"),
        "conditions": list(task.conditions),
        "data_version": task.family.data_version_for(task.params),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def task_metadata(task: LoadedTask) -> dict[str, Any]:
    """Everything a report needs to say what was run (recorded in the log)."""
    return {
        "spec_hash": spec_hash(task),
        "prosaic_evals_version": __version__,
        "family": task.family.name,
        "citation": task.family.citation,
        "task_file": str(task.path),
        "data_version": task.family.data_version_for(task.params),
        "parameters": task.params.model_dump(mode="json"),
        "conditions": list(task.conditions),
        "scorer": _scorer_record(task),
        "margins": dict(task.spec.margins),
        **({"format": task.spec.format} if task.spec.format != "chat" else {}),
    }


def _scorer_record(task: LoadedTask) -> dict[str, Any]:
    """The scorer's settings, with a judge's default prompts written out: the log says what the judge was asked."""
    from prosaic_evals.scorers._judge import ALIGNMENT_TEMPLATE, COHERENCE_TEMPLATE, NUMBER_TEMPLATE, YES_NO_TEMPLATE

    record: dict[str, Any] = task.spec.scorer.model_dump(mode="json")
    if isinstance(task.spec.scorer, JudgeSpec) and record["template"] is None:
        record["template"] = YES_NO_TEMPLATE if task.spec.scorer.grade == "yes_no" else NUMBER_TEMPLATE
    if isinstance(task.spec.scorer, MisalignmentSpec):
        record["alignment_template"] = record["alignment_template"] or ALIGNMENT_TEMPLATE
        record["coherence_template"] = record["coherence_template"] or COHERENCE_TEMPLATE
    return record


def _sample(item: Item, distractors: list[str] | None = None) -> Sample:
    from inspect_ai.dataset import Sample

    metadata = {"condition": item.condition, "cluster": item.cluster, **item.metadata}
    if distractors is not None:
        metadata["distractors"] = distractors
    return Sample(id=item.id, input=_input(item), target=[item.target, *item.accepted], metadata=metadata)


def _input(item: Item) -> Any:
    if not item.messages:
        return item.prompt
    from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, ChatMessageUser

    kinds = {"system": ChatMessageSystem, "user": ChatMessageUser, "assistant": ChatMessageAssistant}
    return [kinds[role](content=content) for role, content in item.messages]


def _distractors(task: LoadedTask, item: Item, items: list[Item]) -> list[str]:
    assert isinstance(task.spec.scorer, LikelihoodSpec)
    k = task.spec.scorer.distractors
    pool = [t for t in task.family.distractor_pool(item, items) if t not in item.accepted]
    if k == "all":
        if not pool:
            raise UserError(
                f"{display_path(task.path)}: condition {item.condition} has no other target to compare with"
            )
        return pool
    if len(pool) < k:
        raise UserError(
            f"{display_path(task.path)}: scorer.distractors: {k} asked, but condition {item.condition} "
            f"has only {len(pool)} other target(s) to draw from"
        )
    # Seeded by the item id: the same item gets the same distractors in every run.
    return random.Random(item.id).sample(pool, k)
