"""In-flight transactions in bounded space: a writer holding ~120,000 subtransactions open
during an extract (a PL/pgSQL EXCEPTION block per row). In-flight xids are cluster-wide, so this
runs on a private embedded server: on the shared one it would widen every other test's window."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr

from ainsdale_etl.adapters.embedded import SOURCE_DATABASE, WAREHOUSE_DATABASE, embedded_server
from ainsdale_etl.adapters.postgres import Database
from ainsdale_etl.core.batches import MAX_MANIFEST_BYTES
from ainsdale_etl.extract.windows import MAX_IN_FLIGHT_RANGES
from helpers.contents import manifests
from helpers.databases import SMALL_SCALE, query

SUBTRANSACTIONS = 120_000
FIRST_ID = 900_000


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
