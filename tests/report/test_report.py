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
    for tex, plain in [
        (r"\textminus{}", "-"),
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
            if row["id"] in refs:
                column = COLUMN[row["kind"]] or short(row["model"])
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


def test_latex_tables_compile(report: Path, tmp_path: Path, system_tool: Any) -> None:
    import subprocess

    engine = system_tool("pdflatex")
    (tmp_path / "paper.tex").write_text(
        "\\documentclass{article}\n\\usepackage{booktabs,graphicx}\n\\begin{document}\n"
        f"\\input{{{report / 'tables.tex'}}}\n\\end{{document}}\n"
    )
    done = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    log = (tmp_path / "paper.log").read_text(errors="replace")
    assert "Overfull \\hbox" not in log
    assert (tmp_path / "paper.pdf").stat().st_size > 10_000
    assert log.count("booktabs") >= 1 and (report / "tables.tex").read_text().count("\\begin{table}") == 6


def test_the_html_report_renders_in_chromium_with_its_figures_and_tables(
    report: Path, tmp_path: Path, system_tool: Any
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = system_tool("chromium")
    problems: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])  # fmt: skip
        page = browser.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto((report / "report.html").as_uri())
        widths = page.evaluate("[...document.images].map(i => i.complete ? i.naturalWidth : 0)")
        tables = page.locator("table").count()
        rows = page.locator("tbody tr").count()
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert problems == []
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []  # self-contained: no network
    figures = len(list(report.glob("*.png")))
    assert len(widths) == figures == 3 and all(w > 500 for w in widths)
    assert tables == 7  # 2 score, 2 comparison, 2 probe tables and the provenance table
    assert rows == 2 * len(results(report)) - sum(r["kind"] == "score" for r in results(report)) // 2
    assert (tmp_path / "report.png").stat().st_size > 50_000


def test_models_keep_their_run_order_and_a_metric_without_margin_shows_none(report: Path, study: Path) -> None:
    from prosaic_evals.report._evidence import read_evidence

    logs = sorted((study / "logs").glob("*.eval"))
    run_order = ["prosaic-vllm/local", "prosaic-vllm/variant/reversal-curse-smollm2-lora"]
    assert read_evidence(logs).models == read_evidence(logs[::-1]).models == run_order  # not the file names'
    for header, body in markdown_tables((report / "report.md").read_text()):
        if "n (clusters)" in header and "Difference [95% CI]" not in header:
            assert header[-2:] == [short(m) for m in run_order]  # the base's column first
        if "Margin" in header:
            for line in body:  # the study sets margins for every metric but p_correct
                margin = line[header.index("Margin")]
                assert margin == "—" if line[header.index("Metric")] == "p_correct" else margin.startswith("±")
