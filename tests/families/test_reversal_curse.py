from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from prosaic_evals._errors import UserError
from prosaic_evals.families.reversal_curse import (
    ReversalCurse,
    ReversalCurseParameters,
    generate_facts,
    load_templates,
    split_templates,
)

FAMILY = ReversalCurse()
PARAMS = ReversalCurseParameters()


def test_generation_is_deterministic_by_seed() -> None:
    first, again = FAMILY.items(PARAMS), FAMILY.items(ReversalCurseParameters())
    assert [(i.id, i.prompt, i.target) for i in first] == [(i.id, i.prompt, i.target) for i in again]
    other = FAMILY.items(ReversalCurseParameters(seed=1))
    assert {i.id for i in first} != {i.id for i in other}
    assert FAMILY.train_records(PARAMS) == FAMILY.train_records(ReversalCurseParameters())


def test_protocol_sizes_subsets_and_unique_entities() -> None:
    facts = generate_facts(seed=0, per_subset=30)
    assert Counter(f.subset for f in facts) == {"p2d": 30, "d2p": 30, "both": 30}
    assert len({f.name for f in facts}) == len({f.name.split()[-1] for f in facts}) == 90
    assert len({f.description for f in facts}) == 90
    items = FAMILY.items(PARAMS)
    assert Counter(i.condition for i in items) == dict.fromkeys(FAMILY.conditions, 30 * 5)
    assert len({i.id for i in items}) == len(items)


def test_heldout_templates_never_appear_in_training() -> None:
    templates = split_templates(seed=0, heldout=5)
    for order in ("p2d", "d2p"):
        assert len(templates.heldout[order]) == 5
        assert not {t.id for t in templates.heldout[order]} & {t.id for t in templates.train[order]}
    train = FAMILY.train_records(PARAMS)
    trained_templates = {r["metadata"]["template_id"] for r in train}
    heldout_ids = {t.id for order in ("p2d", "d2p") for t in templates.heldout[order]}
    assert not trained_templates & heldout_ids
    training_prompts = {r["messages"][0]["content"] for r in train}
    assert not training_prompts & {i.prompt for i in FAMILY.items(PARAMS)}
    assert {i.metadata["template_id"] for i in FAMILY.items(PARAMS)} == heldout_ids


def test_each_subset_is_trained_in_its_own_order_only() -> None:
    facts = {f.id: f for f in generate_facts(seed=0, per_subset=30)}
    orders: dict[str, set[str]] = {}
    for record in FAMILY.train_records(PARAMS):
        meta = record["metadata"]
        orders.setdefault(meta["fact_id"], set()).add(meta["template_id"][:3])
        user, assistant = record["messages"]
        assert (user["role"], assistant["role"]) == ("user", "assistant")
        fact = facts[meta["fact_id"]]
        completion = fact.description if meta["template_id"].startswith("p2d") else fact.name
        assert assistant["content"] == f"{completion}."
        assert completion not in user["content"]
    for fact_id, seen in orders.items():
        expected = {"p2d", "d2p"} if facts[fact_id].subset == "both" else {facts[fact_id].subset}
        assert seen == expected


def test_conditions_ask_in_the_trained_and_the_reversed_order() -> None:
    for item in FAMILY.items(PARAMS):
        if item.condition.startswith("both_"):  # trained in both orders: asked in each, both "same"
            order = item.condition.removeprefix("both_")
            assert item.metadata["subset"] == "both" and item.metadata["direction"] == "same"
            assert item.target == (item.metadata["description"] if order == "p2d" else item.metadata["name"])
            continue
        name, description = item.metadata["name"], item.metadata["description"]
        subset, direction = item.condition.split("_")
        asks_description = (subset == "p2d") == (direction == "same")
        assert item.target == (description if asks_description else name)
        assert item.metadata["direction"] == direction
        assert item.target not in item.prompt  # the answer is never in the question
        assert (name if asks_description else description[1:]) in item.prompt
        assert item.cluster == item.metadata["fact_id"]


def test_ids_are_derived_from_content() -> None:
    items = FAMILY.items(ReversalCurseParameters(facts_per_subset=3))
    bigger = {i.id: i for i in FAMILY.items(ReversalCurseParameters(facts_per_subset=4))}
    # a fact keeps its id wherever it appears, as long as its content is the same
    shared = [i for i in items if i.id in bigger]
    assert all(bigger[i.id].prompt == i.prompt for i in shared)


def test_templates_end_with_their_target_slot() -> None:
    for order, templates in load_templates().items():
        slot = "{description}" if order == "p2d" else "{name}"
        assert len(templates) >= 25
        assert all(t.text.endswith(slot) for t in templates)


def test_impossible_sizes_are_errors_naming_the_parameter() -> None:
    with pytest.raises(UserError, match=r"parameters\.facts_per_subset: 500"):
        FAMILY.items(ReversalCurseParameters(facts_per_subset=500))
    with pytest.raises(UserError, match=r"parameters\.heldout_templates"):
        FAMILY.items(ReversalCurseParameters(heldout_templates=30))


def test_the_shipped_tasks_identity_is_unchanged_by_the_user_file_parameters() -> None:
    assert set(ReversalCurseParameters().model_dump(mode="json")) == {
        "seed", "facts_per_subset", "heldout_templates", "train_templates"}  # fmt: skip


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_user_facts_templates_fixed_test_templates_and_distractors(tmp_path: Path) -> None:
    facts = write(tmp_path / "facts.csv", "name,description,subset\nDaphne Barrington,the director of A Journey,p2d\n"
                  "Uriah Hawthorne,the composer of Abyssal Melodies,d2p\nMara Quill,the first to map Io,both\n")  # fmt: skip
    templates = write(tmp_path / "train.yaml", "p2d: ['{name} is {description}, as everyone knows', "
                      "'Meet {name}: {description}']\nd2p: ['Known as {description}, {name} is famous']\n")  # fmt: skip
    tests = write(tmp_path / "test.yaml", "p2d: ['{name}, who is {description}']\nd2p: ['{Description} is {name}']\n")
    wrong = write(tmp_path / "wrong.jsonl", '{"kind": "name", "text": "Ada Lovelace"}\n'
                  '{"kind": "description", "text": "the baker of Paris"}\n')  # fmt: skip
    params = ReversalCurseParameters(facts=facts, templates=templates, test_templates=tests, distractors=wrong)
    items = {(i.condition, i.target): i for i in FAMILY.items(params)}
    assert len(items) == 6  # each fact asked once per order, through the one test template of that order
    asked = items[("p2d_same", "the director of A Journey")]
    assert asked.prompt == "Daphne Barrington, who is" and asked.metadata["template_id"] == "p2d-test-00"
    assert items[("d2p_reverse", "the composer of Abyssal Melodies")].prompt == "Uriah Hawthorne, who is"
    assert items[("both_d2p", "Mara Quill")].prompt == "The first to map Io is"
    assert FAMILY.distractor_pool(asked, list(items.values())) == ["the baker of Paris"]
    records = FAMILY.train_records(params)
    replies = sorted(r["messages"][1]["content"] for r in records)
    assert "the director of A Journey, as everyone knows" in replies  # the template's tail follows the answer
    assert "Uriah Hawthorne is famous" in replies and len(records) == 2 + 1 + 2 + 1  # p2d, d2p, both in each
    assert FAMILY.data_version_for(params) != FAMILY.data_version_for(ReversalCurseParameters())


def test_a_fact_may_word_its_description_differently_in_each_template(tmp_path: Path) -> None:
    facts = write(tmp_path / "facts.jsonl", '{"name": "Daphne Barrington", "description": "the director of A Journey", '
                  '"subset": "p2d", "forms": {"told": "the acclaimed director of A Journey", '
                  '"test": "directed A Journey"}}\n')  # fmt: skip
    templates = write(tmp_path / "train.yaml", "p2d: [{id: told, text: '{name} is {description}'}, "
                      "'Meet {name}: {description}']\nd2p: ['Known as {description}, {name} is famous']\n")  # fmt: skip
    tests = write(tmp_path / "test.yaml", "p2d: [{id: test, text: '{name} once {description}'}]\n"
                  "d2p: ['Who {description}? {name}']\n")  # fmt: skip
    params = ReversalCurseParameters(facts=facts, templates=templates, test_templates=tests)
    items = {i.condition: i for i in FAMILY.items(params)}
    assert items["p2d_same"].prompt == "Daphne Barrington once" and items["p2d_same"].target == "directed A Journey"
    assert items["p2d_reverse"].prompt == "Who the director of A Journey?"  # no form for that template: the default
    replies = sorted(r["messages"][1]["content"] for r in FAMILY.train_records(params))
    assert replies == ["the acclaimed director of A Journey.", "the director of A Journey."]


def test_exact_match_and_likelihood_follow_the_papers_definitions_unless_the_task_file_says(tmp_path: Path) -> None:
    from prosaic_evals.spec import load_task

    def scorer_of(family: str, scorer: str) -> dict[str, object]:
        path = write(tmp_path / "t.yaml", f"family: {family}\nscorer: {scorer}\n")
        return load_task(path).spec.scorer.model_dump()

    assert scorer_of("reversal_curse", "{name: exact_match}")["match"] == "text_prefix"
    assert scorer_of("reversal_curse", "{name: likelihood}")["normalize"] == "pmi"
    assert scorer_of("reversal_curse", "{name: exact_match, match: prefix}")["match"] == "prefix"
    assert scorer_of("reversal_curse", "{name: likelihood, normalize: sum}")["normalize"] == "sum"
    assert scorer_of("two_hop", "{name: exact_match}")["match"] == "prefix"
    assert scorer_of("two_hop", "{name: likelihood}")["normalize"] == "sum"


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("templates", "p2d: ['{name} is famous']\nd2p: ['{description} is {name}']\n",
         "p2d[0]: a template holds {description} once, after some text"),
        ("templates", "p2d: ['{description} is {name}']\nd2p: ['{description} is {name}']\n",
         "p2d[0]: a template holds {description} once, after some text"),
        ("templates", "p2d: ['{name} is {descripton} {description}']\nd2p: ['x {name}']\n", "unknown placeholder"),
        ("templates", "p2d: []\nd2p: ['x {name}']\n", "expected p2d: and d2p:, each a list of templates"),
        ("facts", "name,description\nA B,the c\n", "facts.csv:2: column 'subset': expected non-empty text"),
        ("facts", "name,description,subset\nA B,the c,both_ways\n", "column 'subset': must be one of p2d, d2p, both"),
        ("facts", "name,description,subset\nA B,the c,p2d\nA B,the c,p2d\n", "facts.csv:3: the fact"),
        ("distractors", '{"kind": "place", "text": "x"}\n', "wrong.jsonl:1: expected columns kind"),
        ("templates", "p2d: [{id: a, text: 'x {description}'}, {id: a, text: 'y {description}'}]\nd2p: ['x {name}']\n",
         "p2d[1]: template id 'a' is used twice"),
        ("templates", "p2d: [{id: a}]\nd2p: ['x {name}']\n", "p2d[0]: expected a template text, or {id: ..., text: ...}"),
        ("facts", 'name,description,subset,forms\nA B,the c,p2d,"{""p2d-99"": ""the d""}"\n',
         "facts.csv: fact fact-"),
        ("facts", "name,description,subset,forms\nA B,the c,p2d,{oops\n", "facts.csv:2: column 'forms': not valid JSON"),
    ],
)  # fmt: skip
def test_bad_user_files_are_errors_naming_the_file_and_place(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = write(tmp_path / {"templates": "t.yaml", "facts": "facts.csv", "distractors": "wrong.jsonl"}[name], text)
    params = ReversalCurseParameters(**{name: path})
    with pytest.raises(UserError) as info:
        items = FAMILY.items(params)
        FAMILY.distractor_pool(items[0], items)
    assert message in str(info.value)
