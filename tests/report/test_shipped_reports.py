"""Every report shipped under analysis/ reads as it should: its LaTeX compiles without a warning, its HTML shows
every figure and table inside the page, and its text is prose (no Python reprs, nothing left unrecorded)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.report._render import compile_tables, latex_problems, render_html

ANALYSIS = Path(__file__).resolve().parents[2] / "analysis"
REPORTS = sorted(p.parent for p in ANALYSIS.rglob("report.md"))


def test_the_reports_are_found() -> None:
    assert len(REPORTS) >= 12


@pytest.mark.parametrize("report", REPORTS, ids=[str(p.relative_to(ANALYSIS)) for p in REPORTS])
def test_a_shipped_report_reads_as_prose(report: Path) -> None:
    text = (report / "report.md").read_text()
    methods = text[text.index("## Methods") :]
    assert not re.search(r"=None\b|\['|\{'|<[a-z_.]+ object", methods), "a Python repr in the methods"
    assert "data version none" not in methods and "not recorded" not in methods
    assert "Models: " in text  # the labels' note: each model's full name and identity


@pytest.mark.parametrize("report", REPORTS, ids=[str(p.relative_to(ANALYSIS)) for p in REPORTS])
def test_a_shipped_reports_latex_compiles_without_a_warning(report: Path, tmp_path: Path, system_tool: Any) -> None:
    log = compile_tables(report / "tables.tex", tmp_path, system_tool("pdflatex"))
    assert latex_problems(log) == []


@pytest.mark.parametrize("report", REPORTS, ids=[str(p.relative_to(ANALYSIS)) for p in REPORTS])
def test_a_shipped_reports_html_shows_everything_inside_the_page(
    report: Path, tmp_path: Path, system_tool: Any
) -> None:
    pytest.importorskip("playwright.sync_api")
    page = render_html(report / "report.html", tmp_path, system_tool("chromium"))
    assert page.problems == [] and page.overflowing == []
    assert len(page.images) == len(list(report.glob("*.png")))
    assert all(i["natural"] > 300 and 0 < i["width"] <= i["container"] + 1 for i in page.images)
    assert page.tables and page.tables[-1] == "provenance"
    assert page.source_cells and all(c["text"] and c["width"] > 0 and c["right"] <= 1280 for c in page.source_cells)
    assert page.headings[0] and "Methods" in page.headings and "Provenance" in page.headings
