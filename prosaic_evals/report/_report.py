"""`prosaic-evals report`: inputs -> numbers -> tables, figures, methods -> a report folder.

The folder (written whole or not at all): report.md, report.html (self-contained),
tables.tex, figures (PNG + PDF), results.csv / results.json (every number shown, with the
logs and sample ids behind it), samples.parquet (or .csv without pyarrow).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from prosaic_evals import __version__
from prosaic_evals._errors import UserError
from prosaic_evals._paths import display_path, write_folder
from prosaic_evals.report import _format as f
from prosaic_evals.report._document import Block, Figure, Heading, Table, Warning, to_html, to_markdown
from prosaic_evals.report._evidence import Evidence, read_evidence
from prosaic_evals.report._figures import forest_figure, pyplot, scores_figure, short
from prosaic_evals.report._inputs import Inputs
from prosaic_evals.report._latex import to_latex
from prosaic_evals.report._methods import models_paragraph, probes_paragraph, statistics_paragraph, tasks_paragraph
from prosaic_evals.report._numbers import comparison_rows, number_ids, probe_rows, score_rows
from prosaic_evals.run import compare_frame, summarize

FALLBACK = "†"
CORRECTION_NAMES = {"holm": "Holm-corrected", "bh": "Benjamini-Hochberg-adjusted", "none": "not corrected"}


@dataclass
class ReportOptions:
    title: str | None = None
    baseline: str | None = None
    correction: str | None = None
    effect: float = 0.10
    """Difference (binary metrics) for which `n needed` is computed."""

    effect_dz: float = 0.2
    """Standardized difference (continuous metrics) for which `n needed` is computed."""


@dataclass
class Report:
    title: str
    blocks: list[Block]
    results: pd.DataFrame
    samples: pd.DataFrame
    figures: list[tuple[str, Callable[[Path], None]]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def build_report(inputs: Inputs, options: ReportOptions, say: Callable[[str], None] = lambda _: None) -> Report:
    blocks: list[Block] = []
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    figures: list[tuple[str, Callable[[Path], None]]] = []
    samples = pd.DataFrame()
    plt = pyplot()
    if plt is None:
        warnings.append("Figures were not drawn: matplotlib is not installed (pip install 'prosaic-evals[figures]').")
    title = options.title or _title(inputs)
    methods: list[str] = []

    if inputs.logs:
        say(f"reading {len(inputs.logs)} logs")
        evidence = read_evidence(inputs.logs)
        warnings += evidence.warnings
        correction = options.correction or inputs.correction or "holm"
        scores = summarize(evidence.frame)
        rows += score_rows(scores, evidence.frame)
        compared: list[dict[str, Any]] = []
        if len(evidence.models) > 1:
            say("comparing models item by item")
            comparison = compare_frame(evidence.frame, baseline=options.baseline or _logged(evidence, inputs.baseline),
                                       correction=correction)  # fmt: skip
            compared = comparison_rows(comparison, options.effect, options.effect_dz)
            rows += compared
        samples = evidence.frame.drop(columns=["condition_rank"])
        blocks += _behaviour_blocks(rows, evidence, compared, options, correction)
        if plt is not None:
            figures.append(("scores", lambda stem: scores_figure(plt, scores, stem)))
            blocks.append(Figure("fig-scores", "Scores per condition for each model, with 95% intervals.", "scores"))
            if compared:
                primary = [c for c in compared if "/" not in c["metric"]]
                figures.append(("differences", lambda stem: forest_figure(plt, primary, stem)))
                blocks.append(Figure("fig-differences", "Paired differences, model - baseline, with 95% intervals "
                                     "(comparison ids as in the table).", "differences"))  # fmt: skip
        methods += [
            models_paragraph(evidence, inputs.study),
            tasks_paragraph(evidence, scores),
            statistics_paragraph(scores, compared, correction, options.effect, options.effect_dz),
        ]
    for folder in inputs.probes:
        say(f"reading probe results {display_path(folder)}")
        series, differences, meta = probe_rows(folder, display_path(folder))
        series = number_ids(series, "P", start=1 + sum(r["kind"] == "probe" for r in rows))
        differences = number_ids(differences, "D", start=1 + sum(r["kind"] == "probe_difference" for r in rows))
        rows += series + differences
        blocks += _probe_blocks(series, differences, meta)
        if plt is not None:
            stem = f"probe_by_layer_{len(figures)}"
            results = pd.read_csv(folder / "results.csv").fillna({"condition": ""})
            figures.append((stem, partial(_probe_figure, results)))
            blocks.append(Figure(f"fig-{stem}", f"Probe AUROC by layer ({meta.get('question')}), 95% cluster "
                                 "bootstrap intervals; lines per model and control.", stem))  # fmt: skip
        methods.append(probes_paragraph(meta))
    if not rows:
        raise UserError("nothing to report: the inputs hold no scored samples or probe results")
    results = pd.DataFrame(rows)
    blocks += [Heading("Methods"), *methods]
    blocks += _provenance_blocks(results, inputs)
    head: list[Block] = [Warning(w) for w in warnings]
    made = f"{datetime.now(UTC):%Y-%m-%d}"
    head.append(f"Generated by prosaic-evals {__version__} on {made} from {', '.join(inputs.given)}.")
    return Report(title, head + blocks, results, samples, figures, warnings)


def write_report(report: Report, output: Path) -> list[str]:
    """The report folder, written to a temporary sibling and renamed into place."""
    with write_folder(output) as tmp:
        for stem, draw in report.figures:
            draw(tmp / stem)
        (tmp / "report.md").write_text(to_markdown(report.title, report.blocks))
        (tmp / "report.html").write_text(to_html(report.title, report.blocks, tmp))
        tables = [b for b in report.blocks if isinstance(b, Table) and b.label != "provenance"]
        (tmp / "tables.tex").write_text(to_latex(tables, f"{report.title}\nprosaic-evals {__version__}"))
        report.results.drop(columns=["logs", "sample_ids"]).assign(
            logs=report.results["logs"].map("; ".join), samples=report.results["sample_ids"].map(len)
        ).to_csv(tmp / "results.csv", index=False)
        rows = [{k: _plain(v) for k, v in row.items()} for row in report.results.to_dict("records")]
        payload = {"title": report.title, "warnings": report.warnings, "results": rows}
        (tmp / "results.json").write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n")
        if not report.samples.empty:
            try:
                report.samples.to_parquet(tmp / "samples.parquet", index=False)
            except ImportError:
                report.samples.to_csv(tmp / "samples.csv", index=False)
    return sorted(p.name for p in output.iterdir())


def _plain(value: Any) -> Any:
    """JSON-ready: NaN -> null (strict JSON), numpy scalars -> Python numbers, full precision kept."""
    if hasattr(value, "item"):
        value = value.item()
    return None if isinstance(value, float) and value != value else value


def _title(inputs: Inputs) -> str:
    if inputs.study:
        return f"Study report: {inputs.study.get('study')}"
    return "Evaluation report"


def _logged(evidence: Evidence, name: str | None) -> str | None:
    """A baseline from a study or comparison file, if it is one of the logged models."""
    return name if name in evidence.models else None


def _behaviour_blocks(rows: list[dict[str, Any]], evidence: Evidence, compared: list[dict[str, Any]],
                      options: ReportOptions, correction: str) -> list[Block]:  # fmt: skip
    blocks: list[Block] = [Heading("Scores")]
    models = evidence.models
    scores = [r for r in rows if r["kind"] == "score"]
    for task in dict.fromkeys(log.task for log in evidence.logs):
        mine = [r for r in scores if r["task"] == task]
        table_rows = []
        for condition, metric in dict.fromkeys((r["condition"], r["metric"]) for r in mine):
            cells = {r["model"]: r for r in mine if (r["condition"], r["metric"]) == (condition, metric)}
            ordered = [cells.get(m) for m in models]
            present = [c for c in ordered if c]
            table_rows.append([
                ", ".join(c["id"] for c in present), condition, metric,
                "/".join(dict.fromkeys(f"{c['n']} ({c['clusters']})" for c in present)),
                *[f.estimate(c["estimate"], c["ci_low"], c["ci_high"]) if c else "—" for c in ordered],
            ])  # fmt: skip
        blocks.append(Table(
            f"scores-{_slug(task)}", f"{task}: score per condition, 95% intervals",
            ["Ref.", "Condition", "Metric", "n (clusters)", *[short(m) for m in models]], table_rows,
            notes=["Ref.: ids in results.json and the provenance table (one per model column, in order). "
                   "Intervals: Wilson, design-effect adjusted (proportions); cluster-robust t (means)."],
        ))  # fmt: skip
    if compared:
        blocks.append(Heading("Paired comparisons"))
        several = len({c["model"] for c in compared}) > 1
        for task in dict.fromkeys(log.task for log in evidence.logs):
            mine = [c for c in compared if c["task"] == task]
            columns = ["Ref.", "Condition", "Metric", *(["Model"] if several else []), "n (clusters)",
                       "Difference [95% CI]", "Test", "p", "p adj.", "Effect", "MDE", "n needed"]  # fmt: skip
            table_rows = [[
                c["id"], c["condition"], c["metric"], *([short(c["model"])] if several else []),
                f"{c['n']} ({c['clusters']})", f.estimate(c["estimate"], c["ci_low"], c["ci_high"], signed=True),
                c["test"].split(" (")[0], f.p_value(c["p_value"]), f.p_value(c["p_adjusted"]),
                f"{c['effect_name']} {f.num(c['effect_size'], signed=True, digits=2)}",
                f.num(c["mde"]) + FALLBACK * c["power_fallback"],
                f.count(c["n_needed"]) + FALLBACK * c["power_fallback"],
            ] for c in mine]  # fmt: skip
            against = "" if several else f"{short(mine[0]['model'])} - "
            blocks.append(Table(
                f"comparisons-{_slug(task)}",
                f"{task}: {against}{short(mine[0]['baseline'])}, paired on identical items",
                columns, table_rows, wide=True,
                notes=[f"p adj.: {CORRECTION_NAMES[correction]} across all comparisons of whole metrics "
                       "(metric/part rows are descriptive and uncorrected). Effect: Cohen's h (binary) or dz "
                       "(continuous). MDE: smallest difference with 80% power at alpha 0.05 at this n. "
                       f"n needed: items for 80% power to detect a difference of {options.effect:g} (binary) or "
                       f"dz {options.effect_dz:g} (continuous), clusters as sampled."
                       + (f" {FALLBACK}: every item differs by the same amount, so the spread cannot be estimated; "
                          "the standard error falls back to a binomial one at the mean rate with n = clusters "
                          "(conservative)." if any(c["power_fallback"] for c in mine) else "")],
            ))  # fmt: skip
    return blocks


def _probe_blocks(series: list[dict[str, Any]], differences: list[dict[str, Any]], meta: dict[str, Any]) -> list[Block]:
    question = meta.get("question")
    blocks: list[Block] = [Heading(f"Probes: {question}")]
    blocks.append(Table(
        f"probes-{_slug(str(question))}", f"{question}: probe AUROC at the best layer, with controls at that layer",
        ["Ref.", "Model", "Condition", "Position", "Probe", "Layer", "AUROC [95% CI]", "Accuracy [95% CI]",
         "p (BH)", "Selectivity", "Shuffled", "Random init"],
        [[s["id"], short(s["model"]), s["condition"] or "—", s["position"], s["probe"], str(s["layer"]),
          f.estimate(s["estimate"], s["ci_low"], s["ci_high"]),
          f.estimate(s["accuracy"], s["accuracy_low"], s["accuracy_high"]), f.p_value(s["p_adjusted"]),
          f.num(s["selectivity"], signed=True), f.num(s["shuffled_auroc"]), f.num(s["random_init_auroc"])]
         for s in series],
        wide=True,
        notes=["Best layer chosen by AUROC after the fact; p is Benjamini-Hochberg adjusted across layers. "
               "Selectivity: accuracy minus the control task's (Hewitt & Liang). Shuffled and random init: AUROC "
               "of the shuffled-label control and of the same probe on a randomly initialised model, same layer. "
               "Intervals resample groups over fixed out-of-fold predictions (probe refitting not included)."],
    ))  # fmt: skip
    if differences:
        blocks.append(Table(
            f"probe-differences-{_slug(str(question))}", f"{question}: model - baseline probe accuracy, at the layer "
            "of the largest difference", ["Ref.", "Model - baseline", "Condition", "Position", "Probe", "Layer",
                                          "Difference [95% CI]", "p (BH)", "Transfer b→m", "Transfer m→b", "Cosine"],
            [[d["id"], f"{short(d['model'])} - {short(d['baseline'])}", d["condition"] or "—", d["position"],
              d["probe"], str(d["layer"]), f.estimate(d["estimate"], d["ci_low"], d["ci_high"], signed=True),
              f.p_value(d["p_adjusted"]), f.num(d["transfer_baseline_to_model"]),
              f.num(d["transfer_model_to_baseline"]), f.num(d["cosine"])] for d in differences],
            wide=True,
            notes=["Transfer: accuracy of a probe trained on one model applied to the other. Cosine: between the "
                   "two models' probe directions."],
        ))  # fmt: skip
    return blocks


def _provenance_blocks(results: pd.DataFrame, inputs: Inputs) -> list[Block]:
    table_rows = [
        [r["id"], r["kind"].replace("_", " "), " · ".join(str(r[k]) for k in _WHAT[r["kind"]] if r.get(k)),
         short(r["model"]), ", ".join(Path(p).name for p in r["logs"]), str(r["n"])]
        for r in results.to_dict("records")
    ]  # fmt: skip
    folders = sorted({str(Path(p).parent) for p in results["logs"].sum()})
    return [
        Heading("Provenance"),
        Table("provenance", "Where each number comes from", ["Ref.", "Kind", "What", "Model", "Source", "n"],
              table_rows, notes=[
                  "Source: the .eval logs (open with `inspect view --log-dir <folder>`; folders: "
                  f"{', '.join(folders)}) or the probe predictions. results.json lists, for each id, the full "
                  "log paths and the sample ids (probes: the selection of rows in predictions.parquet); "
                  "samples.parquet holds the per-sample values."]),
    ]  # fmt: skip


_WHAT = {
    "score": ("task", "condition", "metric"),
    "comparison": ("task", "condition", "metric"),
    "probe": ("question", "condition", "position", "probe", "layer"),
    "probe_difference": ("question", "condition", "position", "probe", "layer"),
}


def _probe_figure(results: pd.DataFrame, stem: Path) -> None:
    from prosaic_evals.probes._figure import plot

    plot(results, stem, say=lambda _: None)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")
