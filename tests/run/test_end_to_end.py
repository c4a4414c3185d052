"""The main job, end to end on the embedded model: CLI -> managed vLLM -> inspect logs -> table."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from inspect_ai.log import read_eval_log

from prosaic_evals._cli import main
from prosaic_evals.run import sample_frame

pytestmark = pytest.mark.slow
TASKS = ["reversal_curse", "reversal_curse_likelihood"]
CONDITIONS = ["p2d_same", "p2d_reverse", "d2p_same", "d2p_reverse"]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    main(["run", *args, "--display", "plain"])
    return capsys.readouterr().out


def logs_in(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.eval"))


@pytest.fixture(scope="module")
def suite_logs(tmp_path_factory: pytest.TempPathFactory, local_model: Any) -> Path:
    """The suite run once through the library, with caches of its own."""
    from prosaic_evals.run import RunOptions, run

    state, logs = tmp_path_factory.mktemp("suite-state"), tmp_path_factory.mktemp("suite-logs")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PROSAIC_EVALS_HOME", str(state))
        env.setenv("INSPECT_CACHE_DIR", str(state / "inspect-cache"))
        run(TASKS, RunOptions(limit=8, log_dir=str(logs), display="none"))
    return logs


def test_the_suite_prints_every_condition_with_intervals_and_a_rerun_calls_no_model(
    server: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    out = run_cli(capsys, *TASKS, "--limit", "8", "--log-dir", str(first))
    for text in [*TASKS, *CONDITIONS, "exact_match", "contrast", "beats_distractors", "95% CI"]:
        assert text in out
    assert "16 samples; 16 called a model, 0 came from the cache" in out
    logs = [read_eval_log(str(p)) for p in logs_in(first)]
    assert sorted(log.eval.task for log in logs) == sorted(TASKS)
    for log in logs:
        assert log.status == "success" and len(log.samples or []) == 8
        assert {s.metadata["condition"] for s in log.samples or []} == set(CONDITIONS)  # --limit spans conditions
        assert log.eval.metadata and log.eval.metadata["family"] == "reversal_curse"
        assert log.eval.config.score_display is True  # a display shows the metrics as they come
        identity = log.eval.metadata["models"]["prosaic-vllm/local"]["identity"]  # reports cite it
        assert identity.startswith("smollm2-135m-instruct@")
        assert log.eval.config.log_realtime is False  # no live sample events unless asked (--live)

    for path in logs_in(first):  # no secret in any file of the log
        with zipfile.ZipFile(path) as archive:
            assert not any(server.api_key.encode() in archive.read(name) for name in archive.namelist())

    starts = server.starts
    out = run_cli(capsys, *TASKS, "--limit", "8", "--log-dir", str(second), "--live")
    assert "16 samples; 0 called a model, 16 came from the cache" in out
    assert server.starts == starts
    assert all(read_eval_log(str(p), header_only=True).eval.config.log_realtime for p in logs_in(second))
    key = ["task", "sample_id", "metric"]
    before = sample_frame(logs_in(first)).set_index(key)["value"].sort_index()
    assert sample_frame(logs_in(second)).set_index(key)["value"].sort_index().equals(before)


def test_local_weights_give_the_same_likelihood_contrasts(
    suite_logs: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run_cli(capsys, "reversal_curse_likelihood", "--model", "hf/local", "--limit", "8", "--log-dir", str(tmp_path))
    key = ["sample_id", "metric"]
    served = sample_frame(logs_in(suite_logs)).query("task == 'reversal_curse_likelihood'").set_index(key)["value"]
    local = sample_frame(logs_in(tmp_path)).set_index(key)["value"]
    assert local.index.sort_values().equals(served.index.sort_values())
    contrast = (local - served).xs("contrast", level="metric")
    assert contrast.abs().max() < 0.1


def test_local_weights_generate_greedily_at_temperature_zero_as_the_server_does(
    suite_logs: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run_cli(capsys, "reversal_curse", "--model", "hf/local", "--limit", "8", "--log-dir", str(tmp_path))
    (log,) = [read_eval_log(str(p)) for p in logs_in(tmp_path)]
    assert log.status == "success" and len(log.samples or []) == 8  # transformers refuses temperature 0 to sample
    served = {s.id: s.output.completion for p in logs_in(suite_logs) for s in read_eval_log(str(p)).samples or []}
    same = sum(served[s.id][:20] == s.output.completion[:20] for s in log.samples or [])
    assert same >= 6  # greedy on the same weights: the server's answers, up to float differences


def test_the_anthropic_sdk_path_against_vllms_messages_endpoint(
    server: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", server.api_key)
    name = f"anthropic/{server.spec.served_name}"
    run_cli(
        capsys,
        "reversal_curse",
        "--model",
        name,
        "--model-base-url",
        server.root_url,
        "--limit",
        "4",
        "--log-dir",
        str(tmp_path),
    )
    (log,) = [read_eval_log(str(p)) for p in logs_in(tmp_path)]
    assert log.status == "success" and log.eval.model == name
    assert all(s.output.completion for s in log.samples or [])
    # Anthropic's API takes no temperature: the log says so rather than claiming 0.0 was used
    assert log.plan.config.temperature is None and log.plan.config.max_tokens == 32
    assert log.eval.metadata["models"][name]["dropped_decoding"] == {"temperature": 0.0}  # type: ignore[index]


def test_inspect_runs_the_registered_tasks_itself(server: Any, tmp_path: Path) -> None:
    env = {**os.environ, "VLLM_API_KEY": server.api_key}
    command = [
        sys.executable, "-m", "inspect_ai", "eval", "prosaic_evals/reversal_curse", "-T", "facts_per_subset=2",
        "--model", f"openai-api/vllm/{server.spec.served_name}", "--model-base-url", server.base_url,
        "--limit", "4", "--log-dir", str(tmp_path), "--display", "none",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (log,) = [read_eval_log(str(p)) for p in logs_in(tmp_path)]
    assert log.status == "success" and log.eval.metadata["parameters"]["facts_per_subset"] == 2  # type: ignore[index]


def test_logs_name_their_registered_task_and_every_parameter(suite_logs: Path) -> None:
    from inspect_ai.analysis import evals_df

    frame = evals_df(str(suite_logs), quiet=True)
    assert set(frame["task_name"]) == set(TASKS)
    assert set(frame["task_arg_facts_per_subset"]) == {30}  # the viewer and evals_df show the parameters
    for path in logs_in(suite_logs):
        header = read_eval_log(str(path), header_only=True)
        assert header.eval.task_registry_name == f"prosaic_evals/{header.eval.task}"


def test_a_run_without_a_display_computes_no_live_metrics_but_logs_the_final_ones(suite_logs: Path) -> None:
    for path in logs_in(suite_logs):
        header = read_eval_log(str(path), header_only=True)
        assert header.eval.config.score_display is False
        assert header.results and header.results.scores  # computed once, at the end
        assert all(score.metrics for score in header.results.scores)


def test_inspect_view_serves_the_logs(suite_logs: Path) -> None:
    port = 7591
    view = subprocess.Popen(
        [sys.executable, "-m", "inspect_ai", "view", "--log-dir", str(suite_logs), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        files = None
        for _ in range(60):
            try:
                files = httpx.get(f"http://127.0.0.1:{port}/api/log-files", timeout=2).json()["files"]
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        assert files is not None
        assert {Path(f["name"]).name for f in files} == {p.name for p in logs_in(suite_logs)}
    finally:
        view.terminate()
        view.wait(timeout=30)


def test_a_fresh_runs_report_cites_the_model_identity_and_decoding(suite_logs: Path, tmp_path: Path) -> None:
    """run -> logs -> report, on logs this session produced (the study reports use committed logs)."""
    main(["report", str(suite_logs), "-o", str(tmp_path / "report")])
    text = (tmp_path / "report" / "report.md").read_text()
    methods = text[text.index("## Methods") :]
    assert "local (prosaic-vllm/local, identity smollm2-135m-instruct@" in methods
    assert "decoding: max_tokens 32, temperature 0.0" in methods
    assert "d2p_reverse, 2 items in 2 clusters per condition and model" in methods  # --limit 8 spans facts
    for condition in CONDITIONS:
        assert f"| {condition} |" in text


def test_sampled_epochs_are_repeated_measures_of_each_item(server: Any, capsys: pytest.CaptureFixture[str],
                                                           tmp_path: Path) -> None:  # fmt: skip
    out = run_cli(capsys, "reversal_curse", "--limit", "4", "-T", "epochs=3", "-T", "generation.temperature=1.0",
                  "--log-dir", str(tmp_path))  # fmt: skip
    (log,) = [read_eval_log(str(p)) for p in logs_in(tmp_path)]
    assert log.eval.config.epochs == 3 and len(log.samples or []) == 12
    frame = sample_frame(logs_in(tmp_path))
    assert sorted(set(frame["epoch"])) == [1, 2, 3] and frame["sample_id"].nunique() == 4
    assert "epochs" in out  # the table shows items and epochs apart
    # each epoch is sampled afresh (its own cache entry), not copied from the first
    assert frame.groupby("sample_id")["answer"].nunique().max() > 1
