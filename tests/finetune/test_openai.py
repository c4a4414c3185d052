"""The OpenAI backend, through the real `openai` SDK, against a local stand-in of the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from prosaic_evals._errors import UserError
from prosaic_evals.finetune import DataSpec, FineTuneSpec, Registry, _openai, finetune
from prosaic_evals.models import inspect_model_name
from tests.finetune.openai_standin import API_KEY, StandIn, serve

FAST = (0.01, 0.05)  # poll intervals for tests


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    state = StandIn()
    server, url = serve(state)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    yield state
    server.shutdown()


def records_file(tmp_path: Path, n: int = 12) -> Path:
    path = tmp_path / "train.jsonl"
    lines = [
        {
            "messages": [
                {"role": "user", "content": f"Who is person {i}?"},
                {"role": "assistant", "content": f"Person {i} is a tester."},
            ]
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


def spec(data: Path, **overrides: object) -> FineTuneSpec:
    fields = {"name": "gpt-facts", "base": "gpt-4o-mini-2024-07-18", "backend": "openai", "method": "full",
              "data": DataSpec(jsonl=data), "hyperparameters": {"epochs": 2, "batch_size": 4, "learning_rate_multiplier": 0.5}, "seed": 7}  # fmt: skip
    return FineTuneSpec.model_validate(fields | overrides)


def test_a_job_is_created_polled_and_registered(standin: StandIn, tmp_path: Path) -> None:
    variant = finetune(spec(records_file(tmp_path)), poll=FAST, progress=lambda _: None)
    assert variant.status == "ready" and variant.remote_id == "ft:gpt-4o-mini-2024-07-18:standin::gpt-facts"
    (request,) = standin.job_requests
    assert request["method"]["supervised"]["hyperparameters"] == {
        "n_epochs": 2,
        "batch_size": 4,
        "learning_rate_multiplier": 0.5,
    }
    assert request["seed"] == 7 and request["suffix"] == "gpt-facts"
    (uploaded,) = standin.files.values()
    first = json.loads(uploaded.decode().splitlines()[0])
    assert first["messages"][1]["content"] == "Person 0 is a tester."
    assert Registry().get("gpt-facts") == variant
    assert inspect_model_name("variant/gpt-facts") == "openai/ft:gpt-4o-mini-2024-07-18:standin::gpt-facts"
    # an identical recipe is not sent again
    assert finetune(spec(records_file(tmp_path)), poll=FAST, progress=lambda _: None) == variant
    assert len(standin.job_requests) == 1


def test_polling_resumes_the_recorded_job_after_a_restart(
    standin: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    standin.polls_until_done = 50

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the process dies while waiting

    with monkeypatch.context() as patch:
        patch.setattr(_openai, "wait_for_job", crash)
        with pytest.raises(KeyboardInterrupt):
            finetune(spec(records_file(tmp_path)), poll=FAST, progress=lambda _: None)
    pending = Registry().get("gpt-facts")
    assert pending.status == "pending" and pending.job_id in standin.jobs
    with pytest.raises(UserError, match="still running"):
        pending.usable()
    standin.polls_until_done = 2
    messages: list[str] = []
    variant = finetune(spec(records_file(tmp_path)), poll=FAST, progress=messages.append)
    assert variant.status == "ready" and variant.job_id == pending.job_id
    assert len(standin.job_requests) == 1 and len(standin.files) == 1  # nothing uploaded or created twice
    assert any("Resuming the recorded OpenAI job" in m for m in messages)


@pytest.mark.parametrize("outcome", ["failed", "cancelled"])
def test_a_failed_or_cancelled_job_is_recorded_and_reported(standin: StandIn, tmp_path: Path, outcome: str) -> None:
    standin.outcome = outcome
    with pytest.raises(UserError, match=f"OpenAI job ftjob-standin\\d+ {outcome}") as info:
        finetune(spec(records_file(tmp_path)), poll=FAST, progress=lambda _: None)
    assert "\n" not in str(info.value)
    if outcome == "failed":
        assert "invalid training file" in str(info.value)
    recorded = Registry().get("gpt-facts")
    assert recorded.status == "failed" and recorded.error
    with pytest.raises(UserError, match="failed to train"):
        recorded.usable()
    standin.outcome = "succeeded"  # a retry starts a new job
    assert finetune(spec(records_file(tmp_path)), poll=FAST, progress=lambda _: None).status == "ready"
    assert len(standin.job_requests) == 2


def test_bad_data_is_refused_before_anything_is_uploaded(standin: StandIn, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    with pytest.raises(UserError, match=r"bad\.jsonl:1: no assistant message"):
        finetune(spec(bad), poll=FAST, progress=lambda _: None)
    with pytest.raises(UserError, match="at least 10 training records, got 3"):
        finetune(spec(records_file(tmp_path, n=3)), poll=FAST, progress=lambda _: None)
    assert standin.files == {} and standin.job_requests == []


def test_a_missing_key_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(UserError, match="the openai backend needs OPENAI_API_KEY"):
        finetune(spec(records_file(tmp_path)), poll=FAST, progress=lambda _: None)
