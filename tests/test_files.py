"""Reading users' files: every malformed file is one UserError naming file and line, never its content."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from prosaic_evals._errors import UserError
from prosaic_evals._files import load_json, load_yaml, read_csv_file, read_jsonl_file, read_text

SECRET = "sk-live-0123456789"


def write(tmp_path: Path, data: bytes | str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("a,b\n".encode("utf-16"), "data.csv: the file is UTF-16 or UTF-32 encoded; save it as UTF-8"),
        (b"a,b\n1,\xff\n", "data.csv:2: not UTF-8 text (byte 6); save the file as UTF-8"),
        (b"a,b\x00\n", "data.csv: not a text file (it contains NUL bytes)"),
    ],
)
def test_files_that_are_not_utf8_text_are_refused(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(UserError) as info:
        read_text(write(tmp_path, data))
    assert str(info.value).endswith(message)


def test_a_byte_order_mark_is_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, codecs.BOM_UTF8 + b"child,parent\nA,B\n")
    assert list(read_csv_file(path, ["child", "parent"])) == [(2, {"child": "A", "parent": "B"})]


def test_missing_files_and_folders(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"absent\.csv: file not found"):
        read_text(tmp_path / "absent.csv")
    with pytest.raises(UserError, match="is a folder, not a file"):
        read_text(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("child,parent\nA,B,C\n", "data.csv:2: 3 field(s) but the header has 2"),
        (f"{SECRET},{SECRET}\n1,2\n", "missing column(s) child, parent; the header must be child,parent "
         "(it has none of them and 2 other field(s))"),
        ("Child,parent\nA,B\n", "missing column(s) child; the header must be child,parent (it has Child, parent); "
         "'Child' should be 'child'"),
        ("child,child,parent\nA,B,C\n", "data.csv:1: column 'child' appears twice in the header"),
        ("child,parent\n" + "x" * 200_000 + ",B\n", "data.csv:2: invalid CSV (field larger than field limit"),
        ('child,parent\n"A,B\n', "data.csv:2: invalid CSV (unexpected end of data)"),
    ],
)  # fmt: skip
def test_malformed_csv_names_the_line_and_never_quotes_the_header(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UserError) as info:
        list(read_csv_file(write(tmp_path, text), ["child", "parent"]))
    assert message in str(info.value)
    assert SECRET not in str(info.value) and "\n" not in str(info.value)


def test_blank_lines_are_skipped_and_line_numbers_are_the_files(tmp_path: Path) -> None:
    rows = list(read_csv_file(write(tmp_path, "child,parent\n\nA,B\n,\nC,D\n"), ["child", "parent"]))
    assert [line for line, _ in rows] == [3, 5]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\nb: 2\na: 3\n", "f.yaml:3:1: invalid YAML: key 'a' appears twice (first on line 1)"),
        ("a: " + "9" * 5000 + "\n", "f.yaml: invalid YAML: a number has too many digits"),
        ("[" * 5000 + "]" * 5000, "f.yaml: invalid YAML: nested too deeply"),
        ("a:" + " [" * 70 + " 1" + "]" * 70, "f.yaml: nested more than 64 levels deep"),
        ("a: [1, 2\n", "f.yaml:2:1: invalid YAML: expected ',' or ']', but got '<stream end>'"),
    ],
)
def test_malformed_yaml(text: str, message: str) -> None:
    with pytest.raises(UserError) as info:
        load_yaml(text, "f.yaml")
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1, "a": 2}', "f.json: invalid JSON: key 'a' appears twice in one object"),
        ("[" * 100_000 + "]" * 100_000, "f.json: invalid JSON: nested too deeply"),
        ("9" * 5000, "f.json: invalid JSON: a number has too many digits"),
        ('{"a": ', "f.json:1: invalid JSON: Expecting value"),
    ],
)
def test_malformed_json(text: str, message: str) -> None:
    with pytest.raises(UserError) as info:
        load_json(text, "f.json")
    assert str(info.value) == message


def test_jsonl_errors_name_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '{"a": 1}\n\n{"a": \n', "f.jsonl")
    with pytest.raises(UserError, match=r"f.jsonl:3: invalid JSON: Expecting value"):
        list(read_jsonl_file(path))
