"""MkDocs hooks: reference pages and tables generated from the code at build time, so they cannot drift."""

from __future__ import annotations

import re
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from prosaic_evals._reference import MARKERS, PAGES

MARKER = re.compile(r"^<!-- generated: (\w+) (\w+) -->$", re.MULTILINE)


def on_files(files: Files, config: Any) -> Files:
    for uri, render in PAGES.items():
        files.append(File.generated(config, uri, content=render()))
    return files


def on_page_markdown(markdown: str, page: Page, config: Any, files: Files) -> str:
    def table(match: re.Match[str]) -> str:
        kind, family = match.groups()
        if kind not in MARKERS:
            raise PluginError(f"{page.file.src_uri}: unknown generated table {kind!r} (known: {', '.join(MARKERS)})")
        try:
            return MARKERS[kind](family)
        except KeyError:
            raise PluginError(f"{page.file.src_uri}: unknown family {family!r} in a generated {kind} table") from None

    return MARKER.sub(table, markdown)
