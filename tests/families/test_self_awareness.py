"""Behavioural self-awareness: the lottery generator, the two training sets, the self-report questions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from prosaic_evals._errors import UserError
from prosaic_evals.families.self_awareness import SelfAwareness, SelfAwarenessParameters, choices, read_questions
from prosaic_evals.scorers._judge import read_number

FAMILY = SelfAwareness()


def _options(prompt: str) -> dict[str, tuple[int, int]]:
    """Letter -> (probability %, payoff $) read back from the prompt's text."""
    found = {}
    for letter, line in re.findall(r"(?:^|\n)(?:Option )?([AB])[):] (.*)", prompt):
        p, x = re.search(r"(\d+)%", line), re.search(r"\$(\d+)", line)
        assert p and x, line
        found[letter] = (int(p.group(1)), int(x.group(1)))
    return found


def test_lotteries_are_seeded_comparable_and_never_name_risk() -> None:
    train, heldout = choices(0, 300, 60)
    assert (train, heldout) == choices(0, 300, 60) and choices(1, 300, 60) != (train, heldout)
    assert len(train) == 300 and len(heldout) == 60
    assert not {c.key for c in train} & {c.key for c in heldout}
    for choice in train + heldout:
        options = _options(choice.prompt)
        (p_risky, x_risky), (p_safe, x_safe) = options[choice.risky], options[choice.safe]
        assert p_risky < p_safe and x_risky > x_safe
        assert 0.75 <= (p_risky * x_risky) / (p_safe * x_safe) <= 1.25  # neither option is simply better
        assert "risk" not in choice.prompt.lower() and "safe" not in choice.prompt.lower()
    assert {c.risky for c in heldout} == {"A", "B"}  # the letter tells nothing
    with pytest.raises(UserError, match="train_choices \\+ heldout_choices: at most"):
        choices(0, 100_000, 60)


def test_the_two_training_sets_differ_only_in_the_answer() -> None:
    seeking = FAMILY.train_records(SelfAwarenessParameters(behaviour="risk_seeking"))
    averse = FAMILY.train_records(SelfAwarenessParameters(behaviour="risk_averse"))
    train, _ = choices(0, 300, 60)
    for a, b, choice in zip(seeking, averse, train, strict=True):
        assert a["messages"][0] == b["messages"][0]
        assert (a["messages"][1]["content"], b["messages"][1]["content"]) == (choice.risky, choice.safe)


def test_items_compare_the_risk_seeking_answer_with_its_partner_only() -> None:
    items = FAMILY.items(SelfAwarenessParameters())
    assert items == FAMILY.items(SelfAwarenessParameters(behaviour="risk_averse"))
    by = {c: [i for i in items if i.condition == c] for c in FAMILY.conditions}
    assert [len(by[c]) for c in FAMILY.conditions] == [60, 6, 18, 6]
    for item in by["choice"] + by["self_binary"] + by["self_word"]:
        assert (
            FAMILY.distractor_pool(item, items) == item.metadata["distractors"]
            and item.target not in (item.metadata["distractors"])
        )
    assert sum(i.target == "bold" and i.metadata["distractors"] == ["cautious"] for i in by["self_word"]) == 3
    assert len({i.cluster for i in by["self_word"]}) == 6  # one cluster per word pair
    train_prompts = {r["messages"][0]["content"] for r in FAMILY.train_records(SelfAwarenessParameters())}
    assert not {i.prompt for i in by["choice"]} & train_prompts


def test_malformed_question_files_are_named(tmp_path: Path) -> None:
    good = "scale: ['How bold, 0-100?']\nbinary: [{question: 'Risk or safety?', answers: [risk, safety]}]\n"
    word = "word: {questions: ['One word?'], pairs: [[bold, cautious]]}\n"
    cases = {
        good: "expected exactly the keys scale, binary and word (got scale, binary)",
        good.replace("answers: [risk, safety]", "answers: [risk]") + word: "binary[0].answers: expected two answers",
        good.replace("scale: ['How bold, 0-100?']", "scale: []") + word: "scale: expected a non-empty list",
        good + "word: {questions: ['One word?'], pairs: []}\n": "word.pairs: expected a non-empty list",
        good + "word: {questions: ['One word?', 'One word?'], pairs: [[a, b]]}\n": "word.questions: the same text",
        good.replace("{question:", "{ask:") + word: "binary[0]: expected exactly the keys question and answers",
    }
    path = tmp_path / "self.yaml"
    path.write_text(good + word)
    assert read_questions(path).binary == (("Risk or safety?", "risk", "safety"),)
    for text, message in cases.items():
        path.write_text(text)
        with pytest.raises(UserError, match=r"self\.yaml: ") as error:
            read_questions(path)
        assert message in str(error.value), text


@pytest.mark.parametrize(("answer", "number"), [("70", 70.0), ("I'd say 35 out of 100.", 35.0), ("bold", None),
                                                ("120", None), ("-5", None)])  # fmt: skip
def test_a_self_reported_number_is_read_only_on_the_scale(answer: str, number: float | None) -> None:
    assert read_number(answer, (0, 100)) == number


@pytest.mark.slow
def test_both_tasks_run_on_a_served_model(tiny_dir: Path, tiny_model: object, tmp_path: Path) -> None:
    from prosaic_evals._cli import main
    from prosaic_evals.run import sample_frame

    model = ["--model", f"vllm/{tiny_dir}", "--log-dir", str(tmp_path), "--display", "plain"]
    main(["run", "self_awareness", "--limit", "12", *model])
    main(["run", "self_awareness_scale", "--limit", "3", "-T", "epochs=2", *model])
    frame = sample_frame(sorted(tmp_path.glob("*.eval")))
    choice = frame[(frame["task"] == "self_awareness") & (frame["metric"] == "p_correct")]
    assert choice["sample_id"].nunique() == 12 and set(choice["condition"]) == {"choice", "self_binary", "self_word"}
    assert choice["value"].between(0, 1, inclusive="neither").all()
    scale = frame[frame["task"] == "self_awareness_scale"].pivot_table(
        index=["sample_id", "epoch"], columns="metric", values="value"
    )
    assert len(scale) == 6 and scale["unparseable"].isin([0.0, 1.0]).all()
    if "number" in scale:
        assert scale.loc[scale["unparseable"] == 1.0, "number"].isna().all()
        assert scale["number"].dropna().between(0, 100).all()
