"""Source drift: a column totesys gained is reported (and with AINSDALE_SOURCE_DRIFT=fail stops
the extract); one the star needs that is gone or retyped losing data always stops it, in one
line naming table and column, before anything is written."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ainsdale_etl.core.registry import SOURCE_TABLES
from ainsdale_etl.extract.drift import compare_columns
from helpers.databases import query


def catalog(**changed: tuple[str, bool] | None) -> list[tuple[str, str, str, bool]]:
    """The sales_order catalog rows as totesys declares them, with ``changed`` columns
    retyped (type, is an enum) or, given None, dropped."""
    declared = {
        "int": "integer", "text": "text", "money": "numeric(10,2)", "date_text": "text",
        "timestamp": "timestamp(3) without time zone",
    }  # fmt: skip
    rows = []
    for column in SOURCE_TABLES["sales_order"].columns:
        sql_type, is_enum = changed.get(column.name, (declared[column.kind], False)) or ("", False)
        if column.name not in changed or changed[column.name] is not None:
            rows.append(("sales_order", column.name, sql_type, is_enum))
    return rows


@pytest.mark.parametrize(
    ("column", "sql_type", "lossy"),
    [
        ("unit_price", "double precision", True),
        ("unit_price", "numeric", True),  # any scale: rounded into numeric(10,2)
        ("unit_price", "numeric(12,2)", True),  # too large for the star's numeric(10,2)
        ("unit_price", "numeric(8,2)", False),
        ("units_sold", "bigint", True),
        ("units_sold", "smallint", False),
        ("last_updated", "timestamp(6) without time zone", True),
        ("last_updated", "timestamp(3) with time zone", True),
        ("agreed_delivery_date", "date", False),
        ("agreed_delivery_date", "character varying(10)", False),
    ],
)
def test_only_a_type_that_would_lose_data_is_drift(column, sql_type, lossy):
    drift = compare_columns(catalog(**{column: (sql_type, False)}), ["sales_order"])
    assert bool(drift.lossy) is lossy, drift
    assert not drift.missing and not drift.added


def test_a_renamed_column_is_named_with_its_likely_new_name():
    rows = [*catalog(staff_id=None), ("sales_order", "sales_staff_id", "integer", False)]
    assert compare_columns(rows, ["sales_order"]).problems("warn") == [
        "sales_order.staff_id is gone (renamed to sales_staff_id?), and the star needs it"
    ]


def errors(result) -> list[str]:
    return [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]


def nothing_written(env: dict[str, str]) -> bool:
    ingest = Path(env["AINSDALE_INGEST_URI"])
    return not ingest.exists() or not any(p.is_file() for p in ingest.rglob("*"))


def test_an_added_column_warns_or_with_fail_stops_the_extract(cli, etl_env, monkeypatch):
    src = etl_env["AINSDALE_SOURCE_URL"]
    query(src, "ALTER TABLE staff ADD COLUMN nickname text")
    monkeypatch.setenv("AINSDALE_SOURCE_DRIFT", "fail")
    result = cli("extract", expect=2)
    assert errors(result) == [
        "error: totesys differs from the registry: staff has 1 column the registry does not "
        "know: nickname (AINSDALE_SOURCE_DRIFT=fail); nothing was extracted"
    ]
    assert nothing_written(etl_env)
    found = json.loads(cli("check", "--json", expect=1).stdout)["checks"]
    assert [c["ok"] for c in found if c["name"] == "source columns"] == [False]

    monkeypatch.setenv("AINSDALE_SOURCE_DRIFT", "warn")
    lines = [json.loads(ln) for ln in cli("extract").output.splitlines() if ln.startswith("{")]
    [warning] = [ln for ln in lines if ln.get("kind") == "source_drift"]
    assert warning["table"] == "staff" and warning["columns"] == ["nickname"]
    [source_columns] = [
        c
        for c in json.loads(cli("check", "--json").stdout)["checks"]
        if c["name"] == "source columns"
    ]
    assert source_columns["detail"].endswith(
        "not in the registry, so not extracted: staff.nickname (AINSDALE_SOURCE_DRIFT=warn)"
    )


@pytest.mark.parametrize("policy", ["warn", "fail"])
def test_a_dropped_or_lossily_retyped_column_stops_the_extract_in_one_line(
    policy, cli, etl_env, monkeypatch
):
    src = etl_env["AINSDALE_SOURCE_URL"]
    query(src, "ALTER TABLE staff RENAME COLUMN email_address TO email")
    query(src, "ALTER TABLE payment ALTER COLUMN payment_amount TYPE float8")
    monkeypatch.setenv("AINSDALE_SOURCE_DRIFT", policy)
    result = cli("run-all", expect=2)
    assert errors(result) == [
        "error: totesys differs from the registry: staff.email_address is gone (renamed to "
        "email?), and the star needs it; payment.payment_amount is double precision, which "
        "would not keep money's exact numeric(10,2); nothing was extracted"
    ]
    assert "Traceback" not in result.output
    assert nothing_written(etl_env)
    # The run made the warehouse (its ledger), and recorded no batch.
    assert query(etl_env["AINSDALE_WAREHOUSE_URL"], "SELECT count(*) FROM ainsdale_meta.batch") == [
        (0,)
    ]


def test_a_database_that_is_not_totesys_is_named_in_one_short_line(
    cli, etl_env, monkeypatch, new_database_url
):
    """An empty database, or one with other tables, is not a totesys that drifted: one line
    saying so (and which database), not a clause for every column of every table."""
    other = new_database_url("not_totesys")
    query(other, "CREATE TABLE invoices (id int, total numeric)")
    monkeypatch.setenv("AINSDALE_SOURCE_URL", other)
    [line] = errors(cli("run-all", expect=2))
    database = urlsplit(other).path.lstrip("/")  # an embedded server's URI has a socket query
    assert line == (
        f"error: no totesys tables in database {database}: point the source "
        "(AINSDALE_SOURCE_URL or AINSDALE_SOURCE_SECRET_ID) at the totesys database (the "
        "embedded default's is filled by `ainsdale-etl demo` or "
        "`ainsdale-etl seed`); nothing was extracted"
    )
    assert nothing_written(etl_env)
    [source] = [c for c in json.loads(cli("check", "--json", expect=1).stdout)["checks"]
                if c["name"] == "source"]  # fmt: skip
    assert not source["ok"] and source["detail"].startswith("no totesys tables in database ")
    assert "address.address_id" not in source["detail"]


def test_a_few_tables_gone_are_named_each_in_one_phrase(cli, etl_env):
    """Most of totesys there: the detailed account stays, a whole table as one phrase."""
    query(etl_env["AINSDALE_SOURCE_URL"], "DROP TABLE transaction CASCADE")
    [line] = errors(cli("extract", expect=2))
    assert line.startswith("error: totesys differs from the registry: table transaction is gone")
    assert "transaction.transaction_id" not in line
