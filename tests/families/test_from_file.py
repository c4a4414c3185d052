"""The from_file family: a user's items and training data from their own files, fields mapped in the task file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from prosaic_evals._errors import UserError
from prosaic_evals.families import Item
from prosaic_evals.run import build_task, eval_items
from prosaic_evals.spec import load_task
from tests._cli import run_cli
from tests.test_cli import assert_one_line_error

ROWS = [
    {"q": "Who wrote Hamlet?", "answers": ["Shakespeare", "William Shakespeare"], "kind": "literature", "fact": "f1",
     "wrong": ["Marlowe", "Jonson"], "extra": {"year": 1600}, "source": "a"},
    {"q": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}],
     "answers": "Paris", "kind": "geography", "fact": "f2", "wrong": ["Lyon"], "extra": {}, "source": "b"},
    {"q": "Capital of Italy?", "answers": "Rome", "kind": "geography", "fact": "f3", "wrong": [], "extra": {},
     "source": "c"},
]  # fmt: skip
FIELDS = {"prompt": "q", "target": "answers", "condition": "kind", "cluster": "fact", "distractors": "wrong",
          "metadata": "extra", "keep": ["source"]}  # fmt: skip


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def task_file(folder: Path, items: str, *, scorer: str = "{name: exact_match}", **parameters: Any) -> Path:
    body = {"family": "from_file", "parameters": {"items": items, **parameters}, "scorer": yaml.safe_load(scorer)}
    path = folder / "task.yaml"
    path.write_text(json.dumps(body))  # JSON is YAML
    return path


def items_of(path: Path, **overrides: Any) -> list[Item]:
    return eval_items(load_task(path, overrides))


def test_mapped_fields_make_items_with_conditions_clusters_targets_and_metadata(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "items.jsonl", ROWS)
    task = load_task(task_file(tmp_path, "items.jsonl", fields=FIELDS))
    assert task.conditions == ("literature", "geography")  # from the file, in order
    by_prompt = {item.prompt: item for item in eval_items(task)}
    hamlet = by_prompt["Who wrote Hamlet?"]
    assert (hamlet.target, hamlet.accepted, hamlet.cluster) == ("Shakespeare", ("William Shakespeare",), "f1")
    assert hamlet.metadata == {"year": 1600, "source": "a", "distractors": ["Marlowe", "Jonson"]}
    france = by_prompt["Capital of France?"]  # a chat prompt: its last user turn is the prompt shown
    assert france.messages == (("system", "Be brief."), ("user", "Capital of France?"))
    samples = {s.input if isinstance(s.input, str) else s.input[-1].text: s for s in build_task(task).dataset}
    assert [m.role for m in samples["Capital of France?"].input] == ["system", "user"]  # type: ignore[union-attr]
    assert samples["Who wrote Hamlet?"].target == ["Shakespeare", "William Shakespeare"]
    assert len({item.id for item in by_prompt.values()}) == 3  # ids derived from content, stable
    assert [i.id for i in items_of(tmp_path / "task.yaml")] == [i.id for i in eval_items(task)]


def test_a_file_without_optional_columns_has_one_condition_and_each_item_its_own_cluster(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "items.jsonl", [{"prompt": "2+2=", "target": 4}, {"prompt": "3+3=", "target": "6"}])
    (one, two) = items_of(task_file(tmp_path, "items.jsonl"))
    assert (one.condition, one.cluster, one.target) == ("all", one.id, "4")  # a number target is its text
    assert two.cluster == two.id != one.id


@pytest.mark.parametrize("kind", ["csv", "parquet", "datasets"])
def test_csv_parquet_and_datasets_folders_give_the_same_items_as_jsonl(tmp_path: Path, kind: str) -> None:
    import pandas as pd

    rows = [{"id": f"i{n}", "prompt": f"Q{n}?", "target": f"A{n}", "condition": "c", "cluster": f"k{n % 2}",
             "distractors": ["X", "Y"]} for n in range(4)]  # fmt: skip
    expected = items_of(task_file(tmp_path, str(write_jsonl(tmp_path / "items.jsonl", rows))))
    path = tmp_path / f"items.{kind}"
    if kind == "csv":
        frame = pd.DataFrame(rows).assign(distractors=lambda f: f["distractors"].map(json.dumps))
        frame.to_csv(path, index=False)  # a JSON list in a cell is a list
    elif kind == "parquet":
        pd.DataFrame(rows).to_parquet(path)
    else:
        from datasets import Dataset  # type: ignore[attr-defined]

        Dataset.from_list(rows).save_to_disk(str(path))
    assert items_of(task_file(tmp_path, str(path))) == expected


def test_distractors_come_from_the_file_or_from_other_items_of_the_same_condition(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "items.jsonl", ROWS)
    task = load_task(task_file(tmp_path, "items.jsonl", scorer="{name: likelihood, distractors: 1}", fields=FIELDS))
    samples = {s.metadata["cluster"]: s.metadata["distractors"] for s in build_task(task).dataset}
    assert samples["f1"][0] in {"Marlowe", "Jonson"} and samples["f2"] == ["Lyon"]
    assert samples["f3"] == ["Paris"]  # no distractors of its own: the other geography target


def test_a_training_split_from_prompt_completion_or_messages_rows(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "items.jsonl", [{"prompt": "Q?", "target": "A"}])
    write_jsonl(tmp_path / "train.jsonl", [{"text": "Daphne Barrington is", "answer": " the director of X."},
                                           {"messages": [{"role": "user", "content": "hi"},
                                                         {"role": "assistant", "content": "hello"}]}])  # fmt: skip
    task = load_task(task_file(tmp_path, "items.jsonl", train="train.jsonl",
                               train_fields={"prompt": "text", "completion": "answer"}))  # fmt: skip
    records = task.family.train_records(task.params)
    assert records[0] == {"prompt": "Daphne Barrington is", "completion": " the director of X."}
    assert records[1]["messages"][1] == {"role": "assistant", "content": "hello"}


def test_an_edited_file_is_a_new_data_version(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "items.jsonl", [{"prompt": "Q?", "target": "A"}])
    task = load_task(task_file(tmp_path, "items.jsonl"))
    before = task.family.data_version_for(task.params)
    write_jsonl(path, [{"prompt": "Q?", "target": "B"}])
    assert load_task(tmp_path / "task.yaml").family.data_version_for(task.params) != before


def test_round_trip_every_built_in_task_exported_and_read_back_gives_the_same_samples(tmp_path: Path) -> None:
    """`data TASK --split eval` then the from_file family: same ids, inputs, targets, clusters, distractors."""
    for name in ["reversal_curse", "reversal_curse_likelihood", "two_hop_likelihood", "ooc_declarative"]:
        out = tmp_path / f"{name}.parquet"
        assert run_cli("data", name, "--split", "eval", "-T", "seed=1", "-o", str(out)).returncode == 0
        original = load_task(name, {"seed": 1})
        again = load_task(task_file(tmp_path, str(out), scorer=json.dumps(original.spec.scorer.model_dump())))

        def samples(task: Any) -> dict[str, Any]:
            scored = task.spec.scorer.name == "likelihood"  # the distractors drawn for each item
            return {s.id: (s.input, s.target, s.metadata["condition"], s.metadata["cluster"],
                           s.metadata["distractors"] if scored else None) for s in build_task(task).dataset}  # fmt: skip

        assert samples(again) == samples(original), name


BAD = {
    "a mapped column that is missing": ({"fields": {"target": "answer"}}, [{"prompt": "Q", "target": "A"}],
                                        "items.jsonl:1: no column 'answer' (fields.target); the row has 2 column(s)"),
    "a mapped column in another letter case": ({"fields": {"target": "answer"}}, [{"prompt": "Q", "Answer": "A"}],
                                                "items.jsonl:1: no column 'answer' (fields.target); the row has 2 "
                                                "column(s); 'Answer' differs only in letter case"),
    "mixed schemas: a later row lacks the mapped column": (
        {"fields": {"condition": "kind"}}, [{"prompt": "Q", "target": "A", "kind": "k"}, {"prompt": "R", "target": "B"}],
        "items.jsonl:2: no column 'kind' (fields.condition)"),
    "an empty target": ({}, [{"prompt": "Q", "target": ""}], "items.jsonl:1: fields.target ('target'): empty"),
    "an empty list of targets": ({}, [{"prompt": "Q", "target": []}], "items.jsonl:1: fields.target ('target'): empty"),
    "duplicate ids": ({}, [{"id": "x", "prompt": "Q", "target": "A"}, {"id": "x", "prompt": "R", "target": "B"}],
                      "items.jsonl:2: duplicate id 'x' (first at items.jsonl:1)"),
    "a chat prompt with a bad role": ({}, [{"prompt": [{"role": "robot", "content": "x"}], "target": "A"}],
                                      "items.jsonl:1: fields.prompt ('prompt')[0]: expected {role"),
    "a line that is not an object": ({}, [["Q", "A"]], "items.jsonl:1: expected one JSON object per line, got list"),
}  # fmt: skip


@pytest.mark.parametrize("parameters, rows, message", BAD.values(), ids=BAD.keys())
def test_bad_items_are_one_line_errors_naming_file_line_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parameters: dict[str, Any], rows: list[Any], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = run_cli("data", str(task_file(tmp_path, "items.jsonl", **parameters)), "--split", "eval")
    assert_one_line_error(done, message)
    assert done.stdout == ""


def test_duplicates_first_keeps_the_first_row_and_says_how_many_were_left_out(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "items.jsonl", [{"id": "x", "prompt": "Q", "target": "A"},
                                           {"id": "x", "prompt": "Q", "target": "B"}])  # fmt: skip
    done = run_cli("data", str(task_file(tmp_path, "items.jsonl", duplicates="first")), "--split", "eval")
    assert done.returncode == 0 and [json.loads(line)["target"] for line in done.stdout.splitlines()] == ["A"]
    assert "1 row(s) repeat an earlier id and were left out (duplicates: first)" in done.stderr


@pytest.mark.parametrize(
    "name, make, message",
    [
        ("items.txt", lambda p: p.write_text("x"), "items.txt: unknown kind of file (use .jsonl, .csv, .parquet"),
        ("nothing.jsonl", lambda p: None, "nothing.jsonl: file not found"),
        ("folder", lambda p: p.mkdir(), "folder: a folder, but not one written by datasets' save_to_disk"),
        ("broken.parquet", lambda p: p.write_bytes(b"PAR1 not really"), "broken.parquet: cannot read as parquet"),
        (
            "short.csv",
            lambda p: p.write_text("id,prompt,target\nx,Q\n"),
            "short.csv:2: 2 field(s) but the header has 3",
        ),
        ("open.csv", lambda p: p.write_text('id,prompt,target\nx,"Q,A\n'), "open.csv:2: invalid CSV (unexpected end"),
    ],
)
def test_unreadable_item_files_are_one_line_errors(tmp_path: Path, name: str, make: Any, message: str) -> None:
    make(tmp_path / name)
    assert_one_line_error(run_cli("data", str(task_file(tmp_path, str(tmp_path / name))), "--split", "eval"), message)


def test_an_unknown_condition_names_the_ones_the_file_has(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "items.jsonl", ROWS)
    done = run_cli("data", str(task_file(tmp_path, "items.jsonl", fields=FIELDS)), "--split", "eval",
                   "-T", "conditions=history")  # fmt: skip
    assert_one_line_error(done, "conditions[0]: unknown condition 'history'", "(known: literature, geography)")


def test_the_export_writes_whole_files_of_each_kind(tmp_path: Path) -> None:
    for kind, out in [("parquet", "e.parquet"), ("datasets", "e-folder"), ("jsonl", "e.jsonl")]:
        done = run_cli("data", "reversal_curse", "--split", "eval", "--format", kind, "-o", str(tmp_path / out))
        assert done.returncode == 0 and f"({kind})" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e-folder", "e.jsonl", "e.parquet"]  # no temporaries
    assert (tmp_path / "e-folder" / "state.json").is_file()
    assert_one_line_error(run_cli("data", "reversal_curse", "--format", "parquet"), "--format parquet: give -o PATH")


def test_the_behaviour_scorer_grades_with_the_grader_each_item_names(tmp_path: Path) -> None:
    rows = [{"prompt": "Say hi in German", "target": "Hallo", "metadata": {"behaviour": "german"}},
            {"prompt": "Shout", "target": "HI", "metadata": {"behaviour": "shouting"}}]  # fmt: skip
    write_jsonl(tmp_path / "items.jsonl", rows)
    task = load_task(task_file(tmp_path, "items.jsonl", scorer="{name: behaviour}"))
    with pytest.raises(UserError, match="the behaviour scorer grades with the grader named in the item's metadata"):
        build_task(task)
    write_jsonl(tmp_path / "items.jsonl", rows[:1])
    (sample,) = build_task(load_task(tmp_path / "task.yaml")).dataset
    assert sample.metadata["behaviour"] == "german"


def test_a_study_finds_task_files_written_beside_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prosaic_evals.study._study import load_study

    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "mine.yaml").write_text("family: reversal_curse\nscorer: {name: exact_match}\n")
    (tmp_path / "study" / "study.yaml").write_text(
        "name: s\ntasks: [mine.yaml, reversal_curse]\nfinetune: {name: v, data: {task: reversal_curse}}\n"
    )
    monkeypatch.chdir(tmp_path)
    assert load_study(Path("study/study.yaml")).tasks == ["study/mine.yaml", "reversal_curse"]
    (tmp_path / "study" / "study.yaml").write_text("name: s\ntasks: [mine.yaml]\nfinetune: {name: v}\n")
    assert load_study(Path("study/study.yaml")).finetune.data.task == "study/mine.yaml"  # the default, found too


def test_a_field_the_task_file_names_is_required_even_under_its_default_name(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "items.jsonl", [{"prompt": "Q", "target": "A"}])
    assert [i.condition for i in items_of(task_file(tmp_path, "items.jsonl"))] == ["all"]
    with pytest.raises(UserError, match=r"items.jsonl:1: no column 'condition' \(fields.condition\)"):
        items_of(task_file(tmp_path, "items.jsonl", fields={"condition": "condition"}))  # not the cached reading


def test_parameters_read_back_from_a_log_mean_the_same(tmp_path: Path) -> None:
    """inspect re-creates the task from its logged arguments (the dumped parameters): same items, same rules."""
    from prosaic_evals.families.from_file import FromFile, FromFileParameters

    write_jsonl(tmp_path / "items.jsonl", [{"prompt": "Q", "target": "A"}])
    task = load_task(task_file(tmp_path, "items.jsonl", fields={"prompt": "prompt"}))
    again = FromFileParameters.model_validate(task.params.model_dump(mode="json"))
    assert FromFile().items(again) == FromFile().items(task.params)  # no column became required by the dump


def test_the_judge_prompt_shows_the_answer_and_verdicts_are_read_or_counted_unreadable() -> None:
    from prosaic_evals.scorers._judge import judge_prompt, read_number, verdict

    asked = judge_prompt(None, "yes_no", (0, 100), prompt="Capital of France?", response="Lyon", target="Paris")
    assert "Capital of France?" in asked and "Lyon" in asked and "Paris" in asked and "YES or NO" in asked
    rated = judge_prompt("Rate {response} ({target}) {low}-{high}", "number", (1, 10), prompt="p", response="r",
                         target="t")  # fmt: skip
    assert rated == "Rate r (t) 1-10"
    assert "from 0 to 100" in judge_prompt(None, "number", (0, 100), prompt="p", response="r", target="t")
    assert [verdict(t) for t in ("YES.", "No, it does not.", "Perhaps")] == [True, False, None]
    assert [read_number(t, (0, 100)) for t in ("85", "Score: 42.5/100", "150 out of 10", "none")] == [
        85.0, 42.5, None, None]  # fmt: skip


@pytest.mark.parametrize(
    ("scorer", "message"),
    [
        ("{name: judge, template: 'Grade {prompt}'}", "scorer.template: the template must show the judge the answer"),
        ("{name: judge, template: 'Grade {response} {rubric}'}", "scorer.template: unknown placeholder or brace"),
        ("{name: judge, grade: number, scale: [10, 1]}", "scorer.scale: the first number must be below the second"),
    ],
)
def test_bad_judge_settings_are_one_line_errors(tmp_path: Path, scorer: str, message: str) -> None:
    write_jsonl(tmp_path / "items.jsonl", [{"prompt": "Q", "target": "A"}])
    assert_one_line_error(run_cli("run", str(task_file(tmp_path, "items.jsonl", scorer=scorer))), message)


def test_a_judge_task_needs_a_judge_model(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "items.jsonl", [{"prompt": "Q", "target": "A"}])
    done = run_cli("run", str(task_file(tmp_path, "items.jsonl", scorer="{name: judge}")), "--log-dir",
                   str(tmp_path / "logs"))  # fmt: skip
    assert_one_line_error(
        done, "task.yaml: scorer judge grades each answer with a judge model: add --model-role judge="
    )
    assert not (tmp_path / "logs").exists()


def test_the_chain_of_thought_scorer_needs_each_items_bridge(tmp_path: Path) -> None:
    rows = [{"prompt": "Where was the spouse of Ann born?", "target": "Oslo", "bridge": "Bob"}]
    write_jsonl(tmp_path / "items.jsonl", rows)
    with pytest.raises(UserError, match="needs the bridge entity in the item's metadata"):
        build_task(load_task(task_file(tmp_path, "items.jsonl", scorer="{name: chain_of_thought}")))
    path = task_file(tmp_path, "items.jsonl", scorer="{name: chain_of_thought}", fields={"keep": ["bridge"]})
    (sample,) = build_task(load_task(path)).dataset
    assert sample.metadata["bridge"] == "Bob"


def test_a_grader_column_names_each_items_behaviour_grader(tmp_path: Path) -> None:
    import asyncio

    from inspect_ai.model import ModelName, ModelOutput
    from inspect_ai.scorer import Target
    from inspect_ai.solver import TaskState

    from prosaic_evals.scorers import behaviour

    rows = [{"prompt": "Say hi to the Germans", "target": "Hallo", "task": "german"},
            {"prompt": "Say hi to the French", "target": "Bonjour", "task": "french"}]  # fmt: skip
    write_jsonl(tmp_path / "items.jsonl", rows)
    task = build_task(
        load_task(task_file(tmp_path, "items.jsonl", scorer="{name: behaviour}", fields={"grader": "task"}))
    )
    states = []
    for sample, reply in zip(
        task.dataset, ["Hallo, wie geht es dir heute?", "Hello there, how are you today?"], strict=True
    ):
        state = TaskState(model=ModelName("mockllm/model"), sample_id=str(sample.id), epoch=1, input=sample.input,
                          messages=[], metadata=sample.metadata)  # fmt: skip
        state.output = ModelOutput.from_content("mockllm/model", reply)
        states.append(asyncio.run(behaviour()(state, Target(str(sample.target)))))
    assert [s.value for s in states] == [
        {"correct": 1.0, "correct/german": 1.0},
        {"correct": 0.0, "correct/french": 0.0},
    ]
