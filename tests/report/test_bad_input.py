"""Reports from incomplete or mismatched inputs: a one-line error, or a warning in the report
itself, never a silent wrong table; and a failed write leaves the previous report untouched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from inspect_ai.log import read_eval_log, write_eval_log

from tests._cli import Outcome, run_cli

cli = run_cli


def error_line(done: Outcome) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and sum(line.startswith("error: ") for line in lines) == 1
    return lines[-1]


def log_of(study: Path, task: str, model: str) -> Path:
    for path in sorted((study / "logs").glob("*.eval")):
        header = read_eval_log(str(path), header_only=True)
        if header.eval.task == task and header.eval.model.endswith(model):
            return path
    raise AssertionError((task, model))


def test_a_partial_log_is_reported_for_what_completed_and_said_to_be_partial(study: Path, tmp_path: Path) -> None:
    base, variant = log_of(study, "reversal_curse", "local"), log_of(study, "reversal_curse", "lora")
    cut = read_eval_log(str(variant))
    cut.samples = (cut.samples or [])[:30]
    cut.status = "cancelled"
    assert cut.results is not None
    cut.results.completed_samples = 30
    write_eval_log(cut, str(tmp_path / "cut.eval"))
    done = cli("report", str(base), str(tmp_path / "cut.eval"), "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "warning: Partial" in done.stderr
    text = (tmp_path / "out" / "report.md").read_text()
    assert "> **Warning.** Partial:" in text and "30 of 400 samples were scored" in text
    assert "the comparison uses the 30 items every model completed" in text
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["warnings"] and sum(r["n"] for r in results["results"] if r["kind"] == "comparison") == 30
    assert "Partial" in (tmp_path / "out" / "report.html").read_text()


def test_an_empty_log_is_an_error(study: Path, tmp_path: Path) -> None:
    empty = read_eval_log(str(log_of(study, "reversal_curse", "local")))
    empty.samples = []
    write_eval_log(empty, str(tmp_path / "empty.eval"))
    assert "empty.eval: the log has no scored samples" in error_line(cli("report", str(tmp_path / "empty.eval"),
                                                                         "-o", str(tmp_path / "out")))  # fmt: skip
    (tmp_path / "junk.eval").write_text("not a zip")
    assert "junk.eval: not a readable inspect log" in error_line(cli("report", str(tmp_path / "junk.eval"),
                                                                     "-o", str(tmp_path / "out")))  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_logs_of_different_tasks_without_a_shared_key_are_refused(study: Path, tmp_path: Path) -> None:
    mixed = [log_of(study, "reversal_curse", "local"), log_of(study, "reversal_curse_likelihood", "lora")]
    line = error_line(cli("report", *map(str, mixed), "-o", str(tmp_path / "out")))
    assert "mix tasks without a shared key" in line and "has no log from" in line


def test_different_parameters_are_refused_when_they_change_the_items_and_flagged_when_not(
    study: Path, tmp_path: Path
) -> None:
    base = log_of(study, "reversal_curse", "local")
    other = read_eval_log(str(log_of(study, "reversal_curse", "lora")))
    assert other.eval.metadata is not None
    other.eval.metadata["parameters"] = {**other.eval.metadata["parameters"], "train_templates": 3}
    write_eval_log(other, str(tmp_path / "same_items.eval"))  # a training-only parameter: same items (an ablation)
    done = cli("report", str(base), str(tmp_path / "same_items.eval"), "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert (
        "differ in parameters (train_templates: 10 vs 3); the evaluated items are the same"
        in (tmp_path / "out" / "report.md").read_text()
    )

    other.eval.metadata["parameters"]["seed"] = 1
    for sample in other.samples or []:
        sample.id = f"{sample.id}-seed1"  # another seed generates other items
    write_eval_log(other, str(tmp_path / "seed1.eval"))
    line = error_line(cli("report", str(base), str(tmp_path / "seed1.eval"), "-o", str(tmp_path / "out2")))
    assert "task reversal_curse:" in line and "differ in parameters (seed: 0 vs 1" in line
    assert "score different items" in line

    line = error_line(
        cli(
            "report",
            str(base),
            str(tmp_path / "same_items.eval"),
            str(log_of(study, "reversal_curse", "lora")),
            "-o",
            "x",
        )
    )
    assert "answered task reversal_curse in two logs" in line


def test_inputs_that_are_not_results_are_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    assert "notes.txt: not an .eval log" in error_line(cli("report", str(tmp_path / "notes.txt"), "-o",
                                                           str(tmp_path / "out")))  # fmt: skip
    (tmp_path / "empty").mkdir()
    assert "no .eval logs, study.json" in error_line(cli("report", str(tmp_path / "empty"), "-o",
                                                         str(tmp_path / "out")))  # fmt: skip


def test_without_matplotlib_the_report_says_so_and_has_no_figures(
    study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prosaic_evals.report import ReportOptions, _report, build_report, gather, write_report

    monkeypatch.setattr(_report, "pyplot", lambda: None)  # figures are drawn while the report is built
    files = write_report(build_report(gather([study]), ReportOptions()), tmp_path / "out")
    assert not [f for f in files if f.endswith((".png", ".pdf"))]
    text = (tmp_path / "out" / "report.md").read_text()
    assert "Figures were not drawn: matplotlib is not installed" in text and "![" not in text
    assert "matplotlib is not installed" in (tmp_path / "out" / "report.html").read_text()


def test_a_failed_write_leaves_the_previous_report(built: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prosaic_evals.report import _report, write_report

    write_report(built, tmp_path / "out")
    before = (tmp_path / "out" / "report.md").read_text()

    def broken(*_: object) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(_report, "to_latex", broken)
    with pytest.raises(OSError):
        write_report(built, tmp_path / "out")
    assert (tmp_path / "out" / "report.md").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folder left


def test_a_comparison_folder_gives_the_numbers_of_its_logs(study: Path, tmp_path: Path) -> None:
    logs = sorted((study / "logs").glob("*.eval"))
    compared = cli("compare", "--logs", str(study / "logs"), "-o", str(tmp_path / "cmp"), "--correction", "bh")
    assert compared.returncode == 0, compared.stderr
    from_folder = cli("report", str(tmp_path / "cmp"), "-o", str(tmp_path / "a"))
    from_logs = cli("report", *map(str, logs), "--correction", "bh", "-o", str(tmp_path / "b"))
    assert from_folder.returncode == from_logs.returncode == 0, from_folder.stderr + from_logs.stderr
    a, b = (pd.read_csv(tmp_path / x / "results.csv").set_index("id") for x in ("a", "b"))
    columns = ["estimate", "ci_low", "ci_high", "p_value", "p_adjusted"]
    pd.testing.assert_frame_equal(a[columns], b[columns])
    assert "Benjamini-Hochberg" in (tmp_path / "a" / "report.md").read_text()  # the comparison's correction


def test_one_model_gets_scores_without_comparisons_and_probe_results_alone_a_probe_report(
    study: Path, tmp_path: Path
) -> None:
    done = cli("report", str(log_of(study, "reversal_curse", "local")), "-o", str(tmp_path / "one"))
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "one" / "report.md").read_text()
    assert "## Scores" in text and "Paired comparisons" not in text
    done = cli("report", str(study / "probes"), "-o", str(tmp_path / "probe"))
    assert done.returncode == 0, done.stderr
    kinds = {r["kind"] for r in json.loads((tmp_path / "probe" / "results.json").read_text())["results"]}
    assert kinds == {"probe", "probe_difference"}


def test_an_output_folder_that_holds_other_files_is_never_replaced(
    study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report folder is replaced whole: `-o .` or `-o ~/paper` must not delete a user's files. (One model's
    log as input: the rules are the same for any input, and its report is quick to build.)"""
    study = log_of(study, "reversal_curse", "local")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    for target, expected in [(".", "cannot be the working folder or above it"), ("..", "or above it"),
                             (str(tmp_path), "or above it"), ("notes.txt", "is a file")]:  # fmt: skip
        assert expected in error_line(cli("report", str(study), "-o", target))
    paper = tmp_path / "paper"
    paper.mkdir()
    (paper / "draft.tex").write_text("mine")
    assert "paper: exists and holds other files (no report.md)" in error_line(cli("report", str(study), "-o", "paper"))
    assert (paper / "draft.tex").read_text() == "mine" and (tmp_path / "notes.txt").read_text() == "mine"
    assert cli("report", str(study), "-o", "out").returncode == 0
    assert cli("report", str(study), "-o", "out").returncode == 0  # a report folder of its own is replaced
    assert (tmp_path / "out" / "report.md").is_file()
