"""The in-flight set against a model of the server: transactions and their subtransactions
take xids, commit or abort, and leave the list of running transactions, at times drawn by
hypothesis around the extract's five questions (the snapshot before, its scan and its check,
the snapshot, the scan and the check after). Each scan reads its xids one after another, not
at one instant. Two orders of a commit are modelled: the one where a transaction reads "in
progress" until it leaves the running list, and one where the commit log says "committed"
first (a wait for a synchronous replica in between). Whatever the interleaving, every write
the extract's snapshot could not see is counted; and a write that had finished before the
extract began is not, unless a transaction was ending during its first question."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ainsdale_etl.extract.in_flight import InFlight, in_flight_of, unfinished_of
from ainsdale_etl.extract.windows import Snapshot, xid_ranges

FIRST_XID = 100
LAST = 17  # events happen at 0..16


@dataclass(frozen=True)
class Txn:
    xids: tuple[int, ...]  # the top-level xid first, then its subtransactions'
    assigned: tuple[float, ...]  # when each xid was taken
    committed: bool
    marked: float  # when the commit log records its end
    left: float  # when it leaves the running list (at or after ``marked``)


@dataclass(frozen=True)
class Server:
    txns: tuple[Txn, ...]
    clog_first: bool  # a commit reads "committed" before it leaves the running list

    def xmax(self, t: float) -> int:
        taken = [
            x for txn in self.txns for x, a in zip(txn.xids, txn.assigned, strict=True) if a <= t
        ]
        return max(taken, default=FIRST_XID - 1) + 1

    def snapshot(self, t: float) -> Snapshot:
        xmax = self.xmax(t)
        xip = tuple(sorted(x.xids[0] for x in self.txns if x.assigned[0] <= t < x.left))
        return Snapshot(min(xip, default=xmax), xmax, xip)

    def owner(self, xid: int) -> Txn:
        return next(txn for txn in self.txns if xid in txn.xids)

    def in_progress(self, xid: int, t: float) -> bool:
        txn = self.owner(xid)
        if self.clog_first and txn.committed and txn.marked <= t:
            return False
        return t < txn.left

    def scan(self, snapshot: Snapshot, start: float, end: float) -> list[tuple[int, int]]:
        """The in-progress runs of ``[xmin, xmax)``, each xid asked a little later."""
        xids = range(snapshot.xmin, snapshot.xmax)
        step = (end - start) / max(1, len(xids))
        return list(
            xid_ranges(x for i, x in enumerate(xids) if self.in_progress(x, start + i * step))
        )

    def still(self, snapshot: Snapshot, t: float) -> set[int]:
        return {x for x in snapshot.xip if self.in_progress(x, t)}


@st.composite
def servers(draw: st.DrawFn) -> tuple[Server, list[float]]:
    # The questions at even instants, events at any: before, between, with or (the scans
    # and the check after the snapshot, 12 to 15) during each of them.
    asked = [2, 4, 6, 8, 10, 12]
    times = st.sampled_from(range(LAST))  # uniform: integers() favours the ends
    events = []
    for _ in range(draw(st.integers(1, 5))):
        begin = draw(times)
        subs = sorted(draw(st.lists(st.sampled_from(range(begin, LAST)), max_size=3)))
        marked = draw(st.sampled_from(range(max([begin, *subs]), LAST)))
        left = draw(st.sampled_from(range(marked, LAST))) if draw(st.booleans()) else marked
        events.append(((begin, *subs), draw(st.booleans()), marked, left))
    # xids in the order they were taken
    order = sorted((a, i, j) for i, (ass, *_) in enumerate(events) for j, a in enumerate(ass))
    xid_of = {(i, j): FIRST_XID + n for n, (_, i, j) in enumerate(order)}
    txns = tuple(
        Txn(tuple(xid_of[i, j] for j in range(len(ass))), ass, committed, marked, left)
        for i, (ass, committed, marked, left) in enumerate(events)
    )
    return Server(txns, draw(st.booleans())), asked


def _counts(in_flight: InFlight, xid: int) -> bool:
    beyond = in_flight.uncertain_from is not None and xid >= in_flight.uncertain_from
    return beyond or any(first <= xid <= last for first, last in in_flight.ranges)


def _extract(server: Server, asked: list[float]) -> tuple[Snapshot, Snapshot, bool, InFlight]:
    t_before, scan_from, scan_to, t_still, t_snapshot, t_after = asked
    before = server.snapshot(t_before)
    runs, still = server.scan(before, scan_from, scan_to), server.still(before, t_still)
    unfinished = unfinished_of(before, runs, still)
    snapshot = server.snapshot(t_snapshot)
    after_runs = server.scan(snapshot, t_after, t_after + 2)
    after_still = server.still(snapshot, t_after + 3)
    in_flight = in_flight_of(snapshot, after_runs, after_still, unfinished)
    quiet_before = still == set(before.xip)  # no transaction ended during the first question
    return before, snapshot, quiet_before, in_flight


# Committed in the commit log before the first question, still running at the snapshot: its
# subtransaction 101 reads "committed" throughout, yet the snapshot cannot see it.
SYNCHRONOUS_REPLICA_WAIT = (
    Server((Txn((100, 101), (1, 2), True, marked=5, left=20),), clog_first=True),
    [3, 6, 7, 8, 10, 11],
)


@settings(max_examples=400, deadline=None)
@given(servers())
@example(SYNCHRONOUS_REPLICA_WAIT)
def test_every_write_the_snapshot_did_not_see_is_read_next_time(drawn):
    server, asked = drawn
    _, snapshot, _, in_flight = _extract(server, asked)
    t_snapshot = asked[4]
    for txn in server.txns:
        unseen = txn.committed and txn.assigned[0] <= t_snapshot < txn.left
        for xid in txn.xids:
            if unseen and xid < snapshot.xmax:
                assert _counts(in_flight, xid), (xid, snapshot, in_flight)


# A long transaction (100) running across the snapshot ends just after it; a write (101)
# committed before the extract began. Asked only after the snapshot, 101 was read again.
LONG_TRANSACTION_ENDS_AFTER_THE_SNAPSHOT = (
    Server(
        (Txn((100,), (0,), True, marked=11, left=11), Txn((101,), (1,), True, marked=1, left=1)),
        clog_first=False,
    ),
    [2, 4, 6, 8, 10, 12],
)


@settings(max_examples=400, deadline=None)
@given(servers())
@example(LONG_TRANSACTION_ENDS_AFTER_THE_SNAPSHOT)
def test_a_write_finished_before_the_extract_began_is_not_read_again(drawn):
    server, asked = drawn
    before, _, quiet_before, in_flight = _extract(server, asked)
    for txn in server.txns:
        if txn.left < asked[0] and quiet_before:
            assert not any(_counts(in_flight, x) for x in txn.xids), (txn, before, in_flight)
