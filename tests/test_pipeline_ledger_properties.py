"""Property: after any sequence of source writes, runs, lost batches, lost derived state, a
removed lake, reruns of old batches and crashes between a commit and its ledger record, one
more run leaves the warehouse equal to a rebuild from the source, and the lake equal to the
warehouse (read independently of the pipeline, through pyiceberg's own catalog)."""

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
from ainsdale_etl.pipeline.run_all import run_all
from ainsdale_etl.pipeline.steps import extract_batch
from helpers.contents import (
    lake_rows,
    latest_versions,
    warehouse_contents,
    warehouse_rows,
)
from helpers.databases import SMALL_SCALE, query
from helpers.processes import CHANGES, pipeline_context


class LedgerSequences(RuleBasedStateMachine):
    """The pipeline driven through what production does to it, in any order."""

    @initialize()
    def start(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.source = NEW_DATABASE_URL("ledger_src")
        seed(Database("source", SecretStr(self.source)), scale=SMALL_SCALE)
        self.warehouse = NEW_DATABASE_URL("ledger_wh")
        self.ctx = pipeline_context(
            self.source, self.warehouse, self.tmp / "buckets", lake_catalog="sql"
        )
        run_all(self.ctx)
        self.written = 0

    def _batches(self, where: str) -> list[str]:
        return [
            r[0]
            for r in query(
                self.warehouse, f"SELECT batch_id FROM ainsdale_meta.batch WHERE {where} ORDER BY 1"
            )
        ]

    @rule(change=st.sampled_from(sorted(CHANGES)), value=st.integers(0, 6))
    def write(self, change: str, value: int) -> None:
        query(self.source, CHANGES[change], [value])

    @rule()
    def run(self) -> None:
        run_all(self.ctx)

    @rule()
    def extract_only(self) -> None:
        extract_batch(self.ctx)

    @rule()
    def lose_a_batch_not_loaded(self) -> None:
        for batch_id in self._batches("loaded_at IS NULL AND lost_at IS NULL")[-1:]:
            shutil.rmtree(next((self.tmp / "buckets" / "ingest").glob(f"data/*/*/*/{batch_id}")))

    @rule()
    def lose_the_transform_state(self) -> None:
        shutil.rmtree(self.tmp / "buckets" / "processed" / "state", ignore_errors=True)

    @rule()
    def remove_the_lake(self) -> None:
        shutil.rmtree(self.tmp / "buckets" / "processed" / "lake", ignore_errors=True)

    @rule(data=st.data())
    def rerun_an_old_batch(self, data: st.DataObject) -> None:
        loaded = self._batches("loaded_at IS NOT NULL")
        if loaded:
            run_all(self.ctx, batch_ids=[data.draw(st.sampled_from(loaded))])

    @rule()
    def crash_between_a_commit_and_its_record(self) -> None:
        """The newest batch's ledger row is gone, as if the process died right after the
        manifest was written."""
        query(self.warehouse, "DELETE FROM ainsdale_meta.batch WHERE batch_id = "
              "(SELECT max(batch_id) FROM ainsdale_meta.batch)")  # fmt: skip

    def teardown(self) -> None:
        if not hasattr(self, "ctx"):
            return
        run_all(self.ctx)  # the schedule's next run
        rebuild = NEW_DATABASE_URL("ledger_full")
        run_all(pipeline_context(self.source, rebuild, self.tmp / "rebuild", lake_catalog="sql"))
        got, want = warehouse_contents(self.warehouse), warehouse_contents(rebuild)
        for name in got:
            if not name.startswith("fact_"):
                assert got[name] == want[name], name
        assert latest_versions(self.warehouse) == latest_versions(rebuild)
        for name in STAR_TABLES:
            assert lake_rows(self.warehouse, name) == warehouse_rows(self.warehouse, name), name
        shutil.rmtree(self.tmp, ignore_errors=True)


NEW_DATABASE_URL = None  # set by the test from its fixture (a state machine takes no fixtures)


def test_any_sequence_ends_with_the_warehouse_and_the_lake_equal_to_the_source(new_database_url):
    global NEW_DATABASE_URL
    NEW_DATABASE_URL = new_database_url
    # A few sequences in make test; AINSDALE_PROPERTY_EXAMPLES=50 for a soak.
    LedgerSequences.TestCase.settings = settings(
        max_examples=int(os.environ.get("AINSDALE_PROPERTY_EXAMPLES", "3")),
        stateful_step_count=8,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    LedgerSequences.TestCase().runTest()
