"""The chain-of-thought faithfulness tasks as their papers show them, instead of one score per line.

A cot_faithfulness sample is scored on a dozen metrics (families/cot_faithfulness/_score.py). Listed
one per row they hide the two results a reader looks for: how far a cue moves the answers, uncued →
cued on the same questions (Turpin et al. 2023; Chua & Evans 2025), and how often the answer survives
when the CoT is truncated or edited (Lanham et al. 2023: the curves and their area over the curve).
Every cell is cut from the report's score rows and names their ids, so it agrees with results.json.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from prosaic_evals.report import _format as f
from prosaic_evals.report._document import Block, Figure, Heading, Table
from prosaic_evals.report._figures import legend_below, save

DIGITS = 2
"""Tens of questions per condition: a third digit would be noise."""

Metrics = dict[str, dict[str, Any]]
"""One (task, condition, model)'s score rows by metric."""

Group = tuple[str, str, str, Metrics]
"""(task, condition, model, its rows)."""

Label = Callable[[str], str]

CUE_METRICS = ("correct_unbiased", "correct_biased", "accuracy_drop", "cued_unbiased", "cued_biased", "cue_effect",
               "unparseable_unbiased", "unparseable_biased", "mentions_cue", "articulated",
               "judge_unparseable")  # fmt: skip
CUE_PANELS = {"cue_effect": "Cue effect: cued option, cued − uncued",
              "accuracy_drop": "Accuracy drop: correct, uncued − cued"}  # fmt: skip
INTERVENTIONS = {"early_answering": "share of the CoT kept", "adding_mistakes": "share of the CoT before the mistake",
                 "paraphrasing": "share of the CoT left as written",
                 "filler_tokens": "filler, share of the CoT's length"}  # fmt: skip
"""The interventions in Lanham et al.'s order, each with what its x (P/100) is."""

UNCHANGED = re.compile(r"unchanged@(\d+)%")


def cot_sections(rows: list[dict[str, Any]], models: list[str], label: Label, plt: Any | None
                 ) -> tuple[list[Block], list[tuple[str, Callable[[Path], None]]]]:  # fmt: skip
    """Blocks and figures for the chain-of-thought faithfulness tasks among the report's score rows (none: ([], []))."""
    blocks: list[Block] = []
    figures: list[tuple[str, Callable[[Path], None]]] = []
    cued, edited = _groups(rows, models, _biasing), _groups(rows, models, _intervention)
    if cued:
        blocks += [Heading("Cue effects: uncued → cued, paired per question"), _cue_table(cued, label)]
        if plt is not None:
            figures.append(("cue_effects", partial(_draw, _cue_figure, plt, rows, models, label)))
            blocks.append(Figure("fig-cue-effects", "Cue effect (answers on the cued option, cued − uncued) and "
                                 "accuracy drop (correct answers, uncued − cued) per condition, paired per question, "
                                 "with 95% intervals (the exact cluster sign-flip test, inverted).",
                                 "cue_effects"))  # fmt: skip
    if edited:
        blocks += [Heading("Chain-of-thought interventions"), _intervention_table(edited, label)]
        if plt is not None:
            figures.append(("lanham_curves", partial(_draw, _lanham_figure, plt, rows, models, label)))
            blocks.append(Figure("fig-lanham-curves", "Share of answers unchanged from the full-CoT answer after each "
                                 "intervention on the CoT, as in Lanham et al. (2023), with 95% intervals. Open "
                                 "markers: the unedited CoT, unchanged by definition. Filler tokens: x is the filler's "
                                 "length as a share of the CoT's (0: no CoT).", "lanham_curves"))  # fmt: skip
    return blocks, figures


def cot_tasks(rows: list[dict[str, Any]], models: list[str]) -> set[str]:
    """The tasks whose rows `cot_sections` shows in its own tables (their score tables can go to an appendix)."""
    return {g[0] for g in _groups(rows, models, lambda m: _biasing(m) or _intervention(m))}


def _biasing(metrics: Metrics) -> bool:
    return "cue_effect" in metrics or "accuracy_drop" in metrics


def _intervention(metrics: Metrics) -> bool:
    return "aoc" in metrics or any(UNCHANGED.fullmatch(m) for m in metrics)


def _groups(rows: list[dict[str, Any]], models: list[str], keep: Callable[[Metrics], bool]) -> list[Group]:
    """The (task, condition, model) groups `keep` accepts: (task, condition) in the rows' order, then models."""
    found: dict[tuple[str, str, str], Metrics] = {}
    for r in rows:
        if r["kind"] == "score":
            found.setdefault((r["task"], r["condition"], r["model"]), {})[r["metric"]] = r
    pairs = dict.fromkeys((task, condition) for task, condition, _ in found)
    return [(t, c, m, found[t, c, m]) for t, c in pairs for m in models if keep(found.get((t, c, m), {}))]


def _used(metrics: Metrics) -> list[dict[str, Any]]:
    """The rows that a table row shows, in the rows' order."""
    shown = (*CUE_METRICS, "aoc", "agrees_with_text")
    return [r for m, r in metrics.items() if m in shown or UNCHANGED.fullmatch(m)]


def _refs(rows: list[dict[str, Any]]) -> str:
    """`S1, S2, S4–S12`: ids comma-separated, three or more consecutive ones as a range."""
    runs: list[list[str]] = []
    for r in rows:
        if runs and _follows(runs[-1][-1], r["id"]):
            runs[-1].append(r["id"])
        else:
            runs.append([r["id"]])
    return ", ".join(f"{run[0]}–{run[-1]}" if len(run) > 2 else ", ".join(run) for run in runs)


def _follows(before: str, after: str) -> bool:
    """Whether `after` is the id next to `before` (S4, S5)."""
    a, b = re.fullmatch(r"(\D*)(\d+)", before), re.fullmatch(r"(\D*)(\d+)", after)
    return bool(a and b and a[1] == b[1] and int(b[2]) == int(a[2]) + 1)


def _value(metrics: Metrics, metric: str) -> str:
    row = metrics.get(metric)
    return f.num(row["estimate"] if row else None, digits=DIGITS)


def _change(metrics: Metrics, name: str) -> str:
    """`0.27 → 0.23`: name_unbiased → name_biased."""
    return f"{_value(metrics, f'{name}_unbiased')} → {_value(metrics, f'{name}_biased')}"


def _interval(row: dict[str, Any] | None, signed: bool = True) -> str:
    return "—" if row is None else f.estimate(row["estimate"], row["ci_low"], row["ci_high"], signed=signed,
                                              digits=DIGITS)  # fmt: skip


def _p(row: dict[str, Any] | None) -> str:
    return f.p_value(None if row is None else row["p_value"])


def _trials(row: dict[str, Any]) -> tuple[int, int]:
    """(k, n) behind a proportion: the answers (items × epochs) and how many of them scored 1."""
    n = round(row["n"] * (row.get("epochs") or 1))
    return round(row["estimate"] * n), n


def _count(row: dict[str, Any] | None) -> str:
    return "—" if row is None else "{}/{}".format(*_trials(row))


def _articulated(metrics: Metrics) -> str:
    """`14/15 (7 unparseable)`: YES among the readable verdicts on the switched items, and the unreadable ones."""
    said, unread = metrics.get("articulated"), metrics.get("judge_unparseable")
    return _count(said) if unread is None else f"{_count(said)} ({_trials(unread)[0]} unparseable)"


def _cue_table(groups: list[Group], label: Label) -> Table:
    several = len({model for _, _, model, _ in groups}) > 1
    rows = [[
        _refs(_used(metrics)), task, condition, *([label(model)] if several else []), _change(metrics, "correct"),
        _interval(metrics.get("accuracy_drop")), _p(metrics.get("accuracy_drop")), _change(metrics, "cued"),
        _interval(metrics.get("cue_effect")), _p(metrics.get("cue_effect")), _change(metrics, "unparseable"),
        _count(metrics.get("mentions_cue")), _articulated(metrics),
    ] for task, condition, model, metrics in groups]  # fmt: skip
    columns = ["Ref.", "Task", "Condition", *(["Model"] if several else []), "Correct", "Accuracy drop [95% CI]",
               "p", "Cued option", "Cue effect [95% CI]", "p", "Unparseable", "Mentions cue",
               "Articulated"]  # fmt: skip
    return Table("cue-effects", "Biasing cues: each question answered without and with a cue pointing at a wrong "
                 "option, uncued → cued", columns, rows, notes=[
        "Each question is asked twice, without and with the cue, which points at the same wrong option both times; "
        "every column pairs the two answers to a question. Ref.: the score ids behind the row (results.json, "
        "provenance table).",
        "Correct: share of answers that are right; Accuracy drop: correct uncued − correct cued. Cued option: share "
        "of answers on the option the cue points at; Cue effect: cued − uncued. Unparseable: answers that name no "
        "option (counted neither correct nor on the cued option).",
        "p: the exact cluster sign-flip test of the paired difference against 0 (two-sided, uncorrected); the "
        "interval beside it is that test inverted.",
        "Mentions cue: among the CoT answers on the cued option, those whose reasoning mentions the cue (a keyword "
        "grader); — without CoT. Articulated: among the switched items (moved to the cued option), those a judge "
        "model says admit the cue's influence, out of the verdicts it could read, and in brackets the verdicts that "
        "were neither YES nor NO; — without CoT or without a judge.",
    ])  # fmt: skip


def _intervention_table(groups: list[Group], label: Label) -> Table:
    several = len({model for _, _, model, _ in groups}) > 1
    tasks = len({task for task, _, _, _ in groups}) > 1
    percents = sorted({int(m.group(1)) for *_, metrics in groups for k in metrics if (m := UNCHANGED.fullmatch(k))})
    rows = [[
        _refs(_used(metrics)), *([task] if tasks else []), condition, *([label(model)] if several else []),
        *[_value(metrics, f"unchanged@{p}%") for p in percents], _interval(metrics.get("aoc"), signed=False),
        _count(metrics.get("agrees_with_text")),
    ] for task, condition, model, metrics in groups]  # fmt: skip
    columns = ["Ref.", *(["Task"] if tasks else []), "Condition", *(["Model"] if several else []),
               *[f"Unchanged @{p}%" for p in percents], "AOC [95% CI]", "Agrees with text"]  # fmt: skip
    return Table("interventions", "Interventions on the CoT (Lanham et al. 2023): share of answers unchanged from the "
                 "full-CoT answer", columns, rows, notes=[
        "Unchanged @P%: share of questions whose answer equals the full-CoT answer when the model answers after the "
        "first P% of its CoT (early answering), continues after a mistake written into the sentence at P% (adding "
        "mistakes), or answers after its CoT paraphrased but for the last P% (paraphrasing); for filler tokens the "
        "CoT is replaced by \" ...\" filler of P% of its length (0%: no CoT). The intervals are in the figure and, "
        "by id, in results.json.",
        "AOC: area over the unchanged curve from 0 to 100%, mean over questions (Lanham et al.'s length-weighted "
        "AOC); the larger, the more the answer depends on the CoT. Agrees with text: the full-CoT answer read from "
        "the option letters' log-probabilities is the answer the CoT states, out of the CoTs that state one.",
    ])  # fmt: skip


def _draw(build: Callable[..., tuple[Any, float]], plt: Any, rows: list[dict[str, Any]], models: list[str],
          label: Label, stem: Path) -> None:  # fmt: skip
    fig, bottom = build(plt, rows, models, label)
    save(plt, fig, stem, bottom)


def _errors(rows: list[dict[str, Any]]) -> list[list[float]]:
    """Error-bar lengths below and above each estimate (none without an interval)."""

    def length(a: Any, b: Any) -> float:
        return 0.0 if f.missing(a) or f.missing(b) else max(0.0, float(b) - float(a))

    return [[length(r["ci_low"], r["estimate"]) for r in rows], [length(r["estimate"], r["ci_high"]) for r in rows]]


def _cue_figure(plt: Any, rows: list[dict[str, Any]], models: list[str], label: Label) -> tuple[Any, float]:
    """Cue effect and accuracy drop side by side, on one axis of conditions and one scale; per model an estimate and
    interval. Returns the figure and the share of its height its legend takes (for `save`)."""
    groups = _groups(rows, models, _biasing)
    pairs = list(dict.fromkeys((task, condition) for task, condition, _, _ in groups))
    repeated = len({condition for _, condition in pairs}) < len(pairs)  # a condition in two tasks: name the task
    names = [f"{task}: {condition}" if repeated else condition for task, condition in pairs]
    shown = [m for m in models if any(model == m for _, _, model, _ in groups)]
    fig, axes = plt.subplots(1, 2, sharex=True, sharey=True, figsize=(9.5, 0.45 * len(pairs) + 1.5))
    for ax, (metric, title) in zip(axes, CUE_PANELS.items(), strict=True):
        for j, model in enumerate(shown):
            mine = [(pairs.index((t, c)), m[metric]) for t, c, who, m in groups if who == model and metric in m]
            y = [i + (j - (len(shown) - 1) / 2) * 0.6 / len(shown) for i, _ in mine]  # models side by side
            points = [r for _, r in mine]
            ax.errorbar([r["estimate"] for r in points], y, xerr=_errors(points), fmt="o", ms=4, capsize=2,
                        color=f"C{j}", label=label(model))  # fmt: skip
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("difference in share of answers (95% CI)", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(pairs)), names, fontsize=8)
    axes[0].set_ylim(len(pairs) - 0.5, -0.5)
    return fig, legend_below(fig, axes) if len(shown) > 1 else 0.0


def _lanham_figure(plt: Any, rows: list[dict[str, Any]], models: list[str], label: Label) -> tuple[Any, float]:
    """Lanham et al.'s curves: a panel per intervention, x the share of the CoT kept or edited (filler: its length),
    y the share of answers unchanged; per model, points with intervals joined by lines. Returns the figure and the
    share of its height its legend takes (for `save`)."""
    groups = _groups(rows, models, _intervention)
    found = {(task, condition, model): metrics for task, condition, model, metrics in groups}
    present = list(dict.fromkeys(condition for _, condition, _, _ in groups))
    conditions = sorted(
        present, key=lambda c: list(INTERVENTIONS).index(c) if c in INTERVENTIONS else len(INTERVENTIONS)
    )
    series = list(dict.fromkeys((task, model) for task, _, model, _ in groups))
    tasks = len({task for task, _ in series}) > 1
    fig, axes = plt.subplots(1, len(conditions), sharey=True, figsize=(2.9 * len(conditions) + 0.6, 3.2),
                             squeeze=False)  # fmt: skip
    for ax, condition in zip(axes[0], conditions, strict=True):
        for j, (task, model) in enumerate(series):
            metrics = found.get((task, condition, model), {})
            points = sorted((int(m.group(1)), r) for k, r in metrics.items() if (m := UNCHANGED.fullmatch(k)))
            if not points:
                continue
            shift = (j - (len(series) - 1) / 2) * 0.012  # side by side, so intervals do not hide each other
            x, y = [p / 100 + shift for p, _ in points], [r["estimate"] for _, r in points]
            ax.errorbar(x, y, yerr=_errors([r for _, r in points]), fmt="-o", ms=4, capsize=2, color=f"C{j}",
                        label=f"{label(model)} ({task})" if tasks else label(model))  # fmt: skip
            if condition != "filler_tokens" and points[-1][0] < 100:  # the unedited CoT: unchanged by definition
                ax.plot([x[-1], 1 + shift], [y[-1], 1.0], ":", color=f"C{j}")
                ax.plot([1 + shift], [1.0], "o", ms=4, color=f"C{j}", mfc="white")
        ax.set_title(condition.replace("_", " ").capitalize(), fontsize=9)
        ax.set_xlabel(INTERVENTIONS.get(condition, "share of the CoT"), fontsize=8)
        ax.set_xlim(-0.05, 1.05)
        ax.set_ylim(-0.03, 1.03)  # 0 to 1, the points at either end whole
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("share of answers unchanged", fontsize=8)
    return fig, legend_below(fig, axes) if len(series) > 1 else 0.0
