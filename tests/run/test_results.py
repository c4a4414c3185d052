from __future__ import annotations

import pandas as pd
import pytest

from prosaic_evals._errors import UserError
from prosaic_evals.families import Item
from prosaic_evals.run import interleave, summarize
from prosaic_evals.run._run import error_summary


def frame(rows: list[tuple[str, str, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"task": "t", "model": "m", "condition": c, "metric": metric, "value": v, "cluster": k,
          "log": "x.eval", "sample_id": f"{c}{i}", "cached": False, "condition_rank": {"b": 0, "a": 1}.get(c, 2)}
         for i, (c, metric, v, k) in enumerate(rows)]
    )  # fmt: skip


def test_summary_has_one_row_per_condition_and_metric() -> None:
    rows = [("a", "exact_match", float(i % 2), f"f{i // 2}") for i in range(10)]
    rows += [("b", "contrast", 0.5 * i, f"f{i}") for i in range(6)]
    summary = summarize(frame(rows))
    assert list(summary["condition"]) == ["b", "a"]  # the task file's order, not the logs'
    summary = summary.set_index("condition")
    assert summary.loc["a", "n"] == 10 and summary.loc["a", "clusters"] == 5
    assert summary.loc["a", "score"] == pytest.approx(0.5)
    assert summary.loc["a", "interval"] == "beta-binomial profile"
    assert summary.loc["b", "interval"].startswith("cluster sign-flip") and summary.loc["b", "score"] == pytest.approx(
        1.25
    )
    assert summary.loc["b", "ci_low"] < 1.25 < summary.loc["b", "ci_high"]


def test_probability_intervals_stay_within_0_and_1() -> None:
    skewed = [0.001, 0.002, 0.001, 0.9, 0.003, 0.002]  # a t interval would reach below 0
    rows = [("a", "p_correct", v, f"f{i}") for i, v in enumerate(skewed)]
    summary = summarize(frame(rows)).set_index("metric")
    assert 0.001 <= summary.loc["p_correct", "ci_low"] < summary.loc["p_correct", "ci_high"] <= 0.9


def test_paired_differences_get_a_test_against_zero() -> None:
    rows = [("a", metric, v, f"q{i}") for metric in ("cue_effect", "cued_biased") for i, v in enumerate([1.0] * 12)]
    rows += [("a", "accuracy_drop", v, f"q{i}") for i, v in enumerate([1.0, -1.0, 0.0] * 4)]
    summary = summarize(frame(rows)).set_index("metric")
    assert summary.loc["cue_effect", "p_chance"] < 0.01  # 12 of 12 items moved to the cue
    assert summary.loc["accuracy_drop", "p_chance"] > 0.5  # as many up as down
    assert pd.isna(summary.loc["cued_biased", "p_chance"])  # a rate, not a difference


def test_an_empty_frame_is_an_error() -> None:
    with pytest.raises(UserError, match="no scored samples"):
        summarize(frame([]))


def test_interleave_spreads_a_limit_over_conditions() -> None:
    items = [Item(id=f"{c}{i}", condition=c, prompt="", target="", cluster="") for c in "ab" for i in range(3)]
    assert [i.id for i in interleave(items)] == ["a0", "b0", "a1", "b1", "a2", "b2"]


def test_interleave_spreads_a_limit_over_clusters_deterministically() -> None:
    # 3 facts x 4 templates per condition, listed fact by fact as the generators do
    items = [
        Item(id=f"{c}-{fact}-{t}", condition=c, prompt="", target="", cluster=f"{c}{fact}")
        for c in "ab" for fact in range(3) for t in range(4)
    ]  # fmt: skip
    first = interleave(items)[:6]
    assert [i.id for i in first] == ["a-0-0", "b-0-0", "a-1-0", "b-1-0", "a-2-0", "b-2-0"]
    assert len({i.cluster for i in first}) == 6  # --limit 6: three facts per condition, not one
    assert [i.id for i in interleave(list(reversed(items)))] != [
        i.id for i in interleave(items)
    ]  # order is the input's
    assert sorted(i.id for i in interleave(items)) == sorted(i.id for i in items)


def test_error_summary_keeps_the_providers_message_on_one_line() -> None:
    raw = "ModelGenerateError('\\nRequest:\\n{...}\\nBadRequestError(\\'Error code: 400 - {\\\\\\'message\\\\\\': \\\\\\'tools need a parser\\\\\\'}}\\')')"
    assert error_summary(raw) == "tools need a parser"
    assert error_summary("line one\nline two") == "line one line two"
    assert len(error_summary("x" * 1000)) == 300


def test_rows_on_too_few_clusters_are_warned_about() -> None:
    from prosaic_evals.run._results import few_cluster_notes

    rows = [("a", "exact_match", float(i % 2), f"f{i % 3}") for i in range(9)]  # 3 clusters
    rows += [("b", "exact_match", float(i % 2), f"g{i}") for i in range(12)]  # 12 clusters
    notes = few_cluster_notes(summarize(frame(rows)))
    assert len(notes) == 1
    assert "t · m: 1 rows rest on fewer than 6 clusters (a (3))" in notes[0]
    assert "smallest attainable chance-test p is 0.25" in notes[0]
    assert few_cluster_notes(summarize(frame(rows[9:]))) == []


def test_planned_samples_count_the_limit_not_the_dataset() -> None:
    from types import SimpleNamespace

    from prosaic_evals.run._results import planned_samples

    def log(status: str, limit: object, total: int | None = None) -> object:
        return SimpleNamespace(
            status=status, results=SimpleNamespace(total_samples=total) if total else None,
            eval=SimpleNamespace(dataset=SimpleNamespace(samples=600), config=SimpleNamespace(limit=limit, epochs=2)),
        )  # fmt: skip

    assert planned_samples(log("cancelled", 60)) == 120  # 60 asked for, twice
    assert planned_samples(log("started", None)) == 1200
    assert planned_samples(log("error", (10, 30))) == 40
    assert planned_samples(log("success", 60, total=120)) == 120


def test_the_results_render_says_what_a_resumed_run_kept() -> None:
    from rich.console import Console

    from prosaic_evals.run import render

    rows = [("a", "exact_match", 1.0, f"f{i}") for i in range(8)]
    data = frame(rows)
    console = Console(width=200, record=True)
    console.print(render(summarize(data), data, kept=frozenset({("x.eval", "a0"), ("x.eval", "a1")})))
    text = console.export_text()
    assert "8 samples; 2 were already in the log folder; of the 6 run now, 6 called a model" in text


def test_epochs_are_counted_as_repeated_measures_and_shown() -> None:
    from rich.console import Console

    from prosaic_evals.run._results import render

    rows = [("a", "exact_match", float((i + e) % 2), f"f{i // 2}") for i in range(10) for e in range(3)]
    data = frame(rows).assign(sample_id=[f"a{i}" for i in range(10) for _ in range(3)], epoch=[1, 2, 3] * 10)
    summary = summarize(data).set_index("condition")
    assert summary.loc["a", "n"] == 10 and summary.loc["a", "epochs"] == 3 and summary.loc["a", "clusters"] == 5
    console = Console(width=200, record=True)
    console.print(render(summary.reset_index(), data))
    assert "epochs" in console.export_text()
