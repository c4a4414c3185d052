"""A researcher's own experiment, end to end on the embedded model: items from a file, raw-text completions on
the vLLM server and on local weights, a plugin family, and prompt/completion training of a variant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from inspect_ai.log import read_eval_log

from prosaic_evals.run import RunOptions, run, sample_frame
from tests._cli import run_cli
from tests.test_cli import assert_one_line_error

pytestmark = pytest.mark.slow
EXAMPLE = Path(__file__).parents[1] / "plugin_example"
FACTS = [("The capital of France is", "Paris", "Lyon"), ("The capital of Italy is", "Rome", "Milan"),
         ("The capital of Spain is", "Madrid", "Seville"), ("The capital of Japan is", "Tokyo", "Osaka")]  # fmt: skip


def task_files(folder: Path) -> tuple[Path, Path]:
    rows = [{"text": p, "answer": t, "wrong": [w], "topic": "capitals"} for p, t, w in FACTS]
    (folder / "facts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    fields = "{prompt: text, target: answer, distractors: wrong, condition: topic}"
    generate = folder / "complete.yaml"
    generate.write_text(f"family: from_file\nformat: completion\nparameters: {{items: facts.jsonl, fields: {fields}}}\n"
                        "scorer: {name: exact_match}\ngeneration: {temperature: 0, max_tokens: 6}\n")  # fmt: skip
    score = folder / "score.yaml"
    score.write_text(generate.read_text().replace("{name: exact_match}", "{name: likelihood, distractors: all}"))
    return generate, score


def frame(logs: list[str], task: str | None = None) -> pd.DataFrame:
    """metric columns, one row per sample (in log order)."""
    rows = sample_frame(logs)
    rows = rows[rows["task"] == task] if task else rows
    return rows.pivot_table(index="sample_id", columns="metric", values="value", sort=False)


def test_completion_tasks_send_raw_text_and_score_alike_on_vllm_and_local_weights(
    tmp_path: Path, server: Any, hf_model: Any
) -> None:
    generate, score = task_files(tmp_path)
    result = run([str(generate), str(score)], RunOptions(models=["local"], log_dir=str(tmp_path / "logs"),
                                                         display="none"))  # fmt: skip
    log = read_eval_log(next(x for x in result.logs if read_eval_log(x, header_only=True).eval.task == "complete"))
    calls = [event.call for s in log.samples or [] for event in s.events if event.event == "model"]
    assert calls and all(c is not None and set(c.request) >= {"prompt", "model"} for c in calls)
    assert {c.request["prompt"] for c in calls if c} == {p for p, _, _ in FACTS}  # the text as is: no template
    answers = [s.output.completion for s in log.samples or []]
    assert all(a and not a.lstrip().startswith("The capital") for a in answers)  # a continuation, not an echo

    on_server = frame(result.logs, "score")
    local = run([str(generate), str(score)], RunOptions(models=["hf/local"], log_dir=str(tmp_path / "hf"),
                                                        display="none"))  # fmt: skip
    on_weights = frame(local.logs, "score")
    hf_log = read_eval_log(next(x for x in local.logs if read_eval_log(x, header_only=True).eval.task == "complete"))
    hf_answers = [s.output.completion for s in hf_log.samples or []]
    assert all(a and not a.lstrip().startswith("The capital") for a in hf_answers)  # continued, not chatted
    same = sum(a.strip()[:10] == b.strip()[:10] for a, b in zip(answers, hf_answers, strict=True))
    assert same >= 3, (answers, hf_answers)  # greedy on the same weights: the server's continuations
    pairs = on_server.join(on_weights, rsuffix="_hf")
    assert len(pairs) == 4
    assert pairs["contrast"].to_numpy() == pytest.approx(pairs["contrast_hf"].to_numpy(), abs=2e-2)
    assert (pairs["beats_distractors"] == 1).mean() >= 0.75  # the model knows its capitals as raw text

    chat = tmp_path / "chat.yaml"
    chat.write_text(score.read_text().replace("format: completion\n", ""))
    as_chat = frame(run([str(chat)], RunOptions(models=["local"], log_dir=str(tmp_path / "c"), display="none")).logs)
    assert on_server["contrast"].to_numpy() != pytest.approx(as_chat["contrast"].to_numpy(), abs=1e-3)


def test_a_completion_task_on_a_chat_only_api_is_refused_before_anything_runs(tmp_path: Path) -> None:
    generate, _ = task_files(tmp_path)
    done = run_cli("run", str(generate), "--model", "openai/gpt-4o-mini", "--log-dir", str(tmp_path / "logs"),
                   env={"OPENAI_API_KEY": "sk-not-a-real-key"})  # fmt: skip
    assert_one_line_error(done, "complete.yaml: format: completion generates from raw text, which",
                          "openai/gpt-4o-mini")  # fmt: skip
    assert not (tmp_path / "logs").exists() or not list((tmp_path / "logs").iterdir())


def test_an_exported_task_run_through_the_from_file_family_gives_the_same_scores(tmp_path: Path, server: Any) -> None:
    exported = tmp_path / "items.parquet"
    assert run_cli("data", "reversal_curse_likelihood", "--split", "eval", "-o", str(exported)).returncode == 0
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        f"family: from_file\nparameters: {{items: {exported}}}\nscorer: {{name: likelihood, normalize: pmi}}\n"
    )  # the reversal family's default
    options = {"models": ["local"], "limit": 12, "display": "none", "cache": False}
    original = frame(run(["reversal_curse_likelihood"], RunOptions(log_dir=str(tmp_path / "a"), **options)).logs)
    again = frame(run([str(mine)], RunOptions(log_dir=str(tmp_path / "b"), **options)).logs)
    assert list(again.index) == list(original.index) and len(again) == 12
    for metric in ["contrast", "beats_distractors", "p_correct"]:
        assert again[metric].to_numpy() == pytest.approx(original[metric].to_numpy(), abs=1e-4), metric


def test_a_plugin_family_runs_on_the_model_and_trains_a_completion_variant(
    tmp_path: Path, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prosaic_evals.families import plugin_families

    monkeypatch.syspath_prepend(str(EXAMPLE))
    plugin_families.cache_clear()
    task = tmp_path / "sums.yaml"
    task.write_text((EXAMPLE / "example_sums.yaml").read_text().replace("scorer: {name: exact_match}",
                    "format: completion\nscorer: {name: likelihood, distractors: 2}"))  # fmt: skip
    base = frame(run([str(task)], RunOptions(models=["local"], log_dir=str(tmp_path / "base"), display="none")).logs)
    spec = tmp_path / "sums-lora.yaml"
    spec.write_text(f"name: sums-completion-lora\nformat: completion\ndata: {{task: {task}}}\n"
                    "hyperparameters: {epochs: 4, batch_size: 4, learning_rate: 0.003, lora_rank: 8}\n")  # fmt: skip
    done = run_cli("finetune", str(spec))
    assert done.returncode == 0, done.stderr
    trained = frame(run([str(task)], RunOptions(models=["variant/sums-completion-lora"],
                                                log_dir=str(tmp_path / "variant"), display="none")).logs)  # fmt: skip
    assert trained["contrast"].mean() > base["contrast"].mean() + 1  # trained on the answers as raw text
    plugin_families.cache_clear()


def test_the_papers_no_cot_trigger_is_continued_by_the_model(tmp_path: Path, server: Any) -> None:
    args = {"direct_prompt": "paper", "kinds": ["arithmetic"], "questions": 4, "conditions": "suggested_answer_direct"}
    result = run(["cot_biasing"], RunOptions(models=["local"], task_args=args, log_dir=str(tmp_path), display="none"))
    log = read_eval_log(result.logs[0])
    for sample in log.samples or []:
        assert next(m.text for m in sample.messages if m.role == "assistant") == "The best answer is: ("
        assert "Answer with the format" not in sample.messages[0].text  # the paper's prompt: the question alone
    rows = result.frame[result.frame["metric"].isin(["unparseable_unbiased", "unparseable_biased"])]
    assert len(rows) == 8 and rows["value"].mean() <= 0.25  # a letter follows the "(" it was given


def test_a_judge_model_grades_each_answer_of_a_file_task(tmp_path: Path, server: Any) -> None:
    task_files(tmp_path)
    judged = tmp_path / "judged.yaml"
    judged.write_text("family: from_file\nparameters: {items: facts.jsonl, fields: {prompt: text, target: answer}}\n"
                      "scorer: {name: judge}\ngeneration: {temperature: 0, max_tokens: 16}\n")  # fmt: skip
    done = run_cli("run", str(judged), "--model-role", "judge=local", "--log-dir", str(tmp_path / "logs"))
    assert done.returncode == 0, done.stderr
    log = read_eval_log(next(str(p) for p in (tmp_path / "logs").rglob("*.eval")), resolve_attachments=True)
    assert log.status == "success" and len(log.samples or []) == 4
    for sample in log.samples or []:
        value = next(iter(sample.scores.values())).value
        assert isinstance(value, dict)
        unreadable = value["judge_unparseable"] == 1.0
        assert (value["judged"] != value["judged"]) == unreadable and (unreadable or value["judged"] in (0.0, 1.0))
        asked = [e.input[-1].text for e in sample.events if e.event == "model" and e.role == "judge"]
        target = sample.target if isinstance(sample.target, str) else sample.target[0]
        assert len(asked) == 1 and sample.output.completion.strip() in asked[0] and target in asked[0]
