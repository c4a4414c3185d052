"""`prosaic-evals probe` end to end on the embedded model: outputs, controls, comparison, traceability."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.test_cli import cli


@pytest.mark.slow
def test_probe_a_task_on_two_models_with_every_control(tmp_path: Path, embedded_dir: Path) -> None:
    out = tmp_path / "probe"
    done = cli("probe", "reversal_curse", "-T", "facts_per_subset=4", "-T", "heldout_templates=2", "--folds", "2",
               "--layers", "0,15,30", "-m", "local", "-m", str(embedded_dir), "-o", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "activations 64/64 texts" in done.stderr  # progress, once per model that was not cached
    results = pd.read_csv(out / "results.csv", keep_default_na=False, na_values=[""])
    models = {"local", str(embedded_dir), "local (random init)"}
    assert set(results.model) == models and set(results.layer) == {0, 15, 30}
    assert set(results.condition) == {"same", "reverse"} and set(results.probe) == {"logistic", "mass_mean"}
    task = results[results.target == "task"]
    assert (task.n == 32).all() and (task.groups == 4).all()  # 8 facts x 2 templates x true/false, 4 pairs
    assert ((task.auroc_low <= task.auroc) & (task.auroc <= task.auroc_high)).all()
    assert task.p_bh.notna().all() and (task.p_bh >= task.p - 1e-12).all()
    assert set(results[results.model == "local"].target) == {"task", "shuffled", "control_task"}

    # the same weights under two names: identical activations, so every paired difference is 0
    comparison = pd.read_csv(out / "comparison.csv")
    assert set(comparison.baseline) == {"local"} and set(comparison.model) == {str(embedded_dir)}
    assert (comparison.difference == 0).all()
    # (at layer 0 the last token's embedding is the same in a true and a false statement: no direction)
    assert (comparison[comparison.layer > 0].cosine > 0.999).all()
    assert (comparison.transfer_baseline_to_model == comparison.accuracy).all()

    # every accuracy in results.csv is recomputed from the per-item predictions
    predictions = pd.read_parquet(out / "predictions.parquet")
    keys = ["model", "condition", "position", "layer", "probe", "target"]
    recomputed = predictions.groupby(keys).correct.mean().rename("recomputed").reset_index()
    merged = results.dropna(subset=["accuracy"]).merge(recomputed, on=keys)
    assert len(merged) == results.accuracy.notna().sum()
    assert (merged.accuracy - merged.recomputed).abs().max() < 1e-12

    meta = json.loads((out / "probe.json").read_text())
    assert meta["question"] == "reversal_curse.truth" and meta["task_parameters"]["facts_per_subset"] == 4
    assert meta["models"]["local"]["identity"] == meta["models"][str(embedded_dir)]["identity"]
    assert meta["data"]["items"] == 64 and meta["figures"] == ["score_by_layer.png", "score_by_layer.pdf"]
    assert (out / "score_by_layer.png").stat().st_size > 10_000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
