"""A whole (tiny) study, end to end on the embedded model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from prosaic_evals._cli import main
from prosaic_evals._errors import UserError
from prosaic_evals.study import load_study

STUDY = """\
name: tiny_reversal
tasks: [reversal_curse, reversal_curse_likelihood]
task_args: {seed: 0, facts_per_subset: 2, train_templates: 8}
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
    table = pd.read_csv(results / "comparison.csv").set_index(["task", "condition", "metric"])
    assert len(table) == 4 + 4 * 3  # exact match; likelihood: contrast, beats_distractors, p_correct
    for condition in ("p2d_same", "d2p_same"):  # the fine-tuned facts became more likely in the trained direction
        assert table.loc[("reversal_curse_likelihood", condition, "contrast"), "difference"] > 0
    samples = pd.read_csv(results / "samples.csv")
    assert len(samples) == 2 * (40 + 40 * 3) and samples["cached"].eq(False).all()

    main(["study", str(path)])  # again: same variant, every model call cached
    again = json.loads((results / "study.json").read_text())
    assert again["variant"]["identity"] == provenance["variant"]["identity"]
    assert again["timings_s"]["finetune"] < 30
    assert pd.read_csv(results / "samples.csv")["cached"].all()
