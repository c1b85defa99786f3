"""The analyst's first three questions, asked of the lake by DuckDB (its iceberg extension from
the PyPI wheels, offline) and of the warehouse by PostgreSQL, after orders were edited, a
department renamed and an address moved: the same answers, and the right total."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from helpers.databases import query

NOW = "localtimestamp(3)"

# Each question as it is written for either engine: {t} names a table (PostgreSQL: the table;
# DuckDB: iceberg_scan of its metadata file).
QUESTIONS = {
    "current sales by currency": """
        SELECT c.currency_code, sum(f.units_sold * f.unit_price)::varchar AS sales
        FROM {fact_sales_order_current} f JOIN {dim_currency} c USING (currency_id)
        GROUP BY 1 ORDER BY 1""",
    "sales by the department the staff member was in at the time": """
        SELECT s.department_name, count(*) AS orders,
            sum(f.units_sold * f.unit_price)::varchar AS sales
        FROM {fact_sales_order_current} f JOIN {dim_staff_history} s
            ON s.staff_id = f.sales_staff_id AND s.valid_from <= f.recorded_at
            AND (s.valid_to IS NULL OR f.recorded_at < s.valid_to)
        GROUP BY 1 ORDER BY 1""",
    "counterparties by the city they were in at the time": """
        SELECT c.counterparty_legal_city, count(DISTINCT c.counterparty_id) AS counterparties
        FROM {fact_sales_order_current} f JOIN {dim_counterparty_history} c
            ON c.counterparty_id = f.counterparty_id AND c.valid_from <= f.recorded_at
            AND (c.valid_to IS NULL OR f.recorded_at < c.valid_to)
        GROUP BY 1 ORDER BY 1""",
}
TABLES = ("fact_sales_order_current", "dim_currency", "dim_staff_history",
          "dim_counterparty_history")  # fmt: skip


def _duckdb():
    """DuckDB with the iceberg extension loaded from the duckdb-ext-iceberg wheel."""
    duckdb = pytest.importorskip("duckdb")
    import duckdb_ext

    extensions = Path(next(iter(duckdb_ext.__path__))) / "extensions"
    con = duckdb.connect(config={"extension_directory": str(extensions)})
    con.execute("LOAD iceberg")
    return con


def _normal(rows) -> list[tuple[object, ...]]:
    return [
        tuple(Decimal(v) if isinstance(v, str) and v[:1].isdigit() else v for v in r) for r in rows
    ]


def test_duckdb_on_the_lake_answers_as_postgresql_does(cli, etl_env, monkeypatch):
    monkeypatch.setenv("AINSDALE_LAKE_CATALOG", "sql")
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    query(src, f"UPDATE department SET department_name = 'Renamed', last_updated = {NOW} "
               "WHERE department_id = (SELECT min(department_id) FROM department)")  # fmt: skip
    query(src, f"UPDATE address SET city = 'Moved', last_updated = {NOW} WHERE address_id = "
               "(SELECT min(legal_address_id) FROM counterparty)")  # fmt: skip
    for edit in range(3):  # every order edited three times: a sum of every version overstates
        query(src, f"UPDATE sales_order SET units_sold = units_sold + 1, last_updated = {NOW} "
                   "WHERE sales_order_id % 4 = $1", [edit])  # fmt: skip
        cli("run-all")

    import json

    listed = {t["name"]: t for t in json.loads(cli("lake", "tables", "--json").stdout)}
    printed = cli("lake", "tables").stdout.splitlines()  # at CliRunner's 80 columns
    for name, table in listed.items():  # each path whole, on a line of its own
        assert f"{name} {table['metadata_location']}" in printed
    con = _duckdb()
    scans = {t: f"iceberg_scan('{listed[t]['metadata_location']}')" for t in TABLES}
    quoted = {t: f'"{t}"' for t in TABLES}
    for question, sql in QUESTIONS.items():
        in_the_lake = _normal(con.execute(sql.format(**scans)).fetchall())
        in_the_warehouse = _normal(query(wh, sql.format(**quoted)))
        assert in_the_lake == in_the_warehouse, question
        assert in_the_lake, question

    departments = [r[0] for r in con.execute(
        QUESTIONS["sales by the department the staff member was in at the time"].format(**scans)
    ).fetchall()]  # fmt: skip
    assert "Renamed" in departments  # orders recorded after the rename
    every_version, current = (
        query(wh, f"SELECT sum(units_sold * unit_price)::text FROM {name}")[0][0]
        for name in ("fact_sales_order", "fact_sales_order_current")
    )
    assert Decimal(every_version) > Decimal(current)
    source = query(src, "SELECT sum(units_sold * unit_price)::text FROM sales_order")[0][0]
    assert Decimal(current) == Decimal(source)
