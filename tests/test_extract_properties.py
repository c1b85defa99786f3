"""Property: whatever the interleaving of writes, writer transactions held open across runs
(some through savepoints), deletes and runs, every version the source held at each extract
reaches the warehouse, the warehouse ends equal to the source, and ``verify`` says so."""

from __future__ import annotations

import tempfile
from pathlib import Path

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from ainsdale_etl.adapters.postgres import Database
from ainsdale_etl.ops.seed import seed
from ainsdale_etl.ops.verify import verify
from helpers.databases import SMALL_SCALE, query
from helpers.processes import run_pipeline

actions = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.integers(0, 5)),
        st.tuples(st.just("hold"), st.integers(0, 5), st.booleans()),
        st.tuples(st.just("release")),
        st.tuples(st.just("delete"), st.integers(0, 5)),
        st.tuples(st.just("run")),
    ),
    min_size=2,
    max_size=8,
)


def _versions(url: str) -> set[tuple[object, ...]]:
    return set(query(url, "SELECT sales_order_id, last_updated::text FROM sales_order"))


def _fact_versions(url: str) -> set[tuple[object, ...]]:
    return set(
        query(
            url,
            "SELECT sales_order_id, (last_updated_date + last_updated_time)::text "
            "FROM fact_sales_order",
        )
    )


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=actions)
def test_every_version_held_at_an_extract_reaches_the_warehouse(new_database_url, steps):
    source, warehouse = new_database_url("cap_src"), new_database_url("cap_wh")
    seed(Database("source", SecretStr(source)), scale=SMALL_SCALE)
    orders = [r[0] for r in query(source, "SELECT sales_order_id FROM sales_order ORDER BY 1")]
    held: psycopg.Connection | None = None
    held_order, deleted = None, set()
    seen_at_extracts: set[tuple[object, ...]] = set()

    def run(buckets: Path) -> None:
        seen_at_extracts.update(_versions(source))  # what a snapshot now holds
        run_pipeline(source, warehouse, buckets)

    with tempfile.TemporaryDirectory() as tmp:
        buckets = Path(tmp)
        run(buckets)
        for step in steps:
            kind, *args = step
            order = orders[args[0]] if args else None
            busy = order == held_order or order in deleted
            if kind == "write" and not busy:
                query(source, "UPDATE sales_order SET units_sold = units_sold + 1, "
                              "last_updated = clock_timestamp() WHERE sales_order_id = $1",
                      [order])  # fmt: skip
            elif kind == "hold" and held is None and not busy:
                held, held_order = psycopg.connect(source), order
                if args[1]:
                    held.execute("SELECT 1")
                    held.execute("SAVEPOINT s")
                held.execute(  # stamped at the transaction's start, committed later
                    "UPDATE sales_order SET units_sold = 1, last_updated = localtimestamp "
                    "WHERE sales_order_id = %s",
                    [order],
                )
            elif kind == "release" and held is not None:
                held.commit()
                held.close()
                held, held_order = None, None
            elif kind == "delete" and not busy:
                query(source, "DELETE FROM sales_order WHERE sales_order_id = $1", [order])
                deleted.add(order)
            elif kind == "run":
                run(buckets)
        if held is not None:
            held.commit()
            held.close()
        run(buckets)
        run(buckets)

    assert seen_at_extracts - _fact_versions(warehouse) == set()
    report = verify(Database("source", SecretStr(source)), Database("wh", SecretStr(warehouse)))
    assert report.ok, [c for c in report.checks if not c.ok]
    recorded = query(
        warehouse,
        "SELECT id FROM ainsdale_meta.row_version "
        "WHERE star_table = 'fact_sales_order' AND deleted",
    )
    assert {r[0] for r in recorded} == deleted
