from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prosaic_evals._errors import UserError
from prosaic_evals.run import compare_frame, render_comparison, write_outputs
from prosaic_evals.run._compare import parse_margins
from prosaic_evals.stats import compare_paired


def frame(
    models: dict[str, list[float]], *, metric: str = "exact_match", ids: dict[str, list[str]] | None = None,
    condition: str = "c", epochs: int = 1,
) -> pd.DataFrame:  # fmt: skip
    rows = []
    for model, values in models.items():
        for i, value in enumerate(values):
            sample = (ids or {}).get(model, [f"s{j}" for j in range(len(values) // epochs)])[i // epochs]
            rows.append({"log": f"{model}.eval", "task": "t", "task_version": 1, "model": model, "sample_id": sample,
                         "epoch": i % epochs + 1, "condition": condition, "cluster": f"f{int(sample[1:]) // 3}",
                         "scorer": "s", "metric": metric, "value": value, "answer": "", "cached": False,
                         "condition_rank": 0})  # fmt: skip
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
    assert "task t, condition c: samples differ between a and b (1 only in a, 1 only in b, e.g. s11)" in message
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


def test_margins_give_an_equivalence_test_and_a_verdict() -> None:
    flat = [0.0, 1.0] * 12  # 24 items in 8 clusters; the tuned model differs on no item
    data = frame({"a/base": flat, "a/tuned": flat})
    row = compare_frame(data, margins={"exact_match": 0.45}).comparisons.iloc[0]
    assert row["margin"] == 0.45 and row["p_equivalence"] < 0.05 and row["verdict"] == "equivalent"
    narrow = compare_frame(data, margins={"exact_match": 0.01}).comparisons.iloc[0]
    assert narrow["p_equivalence"] > 0.05 and narrow["verdict"] == "inconclusive"
    plain = compare_frame(data).comparisons.iloc[0]
    assert np.isnan(plain["p_equivalence"]) and plain["verdict"] == ""


def test_a_margin_can_be_a_share_of_a_positive_control() -> None:
    trained = frame({"a/base": BASE, "a/tuned": TUNED}, condition="same")  # difference 0.5
    reverse = frame({"a/base": BASE, "a/tuned": BASE}, condition="reverse")
    table = compare_frame(pd.concat([trained, reverse]), margins={"exact_match": "25% of same"}).comparisons
    assert table.set_index("condition")["margin"].tolist() == pytest.approx([0.125, 0.125])
    assert (table["margin_rule"] == "25% of same").all()
    with pytest.raises(UserError, match="no task has a condition 'other' with metric exact_match"):
        compare_frame(pd.concat([trained, reverse]), margins={"exact_match": "25% of other"})
    with pytest.raises(UserError, match="shows no difference"):
        compare_frame(reverse, margins={"exact_match": "10% of reverse"})


def test_bad_margins_are_one_line_errors() -> None:
    data = frame({"a/base": BASE, "a/tuned": TUNED})
    with pytest.raises(UserError, match="--margin correct: no metric 'correct' in the logs"):
        compare_frame(data, margins={"correct": 0.1})
    with pytest.raises(UserError, match="a margin must be a positive number"):
        compare_frame(data, margins={"exact_match": -0.1})
    with pytest.raises(UserError, match="expected METRIC=VALUE"):
        parse_margins(["exact_match=-1"])
    assert parse_margins(["exact_match=25% of same", "x=0.2"]) == {"exact_match": "25% of same", "x": 0.2}
    shifted = frame({"a/base": [0.5] * 12, "a/tuned": [0.7] * 12}, metric="p_correct")
    with pytest.raises(UserError, match="p_correct: task t, condition c: an equivalence test needs variation"):
        compare_frame(shifted, margins={"p_correct": 0.1})


def test_epochs_are_repeated_measures_of_an_item() -> None:
    twice = frame({"a/base": [v for v in BASE for _ in range(2)], "a/tuned": [v for v in TUNED for _ in range(2)]},
                  epochs=2)  # fmt: skip
    row = compare_frame(twice).comparisons.iloc[0]
    once = compare_frame(frame({"a/base": BASE, "a/tuned": TUNED})).comparisons.iloc[0]
    assert row["n"] == 12 and row["epochs"] == 2 and row["clusters"] == 4
    assert row["difference"] == pytest.approx(once["difference"])


def test_a_task_files_margins_come_from_its_logs_and_the_command_line_overrides_them(tmp_path: Path) -> None:
    from inspect_ai.log import read_eval_log, write_eval_log

    from prosaic_evals.run import sample_frame

    logs = sorted(
        (Path(__file__).parents[2] / "analysis" / "reversal_curse" / "results" / "logs").glob("*_reversal-curse_*")
    )
    copies = []
    for path in logs:  # the study's exact-match logs of base and variant, as if the task file stated a margin
        log = read_eval_log(str(path))
        log.eval.metadata = {**(log.eval.metadata or {}), "margins": {"exact_match": "25% of p2d_same"}}
        copies.append(tmp_path / path.name)
        write_eval_log(log, str(copies[-1]))
    data = sample_frame(copies)
    table = compare_frame(data).comparisons.set_index("condition")
    assert table.loc["p2d_reverse", "margin"] == pytest.approx(0.25 * abs(table.loc["p2d_same", "difference"]))
    assert table.loc["p2d_reverse", "verdict"] in ("equivalent", "inconclusive")
    given = compare_frame(data, margins={"exact_match": 0.05}).comparisons
    assert (given["margin"] == 0.05).all()


def test_a_metric_left_out_of_some_samples_pairs_the_samples_both_models_have() -> None:
    # every sample has `asked` (the judge's unreadable rate: always defined); `rated` is NaN, so absent, for
    # samples whose verdict could not be read: s0 for the base, s1 and s2 for the variant
    asked = frame({"a/base": BASE, "a/tuned": TUNED}, metric="asked")
    rated = frame({"a/base": BASE, "a/tuned": TUNED}, metric="rated")
    rated = rated[~(((rated["model"] == "a/base") & (rated["sample_id"] == "s0"))
                    | ((rated["model"] == "a/tuned") & rated["sample_id"].isin(["s1", "s2"])))]  # fmt: skip
    rows = compare_frame(pd.concat([asked, rated])).comparisons.set_index("metric")
    kept = [i for i in range(12) if i not in (0, 1, 2)]
    expected = compare_paired([TUNED[i] for i in kept], [BASE[i] for i in kept], [f"f{i // 3}" for i in kept])
    assert rows.loc["rated", "n"] == 9 and rows.loc["rated", "unpaired"] == 3
    assert rows.loc["rated", "difference"] == pytest.approx(expected.difference)
    assert rows.loc["asked", "n"] == 12 and rows.loc["asked", "unpaired"] == 0
    # a sample one model never answered is still refused, whatever the metric
    with pytest.raises(UserError, match="samples differ between a/base and a/tuned"):
        compare_frame(pd.concat([asked, rated])[lambda f: ~((f["model"] == "a/tuned") & (f["sample_id"] == "s5"))])


def test_a_sparse_metric_over_epochs_pairs_items_not_epochs() -> None:
    # 12 items x 2 sampled epochs; for s0-s5 the base has the metric only at epoch 1 and the variant only at epoch 2:
    # no (item, epoch) pair, yet every item has a value from both models, so every item is paired by its mean
    rng = np.random.default_rng(3)
    base, tuned = rng.random(24).round(2).tolist(), rng.random(24).round(2).tolist()
    data = frame({"a/base": base, "a/tuned": tuned}, metric="rated", epochs=2)
    early = data["sample_id"].isin([f"s{i}" for i in range(6)])
    data = data[~(early & (((data["model"] == "a/base") & (data["epoch"] == 2))
                           | ((data["model"] == "a/tuned") & (data["epoch"] == 1))))]  # fmt: skip
    asked = frame({"a/base": base, "a/tuned": tuned}, metric="asked", epochs=2)
    (row,) = compare_frame(pd.concat([asked, data])).comparisons.query("metric == 'rated'").to_dict("records")
    means = data.groupby(["model", "sample_id"], sort=False)["value"].mean()
    items = [f"s{i}" for i in range(12)]
    expected = compare_paired([means["a/tuned", s] for s in items], [means["a/base", s] for s in items],
                              [f"f{i // 3}" for i in range(12)])  # fmt: skip
    assert row["n"] == 12 and row["unpaired"] == 0
    assert row["difference"] == pytest.approx(expected.difference) and row["p_value"] == pytest.approx(expected.p_value)
