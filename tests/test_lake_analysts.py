"""The analyst's first three questions, asked of the lake by DuckDB (its iceberg extension from
the PyPI wheels, offline) and of the warehouse by PostgreSQL, after orders were edited, a
department renamed and an address moved: the same answers, and the right total."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from helpers.databases import query

NOW = "localtimestamp(3)"

# The questions are the README's own (its "first three queries"), so what it shows is what is
# tested: each statement's first comment names it; for DuckDB each table name becomes an
# iceberg_scan of its metadata file.
_README = (Path(__file__).parents[1] / "README.md").read_text()
_BLOCK = _README.split("## For analysts: the first three queries")[1].split("```sql")[1]
QUESTIONS = {
    re.match(r"\s*-- \d\. (.*)", statement)[1]: statement.split("\n", 2)[2]
    for statement in _BLOCK.split("```")[0].split(";")
    if statement.strip()
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


def _scanning(sql: str, scans: dict[str, str]) -> str:
    """``sql`` with each lake table's name replaced by the scan of its metadata file."""
    return re.sub(r"\b(" + "|".join(scans) + r")\b", lambda m: scans[m[1]], sql)


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
    assert len(QUESTIONS) == 3
    for question, sql in QUESTIONS.items():
        in_the_lake = _normal(con.execute(_scanning(sql, scans)).fetchall())
        in_the_warehouse = _normal(query(wh, sql))
        assert in_the_lake == in_the_warehouse, question
        assert in_the_lake, question

    by_department = next(sql for question, sql in QUESTIONS.items() if "department" in question)
    departments = [r[0] for r in con.execute(_scanning(by_department, scans)).fetchall()]
    assert "Renamed" in departments  # orders recorded after the rename
    every_version, current = (
        query(wh, f"SELECT sum(units_sold * unit_price)::text FROM {name}")[0][0]
        for name in ("fact_sales_order", "fact_sales_order_current")
    )
    assert Decimal(every_version) > Decimal(current)
    source = query(src, "SELECT sum(units_sold * unit_price)::text FROM sales_order")[0][0]
    assert Decimal(current) == Decimal(source)
