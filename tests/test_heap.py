"""The garbage-collector settings an evaluation runs under."""

from __future__ import annotations

import gc

import pytest

from prosaic_evals._heap import YOUNG_THRESHOLD, steady_heap


def test_what_was_loaded_is_frozen_during_the_evaluation_and_released_after() -> None:
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    with steady_heap():
        assert gc.get_freeze_count() > 10_000  # the modules, classes and objects already loaded
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *before[1:])
        garbage = [[]]
        garbage[0].append(garbage)  # a cycle made during the evaluation is still collected
        del garbage
        assert gc.collect() > 0
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before


def test_an_evaluation_that_raises_restores_the_collector() -> None:
    before = gc.get_threshold()
    with pytest.raises(KeyboardInterrupt), steady_heap():
        raise KeyboardInterrupt
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before


def test_a_phase_within_a_phase_leaves_the_outer_ones_settings_alone() -> None:
    before = gc.get_threshold()
    with steady_heap():
        frozen = gc.get_freeze_count()
        with steady_heap():  # a report built during a run
            pass
        # still frozen (an unfreeze gives 0; a frozen object freed by its reference count leaves the count)
        assert gc.get_freeze_count() > 0.9 * frozen and gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before
