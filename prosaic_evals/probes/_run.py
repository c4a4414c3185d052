"""Run a probe job: extract activations for every model, fit probes per layer, compare models.

The job's items are identical for every model, folds are identical for every model and
target, and bootstrap replicates resample the same groups everywhere, so every
difference (task - control task, variant - base) is paired.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prosaic_evals._errors import UserError
from prosaic_evals._paths import write_folder
from prosaic_evals.probes._data import ProbeData, check_labels
from prosaic_evals.probes._extract import Activations, check_layers, extract
from prosaic_evals.probes._fit import CS, INNER_FOLDS, Probe, Scores, check_probe, grouped_folds, out_of_fold
from prosaic_evals.probes._metrics import Bootstrap, Estimate, accuracy, auroc
from prosaic_evals.probes._positions import Located, check_position, locate
from prosaic_evals.probes._weights import load_local, random_like
from prosaic_evals.stats import adjust

CONTROLS = ("shuffled", "control_task", "random_init")
RANDOM_INIT = " (random init)"


@dataclass
class ProbeJob:
    name: str
    data: ProbeData
    models: list[str]
    positions: list[str]
    layers: list[int] | None = None
    probes: list[str] = field(default_factory=lambda: ["logistic", "mass_mean"])
    controls: list[str] = field(default_factory=lambda: list(CONTROLS))
    folds: int = 5
    seed: int = 0
    replicates: int = 2000
    batch_size: int = 16
    provenance: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        if not self.models:
            raise UserError("no model to probe: give at least one with --model")
        if len(set(self.models)) != len(self.models):
            raise UserError(f"models are repeated: {', '.join(self.models)}")
        for control in self.controls:
            if control not in CONTROLS:
                raise UserError(f"unknown control {control!r} (use {', '.join(CONTROLS)})")
        if self.folds < 2:
            raise UserError(f"folds: {self.folds}; grouped cross-validation needs at least 2")
        self.positions = [check_position(p) for p in self.positions]
        check_labels(self.data, self.folds)
        for probe in self.probes:
            check_probe(probe, len(set(self.data.labels)))


@dataclass(frozen=True)
class ProbeResult:
    results: pd.DataFrame
    comparison: pd.DataFrame
    output: Path


def run_probe(job: ProbeJob, output: Path, say: Callable[[str], None] = lambda _: None) -> ProbeResult:
    job.check()
    acts, located, identities = _extract_all(job, say)
    results, comparison, predictions = fit_probes(job, acts, located, say)
    meta = _meta(job, acts, identities)
    return ProbeResult(results, comparison, _write(output, results, comparison, predictions, meta, say))


def _extract_all(job: ProbeJob, say: Callable[[str], None]) -> tuple[dict[str, Activations], Located, dict[str, str]]:
    acts: dict[str, Activations] = {}
    identities: dict[str, str] = {}
    located: Located | None = None
    for number, ref in enumerate(job.models):
        say(f"[{number + 1}/{len(job.models)}] loading {ref}")
        lm = load_local(ref)
        layers = check_layers(job.layers, lm.n_layers)
        here = locate(lm.tokenizer, job.data.texts, job.data.fields, job.positions, job.data.where())
        located = located or here
        variants = [lm] + ([random_like(lm, job.seed)] if number == 0 and "random_init" in job.controls else [])
        for model in variants:

            def progress(done: int, total: int, name: str = model.name) -> None:
                say(f"  {name}: activations {done}/{total} texts")

            acts[model.name] = extract(
                model,
                here,
                positions=job.positions,
                layers=layers,
                batch_size=job.batch_size,
                progress=progress,
            )
            identities[model.name] = model.identity
        del lm, variants
    assert located is not None
    return acts, located, identities


def fit_probes(
    job: ProbeJob, acts: dict[str, Activations], located: Located, say: Callable[[str], None]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    data = job.data
    classes = sorted(set(data.labels))
    codes = np.array([classes.index(label) for label in data.labels])
    real = [m for m in acts if not m.endswith(RANDOM_INIT)]
    layers = sorted(set.intersection(*(set(a.layers) for a in acts.values())))
    rows: list[dict[str, Any]] = []
    compared: list[dict[str, Any]] = []
    predictions: list[pd.DataFrame] = []
    for condition in dict.fromkeys(data.conditions):
        idx = np.array([i for i, c in enumerate(data.conditions) if c == condition])
        y, groups = codes[idx], np.array(data.groups)[idx]
        fold = grouped_folds(y, groups, job.folds, job.seed)
        boot = Bootstrap.of(groups, job.replicates, job.seed)
        for k, position in enumerate(job.positions):
            targets = _targets(job, y, np.array(located.tokens_at(k))[idx], fold)
            for layer in layers:
                say(f"  fitting: {'condition ' + condition + ', ' if condition else ''}{position}, layer {layer}")
                x = {m: np.asarray(a.get(position, layer))[idx] for m, a in acts.items()}
                for probe in job.probes:
                    key = {"condition": condition, "position": position, "layer": layer, "probe": probe}
                    task: dict[str, Scores] = {}
                    for model, xm in x.items():
                        made: dict[str, tuple[Scores | None, np.ndarray | None, dict[str, Any]]] = {}
                        for target, labels in targets.items():
                            if target != "task" and model not in real:
                                continue  # controls of the random-init model itself say nothing new
                            scores = (
                                None if labels is None else out_of_fold(probe, xm, labels, groups, fold, seed=job.seed)
                            )
                            row = {"model": model, **key, "target": target, **_metrics(scores, labels, boot)}
                            rows.append(row)
                            made[target] = (scores, labels, row)
                            if scores is not None and labels is not None:
                                predictions.append(_predictions(model, key, target, data, idx, classes, labels, scores))
                        task[model] = made["task"][0]  # type: ignore[assignment]
                        made["task"][2].update(_selectivity(made, y, boot))
                    compared += _compare(job, key, x, task, y, groups, fold, boot, real)
    results = _with_bh(pd.DataFrame(rows), ["model", "condition", "position", "probe", "target"])
    comparison = _with_bh(pd.DataFrame(compared), ["model", "baseline", "condition", "position", "probe"])
    return results, comparison, pd.concat(predictions, ignore_index=True) if predictions else pd.DataFrame()


def _targets(job: ProbeJob, y: np.ndarray, types: np.ndarray, fold: np.ndarray) -> dict[str, np.ndarray | None]:
    """The task labels and the control labels, on the same items and folds."""
    rng = np.random.default_rng(job.seed)
    targets: dict[str, np.ndarray | None] = {"task": y}
    if "shuffled" in job.controls:
        # permuted within each fold: every fold keeps the task's class counts. A permutation across
        # folds unbalances them, and pooled out-of-fold scores then sit below chance.
        shuffled = y.copy()
        for f in np.unique(fold):
            shuffled[fold == f] = rng.permutation(y[fold == f])
        targets["shuffled"] = shuffled
    if "control_task" in job.controls:
        # Hewitt & Liang (2019): each word type at the position gets a random label drawn from
        # the task's label distribution; a probe solves it only by memorising word types.
        kinds = np.unique(types)
        mapping = dict(zip(kinds.tolist(), rng.choice(y, size=len(kinds)).tolist(), strict=True))
        control = np.array([mapping[t] for t in types.tolist()])
        usable = all(len(np.unique(control[fold != f])) == len(np.unique(y)) for f in np.unique(fold))
        targets["control_task"] = control if usable else None  # too few word types: reported as NaN
    return targets


METRICS = ("accuracy", "accuracy_low", "accuracy_high", "auroc", "auroc_low", "auroc_high", "p")


def _metrics(scores: Scores | None, labels: np.ndarray | None, boot: Bootstrap) -> dict[str, Any]:
    """Accuracy and AUROC with cluster-bootstrap intervals; p: AUROC against 0.5."""
    if scores is None or labels is None:
        return {"n": 0, "groups": 0, "chance": np.nan, **dict.fromkeys(METRICS, np.nan)}
    correct = (scores.predicted == labels).astype(float)
    acc = Estimate.of(float(correct.mean()), accuracy(correct, boot.weights))
    auc = Estimate.of(float(auroc(scores.scores, labels)[0]), auroc(scores.scores, labels, boot.weights), 0.5)
    return {
        "n": len(labels),
        "groups": boot.groups,
        "chance": float(np.bincount(labels).max() / len(labels)),
        "accuracy": acc.value,
        "accuracy_low": acc.low,
        "accuracy_high": acc.high,
        "auroc": auc.value,
        "auroc_low": auc.low,
        "auroc_high": auc.high,
        "p": auc.p,
    }


def _selectivity(made: dict[str, Any], y: np.ndarray, boot: Bootstrap) -> dict[str, float]:
    """Task accuracy minus control-task accuracy on the same items (Hewitt & Liang's selectivity)."""
    task, control = made["task"][0], made.get("control_task", (None,))[0]
    if task is None or control is None:
        return {}
    control_labels = made["control_task"][1]
    t, c = (task.predicted == y).astype(float), (control.predicted == control_labels).astype(float)
    est = Estimate.of(float(t.mean() - c.mean()), accuracy(t, boot.weights) - accuracy(c, boot.weights))
    return {"selectivity": est.value, "selectivity_low": est.low, "selectivity_high": est.high}


def _compare(
    job: ProbeJob,
    key: dict[str, Any],
    x: dict[str, np.ndarray],
    task: dict[str, Scores],
    y: np.ndarray,
    groups: np.ndarray,
    fold: np.ndarray,
    boot: Bootstrap,
    real: list[str],
) -> list[dict[str, Any]]:
    """Each model against the first: per-layer differences, probe transfer both ways, direction cosine."""
    if len(real) < 2:
        return []
    base, out = real[0], []
    base_correct = (task[base].predicted == y).astype(float)
    base_fit = Probe(key["probe"], job.seed).fit(x[base], y, groups)
    for model in real[1:]:
        correct = (task[model].predicted == y).astype(float)
        acc = Estimate.of(
            float(correct.mean() - base_correct.mean()),
            accuracy(correct, boot.weights) - accuracy(base_correct, boot.weights),
            0.0,
        )
        auc = Estimate.of(
            float(auroc(task[model].scores, y)[0] - auroc(task[base].scores, y)[0]),
            auroc(task[model].scores, y, boot.weights) - auroc(task[base].scores, y, boot.weights),
            0.0,
        )
        forward = out_of_fold(key["probe"], x[base], y, groups, fold, seed=job.seed, x_eval=x[model])
        backward = out_of_fold(key["probe"], x[model], y, groups, fold, seed=job.seed, x_eval=x[base])
        fitted = Probe(key["probe"], job.seed).fit(x[model], y, groups)
        cosine = float(np.mean(np.sum(base_fit.direction * fitted.direction, axis=1)))
        out.append(
            {
                "model": model,
                "baseline": base,
                **key,
                "n": len(y),
                "groups": boot.groups,
                "accuracy": float(correct.mean()),
                "accuracy_baseline": float(base_correct.mean()),
                "difference": acc.value,
                "difference_low": acc.low,
                "difference_high": acc.high,
                "p": acc.p,
                "auroc_difference": auc.value,
                "auroc_difference_low": auc.low,
                "auroc_difference_high": auc.high,
                "p_auroc": auc.p,
                "transfer_baseline_to_model": float((forward.predicted == y).mean()),
                "transfer_model_to_baseline": float((backward.predicted == y).mean()),
                "cosine": cosine,
            }
        )
    return out


def _predictions(
    model: str,
    key: dict[str, Any],
    target: str,
    data: ProbeData,
    idx: np.ndarray,
    classes: list[str],
    labels: np.ndarray,
    scores: Scores,
) -> pd.DataFrame:
    """Per-item out-of-fold predictions: every number in the results can be recomputed from these."""
    frame = pd.DataFrame(
        {
            "id": np.array(data.ids)[idx],
            "group": np.array(data.groups)[idx],
            "label": np.array(classes)[labels],
            "predicted": np.array(classes)[scores.predicted],
            "correct": (scores.predicted == labels).astype(int),
            "score": scores.scores[:, 0] if scores.scores.shape[1] == 1 else scores.scores.max(1),
        }
    )
    for column, value in reversed([("model", model), *key.items(), ("target", target)]):
        frame.insert(0, column, value)
    return frame


def _with_bh(frame: pd.DataFrame, series: list[str]) -> pd.DataFrame:
    """Benjamini-Hochberg across the layers of each series (model, condition, position, probe, target)."""
    if frame.empty:
        return frame
    frame = frame.copy()
    for column in [c for c in ("p", "p_auroc") if c in frame.columns]:
        frame[f"{column}_bh"] = np.nan
        for _, part in frame.groupby(series, sort=False, dropna=False):
            ok = part[column].notna()
            if ok.any():
                frame.loc[part.index[ok], f"{column}_bh"] = adjust(part.loc[ok, column].tolist(), "bh")
    return frame


def _meta(job: ProbeJob, acts: dict[str, Activations], identities: dict[str, str]) -> dict[str, Any]:
    import sklearn

    import prosaic_evals

    data = job.data
    return {
        "name": job.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **job.provenance,
        "data": {
            "source": data.source,
            "digest": data.digest(),
            "items": len(data),
            "groups": len(set(data.groups)),
            "labels": sorted(set(data.labels)),
            "conditions": {c: data.conditions.count(c) for c in dict.fromkeys(data.conditions)},
        },
        "models": {
            m: {"identity": identities[m], "layers": acts[m].layers, "activations": str(acts[m].path)} for m in acts
        },
        "positions": job.positions,
        "probes": job.probes,
        "controls": job.controls,
        "folds": job.folds,
        "seed": job.seed,
        "bootstrap_replicates": job.replicates,
        "methods": {
            "folds": "StratifiedGroupKFold by group; scaler, means and C fitted on training folds only",
            "logistic": f"L2 logistic regression, C by grouped inner {INNER_FOLDS} fold CV over {CS}",
            "mass_mean": "difference of class means, threshold half-way",
            "intervals": "95% percentile cluster bootstrap (groups resampled)",
            "p": "AUROC vs 0.5 (differences vs 0) by inverting the cluster-bootstrap interval",
            "correction": "Benjamini-Hochberg across layers within each series",
        },
        "versions": {"prosaic_evals": prosaic_evals.__version__, "scikit-learn": sklearn.__version__},
    }


def _write(
    output: Path,
    results: pd.DataFrame,
    comparison: pd.DataFrame,
    predictions: pd.DataFrame,
    meta: dict[str, Any],
    say: Callable[[str], None],
) -> Path:
    """Everything into a temporary folder, then renamed: a failed run leaves no half-written output."""
    from prosaic_evals.probes._figure import plot

    with write_folder(output, marker="probe.json") as tmp:
        results.to_csv(tmp / "results.csv", index=False)
        if not comparison.empty:
            comparison.to_csv(tmp / "comparison.csv", index=False)
        predictions.to_parquet(tmp / "predictions.parquet", index=False)
        meta["figures"] = plot(results, tmp / "score_by_layer", say)
        (tmp / "probe.json").write_text(json.dumps(meta, indent=2, default=str))
    return output
