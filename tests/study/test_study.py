"""A whole (tiny) study, end to end on the embedded model; the seed matrix on the tiny model (tests/_tiny.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from prosaic_evals._cli import main
from prosaic_evals._errors import UserError
from prosaic_evals.study import load_study
from prosaic_evals.study._study import cells as study_cells

STUDY = """\
name: tiny_reversal
tasks: [reversal_curse, reversal_curse_likelihood]
task_args: {seed: 0, facts_per_subset: 2, train_templates: 4}
finetune:
  name: tiny-study-lora
  hyperparameters: {epochs: 3, batch_size: 8, learning_rate: 3.0e-3, lora_rank: 8}
"""


def test_study_files_are_validated(tmp_path: Path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(STUDY)
    spec = load_study(path)
    assert spec.finetune.data.task == "reversal_curse" and spec.finetune.data.task_args["facts_per_subset"] == 2
    assert spec.finetune.base == "local" and spec.output == "results"
    path.write_text(STUDY.replace("lora_rank: 8", "lora_rnk: 8"))
    with pytest.raises(UserError, match=r"study.yaml: finetune.hyperparameters.lora_rnk: unknown key"):
        load_study(path)
    path.write_text(STUDY + "server: {kv_cache_gib: 3}\n")
    assert load_study(path).server == {"kv_cache_gib": 3}  # the managed servers' options (as -M)
    path.write_text(STUDY + "server: {kv_cache: 3}\n")
    with pytest.raises(UserError, match=r"study.yaml: server: kv_cache: not a vLLM server option"):
        load_study(path)


def test_every_shipped_study_file_loads_with_its_tasks_and_roles() -> None:
    """The committed studies, those run here and those written for a GPU and an API judge, stay valid."""
    from prosaic_evals.study._study import check_tasks

    root = Path(__file__).resolve().parents[2] / "analysis"
    files = [p for p in sorted(root.rglob("*.yaml")) if "finetune" in p.read_text() and "tasks:" in p.read_text()]
    assert {p.relative_to(root).as_posix() for p in files} >= {
        "emergent_misalignment/study.yaml", "emergent_misalignment/gpu.yaml", "self_awareness/study.yaml",
        "self_awareness/gpu.yaml", "out_of_context/locations.yaml",
    }  # fmt: skip
    for path in files:
        check_tasks(load_study(path), path)


@pytest.mark.slow
def test_a_study_fine_tunes_evaluates_compares_and_reuses_everything(
    tmp_path: Path, server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(STUDY)
    main(["study", str(path)])
    out = capsys.readouterr().out
    assert "vs prosaic-vllm/local" in out and "p adjusted: Holm" in out
    results = tmp_path / "results"
    provenance = json.loads((results / "study.json").read_text())
    assert provenance["variant"]["name"] == "tiny-study-lora" and provenance["variant"]["seed"] == 0
    assert provenance["models"] == ["prosaic-vllm/local", "prosaic-vllm/variant/tiny-study-lora"]
    assert len(provenance["logs"]) == 4 and all(Path(p).exists() for p in provenance["logs"])
    spent = provenance["timings_s"]  # where the time went
    assert 0 < spent["training"] < spent["finetune"] and spent["evaluate"] > 0
    assert spent["server_start"] == 0  # the session's server (started before) served base and variant
    assert spent["total"] == pytest.approx(spent["finetune"] + spent["server_start"] + spent["evaluate"], abs=0.3)
    table = pd.read_csv(results / "comparison.csv").set_index(["task", "condition", "metric"])
    assert len(table) == 4 + 4 * 3  # exact match; likelihood: contrast, beats_distractors, p_correct
    for condition in ("p2d_same", "d2p_same"):  # the fine-tuned facts became more likely in the trained direction
        assert table.loc[("reversal_curse_likelihood", condition, "contrast"), "difference"] > 0
    samples = pd.read_csv(results / "samples.csv")
    assert len(samples) == 2 * (40 + 40 * 3) and samples["cached"].eq(False).all()

    main(["study", str(path)])  # again: same variant, every model call cached
    again = json.loads((results / "study.json").read_text())
    assert again["variant"]["identity"] == provenance["variant"]["identity"]
    assert again["timings_s"]["finetune"] < 30 and again["timings_s"]["training"] == 0  # reused, not trained
    assert pd.read_csv(results / "samples.csv")["cached"].all()


MATRIX = (  # 16 training records (train_templates is training-only: the evaluated items are the study's)
    STUDY.replace("tiny-study-lora", "tiny-matrix-lora")
    .replace("epochs: 3", "epochs: 1")
    .replace("train_templates: 4", "train_templates: 2")
    + "seeds: [0, 1]\nrecipes:\n  - {name: default}\n  - {name: broken, data_task_args: {train_templates: 0}}\n"
)


@pytest.mark.slow
def test_a_seed_matrix_runs_each_cell_survives_a_failed_one_resumes_and_runs_the_same_on_ray(
    tmp_path: Path, tiny_dir: Path, tiny_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """On the tiny model: this is about cells, failures, resuming and Ray, not about what fine-tuning teaches."""
    path = tmp_path / "study.yaml"
    path.write_text(f"base: {tiny_dir}\n" + MATRIX)
    main(["study", str(path), "--status"])
    named = {(cell.recipe, cell.seed): cell.key for cell in study_cells(load_study(path))}  # the base's path is in them
    keys = [named["default", 0], named["default", 1], named["broken", 0], named["broken", 1]]
    assert sorted(capsys.readouterr().out.splitlines()) == sorted(f"{k}: to do" for k in keys)
    with pytest.raises(SystemExit) as exit_:  # a failed cell is reported; the others finish
        main(["study", str(path)])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert f"2 of 4 cells failed ({keys[2]}, {keys[3]}): see --status" in err
    assert f"{keys[2]}: failed: tasks/reversal_curse.yaml: parameters.train_templates:" in err
    cells = tmp_path / "results" / "cells"
    states = {p.parent.name: json.loads(p.read_text()) for p in cells.glob("*/cell.json")}
    assert {k: v["state"] for k, v in states.items()} == dict(
        zip(keys, ["done", "done", "failed", "failed"], strict=True)
    )
    assert states[keys[3]]["stage"] == "fine-tune"
    done = [json.loads((cells / c / "study.json").read_text()) for c in keys[:2]]
    assert len({d["variant"]["identity"] for d in done}) == 2  # one variant per seed
    assert all(Path(log).exists() for d in done for log in d["logs"])
    assert "Variant" in (cells / keys[0] / "cell.log").read_text()  # the per-cell log
    pooled = pd.read_csv(tmp_path / "results" / "pooled.csv").set_index(["task", "condition", "metric"])
    assert (pooled["seeds"] == 2).all() and pooled["tau2"].notna().all() and set(pooled["recipe"]) == {"default"}
    first = pooled.copy()

    main(["report", str(tmp_path / "results"), "-o", str(tmp_path / "report")])  # the sweep's report
    report = (tmp_path / "report" / "report.md").read_text()
    assert "## Across training seeds" in report and "2 fine-tuning seeds (0, 1) of the recipe default" in report
    (row,) = [line for line in report.splitlines() if line.startswith(f"| {keys[2]} |")]  # the cells table
    assert "| failed: tasks/reversal_curse.yaml: parameters.train_templates:" in row
    shown = pd.DataFrame(json.loads((tmp_path / "report" / "results.json").read_text())["results"])
    shown = shown[shown["kind"] == "pooled"].set_index(["task", "condition", "metric"])
    assert shown["estimate"].to_dict() == pytest.approx(pooled["difference"].to_dict())
    assert all(Path(log).exists() for logs in shown["logs"] for log in logs)
    assert (tmp_path / "report" / "seeds.png").is_file() and (tmp_path / "report" / "scaling.png").is_file()
    capsys.readouterr()

    (cells / keys[1] / "cell.json").write_text(json.dumps({**states[keys[1]],
                                                                      "state": "evaluating"}))  # fmt: skip
    with pytest.raises(SystemExit):  # killed mid-evaluation: only that cell runs again, from the caches
        main(["study", str(path)])
    err = capsys.readouterr().err
    assert keys[0] not in err.split("cells on the local executor")[1]  # a done cell is never rerun
    again = pd.read_csv(tmp_path / "results" / "pooled.csv").set_index(["task", "condition", "metric"])
    pd.testing.assert_frame_equal(again, first)

    # The same matrix on a real local Ray cluster (2 worker processes): the registered variants are reused, the
    # evaluations run in Ray workers (their own vLLM server), and the numbers are the same.
    with pytest.raises(SystemExit):
        main(["study", str(path), "--executor", "ray", "-o", str(tmp_path / "on-ray")])
    assert "Ray: starting a local cluster on 127.0.0.1:" in capsys.readouterr().err
    on_ray = pd.read_csv(tmp_path / "on-ray" / "pooled.csv").set_index(["task", "condition", "metric"])
    pd.testing.assert_frame_equal(on_ray, first)
    ran = json.loads((tmp_path / "on-ray" / "cells" / keys[0] / "study.json").read_text())["evaluated"]
    assert ran["pid"] != os.getpid() and ran["with"][0] == f"prosaic-vllm/{tiny_dir}"
    assert 0 < ran["server_start_s"] < ran["seconds"]  # the worker started its own server, and says how long it took
    assert json.loads((tmp_path / "on-ray" / "study.json").read_text())["executor"] == "ray"
    assert not [p for p in Path("/proc").glob("[0-9]*/cmdline") if b"gcs_server" in _read(p)]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""
