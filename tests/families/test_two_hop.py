"""The two-hop family: triplets, splits, the training data and user datasets."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from prosaic_evals._errors import UserError
from prosaic_evals.families.two_hop import TwoHop, TwoHopParameters, read_triplets, single_token_check

FAMILY = TwoHop()
# Without a tokenizer filter the unit tests need neither transformers nor the model.
PARAMS = TwoHopParameters(tokenizer=None)


def test_generation_is_deterministic_and_seeded() -> None:
    assert FAMILY.items(PARAMS) == FAMILY.items(PARAMS)
    assert FAMILY.train_records(PARAMS) == FAMILY.train_records(PARAMS)
    other = TwoHopParameters(tokenizer=None, seed=1)
    assert {i.id for i in FAMILY.items(PARAMS)}.isdisjoint({i.id for i in FAMILY.items(other)})


def test_conditions_subsets_and_entities() -> None:
    items = FAMILY.items(PARAMS)
    counts = Counter(i.condition for i in items)
    undemoed = 50 - round(50 * 0.65)
    assert counts == {
        "one_hop_a": 150, "one_hop_b": 150, "two_hop_no_cot": 3 * undemoed, "two_hop_cot": 3 * undemoed,
        "same_document": 30, "in_context": 3 * undemoed,
    }  # fmt: skip
    triplets = {i.metadata["triplet_id"]: (i.metadata["e1"], i.metadata["e2"], i.metadata["e3"]) for i in items}
    people = [p for e1, e2, _ in triplets.values() for p in (e1, e2)]
    cities = [e3 for *_, e3 in triplets.values()]
    assert len(triplets) == 60 and len(set(people)) == 120 and len(set(cities)) == 60  # nobody shares an answer
    for item in items:
        subset = item.metadata["subset"]
        if item.condition in ("two_hop_no_cot", "two_hop_cot", "in_context"):
            assert subset == "undemoed"  # tested only where the two-hop question was never demonstrated
        if item.condition == "same_document":
            assert subset == "same_document"
        if item.condition.startswith("two_hop") or item.condition == "same_document":
            assert item.metadata["e2"] not in item.prompt and item.metadata["e3"] not in item.prompt
            assert item.metadata["e1"] in item.prompt
    in_context = next(i for i in items if i.condition == "in_context")
    assert in_context.metadata["e2"] in in_context.prompt and in_context.target in in_context.prompt


def test_the_training_split_is_clean_of_every_evaluation_prompt() -> None:
    items, records = FAMILY.items(PARAMS), FAMILY.train_records(PARAMS)
    trained_prompts = {r["messages"][0]["content"] for r in records}
    trained_templates = {r["metadata"]["template_id"] for r in records}
    for item in items:
        assert item.metadata["template_id"] not in trained_templates, item
        if item.condition != "in_context":
            assert item.prompt not in trained_prompts
    by_subset: dict[str, set[str]] = {}
    for record in records:
        by_subset.setdefault(record["metadata"]["subset"], set()).add(
            record["metadata"]["template_id"].rsplit("-", 1)[0]
        )
    assert by_subset["undemoed"] == {"fact_a", "fact_b"}  # no two-hop question about undemoed triplets
    assert by_subset["demoed"] == {"fact_a", "fact_b", "two_hop", "cot_question"}
    assert by_subset["same_document"] == {"same_document"}  # both facts only ever seen together
    demo = next(r for r in records if r["metadata"]["template_id"].startswith("cot_question"))
    assert demo["messages"][1]["content"].endswith(".") and " is married to " in demo["messages"][1]["content"]


def test_train_templates_and_heldout_templates_size_the_split() -> None:
    few = FAMILY.train_records(TwoHopParameters(tokenizer=None, train_templates=2))
    assert len({r["metadata"]["template_id"] for r in few if r["metadata"]["subset"] == "undemoed"}) == 4
    with pytest.raises(UserError, match=r"heldout_templates: 5 leaves no cot_question template"):
        FAMILY.items(TwoHopParameters(tokenizer=None, heldout_templates=5))
    with pytest.raises(UserError, match=r"need 600 names and 300 cities"):
        FAMILY.items(TwoHopParameters(tokenizer=None, triplets=290))


def test_distractors_are_other_triplets_answers_of_the_same_kind() -> None:
    items = FAMILY.items(PARAMS)
    item = next(i for i in items if i.condition == "two_hop_no_cot")
    pool = FAMILY.distractor_pool(item, items)
    assert item.target not in pool and len(pool) == 59  # every other triplet's city
    assert not set(pool) & {i.metadata["e2"] for i in items}


def test_the_tokenizer_filter_keeps_only_single_token_entities(monkeypatch: pytest.MonkeyPatch) -> None:
    import prosaic_evals.families.two_hop._family as family_module

    short = TwoHopParameters(tokenizer=None, triplets=20, same_document_triplets=0)
    assert any(len(i.target) > 5 for i in FAMILY.items(short))
    # A stand-in tokenizer for which only words of up to 5 letters are one token.
    monkeypatch.setattr(family_module, "single_token_check", lambda _: lambda word: len(word) <= 5)
    assert all(len(i.target) <= 5 and len(i.metadata["e1"]) <= 5 for i in FAMILY.items(short))


@pytest.mark.slow
def test_entities_are_single_tokens_under_the_embedded_models_tokenizer(embedded_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(embedded_dir)
    items = FAMILY.items(TwoHopParameters())
    for item in items[:: max(1, len(items) // 50)]:
        for entity in (item.metadata["e1"], item.metadata["e2"], item.metadata["e3"]):
            assert len(tokenizer.encode(" " + entity, add_special_tokens=False)) == 1, entity
    check = single_token_check("local")
    assert check("Paris") and not check("Bucharest")
    with pytest.raises(UserError, match=r"parameters.tokenizer: cannot load tokenizer '/nonexistent'"):
        single_token_check("/nonexistent")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "triplets.csv"
    path.write_text(text)
    return path


def test_a_users_triplets_file_is_read_and_split(tmp_path: Path) -> None:
    rows = "".join(f"P{i},Q{i},C{i}\n" for i in range(10))
    path = write(tmp_path, "e1,e2,e3\n" + rows + "Ann,Bob,Rome\n")
    triplets = read_triplets(path, seed=0, demoed_fraction=0.6, single_token=lambda _: True)
    assert Counter(t.subset for t in triplets) == {"demoed": 7, "undemoed": 4}
    path = write(tmp_path, "e1,e2,e3,subset\nAnn,Bob,Rome,same_document\nCid,Dee,Oslo,\n")
    params = TwoHopParameters(tokenizer=None, triplets_file=path, demoed_fraction=0.0)
    assert {i.condition for i in FAMILY.items(params)} == set(FAMILY.conditions)


MENTORS = """\
fact_a: ["{e1}'s mentor is {e2}", "{e1} was mentored by {e2}", "The mentor of {e1} is {e2}"]
fact_b: ["{e2} works in {e3}", "{e2} has a job in {e3}", "The workplace of {e2} is {e3}"]
two_hop: ["{e1}'s mentor works in {e3}", "The mentor of {e1} has a job in {e3}", "{e1} learnt from someone in {e3}"]
same_document: ["{e1}'s mentor {e2} works in {e3}"]
cot_question: ["Where does {e1}'s mentor work?", "In which city is {e1}'s mentor employed?"]
cot_answer: "{e1}'s mentor is {e2}. {e2} works in {e3}. So: {e3}."
in_context: "{e1}'s mentor is {e2}. {e2} works in {e3}."
"""


def test_the_papers_own_relations_and_a_jsonl_triplets_file(tmp_path: Path) -> None:
    triplets = tmp_path / "triplets.jsonl"
    triplets.write_text("".join(f'{{"e1": "P{i}", "e2": "Q{i}", "e3": "C{i}"}}\n' for i in range(6)))
    templates = tmp_path / "mentors.yaml"
    templates.write_text(MENTORS)
    params = TwoHopParameters(tokenizer=None, triplets_file=triplets, templates=templates, heldout_templates=1)
    items = {(i.condition, i.target): i for i in FAMILY.items(params)}
    asked = next(i for (c, t), i in items.items() if c == "one_hop_a" and t == "Q0")
    assert asked.prompt in ("P0's mentor is", "P0 was mentored by", "The mentor of P0 is")
    two_hop = [i for (c, _), i in items.items() if c == "two_hop_no_cot"]
    assert two_hop and all(i.target == "C" + i.metadata["e1"][1:] and "P" in i.prompt for i in two_hop)
    records = [r["messages"][1]["content"] for r in FAMILY.train_records(params)]
    assert any(r.startswith("Q") for r in records) and any("So: C" in r for r in records)
    assert FAMILY.data_version_for(params) != FAMILY.data_version_for(TwoHopParameters(tokenizer=None))


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        ('works in {e3}"', 'works in {e4}"', r"mentors.yaml: fact_b\[0\]: unknown placeholder or brace"),
        ('{e2} works in {e3}"', '{e2} works in {e3} now"', r"mentors.yaml: fact_b\[0\]: a fact_b template ends with"),
        ("cot_answer: ", "cot_answers: ", r"mentors.yaml: cot_answer: expected a non-empty template text"),
        ("same_document: [", "same_document: [] #", r"mentors.yaml: same_document: expected a list of templates"),
    ],
)
def test_bad_template_files_name_the_file_and_template(tmp_path: Path, old: str, new: str, error: str) -> None:
    (tmp_path / "mentors.yaml").write_text(MENTORS.replace(old, new, 1))
    with pytest.raises(UserError, match=error):
        FAMILY.items(TwoHopParameters(tokenizer=None, templates=tmp_path / "mentors.yaml", heldout_templates=1))


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            "e1,e2\nAnn,Bob\n",
            r"triplets.csv: missing column\(s\) e3; the header must be e1,e2,e3\[,subset\] \(it has e1, e2\)",
        ),
        ("e1,e2,e3\nAnn,,Rome\n", r"triplets.csv:2: empty e2"),
        ("e1,e2,e3\nAnn,Ann,Rome\n", r"triplets.csv:2: e1 and e2 are the same entity 'Ann'"),
        ("e1,e2,e3,subset\nAnn,Bob,Rome,shown\n", r"triplets.csv:2: subset must be one of demoed, undemoed"),
        ("e1,e2,e3\nAnn,Bob,Rome\nAnn,Cid,Oslo\n", r"triplets.csv:3: e1 'Ann' already has an e2 \(first at line 2\)"),
        ("e1,e2,e3\nAnn,Bob,Constantinople\n", r"triplets.csv:2: e3 'Constantinople' is not a single token"),
        ("e1,e2,e3\n", r"triplets.csv: no rows"),
    ],
)
def test_a_malformed_triplets_file_is_refused_naming_the_line(tmp_path: Path, text: str, error: str) -> None:
    with pytest.raises(UserError, match=error):
        read_triplets(write(tmp_path, text), seed=0, demoed_fraction=0.5, single_token=lambda w: len(w) < 10)


@pytest.mark.slow
def test_every_condition_runs_on_the_embedded_model(
    local_model: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from prosaic_evals._cli import main

    tasks = ["two_hop", "two_hop_likelihood", "two_hop_cot"]
    # 20 triplets: 7 undemoed ones, enough clusters for a permutation p-value below 0.05.
    args = ["-T", "triplets=20", "-T", "same_document_triplets=2", "--log-dir", str(tmp_path)]
    main(["run", "two_hop", "two_hop_cot", *args, "--display", "plain"])
    main(["run", "two_hop_likelihood", *args, "-T", "scorer.distractors=3", "--display", "plain"])  # 4 candidates
    out = capsys.readouterr().out
    for text in [*tasks, *FAMILY.conditions, "exact_match", "contrast", "beats_distractors", "bridge_first", "p (= 0)"]:
        assert text in out
    from prosaic_evals.run import sample_frame, summarize

    summary = summarize(sample_frame(sorted(tmp_path.glob("*.eval")))).set_index(["task", "condition", "metric"])
    assert len(summary) == 5 + 3 * 3 + 2  # exact match: 5 conditions; likelihood: 3 x 3 metrics; CoT: 2
    contrast = summary.loc[("two_hop_likelihood", "in_context", "contrast")]
    # The in-context control works even untrained: with both facts in the prompt the answer is there to copy.
    assert contrast["score"] > 0 and contrast["p_chance"] < 0.05, contrast
