"""Every built-in family documents each of its conditions: the docs site's conditions table is generated from
`condition_docs`."""

from __future__ import annotations

import pytest

from prosaic_evals.families import FAMILIES, Family

DOCUMENTED = sorted(name for name in FAMILIES if name != "from_file")  # from_file's conditions are the user's data


@pytest.mark.parametrize("name", DOCUMENTED)
def test_every_condition_has_a_one_line_doc(name: str) -> None:
    family: type[Family] = FAMILIES[name]  # type: ignore[type-arg]
    docs = family.condition_docs
    missing = [c for c in family.conditions if c not in docs]
    extra = [c for c in docs if c not in family.conditions]
    assert not missing and not extra, f"{name}: undocumented {missing}, documented but not conditions {extra}"
    assert list(docs) == list(family.conditions), f"{name}: condition_docs is not in the order of conditions"
    for condition, doc in docs.items():
        assert doc.strip(), f"{name}: condition {condition!r} has an empty doc"
        assert "\n" not in doc, f"{name}: condition {condition!r} has a doc of more than one line"
