"""Where prosaic-evals keeps state, and where the shipped tasks and data live."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HOME_ENV = "PROSAIC_EVALS_HOME"
"""Root for caches, converted models, server logs and the variant registry."""


def home() -> Path:
    """State directory: `$PROSAIC_EVALS_HOME`, else `~/.cache/prosaic-evals`."""
    env = os.environ.get(HOME_ENV)
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "prosaic-evals"
    root.mkdir(parents=True, exist_ok=True)
    return root


def keep_inspect_cache_in_home() -> None:
    """inspect's generation cache goes under the home too (unless INSPECT_CACHE_DIR says otherwise), so that
    two homes never share cached answers."""
    os.environ.setdefault("INSPECT_CACHE_DIR", str(home() / "inspect-cache"))


def display_path(path: Path | str) -> str:
    """`path` relative to the working directory when it lies below it, for messages."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(Path.cwd()))
    except ValueError:
        return str(resolved)


def _shipped(name: str) -> Path:
    # A wheel carries tasks/ and datasets/ inside the package (see pyproject's
    # force-include); an editable install reads them from the repository root.
    package = Path(__file__).resolve().parent
    for candidate in (package / f"_{name}", package.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"shipped {name}/ directory not found next to {package}")


def tasks_dir() -> Path:
    """Directory of the shipped task files."""
    return _shipped("tasks")


def datasets_dir() -> Path:
    """Directory of the shipped data files (with `manifest.json`)."""
    return _shipped("datasets")


@contextmanager
def write_folder(target: Path, *, marker: str | None = None) -> Iterator[Path]:
    """A temporary sibling folder to fill, renamed to `target` (replacing it) only if the block succeeds,
    so an interrupted write never leaves a half-written folder behind.

    With `marker` (a file every such output holds), an existing non-empty `target` is replaced only if it
    holds that file: `-o .` or `-o ~/papers` must never delete a user's folder.
    """
    if marker is not None:
        check_output_folder(target, marker)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp's 0700 would make the finished folder private
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_output_folder(target: Path, marker: str) -> None:
    """Refuse an output folder that replacing would lose a user's files (checked again before the rename)."""
    from prosaic_evals._errors import UserError

    resolved = target.resolve()
    if resolved == Path(resolved.anchor) or resolved in (Path.cwd().resolve(), *Path.cwd().resolve().parents):
        raise UserError(f"{display_path(target) or '.'}: the output folder cannot be the working folder or above it")
    if resolved.is_file():
        raise UserError(f"{display_path(target)}: is a file; the output must be a folder")
    if resolved.is_dir() and any(resolved.iterdir()) and not (resolved / marker).is_file():
        raise UserError(
            f"{display_path(target)}: exists and holds other files (no {marker}); "
            "choose a new or empty folder, it is replaced whole"
        )
