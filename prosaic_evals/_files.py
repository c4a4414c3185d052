"""Reading the files users give: task files and data files (CSV, YAML, JSON, JSONL).

Whatever a file holds, reading it ends in data or in one UserError that names
the file (and line or field where there is one). An error never quotes the
file's content: a parameter can be pointed at any file (`-T csv=~/.netrc`), and
its content must not reach a terminal or a CI log. Column names are shown only
where they are the ones expected, up to letter case.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from prosaic_evals._errors import UserError
from prosaic_evals._paths import display_path

MAX_BYTES = 512 * 1024 * 1024
"""Larger files are refused before they are read into memory."""

MAX_DEPTH = 64
"""Deepest nesting of lists and mappings a YAML or JSON file may have."""

_UTF16_32 = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def read_text(path: Path) -> str:
    """A file's text: UTF-8 (a byte-order mark is allowed), not binary, not huge."""
    where = display_path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise UserError(f"{where}: {size / 2**20:.0f} MiB is larger than the {MAX_BYTES // 2**20} MiB allowed")
        data = path.read_bytes()
    except IsADirectoryError:
        raise UserError(f"{where}: is a folder, not a file") from None
    except FileNotFoundError:
        raise UserError(f"{where}: file not found") from None
    except OSError as e:
        raise UserError(f"{where}: cannot read ({e.strerror or type(e).__name__})") from None
    if data.startswith(_UTF16_32):
        raise UserError(f"{where}: the file is UTF-16 or UTF-32 encoded; save it as UTF-8")
    if b"\x00" in data:
        raise UserError(f"{where}: not a text file (it contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UserError(f"{where}:{line}: not UTF-8 text (byte {e.start}); save the file as UTF-8") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice (YAML would silently keep the second)."""


def _mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key (a list): let the constructor say so
            break
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice (first on line {first})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(text: str, where: str) -> Any:
    """YAML text -> data; any problem is one line naming `where` and the line."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark else where
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise UserError(f"{at}: invalid YAML: {problem}") from None
    except RecursionError:
        raise UserError(f"{where}: invalid YAML: nested too deeply") from None
    except ValueError as e:  # an integer too long to convert
        raise UserError(f"{where}: invalid YAML: {_number_problem(e)}") from None
    _check_depth(data, where)
    return data


def load_json(text: str, where: str, *, with_line: bool = True) -> Any:
    """JSON text -> data; a key given twice, deep nesting or a huge number is one line naming `where`."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        twice = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
        if twice is not None:
            raise UserError(f"{where}: invalid JSON: key {twice!r} appears twice in one object")
        return dict(pairs)

    try:
        data = json.loads(text, object_pairs_hook=unique)
    except json.JSONDecodeError as e:
        raise UserError(f"{where}{f':{e.lineno}' if with_line else ''}: invalid JSON: {e.msg}") from None
    except RecursionError:
        raise UserError(f"{where}: invalid JSON: nested too deeply") from None
    except ValueError as e:
        raise UserError(f"{where}: invalid JSON: {_number_problem(e)}") from None
    _check_depth(data, where)
    return data


def _number_problem(error: ValueError) -> str:
    return "a number has too many digits" if "digits" in str(error) else "a value cannot be read"


def _check_depth(data: Any, where: str) -> None:
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise UserError(f"{where}: nested more than {MAX_DEPTH} levels deep")
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children)


def read_yaml_file(path: Path) -> Any:
    return load_yaml(read_text(path), display_path(path))


def read_json_file(path: Path) -> Any:
    return load_json(read_text(path), display_path(path))


def read_jsonl_file(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-blank line."""
    where = display_path(path)
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if line.strip():
            yield number, load_json(line, f"{where}:{number}", with_line=False)


def read_csv_file(
    path: Path, required: Sequence[str], optional: Sequence[str] = ()
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for each row of a CSV with a header; rows have exactly the header's fields."""
    where = display_path(path)
    reader = csv.reader(io.StringIO(read_text(path), newline=""), strict=True)  # an unclosed quote is an error
    try:
        header = [name.strip() for name in next(reader, [])]
    except csv.Error as e:
        raise UserError(f"{where}:1: invalid CSV ({e})") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise UserError(f"{where}: {_header_problem(header, missing, required, optional)}")
    twice = next((c for i, c in enumerate(header) if c in header[:i] and c in (*required, *optional)), None)
    if twice is not None:
        raise UserError(f"{where}:1: column {twice!r} appears twice in the header")
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise UserError(f"{where}:{reader.line_num}: invalid CSV ({e})") from None
        if not any(field.strip() for field in fields):
            continue
        if len(fields) != len(header):
            raise UserError(
                f"{where}:{reader.line_num}: {len(fields)} field(s) but the header has {len(header)} "
                "(quote a field that contains a comma)"
            )
        yield reader.line_num, dict(zip(header, fields, strict=True))


def _header_problem(header: list[str], missing: list[str], required: Sequence[str], optional: Sequence[str]) -> str:
    """Which columns are missing, quoting only the header's fields that are expected names (up to case):
    the first line of a file that is not this CSV may hold anything."""
    expected = ",".join(required) + "".join(f"[,{c}]" for c in optional)
    known = {c.lower(): c for c in (*required, *optional)}
    found = [name for name in header if name.lower() in known]
    others = len(header) - len(found)
    cased = [f"{name!r} should be {known[name.lower()]!r}" for name in found if name not in known.values()]
    has = ", ".join(found) or "none of them"
    return (
        f"missing column(s) {', '.join(missing)}; the header must be {expected} "
        f"(it has {has}{f' and {others} other field(s)' if others else ''})"
        + (f"; {'; '.join(cased)}" if cased else "")
    )
