"""The lake: the star as Iceberg tables, one snapshot per table per batch, agreeing with the
warehouse (a SQL catalog on SQLite over a local folder, as `make demo` builds it)."""

from __future__ import annotations

import pytest

from ainsdale_etl.core.registry import STAR_TABLES
from ainsdale_etl.core.settings import load_settings
from ainsdale_etl.lake.catalog import existing_lake_table, open_catalog
from ainsdale_etl.lake.ledger import batches_held
from conftest import query


@pytest.fixture
def lake_env(etl_env, monkeypatch):
    monkeypatch.setenv("AINSDALE_LAKE_CATALOG", "sql")
    return etl_env | {"AINSDALE_LAKE_CATALOG": "sql"}


def lake_tables():
    settings = load_settings()
    catalog = open_catalog(settings)
    return {name: existing_lake_table(catalog, settings, t) for name, t in STAR_TABLES.items()}


def counts(wh_url):
    return {n: query(wh_url, f'SELECT count(*) FROM "{n}"')[0][0] for n in STAR_TABLES}


def test_run_all_builds_the_whole_star_as_iceberg_tables(cli, lake_env):
    cli("run-all")
    tables = lake_tables()
    wh = counts(lake_env["AINSDALE_WAREHOUSE_URL"])
    for name, ice in tables.items():
        assert ice is not None, name
        assert len(ice.scan().to_arrow()) == wh[name], name
        assert len(batches_held(ice)) == 1
