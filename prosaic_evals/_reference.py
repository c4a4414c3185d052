"""Reference pages generated from the code: every CLI option, task-file field, family parameter and condition.

The docs build (docs/hooks.py) renders these, so the reference cannot drift from what the code accepts.
"""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import click
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

TASKS = Path(__file__).resolve().parent.parent / "tasks"


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def type_name(annotation: Any) -> str:
    """A field's type as a reader of a YAML file thinks of it."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{json.dumps(a)}`" for a in args)
    if origin in (Union, types.UnionType):
        return " \\| ".join(type_name(a) for a in args if a is not type(None))
    if origin is Annotated:
        return type_name(args[0])
    if origin in (list, tuple):
        inner = sorted({type_name(a) for a in args if a is not Ellipsis})
        return f"list of {' or '.join(inner)}" if inner else "list"
    if origin is dict:
        return "mapping"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
        if issubclass(annotation, Path):
            return "path"
        return {"str": "text", "int": "integer", "float": "number", "bool": "true/false"}.get(
            annotation.__name__, annotation.__name__
        )
    return str(annotation).replace("typing.", "")


def _bounds(field: FieldInfo) -> str:
    signs = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    parts = []
    for item in field.metadata:
        for name, sign in signs.items():
            if isinstance(item, annotated_types.BaseMetadata) and hasattr(item, name):
                parts.append(f"{sign} {getattr(item, name)}")
        if isinstance(item, annotated_types.MinLen):
            parts.append(f"at least {item.min_length}")
    return ", ".join(parts)


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "**required**"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "see below"
    if value is None:
        return "unset"
    return f"`{json.dumps(value, default=str)}`"


def fields_table(model: type[BaseModel]) -> str:
    """A markdown table of `model`'s fields: name, type, default, description."""
    rows = ["| Field | Type | Default | Description |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        kind = type_name(field.annotation)
        bounds = _bounds(field)
        rows.append(
            f"| `{name}` | {kind}{f' ({bounds})' if bounds else ''} | {_default(field)} | "
            f"{_cell(field.description or '')} |"
        )
    return "\n".join(rows)


def nested_models(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> list[type[BaseModel]]:
    """`model` and every model its fields contain, depth first, each once."""
    seen = set() if seen is None else seen
    found: list[type[BaseModel]] = []
    if model in seen:
        return found
    seen.add(model)
    found.append(model)
    for field in model.model_fields.values():
        for inner in _models_in(field.annotation):
            found += nested_models(inner, seen)
    return found


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def model_section(model: type[BaseModel], level: int = 2) -> str:
    """A heading per model (and per model it contains), its docstring and its fields table."""
    parts = []
    for inner in nested_models(model):
        doc = (inner.__doc__ or "").strip()
        doc = "" if doc.startswith(("Usage docs", "A base class")) else doc
        parts.append(f"{'#' * level} {inner.__name__}\n\n{doc}\n\n{fields_table(inner)}\n")
    return "\n".join(parts)


# --- families ---------------------------------------------------------------------------------------------


def parameters_table(family_name: str) -> str:
    from prosaic_evals.families import all_families

    family = all_families()[family_name]
    return "\n\n".join(
        fields_table(m) if i == 0 else f"**{m.__name__}**\n{{: #{m.__name__.lower()} }}\n\n{fields_table(m)}"
        for i, m in enumerate(nested_models(family.Parameters))
    )


def conditions_table(family_name: str) -> str:
    from prosaic_evals.families import all_families

    family = all_families()[family_name]
    if not family.conditions:
        return "The conditions are those of the items file (its `condition` column; `all` without one)."
    rows = ["| Condition | What it asks |", "|---|---|"]
    docs = getattr(family, "condition_docs", {})
    rows += [f"| `{c}` | {_cell(docs.get(c, ''))} |" for c in family.conditions]
    return "\n".join(rows)


def shipped_tasks(family_name: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(name, raw task file) for the shipped tasks, of one family or all."""
    from prosaic_evals.spec._load import read_yaml

    found = [(path.stem, read_yaml(path)) for path in sorted(TASKS.glob("*.yaml"))]
    return [(name, raw) for name, raw in found if family_name is None or raw.get("family") == family_name]


def tasks_table(family_name: str | None = None) -> str:
    rows = ["| Task | Family | Scorer | Conditions | Description |", "|---|---|---|---|---|"]
    for name, raw in shipped_tasks(family_name):
        conditions = ", ".join(f"`{c}`" for c in raw.get("conditions") or []) or "all"
        rows.append(
            f"| `{name}` | `{raw['family']}` | `{raw['scorer']['name']}` | {conditions} | "
            f"{_cell(raw.get('description', ''))} |"
        )
    return "\n".join(rows)


def families_page() -> str:
    from prosaic_evals.families import FAMILIES

    parts = ["# Task files\n", "A task file is YAML: a family, its parameters, the conditions to run, the scorer and "
             "the generation settings. `-T key=value` on the command line overrides a parameter (or `epochs`). "
             "This page is generated from the code.\n", "## Shipped tasks\n", tasks_table(), ""]  # fmt: skip
    from prosaic_evals.spec._models import GenerationSpec, ScorerSpec, TaskSpec

    parts += ["## The task file\n", f"{TaskSpec.__doc__}\n", fields_table(TaskSpec), ""]
    parts += [model_section(GenerationSpec, 3)]
    parts += ["## Scorers\n", "`scorer.name` picks one; each family accepts some of them.\n"]
    for scorer in get_args(get_args(ScorerSpec)[0]):
        parts.append(model_section(scorer, 3))
    parts.append("## Family parameters and conditions\n")
    for name, family in FAMILIES.items():
        scorers = ", ".join(f"`{s}`" for s in sorted(family.scorers))
        parts += [
            f"### {name}\n",
            f"{(family.__doc__ or '').strip()}\n",
            f"Citation: {family.citation}\n" if family.citation else "",
            f"Scorers: {scorers}.\n",
            f"**Parameters**\n\n{parameters_table(name)}\n",
            f"**Conditions**\n\n{conditions_table(name)}\n",
        ]
    return "\n".join(parts)


def study_files_page() -> str:
    from prosaic_evals.finetune._spec import FineTuneSpec
    from prosaic_evals.probes._spec import ProbeSpec
    from prosaic_evals.study._study import StudySpec

    return "\n".join([
        "# Study, fine-tuning and probe files\n",
        "Generated from the code. A study file (`prosaic-evals study FILE`) holds a fine-tune recipe; a fine-tune "
        "file (`prosaic-evals finetune FILE`) is that recipe alone; a probe file (`prosaic-evals probe FILE`) says "
        "what to probe.\n",
        "## Study files\n", model_section(StudySpec, 3),
        "## Fine-tune files\n", model_section(FineTuneSpec, 3),
        "## Probe files\n", model_section(ProbeSpec, 3),
    ])  # fmt: skip


# --- command line -------------------------------------------------------------------------------------------


def cli_page() -> str:
    from prosaic_evals._cli import cli

    parts = ["# Command line\n", "Generated from the code: what `prosaic-evals COMMAND --help` shows.\n"]
    parts += _command_sections(cli, ["prosaic-evals"], 2)
    return "\n".join(parts)


def _command_sections(command: click.Command, path: list[str], level: int) -> list[str]:
    ctx = click.Context(command, info_name=" ".join(path))
    usage = " ".join(command.collect_usage_pieces(ctx))
    title = " ".join(path[1:]) or "Global options"
    parts = [f"{'#' * level} {title}\n", f"```\n{' '.join(path)} {usage}\n```\n", f"{(command.help or '').strip()}\n"]
    rows = ["| Option | Description |", "|---|---|"]
    for param in command.params:
        record = param.get_help_record(ctx)
        if isinstance(param, click.Argument):
            many = " (one or more)" if param.nargs == -1 else ""
            rows.append(f"| `{param.human_readable_name}` | argument{many}{'' if param.required else ', optional'} |")
        elif record is not None:
            rows.append(f"| `{_cell(record[0])}` | {_cell(record[1])} |")
    if len(rows) > 2:
        parts.append("\n".join(rows) + "\n")
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            parts += _command_sections(command.commands[name], [*path, name], level + (len(path) > 1))
    return parts


PAGES = {"reference/cli.md": cli_page, "reference/task-files.md": families_page,
         "reference/study-files.md": study_files_page}  # fmt: skip
"""Generated page -> its content."""

MARKERS = {"parameters": parameters_table, "conditions": conditions_table, "tasks": tasks_table}
"""`<!-- generated: KIND FAMILY -->` in a hand-written page -> the table that replaces it."""
