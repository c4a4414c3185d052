"""The methods paragraphs, written from what the logs, the study and the probe results recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from prosaic_evals._paths import display_path
from prosaic_evals.report._evidence import Evidence
from prosaic_evals.report._figures import short

CORRECTIONS = {"holm": "Holm's step-down correction", "bh": "the Benjamini-Hochberg procedure", "none": "no correction"}


def model_records(evidence: Evidence, study: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Per model what the logs recorded, `identity` (None if not recorded) and `recipe`, else what the study
    recorded: the given study's, or that of a study whose results folder holds the logs (a comparison of two
    studies' logs)."""
    logged: dict[str, dict[str, Any]] = {}
    for log in evidence.logs:
        logged.update(log.metadata.get("models") or {})
    studies = [study or {}, *_studies_holding(evidence)]
    variants = [s["variant"] for s in studies if s.get("variant")]
    found = {}
    for model in evidence.models:
        record = logged.get(model, {})
        recipe = record.get("variant") or next((v for v in variants if model.endswith("/" + v["name"])), None)
        identity = record.get("identity")
        if identity is None:  # a study's base model, named in its variant's record
            identity = next((v["base_identity"] for v in variants if short(model) == v["base"]), None)
        found[model] = {"identity": identity if identity != model else None, "recipe": recipe}
    return found


def _studies_holding(evidence: Evidence) -> list[dict[str, Any]]:
    """The study.json of each study results folder whose `logs/` holds some of the logs."""
    folders = {Path(log.path).parent.parent for log in evidence.logs}
    return [json.loads((f / "study.json").read_text()) for f in sorted(folders) if (f / "study.json").is_file()]


def models_note(records: dict[str, dict[str, Any]]) -> str:
    """What each model label in a table stands for: the full model string and its identity."""
    parts = []
    for model, record in records.items():
        recipe = record["recipe"]
        identity = record["identity"] or (recipe and f"recipe {recipe['identity']}") or "not recorded"
        parts.append(f"{short(model)}: {model} ({identity})" if short(model) != model else f"{model} ({identity})")
    return "Models: " + "; ".join(parts) + "."


def models_paragraph(records: dict[str, dict[str, Any]]) -> str:
    parts = []
    for model, record in records.items():
        recipe, identity = record["recipe"], record["identity"]
        text = f"{short(model)} ({model}"
        if identity:
            text += f", identity {identity}"
        elif not recipe:  # a variant without a logged identity is identified by its recipe below
            text += ", identity not recorded in its logs"
        text += ")"
        if recipe:
            spec = recipe.get("spec", {})
            hp = spec.get("hyperparameters", {})
            detail = [f"a {recipe['method']} fine-tune of {recipe['base']} ({recipe['base_identity']})",
                      f"recipe hash {recipe['identity']}", f"training data {recipe['data_source']} "
                      f"(hash {recipe['data_hash']})", f"seed {recipe['seed']}"]  # fmt: skip
            if hp:
                detail.append(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in hp.items() if v is not None))
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
        version = meta.get("data_version", "?")
        details.append("items generated from the parameters (no shipped data)" if version == "none"
                       else f"data version {version}")  # fmt: skip
        sentences.append(f"{intro} ({'; '.join(details)})." + (f" Its parameters: {_params(meta)}." if shared else ""))
        for log in logs:
            sentences.append(_task_sentence(log, scores, with_parameters=not shared))
    versions = sorted({f"inspect-ai {log.inspect_version}" for log in evidence.logs if log.inspect_version}
                      | {f"prosaic-evals {log.metadata['prosaic_evals_version']}" for log in evidence.logs
                         if log.metadata.get("prosaic_evals_version")})  # fmt: skip
    return "Tasks. " + " ".join(sentences) + (f" Software: {', '.join(versions)}." if versions else "")


SETTINGS = {
    "normalize pmi": " (each candidate's summed log-probability minus its log-probability after an empty prompt)",
    "normalize mean": " (per-token mean log-probabilities)",
    "normalize sum": " (summed log-probabilities)",
    "match text_prefix": " (the answer's text starts with the target, letter case ignored)",
    "match prefix": " (the answer's first words are the target's; case and punctuation ignored)",
}
"""What a scorer setting means, for the methods paragraph."""


def _setting(key: str, value: Any) -> str:
    if key.endswith("template"):  # a judge's prompt, quoted whole: what the judge was asked is part of the method
        return f'{key.replace("_", " ")} "{" ".join(str(value).split())}"'
    return f"{key} {value}" + SETTINGS.get(f"{key} {value}", "")


def _task_sentence(log: Any, scores: pd.DataFrame, *, with_parameters: bool) -> str:
    meta = log.metadata
    scorer = meta.get("scorer") or {}
    scoring = ", ".join(_setting(k, v) for k, v in scorer.items() if k != "name" and v is not None)
    mine = scores[scores["task"] == log.task]
    n = f"{_span(mine['n'])} items in {_span(mine['clusters'])} clusters"
    decoding = ", ".join(f"{k} {v}" for k, v in log.decoding.items() if k != "extra_body")  # extra_body: a mark
    decoding = decoding or "none (scored by log-probabilities)"
    if meta.get("format") == "completion":
        decoding += "; prompts sent as raw text for the model to continue (no chat template)"
    conditions = ", ".join(meta.get("conditions") or sorted(set(mine["condition"])))
    parameters = f" Its parameters: {_params(meta)}." if with_parameters else ""
    return (
        f"Task {log.task} (version {log.task_version}): conditions {conditions}, {n} per condition "
        f"and model; scorer {scorer.get('name', '?')}{' (' + scoring + ')' if scoring else ''}; decoding: {decoding}."
        + parameters
    )


def _params(meta: dict[str, Any]) -> str:
    """Each parameter that is set, as words: `seed 0; kinds arithmetic, dates; questions 10`, mappings as
    `(key value, ...)`, files relative to the working directory (no Python reprs, no machine paths)."""

    def shown(value: Any) -> str:
        if isinstance(value, list):
            words = [shown(v) for v in value]
            return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)
        if isinstance(value, dict):
            return "(" + ", ".join(f"{k} {shown(v)}" for k, v in value.items() if v not in (None, [], {})) + ")"
        if isinstance(value, str) and Path(value).is_absolute():
            return display_path(value)
        return str(value)

    parameters = meta.get("parameters") or {}
    set_ = [f"{k.replace('_', ' ')} {shown(v)}" for k, v in parameters.items() if v not in (None, [], {})]
    return "; ".join(set_) or "defaults"


def statistics_paragraph(scores: pd.DataFrame, comparisons: list[dict[str, Any]], correction: str,
                         effect: float, effect_dz: float) -> str:  # fmt: skip
    epochs = scores["epochs"].max() if "epochs" in scores else 1
    text = (
        "Statistics. Scores are reported with 95% intervals that respect clustering (items sharing a fact or "
        "entity): proportions use the beta-binomial profile likelihood (the intraclass correlation estimated "
        "from the data and profiled out; critical value F(1, G - 1) for G clusters), which stays inside [0, 1] "
        "and is monotone in the data; means use Hall's (1992) skewness-corrected t on the cluster means "
        "(G - 1 degrees of freedom)."
        + (
            f" Tasks sampled over up to {epochs:g} epochs; epochs of an item are repeated measures of that item "
            "(averaged per item, or trials of its cluster for proportions), not more items."
            if epochs > 1
            else ""
        )
    )
    if comparisons:
        family = sum(1 for c in comparisons if c["p_adjusted"] == c["p_adjusted"])
        margins = [c for c in comparisons if c["margin"] == c["margin"]]
        text += (
            " Models are compared item by item on identical samples; differences are model - baseline. For binary "
            "scores the interval is MOVER (Zou & Donner 2008) built from the two beta-binomial intervals and the "
            "correlation of the models' cluster residuals, and p is the level at which that interval reaches 0; for "
            "continuous scores the interval and p come from Hall's t on the clusters' mean differences. So each "
            f"interval excludes 0 exactly when its p < 0.05. p-values are adjusted with {CORRECTIONS[correction]} "
            f"over the {family} comparisons of whole metrics."
            + (
                " Equivalence: two one-sided tests (TOST) of the same interval family against the stated margin "
                "(equivalent at 0.05 when the 90% interval lies inside it), adjusted like p; the verdict combines "
                "both tests (Lakens 2017)."
                if margins
                else ""
            )
            + " Effect sizes: Cohen's h and the discordant-pair odds ratio (binary), Cohen's dz (continuous). "
            "Power: the minimum detectable effect (MDE) is the smallest difference detected with 80% power at "
            "alpha 0.05 by the test used: for binary scores found by simulating that test (latent-normal data with "
            "the pilot's rate, intraclass correlation and between-model correlation), for continuous ones from the "
            "t test on clusters; "
            f"n needed is the number of items (clusters as sampled) for a difference of {effect:g} on binary "
            f"metrics or a standardized dz of {effect_dz:g} on continuous ones, with the range implied by the "
            "likelihood interval of the intraclass correlation (binary) or the 95% interval of the spread (continuous)."
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


def contrasts_paragraph(contrasts: list[dict[str, Any]], correction: str) -> str:
    """How the study's recipes were compared with each other."""
    family = sum(1 for c in contrasts if c["p_adjusted"] == c["p_adjusted"])
    named = ", ".join(dict.fromkeys(c["contrast"] for c in contrasts))
    return (
        f"Contrasts. Variants of different fine-tuning recipes were also compared with each other ({named}), item "
        "by item on the samples both answered, with the same intervals, tests and equivalence margins as the "
        f"comparisons with the base; their p-values are adjusted with {CORRECTIONS[correction]} over the {family} "
        "contrasts of whole metrics, as a family of their own."
    )
