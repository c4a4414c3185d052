"""tables.tex: the report's tables as booktabs floats, for `\\input{}` into a paper.

Needs `\\usepackage{booktabs,rotating}` in the preamble. Every table is set in \\footnotesize and never
scaled, so all have one font size. LaTeX itself measures each table: one wider than the line (whatever
the paper's layout) is set landscape, as a `sidewaystable`. One too wide even for that (estimated here)
is split into parts by columns, each repeating the columns that name a row, and one too long for a page
into parts by rows. Headers wrap at spaces, long text cells within a fixed width. Cells are the same
strings as in report.md, escaped; minus signs become math minus signs.
"""

from __future__ import annotations

import math
import re
import unicodedata

from prosaic_evals.report._document import Table

SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
           "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
           "—": "---", "–": "--", "<": r"\textless{}", ">": r"\textgreater{}", "≥": r"$\geq$", "≤": r"$\leq$",
           "Δ": r"$\Delta$", "†": r"\textsuperscript{\dag}", "→": r"$\to$", "±": r"$\pm$", "∞": r"$\infty$",
           "·": r"$\cdot$", "−": r"$-$", "×": r"$\times$", "…": r"\dots{}", "’": "'", "‘": "`", "“": "``",
           "”": "''", "[": "{[}", "]": "{]}", "\u00a0": "~"}  # fmt: skip
"""`[` and `]` in braces: after `\\` a bracket would be read as the row's spacing argument."""

MINUS = re.compile(r"(?<![\w)\-])-(?=\d)")
"""A minus sign: a hyphen before a digit that follows no word, bracket or dash (`1–3` is `1--3`, not a minus)."""

PAGE_HEIGHT = 540.0
"""Points: a landscape table's room (article's text height, 550pt, less a margin for its caption's line)."""

TEXT_WIDTH = 345.0
"""Points: an article's text width; a table estimated wider is set landscape, where fewer rows fit."""

ROWS = (40, 24)
"""Rows per part: of a table that fits the text width, of a landscape one (each with its caption and notes)."""

WRAP = 170.0
"""Points: a text cell wider than this wraps, ragged right, within this width."""

COLUMN_GAP = 8.0
"""Points between two columns: 2 x \\tabcolsep, set to 4pt."""


def text_width(text: str) -> float:
    """The width of `text` in points at \\footnotesize Computer Modern (measured: digits 4.25pt, lower case
    about 3.9pt on average, capitals 6pt; within a few percent of what LaTeX sets)."""
    wide = {"—": 8.2, "→": 8.2, "±": 6.5, "∞": 8.2, "%": 6.7, "_": 4.3, " ": 2.7}
    points = sum(wide.get(c, 6.0 if c.isupper() else 4.25 if c.isdigit() else 3.9 if c.isalpha() else 2.4)
                 for c in text)  # fmt: skip
    return points + 2.3 * len(MINUS.findall(text))  # a minus sign is wider than a hyphen


def header_lines(header: str, room: float) -> list[str]:
    """A header broken at spaces into lines no wider than `room` (its column's widest cell) where it can."""
    lines: list[str] = []
    for word in header.split(" "):
        if lines and text_width(f"{lines[-1]} {word}") <= room:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines


def _cells_width(table: Table, i: int) -> float:
    widest = max((text_width(row[i]) for row in table.rows), default=0.0)
    return min(widest, WRAP) if not table.numeric_columns[i] else widest


def column_widths(table: Table) -> list[float]:
    widths = []
    for i, header in enumerate(table.columns):
        cells = _cells_width(table, i)
        widths.append(max(cells, *(text_width(line) for line in header_lines(header, cells))) + COLUMN_GAP)
    return widths


def escape(text: str) -> str:
    text = "".join(SPECIAL.get(ch, ch) for ch in text)
    # anything else beyond ASCII as its closest ASCII letters: pdflatex's default input has no glyph for it
    text = "".join(ch if ord(ch) < 128 else unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
                   for ch in text)  # fmt: skip
    # a minus sign before a digit, not a hyphen inside a word
    return MINUS.sub(r"$-$", text)


def _text_cell(text: str) -> str:
    """A long text cell: a ragged-right box of the wrap width, breakable after `_`, `-`, `/` and `,` too (file
    and model names have no spaces)."""
    breakable = re.sub(r"(\\_|-|/|,)", r"\1\\allowbreak{}", escape(text))
    return rf"\parbox[t]{{{WRAP:g}pt}}{{\raggedright {breakable}}}"


def column_parts(table: Table) -> list[list[int]]:
    """The columns of each part: all of them when they fit a landscape page, else the columns that name a row
    repeated with an even share of the others in each part."""
    widths = column_widths(table)
    if sum(widths) <= PAGE_HEIGHT:
        return [list(range(len(widths)))]
    keys = list(range(table.key_columns))
    rest = list(range(len(keys), len(widths)))
    room = PAGE_HEIGHT - sum(widths[i] for i in keys)
    share = sum(widths[i] for i in rest) / math.ceil(sum(widths[i] for i in rest) / room)
    chunks: list[list[int]] = [[]]
    for i in rest:
        filled = sum(widths[j] for j in chunks[-1])
        if chunks[-1] and (filled + widths[i] > room or filled + widths[i] / 2 > share):
            chunks.append([])
        chunks[-1].append(i)
    return [keys + chunk for chunk in chunks]


def parts(table: Table) -> list[tuple[list[int], range]]:
    """(columns, rows) of each part: the column parts, each cut into pages of rows."""
    found = []
    widths = column_widths(table)
    for columns in column_parts(table):
        most = ROWS[sum(widths[i] for i in columns) > TEXT_WIDTH]
        found += [(columns, range(s, min(s + most, len(table.rows)))) for s in range(0, len(table.rows), most)]
    return found or [(list(range(len(table.columns))), range(0))]


FIT = r"""\ifdefined\prosaicfit\else
\newsavebox{\prosaicbox}
% \prosaicfit{caption}{label}{tabular}{notes}: a table float in \footnotesize, landscape if wider than the line
\newcommand{\prosaicfit}[4]{%
  \sbox{\prosaicbox}{\footnotesize\setlength{\tabcolsep}{4pt}#3}%
  \ifdim\wd\prosaicbox>\linewidth
    \begin{sidewaystable}\centering\footnotesize\caption{#1}\label{#2}\usebox{\prosaicbox}#4\end{sidewaystable}%
  \else
    \begin{table}[tp]\centering\footnotesize\caption{#1}\label{#2}\usebox{\prosaicbox}#4\end{table}%
  \fi}
\fi"""


def to_latex(tables: list[Table], header: str) -> str:
    out = [f"% {line}" for line in header.splitlines()]
    out += [r"% Needs \usepackage{booktabs,rotating}.", FIT]
    for table in tables:
        split = parts(table)
        for number, (columns, rows) in enumerate(split, start=1):
            out += ["", *_float(table, columns, rows, number, len(split))]
    return "\n".join(out) + "\n"


def _float(table: Table, columns: list[int], rows: range, number: int, count: int) -> list[str]:
    numbers = table.numeric_columns
    align = ["r" if numbers[i] else "l" for i in columns]
    caption = escape(table.caption) + (f" (part {number} of {count})" if count > 1 else "")
    label = f"tab:{table.label}" + (f"-{number}" if number > 1 else "")
    headers = []
    for a, i in zip(align, columns, strict=True):
        lines = [escape(line) for line in header_lines(table.columns[i], _cells_width(table, i))]
        stacked = r" \\ ".join(lines)  # a header on several lines: a one-column tabular
        headers.append(
            lines[0] if len(lines) == 1 else rf"\begin{{tabular}}[b]{{@{{}}{a}@{{}}}}{stacked}\end{{tabular}}"
        )

    def cell(i: int, text: str) -> str:
        return _text_cell(text) if not numbers[i] and text_width(text) > WRAP else escape(text)

    notes = ""
    if table.notes and number == count:  # under the last part; ragged right: notes hold long model names
        notes = r"\par\smallskip\raggedright " + " ".join(escape(n) for n in table.notes)
    return [
        rf"\prosaicfit{{{caption}}}{{{label}}}{{%",
        rf"\begin{{tabular}}{{@{{}}{''.join(align)}@{{}}}}",
        r"\toprule",
        " & ".join(headers) + r" \\",
        r"\midrule",
        *[" & ".join(cell(i, table.rows[r][i]) for i in columns) + r" \\" for r in rows],
        r"\bottomrule",
        r"\end{tabular}}{%",
        notes + "}",
    ]
