"""Load task files: YAML -> validated specs, with errors that name file and field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from prosaic_evals._errors import UserError
from prosaic_evals._paths import display_path, tasks_dir
from prosaic_evals._strict import StrictModel
from prosaic_evals.families import Family, get_family
from prosaic_evals.spec._models import TaskSpec


@dataclass(frozen=True)
class LoadedTask:
    """A task file after validation by the generic spec and by its family."""

    name: str
    path: Path
    spec: TaskSpec
    params: StrictModel
    family: Family  # type: ignore[type-arg]

    @property
    def conditions(self) -> tuple[str, ...]:
        return tuple(self.spec.conditions or self.family.conditions)


def shipped_task_names() -> list[str]:
    return sorted(p.stem for p in tasks_dir().glob("*.yaml"))


def find_task_file(ref: str | Path) -> Path:
    """A task given as a path to a YAML file or as the name of a shipped task."""
    path = Path(ref).expanduser()
    if path.is_file():
        return path
    shipped = tasks_dir() / f"{ref}.yaml"
    if shipped.is_file():
        return shipped
    hint = "no such file" if str(ref).endswith((".yaml", ".yml")) else "not a file or a shipped task"
    raise UserError(f"unknown task {str(ref)!r}: {hint} (shipped: {', '.join(shipped_task_names())})")


def load_task(ref: str | Path, overrides: Mapping[str, Any] | None = None) -> LoadedTask:
    """Read, override (`-T key=value`) and validate a task file."""
    path = find_task_file(ref)
    raw = read_yaml(path)
    if overrides:
        raw = apply_overrides(raw, overrides, source=path)
    spec = validate(TaskSpec, raw, source=path)
    family = get_family_for(spec, path)
    params = validate(family.Parameters, spec.parameters, source=path, prefix="parameters")
    _check_conditions(spec, family, path)
    if spec.scorer.name not in family.scorers:
        raise UserError(
            f"{display_path(path)}: scorer.name: {spec.scorer.name!r} is not supported by family "
            f"{family.name} (supported: {', '.join(sorted(family.scorers))})"
        )
    return LoadedTask(name=path.stem, path=path, spec=spec, params=params, family=family)


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{display_path(path)}:{mark.line + 1}:{mark.column + 1}" if mark else display_path(path)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise UserError(f"{where}: invalid YAML: {problem}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{display_path(path)}: cannot read: {e}") from None
    if not isinstance(data, dict):
        raise UserError(
            f"{display_path(path)}: expected a mapping of keys (family, parameters, ...), got {type(data).__name__}"
        )
    return data


def apply_overrides(raw: dict[str, Any], overrides: Mapping[str, Any], *, source: Path) -> dict[str, Any]:
    """Apply `-T` overrides: `key` sets a parameter, `a.b` a nested field, `conditions` the list.

    String values are parsed as YAML scalars, so `-T seed=3` gives an int.
    """
    result = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    for key, value in overrides.items():
        if isinstance(value, str):
            value = _parse_scalar(value)
        if key == "conditions" and isinstance(value, str):
            value = [c.strip() for c in value.split(",") if c.strip()]
        path = key.split(".") if "." in key or key in TaskSpec.model_fields else ["parameters", key]
        target = result
        for part in path[:-1]:
            nested = target.get(part)
            target[part] = dict(nested) if isinstance(nested, dict) else {}
            target = target[part]
        target[path[-1]] = value
    return result


def _parse_scalar(value: str) -> Any:
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value


def validate(model: type[BaseModel], data: Any, *, source: Path, prefix: str = "") -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise UserError(f"{display_path(source)}: {describe_validation_error(e, data, prefix)}") from None


def describe_validation_error(error: ValidationError, data: Any, prefix: str = "") -> str:
    """The first error as `field.path: message (got value)`, tags of unions removed."""
    first = error.errors()[0]
    loc = _display_loc(data, first["loc"])
    field = ".".join(p for p in [prefix, loc] if p) or "(top level)"
    kind = first["type"]
    if kind == "extra_forbidden":
        return f"{field}: unknown key"
    if kind == "missing":
        return f"{field}: required field is missing"
    message = first["msg"]
    got = first.get("input")
    shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
    if kind.startswith("value_error"):  # our own validators name the value themselves
        message, shown = message.removeprefix("Value error, "), ""
    return f"{field}: {message}{shown}"


def _display_loc(data: Any, loc: tuple[Any, ...]) -> str:
    # Pydantic puts the tag of a discriminated union into the location
    # ("scorer.likelihood.distractors"); keep only keys that exist in the input.
    parts: list[str] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1]}[{part}]"] if parts else [f"[{part}]"]
            node = node[part] if isinstance(node, list) and part < len(node) else None
        elif isinstance(node, dict) and part not in node and i < len(loc) - 1:
            continue
        elif parts and node is not None and not isinstance(node, dict | list):
            continue  # a scalar reached: what follows names a union member ("constrained-int")
        else:
            parts.append(str(part))
            node = node.get(part) if isinstance(node, dict) else None
    return ".".join(parts)


def get_family_for(spec: TaskSpec, path: Path) -> Family:  # type: ignore[type-arg]
    try:
        return get_family(spec.family)
    except UserError as e:
        raise UserError(f"{display_path(path)}: family: {e}") from None


def _check_conditions(spec: TaskSpec, family: Family, path: Path) -> None:  # type: ignore[type-arg]
    if spec.conditions is None:
        return
    if not spec.conditions:
        raise UserError(f"{display_path(path)}: conditions: empty list (omit the key to run all)")
    for i, condition in enumerate(spec.conditions):
        if condition not in family.conditions:
            raise UserError(
                f"{display_path(path)}: conditions[{i}]: unknown condition {condition!r} for family "
                f"{family.name} (known: {', '.join(family.conditions)})"
            )
