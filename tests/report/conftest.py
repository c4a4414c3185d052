"""Reports are built from real inspect logs: the reversal-curse study's committed results (base
and LoRA variant, 4 logs, with its probe results), copied so a test may damage them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

STUDY = Path(__file__).resolve().parents[2] / "analysis" / "reversal_curse" / "results"


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("study") / "results"
    shutil.copytree(STUDY, folder)
    return folder


@pytest.fixture(scope="module")
def built(study: Path) -> object:
    """The study's report, built once per module (building is most of a report's cost; tests write it)."""
    from prosaic_evals.report import ReportOptions, build_report, gather

    return build_report(gather([study]), ReportOptions())


@pytest.fixture(scope="module")
def report(built: object, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from prosaic_evals.report import write_report

    output = tmp_path_factory.mktemp("report") / "report"
    write_report(built, output)  # type: ignore[arg-type]
    return output


@pytest.fixture
def system_tool() -> object:
    """A Debian program the test needs (`make system-deps`); skipped without it, unless
    PROSAIC_REQUIRE_SYSTEM_TOOLS=1 (CI), where its absence fails the test."""
    import os
    import shutil as sh

    def find(name: str) -> str:
        path = sh.which(name)
        if path is None:
            message = f"{name} is not installed (make system-deps)"
            if os.environ.get("PROSAIC_REQUIRE_SYSTEM_TOOLS") == "1":
                pytest.fail(message)
            pytest.skip(message)
        return path

    return find
