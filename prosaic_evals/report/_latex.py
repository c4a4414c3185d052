"""tables.tex: the report's tables as booktabs floats, for `\\input{}` into a paper.

Needs `\\usepackage{booktabs,graphicx}` in the preamble (graphicx scales the wide tables).
Cells are the same strings as in report.md, escaped; minus signs become `\\textminus`.
"""

from __future__ import annotations

import re

from prosaic_evals.report._document import Table

SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
           "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
           "—": "---", "–": "--", "<": r"\textless{}", ">": r"\textgreater{}", "≥": r"$\geq$",
           "Δ": r"$\Delta$", "†": r"\textsuperscript{\dag}", "→": r"$\to$", "±": r"$\pm$"}  # fmt: skip


def escape(text: str) -> str:
    text = "".join(SPECIAL.get(ch, ch) for ch in text)
    # a minus sign before a digit, not a hyphen inside a word
    return re.sub(r"(?<![\w)])-(?=\d)", r"\\textminus{}", text)


def to_latex(tables: list[Table], header: str) -> str:
    out = [f"% {line}" for line in header.splitlines()]
    out.append(r"% Needs \usepackage{booktabs,graphicx}.")
    for table in tables:
        spec = "".join("l" if i < table.text_columns else "r" for i in range(len(table.columns)))
        body = [
            r"\toprule",
            " & ".join(escape(c) for c in table.columns) + r" \\",
            r"\midrule",
            *[" & ".join(escape(cell) for cell in row) + r" \\" for row in table.rows],
            r"\bottomrule",
        ]
        tabular = [rf"\begin{{tabular}}{{@{{}}{spec}@{{}}}}", *body, r"\end{tabular}"]
        if table.wide:
            tabular = [r"\resizebox{\linewidth}{!}{%", *tabular, "}"]
        out += [
            "",
            r"\begin{table}[t]",
            r"\centering",
            r"\small",
            rf"\caption{{{escape(table.caption)}}}",
            rf"\label{{tab:{table.label}}}",
            *tabular,
            *([r"\par\smallskip", r"\footnotesize " + " ".join(escape(n) for n in table.notes)] if table.notes else []),
            r"\end{table}",
        ]
    return "\n".join(out) + "\n"
