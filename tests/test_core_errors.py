"""A failure carries its place: the step and batch it was raised in travel on the exception."""

from __future__ import annotations

import pytest

from ainsdale_etl.core.errors import BadInputError, Place, failing_in, mark_place, place_of


def test_a_failure_carries_the_innermost_step_and_batch() -> None:
    with pytest.raises(RuntimeError) as raised, failing_in("load"), failing_in("load", "B2"):
        raise RuntimeError("boom")
    assert place_of(raised.value) == Place("load", "B2")


def test_a_failure_outside_any_step_has_no_place() -> None:
    assert place_of(RuntimeError("boom")) is None


def test_a_quarantine_keeps_its_place_through_outer_steps() -> None:
    stop = mark_place(BadInputError("bad row"), Place("transform", "B1", quarantined=True))
    with pytest.raises(BadInputError) as raised, failing_in("transform"):
        raise stop
    assert place_of(raised.value) == Place("transform", "B1", quarantined=True)


def test_an_interruption_carries_its_place_too() -> None:
    with pytest.raises(KeyboardInterrupt) as raised, failing_in("extract"):
        raise KeyboardInterrupt
    assert place_of(raised.value) == Place("extract")
