"""Property-based fuzzing of everything a user can get wrong: task files, -T and -M values, user data files.

Every generated input must end in data or in one line: exit code 2, a single `error:`
line, no traceback, no log folder created, no output file written, and never the
content of a data file echoed back. The commands run in this process (`main`), with
an API model and no key where a model is needed, so that a valid input stops at the
key check instead of starting a server.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests._cli import run_cli

EXAMPLES = int(os.environ.get("PROSAIC_FUZZ_EXAMPLES", "150"))
SECRET = "sk-fuzz-SECRET-0123456789abcdef"
BIG = "__A_NUMBER_OF_5000_DIGITS__"
"""Stands for a number too long for Python's int-string limit (replaced after dumping)."""
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def outcome(*args: str) -> tuple[int, str]:
    """(exit code, stdout + stderr) of the CLI run in this process, with no API key in reach (so that a
    valid input stops at the key check and nothing is ever sent)."""
    done = run_cli(*args, drop_keys=True)
    return done.returncode, done.stdout + done.stderr


def assert_refused_in_one_line(code: int, text: str, folder: Path) -> None:
    assert "Traceback" not in text, text[-3000:]
    assert SECRET not in text, text
    assert code in (0, 2), text[-3000:]
    if code == 2:
        errors = [line for line in text.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, text[-3000:]
        assert not (folder / "logs").exists() and not (folder / "out.jsonl").exists()


def run_task_file(folder: Path, text: str | bytes, *extra: str) -> tuple[int, str]:
    task = folder / "task.yaml"
    task.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    return outcome("run", str(task), "--model", "openai/gpt-4o", "--log-dir", str(folder / "logs"), *extra)


# -- values that break naive code ------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**6), max_value=10**6),
    st.integers(min_value=10**30, max_value=10**40), st.just(BIG),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30), st.just(""), st.just("\x00"),
    st.just("x" * 200_000), st.sampled_from(["local", "all", "-1", "1e9", ".inf", "true", "[", "{a: 1"]),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def deep(n: int) -> Any:
    value: Any = 1
    for _ in range(n):
        value = [value]
    return value


BASE_TASK = {
    "family": "reversal_curse",
    "parameters": {"facts_per_subset": 2, "heldout_templates": 1},
    "conditions": ["p2d_same"],
    "scorer": {"name": "exact_match"},
    "generation": {"max_tokens": 8, "temperature": 0.0},
}
PATHS = [("family",), ("version",), ("parameters",), ("parameters", "seed"), ("parameters", "facts_per_subset"),
         ("parameters", "heldout_templates"), ("conditions",), ("scorer",), ("scorer", "name"), ("scorer", "match"),
         ("generation",), ("generation", "max_tokens"), ("generation", "temperature"), ("generation", "seed"),
         ("generation", "top_p"), ("colour",)]  # fmt: skip


def _yaml_dump(data: Any) -> str:
    try:
        text = yaml.safe_dump(data, allow_unicode=True)
    except (yaml.YAMLError, RecursionError, ValueError):
        text = "{"
    return text.replace(BIG, "9" * 5000)


@FUZZ
@given(edits=st.lists(st.tuples(st.sampled_from(PATHS), values), min_size=1, max_size=3))
def test_fuzzed_task_files_end_in_one_line(edits: list[tuple[tuple[str, ...], Any]]) -> None:
    task: Any = json.loads(json.dumps(BASE_TASK))
    for path, value in edits:
        node = task
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[path[-1]] = value
    with scratch() as folder:
        code, text = run_task_file(folder, _yaml_dump(task))
        assert_refused_in_one_line(code, text, folder)


RAW_TASKS = [
    b"\xff\xfe" + "family: reversal_curse\n".encode("utf-16-le"),
    b"family: reversal_curse\x00\nscorer: {name: exact_match}\n",
    b"family: reversal_curse\nfamily: two_hop\nscorer: {name: exact_match}\n",
    b"family: reversal_curse\nscorer: {name: exact_match}\nparameters: {seed: " + b"9" * 5000 + b"}\n",
    b"family: reversal_curse\nscorer: {name: exact_match}\nparameters: {seed: " + b"[" * 5000 + b"}\n",
    b"\x80\x81\x82 not utf-8",
    b"",
    b"- just\n- a list\n",
    b"family: reversal_curse\nscorer: {name: exact_match}\ngeneration: {max_tokens: 1.0e+9}\n",
    b"family: reversal_curse\nscorer: {name: exact_match}\nparameters: {facts_per_subset: true}\n",
    b"family: reversal_curse\nscorer: {name: exact_match}\ngeneration: {temperature: .inf}\n",
    b"family: reversal_curse\nscorer: {name: exact_match}\nconditions: []\n",
    b"family: ooc_inductive\nscorer: {name: likelihood}\nparameters: {functions: [{expr: 'x // (x - x)'}]}\n",
    b"family: ooc_inductive\nscorer: {name: likelihood}\nparameters: {functions: [{expr: '" + b"x+" * 5000 + b"x'}]}\n",
    b"family: ooc_inductive\nscorer: {name: likelihood}\nparameters: {functions: [{expr: 'x + 1', inverse: '1 // (x - 1)'}]}\n",
]


@pytest.mark.parametrize("text", RAW_TASKS, ids=range(len(RAW_TASKS)))
def test_hand_written_malformed_task_files_end_in_one_line(text: bytes) -> None:
    with scratch() as folder:
        code, out = run_task_file(folder, text)
        assert code == 2, out
        assert_refused_in_one_line(code, out, folder)


overrides = st.tuples(
    st.sampled_from(["seed", "facts_per_subset", "heldout_templates", "conditions", "scorer.name", "scorer.match",
                     "generation.max_tokens", "generation.temperature", "nope", "generation", "scorer", "", "a.b.c"]),
    st.one_of(st.text(max_size=40), st.sampled_from(["", "[", "{", "1" * 5000, "[[[[[[[[[[", "-5", ".nan", "true"])),
)  # fmt: skip


@FUZZ
@given(pairs=st.lists(overrides, min_size=1, max_size=3))
def test_fuzzed_overrides_end_in_one_line(pairs: list[tuple[str, str]]) -> None:
    with scratch() as folder:
        args = [part for key, value in pairs for part in ("-T", f"{key}={value}")]
        code, text = outcome(
            "run", "reversal_curse", "--model", "openai/gpt-4o", "--log-dir", str(folder / "logs"), *args
        )
        assert_refused_in_one_line(code, text, folder)


@FUZZ
@given(
    key=st.sampled_from(["max_model_len", "kv_cache_gib", "tensor_parallel_size", "enable_lora", "max_lora_rank",
                         "port", "bogus", "x" * 50]),
    value=st.sampled_from(["-1", "abc", "[1, 2]", "{a: 1}", "1.5", "maybe", "", "-0.5"]),
)  # fmt: skip
def test_fuzzed_server_options_are_refused_before_a_server_starts(key: str, value: str) -> None:
    with scratch() as folder:
        code, text = outcome("run", "reversal_curse", "-M", f"{key}={value}", "--log-dir", str(folder / "logs"))
        assert code == 2, text
        assert "Starting vLLM server" not in text
        assert_refused_in_one_line(code, text, folder)


# -- user data files -------------------------------------------------------------------------------------------

USER_FILES = [  # (task, parameter, suffix, extra -T)
    ("reversal_curse_celebrities", "csv", ".csv", []),
    ("two_hop", "triplets_file", ".csv", ["-T", "tokenizer=null"]),
    ("ooc_declarative", "chatbots_file", ".yaml", []),
    ("cot_biasing", "questions_file", ".json", []),
]

csv_cells = st.one_of(
    st.text(max_size=12),
    st.just(SECRET),
    st.just("x" * 140_000),
    st.just("a\x00b"),
    st.sampled_from(["child", "parent", "parent_type", "mother", "e1", "e2", "e3", "subset", '"']),
)
csv_text = st.lists(st.lists(csv_cells, min_size=0, max_size=5), min_size=0, max_size=6).map(
    lambda rows: "\n".join(",".join(row) for row in rows)
)
structured = st.recursive(
    st.one_of(scalars, st.just(SECRET)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["chatbots", "examples", "inputs", "name", "behaviour", "target_scores", SECRET]), inner,
        max_size=4),
    max_leaves=10,
)  # fmt: skip


def encodings(text: str) -> st.SearchStrategy[bytes]:
    return st.sampled_from([
        text.encode("utf-8", "surrogatepass"), codecs.BOM_UTF8 + text.encode("utf-8", "surrogatepass"),
        text.encode("utf-16", "surrogatepass"), text.encode("utf-8", "surrogatepass") + b"\xff\xfe\x00",
    ])  # fmt: skip


def file_bytes(suffix: str) -> st.SearchStrategy[bytes]:
    texts = csv_text if suffix == ".csv" else structured.map(_json_dump if suffix == ".json" else _yaml_dump)
    return st.one_of(texts.flatmap(encodings), st.binary(max_size=200), st.just(b"[" * 100_000))


def _json_dump(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (ValueError, RecursionError):
        text = "{"
    return text.replace(f'"{BIG}"', "9" * 5000)


@pytest.mark.parametrize(("task", "parameter", "suffix", "extra"), USER_FILES, ids=[f[1] for f in USER_FILES])
def test_fuzzed_user_files_end_in_one_line_and_are_never_echoed(task: str, parameter: str, suffix: str,
                                                                extra: list[str]) -> None:  # fmt: skip
    @FUZZ
    @given(content=file_bytes(suffix))
    def check(content: bytes) -> None:
        with scratch() as folder:
            data = folder / f"data{suffix}"
            data.write_bytes(content)
            out = folder / "out.jsonl"
            code, text = outcome("data", task, "--split", "eval", "-T", f"{parameter}={data}", *extra, "-o", str(out))
            assert "Traceback" not in text and SECRET not in text, text[-3000:]
            assert code in (0, 2), text[-3000:]
            if code == 2:
                assert len([line for line in text.splitlines() if line.startswith("error: ")]) == 1, text
                assert not out.exists()

    check()


@pytest.mark.parametrize(("task", "parameter", "suffix", "extra"), USER_FILES, ids=[f[1] for f in USER_FILES])
def test_a_file_of_secrets_given_as_data_is_refused_without_quoting_it(
    task: str, parameter: str, suffix: str, extra: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOME_TOKEN", SECRET)  # in /proc/self/environ
    secrets = {
        "environ": Path("/proc/self/environ"),
        "dotenv": tmp_path / "dotenv",
        "netrc": tmp_path / "netrc",
        "json": tmp_path / "creds.json",
        "header": tmp_path / "header.csv",
    }
    secrets["dotenv"].write_text(f"OPENAI_API_KEY={SECRET}\nOTHER=1\n")
    secrets["netrc"].write_text(f"machine api.example.com login me password {SECRET}\n")
    secrets["json"].write_text(json.dumps({"client_id": "x", "client_secret": SECRET, "chatbots": SECRET}))
    secrets["header"].write_text(f"{SECRET},{SECRET}\n{SECRET},{SECRET}\n")
    for name, path in secrets.items():
        code, text = outcome("data", task, "--split", "eval", "-T", f"{parameter}={path}", *extra,
                             "-o", str(tmp_path / "out.jsonl"))  # fmt: skip
        assert code == 2, (name, text)
        assert SECRET not in text, (name, text)
        assert "Traceback" not in text and len(text.strip().splitlines()) == 1, (name, text)
