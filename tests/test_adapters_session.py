"""Every session pinned (issue #29): DateStyle, TimeZone and IntervalStyle on every connection,
and the warehouse's search_path, whatever the role's or the database's defaults, set as it
connects (libpq's ``options``: no round trip), beside any options the URI carries."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

from pydantic import SecretStr

from ainsdale_etl.adapters.postgres import Database
from ainsdale_etl.adapters.sessions import (
    PINNED_SETTINGS,
    WAREHOUSE_SETTINGS,
    with_session_settings,
)
from ainsdale_etl.core.registry import STAR_TABLES
from helpers.contents import latest_versions, warehouse_contents
from helpers.databases import query

_SHOW = "SELECT current_setting('DateStyle'), current_setting('TimeZone'), " \
        "current_setting('IntervalStyle'), current_setting('search_path'), " \
        "current_setting('statement_timeout')"  # fmt: skip
_PINNED = ("ISO, YMD", "UTC", "postgres")


def _options(uri: str) -> str:
    [value] = [
        p.partition("=")[2] for p in uri.split("?")[1].split("&") if p.startswith("options=")
    ]
    return unquote(value)


def test_the_settings_are_added_to_the_uri_s_own_options_not_put_in_their_place():
    uri = "postgresql://u:p%2Bq@h/db?sslmode=require&options=-c%20statement_timeout%3D5s"
    pinned = with_session_settings(uri, {"DateStyle": "ISO,YMD", "TimeZone": "UTC"})
    assert pinned.startswith("postgresql://u:p%2Bq@h/db?sslmode=require&options=")
    assert _options(pinned) == "-c statement_timeout=5s -c DateStyle=ISO,YMD -c TimeZone=UTC"
    bare = with_session_settings("postgresql://h/db", {"TimeZone": "Europe/London"}, "-c x=1")
    assert _options(bare) == "-c TimeZone=Europe/London -c x=1"
    assert with_session_settings("postgresql://h/db", {}) == "postgresql://h/db"
    spaced = with_session_settings("postgresql://h/db", {"DateStyle": "ISO, YMD"})
    assert _options(spaced) == "-c DateStyle=ISO,\\ YMD"  # libpq splits options at spaces


def _joiner(url: str) -> str:
    """How a parameter joins ``url``: the embedded server's already has a query (its socket)."""
    return "&" if "?" in url else "?"


def _odd_database(url: str) -> None:
    """A database whose defaults print dates day first, in Chatham's zone (UTC+12:45 or
    +13:45), intervals in SQL style, and whose search_path finds another schema first."""
    name = query(url, "SELECT current_database()")[0][0]
    for setting in ("DateStyle = 'SQL, DMY'", "TimeZone = 'Pacific/Chatham'",
                    "IntervalStyle = 'sql_standard'", "search_path = elsewhere, public"):  # fmt: skip
        query(url, f'ALTER DATABASE "{name}" SET {setting}')
    query(url, "CREATE SCHEMA elsewhere")


def test_every_connection_of_either_driver_is_pinned_and_keeps_the_uri_s_options(
    warehouse_url,
):
    _odd_database(warehouse_url)
    own = f"{warehouse_url}{_joiner(warehouse_url)}options=-c%20statement_timeout%3D4321"
    db = Database("warehouse", SecretStr(own), settings=WAREHOUSE_SETTINGS)
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute(_SHOW)
        assert cur.fetchone() == (*_PINNED, "public", "4321ms")
    with db.psycopg_connect() as conn:
        assert conn.execute(_SHOW).fetchone() == (*_PINNED, "public", "4321ms")
    # A caller's own options (the ledger's, say) are added too, not put in their place.
    with db.psycopg_connect(options={"options": "-c statement_timeout=99"}) as conn:
        assert conn.execute(_SHOW).fetchone() == (*_PINNED, "public", "99ms")
    source = Database("source", SecretStr(warehouse_url))  # the formats only, by default
    assert source.settings == PINNED_SETTINGS
    with source.psycopg_connect() as conn:
        assert conn.execute(_SHOW).fetchone()[:4] == (*_PINNED, "elsewhere, public")


def _pinned(url: str) -> str:
    return f"{url}{_joiner(url)}options=-c%20DateStyle%3DISO%2CYMD%20-c%20TimeZone%3DUTC"


def test_a_warehouse_with_other_defaults_runs_and_holds_the_same_values(
    cli, etl_env, new_database_url, monkeypatch, tmp_path
):
    """Issue #29: the ledger was pinned, the rest was not. A warehouse whose database prints
    dates day first in another zone, and whose search_path finds another schema first, runs
    twice, lists, verifies, checks and reports as any other, and holds what a plain one holds."""
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    _odd_database(wh)
    cli("run-all")
    query(src, "UPDATE staff SET first_name = 'Pinned', last_updated = localtimestamp(3) "
               "WHERE staff_id = 1")  # fmt: skip
    query(src, "UPDATE sales_order SET units_sold = units_sold + 1, "
               "last_updated = localtimestamp(3) WHERE sales_order_id % 5 = 0")  # fmt: skip
    cli("run-all")
    listed = json.loads(cli("batches", "--json").stdout)
    assert [b["status"] for b in listed] == ["loaded", "loaded"]
    report = json.loads(cli("verify", "--json").stdout)
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]
    assert json.loads(cli("check", "--json").stdout)["ok"]
    cli("report", "--out", str(tmp_path / "odd-report"))
    # The star is in public, nothing in the schema the database's search_path names first.
    in_public = query(wh, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                          "AND tablename = ANY($1)", [list(STAR_TABLES)])  # fmt: skip
    assert in_public == [(len(STAR_TABLES),)]
    assert query(wh, "SELECT count(*) FROM pg_tables WHERE schemaname = 'elsewhere'") == [(0,)]

    # The same source in a plain warehouse, read the same way: the same rows, value for value.
    plain = new_database_url("warehouse")
    monkeypatch.setenv("AINSDALE_WAREHOUSE_URL", plain)
    monkeypatch.setenv("AINSDALE_INGEST_URI", str(tmp_path / "plain-ingest"))
    monkeypatch.setenv("AINSDALE_PROCESSED_URI", str(tmp_path / "plain-processed"))
    monkeypatch.setenv("AINSDALE_HOME", str(tmp_path / "plain-home"))
    cli("run-all")
    cli("report", "--out", str(tmp_path / "plain-report"))
    odd, expected = warehouse_contents(_pinned(wh)), warehouse_contents(_pinned(plain))
    dims = [name for name, table in STAR_TABLES.items() if not table.is_fact]
    assert {name: odd[name] for name in dims} == {name: expected[name] for name in dims}
    assert latest_versions(_pinned(wh)) == latest_versions(_pinned(plain))
    assert query(_pinned(wh), "SELECT first_name FROM dim_staff WHERE staff_id = 1") == [
        ("Pinned",)
    ]
    assert _report(tmp_path / "odd-report") == _report(tmp_path / "plain-report")


def _report(folder: Path) -> dict:
    """A report's figures, without when it was made."""
    figures = json.loads((folder / "report.json").read_text())
    return {k: v for k, v in figures.items() if k not in ("loaded_at", "batch_id")}
