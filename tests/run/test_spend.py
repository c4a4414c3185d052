"""API models at scale: the token and cost estimate before a paid run, the question and --yes, and inspect's
batch mode through the OpenAI SDK against a local stand-in of the Batch API answered by the embedded model."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from inspect_ai.log import read_eval_log

from prosaic_evals._errors import UserError
from prosaic_evals.run._cost import describe, estimate, load_prices, price_of
from tests._cli import run_cli
from tests.run.openai_batch_standin import API_KEY, BatchStandIn, serve


def _task(texts: list[str], max_tokens: int | None, epochs: int = 1) -> Any:
    dataset = [SimpleNamespace(id=i, input=t) for i, t in enumerate(texts)]
    return SimpleNamespace(name="t", dataset=dataset, epochs=epochs, config=SimpleNamespace(max_tokens=max_tokens))


def test_the_estimate_counts_what_is_left_and_prices_it() -> None:
    prices = load_prices()
    price = price_of("openai/gpt-4o-mini-2024-07-18", prices)
    assert price is not None and price.input == 0.15  # the longest matching key, not openai/gpt-4o
    assert price_of("openai/ft:gpt-4o-mini-2024-07-18:org::abc", prices).input == 0.30  # type: ignore[union-attr]
    assert price_of("anthropic/smollm2", prices) is None
    task = _task(["x" * 400] * 10, max_tokens=50, epochs=2)
    full = estimate(task, "openai/gpt-4o-mini", limit=None, done=(), batch=False, prices=prices)
    assert full.requests == 20 and full.output_tokens == 1000 and full.input_tokens > 0
    resumed = estimate(task, "openai/gpt-4o-mini", limit=None, done=["0", "1", "2", "3", "4"], batch=False,
                       prices=prices)  # fmt: skip
    assert resumed.requests == 10 and resumed.input_tokens == full.input_tokens // 2
    batch = estimate(task, "openai/gpt-4o-mini", limit=None, done=(), batch=True, prices=prices)
    assert batch.dollars == pytest.approx(full.dollars / 2)  # type: ignore[operator]
    assert full.dollars == pytest.approx((full.input_tokens * 0.15 + 1000 * 0.60) / 1e6)
    unbounded = estimate(_task(["hi"], max_tokens=None), "openai/gpt-4o", limit=None, done=(), batch=False,
                         prices=prices)  # fmt: skip
    text = describe([full, unbounded])
    assert "unbounded (no max_tokens)" in text and "total: <= $" in text and "for the priced ones" in text


def test_a_user_prices_file_overrides_and_bad_ones_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("openai/gpt-4o: {input: 1.0, output: 2.0}\nopenai/mine: {input: 0, output: 0}\n")
    prices = load_prices(path)
    assert prices["openai/gpt-4o"].input == 1.0 and "openai/mine" in prices and "openai/gpt-4.1" in prices
    path.write_text("openai/gpt-4o: {input: -1, output: 2.0}\n")
    with pytest.raises(UserError, match=r"prices.yaml: .*input: Input should be greater than or equal to 0"):
        load_prices(path)
    with pytest.raises(UserError, match=r"^prices file not found: .*nowhere.yaml"):
        load_prices(tmp_path / "nowhere.yaml")


@pytest.mark.slow
def test_batch_mode_goes_through_the_batch_api_after_the_estimate_and_the_question(server: Any, tmp_path: Path) -> None:
    standin = BatchStandIn(server.base_url, server.api_key)
    httpd, url = serve(standin)
    model = f"openai/{server.spec.served_name}"
    prices = tmp_path / "prices.yaml"
    prices.write_text(f"{model}: {{input: 1.0, output: 2.0, batch: 0.5}}\n")
    env = {"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": url}
    args = ["run", "reversal_curse", "-T", "facts_per_subset=2", "--model", model, "--limit", "6", "--batch",
            "--prices", str(prices), "--log-dir", str(tmp_path / "logs"), "--display", "none"]  # fmt: skip
    try:
        refused = run_cli(*args, env=env)  # no terminal to ask, no --yes: nothing is sent
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert "6 requests" in refused.stderr and "batch x0.5" in refused.stderr
        assert refused.stderr.strip().splitlines()[-1] == (
            "error: this run calls a priced API model and there is no terminal to ask: pass --yes to go ahead"
        )
        assert not standin.batches and not (tmp_path / "logs").exists()

        done = run_cli(*args, "--yes", env=env)
        assert done.returncode == 0, done.stderr[-2000:]
    finally:
        httpd.shutdown()
    assert standin.chat_calls == 0 and standin.batches  # every request went through a batch
    assert sum(b["request_counts"]["completed"] for b in standin.batches.values()) == 6
    (log,) = [read_eval_log(str(p)) for p in (tmp_path / "logs").glob("*.eval")]
    assert log.status == "success" and len(log.samples or []) == 6
    assert all(s.output.completion for s in log.samples or [])  # real answers, from the embedded model
    assert log.plan.config.batch is True
