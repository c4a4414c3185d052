"""The report folder: what it holds, that its three renderings agree, and that every number
traces back to the samples that produced it."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from prosaic_evals.report._figures import short
from tests.report._render import compile_tables, latex_problems, render_html

COLUMN = {"score": None, "comparison": "Difference [95% CI]", "probe": "AUROC [95% CI]",
          "probe_difference": "Difference [95% CI]"}  # fmt: skip


def results(report: Path) -> list[dict[str, Any]]:
    def strict(constant: str) -> None:
        raise AssertionError(f"results.json is not strict JSON: {constant}")

    return list(json.loads((report / "results.json").read_text(), parse_constant=strict)["results"])


def expected(row: dict[str, Any]) -> str:
    """The estimate and interval as a table must print them (written independently of the code's formatter)."""
    sign = "+" if row["kind"] in ("comparison", "probe_difference") else ""
    text = format(row["estimate"], f"{sign}.3f")
    if row["ci_low"] is not None:
        text += f" [{format(row['ci_low'], f'{sign}.3f')}, {format(row['ci_high'], f'{sign}.3f')}]"
    return text


def markdown_tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    tables, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("| ") and i + 1 < len(lines) and lines[i + 1].startswith("| ---"):
            body = []
            for row in lines[i + 2 :]:
                if not row.startswith("| "):
                    break
                body.append(cells(row, "|"))
            tables.append((cells(line, "|"), body))
    return tables


def latex_tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    tables = []
    for block in re.findall(r"\\toprule\n(.*?)\\bottomrule", text, flags=re.S):
        head, body = block.split("\\midrule\n")
        rows = [cells(unescape(line), "&") for line in body.strip().splitlines()]
        tables.append((cells(unescape(head), "&"), rows))
    return tables


def cells(line: str, separator: str) -> list[str]:
    line = line.strip().removesuffix("\\\\").strip()
    if separator == "|":
        line = line.strip("|")
    return [c.strip() for c in line.split(separator)]


def unescape(text: str) -> str:
    # a header set on several lines is a one-column tabular: back to one line
    text = re.sub(r"\\begin\{tabular\}\[b\]\{@\{\}[lr]@\{\}\}(.*?)\\end\{tabular\}",
                  lambda m: m.group(1).replace(" \\\\ ", " "), text)  # fmt: skip
    for tex, plain in [
        ("$-$", "-"),
        ("{[}", "["),
        ("{]}", "]"),
        (r"$\pm$", "±"),
        (r"\_", "_"),
        (r"\%", "%"),
        ("---", "—"),
        (r"\textless{}", "<"),
        (r"$\to$", "→"),
    ]:
        text = text.replace(tex, plain)
    return text


def cell_of(row: dict[str, Any], tables: list[tuple[list[str], list[list[str]]]]) -> str:
    """The cell that shows `row`'s estimate: found by its id in the table's Ref. column."""
    for header, body in tables:
        if header[0] != "Ref." or "Kind" in header:
            continue
        for line in body:
            refs = line[0].split(", ")
            column = COLUMN[row["kind"]] or short(row["model"])
            if row["id"] in refs and column in header:  # a table split into parts has the column in one
                return line[header.index(column)]
    raise AssertionError(f"{row['id']} is in no table")


def test_the_folder_holds_every_output(report: Path) -> None:
    names = {p.name for p in report.iterdir()}
    assert {"report.md", "report.html", "tables.tex", "results.csv", "results.json", "samples.parquet"} <= names
    for stem in ("scores", "differences"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= names
    assert any(n.startswith("probe_by_layer") and n.endswith(".png") for n in names)
    assert not any(n.startswith(".") for n in names)


def test_report_md_tables_tex_and_results_json_show_the_same_numbers(report: Path) -> None:
    rows = results(report)
    md, tex = markdown_tables((report / "report.md").read_text()), latex_tables((report / "tables.tex").read_text())
    kinds = {r["kind"] for r in rows}
    assert kinds == {"score", "comparison", "probe", "probe_difference"}
    for row in rows:
        assert cell_of(row, md) == expected(row), row["id"]
        assert cell_of(row, tex) == expected(row), row["id"]
    csv = pd.read_csv(report / "results.csv").set_index("id")
    for row in rows:
        assert csv.loc[row["id"], "estimate"] == pytest.approx(row["estimate"])


def test_adjusted_p_values_and_power_are_shown_for_every_comparison(report: Path) -> None:
    md = markdown_tables((report / "report.md").read_text())
    for row in (r for r in results(report) if r["kind"] == "comparison"):
        for header, body in md:
            line = next((b for b in body if b[0] == row["id"]), None)
            if line is not None and "p adj." in header:
                p = row["p_adjusted"]
                assert line[header.index("p adj.")] == ("<0.001" if p < 0.001 else f"{p:.3f}")
                assert line[header.index("MDE")] == f"{row['mde']:.3f}"
                needed = [math.ceil(row[k]) for k in ("n_needed", "n_needed_low", "n_needed_high")]
                assert line[header.index("n needed [range]")] == f"{needed[0]:,} [{needed[1]:,}–{needed[2]:,}]"
                assert needed[1] <= needed[0] <= needed[2]
                break
        else:
            raise AssertionError(row["id"])


def test_every_score_and_difference_is_recomputed_from_its_logs_and_sample_ids(report: Path, study: Path) -> None:
    from inspect_ai.log import read_eval_log

    samples = pd.read_parquet(report / "samples.parquet")
    for row in results(report):
        if row["kind"] not in ("score", "comparison"):
            continue
        assert row["logs"] and all(Path(log).is_file() for log in row["logs"])
        key = (samples["task"] == row["task"]) & (samples["condition"] == row["condition"]) \
            & (samples["metric"] == row["metric"]) & samples["sample_id"].isin(row["sample_ids"])  # fmt: skip
        assert len(row["sample_ids"]) == row["n"]
        if row["kind"] == "score":
            mine = samples[key & (samples["model"] == row["model"])]
            assert set(mine["log"]) == set(row["logs"])
            assert mine["value"].mean() == pytest.approx(row["estimate"])
        else:
            means = samples[key].groupby("model")["value"].mean()
            assert means[row["model"]] - means[row["baseline"]] == pytest.approx(row["estimate"])
    first = next(r for r in results(report) if r["kind"] == "score")
    logged = {s.id for s in read_eval_log(first["logs"][0]).samples or []}
    assert set(first["sample_ids"]) <= logged  # the ids are the log's own sample ids


def test_probe_numbers_trace_to_the_predictions(report: Path, study: Path) -> None:
    predictions = pd.read_parquet(study / "probes" / "predictions.parquet").fillna({"condition": ""})
    for row in (r for r in results(report) if r["kind"] == "probe"):
        picked = predictions[(predictions["model"] == row["model"]) & (predictions["condition"] == row["condition"])
                             & (predictions["position"] == row["position"]) & (predictions["probe"] == row["probe"])
                             & (predictions["layer"] == row["layer"]) & (predictions["target"] == "task")]  # fmt: skip
        assert len(picked) == row["n"]
        assert picked["correct"].mean() == pytest.approx(row["accuracy"])


def test_the_methods_paragraph_names_models_tasks_and_procedures(report: Path) -> None:
    text = (report / "report.md").read_text()
    methods = text[text.index("## Methods") : text.index("## Provenance")]
    for expected_text in ["smollm2-135m-instruct@", "844de62975853936", "lora", "seed 0", "data version",
                          "decoding: max_tokens 32, temperature 0.0", "Holm", "MOVER", "beta-binomial profile",
                          "Hall", "minimum detectable effect", "simulating that test", "Probes (reversal_curse.truth)",
                          "Benjamini-Hochberg", "normalize sum (summed log-probabilities)",
                          "match prefix (the answer's first words are the target's"]:  # fmt: skip
        assert expected_text in methods, expected_text
    assert "Berglund" in methods  # the protocol's paper


def test_latex_tables_compile_at_one_size_without_a_warning(report: Path, tmp_path: Path, system_tool: Any) -> None:
    tex = (report / "tables.tex").read_text()
    log = compile_tables(report / "tables.tex", tmp_path, system_tool("pdflatex"))
    assert latex_problems(log) == []  # no overfull box: every table fits, landscape where it must
    assert "resizebox" not in tex and "scalebox" not in tex  # one font size: nothing scaled
    tables = [b for b in built_tables(report) if b != "provenance"]
    assert tex.count("\\prosaicfit{") >= len(tables)
    for label in tables:
        assert f"{{tab:{label}}}" in tex, label
    assert (tmp_path / "paper.pdf").stat().st_size > 10_000


def built_tables(report: Path) -> list[str]:
    return re.findall(r'<table id="([^"]+)"', (report / "report.html").read_text())


def test_the_html_report_renders_in_chromium_with_every_figure_and_table_inside_the_page(
    report: Path, tmp_path: Path, system_tool: Any
) -> None:
    pytest.importorskip("playwright.sync_api")
    page = render_html(report / "report.html", tmp_path, system_tool("chromium"))
    assert page.problems == []
    assert [u for u in page.requests if not u.startswith(("file:", "data:"))] == []  # self-contained: no network
    figures = len(list(report.glob("*.png")))
    assert len(page.images) == figures == 3
    assert all(i["natural"] > 500 and 0 < i["width"] <= i["container"] + 1 for i in page.images)
    assert page.overflowing == []
    # 2 score tables, the chance tests, 2 comparison, 2 probe tables and the provenance table
    assert page.tables == [
        "scores-reversal-curse-likelihood",
        "scores-reversal-curse",
        "chance",
        "comparisons-reversal-curse-likelihood",
        "comparisons-reversal-curse",
        "probes-reversal-curse-truth",
        "probe-differences-reversal-curse-truth",
        "provenance",
    ]
    assert len(page.source_cells) == len(results(report))
    assert all(c["text"] and c["width"] > 0 and c["right"] <= 1280 for c in page.source_cells)
    assert page.screenshot.stat().st_size > 50_000


def test_every_chance_test_the_cli_shows_is_in_the_report(report: Path, study: Path) -> None:
    cli = pd.read_csv(study / "scores.csv").dropna(subset=["p_chance"])  # the CLI's `p (= 0)` column
    assert len(cli) == 8
    by_key = {(r["task"], r["model"], r["condition"], r["metric"]): r for r in results(report) if r["kind"] == "score"}
    chance = next(body for header, body in markdown_tables((report / "report.md").read_text()) if "p (= 0)" in header)
    shown = {line[0]: line[-1] for line in chance}
    for row in cli.itertuples():
        ours = by_key[(row.task, row.model, row.condition, row.metric)]
        assert shown[ours["id"]] == ("<0.001" if row.p_chance < 0.001 else f"{row.p_chance:.3f}"), ours["id"]
    assert len(shown) == len(cli)
    assert "p (= 0)" in (report / "tables.tex").read_text()


def test_models_keep_their_run_order_and_a_metric_without_margin_shows_none(report: Path, study: Path) -> None:
    from prosaic_evals.report._evidence import read_evidence

    logs = sorted((study / "logs").glob("*.eval"))
    run_order = ["prosaic-vllm/local", "prosaic-vllm/variant/reversal-curse-smollm2-lora"]
    assert read_evidence(logs).models == read_evidence(logs[::-1]).models == run_order  # not the file names'
    tables = markdown_tables((report / "report.md").read_text())
    scores = [h for h, _ in tables if h[:4] == ["Ref.", "Condition", "Metric", "n (clusters)"] and "p" not in h]
    assert len(scores) == 2 and all(h[-2:] == [short(m) for m in run_order] for h in scores)  # the base first
    for header, body in tables:
        if "Margin" in header:
            for line in body:  # the study sets margins for every metric but p_correct
                margin = line[header.index("Margin")]
                assert margin == "—" if line[header.index("Metric")] == "p_correct" else margin.startswith("±")
