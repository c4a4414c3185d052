"""Render a report as a reader would: tables.tex compiled by pdflatex, report.html in headless Chromium."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PREAMBLE = "\\documentclass{article}\n\\usepackage{booktabs,rotating}\n\\begin{document}\n"
LATEX_PROBLEMS = re.compile(r"Overfull|Underfull|LaTeX Warning|Package \w+ Warning|Float too large")


def compile_tables(tables: Path, folder: Path, engine: str) -> str:
    """pdflatex on an article that inputs `tables`, twice (so references settle); the log of the second run."""
    (folder / "paper.tex").write_text(f"{PREAMBLE}\\input{{{tables}}}\n\\end{{document}}\n")
    for _ in range(2):
        done = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=folder,
                              capture_output=True, text=True, timeout=180)  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:]
    return (folder / "paper.log").read_text(errors="replace")


def latex_problems(log: str) -> list[str]:
    return [line for line in log.splitlines() if LATEX_PROBLEMS.search(line)]


@dataclass
class Rendered:
    problems: list[str]
    """Console errors and warnings, page errors."""

    requests: list[str]
    images: list[dict[str, Any]]
    """Per <img>: natural width, its box, its container's box."""

    overflowing: list[str]
    """Elements wider than their container: a table in its scroll box, a cell past the page."""

    tables: list[str]
    """Each table's id."""

    headings: list[str]
    source_cells: list[dict[str, Any]]
    """The provenance table's Source cells: text and box."""

    screenshot: Path


MEASURE = """() => {
  const box = e => { const r = e.getBoundingClientRect(); return {left: r.left, right: r.right, width: r.width,
                                                                  height: r.height}; };
  const page = document.body.getBoundingClientRect();
  const overflowing = [];
  for (const t of document.querySelectorAll('table')) {
    if (t.scrollWidth > t.parentElement.clientWidth + 1) overflowing.push('table ' + t.id);
  }
  for (const e of document.querySelectorAll('td, th, img, p, figure, h1, h2, h3, .notes')) {
    const r = e.getBoundingClientRect();
    if (r.width > 0 && (r.right > page.right + 1 || r.left < page.left - 1)) overflowing.push(e.tagName + ' ' + e.textContent.slice(0, 40));
  }
  const provenance = document.getElementById('provenance');
  let source = [];
  if (provenance) {
    const index = [...provenance.querySelectorAll('thead th')].findIndex(th => th.textContent === 'Source');
    source = [...provenance.querySelectorAll('tbody tr')].map(tr => {
      const cell = tr.children[index]; return {text: cell.textContent, ...box(cell)}; });
  }
  return {
    images: [...document.images].map(i => ({natural: i.complete ? i.naturalWidth : 0, ...box(i),
                                            container: box(i.parentElement).width})),
    overflowing, tables: [...document.querySelectorAll('table')].map(t => t.id),
    headings: [...document.querySelectorAll('h1, h2')].map(h => h.textContent), source,
  };
}"""


def render_html(html: Path, folder: Path, chromium: str) -> Rendered:
    """report.html in headless Chromium at a laptop's width: what loaded, what overflows, a full-page screenshot."""
    from playwright import sync_api

    problems: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])  # fmt: skip
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(html.as_uri())
        measured = page.evaluate(MEASURE)
        shot = folder / f"{html.parent.name}.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    return Rendered(problems, requests, measured["images"], measured["overflowing"], measured["tables"],
                    measured["headings"], measured["source"], shot)  # fmt: skip


def markers(ax: Any) -> list[tuple[float, float]]:
    """Display coordinates of every marker drawn in a panel (points and error-bar caps)."""
    points = []
    for line in ax.lines:
        if line.get_marker() not in (None, "None", "", " "):
            points += [tuple(p) for p in line.get_transform().transform(line.get_xydata())]
    return points


def assert_legend_clear(fig: Any) -> Any:
    """One legend, for the whole figure, inside it and over no panel (so over no data); returns the legend."""
    fig.canvas.draw()
    assert len(fig.legends) == 1 and all(ax.get_legend() is None for ax in fig.axes)
    legend = fig.legends[0]
    box = legend.get_window_extent()
    assert fig.bbox.contains(box.x0, box.y0) and fig.bbox.contains(box.x1, box.y1)  # not cut off
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison:
            continue  # an empty slot of the grid
        assert not box.overlaps(ax.get_window_extent())
        assert not any(box.contains(x, y) for x, y in markers(ax))
    return legend
