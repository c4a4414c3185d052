"""Running a study matrix: bad input refused in one line before anything runs, and the Ray executor's checks
against a real local Ray cluster (no model needed)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prosaic_evals._errors import Interrupted, UserError
from prosaic_evals.run import compare_frame, write_outputs
from prosaic_evals.stats import compare_paired
from prosaic_evals.study import load_study, run_study
from prosaic_evals.study._executor import Failed, Job, LocalExecutor, RayOptions, Resources, check_resources

STUDY = """\
name: sweep
tasks: [reversal_curse]
task_args: {seed: 0, facts_per_subset: 2, train_templates: 2}
seeds: [0, 1]
finetune:
  name: sweep-lora
  hyperparameters: {epochs: 1}
"""


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("seeds: []\n", r"seeds: List should have at least 1 item"),
        ("bases: []\n", r"bases: List should have at least 1 item"),
        ("recipes: [{name: a}, {name: a, hyperparameters: {epochs: 2}}]\n", r"recipes: .*'a' is used twice"),
        ("executor: slurm\n", r"executor: Input should be 'local' or 'ray'"),
        ("ray: {evaluate: {num_gpu: 1}}\n", r"ray.evaluate.num_gpu: unknown key"),
        ("ray: {finetune: {num_cpus: -1}}\n", r"ray.finetune.num_cpus: Input should be greater than or equal to 0"),
        (
            "recipes: [{name: a}, {name: b}]\ncontrasts: [[a, c]]\n",
            r"contrasts: pair 1: unknown recipe 'c' \(recipes: a, b\)",
        ),
        (
            "contrasts: [[a, b]]\n",
            r"contrasts: pair 1: unknown recipe 'a' \(recipes: none: contrasts compare the recipes of `recipes:`\)",
        ),
        ("recipes: [{name: a}, {name: b}]\ncontrasts: [[b, b]]\n", r"contrasts: pair 1: a recipe compared with itself"),
    ],
)
def test_bad_matrices_are_refused_when_the_file_is_read(tmp_path: Path, extra: str, message: str) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(STUDY.replace("seeds: [0, 1]\n", "") + extra)
    with pytest.raises(UserError, match=rf"study.yaml: {message}"):
        load_study(path)


def test_an_unknown_base_is_refused_before_anything_trains(tmp_path: Path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(STUDY + "bases: [no-such-model]\n")
    with pytest.raises(UserError, match=r"^bases: 'no-such-model' is not `local`, a model directory or a hub id"):
        run_study(path)
    assert not (tmp_path / "results").exists()


def test_a_missing_judge_role_is_refused_before_anything_trains(tmp_path: Path) -> None:
    path = tmp_path / "study.yaml"
    em = STUDY.replace("tasks: [reversal_curse]", "tasks: [em_code, em_free_form]")
    path.write_text(em.replace("{seed: 0, facts_per_subset: 2, train_templates: 2}", "{seed: 0}"))
    with pytest.raises(UserError, match=r"^em_free_form.yaml: scorer misalignment grades each answer with a judge model: "
                                        r"add --model-role judge=MODEL"):  # fmt: skip
        run_study(path)
    assert not (tmp_path / "results").exists()
    path.write_text(STUDY + "model_roles: {judge: local}\n")
    with pytest.raises(UserError, match=r"--model-role judge: no task here uses a 'judge' model"):
        run_study(path)


def test_recipes_are_contrasted_with_each_other_on_the_items_both_answered(tmp_path: Path) -> None:
    from prosaic_evals.study._matrix import expand
    from prosaic_evals.study._sweep import Board, contrast_recipes

    path = tmp_path / "study.yaml"
    path.write_text(STUDY.replace("seeds: [0, 1]\n", "") + "recipes: [{name: a}, {name: b}]\ncontrasts: [[a, b]]\n")
    spec = load_study(path)
    cells = expand(spec.finetune, ["local"], [0], spec.recipes or [], None)
    board = Board(tmp_path / "results", cells)
    rng = np.random.default_rng(0)
    values = {"a": rng.integers(0, 2, 24).astype(float), "b": rng.integers(0, 2, 24).astype(float)}
    for cell in cells:  # what a finished cell leaves: its comparison's files (base, then variant) and its models
        rows = [{"log": f"{model}.eval", "task": "t", "task_version": 1, "model": model, "sample_id": f"s{i}",
                 "epoch": 1, "condition": condition, "condition_rank": rank, "cluster": f"f{i // 3}", "scorer": "s",
                 "metric": "m", "value": value, "answer": "", "cached": False}
                for model, column in (("local", values["a"] * 0), (f"variant/{cell.recipe}", values[cell.recipe]))
                for rank, condition in enumerate(("c", "b"))
                for i, value in enumerate(column)]  # fmt: skip
        write_outputs(compare_frame(pd.DataFrame(rows), baseline="local"), board.folder(cell))
        (board.folder(cell) / "study.json").write_text(json.dumps({"models": ["local", f"variant/{cell.recipe}"]}))
    table = contrast_recipes(spec, cells, board)
    assert table["condition"].tolist() == ["c", "b"]  # in the task's order, not the alphabet's
    row = table.to_dict("records")[0]
    assert (row["first"], row["second"], row["baseline"], row["model"]) == ("a", "b", "variant/a", "variant/b")
    expected = compare_paired(values["b"], values["a"], [f"f{i // 3}" for i in range(24)])
    assert row["difference"] == pytest.approx(expected.difference) and row["n"] == 24
    assert row["p_value"] == pytest.approx(expected.p_value)
    assert (
        tmp_path / "results" / "contrasts" / f"a-vs-b-{cells[1].key.removeprefix('b-')}" / "comparison.csv"
    ).is_file()
    broken = spec.model_copy(update={"margins": {"m": "25% of nowhere"}})  # a control condition the task lacks
    with pytest.raises(UserError, match=rf"^contrast a-vs-b-{cells[1].key.removeprefix('b-')}: .*nowhere"):
        contrast_recipes(broken, cells, board)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "prosaic_evals._cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=180)  # fmt: skip


def test_a_ray_address_that_does_not_answer_is_one_line_within_seconds(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "study.yaml").write_text(STUDY + "bases: [base]\nexecutor: ray\n")
    for address in (f"127.0.0.1:{_closed_port()}", "192.0.2.1:6379"):  # refused; a documentation address
        began = time.monotonic()
        result = _cli("study", "study.yaml", "--ray-address", address, cwd=tmp_path)
        assert time.monotonic() - began < 60  # the CLI's own start included; the check itself waits 5 s at most
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith(f"error: ray.address: nothing answers at {address}")
    assert not (tmp_path / "results" / "cells").exists()


def test_resources_no_node_has_are_named_in_one_line_on_a_real_local_cluster(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "study.yaml").write_text(STUDY + "bases: [base]\nexecutor: ray\n"
                                         "ray: {num_cpus: 2, evaluate: {num_gpus: 1}}\n")  # fmt: skip
    result = _cli("study", "study.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last == ("error: ray.evaluate.num_gpus: 1 GPU, but no node of the Ray cluster has that many "
                    "(the most any node has: 0)")  # fmt: skip
    assert "Ray: starting a local cluster on 127.0.0.1:" in result.stderr
    assert not _ray_processes(_cluster_port(result.stderr))  # the local cluster went down with the study


def _cluster_port(output: str) -> int:
    found = re.search(r"Ray: starting a local cluster on 127\.0\.0\.1:(\d+)", output)
    assert found, output
    return int(found.group(1))


def _ray_processes(port: int) -> list[str]:
    """The GCS server and raylet of the cluster at `port` (a test on the other worker may run a cluster too)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if f"--gcs_server_port={port} " in command or f"--gcs-address=127.0.0.1:{port} " in command:
            found.append(command[:80])
    return found


def test_resources_are_checked_against_the_largest_node() -> None:
    nodes = [{"CPU": 2.0}, {"CPU": 8.0, "GPU": 4.0}]
    check_resources(nodes, RayOptions(finetune=Resources(num_cpus=8, num_gpus=4)))
    with pytest.raises(UserError, match=r"^ray.finetune.num_cpus: 9 CPU, but no node .* \(the most any node has: 8\)"):
        check_resources(nodes, RayOptions(finetune=Resources(num_cpus=9)))
    with pytest.raises(UserError, match=r"^ray.evaluate.num_gpus: 0.5 GPU, but .* has: 0\)"):
        check_resources([{"CPU": 2.0}], RayOptions(evaluate=Resources(num_gpus=0.5)))


def test_a_killed_study_takes_its_local_ray_cluster_down(tmp_path: Path) -> None:
    """SIGKILL of the harness while its Ray cluster runs a job: every Ray process is gone within seconds, the
    workers that the raylet starts in sessions of their own included (they once lingered for 25 s)."""
    from tests._processes import sigint_default

    (tmp_path / "base").mkdir()
    (tmp_path / "study.yaml").write_text(STUDY + "bases: [base]\nexecutor: ray\nray: {num_cpus: 2}\n")
    process = subprocess.Popen([sys.executable, "-m", "prosaic_evals._cli", "study", "study.yaml"], cwd=tmp_path,
                               stderr=subprocess.PIPE, text=True, preexec_fn=sigint_default)  # fmt: skip
    assert process.stderr is not None
    seen = ""
    for line in process.stderr:
        seen += line
        if "fine-tuning" in line:  # the cluster is up and a job was submitted to it
            break
    port = _cluster_port(seen)
    assert _ray_processes(port), "the local cluster should be running now"
    process.kill()
    process.wait(timeout=10)
    deadline = time.monotonic() + 15  # SIGTERM is enough; the lifeline's SIGKILL would come after 20 s
    while _ray_processes(port) and time.monotonic() < deadline:
        time.sleep(1)
    assert not _ray_processes(port)


def _stopped() -> None:
    raise Interrupted("training interrupted; run the same command again to resume")


def _broken() -> None:
    raise ValueError("a bad recipe")


def test_a_failed_job_is_its_cells_but_a_stop_stops_the_study() -> None:
    ran: list[str] = []
    resources = Resources()
    jobs = [Job("a", _broken, (), resources), Job("b", lambda: ran.append("b"), (), resources)]
    outcomes = list(LocalExecutor().map(jobs, lambda job: None))
    assert isinstance(outcomes[0][1], Failed) and outcomes[0][1].message == "a bad recipe" and ran == ["b"]
    jobs = [Job("a", _stopped, (), resources), Job("b", lambda: ran.append("again"), (), resources)]
    with pytest.raises(Interrupted):  # Ctrl-C or SIGTERM while a cell trains: no later cell starts
        list(LocalExecutor().map(jobs, lambda job: None))
    assert ran == ["b"]
