"""Before a run calls a paid API: the requests, tokens and dollars it is about to spend.

Input tokens are counted in the items with tiktoken's o200k_base where its encoding file is
at hand (OpenAI's current encoding; other providers' tokenizers differ by some percent), else
at about 4 characters a token and output tokens are bounded by the task's
max_tokens, so the dollar figure is an upper estimate for one model call per item and epoch;
a solver's own prompts and further turns are not in it. Prices are USD per million tokens from
`prices.yaml`, overridden or extended by a user's file of the same form (`--prices FILE`, or
$PROSAIC_EVALS_PRICES). Samples a resumed log already holds, and finished logs, cost nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import Field, NonNegativeFloat

from prosaic_evals._errors import UserError
from prosaic_evals._strict import StrictModel

PRICES_ENV = "PROSAIC_EVALS_PRICES"
API_PROVIDERS = ("openai", "anthropic", "google", "mistral", "grok", "together", "groq", "fireworks", "openai-api")
"""Providers whose calls are billed per token (a model served by the harness is not)."""


class Price(StrictModel):
    input: NonNegativeFloat
    output: NonNegativeFloat
    batch: float = Field(default=1.0, gt=0, le=1)
    """The factor batch mode applies to both prices."""


@dataclass(frozen=True)
class Estimate:
    task: str
    model: str
    requests: int
    input_tokens: int
    output_tokens: int | None
    """None: the task sets no max_tokens, so output is unbounded."""

    price: Price | None
    batch: bool

    @property
    def dollars(self) -> float | None:
        if self.price is None or self.output_tokens is None:
            return None
        factor = self.price.batch if self.batch else 1.0
        return factor * (self.input_tokens * self.price.input + self.output_tokens * self.price.output) / 1e6


def load_prices(path: Path | None = None) -> dict[str, Price]:
    """The shipped table, overridden key by key by `path` (else $PROSAIC_EVALS_PRICES, if set)."""
    from prosaic_evals.spec._load import read_yaml, validate

    class Table(StrictModel):
        prices: dict[str, Price]

    shipped = Path(__file__).with_name("prices.yaml")
    table = validate(Table, {"prices": read_yaml(shipped)}, source=shipped).prices
    user = path or (Path(os.environ[PRICES_ENV]) if os.environ.get(PRICES_ENV) else None)
    if user is not None:
        if not user.is_file():
            raise UserError(f"prices file not found: {user}")
        raw = read_yaml(user)
        if not isinstance(raw, dict):
            raise UserError(f"{user}: expected a mapping of model -> {{input: USD per M tokens, output: ...}}")
        table = {**table, **validate(Table, {"prices": raw}, source=user).prices}
    return dict(table)


def price_of(model: str, prices: dict[str, Price]) -> Price | None:
    """Exact name, else the longest key the name starts with (`openai/ft:gpt-4o-mini-2024-07-18:org::id`)."""
    if model in prices:
        return prices[model]
    matches = [key for key in prices if model.startswith(key)]
    return prices[max(matches, key=len)] if matches else None


def is_billed(model: str) -> bool:
    return model.split("/", 1)[0] in API_PROVIDERS


def estimate(task: Any, model: str, *, limit: int | None, done: Iterable[str], batch: bool,
             prices: dict[str, Price]) -> Estimate:  # fmt: skip
    """One task on one billed model: the samples still to run, their input tokens and bounded output."""
    skip = {str(s) for s in done}
    samples = list(task.dataset)[:limit] if limit else list(task.dataset)
    epochs = int(getattr(task, "epochs", None) or 1)
    todo = [s for s in samples if str(s.id) not in skip]
    tokens = sum(_tokens(_text(s.input)) for s in todo) * epochs
    max_tokens = getattr(task.config, "max_tokens", None)
    requests = len(todo) * epochs
    return Estimate(task.name, model, requests, tokens, requests * max_tokens if max_tokens else None,
                    price_of(model, prices), batch)  # fmt: skip


def describe(estimates: list[Estimate]) -> str:
    """Lines for the terminal: per task and model, then the total."""
    counted = "tiktoken o200k_base" if _encoding() is not None else "about 4 characters a token"
    lines = [f"Estimate before calling paid APIs (items' input tokens, {counted}; output bounded by max_tokens):"]
    for e in estimates:
        output = f"<= {e.output_tokens:,}" if e.output_tokens is not None else "unbounded (no max_tokens)"
        if e.price is None:
            money = f"price unknown (add {e.model} to a --prices file)"
        else:
            rate = f"${e.price.input:g}/${e.price.output:g} per M" + (f", batch x{e.price.batch:g}" if e.batch else "")
            money = f"<= ${e.dollars:,.2f} at {rate}" if e.dollars is not None else f"unbounded at {rate}"
        lines.append(f"  {e.task} on {e.model}: {e.requests:,} requests, {e.input_tokens:,} input tokens, "
                     f"{output} output tokens; {money}")  # fmt: skip
    known = [e.dollars for e in estimates if e.dollars is not None]
    if known:
        some = "" if len(known) == len(estimates) else " for the priced ones"
        lines.append(f"  total: <= ${sum(known):,.2f}{some}")
    return "\n".join(lines)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "\n".join(str(getattr(message, "text", message)) for message in value)


def _tokens(text: str) -> int:
    encoding = _encoding()
    return len(encoding.encode(text, disallowed_special=())) if encoding is not None else len(text) // 4 + 1


@cache
def _encoding() -> Any:
    try:
        import tiktoken

        return tiktoken.get_encoding("o200k_base")
    except Exception:  # not installed, or its encoding file not cached on an offline machine: ~4 chars a token
        return None
