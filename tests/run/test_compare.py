from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prosaic_evals._errors import UserError
from prosaic_evals.run import compare_frame, render_comparison, write_outputs
from prosaic_evals.stats import compare_paired


def frame(
    models: dict[str, list[float]], *, metric: str = "exact_match", ids: dict[str, list[str]] | None = None
) -> pd.DataFrame:
    rows = []
    for model, values in models.items():
        for i, value in enumerate(values):
            sample = (ids or {}).get(model, [f"s{j}" for j in range(len(values))])[i]
            rows.append({"log": f"{model}.eval", "task": "t", "task_version": 1, "model": model, "sample_id": sample,
                         "condition": "c", "cluster": f"f{int(sample[1:]) // 3}", "scorer": "s", "metric": metric,
                         "value": value, "answer": "", "cached": False, "condition_rank": 0})  # fmt: skip
    return pd.DataFrame(rows)


BASE = [0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
TUNED = [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0]


def test_each_model_is_compared_with_the_baseline_item_by_item() -> None:
    result = compare_frame(frame({"prosaic-vllm/local": BASE, "prosaic-vllm/variant/v": TUNED}))
    (row,) = result.comparisons.to_dict(orient="records")
    expected = compare_paired(TUNED, BASE, [f"f{i // 3}" for i in range(12)])
    assert row["difference"] == pytest.approx(expected.difference) == pytest.approx(6 / 12)
    assert (row["ci_low"], row["ci_high"], row["p_value"]) == pytest.approx(
        (expected.ci_low, expected.ci_high, expected.p_value)
    )
    assert row["baseline"] == "prosaic-vllm/local" and row["clusters"] == 4 and row["model_only"] == 6
    assert set(result.scores["model"]) == {"prosaic-vllm/local", "prosaic-vllm/variant/v"}


def test_the_family_of_comparisons_is_corrected() -> None:
    three = frame({"a/base": BASE, "a/one": TUNED, "a/two": BASE[::-1]})
    holm = compare_frame(three).comparisons
    assert len(holm) == 2
    assert (holm["p_adjusted"] >= holm["p_value"]).all()
    none = compare_frame(three, correction="none").comparisons
    assert none["p_adjusted"].tolist() == none["p_value"].tolist()


def test_breakdown_rows_are_reported_but_left_out_of_the_corrected_family() -> None:
    models = {"a/base": BASE, "a/one": TUNED, "a/two": BASE[::-1]}
    whole, part = frame(models), frame(models, metric="exact_match/part")
    result = compare_frame(pd.concat([whole, part])).comparisons.set_index("metric")
    alone = compare_frame(whole).comparisons
    assert result.loc["exact_match", "p_adjusted"].tolist() == alone["p_adjusted"].tolist()  # same family of 2
    assert result.loc["exact_match/part", "p_adjusted"].isna().all()
    assert result.loc["exact_match/part", "p_value"].notna().all()
    rendered = render_comparison(compare_frame(pd.concat([whole, part])))
    footer = rendered.renderables[-1].plain
    assert "the 2 comparisons of whole metrics (2 metric/part breakdown rows" in footer


def test_a_model_in_two_logs_is_refused_and_models_can_be_picked() -> None:
    data = frame({"prosaic-vllm/local": BASE, "prosaic-vllm/variant/a": TUNED, "prosaic-vllm/variant/b": BASE})
    again = frame({"prosaic-vllm/local": BASE}).assign(log="other.eval")
    with pytest.raises(UserError, match=r"prosaic-vllm/local answered task t in more than one log \(other.eval, "):
        compare_frame(pd.concat([data, again]))
    picked = compare_frame(pd.concat([data, again]), only=["variant/b", "variant/a"], baseline="variant/b")
    assert picked.baseline == "prosaic-vllm/variant/b" and picked.comparisons["model"].tolist() == [
        "prosaic-vllm/variant/a"
    ]
    with pytest.raises(UserError, match="--model 'variant/c' matches 0 of the models"):
        compare_frame(data, only=["variant/c"])


def test_the_baseline_can_be_named_by_its_short_form() -> None:
    data = frame({"prosaic-vllm/local": BASE, "prosaic-vllm/variant/v": TUNED})
    assert compare_frame(data, baseline="variant/v").baseline == "prosaic-vllm/variant/v"
    with pytest.raises(UserError, match="--baseline 'gpt' matches 0 of the models"):
        compare_frame(data, baseline="gpt")


def test_mismatched_items_are_refused_with_what_differs() -> None:
    ids = {"b": [f"s{i}" for i in range(11)] + ["s99"]}
    with pytest.raises(UserError) as info:
        compare_frame(frame({"a": BASE, "b": TUNED}, ids=ids))
    message = str(info.value)
    assert "task t, condition c: sample ids differ between a and b (1 only in a, 1 only in b, e.g. s11)" in message
    with pytest.raises(UserError, match="at least two models"):
        compare_frame(frame({"a": BASE}))


def test_outputs_agree_with_each_other(tmp_path: Path) -> None:
    result = compare_frame(frame({"a/base": BASE, "a/tuned": TUNED}))
    write_outputs(result, tmp_path)
    saved = json.loads((tmp_path / "comparison.json").read_text())
    table = pd.read_csv(tmp_path / "comparison.csv")
    assert saved["comparisons"][0]["difference"] == pytest.approx(table["difference"][0])
    assert len(pd.read_csv(tmp_path / "samples.csv")) == 24 and not list(tmp_path.glob("*.tmp"))
    assert np.isclose(pd.read_csv(tmp_path / "scores.csv").query("model == 'a/tuned'")["score"], 9 / 12).all()
    assert render_comparison(result) is not None
