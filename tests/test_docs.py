"""The documentation site builds offline with no broken link, and its reference covers the code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import get_args

import click
import pytest
from pydantic import BaseModel

from prosaic_evals import _reference
from prosaic_evals._cli import cli
from prosaic_evals.families import FAMILIES
from prosaic_evals.finetune._spec import FineTuneSpec
from prosaic_evals.probes._spec import ProbeSpec
from prosaic_evals.spec._models import ScorerSpec, TaskSpec
from prosaic_evals.study._study import StudySpec

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = DOCS / "pages"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    mkdocs = Path(sys.executable).with_name("mkdocs")
    result = subprocess.run(
        [str(mkdocs), "build", "--strict", "-f", str(DOCS / "mkdocs.yml"), "--site-dir", str(out)],
        capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_the_site_builds_strictly_with_every_page_of_the_nav(site: Path) -> None:
    for page in PAGES.rglob("*.md"):
        built = site / page.relative_to(PAGES).with_suffix(".html")
        assert built.is_file(), built
    for generated in _reference.PAGES:
        assert (site / generated).with_suffix(".html").is_file()
    for html in site.rglob("*.html"):
        text = html.read_text()
        assert "<!-- generated:" not in text, html  # every generated-table marker was replaced
        ids = re.findall(r' id="([^"]+)"', text)
        assert len(ids) == len(set(ids)), (html, sorted({i for i in ids if ids.count(i) > 1}))


def test_the_site_fetches_nothing_when_read_offline(site: Path) -> None:
    """Fonts are off and the search shim is vendored: no page loads a script, style or font from the network."""
    for html in site.rglob("*.html"):
        text = html.read_text()
        assert not re.search(r"""<(script|link)[^>]+(src|href)=["']https?://""", text), html


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "index.md").write_text("# Home\n\nSee [a page](missing.md) and [this](#nowhere).\n")
    config = (DOCS / "mkdocs.yml").read_text()
    config = re.sub(r"(?ms)^nav:.*", "", config).replace("  - hooks.py", f"  - {DOCS / 'hooks.py'}")
    (tmp_path / "mkdocs.yml").write_text(config)
    result = subprocess.run(
        [str(Path(sys.executable).with_name("mkdocs")), "build", "--strict", "-f", str(tmp_path / "mkdocs.yml"),
         "--site-dir", str(tmp_path / "site")],
        capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, timeout=300,
    )  # fmt: skip
    assert result.returncode != 0
    assert "missing.md" in result.stderr and "#nowhere" in result.stderr


def _options(command: click.Command) -> list[str]:
    found = []
    for param in command.params:
        if isinstance(param, click.Option):
            found += [*param.opts, *param.secondary_opts]
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            found += _options(sub)
    return found


def test_the_cli_reference_lists_every_command_and_option() -> None:
    page = _reference.cli_page()
    assert isinstance(cli, click.Group)
    for name in cli.commands:
        assert f"## {name}\n" in page
    for option in _options(cli):
        assert re.search(rf"`[^`]*{re.escape(option)}\b", page), option


def _all_models() -> list[type[BaseModel]]:
    roots = [TaskSpec, StudySpec, FineTuneSpec, ProbeSpec, *get_args(get_args(ScorerSpec)[0])]
    roots += [family.Parameters for family in FAMILIES.values()]
    return [model for root in roots for model in _reference.nested_models(root)]


def test_every_field_of_every_file_format_is_documented_in_the_reference() -> None:
    scorers = set(get_args(get_args(ScorerSpec)[0]))  # a scorer's `name` is the heading it is listed under
    undocumented = [
        f"{model.__name__}.{name}"
        for model in _all_models()
        for name, field in model.model_fields.items()
        if not field.description and not (model in scorers and name == "name")
    ]
    assert undocumented == [], undocumented
    pages = _reference.families_page() + _reference.study_files_page()
    for model in _all_models():
        for name in model.model_fields:
            assert f"| `{name}` |" in pages, f"{model.__name__}.{name}"


def test_every_family_has_its_parameters_and_conditions_in_the_reference() -> None:
    page = _reference.families_page()
    for name, family in FAMILIES.items():
        assert f"### {name}\n" in page
        for condition in family.conditions:
            assert f"| `{condition}` |" in page, (name, condition)


def test_a_family_page_exists_for_every_family_and_uses_the_generated_tables() -> None:
    marked = {m.group(2) for page in (PAGES / "families").glob("*.md") for m in _MARKER.finditer(page.read_text())}
    marked |= {m.group(2) for m in _MARKER.finditer((PAGES / "own-experiment.md").read_text())}
    assert set(FAMILIES) <= marked, set(FAMILIES) - marked


_MARKER = re.compile(r"^<!-- generated: (\w+) (\w+) -->$", re.MULTILINE)


def test_the_readme_is_short_and_its_links_into_the_docs_resolve() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 220
    links = re.findall(r"\]\((docs/pages/[^)#]+)", readme)
    assert links, "the README links into the docs"
    for link in links:
        assert (ROOT / link).is_file(), link


def test_no_page_refers_to_files_outside_the_repository() -> None:
    text = "\n".join(p.read_text() for p in [ROOT / "README.md", *PAGES.rglob("*.md")])
    for name in ("PROTOCOLS.md", "DESIGN.md", "STYLE.md", "../shared"):
        assert name not in text, name
