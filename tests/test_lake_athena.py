"""The analysts' Athena views of the lake: generated from the registry into terraform/athena/,
saved as named queries by Terraform, over tables the lake has; and, run as they are by DuckDB
over a real lake, the same rows as the warehouse's own views."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import hcl2
import pytest

from ainsdale_etl.core.registry import FACTS, LAKE_TABLES
from ainsdale_etl.lake.athena import athena_views
from helpers.databases import query

ROOT = Path(__file__).resolve().parents[1]
ATHENA = ROOT / "terraform" / "athena"
NOW = "localtimestamp(3)"


def _named_queries() -> dict[str, dict[str, str]]:
    options = hcl2.SerializationOptions(
        strip_string_quotes=True, explicit_blocks=False, with_comments=False
    )
    with (ROOT / "terraform" / "athena.tf").open() as handle:
        parsed = hcl2.load(handle, serialization_options=options)
    return {name: body for block in parsed["resource"]
            for name, body in block.get("aws_athena_named_query", {}).items()}  # fmt: skip


def test_each_view_is_a_fresh_file_that_terraform_saves_as_a_named_query():
    committed = {p.stem: p.read_text() for p in ATHENA.glob("*.sql")}
    assert committed == athena_views(), "terraform/athena/ is stale: `make docs`"
    assert set(committed) == {f"{f.name}_current_as_recorded" for f in FACTS}
    (saved,) = _named_queries().values()
    assert saved["for_each"] == '${fileset("${path.module}/athena", "*.sql")}'
    assert saved["query"] == '${file("${path.module}/athena/${each.value}")}'
    assert saved["workgroup"] == "${aws_athena_workgroup.lake.id}"
    assert saved["database"] == "${aws_glue_catalog_database.lake.name}"


@pytest.mark.parametrize("view", sorted(athena_views()))
def test_a_view_reads_only_the_lakes_tables(view: str):
    sql = (ATHENA / f"{view}.sql").read_text()
    assert sql.startswith(f'CREATE OR REPLACE VIEW "{view}" AS\n')
    read = re.findall(r'\b(?:FROM|JOIN) "(\w+)"', sql)
    fact = view.removesuffix("_current_as_recorded")
    assert read[0] == f"{fact}_current"
    assert set(read) <= set(LAKE_TABLES)
    assert all(name.endswith("_history") for name in read[1:]) and len(read) > 2


def _comparable(rows) -> list[tuple[object, ...]]:
    """Rows of either engine alike: numeric as text, instants in UTC, sorted."""

    def value(v: object) -> object:
        if isinstance(v, Decimal):
            return str(v)
        if isinstance(v, datetime):
            return v.astimezone(UTC)
        return v

    return sorted((tuple(value(v) for v in r) for r in rows), key=repr)


def test_duckdb_runs_the_views_on_the_lake_and_finds_the_warehouses_rows(cli, etl_env, monkeypatch):
    duckdb = pytest.importorskip("duckdb")
    import duckdb_ext

    monkeypatch.setenv("AINSDALE_LAKE_CATALOG", "sql")
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    old_name = query(src, "SELECT department_name FROM department ORDER BY department_id LIMIT 1")
    query(src, f"UPDATE department SET department_name = 'Renamed', last_updated = {NOW} "
               "WHERE department_id = (SELECT min(department_id) FROM department)")  # fmt: skip
    for table in ("sales_order", "purchase_order", "payment"):  # some of each fact edited
        query(src, f"UPDATE {table} SET last_updated = {NOW} WHERE {table}_id % 3 = 0")
    cli("run-all")

    tables = {t["name"]: t["metadata_location"]
              for t in json.loads(cli("lake", "tables", "--json").stdout)}  # fmt: skip
    extensions = Path(next(iter(duckdb_ext.__path__))) / "extensions"
    con = duckdb.connect(config={"extension_directory": str(extensions)})
    con.execute("LOAD iceberg")
    con.execute("SET TimeZone = 'UTC'")
    for name, location in tables.items():  # each lake table under its own name, as in Athena
        con.execute(f"CREATE VIEW \"{name}\" AS SELECT * FROM iceberg_scan('{location}')")
    for view in athena_views():
        con.execute((ATHENA / f"{view}.sql").read_text())
        lake = con.execute(f'SELECT * FROM "{view}"')
        columns = [d[0] for d in lake.description]
        in_the_lake = _comparable(lake.pl().rows())  # polars: instants without pytz
        fact = next(f for f in FACTS if view.startswith(f"{f.name}_"))
        listed = ", ".join(f'"{c}"' for c in columns)  # the warehouse's view has each of them
        in_the_warehouse = _comparable(query(wh, f'SELECT {listed} FROM "{fact.name}_as_recorded" '
            f'WHERE "{fact.surrogate_key}" IN (SELECT "{fact.surrogate_key}" FROM "{fact.name}_current")'))  # fmt: skip
        assert in_the_lake == in_the_warehouse, view
        assert len(in_the_lake) == query(wh, f'SELECT count(*) FROM "{fact.name}_current"')[0][0]

    # The orders not edited since were recorded before the rename, and see the old name.
    departments = {name for (name,) in con.execute(
        'SELECT DISTINCT sales_staff_department_name FROM "fact_sales_order_current_as_recorded"'
    ).fetchall()}  # fmt: skip
    assert {"Renamed", old_name[0][0]} <= departments
