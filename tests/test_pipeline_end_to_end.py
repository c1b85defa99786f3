"""End to end over real PostgreSQL: the CLI moves a seeded totesys into the warehouse, and the
warehouse reconciles with the source exactly -- first in full, then incrementally."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from ainsdale_etl.core.registry import FACTS, STAR_TABLES
from helpers.contents import manifests
from helpers.databases import count, query


def test_full_run_reconciles_with_the_source(cli, etl_env):
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")

    for fact, source in [("fact_sales_order", "sales_order"), ("fact_purchase_order", "purchase_order"),
                         ("fact_payment", "payment")]:  # fmt: skip
        assert count(wh, fact) == count(src, source) > 0
    for dim, source in [("dim_staff", "staff"), ("dim_location", "address"), ("dim_design", "design"),
                        ("dim_currency", "currency"), ("dim_counterparty", "counterparty"),
                        ("dim_payment_type", "payment_type"), ("dim_transaction", "transaction")]:  # fmt: skip
        assert count(wh, dim) == count(src, source) > 0

    money = "SELECT sum(units_sold * unit_price)::text FROM {}"
    assert query(wh, money.format("fact_sales_order")) == query(src, money.format("sales_order"))
    paid = "SELECT currency_id, sum(payment_amount)::text FROM {} GROUP BY 1 ORDER BY 1"
    assert query(wh, paid.format("fact_payment")) == query(src, paid.format("payment"))


def test_every_fact_date_is_in_dim_date_and_the_calendar_is_right(cli, etl_env):
    wh = etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    for fact in FACTS:
        for column in [c.name for c in fact.columns if c.references == "dim_date"]:
            missing = query(wh, f'SELECT count(*) FROM "{fact.name}" f LEFT JOIN dim_date d '
                                f'ON d.date_id = f."{column}" WHERE d.date_id IS NULL')  # fmt: skip
            assert missing == [(0,)], (fact.name, column)
    row = query(wh, "SELECT year, month, day, day_of_week, day_name, month_name, quarter "
                    "FROM dim_date WHERE date_id = '2023-01-01'")  # fmt: skip
    assert row == [(2023, 1, 1, 7, "Sunday", "January", 1)]


def test_dimensions_join_as_the_source_does(cli, etl_env):
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    staff = "SELECT s.staff_id, s.first_name, d.department_name, d.location FROM staff s JOIN department d USING (department_id) ORDER BY 1"
    assert query(
        wh, "SELECT staff_id, first_name, department_name, location FROM dim_staff ORDER BY 1"
    ) == query(src, staff)
    legal = ("SELECT c.counterparty_id, c.counterparty_legal_name, a.address_line_1, a.address_line_2, a.city, a.phone "
             "FROM counterparty c JOIN address a ON a.address_id = c.legal_address_id ORDER BY 1")  # fmt: skip
    assert query(wh, "SELECT counterparty_id, counterparty_legal_name, counterparty_legal_address_line_1, "
                     "counterparty_legal_address_line_2, counterparty_legal_city, counterparty_legal_phone_number "
                     "FROM dim_counterparty ORDER BY 1") == query(src, legal)  # fmt: skip
    assert query(wh, "SELECT currency_code, currency_name FROM dim_currency ORDER BY 1") == [
        ("EUR", "Euro"), ("GBP", "Pound Sterling"), ("USD", "US Dollar")]  # fmt: skip
    # A fact resolves through every dimension it references.
    dangling = query(
        wh,
        """SELECT count(*) FROM fact_sales_order f
        LEFT JOIN dim_staff s ON s.staff_id = f.sales_staff_id
        LEFT JOIN dim_design d USING (design_id)
        LEFT JOIN dim_location l ON l.location_id = f.agreed_delivery_location_id
        WHERE s.staff_id IS NULL OR d.design_id IS NULL OR l.location_id IS NULL""",
    )
    assert dangling == [(0,)]


def test_money_and_milliseconds_survive_exactly(cli, etl_env):
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    query(src, "UPDATE sales_order SET unit_price = 12345678.91, "
               "last_updated = '2024-02-29 23:59:59.999' WHERE sales_order_id = "
               "(SELECT min(sales_order_id) FROM sales_order)")  # fmt: skip
    cli("run-all")
    row = query(wh, "SELECT unit_price::text, last_updated_date::text, last_updated_time::text "
                    "FROM fact_sales_order WHERE unit_price = 12345678.91")  # fmt: skip
    assert row == [("12345678.91", "2024-02-29", "23:59:59.999")]
    assert Decimal(row[0][0]) == Decimal("12345678.91")


def test_extract_writes_the_documented_layout(cli, etl_env):
    cli("run-all")
    ingest, processed = (
        Path(etl_env["AINSDALE_INGEST_URI"]),
        Path(etl_env["AINSDALE_PROCESSED_URI"]),
    )
    [manifest] = manifests(ingest)
    batch_id = manifest.name.removesuffix("_manifest.json")
    day = f"{batch_id[:4]}/{batch_id[4:6]}/{batch_id[6:8]}"
    assert manifest.parent == ingest / "data" / day / batch_id
    csvs = {p.name for p in manifest.parent.glob("*.csv")}
    assert csvs == {f"{batch_id}_{t}.csv" for t in json.loads(manifest.read_text())["tables"]}
    assert len(csvs) == 11 and f"{batch_id}__prisma_migrations.csv" not in csvs
    parquet = {p.name for p in (processed / "data" / day / batch_id).glob("*.parquet")}
    assert parquet == {f"{batch_id}_{t}.parquet" for t in STAR_TABLES}


def star_frames(processed: Path) -> dict[str, object]:
    """Every star table of the one transformed batch in ``processed``, sorted by its key."""
    import polars as pl

    return {
        name: pl.read_parquet(path).sort(list(STAR_TABLES[name].key))
        for name in STAR_TABLES
        for path in processed.glob(f"data/*/*/*/*/*_{name}.parquet")
    }


def test_a_batch_streamed_in_small_chunks_builds_the_same_star(cli, etl_env, monkeypatch, tmp_path):
    cli("extract")
    cli("transform")
    whole = star_frames(Path(etl_env["AINSDALE_PROCESSED_URI"]))
    monkeypatch.setenv("AINSDALE_PROCESSED_URI", str(tmp_path / "chunked"))
    monkeypatch.setattr(
        "ainsdale_etl.transform.transform.CHUNK_BYTES", 2048
    )  # ~20 chunks per big table
    [manifest] = manifests(Path(etl_env["AINSDALE_INGEST_URI"]))
    batch_id = manifest.name.removesuffix("_manifest.json")
    cli("transform", "--batch-id", batch_id, "--rebind")  # the same batch, into another bucket
    chunked = star_frames(tmp_path / "chunked")
    assert chunked.keys() == whole.keys() and len(whole) == len(STAR_TABLES)
    for name, frame in whole.items():
        assert chunked[name].equals(frame), name


def test_a_transaction_in_two_chunks_keeps_its_latest_version(cli, etl_env, monkeypatch):
    import hashlib

    import polars as pl

    cli("extract")
    ingest = Path(etl_env["AINSDALE_INGEST_URI"])
    manifest_path = manifests(ingest)[0]
    manifest = json.loads(manifest_path.read_text())
    entry = manifest["tables"]["transaction"]
    csv = ingest / entry["key"]
    first = csv.read_bytes().splitlines()[1].decode().split(",")
    newer = [first[0], "SALE", "424242", "", first[4], "2099-01-01 00:00:00"]
    csv.write_bytes(csv.read_bytes() + (",".join(newer) + "\n").encode())  # far from the first
    entry["rows"] += 1
    entry["sha256"] = hashlib.sha256(csv.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    monkeypatch.setattr("ainsdale_etl.transform.transform.CHUNK_BYTES", 1024)
    cli("transform")
    dim = star_frames(Path(etl_env["AINSDALE_PROCESSED_URI"]))["dim_transaction"]
    assert isinstance(dim, pl.DataFrame)
    assert dim.height == entry["rows"] - 1
    row = dim.filter(pl.col("transaction_id") == int(first[0])).row(0, named=True)
    assert (row["transaction_type"], row["sales_order_id"]) == ("SALE", 424242)
