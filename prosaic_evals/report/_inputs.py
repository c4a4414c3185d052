"""What `prosaic-evals report` was given: .eval logs, a study, a comparison or probe results.

A folder is recognised by what it holds: `study.json` (a study's results: its `logs/`
and, if present, `probes/`), `comparison.json` (`compare -o`: the logs named in its
samples.csv), `probe.json` (`probe -o`), or `.eval` files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from prosaic_evals._errors import UserError


@dataclass
class Inputs:
    logs: list[Path] = field(default_factory=list)
    probes: list[Path] = field(default_factory=list)
    """Probe result folders (probe.json, results.csv, comparison.csv, predictions.parquet)."""

    study: dict[str, Any] | None = None
    """study.json of a study folder: its spec, variant record and versions."""

    sweeps: list[Path] = field(default_factory=list)
    """Study matrix folders (cells/, pooled over seeds)."""

    baseline: str | None = None
    correction: str | None = None
    margins: dict[str, float | str] = field(default_factory=dict)
    given: list[str] = field(default_factory=list)


def gather(paths: list[Path]) -> Inputs:
    if not paths:
        raise UserError("nothing to report: give .eval logs, a study, comparison or probe results folder")
    inputs = Inputs()
    for path in paths:
        if not path.exists():
            raise UserError(f"{path}: no such file or folder")
        inputs.given.append(str(path))
        if path.is_file():
            if path.suffix == ".eval":
                inputs.logs.append(path)
                continue
            if path.name not in ("study.json", "comparison.json", "probe.json"):
                raise UserError(f"{path}: not an .eval log or a study, comparison or probe results folder")
            path = path.parent
        _folder(path, inputs)
    if len({p.resolve() for p in inputs.logs}) != len(inputs.logs):
        raise UserError(f"{_first_duplicate(inputs.logs)} is given twice")
    return inputs


def _folder(folder: Path, inputs: Inputs) -> None:
    if (folder / "study.json").is_file():
        study = _json(folder / "study.json")
        inputs.study = study
        inputs.logs += _eval_files(folder / "logs", f"study folder {folder}")
        if (folder / "probes" / "probe.json").is_file():
            inputs.probes.append(folder / "probes")
        inputs.correction = inputs.correction or study.get("spec", {}).get("correction")
        # a later `compare -o` of the same folder (a re-analysis) writes its margins to comparison.json
        compared = _json(folder / "comparison.json") if (folder / "comparison.json").is_file() else {}
        stated = compared.get("margins") or study.get("spec", {}).get("margins") or {}
        inputs.margins = inputs.margins or dict(stated)
        inputs.baseline = inputs.baseline or (study.get("models") or [None])[0]
        if "cells" in study:  # a matrix: the cells' shared logs, pooled over seeds
            inputs.sweeps.append(folder)
            done = [c for c in study["cells"] if c.get("state") == "done"]
            if not done:
                raise UserError(f"study folder {folder}: no cell is done (prosaic-evals study FILE --status)")
            first = _json(folder / "cells" / done[0]["key"] / "study.json")
            inputs.baseline = inputs.baseline or first["models"][0]
    elif (folder / "comparison.json").is_file():
        comparison = _json(folder / "comparison.json")
        inputs.logs += _comparison_logs(folder)
        inputs.correction = inputs.correction or comparison.get("correction")
        inputs.margins = inputs.margins or dict(comparison.get("margins") or {})
        inputs.baseline = inputs.baseline or comparison.get("baseline")
    elif (folder / "probe.json").is_file():
        if not (folder / "results.csv").is_file():
            raise UserError(f"probe results {folder}: results.csv is missing (was the probe run interrupted?)")
        inputs.probes.append(folder)
    else:
        inputs.logs += _eval_files(folder, str(folder))


def _eval_files(folder: Path, what: str) -> list[Path]:
    files = sorted(folder.glob("*.eval")) if folder.is_dir() else []
    if not files:
        raise UserError(f"{what}: no .eval logs, study.json, comparison.json or probe.json in {folder}")
    return files


def _comparison_logs(folder: Path) -> list[Path]:
    """The logs a comparison was computed from, as its samples.csv names them."""
    samples = folder / "samples.csv"
    if not samples.is_file():
        raise UserError(f"comparison folder {folder}: samples.csv is missing")
    found = []
    for name in pd.read_csv(samples, usecols=["log"])["log"].drop_duplicates():
        candidates = [Path(name), folder / name, folder / "logs" / Path(name).name]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            raise UserError(f"comparison folder {folder}: its log {name} is not found; give the .eval logs instead")
        found.append(path)
    return found


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: not readable JSON ({e})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object")
    return data


def _first_duplicate(paths: list[Path]) -> Path:
    seen: set[Path] = set()
    for p in paths:
        if p.resolve() in seen:
            return p
        seen.add(p.resolve())
    return paths[0]
