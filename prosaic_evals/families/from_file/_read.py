"""Rows of a user's data file, each with where it came from (`file:line` or `file, row N`).

JSONL (one object per line), CSV (a header row; a cell holding a JSON list is a list),
Parquet, and a Hugging Face `datasets` folder written by `save_to_disk`. As everywhere,
errors name the file and line or row but never quote its content.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prosaic_evals._errors import UserError
from prosaic_evals._files import MAX_BYTES, read_csv_file, read_jsonl_file, read_text
from prosaic_evals._paths import display_path

SUFFIXES = (".jsonl", ".csv", ".parquet")


def file_kind(path: Path) -> str:
    """`jsonl`, `csv`, `parquet` or `datasets` (a folder saved by `datasets`), or a one-line error."""
    where = display_path(path)
    if path.is_dir():
        if (path / "dataset_dict.json").is_file():
            splits = json.loads(read_text(path / "dataset_dict.json")).get("splits", [])
            raise UserError(f"{where}: a DatasetDict folder; name one split's folder ({', '.join(splits)})")
        if not (path / "state.json").is_file():
            raise UserError(f"{where}: a folder, but not one written by datasets' save_to_disk (no state.json)")
        return "datasets"
    if not path.is_file():
        raise UserError(f"{where}: file not found")
    kind = path.suffix.lower().lstrip(".")
    if kind == "json":
        kind = "jsonl"  # one object per line is the only JSON form that streams; a whole-file array is refused below
    if f".{kind}" not in SUFFIXES:
        raise UserError(f"{where}: unknown kind of file (use {', '.join(SUFFIXES)} or a datasets folder)")
    return kind


def read_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, row) for every row of the file."""
    kind, where = file_kind(path), display_path(path)
    if kind == "jsonl":
        for number, value in read_jsonl_file(path):
            if not isinstance(value, dict):
                raise UserError(f"{where}:{number}: expected one JSON object per line, got {type(value).__name__}")
            yield f"{where}:{number}", value
    elif kind == "csv":
        yield from _csv_rows(path, where)
    else:
        for number, row in enumerate(_table(path, kind, where).to_pylist(), start=1):
            yield f"{where}, row {number}", row


def _csv_rows(path: Path, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for number, row in read_csv_file(path, required=()):
        yield f"{where}:{number}", {name: _cell(value) for name, value in row.items()}


def _cell(text: str) -> Any:
    """A CSV cell: a JSON list written in the cell (`["a", "b"]`) is a list; anything else is text."""
    stripped = text.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        try:
            return json.loads(stripped)
        except ValueError:
            return text
    return text


def _table(path: Path, kind: str, where: str) -> Any:
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            if path.stat().st_size > MAX_BYTES:
                raise UserError(f"{where}: larger than the {MAX_BYTES // 2**20} MiB allowed")
            return pq.read_table(path)
        from datasets import load_from_disk  # type: ignore[attr-defined]  # mypy sees the datasets/ folder

        return load_from_disk(str(path)).data.table
    except ImportError as e:
        raise UserError(f"{where}: reading {kind} needs the {e.name} package (pip install pyarrow datasets)") from None
    except UserError:
        raise
    except Exception as e:  # pyarrow's and datasets' own errors for a damaged file
        raise UserError(f"{where}: cannot read as {kind} ({type(e).__name__})") from None
