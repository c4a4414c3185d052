"""Study matrices: cells from bases x seeds x recipes, and pooling their comparisons over seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prosaic_evals.finetune import FineTuneSpec
from prosaic_evals.run import Comparison
from prosaic_evals.study._matrix import Recipe, expand, pool_seeds

RECIPE = FineTuneSpec.model_validate(
    {"name": "rc", "data": {"task": "reversal_curse"}, "hyperparameters": {"epochs": 2}}
)


def test_every_combination_is_a_cell_with_its_own_identity() -> None:
    cells = expand(
        RECIPE,
        ["local", "org/other-model"],
        [0, 1, 2],
        [Recipe(name="r16"), Recipe(name="r4", hyperparameters={"lora_rank": 4})],
    )
    assert len(cells) == 12 and len({c.finetune.name for c in cells}) == 12
    identities = {c.finetune.identity("data", c.base) for c in cells}
    assert len(identities) == 12  # seed, base and recipe all change the variant
    r4 = next(c for c in cells if c.recipe == "r4")
    assert r4.finetune.hyperparameters.lora_rank == 4 and r4.finetune.hyperparameters.epochs == 2
    (one,) = expand(RECIPE, ["local"], [0], [Recipe(name="default")])
    assert one.finetune == RECIPE  # a one-cell study is the study as before


@pytest.mark.parametrize(
    ("bases", "seeds", "recipes", "message"),
    [
        ([], [0], [Recipe(name="a")], "at least one base"),
        (["local"], [0], [Recipe(name="a"), Recipe(name="a")], "the name 'a' is used twice"),
    ],
)
def test_bad_matrices_are_refused(bases: list[str], seeds: list[int], recipes: list[Recipe], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        expand(RECIPE, bases, seeds, recipes)


def _compared(shift: dict[str, float], seed: int, items: int = 20, data_seed: int = 0) -> Comparison:
    """A cell's comparison on shared items: per condition, variant = base + shift + seed noise, 4 items a cluster."""
    rng = np.random.default_rng(1000 * data_seed + seed)
    items_rng = np.random.default_rng(data_seed)  # the items (and so the base's scores) depend on the data seed
    rows, table = [], []
    for condition, d in shift.items():
        base = items_rng.normal(0, 1, items)
        variant = base + d + items_rng.normal(0, 0.2, items) + rng.normal(0, 0.05, items)
        for model, values in (("base", base), ("variant", variant)):
            rows += [{"task": "t", "condition": condition, "metric": "m", "model": model, "sample_id": f"{condition}{i}",
                      "epoch": 1, "cluster": f"c{i // 4}", "value": v} for i, v in enumerate(values)]  # fmt: skip
        diff = float((variant - base).mean())
        table.append({"task": "t", "condition": condition, "metric": "m", "model": "variant", "baseline": "base",
                      "difference": diff, "ci_low": diff - 0.1, "ci_high": diff + 0.1})  # fmt: skip
    return Comparison("base", "holm", pd.DataFrame(), pd.DataFrame(table), pd.DataFrame(rows))


def test_seeds_on_the_same_items_are_pooled_as_crossed_effects() -> None:
    cells = expand(RECIPE, ["local"], [0, 1, 2], [Recipe(name="default")])
    compared = {cell: _compared({"c": 0.25}, cell.seed) for cell in cells}
    (row,) = pool_seeds(compared, {"m": 0.5}).to_dict(orient="records")
    means = [c.comparisons["difference"].iloc[0] for c in compared.values()]
    assert row["seeds"] == 3 and row["difference"] == pytest.approx(np.mean(means))
    assert row["ci_low"] < row["difference"] < row["ci_high"] and np.isfinite(row["p_equivalence"])
    assert row["per_seed"] == "; ".join(f"{s}: {m:+.3f}" for s, m in enumerate(means))
    assert "crossed random effects" in row["method"]


def test_a_base_given_as_a_long_path_keeps_cells_and_variants_apart_and_is_served_by_vllm() -> None:
    base = "/tmp/pytest-of-someone/pytest-123/a-rather-long-folder-name/tiny-smollm2"
    cells = expand(RECIPE.model_copy(update={"name": "a-long-recipe-name-for-this"}), [base, "org/model"],
                   [0, 1], [Recipe(name="default")])  # fmt: skip
    keys = [c.key for c in cells]
    assert len(set(keys)) == 4 and keys[0].startswith("default-tiny-smollm2-") and keys[0].endswith("-s0")
    assert keys[2:] == ["default-org-model-s0", "default-org-model-s1"]
    names = [c.finetune.name for c in cells]
    assert len(set(names)) == 4 and all(len(n) <= 64 for n in names)  # a cut name no longer loses the seed
    assert [c.model for c in cells[::2]] == [f"vllm/{base}", "vllm/org/model"]  # evaluated as vLLM serves them
    (one,) = expand(RECIPE, ["local"], [0], [Recipe(name="default")])
    assert one.model == "local"


def test_a_relative_margin_is_a_share_of_the_pooled_control_difference() -> None:
    cells = expand(RECIPE, ["local"], [0, 1, 2], [Recipe(name="default")])
    compared = {cell: _compared({"trained": 2.0, "reverse": 0.0}, cell.seed, items=80) for cell in cells}
    rows = pool_seeds(compared, {"m": "10% of trained"}).set_index("condition")
    assert rows.loc["reverse", "margin"] == pytest.approx(0.1 * rows.loc["trained", "difference"])
    assert rows.loc["reverse", "verdict"] == "equivalent" and rows.loc["trained", "verdict"] == "different"
    assert pool_seeds(compared, {"m": "10% of nowhere"})["margin"].isna().all()  # no such condition: no claim


def test_data_seeds_cross_the_matrix_and_change_both_training_data_and_items() -> None:
    cells = expand(RECIPE, ["local"], [0, 1], [Recipe(name="default")], [3, 4])
    assert [c.key for c in cells] == ["default-local-s0-d3", "default-local-s0-d4", "default-local-s1-d3",
                                      "default-local-s1-d4"]  # fmt: skip
    assert {c.finetune.data.task_args["seed"] for c in cells} == {3, 4}
    assert cells[1].task_args({"seed": 0, "facts_per_subset": 2}) == {"seed": 4, "facts_per_subset": 2}
    compared = {c: _compared({"c": 0.3}, c.seed, data_seed=c.data_seed or 0) for c in cells}
    (row,) = pool_seeds(compared).to_dict(orient="records")  # crossed within a data seed, meta-analysed across
    assert row["seeds"] == 4 and row["per_seed"].startswith("0/d3: ") and "Paule-Mandel" in row["method"]
