"""Activation extraction: the intended tokens, the same states as a plain forward pass, chunks and cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from prosaic_evals._errors import UserError
from prosaic_evals.probes import check_layers, check_position, extract, load_local, locate

TEXTS = [
    "Ada Quillon's mother is Mara Quillon.",
    "The capital of France is Paris!",
    "Bo Lind was born in Oslo.",
    "Zed is here",
    "Who is Ada Quillon's mother?",
    "Mara Quillon has a daughter, Ada Quillon.",
    "Paris is a city.",
]
FIELDS = [{"name": "Ada Quillon"}, {"name": "France"}, {"name": "Bo Lind"}, {"name": "Zed"},
          {"name": "Ada Quillon"}, {"name": "Ada Quillon"}, {"name": "Paris"}]  # fmt: skip
WHERE = [f"item {i}" for i in range(len(TEXTS))]


@pytest.fixture(scope="module")
def embedded(embedded_dir: Path) -> Any:
    return load_local("local")


@pytest.fixture(scope="module")
def tiny(embedded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A randomly initialised model of the embedded model's architecture, 2 small layers."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(embedded_dir)
    config.num_hidden_layers, config.hidden_size, config.intermediate_size = 2, 64, 128
    config.num_attention_heads, config.num_key_value_heads, config.head_dim = 4, 2, 16
    path = tmp_path_factory.mktemp("tiny")
    AutoModelForCausalLM.from_config(config).save_pretrained(path)
    AutoTokenizer.from_pretrained(embedded_dir).save_pretrained(path)
    return load_local(str(path))


@pytest.mark.slow
def test_positions_are_the_intended_tokens(embedded: Any) -> None:
    tok = embedded.tokenizer
    names = ["last", "end", "entity:name"]
    located = locate(tok, TEXTS, FIELDS, names, WHERE)
    for text, ids, (last, end, entity), fields in zip(TEXTS, located.ids, located.indices, FIELDS, strict=True):
        assert ids == tok(text)["input_ids"]
        assert last == len(ids) - 1
        assert tok.decode(ids[: end + 1]).rstrip() == text.rstrip(".!?").rstrip()  # up to the last word
        prefix = tok.decode(ids[: entity + 1])
        assert prefix.endswith(fields["name"]) and prefix == text[: text.rfind(fields["name"]) + len(fields["name"])]


@pytest.mark.slow
def test_a_position_that_cannot_be_located_is_a_one_line_error(embedded: Any) -> None:
    with pytest.raises(UserError, match=r"item 0: position entity:name: 'Bo Lind' does not occur in"):
        locate(embedded.tokenizer, TEXTS[:1], [{"name": "Bo Lind"}], ["entity:name"], WHERE[:1])
    with pytest.raises(UserError, match=r"item 0: position entity:city: the item has no 'city' value"):
        locate(embedded.tokenizer, TEXTS[:1], FIELDS[:1], ["entity:city"], WHERE[:1])
    with pytest.raises(UserError, match="unknown position 'middle'"):
        check_position("middle")


@pytest.mark.slow
def test_layers_are_checked_against_the_model(tiny: Any) -> None:
    assert check_layers(None, tiny.n_layers) == [0, 1, 2]
    with pytest.raises(UserError, match="layer 3 is out of range: this model has layers 0 to 2"):
        check_layers([0, 3], tiny.n_layers)


def test_api_models_are_refused() -> None:
    for ref in ("openai/gpt-4o", "anthropic/claude-sonnet-4-5", "http://127.0.0.1:8000/v1"):
        with pytest.raises(UserError, match="is an API model: probes need local weights"):
            load_local(ref)


@pytest.mark.slow
def test_batched_chunked_extraction_equals_a_plain_forward_pass(embedded: Any, tmp_path: Path) -> None:
    import torch

    names, layers = ["last", "entity:name"], [0, 15, 30]
    located = locate(embedded.tokenizer, TEXTS, FIELDS, names, WHERE)
    indices = located.indices
    seen: list[int] = []
    acts = extract(embedded, located, positions=names, layers=layers, batch_size=3, chunk=3, root=tmp_path,
                   progress=lambda done, total: seen.append(done))  # fmt: skip
    assert len(acts.chunks()) == 3 and seen == [3, 6, 7] and acts.n == 7
    for i, text in enumerate(TEXTS):  # one text at a time, no padding
        ids = torch.tensor([embedded.tokenizer(text)["input_ids"]])
        with torch.no_grad():
            states = embedded.model(input_ids=ids, output_hidden_states=True).hidden_states
        for p, name in enumerate(names):
            for layer in layers:
                expected = states[layer][0, indices[i][p]].numpy()
                np.testing.assert_allclose(acts.get(name, layer)[i], expected, rtol=1e-4, atol=1e-4)

    again = extract(embedded, located, positions=names, layers=layers, root=tmp_path,
                    progress=lambda done, total: seen.append(-1))  # fmt: skip
    assert again.path == acts.path and -1 not in seen  # read from the cache, nothing recomputed
    other = extract(embedded, located, positions=names, layers=[0], root=tmp_path)
    assert other.path != acts.path  # another layer set is another cache entry
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


@pytest.mark.slow
def test_the_random_model_has_the_architecture_and_other_weights(embedded: Any, tiny: Any, tmp_path: Path) -> None:
    assert type(tiny.model) is type(embedded.model) and tiny.identity != embedded.identity
    located = locate(tiny.tokenizer, TEXTS, FIELDS, ["last"], WHERE)
    acts = extract(tiny, located, positions=["last"], layers=[0, 2], root=tmp_path)
    assert acts.get("last", 2).shape == (7, 64)
