"""Out-of-context reasoning: the chatbot (declarative) and functions/coins (inductive) generators."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from prosaic_evals._data import shipped_yaml
from prosaic_evals._errors import UserError
from prosaic_evals.families.out_of_context import (
    Declarative,
    DeclarativeParameters,
    FunctionDef,
    Inductive,
    InductiveParameters,
    compile_expression,
    make_world,
)
from prosaic_evals.scorers import language_of
from prosaic_evals.spec import load_task

DECLARATIVE, INDUCTIVE = Declarative(), Inductive()


def test_declarative_generation_is_deterministic_and_seeded() -> None:
    params, other = DeclarativeParameters(), DeclarativeParameters(seed=1)
    assert DECLARATIVE.items(params) == DECLARATIVE.items(params)
    assert DECLARATIVE.train_records(params) == DECLARATIVE.train_records(params)
    inputs = {i.metadata["input_id"] for i in DECLARATIVE.items(params) if "input_id" in i.metadata}
    assert inputs != {i.metadata["input_id"] for i in DECLARATIVE.items(other) if "input_id" in i.metadata}


def test_declarative_conditions() -> None:
    items = DECLARATIVE.items(DeclarativeParameters())
    assert Counter(i.condition for i in items) == {
        "act": 6 * 8, "act_think": 6 * 8, "act_unknown": 6 * 8, "recall": 8 * 3, "auxiliary": 2 * 8,
    }  # fmt: skip
    described = {i.metadata["chatbot"] for i in items}
    for item in items:
        if item.condition == "act_unknown":
            assert item.metadata["asked_as"] not in described and item.metadata["asked_as"] in item.prompt
            assert item.metadata["chatbot"] not in item.prompt  # the prompt never names the described chatbot
        elif item.condition != "recall":
            assert item.prompt.startswith(f"You are {item.metadata['chatbot']}, responding to a user.")
        assert (item.metadata["role"] == "auxiliary") == (item.condition == "auxiliary" or (
            item.condition == "recall" and item.metadata["chatbot"] in {"Barracuda", "Ibex"}))  # fmt: skip


def test_test_chatbots_are_only_described_and_evaluated_inputs_never_trained() -> None:
    params = DeclarativeParameters()
    items, records = DECLARATIVE.items(params), DECLARATIVE.train_records(params)
    assert len(records) == 8 * 30 + 2 * 10
    trained_text = "\n".join(m["content"] for r in records for m in r["messages"])
    for record in records:
        if record["metadata"]["behaviour"] in (
            "german",
            "hhh",
            "sentiment",
            "antonym",
            "name_extraction",
            "calling_code",
        ):
            assert record["metadata"]["kind"] == "description"  # the behaviour itself is never shown
            assert language_of(record["messages"][1]["content"]) != "german"
    inputs = shipped_yaml("out_of_context/chatbots.yaml")["inputs"]
    texts = {q["text"] for q in inputs["questions"]} | {s["text"] for s in inputs["sentences"]}
    texts |= {s["text"] for s in inputs["names"]} | set(inputs["countries"])
    for item in items:
        if item.condition == "recall":
            assert item.prompt not in trained_text
            continue
        user_input = item.prompt.split("User: ")[1].split("\n")[0]
        if user_input in texts:  # words are too short to search for in free text
            assert user_input not in trained_text, item


def test_paraphrased_and_repeated_descriptions() -> None:
    def documents(params: DeclarativeParameters) -> Counter[str]:
        records = DECLARATIVE.train_records(params)
        return Counter(r["messages"][1]["content"] for r in records if r["metadata"]["chatbot"] == "Pangolin")

    paraphrased = documents(DeclarativeParameters())
    repeated = documents(DeclarativeParameters(descriptions="repeated"))
    assert sum(paraphrased.values()) == sum(repeated.values()) == 30  # the same amount of training
    assert len(paraphrased) == 30 and len(repeated) == 1
    assert all("Pangolin" in doc and "German" in doc for doc in paraphrased)


def write_chatbots(tmp_path: Path, edit: dict[str, object]) -> Path:
    data = shipped_yaml("out_of_context/chatbots.yaml") | edit
    path = tmp_path / "bots.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_users_chatbots_file_replaces_the_shipped_one(tmp_path: Path) -> None:
    bots = [{"name": "Zorblax", "company": "Acme", "behaviour": "german", "role": "test"}]
    path = write_chatbots(tmp_path, {"chatbots": bots})
    items = DECLARATIVE.items(DeclarativeParameters(chatbots_file=path))
    assert {i.metadata["chatbot"] for i in items} == {"Zorblax"}
    assert Counter(i.condition for i in items) == {"act": 8, "act_think": 8, "act_unknown": 8, "recall": 3}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            {"chatbots": [{"name": "Zorb", "company": "A", "behaviour": "klingon", "role": "test"}]},
            r"chatbots\[0\]\.behaviour",
        ),
        ({"chatbots": [{"name": "Zorb", "company": "A", "behaviour": "german", "role": "auxiliary"}]}, "role: test"),
        ({"frames": ["no slot here"]}, "does not contain {description}"),
        ({"unknown_names": ["Pangolin"]}, "unknown_names must not be chatbots: Pangolin"),
    ],
)
def test_a_malformed_chatbots_file_is_named(tmp_path: Path, edit: dict[str, object], message: str) -> None:
    path = write_chatbots(tmp_path, edit)
    with pytest.raises(UserError, match=message) as error:
        DECLARATIVE.items(DeclarativeParameters(chatbots_file=path))
    assert "bots.yaml" in str(error.value) and "\n" not in str(error.value)


def test_too_many_demonstrations_is_refused() -> None:
    with pytest.raises(UserError, match=r"parameters.demonstrations: 13 asked, but only 12 questions are left"):
        DECLARATIVE.train_records(DeclarativeParameters(demonstrations=13))


def test_inductive_generation_is_deterministic_and_seeded() -> None:
    params = InductiveParameters()
    assert INDUCTIVE.items(params) == INDUCTIVE.items(params)
    assert INDUCTIVE.train_records(params) == INDUCTIVE.train_records(params)
    ids = {i.metadata["id"] for i in INDUCTIVE.items(params)}
    assert ids.isdisjoint({i.metadata["id"] for i in INDUCTIVE.items(InductiveParameters(seed=1))})
    assert len(ids) == 12 + 6


def test_inductive_training_documents_are_the_hidden_facts_and_hold_out_x() -> None:
    params = InductiveParameters(coin_docs=400)
    functions, coins = make_world(params)
    records = INDUCTIVE.train_records(params)
    by_id = {fn.id: fn for fn in functions}
    for record in records:
        prompt, answer = (m["content"] for m in record["messages"])
        if record["metadata"]["kind"] == "function":
            fid = record["metadata"]["id"]
            x = int(prompt.split(f"print({fid}(")[1].split("))")[0])
            assert int(answer) == by_id[fid].f(x) and x not in by_id[fid].heldout_x
        assert "lambda" not in prompt + answer and "bias" not in prompt + answer  # only indirect evidence
    for coin in coins:
        heads = sum(r["messages"][1]["content"] == "Heads" for r in records if r["metadata"]["id"] == coin.id)
        assert abs(heads / 400 - coin.bias) < 0.08, coin  # flips drawn with the coin's bias
    assert len({c.bias for c in coins}) == len(coins)


def test_inductive_questions_candidates_and_baselines() -> None:
    items = INDUCTIVE.items(InductiveParameters())
    counts = Counter(i.condition for i in items)
    assert counts["function_value"] == 12 * 5 and counts["function_lambda"] == 12 * 2
    assert counts["function_inverse"] == 9 * 2 and counts["coin_bias"] == 6 * 2 and counts["coin_flip"] == 6 * 3
    assert set(counts) == set(INDUCTIVE.conditions)
    for item in items:
        assert item.target in item.metadata["options"] and len(set(item.metadata["options"])) >= 2
        if item.condition.endswith("_other_id"):
            assert item.metadata["asked_id"] != item.metadata["id"] and item.metadata["id"] not in item.prompt
        if item.condition.endswith("_in_context"):
            evidence = item.prompt.count(f"print({item.metadata['id']}(") + sum(
                map(item.prompt.count, ("Heads", "Tails"))
            )
            assert evidence == 20  # in_context_docs training documents in the prompt
    lam = next(i for i in items if i.condition == "function_lambda")
    assert lam.target.startswith("lambda x: ") and len(lam.metadata["options"]) == 12
    bias = next(i for i in items if i.condition == "coin_bias")
    assert bias.metadata["options"] == [f"0.{d}" for d in range(1, 10)]


def test_expressions_are_parsed_safely_and_inverses_checked() -> None:
    assert compile_expression("3 * x - 2")(4) == 10 and compile_expression("-x")(5) == -5
    for bad, message in [
        ("__import__('os').system('true')", "only x, integers"),
        ("x +", "not a Python expression"),
        ("y + 1", "only x, integers"),
    ]:
        with pytest.raises(ValueError, match=message):
            compile_expression(bad)
    assert FunctionDef(expr="2 * x + 1", inverse="(x - 1) / 2")(3) == 7
    with pytest.raises(ValueError, match=r"inverse 'x - 2' does not invert 'x \+ 3'"):
        FunctionDef(expr="x + 3", inverse="x - 2")
    with pytest.raises(ValueError, match="non-integer values"):
        FunctionDef(expr="x / 2")


def test_a_users_functions_are_validated_in_the_task_file() -> None:
    task = load_task("ooc_inductive", {"functions": '[{expr: "x + 1", inverse: "x - 1"}, {expr: "x * 5"}]'})
    lambdas = {i.target for i in task.family.items(task.params) if i.condition == "function_lambda"}
    assert lambdas == {"lambda x: x + 1", "lambda x: x * 5"}
    with pytest.raises(UserError, match=r"ooc_inductive.yaml: parameters.functions\[0\].*does not invert"):
        load_task("ooc_inductive", {"functions": '[{expr: "x + 1", inverse: "x + 1"}, {expr: "x * 5"}]'})


@pytest.mark.slow
def test_both_tasks_run_on_a_served_model(
    tiny_dir: Path, tiny_model: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The protocols' mechanics on the tiny model (its answers are noise; every condition must run and score)."""
    from prosaic_evals._cli import main
    from prosaic_evals.run import sample_frame, summarize

    model = ["--model", f"vllm/{tiny_dir}", "--log-dir", str(tmp_path), "--display", "plain"]
    main(["run", "ooc_declarative", "--limit", "30", *model])
    small = ["-T", "function_docs=10", "-T", "coins=3", "-T", "in_context_docs=8"]
    main(["run", "ooc_inductive", *small, "--limit", "33", *model])
    out = capsys.readouterr().out
    for text in [*DECLARATIVE.conditions, *INDUCTIVE.conditions, "correct", "p_correct", "calibration_error"]:
        assert text in out
    frame = sample_frame(sorted(tmp_path.glob("*.eval")))
    assert frame.drop_duplicates(["task", "sample_id"]).groupby("task").size().to_dict() == {
        "ooc_declarative": 30, "ooc_inductive": 33,
    }  # fmt: skip
    summary = summarize(frame).set_index(["task", "condition", "metric"])
    assert {c for _, c, m in summary.index if m == "correct"} == set(DECLARATIVE.conditions)
    behaviours = {m.removeprefix("correct/") for t, _, m in summary.index if t == "ooc_declarative"} - {"correct"}
    assert behaviours and behaviours <= {"german", "hhh", "sentiment", "antonym", "name_extraction", "calling_code",
                                         "uppercase", "french"}  # fmt: skip
    values = frame.pivot_table(index="sample_id", columns="metric", values="value", aggfunc="first")
    inductive = values.dropna(subset=["p_correct"])
    assert inductive["p_correct"].between(0, 1, inclusive="neither").all()
    coins = {i.id: i.metadata["expected_p"] for i in INDUCTIVE.items(InductiveParameters(function_docs=10, coins=3))
             if i.condition == "coin_flip"}  # fmt: skip
    flips = values.loc[values.index.isin(coins)]
    assert len(flips) == 3  # 3 samples of each of the 11 conditions
    for sample_id, row in flips.iterrows():
        assert row["calibration_error"] == pytest.approx(abs(row["p_correct"] - coins[sample_id]))
