"""The capture's window arithmetic: snapshots, 64-bit xids across wraparound, and when a table
is read whole instead of trusting a previous snapshot."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ainsdale_etl.core.batches import TableEntry
from ainsdale_etl.core.registry import SOURCE_TABLES
from ainsdale_etl.extract.windows import (
    MAX_IN_FLIGHT_RANGES,
    MAX_XID_SPAN,
    Snapshot,
    Window,
    next_window,
    widen_to_xid8,
    window_of,
)


def test_a_snapshot_reads_as_postgresql_prints_it():
    snapshot = Snapshot.parse("900:905:901,903")
    assert snapshot == Snapshot(900, 905, (901, 903))
    assert str(snapshot) == "900:905:901,903"
    assert Snapshot.parse("7:7:") == Snapshot(7, 7, ())


@given(near=st.integers(1 << 32, 1 << 60), back=st.integers(0, (1 << 32) - 1))
def test_a_32_bit_xid_widens_to_the_64_bit_one_at_or_below_a_reference(near, back):
    xid8 = near - back
    assert widen_to_xid8(xid8 % (1 << 32), near) == xid8


def test_the_first_window_of_a_table_reads_it_whole():
    window = next_window(None, Snapshot(10, 12), 12)
    assert window.floor is None and window.why_whole is None


def test_the_next_window_starts_at_the_previous_xmax_and_adds_what_was_in_flight():
    previous = TableEntry(snapshot="100:110:103,105,107", in_flight_ranges=[(103, 105)])
    window = next_window(previous, Snapshot(108, 120), 121)
    assert window == Window(121, floor=110, also=((103, 105), (107, 107)))
    where = window.where(SOURCE_TABLES["design"]).as_string(None)
    # age() measures back from the reference: xids >= 110 are those at most 11 old, and
    # 103..105 those 16 to 18 old; a lone xid is matched by value
    assert "BETWEEN 0 AND 11" in where and "BETWEEN 16 AND 18" in where
    assert "'{107}'::xid[]" in where


def test_a_manifest_listing_every_in_flight_xid_still_reads_as_runs():
    older = TableEntry(snapshot="100:110:103,105", in_flight=[103, 104, 105, 108])
    window = next_window(older, Snapshot(108, 120), 121)
    assert window == Window(121, floor=110, also=((103, 105), (108, 108)))


def test_in_flight_runs_past_the_limit_count_everything_from_the_first_left_out():
    lone = [1000 + 2 * i for i in range(MAX_IN_FLIGHT_RANGES + 50)]  # no two consecutive
    older = TableEntry(snapshot=f"1000:{lone[-1] + 1}:", in_flight=lone)
    window = next_window(older, Snapshot(lone[-1] + 1, lone[-1] + 5), lone[-1] + 5)
    assert len(window.also) == MAX_IN_FLIGHT_RANGES
    assert window.also_from == lone[MAX_IN_FLIGHT_RANGES]
    assert len(window.where(SOURCE_TABLES["design"]).as_string(None)) < 2_000
    # the one in-flight xid a limit never drops is the oldest: it may be below the first left out
    assert window.also[0] == (1000, 1000)


def test_a_batch_read_again_excludes_the_runs_its_snapshot_could_not_see():
    batch = TableEntry(snapshot="100:110:103", in_flight_ranges=[(103, 106)])
    window = window_of(None, batch, Snapshot(110, 120), 120)
    assert window.below == 110 and window.excluding == ((103, 106),)
    assert 'NOT (age("design".xmin) BETWEEN 14 AND 17)' in window.where(
        SOURCE_TABLES["design"]
    ).as_string(None)


def test_an_uncertain_in_flight_list_reads_everything_from_where_it_began():
    previous = TableEntry(snapshot="100:110:103", in_flight=[103], in_flight_from=103)
    window = next_window(previous, Snapshot(110, 120), 120)
    assert "BETWEEN 0 AND 17" in window.where(SOURCE_TABLES["design"]).as_string(None)


def test_a_previous_snapshot_that_cannot_be_trusted_means_a_whole_read_and_a_reason():
    far = 12 + MAX_XID_SPAN
    cases = {
        "timestamp": (TableEntry(upper="2026-01-01 00:00:00.000"), Snapshot(5, 5), 5),
        "backwards": (TableEntry(snapshot="900:905:"), Snapshot(10, 12), 12),
        "2^31": (TableEntry(snapshot="10:12:"), Snapshot(far, far), far),
    }
    for reason, (previous, snapshot, reference) in cases.items():
        window = next_window(previous, snapshot, reference)
        assert reason in (window.why_whole or "")
        assert window.where(SOURCE_TABLES["design"]).as_string(None) == "true"


def test_an_idle_source_s_next_window_starts_at_the_same_xmax_and_is_not_read_whole():
    """Nothing written since the last extract: its xmax is the next one's. That is no sign of
    a restore (only an xmax that went backwards is), so the window is empty, not the table."""
    previous = TableEntry(snapshot="500:500:")
    window = next_window(previous, Snapshot(500, 500), 500)
    assert window == Window(500, floor=500) and window.why_whole is None
    assert (
        window.where(SOURCE_TABLES["design"]).as_string(None)
        == '(age("design".xmin) BETWEEN 0 AND 0)'
    )
