"""The load spares only the foreign-key triggers it checks set-based: a trigger a user put on
a warehouse table fires on the bulk path and the merge path alike."""

from __future__ import annotations

import json

from helpers.databases import query, run_script

AUDIT = """
    CREATE TABLE audit_log (tbl text NOT NULL, op text NOT NULL);
    CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO audit_log VALUES (TG_TABLE_NAME, TG_OP); RETURN NULL; END $$;
    CREATE TRIGGER audit AFTER INSERT OR UPDATE ON fact_sales_order
        FOR EACH ROW EXECUTE FUNCTION audit();
    CREATE TRIGGER audit AFTER INSERT OR UPDATE ON dim_staff
        FOR EACH ROW EXECUTE FUNCTION audit();
"""


def paths(output: str) -> dict[str, str]:
    events = [json.loads(ln) for ln in output.splitlines() if ln.startswith("{")]
    return {e["table"]: e["path"] for e in events if e.get("event") == "table_loaded"}


def audited(wh: str) -> dict[str, int]:
    return dict(query(wh, "SELECT tbl, count(*)::int FROM audit_log GROUP BY 1"))


def test_a_users_audit_trigger_fires_on_bulk_and_merge_loads(cli, etl_env, monkeypatch):
    monkeypatch.setattr("ainsdale_etl.load.bulk.BULK_MIN_ROWS", 1)
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("migrate")
    run_script(wh, AUDIT)
    first = paths(cli("run-all").output)
    assert first["fact_sales_order"] == first["dim_staff"] == "bulk"
    (facts,), (staff,) = query(wh, "SELECT count(*)::int FROM fact_sales_order UNION ALL "
                                   "SELECT count(*)::int FROM dim_staff")  # fmt: skip
    assert audited(wh) == {"fact_sales_order": facts, "dim_staff": staff}

    query(src, "UPDATE sales_order SET units_sold = units_sold + 1, "
               "last_updated = localtimestamp(3) WHERE sales_order_id <= 5")  # fmt: skip
    assert paths(cli("run-all").output)["fact_sales_order"] == "merge"
    assert audited(wh)["fact_sales_order"] == facts + 5
    # Nothing is left switched off, and every foreign key still holds, validated.
    assert query(wh, "SELECT count(*)::int FROM pg_trigger WHERE tgenabled = 'D'") == [(0,)]
    validated = "SELECT count(*)::int FROM pg_constraint WHERE contype = 'f' AND convalidated"
    assert query(wh, validated) == [(24,)]
