"""Where state goes, and output folders that are replaced whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from prosaic_evals._errors import UserError
from prosaic_evals._paths import keep_inspect_cache_in_home, write_folder


def test_each_home_has_its_own_generation_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two homes must never share cached answers: inspect's cache follows PROSAIC_EVALS_HOME."""
    from inspect_ai.model._cache import cache_path

    monkeypatch.delenv("INSPECT_CACHE_DIR")
    monkeypatch.setenv("PROSAIC_EVALS_HOME", str(tmp_path / "home"))
    keep_inspect_cache_in_home()
    assert Path(cache_path()).is_relative_to(tmp_path / "home" / "inspect-cache")
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "mine"))
    keep_inspect_cache_in_home()  # a cache folder the user chose stays theirs
    assert Path(cache_path()).is_relative_to(tmp_path / "mine")


def test_a_folder_is_replaced_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with write_folder(target, marker="done.txt") as tmp:
        (tmp / "done.txt").write_text("1")
    with pytest.raises(RuntimeError), write_folder(target, marker="done.txt") as tmp:
        (tmp / "done.txt").write_text("2")
        raise RuntimeError("interrupted")
    assert (target / "done.txt").read_text() == "1" and [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_folder_without_the_marker_is_never_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    with pytest.raises(UserError, match="exists and holds other files"), write_folder(mine, marker="done.txt"):
        pass
    monkeypatch.chdir(mine)
    for target in (Path("."), Path(".."), tmp_path):
        with (
            pytest.raises(UserError, match="cannot be the working folder or above it"),
            write_folder(target, marker="x"),
        ):
            pass
    assert (mine / "thesis.tex").read_text() == "years of work"
    empty = tmp_path / "empty"
    empty.mkdir()
    with write_folder(empty, marker="done.txt") as tmp:  # an empty folder is fine
        (tmp / "done.txt").write_text("1")
    assert (empty / "done.txt").is_file()
