"""Property: after any interleaving of writes, deletes, re-inserts, key changes, clocks set
wrong and fixed, values fixed without touching last_updated, runs, reruns of old batches, a
lost transform state and runs killed midway, one more run leaves the warehouse equal to the source -- compared column
by column by SQL written apart from the pipeline and from verify -- the lake equal to the
warehouse, and verify saying so."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule
from pydantic import SecretStr

from ainsdale_etl.adapters.postgres import Database
from ainsdale_etl.core.registry import STAR_TABLES
from ainsdale_etl.ops.seed import seed
from ainsdale_etl.ops.verify import verify
from ainsdale_etl.pipeline.run_all import run_all
from helpers.contents import lake_rows, star_differences, warehouse_rows
from helpers.databases import SMALL_SCALE, query
from helpers.processes import CHANGES, cli_env, pipeline_context, run

NOW = "localtimestamp(3)"
# Rows this machine creates, deletes and puts back: ids apart from the seed's.
FIRST_ID = 9000


class RowTruthSequences(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.source = NEW_DATABASE_URL("truth_src")
        seed(Database("source", SecretStr(self.source)), scale=SMALL_SCALE)
        self.warehouse = NEW_DATABASE_URL("truth_wh")
        self.ctx = pipeline_context(
            self.source, self.warehouse, self.tmp / "buckets", lake_catalog="sql"
        )
        # What a restore brings back: the rows as they were when deleted.
        query(self.source, "CREATE TABLE saved_order AS SELECT * FROM sales_order LIMIT 0")
        query(self.source, "CREATE TABLE saved_design AS SELECT * FROM design LIMIT 0")
        query(self.source, "CREATE TABLE saved_staff AS SELECT * FROM staff LIMIT 0")
        self.next_id = FIRST_ID
        run_all(self.ctx)

    # --- the source ----------------------------------------------------------------------

    @rule(change=st.sampled_from(sorted(CHANGES)), value=st.integers(0, 6))
    def write(self, change: str, value: int) -> None:
        query(self.source, CHANGES[change], [value])

    @rule(nth=st.integers(0, 20))
    def delete_an_order(self, nth: int) -> None:
        order = "(SELECT sales_order_id FROM sales_order ORDER BY 1 OFFSET $1 LIMIT 1)"
        query(self.source, f"INSERT INTO saved_order SELECT * FROM sales_order "
                           f"WHERE sales_order_id = {order}", [nth])  # fmt: skip
        query(self.source, f"DELETE FROM sales_order WHERE sales_order_id = {order}", [nth])

    @rule()
    def put_the_deleted_orders_back(self) -> None:
        """As a restore of those rows does: the same ids and values. (Not those whose design or
        staff member is gone or has another key since: totesys would refuse them too.)"""
        query(self.source, "INSERT INTO sales_order OVERRIDING SYSTEM VALUE "
                           "SELECT * FROM saved_order s WHERE s.design_id IN (SELECT design_id "
                           "FROM design) AND s.staff_id IN (SELECT staff_id FROM staff) "
                           "ON CONFLICT DO NOTHING")  # fmt: skip
        query(self.source, "TRUNCATE saved_order")

    @rule()
    def add_a_design_and_a_staff_member(self) -> None:
        self.next_id += 1
        query(self.source, "INSERT INTO design (design_id, created_at, last_updated, "
                           f"design_name, file_location, file_name) VALUES ($1, {NOW}, {NOW}, "
                           "'New ' || $1, '/new', 'new.json')", [self.next_id])  # fmt: skip
        query(self.source, "INSERT INTO staff (staff_id, first_name, last_name, department_id, "
                           f"email_address, created_at, last_updated) SELECT $1, 'New', 'Hire', "
                           f"min(department_id), 'new@example.com', {NOW}, {NOW} FROM department",
              [self.next_id])  # fmt: skip

    @rule()
    def delete_the_added_rows(self) -> None:
        """Those no order points at (totesys restricts the rest)."""
        unreferenced = {
            "design": "NOT EXISTS (SELECT FROM sales_order o WHERE o.design_id = t.design_id)",
            "staff": "NOT EXISTS (SELECT FROM sales_order o WHERE o.staff_id = t.staff_id) "
            "AND NOT EXISTS (SELECT FROM purchase_order p WHERE p.staff_id = t.staff_id)",
        }
        for table, condition in unreferenced.items():
            key = f"{table}_id"
            query(self.source, f"INSERT INTO saved_{table} SELECT * FROM {table} t "
                               f"WHERE {key} > {FIRST_ID} AND {condition}")  # fmt: skip
            query(self.source, f"DELETE FROM {table} WHERE {key} IN "
                               f"(SELECT {key} FROM saved_{table})")  # fmt: skip

    @rule()
    def put_the_deleted_rows_back(self) -> None:
        for table in ("design", "staff"):
            query(self.source, f"INSERT INTO {table} SELECT * FROM saved_{table} "
                               "ON CONFLICT DO NOTHING")  # fmt: skip
            query(self.source, f"TRUNCATE saved_{table}")

    @rule(value=st.integers(0, 2))
    def rename_a_department(self, value: int) -> None:
        query(self.source, "UPDATE department SET department_name = 'Dept ' || $1, "
                           f"last_updated = {NOW} WHERE department_id = "
                           "(SELECT min(department_id) FROM department)", [value])  # fmt: skip

    @rule()
    def change_a_key_on_update_cascade(self) -> None:
        query(self.source, "UPDATE design SET design_id = design_id + 100000 WHERE design_id = "
                           "(SELECT min(design_id) FROM design WHERE design_id < 100000)")  # fmt: skip

    @rule(value=st.integers(0, 12))
    def fix_a_value_without_touching_last_updated(self, value: int) -> None:
        query(self.source, "UPDATE payment SET payment_amount = payment_amount + 1 "
                           "WHERE payment_id % 13 = $1", [value])  # fmt: skip

    @rule(value=st.integers(0, 4))
    def stamp_with_a_clock_a_day_fast(self, value: int) -> None:
        query(self.source, "UPDATE sales_order SET units_sold = units_sold + 1, last_updated = "
                           f"{NOW} + interval '1 day' WHERE sales_order_id % 5 = $1",
              [value])  # fmt: skip

    # --- the pipeline --------------------------------------------------------------------

    @rule()
    def run(self) -> None:
        run_all(self.ctx)

    @rule(data=st.data())
    def rerun_an_old_batch(self, data: st.DataObject) -> None:
        loaded = [
            r[0]
            for r in query(
                self.warehouse,
                "SELECT batch_id FROM ainsdale_meta.batch WHERE loaded_at IS NOT NULL ORDER BY 1",
            )
        ]
        if loaded:
            run_all(self.ctx, batch_ids=[data.draw(st.sampled_from(loaded))])

    @rule()
    def lose_the_transform_state(self) -> None:
        """Rebuilt from the batches, tombstones included."""
        shutil.rmtree(self.tmp / "buckets" / "processed" / "state", ignore_errors=True)

    @rule(
        point=st.sampled_from(["object_written", "table_merged", "lake_table_written"]),
        nth=st.integers(1, 4),
    )
    def kill_a_run_midway(self, point: str, nth: int) -> None:
        """The real CLI, SIGKILLed at a fault point (or finishing, if the run never gets
        there)."""
        settings = self.ctx.settings
        env = {
            "AINSDALE_SOURCE_URL": self.source,
            "AINSDALE_WAREHOUSE_URL": self.warehouse,
            "AINSDALE_INGEST_URI": str(settings.ingest_uri),
            "AINSDALE_PROCESSED_URI": str(settings.processed_uri),
            "AINSDALE_HOME": str(settings.home),
            "AINSDALE_LAKE_CATALOG": "sql",
            "AINSDALE_FAULTS": f"{point}:kill:{nth}",
        }
        finished = run(["run-all"], cli_env(env), self.tmp)
        assert finished.returncode in (0, -9), finished.stderr

    def teardown(self) -> None:
        if not hasattr(self, "ctx"):
            return
        run_all(self.ctx)  # the schedule's next run
        assert star_differences(self.source, self.warehouse) == {}
        for name in STAR_TABLES:
            assert lake_rows(self.warehouse, name) == warehouse_rows(self.warehouse, name), name
        report = verify(
            Database("source", SecretStr(self.source)),
            Database("warehouse", SecretStr(self.warehouse)),
        )
        assert report.ok, [c for c in report.checks if not c.ok]
        shutil.rmtree(self.tmp, ignore_errors=True)


NEW_DATABASE_URL = None  # set by the test from its fixture (a state machine takes no fixtures)


def test_any_interleaving_ends_with_the_warehouse_and_the_lake_equal_to_the_source(
    new_database_url,
):
    global NEW_DATABASE_URL
    NEW_DATABASE_URL = new_database_url
    # A few sequences in make test; AINSDALE_PROPERTY_EXAMPLES=50 for a soak.
    RowTruthSequences.TestCase.settings = settings(
        max_examples=int(os.environ.get("AINSDALE_PROPERTY_EXAMPLES", "3")),
        stateful_step_count=10,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    RowTruthSequences.TestCase().runTest()
