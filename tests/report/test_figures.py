"""The report's figures keep their legends below the panels, off the data, whatever the number of models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from prosaic_evals.probes._figure import probe_plot
from prosaic_evals.report._figures import scores_plot, short
from tests.report._render import assert_legend_clear

STUDY = Path(__file__).resolve().parents[2] / "analysis" / "reversal_curse" / "results"


@pytest.fixture(scope="module")
def plt() -> Any:
    pytest.importorskip("matplotlib")
    from prosaic_evals.report._figures import pyplot

    return pyplot()


def laid_out(plt: Any, built: tuple[Any, float]) -> Any:
    fig, bottom = built
    fig.tight_layout(rect=(0, bottom, 1, 1))
    return fig


def test_the_scores_figure_has_its_legend_below_the_panels(plt: Any) -> None:
    scores = pd.read_csv(STUDY / "scores.csv")  # two models: the base and its variant
    assert scores["model"].nunique() == 2
    fig = laid_out(plt, scores_plot(plt, scores, short))
    try:
        legend = assert_legend_clear(fig)
        assert [t.get_text() for t in legend.get_texts()] == [short(m) for m in dict.fromkeys(scores["model"])]
    finally:
        plt.close(fig)


def test_one_model_needs_no_legend(plt: Any) -> None:
    scores = pd.read_csv(STUDY / "scores.csv")
    fig, bottom = scores_plot(plt, scores[scores["model"] == scores["model"].iloc[0]], short)
    try:
        assert fig.legends == [] and bottom == 0.0
    finally:
        plt.close(fig)


def test_the_probe_figure_has_its_legend_below_the_panels(plt: Any) -> None:
    results = pd.read_csv(STUDY / "probes" / "results.csv").fillna({"condition": ""})
    fig = laid_out(plt, probe_plot(plt, results))
    try:
        legend = assert_legend_clear(fig)
        assert len(legend.get_texts()) >= 4  # models and their controls
    finally:
        plt.close(fig)


def test_diagnostic_metrics_stay_out_of_the_figure(plt: Any) -> None:
    scores = pd.read_csv(STUDY / "scores.csv")
    extra = scores.assign(metric="unparseable")
    fig, _ = scores_plot(plt, pd.concat([scores, extra]), short)
    try:
        titles = [ax.get_title() for ax in fig.axes if ax.axison]
        assert titles and not any("unparseable" in t for t in titles)
    finally:
        plt.close(fig)
