"""Probes, grouped folds, controls and model comparisons on synthetic activations (fast, no model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from prosaic_evals._errors import UserError
from prosaic_evals.probes import Activations, Located, ProbeData, ProbeJob
from prosaic_evals.probes._fit import Probe, check_probe, grouped_folds, out_of_fold
from prosaic_evals.probes._metrics import auroc
from prosaic_evals.probes._run import fit_probes

D = 32


def entity_data(n_entities: int = 40, per_entity: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Activations dominated by who the entity is: each entity a random vector plus small noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_entities, D))
    groups = np.repeat(np.arange(n_entities), per_entity)
    return centres[groups] + 0.1 * rng.normal(size=(len(groups), D)), groups


def auroc_of(kind: str, x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int = 5) -> float:
    scores = out_of_fold(kind, x, y, groups, grouped_folds(y, groups, folds, 0))
    return float(auroc(scores.scores, y)[0])


@pytest.mark.parametrize("kind", ["logistic", "mass_mean"])
def test_grouped_folds_prevent_leakage_of_a_label_random_per_entity(kind: str) -> None:
    x, groups = entity_data()
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, groups.max() + 1)[groups]  # a coin flip per entity: nothing to generalise
    grouped = auroc_of(kind, x, y, groups)
    by_item = auroc_of(kind, x, y, np.arange(len(y)))  # folds by item: entities in train and test
    assert abs(grouped - 0.5) < 0.15, grouped
    assert by_item > 0.85, by_item  # the leak the grouping prevents is real


def test_folds_keep_groups_together_and_classes_mixed() -> None:
    _, groups = entity_data()
    y = np.tile([0, 1], len(groups) // 2)
    fold = grouped_folds(y, groups, 5, 0)
    assert all(len(set(fold[groups == g])) == 1 for g in np.unique(groups))
    assert all(set(y[fold == f]) == {0, 1} for f in range(5))


@pytest.mark.parametrize("kind", ["logistic", "mass_mean"])
def test_a_linear_signal_is_found_and_its_direction_recovered(kind: str) -> None:
    rng = np.random.default_rng(2)
    x, groups = entity_data()
    direction = rng.normal(size=D)
    direction /= np.linalg.norm(direction)
    y = rng.integers(0, 2, len(groups))
    x = x + 2 * np.outer(2 * y - 1, direction)
    assert auroc_of(kind, x, y, groups) > 0.9
    probe = Probe(kind).fit(x, y, groups)
    assert float(probe.direction[0] @ direction) > 0.5


def test_multiclass_logistic_and_the_binary_only_mass_mean() -> None:
    rng = np.random.default_rng(3)
    x, groups = entity_data()
    y = rng.integers(0, 3, len(groups))
    x = x + 2 * np.eye(D)[y]
    assert auroc_of("logistic", x, y, groups) > 0.9
    with pytest.raises(UserError, match="probe mass_mean needs two classes, the labels have 3"):
        check_probe("mass_mean", 3)
    with pytest.raises(UserError, match="unknown probe 'svm'"):
        check_probe("svm", 2)


def write_activations(path: Path, array: np.ndarray, positions: list[str], layers: list[int]) -> Activations:
    """A folder in extract's format: (texts, positions, layers, d) in one chunk."""
    path.mkdir(parents=True)
    np.save(path / "chunk-00000.npy", array.astype(np.float32))
    meta = {"identity": path.name, "positions": positions, "layers": layers, "n": len(array)}
    (path / "activations.json").write_text(json.dumps(meta))
    return Activations.open(path)


def test_controls_and_comparisons_on_synthetic_models(tmp_path: Path) -> None:
    """Layer 1 of `trained` carries the label, layer 0 and every layer of `base` do not."""
    rng = np.random.default_rng(4)
    x, groups = entity_data(n_entities=30, per_entity=10)
    n = len(groups)
    y = np.tile([0, 1], n // 2)
    direction = rng.normal(size=D) / np.sqrt(D)
    signal = x + 3 * np.outer(2 * y - 1, direction)
    trained = np.stack([x, signal], axis=1)[:, None]  # (n, 1 position, 2 layers, D)
    base = np.stack([x, x + 0.3 * rng.normal(size=x.shape)], axis=1)[:, None]
    acts = {
        "base": write_activations(tmp_path / "base", base, ["end"], [0, 1]),
        "trained": write_activations(tmp_path / "trained", trained, ["end"], [0, 1]),
        "base (random init)": write_activations(tmp_path / "rand", rng.normal(size=base.shape), ["end"], [0, 1]),
    }
    data = ProbeData(
        ids=[f"i{i}" for i in range(n)],
        texts=["t"] * n,
        labels=["no", "yes"] * (n // 2),
        groups=[f"g{g}" for g in groups],
        conditions=[""] * n,
        source="synthetic",
    )
    types = rng.integers(0, 12, n)  # the token type at the position, for the control task
    located = Located([[int(t)] for t in types], [[0] for _ in range(n)])
    job = ProbeJob("synthetic", data, ["base", "trained"], ["end"], probes=["logistic"], replicates=500)
    results, comparison, predictions = fit_probes(job, acts, located, lambda _: None)

    def row(model: str, layer: int, target: str = "task") -> dict:
        found = results[(results.model == model) & (results.layer == layer) & (results.target == target)]
        assert len(found) == 1
        return found.iloc[0].to_dict()

    strong = row("trained", 1)
    assert strong["auroc"] > 0.95 and strong["auroc_low"] > 0.9 and strong["p_bh"] < 0.01
    assert strong["groups"] == 30 and strong["n"] == n and strong["chance"] == 0.5
    for model, layer in (("base", 0), ("base", 1), ("trained", 0), ("base (random init)", 1)):
        null = row(model, layer)
        assert null["auroc_low"] < 0.5 < null["auroc_high"] or abs(null["auroc"] - 0.5) < 0.15, (model, layer)
    shuffled = row("trained", 1, "shuffled")
    # near chance; cross-validated scores under the null lean a little below it (a held-out item is
    # missing from its own class's training mean), and the interval leaves out training variance
    assert abs(shuffled["auroc"] - 0.5) < 0.1 and shuffled["auroc"] < strong["auroc_low"]
    control = row("trained", 1, "control_task")
    assert control["accuracy"] < 0.75  # word types here carry no label, so the control task is not learnt
    assert strong["selectivity"] == pytest.approx(strong["accuracy"] - control["accuracy"])
    assert strong["selectivity_low"] > 0
    assert set(results[results.model == "base (random init)"].target) == {"task"}

    layer1 = comparison[comparison.layer == 1].iloc[0]
    assert layer1.model == "trained" and layer1.baseline == "base"
    assert layer1.difference > 0.3 and layer1.difference_low > 0 and layer1.p_bh < 0.05
    assert layer1.transfer_model_to_baseline < 0.75  # the trained model's probe finds nothing in the base
    layer0 = comparison[comparison.layer == 0].iloc[0]
    assert layer0.cosine > 0.99  # identical activations at layer 0: the same direction

    # every number can be recomputed from the per-item predictions
    mine = predictions[(predictions.model == "trained") & (predictions.layer == 1) & (predictions.target == "task")]
    assert len(mine) == n and mine.correct.mean() == pytest.approx(strong["accuracy"])
    assert set(mine.id) == set(data.ids)


def test_single_class_and_too_few_groups_are_one_line_errors() -> None:
    from prosaic_evals.probes._data import check_labels

    one = ProbeData(
        ids=["1", "2"], texts=["a", "b"], labels=["x", "x"], groups=["g1", "g2"], conditions=["", ""], source="my.jsonl"
    )
    with pytest.raises(UserError, match=r"my.jsonl: labels have a single class \('x'\); a probe needs two or more"):
        check_labels(one, 2)
    few = ProbeData(
        ids=["1", "2"], texts=["a", "b"], labels=["x", "y"], groups=["g1", "g1"], conditions=["", ""], source="my.jsonl"
    )
    with pytest.raises(UserError, match="1 groups cannot be split into 5 grouped folds"):
        check_labels(few, 5)


def test_user_probe_files(tmp_path: Path) -> None:
    from prosaic_evals.probes import read_probe_file

    good = tmp_path / "mine.jsonl"
    good.write_text(
        '{"text": "Ada is tall.", "label": "yes", "group": "ada", "name": "Ada"}\n'
        '{"text": "Bo is short.", "label": "no", "group": "bo", "name": "Bo"}\n'
    )
    data = read_probe_file(good)
    assert data.labels == ["yes", "no"] and data.fields[1] == {"name": "Bo"} and data.ids == ["1", "2"]
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nAda,yes\n")
    with pytest.raises(UserError, match=r"bad.csv: missing column\(s\) group"):
        read_probe_file(bad)
    blank = tmp_path / "blank.csv"
    blank.write_text("text,label,group\nAda,yes,a\nBo,,b\n")
    with pytest.raises(UserError, match=r"blank\.csv:3: empty 'label'"):
        read_probe_file(blank)


def test_shuffled_labels_keep_each_folds_class_counts() -> None:
    """Permuting across folds unbalances them and pushes pooled out-of-fold scores below chance."""
    from collections import Counter

    from prosaic_evals.probes._run import _targets

    _, groups = entity_data()
    y = np.random.default_rng(5).integers(0, 2, len(groups))
    fold = grouped_folds(y, groups, 5, 0)
    data = ProbeData(ids=[str(i) for i in range(len(y))], texts=["t"] * len(y), labels=["a"] * len(y),
                     groups=[str(g) for g in groups], conditions=[""] * len(y))  # fmt: skip
    job = ProbeJob("x", data, ["m"], ["end"], controls=["shuffled"])
    shuffled = _targets(job, y, np.zeros(len(y), dtype=int), fold)["shuffled"]
    assert shuffled is not None and not np.array_equal(shuffled, y)
    for f in range(5):
        assert Counter(shuffled[fold == f].tolist()) == Counter(y[fold == f].tolist())
