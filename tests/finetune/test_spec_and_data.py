from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from pydantic import ValidationError

from prosaic_evals._errors import UserError
from prosaic_evals.finetune import (
    DataSpec,
    FineTuneSpec,
    Registry,
    Variant,
    data_hash,
    load_finetune_spec,
    load_records,
)

GOOD = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi?"},
        {"role": "assistant", "content": "Hello."},
    ]
}


def jsonl(tmp_path: Path, *lines: object) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_spec_defaults_and_identity() -> None:
    spec = FineTuneSpec(name="v1", data=DataSpec(task="reversal_curse"))
    assert (spec.base, spec.backend, spec.method, spec.hyperparameters.lora_rank) == ("local", "local", "lora", 16)
    same = spec.identity("data1", "base1")
    assert spec.model_copy(update={"name": "renamed"}).identity("data1", "base1") == same  # the name is a label
    assert spec.identity("data2", "base1") != same and spec.identity("data1", "base2") != same
    assert spec.model_copy(update={"seed": 1}).identity("data1", "base1") != same


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "bad name!"}, "name"),
        ({"data": {}}, "exactly one of data.task or data.jsonl"),
        ({"data": {"task": "reversal_curse", "jsonl": "x.jsonl"}}, "exactly one of data.task or data.jsonl"),
        ({"backend": "together"}, "backend"),
        (
            {"backend": "openai", "method": "full", "hyperparameters": {"lora_rank": 8}},
            "hyperparameters.lora_rank is not used by the openai backend",
        ),
        ({"backend": "openai"}, "the openai backend trains the whole model"),
        (
            {"backend": "openai", "method": "full", "format": "completion"},
            "format: completion is for the local backend",
        ),
        (
            {"hyperparameters": {"learning_rate_multiplier": 2.0}},
            "learning_rate_multiplier is not used by the local backend",
        ),
        ({"hyperparameters": {"epoch": 2}}, "epoch"),
        (
            {"method": "full", "hyperparameters": {"lora_alpha": 8}},
            "hyperparameters.lora_alpha is not used by method full",
        ),
    ],
)
def test_invalid_specs(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FineTuneSpec.model_validate({"name": "v1", "data": {"task": "reversal_curse"}} | fields)


def test_spec_files_get_one_line_errors(tmp_path: Path) -> None:
    path = tmp_path / "ft.yaml"
    path.write_text("name: v1\ndata: {task: reversal_curse}\nhyperparameters: {epochs: zero}\n")
    with pytest.raises(UserError, match=r"ft.yaml: hyperparameters.epochs: Input should be a valid integer"):
        load_finetune_spec(path)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "data.jsonl:2: invalid JSON"),
        ([1, 2], "data.jsonl:2: expected an object with 'messages', or 'prompt' and 'completion', got list"),
        ({"prompt": "x"}, "data.jsonl:2: 'completion' must be non-empty text"),
        (
            {"prompt": "x", "completion": "y", "label": 1},
            "data.jsonl:2: unknown key 'label' (allowed: prompt, completion",
        ),
        ({"prompt": " ", "completion": "y"}, "data.jsonl:2: 'prompt' must be non-empty text"),
        ({"text": "x"}, "data.jsonl:2: unknown key 'text' (allowed: messages, metadata; or prompt, completion"),
        ({"messages": []}, "data.jsonl:2: 'messages' must be a non-empty list"),
        (
            {"messages": [{"role": "robot", "content": "x"}]},
            "messages[0].role 'robot' is not one of system, user, assistant",
        ),
        ({"messages": [{"role": "user", "content": " "}]}, "messages[0].content must be non-empty text"),
        (
            {"messages": [{"role": "user", "content": "x", "name": "n"}]},
            "messages[0] must have exactly 'role' and 'content'",
        ),
        ({"messages": [{"role": "user", "content": "Hi?"}]}, "data.jsonl:2: no assistant message"),
    ],
)
def test_bad_records_name_the_file_and_line(tmp_path: Path, line: object, message: str) -> None:
    path = jsonl(tmp_path, GOOD, line)
    with pytest.raises(UserError) as info:
        load_records(DataSpec(jsonl=path))
    assert message in str(info.value)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no training records"):
        load_records(DataSpec(jsonl=jsonl(tmp_path, "", "  ")))
    with pytest.raises(UserError, match="file not found"):
        load_records(DataSpec(jsonl=tmp_path / "absent.jsonl"))


def test_records_from_a_task_and_their_hash(tmp_path: Path) -> None:
    records, source = load_records(
        DataSpec(task="reversal_curse", task_args={"facts_per_subset": 2, "train_templates": 3})
    )
    assert len(records) == 2 * 3 * 4 and "training split of task reversal_curse" in source
    again, _ = load_records(DataSpec(task="reversal_curse", task_args={"facts_per_subset": 2, "train_templates": 3}))
    assert data_hash(records) == data_hash(again) != data_hash(records[1:])
    from_file, _ = load_records(DataSpec(jsonl=jsonl(tmp_path, *records)))
    assert data_hash(from_file) == data_hash(records)  # the hash is of the records, not their source
    with pytest.raises(UserError, match="has no training split"):
        load_records(DataSpec(task="reversal_curse_celebrities"))


def test_prompt_completion_records_train_as_chat_turns_or_as_raw_text(tmp_path: Path) -> None:
    pair = {"prompt": "Daphne Barrington is", "completion": " the director of X.", "metadata": {"fact": "f1"}}
    path = jsonl(tmp_path, GOOD, pair)
    chat, _ = load_records(DataSpec(jsonl=path))
    assert chat[1] == {"messages": [{"role": "user", "content": pair["prompt"]},
                                    {"role": "assistant", "content": pair["completion"]}], "metadata": {"fact": "f1"}}  # fmt: skip
    (tmp_path / "raw").mkdir()
    raw, _ = load_records(DataSpec(jsonl=jsonl(tmp_path / "raw", pair)), form="completion")
    assert raw == [pair]
    with pytest.raises(
        UserError, match="record 1: format: completion trains on prompt/completion records, not messages"
    ):
        load_records(DataSpec(jsonl=path), form="completion")
    spec = FineTuneSpec(name="v1", data=DataSpec(jsonl=path))
    assert spec.model_copy(update={"format": "completion"}).identity("d", "b") != spec.identity("d", "b")
    assert "format" not in spec.model_dump(exclude={"format"})  # chat, the default, is left out of identities


def variant(name: str, **fields: object) -> Variant:
    base = {"name": name, "status": "ready", "base": "local", "base_identity": "b", "backend": "local", "method": "lora",
            "identity": f"id-{name}", "data_hash": "d", "data_source": "s", "seed": 0, "spec": {}}  # fmt: skip
    return Variant.model_validate(base | fields)


def test_registry_round_trip_and_missing_files(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "variants")
    folder = tmp_path / "v1"
    (folder / "adapter").mkdir(parents=True)
    (folder / "adapter" / "adapter_config.json").write_text("{}")
    registry.put(variant("v1", path=str(folder)))
    assert registry.get("v1").usable().path == str(folder)
    assert registry.by_identity("id-v1") is not None and registry.by_identity("nope") is None
    (folder / "adapter" / "adapter_config.json").unlink()
    with pytest.raises(UserError, match=r"variant v1: its files are missing .*`prosaic-evals models remove v1`"):
        registry.get("v1").usable()
    with pytest.raises(UserError, match=r"unknown variant 'v2' \(registered: v1\)"):
        registry.get("v2")
    registry.remove("v1", delete_files=True)
    assert registry.variants() == [] and not folder.exists()


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "variants")
    threads = [threading.Thread(target=registry.put, args=(variant(f"v{i}"),)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(v.name for v in registry.variants()) == sorted(f"v{i}" for i in range(20))
