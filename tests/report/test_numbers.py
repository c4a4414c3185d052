"""Report rows from a comparison: power numbers for every kind of row, including a one-cluster breakdown."""

from __future__ import annotations

import math

import pandas as pd

from prosaic_evals.report._numbers import comparison_rows
from prosaic_evals.run import compare_frame
from tests.run.test_compare import BASE, TUNED, frame


def test_every_row_gets_power_numbers_or_a_stated_absence() -> None:
    whole = frame({"a/base": BASE, "a/tuned": TUNED}, metric="correct")
    part = frame({"a/base": BASE[:3], "a/tuned": TUNED[:3]}, metric="correct/german")  # one cluster
    rows = {r["metric"]: r for r in comparison_rows(compare_frame(pd.concat([whole, part])), 0.1, 0.2)}
    assert all(math.isnan(rows["correct/german"][k]) for k in ("n_needed", "n_needed_low", "n_needed_high"))
    low, estimate, high = (rows["correct"][k] for k in ("n_needed_low", "n_needed", "n_needed_high"))
    assert 12 < low <= estimate <= high  # more than the pilot's 12 items for a difference of 0.1
