"""Out-of-context reasoning: the chatbot (declarative) and functions/coins/locations (inductive) generators."""

from __future__ import annotations

import math
import re
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
from prosaic_evals.families.out_of_context._locations import Place, _places, haversine_km, make_cities
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
    assert (
        set(counts)
        == set(INDUCTIVE.conditions_for(InductiveParameters()))
        == {c for c in INDUCTIVE.conditions if not c.startswith("location_")}
    )  # Locations is a task of its own (kinds: [locations])
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


def test_haversine_gives_known_great_circle_distances() -> None:
    def place(lat: float, lon: float) -> Place:
        return Place("x", "y", "z", "w", lat, lon)

    paris, london, sydney = place(48.8566, 2.3522), place(51.5074, -0.1278), place(-33.8688, 151.2093)
    assert haversine_km(paris, london) == pytest.approx(343.5, abs=1)
    assert haversine_km(paris, sydney) == pytest.approx(16_960, rel=0.002)
    assert haversine_km(place(0, 0), place(0, 180)) == pytest.approx(math.pi * 6371.0088)  # half the equator
    assert haversine_km(london, london) == 0


LOCATIONS = InductiveParameters(kinds=["locations"])


def test_locations_are_chosen_by_the_seed_from_geonames_and_documents_give_only_distances() -> None:
    cities, candidates = make_cities(0, 8, 40, 5, 16)
    assert (cities, candidates) == make_cities(0, 8, 40, 5, 16)
    assert {c.place for c in cities} != {c.place for c in make_cities(1, 8, 40, 5, 16)[0]}
    assert {c.place for c in cities} <= set(candidates) and len(candidates) == 16
    assert len({p.country for p in candidates}) == 16  # a country's largest city: one candidate per country
    assert len({c.id for c in cities}) == 8
    records = INDUCTIVE.train_records(LOCATIONS)
    assert len(records) == 8 * 40 and {r["metadata"]["kind"] for r in records} == {"location"}
    for city in cities:
        mine = [r["messages"] for r in records if r["metadata"]["id"] == city.id]
        assert len(mine) == 40
        for user, assistant in mine:
            known = user["content"].split(" and ")[1].removesuffix(", in km?")
            match = next(k for k, _ in city.train if k.label == known)
            assert assistant["content"] == f"{round(haversine_km(city.place, match)):,} km"
            assert city.place.name not in user["content"] + assistant["content"]  # only indirect evidence
        asked = {k.label for k, _ in city.heldout}
        assert not asked & {k.label for k, _ in city.train}  # held-out distances are never trained
    istanbul = next(p for p in _places()[1] if p.name == "Istanbul")
    assert (istanbul.country, istanbul.language) == ("Turkey", "Turkish")


def test_locations_questions_candidates_and_baselines() -> None:
    items = INDUCTIVE.items(LOCATIONS)
    counts = Counter(i.condition for i in items)
    assert set(counts) == set(INDUCTIVE.conditions_for(LOCATIONS)) == {c for c in INDUCTIVE.conditions
                                                                       if c.startswith("location_")}  # fmt: skip
    assert counts["location_distance"] == counts["location_distance_trained"] == 8 * 5 and counts["location_city"] == 16
    trained = {(r["messages"][0]["content"], r["messages"][1]["content"]) for r in INDUCTIVE.train_records(LOCATIONS)}
    distances = {c: {(i.prompt, i.target) for i in items if i.condition == c} for c in counts}
    assert distances["location_distance_trained"] <= trained and not distances["location_distance"] & trained
    cities, candidates = make_cities(0, 8, 40, 5, 16)
    by_id = {c.id: c for c in cities}
    for item in items:
        city = by_id[item.metadata["id"]]
        assert item.target in item.metadata["options"]
        if item.condition.startswith("location_distance"):
            assert len(item.metadata["options"]) == 8  # every hidden city's distance to the known city
        if item.condition.startswith("location_city"):
            assert item.target == city.place.name and item.metadata["options"] == sorted(p.name for p in candidates)
        if item.condition.startswith("location_language"):
            assert item.target == city.place.language
        if item.condition.endswith("_other_id"):
            other = by_id[item.metadata["asked_id"]]
            assert other.id != city.id and f"City {other.id}" in item.prompt and f"City {city.id}" not in item.prompt
        if item.condition.endswith("_in_context"):
            assert item.prompt.count(f"between City {city.id} and") == 20  # in_context_docs documents
    for question in ("city", "country", "continent"):  # an other-id question asks about an id whose answer differs
        for item in (i for i in items if i.condition == f"location_{question}_other_id"):
            other = by_id[item.metadata["asked_id"]].place
            attribute = "name" if question == "city" else question
            differs = [c for c in cities if getattr(c.place, attribute) != item.target]
            assert getattr(other, attribute) != item.target or not differs


@pytest.mark.parametrize(
    "override, message",
    [
        ({"kinds": "[towns]"}, "parameters.kinds[0]"),
        ({"kinds": "[]"}, "parameters.kinds"),
        ({"kinds": "[locations]", "city_candidates": "2"}, "city_candidates (2) must be at least hidden_cities (8)"),
        ({"kinds": "[locations]", "city_candidates": "99", "hidden_cities": "3"}, "city_candidates: at most 43"),
        ({"kinds": "[locations]", "city_docs": "200"}, "city_docs + heldout_distances: at most 116"),
        ({"conditions": "[location_city]"}, "unknown condition 'location_city'"),
    ],
)
def test_bad_locations_parameters_are_named(override: dict[str, str], message: str) -> None:
    with pytest.raises(UserError, match=re.escape(message)):
        task = load_task("ooc_inductive", override)
        task.family.items(task.params)


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
    cities = ["-T", "hidden_cities=3", "-T", "city_candidates=4", "-T", "in_context_docs=4"]
    main(["run", "ooc_locations", *cities, "--limit", "28", *model])  # 2 samples of each of its 14 conditions
    out = capsys.readouterr().out
    inductive_conditions = INDUCTIVE.conditions
    for text in [*DECLARATIVE.conditions, *inductive_conditions, "correct", "p_correct", "calibration_error"]:
        assert text in out
    frame = sample_frame(sorted(tmp_path.glob("*.eval")))
    assert frame.drop_duplicates(["task", "sample_id"]).groupby("task").size().to_dict() == {
        "ooc_declarative": 30, "ooc_inductive": 33, "ooc_locations": 28,
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
