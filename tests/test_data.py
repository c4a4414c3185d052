from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from prosaic_evals import _data
from prosaic_evals._errors import UserError
from prosaic_evals._paths import datasets_dir


def test_the_manifest_lists_every_shipped_file_with_its_hash() -> None:
    root = datasets_dir()
    listed = json.loads((root / "manifest.json").read_text())["files"]
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != "manifest.json"}
    assert set(listed) == on_disk
    for name, digest in listed.items():
        assert _data.sha256_file(root / name) == digest, f"{name} changed: run python -m prosaic_evals._data"


def test_an_edited_data_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "datasets"
    shutil.copytree(datasets_dir(), copy)
    monkeypatch.setattr(_data, "datasets_dir", lambda: copy)
    _data._manifest.cache_clear()
    _data.shipped_file.cache_clear()
    try:
        (copy / "reversal_curse" / "templates.yaml").write_text("p2d: []\n")
        with pytest.raises(UserError, match="does not match its sha256"):
            _data.shipped_file("reversal_curse/templates.yaml")
        with pytest.raises(UserError, match="not listed"):
            _data.shipped_file("reversal_curse/other.yaml")
    finally:
        _data._manifest.cache_clear()
        _data.shipped_file.cache_clear()
