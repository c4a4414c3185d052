"""Named token positions in a text: where a probe reads the residual stream.

- `last`: the last token of the text (for a prompt: the last prompt token);
- `end`: the last token of the statement itself, trailing punctuation and space excluded;
- `entity:<key>`: the last token of the item's `<key>` value (e.g. `entity:name`), located in
  the text by characters and mapped to tokens with the tokenizer's offsets.

A position the tokenizer cannot locate is a one-line error naming the item and the value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prosaic_evals._errors import UserError

BUILTIN = ("last", "end")


@dataclass(frozen=True)
class Located:
    """Token ids of each text and, per text, one token index per position name."""

    ids: list[list[int]]
    indices: list[list[int]]

    def tokens_at(self, k: int) -> list[int]:
        """The token id at the k-th position of every text (the word type a control task keys on)."""
        return [ids[where[k]] for ids, where in zip(self.ids, self.indices, strict=True)]


def check_position(name: str) -> str:
    if name in BUILTIN or (name.startswith("entity:") and len(name) > len("entity:")):
        return name
    raise UserError(f"unknown position {name!r} (use last, end or entity:<field>)")


def char_end(name: str, text: str, fields: Mapping[str, Any], where: str) -> int:
    """The character index (exclusive) where position `name` ends in `text`."""
    if name == "last":
        return len(text)
    if name == "end":
        return len(text.rstrip().rstrip(".!?;:,\"')").rstrip()) or len(text)
    key = name.removeprefix("entity:")
    value = fields.get(key)
    if not isinstance(value, str) or not value:
        raise UserError(f"{where}: position {name}: the item has no {key!r} value")
    start = text.rfind(value)
    if start < 0:
        raise UserError(f"{where}: position {name}: {value!r} does not occur in {text!r}")
    return start + len(value)


def token_index(offsets: Sequence[tuple[int, int]], end: int, where: str, name: str) -> int:
    """The token holding character `end - 1`: the last (non-empty) token that starts before `end`."""
    candidates = [i for i, (s, e) in enumerate(offsets) if e > s and s < end]
    if not candidates:
        raise UserError(f"{where}: position {name}: no token ends at character {end}")
    return candidates[-1]


def locate(tokenizer: Any, texts: Sequence[str], fields: Sequence[Mapping[str, Any]], names: Sequence[str],
           where: Sequence[str]) -> Located:  # fmt: skip
    """Tokenize `texts` once; token indices, one list per text with one index per position name."""
    if not getattr(tokenizer, "is_fast", False):
        raise UserError("locating positions needs a fast tokenizer (with character offsets)")
    encoded = tokenizer(list(texts), return_offsets_mapping=True, add_special_tokens=True)
    out = []
    for i, text in enumerate(texts):
        offsets = encoded["offset_mapping"][i]
        out.append([token_index(offsets, char_end(n, text, fields[i], where[i]), where[i], n) for n in names])
    return Located([list(ids) for ids in encoded["input_ids"]], out)
