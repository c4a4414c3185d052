"""The chain-of-thought faithfulness sections of a report, from the committed CoT run's real logs: the cue table
and the interventions table show the score rows' own numbers, and the figures keep their legends off the data."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from prosaic_evals.report import _format as f
from prosaic_evals.report._cot import _cue_figure, _lanham_figure, cot_sections
from prosaic_evals.report._document import Figure, Table
from prosaic_evals.report._figures import short
from tests.report._render import assert_legend_clear, markers

LOGS = Path(__file__).resolve().parents[2] / "analysis" / "cot_faithfulness" / "results" / "logs"
BIASING = {"suggested_answer_cot", "suggested_answer_direct", "always_a_cot", "always_a_direct", "professor_cot",
           "professor_direct"}  # fmt: skip
INTERVENTIONS = ["early_answering", "adding_mistakes", "paraphrasing", "filler_tokens"]


@pytest.fixture(scope="module")
def scored() -> tuple[list[dict[str, Any]], list[str]]:
    """The run's score rows and models, built as the report builds them."""
    from prosaic_evals.report._evidence import read_evidence
    from prosaic_evals.report._numbers import score_rows
    from prosaic_evals.run import summarize

    evidence = read_evidence(sorted(LOGS.glob("*.eval")))
    return score_rows(summarize(evidence.frame), evidence.frame), evidence.models


@pytest.fixture(scope="module")
def plt() -> Any:
    pytest.importorskip("matplotlib")
    from prosaic_evals.report._figures import pyplot

    return pyplot()


def table(blocks: list[Any], label: str) -> tuple[list[str], list[dict[str, str]]]:
    """A table's columns, and its rows as {column: cell} (a repeated column's second cell under `p 2`)."""
    found = next(b for b in blocks if isinstance(b, Table) and b.label == label)
    names = [f"{c} {found.columns[:i].count(c) + 1}" if c in found.columns[:i] else c
             for i, c in enumerate(found.columns)]  # fmt: skip
    return found.columns, [dict(zip(names, row, strict=True)) for row in found.rows]


def by_metric(rows: list[dict[str, Any]], condition: str) -> dict[str, dict[str, Any]]:
    return {r["metric"]: r for r in rows if r["condition"] == condition}


def expand(refs: str) -> list[str]:
    """`S1, S4–S6` -> S1, S4, S5, S6."""
    ids = []
    for part in refs.split(", "):
        first, _, last = part.partition("–")
        if not last:
            ids.append(first)
            continue
        prefix, start = re.fullmatch(r"(\D*)(\d+)", first).groups()  # type: ignore[union-attr]
        ids += [f"{prefix}{i}" for i in range(int(start), int(last.removeprefix(prefix)) + 1)]
    return ids


def interval(row: dict[str, Any], signed: bool = True) -> str:
    return f.estimate(row["estimate"], row["ci_low"], row["ci_high"], signed=signed, digits=2)


def count(row: dict[str, Any]) -> str:
    return f"{round(row['estimate'] * row['n'])}/{row['n']}"


def test_the_cue_table_shows_each_biasing_conditions_paired_scores(
    scored: tuple[list[dict[str, Any]], list[str]],
) -> None:
    rows, models = scored
    blocks, figures = cot_sections(rows, models, short, None)
    assert figures == [] and not any(isinstance(b, Figure) for b in blocks)  # no matplotlib: tables only
    _, shown = table(blocks, "cue-effects")
    conditions = list(dict.fromkeys(r["condition"] for r in rows if r["metric"] == "cue_effect"))
    assert [r["Condition"] for r in shown] == conditions and set(conditions) == BIASING
    assert "Model" not in shown[0]  # one model: no model column
    for cells in shown:
        mine = by_metric(rows, cells["Condition"])
        assert cells["Task"] == mine["cue_effect"]["task"]
        assert (
            cells["Correct"] == f"{mine['correct_unbiased']['estimate']:.2f} → {mine['correct_biased']['estimate']:.2f}"
        )
        assert (
            cells["Cued option"] == f"{mine['cued_unbiased']['estimate']:.2f} → {mine['cued_biased']['estimate']:.2f}"
        )
        assert cells["Accuracy drop [95% CI]"] == interval(mine["accuracy_drop"])
        assert cells["Cue effect [95% CI]"] == interval(mine["cue_effect"])
        # the chance test of each paired difference, in the p column beside it
        assert cells["p"] == f.p_value(mine["accuracy_drop"]["p_value"]) != "—"
        assert cells["p 2"] == f.p_value(mine["cue_effect"]["p_value"]) != "—"
        if cells["Condition"].endswith("_cot"):
            assert cells["Mentions cue"] == count(mine["mentions_cue"])
            unread = round(mine["judge_unparseable"]["estimate"] * mine["judge_unparseable"]["n"])
            assert cells["Articulated"] == f"{count(mine['articulated'])} ({unread} unparseable)"
        else:
            assert cells["Mentions cue"] == cells["Articulated"] == "—"
        # Ref. names exactly the rows the cells come from
        used = [r["id"] for r in mine.values() if r["metric"] != "switched"]
        assert expand(cells["Ref."]) == used
    # the README's table of this run
    readme = {r["Condition"]: r for r in shown}
    assert readme["suggested_answer_direct"]["Cue effect [95% CI]"] == "+0.77 [+0.60, +0.93]"
    assert readme["suggested_answer_direct"]["Correct"] == "0.20 → 0.07"
    assert readme["always_a_cot"]["Accuracy drop [95% CI]"] == "+0.37 [+0.15, +0.57]"
    assert readme["suggested_answer_cot"]["Mentions cue"] == "1/19"
    assert readme["always_a_cot"]["Articulated"] == "14/15 (7 unparseable)"


def test_the_interventions_table_has_every_unchanged_point_and_the_aoc(
    scored: tuple[list[dict[str, Any]], list[str]],
) -> None:
    rows, models = scored
    blocks, _ = cot_sections(rows, models, short, None)
    columns, shown = table(blocks, "interventions")
    percents = sorted({int(m[1]) for r in rows if (m := re.fullmatch(r"unchanged@(\d+)%", r["metric"]))})
    assert percents == [0, 25, 50, 75, 100]  # 100%: filler tokens only
    assert columns == [
        "Ref.", "Condition", *[f"Unchanged @{p}%" for p in percents], "AOC [95% CI]", "Agrees with text"
    ]  # fmt: skip
    assert [r["Condition"] for r in shown] == INTERVENTIONS
    for cells in shown:
        mine = by_metric(rows, cells["Condition"])
        for p in percents:
            row = mine.get(f"unchanged@{p}%")
            assert cells[f"Unchanged @{p}%"] == (f"{row['estimate']:.2f}" if row else "—")
        assert cells["AOC [95% CI]"] == (interval(mine["aoc"], signed=False) if "aoc" in mine else "—")
        assert cells["Agrees with text"] == count(mine["agrees_with_text"]) == "13/14"
    assert shown[-1]["AOC [95% CI]"] == "—" and shown[0]["AOC [95% CI]"] == "0.48 [0.29, 0.66]"
    # what the two tables leave to the full score tables
    refs = {i for b in blocks if isinstance(b, Table) for row in b.rows for i in expand(row[0])}
    assert {r["metric"] for r in rows if r["id"] not in refs} == {"switched", "correct", "unparseable"} | {
        f"correct@{p}%" for p in percents
    }


def test_without_cot_rows_there_is_nothing() -> None:
    other = {"id": "S1", "kind": "score", "task": "t", "condition": "c", "metric": "correct", "model": "m", "n": 10,
             "epochs": 1.0, "clusters": 10, "estimate": 0.5, "ci_low": 0.2, "ci_high": 0.8, "p_value": float("nan")}  # fmt: skip
    compared = other | {"id": "C1", "kind": "comparison", "metric": "cue_effect"}  # not a score row
    assert cot_sections([other, compared], ["m"], short, None) == ([], [])
    assert cot_sections([], [], short, None) == ([], [])


def test_the_figures_are_drawn_as_png_and_pdf(
    scored: tuple[list[dict[str, Any]], list[str]], plt: Any, tmp_path: Path
) -> None:
    rows, models = scored
    blocks, figures = cot_sections(rows, models, short, plt)
    assert [stem for stem, _ in figures] == ["cue_effects", "lanham_curves"]
    assert [b.stem for b in blocks if isinstance(b, Figure)] == ["cue_effects", "lanham_curves"]
    for stem, draw in figures:
        draw(tmp_path / stem)
        assert (tmp_path / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (tmp_path / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"


def laid_out(build: Any, plt: Any, rows: list[dict[str, Any]], models: list[str]) -> Any:
    """The figure as `save` lays it out, drawn."""
    fig, bottom = build(plt, rows, models, short)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.canvas.draw()
    return fig


@pytest.mark.parametrize("build", [_cue_figure, _lanham_figure])
def test_with_several_models_the_legend_is_outside_the_data(
    scored: tuple[list[dict[str, Any]], list[str]], plt: Any, build: Any
) -> None:
    rows, models = scored
    # a second model: the same rows, its numbers moved (enough to plot; the statistics are not the point here)
    other = [r | {"id": f"X{r['id'][1:]}", "model": "other/model", "estimate": r["estimate"] * 0.6,
                  "ci_low": r["ci_low"] * 0.6, "ci_high": r["ci_high"] * 0.6} for r in rows]  # fmt: skip
    fig = laid_out(build, plt, rows + other, [*models, "other/model"])
    try:
        legend = assert_legend_clear(fig)
        assert [t.get_text() for t in legend.get_texts()] == [short(models[0]), "other/model"]
        assert all(markers(ax) for ax in fig.axes)
    finally:
        plt.close(fig)


def test_the_curves_are_lanhams(scored: tuple[list[dict[str, Any]], list[str]], plt: Any) -> None:
    rows, models = scored
    fig = laid_out(_lanham_figure, plt, rows, models)
    try:
        assert fig.legends == []  # one model: no legend
        assert [ax.get_title() for ax in fig.axes] == ["Early answering", "Adding mistakes", "Paraphrasing",
                                                       "Filler tokens"]  # fmt: skip
        assert fig.axes[-1].get_xlabel() == "filler, share of the CoT's length"
        for ax, condition in zip(fig.axes, INTERVENTIONS, strict=True):
            low, high = ax.get_ylim()
            assert low <= 0 and 1 <= high < 1.1
            curve = sorted((int(m[1]) / 100, r["estimate"]) for r in rows if r["condition"] == condition
                           if (m := re.fullmatch(r"unchanged@(\d+)%", r["metric"])))  # fmt: skip
            drawn = ax.lines[0].get_xydata().tolist()  # the errorbar's joined points
            np.testing.assert_allclose(drawn, curve)
    finally:
        plt.close(fig)
