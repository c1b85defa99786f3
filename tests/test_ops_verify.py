"""`ainsdale-etl verify`: passes on a correct load, and names what differs after damage."""

from __future__ import annotations

import json

import adbc_driver_postgresql.dbapi as adbc
import pytest

from helpers.databases import query


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
    restore = saved(wh, dim, key, target[0][0])
    query(wh, f"UPDATE {dim} {change} WHERE {key} = $1", [target[0][0]])
    result = cli("verify", "--json", expect=1)
    found = checks(result.output)[(dim, "ids whose columns differ")]
    assert found["warehouse"] == 1 and found["detail"] == f"id {target[0][0]}: {column}"
    assert found["ok"] is False
    assert checks(result.output)[(dim, f"rows vs {STAR_TABLES[dim].sources[0]}")]["ok"]
    restore()
    cli("verify")


def saved(wh, table, key, value):
    """Keep row ``key = value`` of ``table`` aside in the warehouse; returns its restorer."""
    query(wh, f"CREATE TABLE saved_row AS SELECT * FROM {table} WHERE {key} = $1", [value])

    from ainsdale_etl.core.registry import STAR_TABLES

    columns = ", ".join(STAR_TABLES[table].column_names)

    def restore():
        query(wh, f"UPDATE {table} SET ({columns}) = (SELECT {columns} FROM saved_row) "
                  f"WHERE {key} = $1", [value])  # fmt: skip
        query(wh, "DROP TABLE saved_row")

    return restore


# A hand edit of the current version of a fact: (fact, column, the new value in SQL over f).
FACT_EDITS = [
    ("fact_sales_order", "design_id",
     "(SELECT min(design_id) FROM dim_design d WHERE d.design_id <> f.design_id)"),
    ("fact_sales_order", "agreed_delivery_date", "f.agreed_payment_date"),
    ("fact_purchase_order", "created_date", "f.agreed_delivery_date"),
    ("fact_payment", "paid", "NOT f.paid"),
]  # fmt: skip


@pytest.mark.parametrize(("fact", "column", "value"), FACT_EDITS)
def test_verify_names_the_id_and_column_of_a_current_fact_value_changed_by_hand(
    fact, column, value, cli, etl_env
):
    """Money and keys cannot see a fact pointing at another design or paid by mistake."""
    from ainsdale_etl.core.registry import STAR_TABLES

    cli("run-all")
    wh = etl_env["AINSDALE_WAREHOUSE_URL"]
    table = STAR_TABLES[fact]
    record, natural = table.surrogate_key, table.key[0]
    [(target, entity)] = query(
        wh, f"SELECT {record}, {natural} FROM {fact}_current f WHERE {column} <> {value} "
            f"ORDER BY {record} LIMIT 1")  # fmt: skip
    restore = saved(wh, fact, record, target)
    query(wh, f"UPDATE {fact} f SET {column} = {value} WHERE {record} = $1", [target])
    result = cli("verify", "--json", expect=1)
    found = checks(result.output)
    assert found[(fact, "ids whose columns differ")]["warehouse"] == 1
    assert found[(fact, "ids whose columns differ")]["detail"] == f"id {entity}: {column}"
    assert [k for k, c in found.items() if not c["ok"]] == [(fact, "ids whose columns differ")]
    assert f"{fact} ids whose columns differ" in result.output
    restore()
    cli("verify")


def test_verify_names_the_date_of_a_dim_date_row_that_is_not_its_calendar(cli, etl_env):
    cli("run-all")
    wh = etl_env["AINSDALE_WAREHOUSE_URL"]
    [(day, name)] = query(
        wh, "SELECT date_id::text, day_name FROM dim_date ORDER BY date_id LIMIT 1"
    )
    query(wh, "UPDATE dim_date SET day_name = 'Caturday' WHERE date_id = $1::date", [day])
    result = cli("verify", "--json", expect=1)
    found = checks(result.output)[("dim_date", "rows not the calendar of their date")]
    assert (found["warehouse"], found["detail"]) == (1, f"id {day}: day_name")
    query(wh, "UPDATE dim_date SET day_name = $2 WHERE date_id = $1::date", [day, name])
    cli("verify")


def test_verify_leaves_a_fact_s_older_versions_to_history(cli, etl_env):
    """The source no longer holds an older version: editing one is not a difference."""
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    query(src, "UPDATE sales_order SET units_sold = units_sold + 1, last_updated = localtimestamp(3) "
               "WHERE sales_order_id = (SELECT min(sales_order_id) FROM sales_order)")  # fmt: skip
    cli("run-all")
    old = query(wh, "SELECT sales_record_id FROM fact_sales_order EXCEPT "
                    "SELECT sales_record_id FROM fact_sales_order_current")  # fmt: skip
    assert len(old) == 1
    query(wh, "UPDATE fact_sales_order SET units_sold = 0 WHERE sales_record_id = $1", [old[0][0]])
    cli("verify")


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
