"""The report as blocks (paragraphs, tables, figures, warnings), rendered to Markdown and to
self-contained HTML (figures embedded as data URIs, inline CSS, no scripts, no network)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Table:
    label: str
    caption: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    wide: bool = False
    """Too wide for the text width: tables.tex scales it down (also set when the cells are long)."""

    def __post_init__(self) -> None:
        widths = [max(len(c), *(len(r[i]) for r in self.rows)) for i, c in enumerate(self.columns)]
        self.wide = self.wide or sum(widths) + 2 * len(widths) > 95  # about a \small line of an article

    @property
    def text_columns(self) -> int:
        """Leading columns that hold words (left-aligned); the rest hold numbers (right-aligned)."""
        for i, cell in enumerate(self.rows[0] if self.rows else []):
            if numeric(cell):
                return i
        return len(self.columns)


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
body { font-family: Georgia, 'Times New Roman', serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem;
       color: #1a1a1a; line-height: 1.45; }
h1, h2, h3 { font-family: Helvetica, Arial, sans-serif; }
table { border-collapse: collapse; margin: 0.5rem 0 0.3rem; font-size: 0.85rem; }
caption { caption-side: top; text-align: left; font-weight: bold; padding-bottom: 0.3rem; }
thead th { border-top: 2px solid #000; border-bottom: 1px solid #000; }
tbody tr:last-child td { border-bottom: 2px solid #000; }
th, td { padding: 0.2rem 0.6rem; text-align: right; white-space: nowrap; }
td.text, th.text { text-align: left; }
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
            words = block.text_columns
            align = [TEXT if i < words else "" for i in range(len(block.columns))]
            out.append(
                "<thead><tr>"
                + "".join(f"<th{a}>{html.escape(c)}</th>" for a, c in zip(align, block.columns, strict=True))
            )
            out.append("</tr></thead><tbody>")
            for row in block.rows:
                cells = "".join(f"<td{a}>{html.escape(c)}</td>" for a, c in zip(align, row, strict=True))
                out.append(f"<tr>{cells}</tr>")
            out.append("</tbody></table></div>")
            if block.notes:
                out.append('<div class="notes">' + "<br>".join(html.escape(n) for n in block.notes) + "</div>")
        else:
            out.append(f"<p>{html.escape(block)}</p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


TEXT = ' class="text"'


def numeric(cell: str) -> bool:
    return bool(cell) and (cell[0].isdigit() or cell[0] in "+-—<[")
