"""`ainsdale-etl dbt-sources`: a dbt sources.yml of the star that real dbt accepts, whose tests
pass on a loaded warehouse and fail on a broken key, and whose freshness is the ledger's."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml

from ainsdale_etl.core.registry import STAR_TABLES
from ainsdale_etl.ops.dbt_sources import MARKER
from helpers.databases import query

DBT = Path(__file__).resolve().parents[1] / ".venv-dbt" / "bin" / "dbt"


def _dbt_or_skip() -> Path:
    if DBT.exists():
        return DBT
    if os.environ.get("CI"):
        pytest.fail(f"{DBT} is missing: `make test` makes it (`make dbt-venv`)")
    pytest.skip("dbt's venv .venv-dbt is missing: `make dbt-venv` makes it (make test does)")


def _profile(url: str) -> dict[str, object]:
    """A dbt-postgres target for a libpq URI (TCP, or an embedded server's socket folder)."""
    parts = urlsplit(url)
    host = parse_qs(parts.query).get("host", [parts.hostname or "127.0.0.1"])[0]
    return {
        "type": "postgres",
        "host": host,
        "port": parts.port or 5432,
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or ""),
        "dbname": parts.path.lstrip("/"),
        "schema": "dbt_check",
        "threads": 4,
    }


def _project(tmp_path: Path, warehouse_url: str) -> Path:
    project = tmp_path / "dbt"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        "name: ainsdale_check\nversion: '1.0'\nprofile: ainsdale\nconfig-version: 2\n"
    )
    profiles = {"ainsdale": {"target": "t", "outputs": {"t": _profile(warehouse_url)}}}
    (project / "profiles.yml").write_text(yaml.safe_dump(profiles))
    return project


def _dbt(dbt: Path, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",  # nothing leaves the machine
        "DBT_VERSION_CHECK": "false",
        "DBT_USE_COLORS": "false",
        "DBT_PARTIAL_PARSE": "false",
    }
    return subprocess.run(
        [str(dbt), *args, "--project-dir", str(project), "--profiles-dir", str(project)],
        env=env, cwd=project, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def _results(project: Path, name: str) -> dict[str, str]:
    """Each node's status in dbt's last ``target/<name>``: tests (run_results.json) by name,
    sources (sources.json) as source.table."""
    results = json.loads((project / "target" / name).read_text())["results"]
    parts = [r["unique_id"].split(".") for r in results]
    keys = [p[2] if p[0] == "test" else ".".join(p[2:]) for p in parts]
    return dict(zip(keys, (r["status"] for r in results), strict=True))


def _tests_declared(sources: dict) -> int:
    tables = [t for s in sources["sources"] for t in s["tables"]]
    on_columns = sum(len(c.get("data_tests", [])) for t in tables for c in t["columns"])
    return on_columns + sum(len(t.get("data_tests", [])) for t in tables)


def test_dbt_finds_the_star_fresh_and_keyed_and_fails_on_a_broken_key(cli, etl_env, tmp_path):
    dbt = _dbt_or_skip()
    wh = etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    project = _project(tmp_path, wh)
    written = project / "models" / "ainsdale_sources.yml"
    cli("dbt-sources", "--output", str(written))
    sources = yaml.safe_load(written.read_text())

    fresh = _dbt(dbt, project, "source", "freshness")
    assert fresh.returncode == 0, fresh.stdout[-3000:]
    statuses = _results(project, "sources.json")
    relations = sum(len(s["tables"]) for s in sources["sources"])
    assert len(statuses) == relations and set(statuses.values()) == {"pass"}

    tested = _dbt(dbt, project, "test")
    assert tested.returncode == 0, tested.stdout[-3000:]
    outcomes = _results(project, "run_results.json")
    assert len(outcomes) == _tests_declared(sources) > 60
    assert set(outcomes.values()) == {"pass"}

    # A key broken (a currency twice) fails its test; a ledger five hours old is stale for
    # every star table, whatever the tables' own columns say.
    query(wh, "ALTER TABLE dim_currency DROP CONSTRAINT dim_currency_pkey CASCADE")
    query(wh, "INSERT INTO dim_currency SELECT * FROM dim_currency ORDER BY currency_id LIMIT 1")
    query(wh, "UPDATE ainsdale_meta.batch SET loaded_at = now() - interval '5 hours'")
    broken = _dbt(dbt, project, "test", "--select", "source:ainsdale.dim_currency")
    assert broken.returncode == 1
    outcomes = _results(project, "run_results.json")
    assert len(outcomes) == 5  # its key's two tests, and the three facts' relationships to it
    assert {t for t, status in outcomes.items() if status != "pass"} == {
        "source_unique_ainsdale_dim_currency_currency_id"
    }
    stale = _dbt(dbt, project, "source", "freshness", "--select",
                 "source:ainsdale.fact_sales_order_current", "source:ainsdale_meta.batch")  # fmt: skip
    assert stale.returncode == 1
    assert _results(project, "sources.json") == {
        "ainsdale.fact_sales_order_current": "error",
        "ainsdale_meta.batch": "error",
    }


def test_every_relation_is_listed_with_the_warehouses_own_columns(cli, etl_env):
    cli("migrate")
    text = cli("dbt-sources").stdout
    assert text.splitlines()[0] == MARKER
    star, ledger = yaml.safe_load(text)["sources"]
    tables = {t["name"]: t for t in star["tables"]}
    assert set(STAR_TABLES) < set(tables)
    assert {n for n in tables if n.endswith("_history")} == {
        f"{n}_history" for n, t in STAR_TABLES.items() if not t.is_fact and n != "dim_date"
    }
    facts = [n for n, t in STAR_TABLES.items() if t.is_fact]
    assert {f"{f}_{view}" for f in facts for view in ("current", "as_recorded")} < set(tables)
    for name, table in {**tables, "batch": ledger["tables"][0]}.items():
        schema = star["schema"] if name in tables else ledger["schema"]
        actual = query(
            etl_env["AINSDALE_WAREHOUSE_URL"],
            "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 "
            "AND table_name = $2 ORDER BY ordinal_position",
            [schema, name],
        )
        listed = [c["name"] for c in table["columns"]]
        # The star's relations whole, in order; of the ledger, the columns dbt reads.
        assert listed == [c for (c,) in actual if name in tables or c in listed], name
        assert table["description"] and all(c["description"] for c in table["columns"])


def test_keys_become_dbt_tests():
    from ainsdale_etl.ops.dbt_sources import dbt_sources

    star = {
        t["name"]: t
        for t in dbt_sources(schema="public", warn_after_minutes=1, error_after_minutes=2)[
            "sources"
        ][0]["tables"]
    }
    columns = {
        n: {c["name"]: c.get("data_tests", []) for c in t["columns"]} for n, t in star.items()
    }
    assert columns["dim_staff"]["staff_id"] == ["unique", "not_null"]
    assert columns["fact_sales_order"]["sales_record_id"] == ["unique", "not_null"]
    assert columns["fact_sales_order"]["sales_staff_id"] == [
        {
            "relationships": {
                "arguments": {"to": "source('ainsdale', 'dim_staff')", "field": "staff_id"}
            }
        }
    ]
    assert columns["fact_sales_order_current"]["sales_order_id"] == ["unique", "not_null"]
    assert {"unique": {"column_name": "case when is_current then staff_id end"}} in star[
        "dim_staff_history"
    ]["data_tests"]


def test_an_existing_file_is_replaced_only_if_this_wrote_it_or_with_force(cli, tmp_path):
    target = tmp_path / "models" / "sources.yml"
    target.parent.mkdir()
    target.write_text("version: 2\n# someone's own sources\n")
    refused = cli("dbt-sources", "--output", str(target), expect=2)
    assert "was not written by `ainsdale-etl dbt-sources`" in refused.output
    assert "--force" in refused.output
    assert target.read_text() == "version: 2\n# someone's own sources\n"
    cli("dbt-sources", "--output", str(target), "--force", "--warn-after", "30")
    cli("dbt-sources", "--output", str(target), "--schema", "star")  # its own file: replaced
    star = yaml.safe_load(target.read_text())["sources"][0]
    assert star["schema"] == "star"
    assert star["config"]["freshness"]["warn_after"] == {"count": 120, "period": "minute"}
