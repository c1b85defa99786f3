"""Change capture under the sequences a production source goes through: writer transactions
held open across batches (with savepoints), writers in other time zones, rows dated in the
future, hard deletes and mass updates. Real concurrent connections, real clocks."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import psycopg
import pytest

from helpers.contents import manifests
from helpers.databases import query


def _manifests(etl_env: dict[str, str]) -> list[dict]:
    return [json.loads(p.read_text()) for p in manifests(Path(etl_env["AINSDALE_INGEST_URI"]))]


def _versions(wh: str, order_id: int) -> list[tuple[object, ...]]:
    return query(
        wh,
        "SELECT units_sold FROM fact_sales_order WHERE sales_order_id = $1 "
        "ORDER BY last_updated_date, last_updated_time",
        [order_id],
    )


def _order_ids(src: str) -> list[int]:
    """The seeded sales orders' ids (the seed leaves gaps)."""
    return [r[0] for r in query(src, "SELECT sales_order_id FROM sales_order ORDER BY 1")]


def _verify_ok(cli) -> dict:
    report = json.loads(cli("verify", "--json").stdout)
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]
    return report


@pytest.mark.parametrize("in_savepoint", [False, True], ids=["plain", "in a savepoint"])
def test_a_writer_transaction_open_across_batches_reaches_the_warehouse_once(
    in_savepoint, cli, etl_env
):
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    held, other = _order_ids(src)[:2]
    cli("run-all")
    with psycopg.connect(src) as writer:
        # Stamped at its start, as a writer using localtimestamp does, and committed later.
        if in_savepoint:  # a savepoint's write carries its subtransaction's own xid
            writer.execute("SELECT 1 FROM staff LIMIT 1")
            writer.execute("SAVEPOINT s")
        writer.execute(
            "UPDATE sales_order SET units_sold = 4242, last_updated = localtimestamp(3) "
            "WHERE sales_order_id = %s",
            [held],
        )
        if in_savepoint:
            writer.execute("RELEASE SAVEPOINT s")
        for units in (1111, 2222):  # other changes commit batches meanwhile
            time.sleep(1.1)
            query(src, "UPDATE sales_order SET units_sold = $1, last_updated = localtimestamp(3) "
                       "WHERE sales_order_id = $2", [units, other])  # fmt: skip
            cli("run-all")
        assert _versions(wh, held)[-1] != (4242,)
        writer.commit()
    cli("run-all")
    cli("run-all")  # nothing new: no batch, no second copy of the long transaction's row
    assert [v for v in _versions(wh, held) if v == (4242,)] == [(4242,)]
    assert _versions(wh, other)[-2:] == [(1111,), (2222,)]
    batches = _manifests(etl_env)
    assert [b["tables"]["sales_order"]["rows"] for b in batches[1:]] == [1, 1, 1]
    _verify_ok(cli)


def test_writers_in_other_time_zones_lose_nothing_and_double_nothing(cli, etl_env):
    """Tokyo stamps 9 hours ahead of UTC, Los Angeles 7 or 8 behind, the extract role reads in
    a third zone: last_updated means nothing to the capture."""
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    query(src, "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET TimeZone = %L', "
               "current_database(), 'Pacific/Chatham'); END $$")  # fmt: skip
    cli("run-all")
    tokyo, los_angeles = (
        psycopg.connect(src, autocommit=True),
        psycopg.connect(src, autocommit=True),
    )
    tokyo.execute("SET TIME ZONE 'Asia/Tokyo'")
    los_angeles.execute("SET TIME ZONE 'America/Los_Angeles'")
    east, west = _order_ids(src)[2:4]
    expected: dict[int, list[int]] = {}
    try:
        for step in range(3):
            for writer, order_id in ((tokyo, east), (los_angeles, west)):
                units = 100 * (step + 1) + (writer is tokyo)
                writer.execute(
                    "UPDATE sales_order SET units_sold = %s, last_updated = localtimestamp(3) "
                    "WHERE sales_order_id = %s",
                    [units, order_id],
                )
                expected.setdefault(order_id, []).append(units)
            los_angeles.execute(
                "UPDATE design SET design_name = %s, last_updated = localtimestamp(3) "
                "WHERE design_id = (SELECT min(design_id) FROM design)",
                [f"LA {step}"],
            )
            cli("run-all")
            time.sleep(1.1)  # distinct last_updated per version: the fact's natural key
    finally:
        tokyo.close()
        los_angeles.close()
    for order_id, units in expected.items():
        assert [v[0] for v in _versions(wh, order_id)][-3:] == units
        assert len(_versions(wh, order_id)) == 4  # the seed's version, then each one once
    assert query(wh, "SELECT design_name FROM dim_design ORDER BY design_id LIMIT 1") == [("LA 2",)]
    # Each version was extracted once: two orders changed per batch, and nothing read twice.
    assert [b["tables"]["sales_order"]["rows"] for b in _manifests(etl_env)[1:]] == [2, 2, 2]
    _verify_ok(cli)


def test_a_future_dated_row_is_loaded_with_a_warning(cli, etl_env):
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    order = _order_ids(src)[4]
    cli("run-all")
    # A writer whose clock runs a day fast creates a design, and an order points at it.
    query(src, "INSERT INTO design (design_id, created_at, last_updated, design_name, "
               "file_location, file_name) VALUES (9001, localtimestamp + interval '1 day', "
               "localtimestamp + interval '1 day', 'Tomorrow', '/x', 'tomorrow.json')")  # fmt: skip
    query(src, "UPDATE sales_order SET design_id = 9001, last_updated = localtimestamp(3) "
               "WHERE sales_order_id = $1", [order])  # fmt: skip
    result = cli("run-all")
    assert query(wh, "SELECT design_name FROM dim_design WHERE design_id = 9001") == [("Tomorrow",)]
    assert query(
        wh, "SELECT design_id FROM fact_sales_order WHERE sales_order_id = $1 "
            "ORDER BY last_updated_date DESC, last_updated_time DESC LIMIT 1", [order]
    ) == [(9001,)]  # fmt: skip
    warnings = [json.loads(line) for line in result.output.splitlines() if '"future_dated"' in line]
    assert [(w["table"], w["count"]) for w in warnings] == [("design", 1)]
    assert warnings[0]["latest"].startswith(str(_tomorrow(src)))
    _verify_ok(cli)


def _tomorrow(src: str) -> object:
    return query(src, "SELECT (localtimestamp + interval '1 day')::date")[0][0]


def test_rows_deleted_in_totesys_are_recorded_reported_and_not_a_failure(cli, etl_env):
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    query(src, "INSERT INTO design (design_id, created_at, last_updated, design_name, "
               "file_location, file_name) VALUES (9002, localtimestamp, localtimestamp, "
               "'Unused', '/x', 'unused.json')")  # fmt: skip
    query(src, "INSERT INTO address (address_id, address_line_1, city, postal_code, country, "
               "phone, created_at, last_updated) VALUES (9003, '1 Nowhere', 'Ainsdale', "
               "'PR8', 'UK', '0', localtimestamp, localtimestamp)")  # fmt: skip
    cli("run-all")
    order = _order_ids(src)[5]
    # The order goes, and its transaction's link to it with it (ON DELETE SET NULL, which
    # does not touch last_updated: only the capture by transaction sees that change).
    query(src, "DELETE FROM sales_order WHERE sales_order_id = $1", [order])
    query(src, "DELETE FROM design WHERE design_id = 9002")
    query(src, "DELETE FROM address WHERE address_id = 9003")
    cli("run-all")
    assert query(wh, "SELECT count(*) FROM dim_transaction WHERE sales_order_id = $1", [order]) == [
        (0,)
    ]
    last = _manifests(etl_env)[-1]["tables"]
    assert last["sales_order"]["deleted"] == [order]
    assert last["design"]["deleted"] == [9002] and last["address"]["deleted"] == [9003]
    assert query(wh, "SELECT 1 FROM dim_design WHERE design_id = 9002") == []
    assert query(wh, "SELECT 1 FROM dim_location WHERE location_id = 9003") == []
    assert query(
        wh, "SELECT count(*) > 0 FROM fact_sales_order WHERE sales_order_id = $1", [order]
    ) == [(True,)]  # its history stays
    recorded = query(
        wh, "SELECT star_table, id FROM ainsdale_meta.row_version WHERE deleted ORDER BY 1, 2"
    )
    assert ("dim_design", 9002) in recorded
    assert ("dim_location", 9003) in recorded
    assert ("fact_sales_order", order) in recorded
    assert query(
        wh, "SELECT count(*) FROM fact_sales_order_current WHERE sales_order_id = $1", [order]
    ) == [(0,)]
    report = _verify_ok(cli)
    assert any("fact_sales_order: 1 id deleted" in note for note in report["notes"])
    batches = json.loads(cli("batches", "--json").output)
    assert batches[-1]["deleted"]["sales_order"] == 1
    assert batches[-1]["deleted"]["address"] == 1
    cli("run-all")  # nothing new: the deletions are not found again
    assert len(_manifests(etl_env)) == 2


def test_a_deleted_dimension_row_that_facts_point_at_is_kept_and_said_so(cli, etl_env):
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    # totesys forbids deleting a design an order points at; the order moves, then it goes.
    design = query(src, "SELECT min(design_id) FROM sales_order")[0][0]
    other = query(src, "SELECT min(design_id) FROM design WHERE design_id <> $1", [design])[0][0]
    query(src, "UPDATE sales_order SET design_id = $1, last_updated = localtimestamp(3) "
               "WHERE design_id = $2", [other, design])  # fmt: skip
    query(src, "DELETE FROM design WHERE design_id = $1", [design])
    cli("run-all")
    # The old versions of those orders still point at it: it stays, marked kept.
    assert query(
        wh,
        "SELECT deleted FROM ainsdale_meta.row_version WHERE star_table = 'dim_design' AND id = $1",
        [design],
    ) == [(True,)]
    assert query(wh, "SELECT 1 FROM dim_design WHERE design_id = $1", [design]) == [(1,)]
    report = _verify_ok(cli)
    assert any("dim_design: 1 row deleted in totesys, kept" in n for n in report["notes"])


def test_a_key_check_every_few_batches_still_finds_rows_created_and_deleted_between(
    cli, etl_env, monkeypatch
):
    src = etl_env["AINSDALE_SOURCE_URL"]
    monkeypatch.setenv("AINSDALE_EXTRACT_KEY_CHECK_EVERY", "3")
    cli("run-all")  # checks (the baseline)
    query(src, "INSERT INTO design (design_id, created_at, last_updated, design_name, "
               "file_location, file_name) VALUES (9004, localtimestamp, localtimestamp, "
               "'Brief', '/x', 'brief.json')")  # fmt: skip
    cli("run-all")  # extracts 9004, checks nothing
    for currency in (1, 2):
        query(src, "DELETE FROM design WHERE design_id = 9004")
        query(src, "UPDATE currency SET last_updated = localtimestamp(3) WHERE currency_id = $1",
              [currency])  # fmt: skip
        cli("run-all")  # the fourth checks: 9004 was delivered since the last check
    entries = [m["tables"]["design"] for m in _manifests(etl_env)]
    assert [bool(e["ids_key"]) for e in entries] == [True, False, False, True]
    assert entries[-1]["deleted"] == [9004]


def test_an_unchanged_table_s_check_reuses_its_ids_until_a_row_goes_or_comes(cli, etl_env):
    """A table with no rows extracted and as many rows as ids delivered is unchanged: its
    check points at the last id set again, without reading it. An insert, then a hard delete,
    each still show, and are kept in the next id set."""
    src = etl_env["AINSDALE_SOURCE_URL"]
    cli("run-all")
    touch = "UPDATE currency SET last_updated = localtimestamp(3) WHERE currency_id = 1"
    query(src, touch)
    cli("run-all")
    first, second = (m["tables"]["design"] for m in _manifests(etl_env))
    designs = query(src, "SELECT count(*) FROM design")[0][0]
    assert second["ids_key"] == first["ids_key"] and second["ids_count"] == designs
    query(src, "INSERT INTO design (design_id, created_at, last_updated, design_name, "
               "file_location, file_name) VALUES (9005, localtimestamp, localtimestamp, "
               "'Brief', '/x', 'brief.json')")  # fmt: skip
    cli("run-all")
    query(src, "DELETE FROM design WHERE design_id = 9005")
    query(src, touch)
    cli("run-all")
    *_, inserted, deleted = (m["tables"]["design"] for m in _manifests(etl_env))
    assert inserted["deleted"] == [] and inserted["ids_count"] == designs + 1
    assert inserted["ids_key"] != first["ids_key"]
    assert deleted["deleted"] == [9005] and deleted["ids_count"] == designs
    _verify_ok(cli)


def test_an_unchanged_table_whose_id_set_was_deleted_by_hand_starts_a_new_one(cli, etl_env):
    src, ingest = etl_env["AINSDALE_SOURCE_URL"], Path(etl_env["AINSDALE_INGEST_URI"])
    touch = "UPDATE currency SET last_updated = localtimestamp(3) WHERE currency_id = 1"
    cli("run-all")
    gone = _manifests(etl_env)[0]["tables"]["design"]["ids_key"]
    (ingest / gone).unlink()
    query(src, touch)
    cli("run-all")
    latest = _manifests(etl_env)[-1]["tables"]["design"]
    assert latest["ids_key"] != gone and (ingest / latest["ids_key"]).exists()


def test_a_mass_update_keeps_the_manifest_and_the_next_copy_small(cli, etl_env):
    """200,000 rows changed at once: the capture records transactions, not keys."""
    src = etl_env["AINSDALE_SOURCE_URL"]
    cli("extract", "--tables", "address")
    query(src, "INSERT INTO address (address_id, address_line_1, city, postal_code, country, "
               "phone, created_at, last_updated) SELECT 10000 + g, g || ' High St', 'Ainsdale', "
               "'PR8', 'UK', '0', localtimestamp, localtimestamp "
               "FROM generate_series(1, 200000) g")  # fmt: skip
    with psycopg.connect(src) as slow:  # in flight while the extract reads: recorded
        slow.execute("UPDATE currency SET last_updated = localtimestamp WHERE currency_id = 1")
        cli("extract", "--tables", "address,currency")
        slow.commit()
    last = manifests(Path(etl_env["AINSDALE_INGEST_URI"]))[-1]
    entry = json.loads(last.read_text())["tables"]["address"]
    assert entry["rows"] == 200_000
    # (other databases' transactions, autovacuum's, are in flight too: xids are per server)
    assert last.stat().st_size < 4_000 and len(entry["in_flight"]) < 10
    cli("extract", "--tables", "address,currency")
    entries = json.loads(manifests(Path(etl_env["AINSDALE_INGEST_URI"]))[-1].read_text())
    assert entries["tables"]["currency"]["rows"] == 1  # the one in flight, now committed
    assert entries["tables"]["address"]["rows"] == 0


def test_a_batch_from_before_xid_capture_is_followed_by_one_whole_read(cli, etl_env):
    cli("extract", "--tables", "currency")
    [path] = manifests(Path(etl_env["AINSDALE_INGEST_URI"]))
    old = json.loads(path.read_text())  # as the previous release wrote it
    old["tables"]["currency"] = {k: v for k, v in old["tables"]["currency"].items()
                                 if k not in ("snapshot", "in_flight", "in_flight_from")}  # fmt: skip
    path.write_text(json.dumps(old))
    result = cli("extract", "--tables", "currency")
    assert "captured by timestamp" in result.output
    assert (
        _manifests(etl_env)[-1]["tables"]["currency"]["rows"] == old["tables"]["currency"]["rows"]
    )
    assert "captured by timestamp" not in cli("extract", "--tables", "currency").output


def test_an_extract_concurrent_with_writers_misses_nothing(cli, etl_env):
    """Writers commit continuously, some through savepoints, while batches are extracted; at
    the end every row's last version is in the warehouse."""
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    stop = threading.Event()

    def write(order_id: int, savepoints: bool) -> None:
        with psycopg.connect(src) as conn:
            units = 0
            while not stop.is_set():
                units += 1
                if savepoints:
                    conn.execute("SELECT 1")
                    conn.execute("SAVEPOINT s")
                conn.execute(
                    "UPDATE sales_order SET units_sold = %s, last_updated = clock_timestamp() "
                    "WHERE sales_order_id = %s",
                    [units, order_id],
                )
                time.sleep(0.01)
                conn.commit()

    busy = _order_ids(src)[6:10]
    writers = [threading.Thread(target=write, args=(o, i % 2 == 1)) for i, o in enumerate(busy)]
    for thread in writers:
        thread.start()
    try:
        for _ in range(3):
            cli("run-all")
    finally:
        stop.set()
        for thread in writers:
            thread.join()
    cli("run-all")
    for order_id in busy:
        source = query(src, "SELECT units_sold FROM sales_order WHERE sales_order_id = $1",
                       [order_id])  # fmt: skip
        assert _versions(wh, order_id)[-1] == source[0]
    _verify_ok(cli)
