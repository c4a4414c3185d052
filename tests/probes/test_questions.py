"""Built-in probe questions: generated from the task's parameters, balanced so that only the asked property helps."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from prosaic_evals._errors import UserError
from prosaic_evals.probes._questions import two_hop_bridge
from prosaic_evals.probes._spec import load_job
from prosaic_evals.spec import load_task


def test_reversal_truth_binds_names_and_descriptions_only() -> None:
    job = load_job("reversal_curse", {"models": ["local"]})
    data, task = job.data, load_task("reversal_curse")
    assert job.positions == ["end"] and job.provenance["question"] == "reversal_curse.truth"
    assert set(data.conditions) == {"same", "reverse"}
    facts = {(i.metadata["name"], i.metadata["description"]) for i in task.family.items(task.params)}
    for condition in ("same", "reverse"):
        part = data.subset(condition)
        assert Counter(part.labels) == {"true": len(part) // 2, "false": len(part) // 2}
        for label, fields in zip(part.labels, part.fields, strict=True):  # truth = the fact as trained
            assert ((fields["name"], fields["description"]) in facts) == (label == "true")
        # every name and every description appears as often in true as in false statements
        for key in ("name", "description"):
            counts = Counter((f[key], label) for f, label in zip(part.fields, part.labels, strict=True))
            assert all(counts[(v, "true")] == counts[(v, "false")] for v, _ in counts)
        # a group holds both facts of a pair: names never cross groups
        owner = {}
        for f, g in zip(part.fields, part.groups, strict=True):
            assert owner.setdefault(f["name"], g) == g
    # statements in the trained order of a p2d fact put the name first, reversed ones the description
    for text, f, condition in zip(data.texts, data.fields, data.conditions, strict=True):
        name_first = text.index(f["name"]) < text.lower().index(f["description"].lower())
        assert name_first == ((f["subset"] == "p2d") == (condition == "same")), text


def test_two_hop_bridge_is_balanced_within_each_gender_of_e1(embedded_dir: Path) -> None:
    task = load_task("two_hop")
    data = two_hop_bridge(task.params, "two_hop")
    from prosaic_evals._data import shipped_yaml

    gender = {n: g for g, names in shipped_yaml("probes/name_gender.yaml").items() for n in names}
    cells = Counter((gender[f["e1"]], label) for f, label in zip(data.fields, data.labels, strict=True))
    assert cells[("female", "female")] == cells[("female", "male")] > 0
    assert cells[("male", "female")] == cells[("male", "male")] > 0
    assert all(label == gender[f["e2"]] for f, label in zip(data.fields, data.labels, strict=True))
    assert all(t.index(f["e1"]) < t.rindex(f["e2"]) for t, f in zip(data.texts, data.fields, strict=True))
    assert len(set(data.groups)) == len(data) // 18  # one group per triplet, 18 fact-A templates each


def test_probe_file_and_task_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="family 'ooc_declarative' has no built-in probe question"):
        load_job("ooc_declarative", {})
    spec = tmp_path / "p.yaml"
    spec.write_text("question: two_hop.bridge\ntask: reversal_curse\n")
    with pytest.raises(UserError, match=r"question two_hop\.bridge needs a two_hop task, reversal_curse is"):
        load_job(str(spec), {})
    spec.write_text("question: reversal_curse.truth\nlayer: [1]\n")
    with pytest.raises(UserError, match=r"p.yaml: layer"):
        load_job(str(spec), {})
    spec.write_text("data: mine.jsonl\n")
    with pytest.raises(UserError, match="give positions"):
        load_job(str(spec), {})
