"""In-flight transactions: one that ends between the extract's snapshot and its question about
what was running, and a writer holding ~120,000 subtransactions open during an extract (a
PL/pgSQL EXCEPTION block per row). In-flight xids are cluster-wide, so both run on a private
embedded server: on the shared one, other tests' transactions would widen the first's window,
and the second would widen every other test's."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import IsolationLevel
from pydantic import SecretStr

from ainsdale_etl.adapters.embedded import SOURCE_DATABASE, WAREHOUSE_DATABASE, embedded_server
from ainsdale_etl.adapters.postgres import Database
from ainsdale_etl.core.batches import MAX_MANIFEST_BYTES
from ainsdale_etl.extract.in_flight import InFlight, read_in_flight, read_unfinished
from ainsdale_etl.extract.windows import MAX_IN_FLIGHT_RANGES, Snapshot
from helpers.contents import manifests
from helpers.databases import SMALL_SCALE, query

SUBTRANSACTIONS = 120_000
FIRST_ID = 900_000


def test_a_transaction_ending_just_after_the_snapshot_is_read_again_and_nothing_older(
    private_server,
):
    """A transaction running when the extract's snapshot is taken ends before the extract asks
    what is running: its subtransaction's xid then reads "committed", like a write committed
    long before. The next window must read the first again (the snapshot did not see it) and
    not the second (it did). Asked only afterwards, every xid from the ended one up counted:
    on a busy server, each long transaction ending near a snapshot meant a batch read again."""
    # A server of its own: on the shared one, another test's transaction ending during the
    # first question rightly widens what counts, and the last assertion would not hold.
    url = private_server["source"]
    with psycopg.connect(url, autocommit=True) as setup:
        setup.execute("CREATE TABLE t (id int PRIMARY KEY, note text)")
    with (
        psycopg.connect(url) as held,
        psycopg.connect(url, autocommit=True) as writer,
        psycopg.connect(url) as extract,
    ):
        held.execute("INSERT INTO t VALUES (1, 'held, top level')")
        held.execute("SAVEPOINT s")
        held.execute("INSERT INTO t VALUES (2, 'held, in a subtransaction')")
        writer.execute("INSERT INTO t VALUES (3, 'committed before the snapshot')")
        xids = dict(held.execute("SELECT id, xmin::text::bigint FROM t").fetchall())
        unfinished = read_unfinished(extract)
        extract.rollback()
        extract.isolation_level = IsolationLevel.REPEATABLE_READ
        row = extract.execute("SELECT pg_current_snapshot()::text").fetchone()
        assert row is not None
        held.commit()  # between the snapshot and the question
        in_flight = read_in_flight(extract, Snapshot.parse(row[0]), unfinished)
        seen = {i for (i,) in extract.execute("SELECT id FROM t")}
    assert seen == {3}  # the snapshot saw the earlier write, not the held ones
    assert xids[1] < xids[2] < xids[3]  # the held transaction began first
    assert _counts(in_flight, xids[1]) and _counts(in_flight, xids[2])
    assert not _counts(in_flight, xids[3])


def _counts(in_flight: InFlight, xid: int) -> bool:
    """Whether the next window reads again what ``xid`` wrote."""
    beyond = in_flight.uncertain_from is not None and xid >= in_flight.uncertain_from
    return beyond or any(first <= xid <= last for first, last in in_flight.ranges)


@pytest.fixture
def private_server() -> Iterator[dict[str, str]]:
    # Not under pytest's basetemp (see conftest.pg_admin_url), and short: a unix socket's path.
    home = Path(tempfile.mkdtemp(prefix="ainsdale-xid-"))
    server = embedded_server(home)
    try:
        yield {
            "source": str(server.get_uri(SOURCE_DATABASE)),
            "warehouse": str(server.get_uri(WAREHOUSE_DATABASE)),
        }
    finally:
        server.cleanup()
        shutil.rmtree(home, ignore_errors=True)


def test_a_writer_with_many_subtransactions_keeps_manifests_and_copies_small(
    private_server, cli, monkeypatch, tmp_path
):
    from ainsdale_etl.ops.seed import seed

    src = private_server["source"]
    seed(Database("source", SecretStr(src)), scale=SMALL_SCALE)
    for name, value in {
        "AINSDALE_SOURCE_URL": src,
        "AINSDALE_WAREHOUSE_URL": private_server["warehouse"],
        "AINSDALE_INGEST_URI": str(tmp_path / "ingest"),
        "AINSDALE_PROCESSED_URI": str(tmp_path / "processed"),
        "AINSDALE_HOME": str(tmp_path / "home"),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    cli("extract")
    with psycopg.connect(src) as writer:
        # One subtransaction, with its own xid, per row: all in flight during the next extract.
        writer.execute(
            f"""DO $$ BEGIN FOR i IN 1..{SUBTRANSACTIONS} LOOP
                BEGIN
                    INSERT INTO design (design_id, design_name, file_location, file_name,
                                        created_at, last_updated)
                    VALUES ({FIRST_ID} + i, 'held ' || i, '/x', 'x.json', localtimestamp,
                            localtimestamp);
                EXCEPTION WHEN unique_violation THEN NULL;
                END;
            END LOOP; END $$"""
        )
        # A later transaction commits: the snapshot's xmax moves past every one of them.
        query(src, "UPDATE currency SET last_updated = localtimestamp WHERE currency_id = 1")
        cli("extract")
        during = manifests(tmp_path / "ingest")[-1]
        entry = json.loads(during.read_text())["tables"]["design"]
        xmin, xmax, _ = entry["snapshot"].split(":")
        assert int(xmax) - int(xmin) > SUBTRANSACTIONS
        assert len(entry["in_flight_ranges"]) <= MAX_IN_FLIGHT_RANGES
        # a few runs a table, not 120,000 numbers: far below the limit a reader refuses
        assert during.stat().st_size < 200_000 < MAX_MANIFEST_BYTES
        writer.commit()
    cli("extract", "--tables", "design")
    after = json.loads(manifests(tmp_path / "ingest")[-1].read_text())["tables"]["design"]
    assert after["rows"] >= SUBTRANSACTIONS  # what was in flight is read once it committed
    [(held,)] = query(src, f"SELECT count(*) FROM design WHERE design_id > {FIRST_ID}")
    assert held == SUBTRANSACTIONS
