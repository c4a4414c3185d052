"""The methods paragraphs, written from what the logs, the study and the probe results recorded."""

from __future__ import annotations

from typing import Any

import pandas as pd

from prosaic_evals.report._evidence import Evidence
from prosaic_evals.report._figures import short

CORRECTIONS = {"holm": "Holm's step-down correction", "bh": "the Benjamini-Hochberg procedure", "none": "no correction"}


def models_paragraph(evidence: Evidence, study: dict[str, Any] | None) -> str:
    records: dict[str, dict[str, Any]] = {}
    for log in evidence.logs:
        records.update(log.metadata.get("models") or {})
    variant = (study or {}).get("variant")
    parts = []
    for model in evidence.models:
        record = records.get(model, {})
        recipe = record.get("variant") or (variant if variant and model.endswith("/" + variant["name"]) else None)
        identity = record.get("identity")
        if identity is None and variant and short(model) == variant["base"]:
            identity = variant["base_identity"]  # a study's base model, named in its variant's record
        text = short(model)
        if identity or not recipe:  # a variant without a logged identity is identified by its recipe below
            text += f" (identity {identity or 'not recorded in the log'})"
        if recipe:
            spec = recipe.get("spec", {})
            hp = spec.get("hyperparameters", {})
            detail = [f"{recipe['method']} fine-tune of {recipe['base']} ({recipe['base_identity']})",
                      f"recipe hash {recipe['identity']}", f"training data {recipe['data_source']} "
                      f"(hash {recipe['data_hash']})", f"seed {recipe['seed']}"]  # fmt: skip
            if hp:
                detail.append(", ".join(f"{k} {v}" for k, v in hp.items() if v is not None))
            text += ": " + "; ".join(detail)
        parts.append(text)
    return "Models. " + "; ".join(parts) + "."


def tasks_paragraph(evidence: Evidence, scores: pd.DataFrame) -> str:
    """Per family its protocol, data version and parameters (once when its tasks share them), then each task."""
    first = {log.task: log for log in reversed(evidence.logs)}
    families: dict[str, list[Any]] = {}
    for task in dict.fromkeys(log.task for log in evidence.logs):
        log = first[task]
        families.setdefault(log.metadata.get("family", "?"), []).append(log)
    sentences = []
    for family, logs in families.items():
        meta = logs[0].metadata
        shared = all(log.metadata.get("parameters") == meta.get("parameters") for log in logs)
        intro = f"Family {family}"
        details = [f"protocol: {meta['citation']}"] if meta.get("citation") else []
        details.append(f"data version {meta.get('data_version', '?')}")
        if shared:
            details.append(f"parameters {_params(meta)}")
        sentences.append(f"{intro} ({'; '.join(details)}).")
        for log in logs:
            sentences.append(_task_sentence(log, scores, with_parameters=not shared))
    versions = sorted({f"inspect-ai {log.inspect_version}" for log in evidence.logs if log.inspect_version}
                      | {f"prosaic-evals {log.metadata['prosaic_evals_version']}" for log in evidence.logs
                         if log.metadata.get("prosaic_evals_version")})  # fmt: skip
    return "Tasks. " + " ".join(sentences) + (f" Software: {', '.join(versions)}." if versions else "")


def _task_sentence(log: Any, scores: pd.DataFrame, *, with_parameters: bool) -> str:
    meta = log.metadata
    scorer = meta.get("scorer") or {}
    scoring = ", ".join(f"{k} {v}" for k, v in scorer.items() if k != "name")
    mine = scores[scores["task"] == log.task]
    n = f"{_span(mine['n'])} items in {_span(mine['clusters'])} clusters"
    decoding = ", ".join(f"{k} {v}" for k, v in log.decoding.items()) or "none (scored by log-probabilities)"
    conditions = ", ".join(meta.get("conditions") or sorted(set(mine["condition"])))
    parameters = f"; parameters {_params(meta)}" if with_parameters else ""
    return (
        f"Task {log.task} (version {log.task_version}{parameters}): conditions {conditions}, {n} per condition "
        f"and model; scorer {scorer.get('name', '?')}{' (' + scoring + ')' if scoring else ''}; decoding: {decoding}."
    )


def _params(meta: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in (meta.get("parameters") or {}).items()) or "defaults"


def statistics_paragraph(scores: pd.DataFrame, comparisons: list[dict[str, Any]], correction: str,
                         effect: float, effect_dz: float) -> str:  # fmt: skip
    methods = sorted(set(scores["interval"].str.replace(r" \(n_eff \d+\)", "", regex=True)))
    text = (
        f"Statistics. Scores are reported with 95% intervals ({'; '.join(methods)}): proportions use Wilson's "
        "interval with the sample size deflated by the design effect of items sharing a cluster (a fact or "
        "entity), means a cluster-robust standard error with a t quantile on clusters - 1 degrees of freedom."
    )
    if comparisons:
        tests = sorted({c["test"].split(" (")[0] for c in comparisons})
        family = sum(1 for c in comparisons if c["p_adjusted"] == c["p_adjusted"])
        text += (
            " Models are compared item by item on identical samples: differences are model - baseline with "
            "Newcombe's paired interval (binary scores; clustered by the design effect) or a cluster-robust t "
            f"interval (continuous scores); tests: {', '.join(tests)} (permutations flip whole clusters). "
            f"p-values are adjusted with {CORRECTIONS[correction]} over the {family} comparisons of whole metrics. "
            "Effect sizes: Cohen's h and the discordant-pair odds ratio (binary), Cohen's dz (continuous). "
            "Power: the minimum detectable effect (MDE) is the smallest difference detected with 80% power at "
            "alpha 0.05 given the number of clusters and the observed standard error (statsmodels' t-test power); "
            f"n needed is the number of items (clusters as sampled) for a difference of {effect:g} on binary "
            f"metrics or a standardized dz of {effect_dz:g} on continuous ones."
        )
    return text


def probes_paragraph(meta: dict[str, Any]) -> str:
    data = meta.get("data", {})
    models = "; ".join(f"{name} ({m.get('identity')})" for name, m in meta.get("models", {}).items())
    methods = meta.get("methods", {})
    first: dict[str, Any] = next(iter(meta.get("models", {}).values()), {})
    layers = first.get("layers", [])
    return (
        f"Probes ({meta.get('question')}). {data.get('items')} statements in {data.get('groups')} groups from "
        f"{data.get('source')}, labels {', '.join(map(str, data.get('labels', [])))}; models {models}; positions "
        f"{', '.join(meta.get('positions', []))}; layers {', '.join(map(str, layers))}. Probes: "
        f"{'; '.join(f'{k}: {v}' for k, v in methods.items())}. Controls: {', '.join(meta.get('controls', []))}; "
        f"{meta.get('folds')} folds, seed {meta.get('seed')}, {meta.get('bootstrap_replicates')} bootstrap "
        "replicates. The best layer is chosen after the fact; its p-value is corrected across layers."
    )


def _span(values: pd.Series) -> str:
    if values.empty:
        return "?"
    low, high = int(values.min()), int(values.max())
    return str(low) if low == high else f"{low}-{high}"
