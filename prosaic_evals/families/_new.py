"""`prosaic-evals new family NAME`: a plugin package for a new family that passes its own test."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from prosaic_evals._errors import UserError
from prosaic_evals._paths import write_folder
from prosaic_evals.families import FAMILIES

NAME = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
TEMPLATES = {  # template -> path in the new package ({name}, {module} filled in)
    "family.py.txt": "{module}/__init__.py",
    "task.yaml.txt": "tasks/{name}.yaml",
    "test.py.txt": "tests/test_{name}.py",
    "pyproject.toml.txt": "pyproject.toml",
    "README.md.txt": "README.md",
}


def new_family(name: str, parent: Path) -> Path:
    """Write the package `parent/<name>` (refusing to touch an existing folder); return its path."""
    if not NAME.match(name):
        raise UserError(f"family name {name!r}: use 2-40 lower-case letters, digits and _, starting with a letter")
    if name in FAMILIES:
        raise UserError(f"family name {name!r} is a built-in family's; choose another")
    target = parent / name
    if target.exists():
        raise UserError(f"{target}: already exists; it is left alone")
    values = {"name": name, "module": f"prosaic_evals_{name}", "cls": "".join(p.title() for p in name.split("_"))}
    with write_folder(target) as folder:
        for template, relative in TEMPLATES.items():
            text = files("prosaic_evals.families").joinpath("_skeleton", template).read_text()
            path = folder / relative.format(**values)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text.replace("{{name}}", name).replace("{{module}}", values["module"])
                            .replace("{{cls}}", values["cls"]))  # fmt: skip
    return target
