"""A task's data as files: the training split, or the evaluation items in the from_file family's schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prosaic_evals._errors import UserError
from prosaic_evals._paths import write_folder
from prosaic_evals.families import Item
from prosaic_evals.run._build import all_items, eval_items
from prosaic_evals.spec import LoadedTask


def export_records(task: LoadedTask, split: str, *, pairs: bool = False) -> list[dict[str, Any]]:
    """`train`: the family's training records (`pairs`: as prompt/completion); `eval`: one row per item,
    with its distractor pool, so that the from_file family reading them back builds the same samples."""
    if split == "train":
        records = task.family.train_records(task.params)
        if not records:
            raise UserError(f"task {task.name}: family {task.family.name} has no training split")
        return [_pair(r, n) for n, r in enumerate(records, start=1)] if pairs else records
    every = all_items(task)
    return [_row(item, task.family.distractor_pool(item, every)) for item in eval_items(task, every)]


def _pair(record: dict[str, Any], number: int) -> dict[str, Any]:
    """A one-exchange conversation as a prompt/completion pair."""
    if "messages" not in record:
        return record
    roles = [m["role"] for m in record["messages"]]
    if roles != ["user", "assistant"]:
        raise UserError(f"training record {number}: --prompt-completion needs one user turn and one reply "
                        f"(this one is {', '.join(roles)})")  # fmt: skip
    user, reply = record["messages"]
    metadata = {"metadata": record["metadata"]} if "metadata" in record else {}
    return {"prompt": user["content"], "completion": reply["content"], **metadata}


def _row(item: Item, pool: list[str]) -> dict[str, Any]:
    prompt: Any = [{"role": r, "content": c} for r, c in item.messages] if item.messages else item.prompt
    return {
        "id": item.id,
        "condition": item.condition,
        "prompt": prompt,
        "target": item.target,
        "accepted": list(item.accepted),
        "cluster": item.cluster,
        "distractors": [t for t in pool if t not in item.accepted],
        "metadata": item.metadata,
    }


def write_records(records: list[dict[str, Any]], output: Path, kind: str) -> None:
    """Write whole or not at all: JSONL, Parquet, or a `datasets` folder (save_to_disk).

    In Parquet and datasets, object values (metadata, chat messages) are JSON text: their keys
    differ from row to row, and a columnar schema would add the missing keys to every row."""
    if kind == "jsonl":
        tmp = output.with_name(output.name + ".tmp")
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        tmp.replace(output)
        return
    import pyarrow as pa

    rows = [{k: _flat(v) for k, v in r.items()} for r in records]
    table = pa.Table.from_pylist(rows)
    if kind == "parquet":
        import pyarrow.parquet as pq

        tmp = output.with_name(output.name + ".tmp")
        pq.write_table(table, tmp)
        tmp.replace(output)
        return
    from datasets import Dataset  # type: ignore[attr-defined]  # mypy sees the datasets/ data folder
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    if output.exists() and not (output / "state.json").is_file():
        raise UserError(f"-o {output}: exists and is not a datasets folder; it is left alone")
    with write_folder(output) as folder:
        Dataset(table).save_to_disk(str(folder))


def _flat(value: Any) -> Any:
    if isinstance(value, dict) or (isinstance(value, list) and value and isinstance(value[0], dict)):
        return json.dumps(value, ensure_ascii=False)
    return value
