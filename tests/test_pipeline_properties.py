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
from ainsdale_etl.ops.seed import seed
from helpers.contents import latest_versions, warehouse_contents
from helpers.databases import SMALL_SCALE, query
from helpers.processes import CHANGES, run_pipeline

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
