"""`ainsdale-etl verify`: passes on a correct load, and names what differs after damage."""

from __future__ import annotations

import json

import adbc_driver_postgresql.dbapi as adbc
import pytest

from conftest import query


def checks(output: str) -> dict[tuple[str, str], dict[str, object]]:
    [line] = [ln for ln in output.splitlines() if ln.startswith('{"ok"')]
    report = json.loads(line)
    return {(c["mart"], c["name"]): c for c in report["checks"]}


def test_verify_passes_after_a_load(cli, etl_env):
    cli("run-all")
    result = cli("verify", "--json")
    found = checks(result.output)
    assert all(c["ok"] for c in found.values())
    assert ("fact_sales_order", "money per currency (latest versions)") in found
    assert ("dim_counterparty", "rows vs counterparty") in found


def test_verify_passes_with_history_and_counts_latest_versions(cli, etl_env):
    src = etl_env["AINSDALE_SOURCE_URL"]
    cli("run-all")
    query(src, "UPDATE sales_order SET unit_price = unit_price + 1, last_updated = localtimestamp(3) "
               "WHERE sales_order_id IN (SELECT sales_order_id FROM sales_order ORDER BY 1 LIMIT 5)")  # fmt: skip
    cli("run-all")
    cli("verify")


def test_verify_fails_after_a_fact_row_is_deleted(cli, etl_env):
    cli("run-all")
    query(
        etl_env["AINSDALE_WAREHOUSE_URL"],
        "DELETE FROM fact_payment WHERE payment_id = (SELECT min(payment_id) FROM fact_payment)",
    )
    result = cli("verify", "--json", expect=1)
    found = checks(result.output)
    assert not found[("fact_payment", "current versions missing")]["ok"]
    assert found[("fact_payment", "current versions missing")]["warehouse"] == 1
    assert "fact_payment current versions missing" in result.output


def test_verify_fails_after_a_value_changes(cli, etl_env):
    cli("run-all")
    query(etl_env["AINSDALE_WAREHOUSE_URL"], "UPDATE fact_sales_order SET unit_price = unit_price + 0.01 "
          "WHERE sales_record_id = (SELECT min(sales_record_id) FROM fact_sales_order)")  # fmt: skip
    result = cli("verify", expect=1)
    assert "fact_sales_order money per currency" in result.output


def test_verify_fails_when_a_dimension_row_is_missing(cli, etl_env):
    cli("run-all")
    wh = etl_env["AINSDALE_WAREHOUSE_URL"]
    query(wh, "INSERT INTO dim_design VALUES (999999, 'x', 'y', 'z')")  # a row the source lacks
    result = cli("verify", "--json", expect=1)
    assert not checks(result.output)[("dim_design", "rows vs design")]["ok"]


@pytest.mark.parametrize(
    ("dim", "change", "column"),
    [
        ("dim_design", "SET design_name = 'Tampered'", "design_name"),
        ("dim_location", "SET city = 'Nowhere', postal_code = 'X1'", "city, postal_code"),
        ("dim_staff", "SET department_name = 'Gone'", "department_name"),
        (
            "dim_counterparty",
            "SET counterparty_legal_district = NULL",
            "counterparty_legal_district",
        ),
    ],
)
def test_verify_names_the_id_and_columns_of_a_dimension_value_changed_by_hand(
    dim, change, column, cli, etl_env
):
    """Row counts cannot see a stale name; verify compares every row's columns."""
    from ainsdale_etl.core.registry import STAR_TABLES

    cli("run-all")
    key = STAR_TABLES[dim].key[0]
    wh = etl_env["AINSDALE_WAREHOUSE_URL"]
    target = query(wh, f"SELECT min({key}) FROM {dim} WHERE {column.split(',')[0]} IS NOT NULL")
    query(wh, f"UPDATE {dim} {change} WHERE {key} = $1", [target[0][0]])
    result = cli("verify", "--json", expect=1)
    found = checks(result.output)[(dim, "ids whose columns differ")]
    assert found["warehouse"] == 1 and found["detail"] == f"id {target[0][0]}: {column}"
    assert found["ok"] is False
    assert checks(result.output)[(dim, f"rows vs {STAR_TABLES[dim].sources[0]}")]["ok"]


def test_verify_json_is_one_document_with_numbers_and_money_by_currency_code(cli, etl_env):
    """stdout holds exactly one JSON document, on success and on failure (logs go to
    stderr); counts are numbers; money is exact decimal text keyed by currency code."""
    from decimal import Decimal

    cli("run-all")
    passed = json.loads(cli("verify", "--json").stdout)
    by_name = {(c["mart"], c["name"]): c for c in passed["checks"]}
    assert passed["ok"] is True and isinstance(by_name[("fact_sales_order", "ids")]["source"], int)
    money = by_name[("fact_sales_order", "money per currency (latest versions)")]["source"]
    assert set(money) <= {"GBP", "USD", "EUR"} and all(Decimal(v) > 0 for v in money.values())
    src = etl_env["AINSDALE_SOURCE_URL"]
    expected = query(src, "SELECT upper(c.currency_code), sum(units_sold * unit_price)::text "
                          "FROM sales_order JOIN currency c USING (currency_id) GROUP BY 1")  # fmt: skip
    assert money == dict(expected)
    query(etl_env["AINSDALE_WAREHOUSE_URL"], "DELETE FROM fact_payment WHERE payment_id = "
          "(SELECT min(payment_id) FROM fact_payment)")  # fmt: skip
    failed = cli("verify", "--json", expect=1)
    report = json.loads(failed.stdout)
    assert report["ok"] is False and "warehouse differs" in failed.stderr


def test_check_json_is_one_document_when_a_check_fails(cli, etl_env, monkeypatch):
    monkeypatch.setenv("AINSDALE_SOURCE_URL", "postgresql://nobody@127.0.0.1:1/none")
    result = cli("check", "--json", expect=1)
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert [c["name"] for c in report["checks"] if not c["ok"]] == ["source"]


def test_every_declared_foreign_key_exists_and_holds(cli, etl_env):
    from ainsdale_etl.core.registry import FACTS

    cli("run-all")
    wh = etl_env["AINSDALE_WAREHOUSE_URL"]
    declared = {(f.name, c.name, c.references) for f in FACTS for c in f.foreign_keys}
    found = set(
        query(
            wh,
            """
        SELECT cl.relname::text, a.attname::text, ref.relname::text
        FROM pg_constraint con
        JOIN pg_class cl ON cl.oid = con.conrelid
        JOIN pg_class ref ON ref.oid = con.confrelid
        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
        WHERE con.contype = 'f' AND con.convalidated""",
        )
    )
    assert declared == found and len(declared) == 24
    # And they are enforced: a fact pointing at a design that never existed is refused.
    with pytest.raises(adbc.IntegrityError, match="foreign key"):
        query(wh, "UPDATE fact_sales_order SET design_id = -1 WHERE sales_record_id = 1")


def test_json_mode_ends_with_its_command(cli, etl_env):
    """--json sends one command's logs to stderr; the next command (in the same process, as
    the tests and any embedding run it) logs to stdout again."""
    cli("run-all")
    cli("verify", "--json")
    later = cli("extract")
    assert any(json.loads(line)["event"] == "no_changes" for line in later.stdout.splitlines())
