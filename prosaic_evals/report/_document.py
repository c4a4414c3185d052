"""The report as blocks (paragraphs, tables, figures, warnings), rendered to Markdown and to
self-contained HTML (figures embedded as data URIs, inline CSS, no scripts, no network)."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path


@dataclass
class Table:
    label: str
    caption: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)

    @cached_property  # asked per cell when tables.tex is laid out; rows do not change once made
    def numeric_columns(self) -> list[bool]:
        """Per column, whether it holds numbers (right-aligned) rather than words (left-aligned)."""
        return [
            bool(self.rows) and all(numeric(row[i]) for row in self.rows if row[i]) for i in range(len(self.columns))
        ]

    @property
    def key_columns(self) -> int:
        """The leading word columns that name a row (at most three: `Ref.`, condition, metric)."""
        numbers = self.numeric_columns
        return min(3, next((i for i, n in enumerate(numbers) if n), len(numbers)))


@dataclass
class Figure:
    label: str
    caption: str
    stem: str
    """File name without suffix: `stem`.png and `stem`.pdf in the report folder."""


@dataclass
class Alert:
    text: str


@dataclass
class Heading:
    text: str
    level: int = 2


Block = str | Table | Figure | Alert | Heading


def to_markdown(title: str, blocks: list[Block]) -> str:
    out = [f"# {title}", ""]
    for block in blocks:
        if isinstance(block, Heading):
            out += ["#" * block.level + " " + block.text, ""]
        elif isinstance(block, Alert):
            out += [f"> **Warning.** {block.text}", ""]
        elif isinstance(block, Figure):
            out += [f"![{block.caption}]({block.stem}.png)", "", f"*{block.caption}* ([PDF]({block.stem}.pdf))", ""]
        elif isinstance(block, Table):
            out += [f"**{block.caption}**", ""]
            out.append("| " + " | ".join(block.columns) + " |")
            out.append("| " + " | ".join("---" for _ in block.columns) + " |")
            out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in block.rows]
            out += [""] + [f"{note}  " for note in block.notes] + ([""] if block.notes else [])
        else:
            out += [block, ""]
    return "\n".join(out).rstrip() + "\n"


CSS = """
body { font-family: Georgia, 'Times New Roman', serif; max-width: 76rem; margin: 2rem auto; padding: 0 1rem;
       color: #1a1a1a; line-height: 1.45; }
h1, h2, h3 { font-family: Helvetica, Arial, sans-serif; }
table { border-collapse: collapse; margin: 0.5rem 0 0.3rem; font-size: 0.8rem; }
caption { caption-side: top; text-align: left; font-weight: bold; padding-bottom: 0.3rem; }
thead th { border-top: 2px solid #000; border-bottom: 1px solid #000; }
tbody tr:last-child td { border-bottom: 2px solid #000; }
th, td { padding: 0.2rem 0.45rem; text-align: right; vertical-align: top; }
th { vertical-align: bottom; overflow-wrap: break-word; }
td.text, th.text { text-align: left; }
td.text { overflow-wrap: anywhere; min-width: 4.5rem; }
.notes { font-size: 0.8rem; color: #444; margin-bottom: 1.5rem; }
figure { margin: 1rem 0 2rem; }
figure img { max-width: 100%; }
figcaption { font-size: 0.85rem; }
.warning { border-left: 4px solid #c60; background: #fff4e5; padding: 0.5rem 1rem; margin: 1rem 0; }
.scroll { overflow-x: auto; }
"""


def to_html(title: str, blocks: list[Block], folder: Path) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Alert):
            out.append(f'<div class="warning"><strong>Warning.</strong> {html.escape(block.text)}</div>')
        elif isinstance(block, Figure):
            data = base64.b64encode((folder / f"{block.stem}.png").read_bytes()).decode()
            out.append(
                f'<figure id="{block.label}"><img alt="{html.escape(block.caption)}" '
                f'src="data:image/png;base64,{data}"><figcaption>{html.escape(block.caption)}</figcaption></figure>'
            )
        elif isinstance(block, Table):
            out.append(f'<div class="scroll"><table id="{block.label}"><caption>{html.escape(block.caption)}</caption>')
            align = ["" if number else TEXT for number in block.numeric_columns]
            out.append(
                "<thead><tr>"
                + "".join(f"<th{a}>{html.escape(c)}</th>" for a, c in zip(align, block.columns, strict=True))
            )
            out.append("</tr></thead><tbody>")
            for row in block.rows:
                cells = "".join(f"<td{a}>{_cell(c, a)}</td>" for a, c in zip(align, row, strict=True))
                out.append(f"<tr>{cells}</tr>")
            out.append("</tbody></table></div>")
            if block.notes:
                out.append('<div class="notes">' + "<br>".join(html.escape(n) for n in block.notes) + "</div>")
        else:
            out.append(f"<p>{html.escape(block)}</p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


TEXT = ' class="text"'


def _cell(text: str, align: str) -> str:
    """A cell's HTML: a number may wrap only before its interval (`0.512` / `[0.431, 0.593]`) or after a `/`
    between models' counts, never inside a number."""
    if align == TEXT:
        return html.escape(text)
    return html.escape(text).replace(" ", "\u00a0").replace("\u00a0[", " [").replace("/", "/\u200b")


NUMBER = re.compile(r"[+\-<\[]?[\d.,]+(\s.*)?|\d+/\d+(\s.*)?|—|∞")
"""A cell that holds a number (`0.512 [0.431, 0.593]`, `100 (20)`, `<0.001`), not text that starts with digits
(a log's file name, `2026-12-05T...`)."""


def numeric(cell: str) -> bool:
    return bool(NUMBER.fullmatch(cell))
