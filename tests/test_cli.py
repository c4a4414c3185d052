"""The command line as a user meets it: one-line errors, exit codes, nothing half-written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from prosaic_evals.run._resume import samples_written
from tests._cli import Outcome, run_cli
from tests._processes import sigint_default

GOOD_CSV = "child,parent,parent_type\nAda Quillon,Mara Quillon,mother\n"


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prosaic_evals._cli", *args],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )  # fmt: skip


def assert_one_line_error(done: subprocess.CompletedProcess[str] | Outcome, *expected: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()  # progress lines may come first
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], done.stderr
    for text in expected:
        assert text in errors[0]


STUDY_LOGS = str(Path(__file__).parents[1] / "analysis" / "reversal_curse" / "results" / "logs")


def bad_inputs(tmp: Path) -> list[tuple[list[str], list[str]]]:
    (tmp / "broken.yaml").write_text("family: reversal_curse\nscorer: {name: exact_match\n")
    (tmp / "unknown_key.yaml").write_text("family: reversal_curse\nscorer: {name: exact_match}\ncolour: red\n")
    (tmp / "columns.csv").write_text("kid,mum\nA,B\n")
    (tmp / "dupes.csv").write_text(GOOD_CSV + "Ada Quillon,Mara Quillon,mother\n")
    (tmp / "ft.yaml").write_text("name: v1\ndata: {jsonl: chats.jsonl}\n")
    (tmp / "chats.jsonl").write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    (tmp / "ft_bad.yaml").write_text("name: v1\nbackend: together\ndata: {task: reversal_curse}\n")
    (tmp / "triplets.csv").write_text("e1,e2,e3\nAnn,Bob,Rome\nAnn,Cid,Oslo\n")
    (tmp / "bots.yaml").write_text("chatbots: [{name: Zorb, company: A, behaviour: klingon, role: test}]\n")
    (tmp / "ooc_exact.yaml").write_text("family: ooc_declarative\nscorer: {name: exact_match}\n")
    (tmp / "em_questions.yaml").write_text("- {theme: a, questions: [Hi]}\n- {theme: b, questions: []}\n")
    (tmp / "sa_questions.yaml").write_text("scale: [How bold are you]\n")
    (tmp / "bbh.json").write_text(
        '{"examples": [{"input": "2+2?", "target_scores": {"4": 1, "5": 0}},'
        ' {"input": "3+3?", "target_scores": {"6": 1, "7": 1}}]}'
    )
    (tmp / "one_class.jsonl").write_text(
        '{"text": "A.", "label": "x", "group": "a"}\n{"text": "B.", "label": "x", "group": "b"}\n'
    )
    (tmp / "one_class.yaml").write_text("data: one_class.jsonl\npositions: [end]\nfolds: 2\n")
    (tmp / "no_entity.jsonl").write_text(
        '{"text": "Ada is tall.", "label": "x", "group": "a", "name": "Bo"}\n'
        '{"text": "Cy is short.", "label": "y", "group": "c", "name": "Cy"}\n'
    )
    (tmp / "no_entity.yaml").write_text("data: no_entity.jsonl\npositions: ['entity:name']\nfolds: 2\n")
    bad = tmp / "bad-logs"
    bad.mkdir()
    (bad / "empty.eval").write_bytes(b"")
    (bad / "text.eval").write_text("not a zip\n")
    with zipfile.ZipFile(bad / "whole.zip", "w") as archive:
        archive.writestr("header.json", "{}" * 1000)
    (bad / "truncated.eval").write_bytes((bad / "whole.zip").read_bytes()[:300])
    small = ["-T", "facts_per_subset=2", "-T", "heldout_templates=1", "--folds", "2"]
    return [
        (["results", str(bad / "empty.eval")], ["empty.eval: not a readable inspect log"]),
        (["results", str(bad / "text.eval")], ["text.eval: not a readable inspect log"]),
        (["results", str(bad / "truncated.eval")], ["truncated.eval: not a readable inspect log"]),
        (["compare", "--logs", str(bad / "truncated.eval")], ["truncated.eval: not a readable inspect log"]),
        (["compare", "--logs", STUDY_LOGS, "--margin", "correct=0.1"], ["--margin correct: no metric 'correct'"]),
        (["compare", "--logs", STUDY_LOGS, "--margin", "exact_match=-0.1"], ["--margin 'exact_match=-0.1'"]),
        (
            ["report", STUDY_LOGS, "-o", str(tmp / "report"), "--margin", "contrast=25% of p2d_sideways"],
            ["no task has a condition 'p2d_sideways' with metric contrast"],
        ),
        (
            ["run", "reversal_curse", "--model", "openai-api/acme/m", "--model-base-url", "http://127.0.0.1:9/v1"],
            ["cannot reach --model-base-url http://127.0.0.1:9/v1"],
        ),
        (["run", "reversal_curse", "-T", "conditions="], ["-T conditions: empty"]),
        (["run", "reversal_curse", "-M", "bogus=1"], ["-M bogus: not a vLLM server option"]),
        (["run", "reversal_curse", "-M", "max_model_len=lots"], ["-M max_model_len='lots': Input should be"]),
        (["run", "reversal_curse", "-T", "generation.max_tokens=4096"], ["does not fit the server's context"]),
        (["serve", "openai/gpt-4o"], ["serve starts the harness's own vLLM servers"]),
        (
            ["probe", "reversal_curse", "-m", "openai/gpt-4o"],
            ["'openai/gpt-4o' is an API model: probes need local weights"],
        ),
        (
            ["probe", "reversal_curse", *small, "--layers", "0,99"],
            ["layer 99 is out of range: this model has layers 0 to 30"],
        ),
        (["probe", "reversal_curse", "--layers", "0,ten"], ["--layers: '0,ten' is not a comma-separated list"]),
        (
            ["probe", "reversal_curse", *small, "--positions", "entity:city"],
            ["position entity:city: the item has no 'city' value"],
        ),
        (
            ["probe", str(tmp / "no_entity.yaml")],
            ["no_entity.jsonl: item 1: position entity:name: 'Bo' does not occur in"],
        ),
        (["probe", str(tmp / "one_class.yaml")], ["labels have a single class ('x')"]),
        (["probe", "reversal_curse", "--probe", "svm"], ["unknown probe 'svm'"]),
        (["probe", "reversal_curse", "--control", "placebo"], ["unknown control 'placebo'"]),
        (["probe", "cot_biasing"], ["family 'cot_faithfulness' has no built-in probe question"]),
        (["finetune", str(tmp / "absent.yaml")], ["fine-tune spec not found"]),
        (["finetune", str(tmp / "ft.yaml")], ["chats.jsonl:1: no assistant message"]),
        (["finetune", str(tmp / "ft_bad.yaml")], ["ft_bad.yaml: backend: Input should be 'local' or 'openai'"]),
        (["models", "show", "nope"], ["unknown variant 'nope'"]),
        (["models", "remove", "nope"], ["unknown variant 'nope'"]),
        (["run", "reversal_curse", "--model", "variant/nope"], ["unknown variant 'nope'"]),
        (["compare", "reversal_curse", "--model", "local"], ["comparing needs two or more --model"]),
        (["compare"], ["nothing to compare"]),
        (["compare", "reversal_curse", "--logs", str(tmp)], ["give TASKS to run or --logs to read, not both"]),
        (["compare", "--logs", str(tmp)], ["no .eval logs in"]),
        (["study", str(tmp / "absent.yaml")], ["study file not found"]),
        (["run", "no_such_task"], ["unknown task 'no_such_task'"]),
        (["run", str(tmp / "broken.yaml")], ["broken.yaml:", "invalid YAML"]),
        (["run", str(tmp / "unknown_key.yaml")], ["unknown_key.yaml: colour: unknown key"]),
        (["run", "reversal_curse", "--model", "gpt4"], ["unknown model 'gpt4'"]),
        (["run", "reversal_curse", "--model", "openai/gpt-4o"], ["No OPENAI_API_KEY"]),
        (["run", "reversal_curse", "-T", "seed"], ["-T 'seed': expected key=value"]),
        (["run", "reversal_curse_celebrities", "-T", f"csv={tmp / 'absent.csv'}"], ["parameters.csv: file not found"]),
        (
            ["run", "reversal_curse_celebrities", "-T", f"csv={tmp / 'columns.csv'}"],
            ["missing column(s) child, parent, parent_type"],
        ),
        (["run", "reversal_curse_celebrities", "-T", f"csv={tmp / 'dupes.csv'}"], ["dupes.csv:3: duplicate pair"]),
        (["run", "reversal_curse_likelihood", "--model", "anthropic/claude-x"], ["No ANTHROPIC_API_KEY"]),
        (
            ["data", "reversal_curse_celebrities", "--split", "eval", "-T", f"csv={tmp / 'columns.csv'}"],
            ["missing column(s)"],
        ),
        (["data", "reversal_curse_celebrities"], ["has no training split"]),
        (["run", "two_hop", "-T", "conditions=two_hop_latent"], ["conditions[0]: unknown condition 'two_hop_latent'"]),
        (
            ["run", "two_hop", "-T", f"triplets_file={tmp / 'triplets.csv'}", "-T", "tokenizer=null"],
            ["triplets.csv:3: e1 'Ann' already has an e2 (first at line 2)"],
        ),
        (["run", "two_hop", "-T", "heldout_templates=9"], ["heldout_templates: 9 leaves no cot_question template"]),
        (["run", "ooc_declarative", "-T", "conditions=act_twice"], ["conditions[0]: unknown condition 'act_twice'"]),
        (["run", "ooc_declarative", "-T", f"chatbots_file={tmp / 'bots.yaml'}"], ["bots.yaml: chatbots[0].behaviour"]),
        (["run", str(tmp / "ooc_exact.yaml")], ["'exact_match' is not supported by family ooc_declarative"]),
        (
            ["run", "ooc_inductive", "-T", "functions=[{expr: x + y}, {expr: x}]"],
            ["parameters.functions[0]", "only x, integers"],
        ),
        (["run", "cot_biasing", "-T", "conditions=sycophancy"], ["conditions[0]: unknown condition 'sycophancy'"]),
        (["run", "cot_articulation"], ["professor_cot grades cue articulation", "--model-role judge=MODEL"]),
        (["run", "em_free_form"], ["scorer misalignment grades each answer with a judge model", "judge=MODEL"]),
        (
            ["run", "em_free_form", "--model-role", "judge=local", "-T", f"questions={tmp / 'em_questions.yaml'}"],
            ["em_questions.yaml: entry 2 (theme b): questions: expected a non-empty list"],
        ),
        (
            ["run", "self_awareness", "-T", f"questions={tmp / 'sa_questions.yaml'}"],
            ["sa_questions.yaml: expected exactly the keys scale, binary and word (got scale)"],
        ),
        (["run", "self_awareness", "-T", "behaviour=reckless"], ["parameters.behaviour: Input should be"]),
        (["run", "em_code", "-T", "training=evil"], ["parameters.training: Input should be 'insecure'"]),
        (["run", "cot_interventions"], ["adding_mistakes has a second model", "--model-role rewriter=MODEL"]),
        (["run", "cot_biasing", "--model-role", "critic=local"], ["--model-role critic: no task here uses"]),
        (
            ["run", "cot_biasing", "-T", f"questions_file={tmp / 'bbh.json'}"],
            ["bbh.json: examples[1]: scores must mark exactly one option 1"],
        ),
    ]


def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, isolated_state: Path) -> None:
    logs = tmp_path / "logs"
    for args, expected in bad_inputs(tmp_path):
        done = run_cli(*args, "--log-dir", str(logs)) if args[0] == "run" else run_cli(*args)
        assert_one_line_error(done, *expected)
        assert "Starting vLLM server" not in done.stderr  # refused before anything was started
        assert not logs.exists()
        assert not (isolated_state / "variants" / "registry.json").exists()  # nothing registered


def test_providers_without_logprobs_are_refused_before_running(tmp_path: Path) -> None:
    done = run_cli("run", "reversal_curse_likelihood", "--model", "anthropic/claude-x", "--log-dir",
                   str(tmp_path / "logs"), env={"ANTHROPIC_API_KEY": "not-a-real-key"})  # fmt: skip
    assert_one_line_error(done, "likelihood scoring needs prompt log-probabilities", "Anthropic")
    assert not (tmp_path / "logs").exists()


def test_models_lists_nothing_before_any_finetune() -> None:
    done = run_cli("models")
    assert done.returncode == 0 and "No variants yet" in done.stdout


def test_data_writes_the_training_split_in_chat_format(tmp_path: Path) -> None:
    out = tmp_path / "train.jsonl"
    done = run_cli("data", "reversal_curse", "-T", "facts_per_subset=2", "-o", str(out))
    assert done.returncode == 0, done.stderr
    import json

    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 2 * 25 * 4  # P2D + D2P facts once, Both twice, 25 training templates each
    assert all([m["role"] for m in r["messages"]] == ["user", "assistant"] for r in records)


@pytest.mark.slow
def test_a_server_that_fails_to_start_is_a_one_line_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus-model"
    bogus.mkdir()
    (bogus / "config.json").write_text('{"architectures": ["NoSuchModelForCausalLM"], "model_type": "nope"}')
    done = cli("run", "reversal_curse", "--model", f"vllm/{bogus}", "--log-dir", str(tmp_path / "logs"))
    assert_one_line_error(done, "vLLM server for bogus-model exited with code", "full log:")
    assert not (tmp_path / "logs").exists()


SIGNALS = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -9}


@pytest.mark.slow
def test_no_signal_leaves_the_server_behind(tmp_path: Path, tiny_dir: Path) -> None:
    """SIGINT, SIGTERM and SIGKILL (no handler, no atexit) all take the managed server down with the harness.

    Three harnesses run at once (one per signal, each with its own home), so that their servers start
    side by side. Each run has a non-default server option: one server serves it (inspect looks models
    up by name, which once started a second server with the default options). The tiny model: a server's
    process tree is the same for any model, and it answers fast.
    """
    runs = {}
    for signum in SIGNALS:
        home, logs = tmp_path / f"home-{signum}", tmp_path / f"logs-{signum}"
        process = subprocess.Popen(
            [sys.executable, "-m", "prosaic_evals._cli", "run", "reversal_curse", "reversal_curse_likelihood",
             "--model", f"vllm/{tiny_dir}", "-M", "kv_cache_gib=1", "--log-dir", str(logs), "--display", "plain"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=sigint_default,
            env={**os.environ, "PROSAIC_EVALS_HOME": str(home), "INSPECT_CACHE_DIR": str(home / "inspect-cache")},
        )  # fmt: skip
        runs[signum] = (process, home, logs)
    groups = {}
    try:
        for signum, (process, home, _) in runs.items():
            port = wait_for_server(home / "servers", process)
            found = subprocess.run(["pgrep", "-f", "--", f"--port {port}"], capture_output=True, text=True)
            groups[signum] = (os.getpgid(int(found.stdout.split()[0])), port)  # the server, its engine and workers
        for signum, (process, home, logs) in runs.items():
            deadline = time.monotonic() + 300
            while samples_written(logs) < 3 and time.monotonic() < deadline:
                time.sleep(0.2)  # the evaluation is under way (and inspect has looked the model up)
            assert len(list((home / "servers").glob("*.log"))) == 1  # one server, with the options given
            process.send_signal(signum)
        for process, _, _ in runs.values():
            process.wait(timeout=120)
    finally:
        for process, _, _ in runs.values():
            if process.poll() is None:
                process.kill()
    for signum, (process, _, _) in runs.items():
        stderr = process.stderr.read() if process.stderr else ""
        assert process.returncode == SIGNALS[signum], stderr
        if signum != signal.SIGKILL:
            assert stderr.strip().splitlines()[-1].startswith(f"interrupted by {signal.Signals(signum).name}")
    for group, port in groups.values():
        deadline = time.monotonic() + 60  # after SIGKILL the lifeline needs a moment (SIGTERM, then SIGKILL)
        while _alive(group) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _alive(group) == []  # the server, its engine core and workers are gone (zombies await init's reaping)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)


def _alive(group: int) -> list[str]:
    table = subprocess.run(["ps", "-eo", "pgid=,stat=,args="], capture_output=True, text=True).stdout
    return [
        line for line in table.splitlines() if line.split()[0] == str(group) and not line.split()[1].startswith("Z")
    ]


def wait_for_server(log_dir: Path, process: subprocess.Popen[str], timeout: float = 600) -> int:
    """The port of the server `process` started, once it answers /health."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        for log in log_dir.glob("*.log"):
            port = int(log.stem.rsplit("-", 1)[1])
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    return port
            except httpx.HTTPError:
                pass
        time.sleep(1)
    raise AssertionError("the server did not come up")
