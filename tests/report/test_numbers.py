"""Report rows from a comparison: power numbers for every kind of row, including a one-cluster breakdown."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

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


def test_a_studys_contrasts_compare_two_recipes_variants_as_one_family() -> None:

    from prosaic_evals.report._evidence import Evidence
    from prosaic_evals.report._inputs import Inputs
    from prosaic_evals.report._report import ReportOptions, _contrast_blocks, _contrasts
    from prosaic_evals.stats import adjust, compare_paired

    rng = np.random.default_rng(1)
    models = {"p/local": 0.2, "p/variant/v-a": 0.3, "p/variant/v-b": 0.7, "p/variant/v-c": 0.5}
    draws = {m: rng.random((2, 24)) < p for m, p in models.items()}  # two metrics, 24 items in 8 clusters
    rows = [{"task": "t", "model": m, "sample_id": f"s{i}", "epoch": 1, "condition": "c", "condition_rank": 0,
             "cluster": f"f{i // 3}", "metric": metric, "value": float(v), "log": f"{m}.eval"}
            for m, values in draws.items() for metric, column in zip(("m1", "m2"), values, strict=True)
            for i, v in enumerate(column)]  # fmt: skip
    study = {"spec": {"contrasts": [["a", "b"], ["a", "c"]]},
             "cells": [{"recipe": r, "base": "local", "seed": 0, "state": "done", "variant": f"v-{r}"}
                       for r in "abc"]}  # fmt: skip
    evidence = Evidence(pd.DataFrame(rows), [])
    found = _contrasts(Inputs(study=study), evidence, ReportOptions(), "holm", start=7)
    assert [(c["id"], c["contrast"], c["metric"]) for c in found] == [
        ("C7", "b - a", "m1"),
        ("C8", "b - a", "m2"),
        ("C9", "c - a", "m1"),
        ("C10", "c - a", "m2"),
    ]
    for c in found:
        second = "p/variant/v-" + c["contrast"][0]
        index = 0 if c["metric"] == "m1" else 1
        expected = compare_paired(draws[second][index].astype(float), draws["p/variant/v-a"][index].astype(float),
                                  [f"f{i // 3}" for i in range(24)])  # fmt: skip
        assert c["estimate"] == pytest.approx(expected.difference) and c["baseline"] == "p/variant/v-a"
    # one Holm family over the four rows, not two families of two
    assert [c["p_adjusted"] for c in found] == pytest.approx(adjust([c["p_value"] for c in found], "holm"))
    assert any("Contrasts between recipes" in str(getattr(b, "text", b)) for b in _contrast_blocks(found, "holm"))
    assert _contrasts(Inputs(study={"spec": {}, "cells": study["cells"]}), evidence, ReportOptions(), "holm", 1) == []
