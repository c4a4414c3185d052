"""Load task files: YAML -> validated specs, with errors that name file and field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from prosaic_evals._errors import UserError
from prosaic_evals._files import read_yaml_file
from prosaic_evals._paths import display_path, tasks_dir
from prosaic_evals._strict import BOOL_AS_NUMBER, StrictModel
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
        return tuple(self.spec.conditions or self.family.conditions_for(self.params))

    @property
    def roles(self) -> dict[str, str]:
        """Models besides the evaluated one that this task needs: role -> why."""
        needed = dict(self.family.roles(self.conditions))
        if self.spec.scorer.name in ("judge", "misalignment"):
            needed["judge"] = f"scorer {self.spec.scorer.name} grades each answer with a judge model"
        return needed


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


def load_task(
    ref: str | Path, overrides: Mapping[str, Any] | None = None, *, overrides_base: Path | None = None
) -> LoadedTask:
    """Read, override (`-T key=value`) and validate a task file.

    File parameters are made absolute: a path written in the task file is relative
    to the file, a path in `overrides` to `overrides_base` (the working directory).
    """
    path = find_task_file(ref)
    raw = read_yaml(path)
    family = get_family_for(validate(TaskSpec, raw, source=path), path)  # the file alone must be valid
    raw = _absolute_paths(raw, family, path.parent)
    if overrides:
        raw = apply_overrides(raw, overrides, source=path)
        family = get_family_for(validate(TaskSpec, raw, source=path), path)
        raw = _absolute_paths(raw, family, overrides_base or Path.cwd())
    spec = validate(TaskSpec, _scorer_defaults(raw, family), source=path)
    params = validate(family.Parameters, spec.parameters, source=path, prefix="parameters")
    _check_conditions(spec, family, params, path)
    if spec.scorer.name not in family.scorers:
        raise UserError(
            f"{display_path(path)}: scorer.name: {spec.scorer.name!r} is not supported by family "
            f"{family.name} (supported: {', '.join(sorted(family.scorers))})"
        )
    if spec.format == "completion" and spec.scorer.name not in ("exact_match", "likelihood"):
        raise UserError(f"{display_path(path)}: format: completion works with the exact_match and likelihood "
                        f"scorers, not {spec.scorer.name}")  # fmt: skip
    return LoadedTask(name=path.stem, path=path, spec=spec, params=params, family=family)


def _scorer_defaults(raw: dict[str, Any], family: Family) -> dict[str, Any]:  # type: ignore[type-arg]
    """`raw` with the family's defaults for the settings its scorer leaves out."""
    scorer = raw.get("scorer")
    if not isinstance(scorer, dict) or not isinstance(scorer.get("name"), str):
        return raw
    defaults = family.scorer_defaults.get(scorer["name"], {})
    return {**raw, "scorer": {**defaults, **scorer}} if defaults else raw


def _absolute_paths(raw: dict[str, Any], family: Family, base: Path) -> dict[str, Any]:  # type: ignore[type-arg]
    """`raw` with the family's file parameters that are relative resolved against `base`."""
    parameters = raw.get("parameters")
    if not isinstance(parameters, dict):
        return raw
    fixed = dict(parameters)
    for name in path_fields(family.Parameters):
        value = fixed.get(name)
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            fixed[name] = str(base / value)
    return {**raw, "parameters": fixed}


def path_fields(model: type[BaseModel]) -> list[str]:
    """Fields of `model` that hold a file path."""

    def holds_path(annotation: Any) -> bool:
        return annotation is Path or any(holds_path(arg) for arg in get_args(annotation))

    return [name for name, info in model.model_fields.items() if holds_path(info.annotation)]


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML file that must hold a mapping (a task, fine-tune, study or data file)."""
    data = read_yaml_file(path)
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
        if key == "conditions" and (value is None or value == [] or value == ""):
            raise UserError("-T conditions: empty; name one or more conditions, or leave it out to run them all")
        path = key.split(".") if "." in key or key in TaskSpec.model_fields else ["parameters", key]
        target = result
        for part in path[:-1]:
            nested = target.get(part)
            target[part] = dict(nested) if isinstance(nested, dict) else {}
            target = target[part]
        target[path[-1]] = value
    return result


def _parse_scalar(value: str) -> Any:
    """A YAML scalar, or a list / mapping written in flow style (`[a, b]`, `{k: v}`); other text stays text, so a
    sentence with a colon or a leading dash is not read as a mapping or a list."""
    try:
        parsed = yaml.safe_load(value)
    except (yaml.YAMLError, RecursionError):
        return value
    except ValueError:
        raise UserError(f"-T value {value[:40]!r}...: a number has too many digits") from None
    if isinstance(parsed, dict) and not value.lstrip().startswith("{"):
        return value
    if isinstance(parsed, list) and not value.lstrip().startswith("["):
        return value
    return parsed


def validate(model: type[BaseModel], data: Any, *, source: Path, prefix: str = "", quote_values: bool = True) -> Any:
    """`data` as a `model`; the first problem as one line naming the file and field.

    `quote_values=False` for data files, whose values must not be echoed (see `prosaic_evals._files`).
    """
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise UserError(f"{display_path(source)}: {describe_validation_error(e, data, prefix, quote_values)}") from None
    except RecursionError:
        raise UserError(f"{display_path(source)}: nested too deeply") from None


def describe_validation_error(error: ValidationError, data: Any, prefix: str = "", quote_values: bool = True) -> str:
    """The first error as `field.path: message (got value)`, tags of unions removed."""
    first = error.errors()[0]
    named = (first.get("ctx") or {}).get("field") if first["type"] == BOOL_AS_NUMBER else None
    loc = _display_loc(data, (*first["loc"], named) if named else first["loc"])
    field = ".".join(p for p in [prefix, loc] if p) or "(top level)"
    kind = first["type"]
    if kind == "extra_forbidden":
        return f"{field}: unknown key"
    if kind == "missing":
        return f"{field}: required field is missing"
    message = first["msg"]
    got = first.get("input")
    shown = "" if isinstance(got, dict | list) or got is None or not quote_values else f" (got {_short(got)})"
    if kind.startswith("value_error") or kind == BOOL_AS_NUMBER:  # our own validators name the value themselves
        message, shown = message.removeprefix("Value error, "), ""
    return f"{field}: {message}{shown}"


def _short(value: Any, width: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


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
        return get_family(spec.family, search=[path.parent, path.parent.parent])
    except UserError as e:
        raise UserError(f"{display_path(path)}: family: {e}") from None


def _check_conditions(spec: TaskSpec, family: Family, params: StrictModel, path: Path) -> None:  # type: ignore[type-arg]
    if spec.conditions is None:
        return
    if not spec.conditions:
        raise UserError(f"{display_path(path)}: conditions: empty list (omit the key to run all)")
    known = family.conditions_for(params)
    for i, condition in enumerate(spec.conditions):
        if condition not in known:
            raise UserError(
                f"{display_path(path)}: conditions[{i}]: unknown condition {condition!r} for family "
                f"{family.name} (known: {', '.join(known)})"
            )
