"""Property: after any sequence of source changes and runs, the incremental warehouse equals a
from-scratch rebuild (dims exactly; facts' latest versions), and holds no duplicate version."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from ainsdale_etl.adapters.postgres import Database
from ainsdale_etl.core.registry import FACTS
from ainsdale_etl.core.settings import Settings
from ainsdale_etl.ops.seed import seed
from ainsdale_etl.pipeline.binding import prepare_warehouse
from ainsdale_etl.pipeline.run_all import run_all
from ainsdale_etl.runtime.context import Context
from conftest import SMALL_SCALE, query
from processes import warehouse_contents

NOW = "localtimestamp(3)"
CHANGES = {
    "reprice": f"UPDATE sales_order SET unit_price = unit_price + 0.01, last_updated = {NOW} "
    "WHERE sales_order_id % 7 = $1",
    "move_address": f"UPDATE address SET city = 'City ' || $1, last_updated = {NOW} "
    "WHERE address_id = (SELECT min(legal_address_id) + $1 FROM counterparty)",
    "rename_department": f"UPDATE department SET department_name = 'Dept ' || $1, "
    f"last_updated = {NOW} WHERE department_id % 3 = $1 % 3",
    "pay": f"UPDATE payment SET paid = NOT paid, last_updated = {NOW} WHERE payment_id % 11 = $1",
    "new_order": f"""INSERT INTO sales_order (created_at, last_updated, design_id, staff_id,
        counterparty_id, units_sold, unit_price, currency_id, agreed_delivery_date,
        agreed_payment_date, agreed_delivery_location_id)
        SELECT {NOW}, {NOW}, design_id, staff_id, counterparty_id, units_sold + $1, unit_price,
               currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id
        FROM sales_order ORDER BY sales_order_id LIMIT 1""",
}


def run_pipeline(source: str, warehouse: str, buckets: Path) -> None:
    ctx = Context(
        Settings(
            source_url=SecretStr(source),
            warehouse_url=SecretStr(warehouse),
            ingest_uri=str(buckets / "ingest"),
            processed_uri=str(buckets / "processed"),
            home=buckets / "home",
        )
    )
    prepare_warehouse(ctx)  # what the CLI does under its lock
    run_all(ctx)


def latest_versions(url: str) -> dict[str, list[tuple[object, ...]]]:
    result = {}
    for fact in FACTS:
        ident = f'"{fact.column_names[0]}"'
        columns = ", ".join(f'"{c}"::text' for c in fact.column_names)
        result[fact.name] = query(
            url,
            f'SELECT DISTINCT ON ({ident}) {columns} FROM "{fact.name}" '
            f"ORDER BY {ident}, last_updated_date DESC, last_updated_time DESC",
        )
    return result


steps = st.lists(
    st.lists(st.tuples(st.sampled_from(sorted(CHANGES)), st.integers(0, 6)), max_size=3),
    min_size=1,
    max_size=3,
)


@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(runs=steps)
def test_incremental_equals_rebuild(new_database_url, runs):
    source = new_database_url("prop_src")
    seed(Database("source", SecretStr(source)), scale=SMALL_SCALE)
    incremental = new_database_url("prop_inc")
    with tempfile.TemporaryDirectory() as tmp:
        run_pipeline(source, incremental, Path(tmp) / "inc")
        for changes in runs:
            for name, value in changes:
                query(source, CHANGES[name], [value])
            run_pipeline(source, incremental, Path(tmp) / "inc")
            run_pipeline(source, incremental, Path(tmp) / "inc")  # a rerun is a no-op

        rebuild = new_database_url("prop_full")
        run_pipeline(source, rebuild, Path(tmp) / "full")

    inc, full = warehouse_contents(incremental), warehouse_contents(rebuild)
    for name in inc:
        if not name.startswith("fact_"):
            assert inc[name] == full[name], name
    assert latest_versions(incremental) == latest_versions(rebuild)
    for fact in FACTS:
        keys = ", ".join(f'"{k}"' for k in fact.key)
        dupes = query(
            incremental, f'SELECT {keys} FROM "{fact.name}" GROUP BY {keys} HAVING count(*) > 1'
        )
        assert dupes == []
