"""Families from outside the package: plugin entry points, `module:Class` in a task file, and the skeleton
that `prosaic-evals new family` writes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from prosaic_evals.families import plugin_families
from prosaic_evals.run import eval_items
from prosaic_evals.spec import load_task
from tests._cli import run_cli
from tests.test_cli import assert_one_line_error

EXAMPLE = Path(__file__).parents[1] / "plugin_example"


@pytest.fixture(autouse=True)
def fresh_plugins() -> Iterator[None]:
    plugin_families.cache_clear()
    yield
    plugin_families.cache_clear()


def dist(folder: Path, package: str, entry: str) -> None:
    """A distribution's metadata with one entry point, as pip would install it."""
    info = folder / f"{package}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[prosaic_evals.families]\n{entry}\n")


def test_a_plugin_family_is_listed_and_used_from_a_task_file_like_a_built_in_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    done = run_cli("tasks", env={"COLUMNS": "250"})
    assert done.returncode == 0
    (row,) = [line for line in done.stdout.splitlines() if "example_sums" in line]
    assert "plugin prosaic-evals-example-plugin" in row and "exact_match, likelihood" in row
    task = load_task(EXAMPLE / "example_sums.yaml")
    items = eval_items(task)
    assert {i.condition for i in items} == {"digits", "words"} and len(items) == 12
    assert all(str(sum(map(int, i.cluster.split("+")))) == i.target for i in items)


def test_a_broken_plugin_is_one_line_and_every_other_family_stays_usable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_plugin.py").write_text("raise ImportError('needs torch-nightly')\n")
    (tmp_path / "clashing_plugin.py").write_text("from prosaic_evals.families.two_hop import TwoHop as Family2\n")
    dist(tmp_path, "broken-plugin", "broken = broken_plugin:Family")
    dist(tmp_path, "clashing-plugin", "two_hop = clashing_plugin:Family2")
    monkeypatch.syspath_prepend(str(tmp_path))
    done = run_cli("tasks", env={"COLUMNS": "250"})
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert sorted(done.stderr.splitlines()) == [  # in the order the environment lists the distributions
        "plugin family 'broken' from package broken-plugin was not loaded: needs torch-nightly",
        "plugin family 'two_hop' from package clashing-plugin was not loaded: its name 'two_hop' is a built-in "
        "family's",
    ]
    assert "reversal_curse" in done.stdout and "│ two_hop" in done.stdout
    assert load_task("two_hop").family.name == "two_hop"  # the built-in, not the clashing plugin


def test_a_task_file_may_name_its_family_as_module_and_class(tmp_path: Path) -> None:
    (tmp_path / "task.yaml").write_text(
        "family: prosaic_evals_example_plugin:Sums\nparameters: {items: 2}\nscorer: {name: exact_match}\n"
    )
    (tmp_path / "prosaic_evals_example_plugin").symlink_to(EXAMPLE / "prosaic_evals_example_plugin")
    assert len(eval_items(load_task(tmp_path / "task.yaml"))) == 4  # found beside the task file
    (tmp_path / "bad.yaml").write_text("family: no_such_module:Family\nscorer: {name: exact_match}\n")
    assert_one_line_error(run_cli("data", str(tmp_path / "bad.yaml")), "bad.yaml: family: no_such_module:Family: "
                          "cannot import no_such_module (ModuleNotFoundError")  # fmt: skip
    (tmp_path / "item.yaml").write_text("family: prosaic_evals.families:Item\nscorer: {name: exact_match}\n")
    assert_one_line_error(run_cli("data", str(tmp_path / "item.yaml")), "is not a subclass of")


def test_new_family_writes_a_package_that_passes_its_own_tests(tmp_path: Path) -> None:
    done = run_cli("new", "family", "my_probe", "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    package = tmp_path / "my_probe"
    assert sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file()) == [
        "README.md", "prosaic_evals_my_probe/__init__.py", "pyproject.toml", "tasks/my_probe.yaml",
        "tests/test_my_probe.py",
    ]  # fmt: skip
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=package,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert tests.returncode == 0 and "3 passed" in tests.stdout, tests.stdout
    assert "my_probe" in (package / "pyproject.toml").read_text()
    assert_one_line_error(run_cli("new", "family", "my_probe", "-o", str(tmp_path)), "already exists; it is left alone")
    assert_one_line_error(run_cli("new", "family", "two_hop", "-o", str(tmp_path)), "is a built-in family's")
    assert_one_line_error(run_cli("new", "family", "My-Probe", "-o", str(tmp_path)), "use 2-40 lower-case letters")
