"""The naive baseline: the same pipeline written the way such pipelines usually are.

pandas ``read_sql`` of every table through SQLAlchemy, ``to_csv``; ``read_csv``, the star
tables built with pandas merges and per-value conversions, ``to_parquet``; and
``to_sql(if_exists="append")`` with its default method into a warehouse created with the very
same DDL as ours (keys, foreign keys and all), dimensions first. This is honest, typical code,
not a straw man: no row-by-row Python loops, each step is the library call a tutorial shows.

``python -m bench.naive extract|transform|load FOLDER`` each print one JSON object with the rows
they moved; the databases are ``BENCH_SOURCE_URL`` and ``BENCH_WAREHOUSE_URL``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pandas as pd
import sqlalchemy

from ainsdale_etl.core.registry import FACTS, SOURCE_TABLES, STAR_TABLES


def _engine(url: str) -> sqlalchemy.Engine:
    return sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def extract(source_url: str, folder: Path) -> int:
    engine = _engine(source_url)
    (folder / "ingest").mkdir(parents=True, exist_ok=True)
    rows = 0
    with engine.connect() as conn:
        for name in SOURCE_TABLES:
            frame = pd.read_sql(f'SELECT * FROM "{name}"', conn)
            frame.to_csv(folder / "ingest" / f"{name}.csv", index=False)
            rows += len(frame)
    return rows


def _split_timestamps(frame: pd.DataFrame) -> pd.DataFrame:
    for column, prefix in (("created_at", "created"), ("last_updated", "last_updated")):
        stamps = pd.to_datetime(frame[column])
        frame[f"{prefix}_date"] = stamps.dt.date
        frame[f"{prefix}_time"] = stamps.dt.time
    return frame


def _dates(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], format="%Y-%m-%d").dt.date
    return frame


def _star_columns(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    return frame[STAR_TABLES[table].column_names]


def transform(folder: Path) -> int:
    import pycountry

    src = {name: pd.read_csv(folder / "ingest" / f"{name}.csv") for name in SOURCE_TABLES}
    star: dict[str, pd.DataFrame] = {}
    star["dim_staff"] = src["staff"].merge(src["department"], on="department_id")
    star["dim_location"] = src["address"].rename(columns={"address_id": "location_id"})
    star["dim_design"] = src["design"]
    names = {c.alpha_3: c.name for c in pycountry.currencies}
    currency = src["currency"].copy()
    currency["currency_name"] = currency["currency_code"].map(names)
    star["dim_currency"] = currency
    legal = src["address"].rename(
        columns={
            "address_id": "legal_address_id",
            "phone": "counterparty_legal_phone_number",
            **{
                c: f"counterparty_legal_{c}"
                for c in (
                    "address_line_1",
                    "address_line_2",
                    "district",
                    "city",
                    "postal_code",
                    "country",
                )
            },
        }
    )
    star["dim_counterparty"] = src["counterparty"].merge(legal, on="legal_address_id")
    star["dim_payment_type"] = src["payment_type"]
    star["dim_transaction"] = src["transaction"]
    sales = _dates(
        _split_timestamps(src["sales_order"]), ["agreed_payment_date", "agreed_delivery_date"]
    )
    star["fact_sales_order"] = sales.rename(columns={"staff_id": "sales_staff_id"})
    star["fact_purchase_order"] = _dates(
        _split_timestamps(src["purchase_order"]), ["agreed_delivery_date", "agreed_payment_date"]
    )
    star["fact_payment"] = _dates(_split_timestamps(src["payment"]), ["payment_date"])
    referenced = pd.concat(
        star[fact.name][c.name]
        for fact in FACTS
        for c in fact.columns
        if c.references == "dim_date"
    )
    calendar = pd.DataFrame({"date_id": pd.date_range(referenced.min(), referenced.max())})
    calendar["year"] = calendar["date_id"].dt.year
    calendar["month"] = calendar["date_id"].dt.month
    calendar["day"] = calendar["date_id"].dt.day
    calendar["day_of_week"] = calendar["date_id"].dt.day_of_week + 1
    calendar["day_name"] = calendar["date_id"].dt.day_name()
    calendar["month_name"] = calendar["date_id"].dt.month_name()
    calendar["quarter"] = calendar["date_id"].dt.quarter
    calendar["date_id"] = calendar["date_id"].dt.date
    star["dim_date"] = calendar
    (folder / "processed").mkdir(parents=True, exist_ok=True)
    rows = 0
    for name in STAR_TABLES:
        frame = _star_columns(star[name], name)
        frame.to_parquet(folder / "processed" / f"{name}.parquet", index=False)
        rows += len(frame)
    return rows


def load(warehouse_url: str, folder: Path) -> int:
    from ainsdale_etl.load.migrate import MIGRATIONS

    engine = _engine(warehouse_url)
    with engine.begin() as conn:
        for migration in MIGRATIONS:
            for statement in migration.statements:
                conn.exec_driver_sql(statement)
    rows = 0
    with engine.begin() as conn:
        for name in STAR_TABLES:  # dimensions first, then the facts that point at them
            frame = pd.read_parquet(folder / "processed" / f"{name}.parquet")
            frame.to_sql(name, conn, if_exists="append", index=False)
            rows += len(frame)
    return rows


def main(step: str, folder: str) -> None:
    if step == "extract":
        rows = extract(os.environ["BENCH_SOURCE_URL"], Path(folder))
    elif step == "transform":
        rows = transform(Path(folder))
    elif step == "load":
        rows = load(os.environ["BENCH_WAREHOUSE_URL"], Path(folder))
    else:
        raise SystemExit(f"unknown step {step!r}: extract, transform or load")
    print(json.dumps({"step": step, "rows": rows}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
