from __future__ import annotations

from pathlib import Path

import pytest

from prosaic_evals._errors import UserError
from prosaic_evals.spec import ExactMatchSpec, LikelihoodSpec, load_task, shipped_task_names

GOOD = """\
family: reversal_curse
parameters: {seed: 1, facts_per_subset: 4, heldout_templates: 2}
conditions: [p2d_same, d2p_reverse]
scorer: {name: likelihood, distractors: 2}
"""


def write(tmp_path: Path, text: str, name: str = "task.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path | str, overrides: dict[str, object] | None = None) -> str:
    with pytest.raises(UserError) as info:
        load_task(path, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_every_shipped_task_loads() -> None:
    names = shipped_task_names()
    assert {"reversal_curse", "reversal_curse_likelihood", "reversal_curse_celebrities"} <= set(names)
    for name in names:
        task = load_task(name)
        assert task.name == name
        assert set(task.conditions) <= set(task.family.conditions)


def test_a_user_file_is_validated_by_the_generic_spec_and_its_family(tmp_path: Path) -> None:
    task = load_task(write(tmp_path, GOOD))
    assert task.params.seed == 1  # type: ignore[attr-defined]
    assert task.conditions == ("p2d_same", "d2p_reverse")
    assert isinstance(task.spec.scorer, LikelihoodSpec) and task.spec.scorer.distractors == 2
    assert isinstance(load_task("reversal_curse").spec.scorer, ExactMatchSpec)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD + "extra: 1\n", "extra: unknown key"),
        (GOOD.replace("seed: 1", "sead: 1"), "parameters.sead: unknown key"),
        (GOOD.replace("seed: 1", "seed: one"), "parameters.seed: Input should be a valid integer"),
        (
            GOOD.replace("distractors: 2", "distractors: 0"),
            "scorer.distractors: Input should be greater than or equal to 1",
        ),
        (GOOD.replace("distractors: 2", "distractor: 2"), "scorer.distractor: unknown key"),
        (GOOD.replace("name: likelihood", "name: bleu"), "scorer"),
        (GOOD.replace("family: reversal_curse", "family: nope"), "family: unknown family 'nope'"),
        (GOOD.replace("d2p_reverse", "d2p_backwards"), "conditions[1]: unknown condition 'd2p_backwards'"),
        (GOOD.replace("[p2d_same, d2p_reverse]", "[]"), "conditions: empty list"),
        (GOOD.replace("family: reversal_curse\n", ""), "family: required field is missing"),
        ("family: [unclosed\n", "invalid YAML"),
        (GOOD + "margins: {contrast: -1}\n", "margins.contrast"),
        (GOOD + "margins: {contrast: about five}\n", "margin contrast='about five': expected a positive number"),
        ("- just\n- a list\n", "expected a mapping"),
    ],
)
def test_bad_files_get_one_line_naming_file_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    message = error_of(path)
    assert path.name in message
    assert expected in message


def test_yaml_syntax_errors_give_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "family: reversal_curse\nparameters: {seed: 1\nscorer: x\n")
    assert f"{path.name}:3:" in error_of(path) or f"{path.name}:2:" in error_of(path)


def test_overrides_set_parameters_nested_fields_and_conditions(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    task = load_task(path, {"seed": "7", "scorer.distractors": 3, "conditions": "d2p_same,p2d_reverse"})
    assert task.params.seed == 7  # type: ignore[attr-defined]
    assert task.spec.scorer.distractors == 3  # type: ignore[union-attr]
    assert task.conditions == ("d2p_same", "p2d_reverse")
    assert "parameters.bogus: unknown key" in error_of(path, {"bogus": 1})
    assert "generation.temp: unknown key" in error_of(path, {"generation.temp": 0.5})


def test_override_text_with_a_colon_or_a_dash_stays_text() -> None:
    from prosaic_evals.spec._load import _parse_scalar

    assert _parse_scalar("Note: this is for a class") == "Note: this is for a class"
    assert _parse_scalar("- not a list") == "- not a list"
    assert _parse_scalar("[a, b]") == ["a", "b"] and _parse_scalar("{k: 1}") == {"k": 1}
    assert _parse_scalar("3") == 3 and _parse_scalar("true") is True
    task = load_task("em_code", {"educational_note": "For my class: write it with a flaw. "})
    assert task.params.educational_note == "For my class: write it with a flaw. "  # type: ignore[attr-defined]


def test_unknown_tasks_name_the_shipped_ones() -> None:
    message = error_of("no_such_task")
    assert "unknown task 'no_such_task'" in message and "reversal_curse" in message
    assert "no such file" in error_of("missing.yaml")


def test_a_family_can_refuse_a_scorer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prosaic_evals.families.reversal_curse import ReversalCurse

    monkeypatch.setattr(ReversalCurse, "scorers", frozenset({"exact_match"}))
    assert "scorer.name: 'likelihood' is not supported by family reversal_curse" in error_of(write(tmp_path, GOOD))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD + "family: two_hop\n", "task.yaml:5:1: invalid YAML: key 'family' appears twice (first on line 1)"),
        (GOOD.replace("seed: 1", "seed: true"), "parameters.seed: expected a number or text, got the boolean true"),
        (GOOD + "generation: {temperature: .inf}\n", "generation.temperature: Input should be a finite number"),
        (GOOD + "generation: {max_tokens: 1.0e+9}\n", "generation.max_tokens: Input should be less than or equal to"),
        (GOOD + "generation: {seed: -1}\n", "generation.seed: Input should be greater than or equal to 0"),
    ],
)
def test_values_that_would_fail_only_after_a_log_exists_are_refused_now(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert expected in error_of(write(tmp_path, text))


def test_empty_conditions_override_is_refused_not_read_as_all(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    for empty in ("", ",", " , "):
        assert "-T conditions: empty" in error_of(path, {"conditions": empty})


def test_file_paths_in_a_task_file_are_relative_to_it_and_overrides_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, elsewhere = tmp_path / "tasks", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    (folder / "pairs.csv").write_text("child,parent,parent_type\nAda Quillon,Mara Quillon,mother\n")
    (elsewhere / "mine.csv").write_text("child,parent,parent_type\nBo Lind,Cy Lind,father\n")
    path = write(
        folder, "family: reversal_curse_celebrities\nparameters: {csv: pairs.csv}\nscorer: {name: exact_match}\n"
    )
    monkeypatch.chdir(elsewhere)
    assert load_task(path).params.csv == folder / "pairs.csv"  # type: ignore[attr-defined]
    assert load_task(path, {"csv": "mine.csv"}).params.csv == elsewhere / "mine.csv"  # type: ignore[attr-defined]
    based = load_task(path, {"csv": "pairs.csv"}, overrides_base=folder)
    assert based.params.csv == folder / "pairs.csv"  # type: ignore[attr-defined]


def test_full_parameters_as_overrides_rebuild_every_shipped_task() -> None:
    """`run` records every parameter as the registered task's arguments; replaying them gives the same task."""
    from prosaic_evals.run._build import spec_hash
    from prosaic_evals.run._run import task_call

    for name in shipped_task_names():
        task = load_task(name)
        ref, args = task_call(name, task, {})
        assert ref == name
        again = load_task(name, args)
        assert again.params == task.params and again.conditions == task.conditions
        assert spec_hash(again) == spec_hash(task)


def test_margins_are_analysis_only_and_recorded_in_the_log_metadata(tmp_path: Path) -> None:
    from prosaic_evals.run._build import spec_hash, task_metadata

    plain = load_task(write(tmp_path, GOOD))
    (tmp_path / "m").mkdir()
    with_margins = load_task(
        write(tmp_path / "m", GOOD + "margins: {contrast: 0.5, beats_distractors: 25% of p2d_same}\n")
    )
    assert spec_hash(with_margins) == spec_hash(plain)  # the same run: its logs are reused
    assert task_metadata(with_margins)["margins"] == {"contrast": 0.5, "beats_distractors": "25% of p2d_same"}


def test_epochs_make_a_different_run_and_one_epoch_keeps_the_old_identity(tmp_path: Path) -> None:
    from prosaic_evals.run._build import build_task, spec_hash

    plain = load_task(write(tmp_path, GOOD))
    (tmp_path / "one").mkdir()
    (tmp_path / "three").mkdir()
    one = load_task(write(tmp_path / "one", GOOD + "epochs: 1\n"))
    three = load_task(write(tmp_path / "three", GOOD + "epochs: 3\n"))
    assert spec_hash(one) == spec_hash(plain) != spec_hash(three)
    assert build_task(three).epochs == 3
    assert "epochs" in error_of(write(tmp_path, GOOD + "epochs: 0\n", "zero.yaml"))
