"""The real CLI as a subprocess, the pipeline in process, and the source changes the
property tests make."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helpers.databases import query

if TYPE_CHECKING:
    from ainsdale_etl.runtime.context import Context

EXE = str(Path(sys.executable).with_name("ainsdale-etl"))


def cli_env(env: dict[str, str], **extra: str) -> dict[str, str]:
    """The test's AINSDALE_* settings over a clean copy of this process's environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AINSDALE_")}
    # The lake is off unless a test turns it on (see conftest.etl_env).
    return base | {"AINSDALE_LAKE_CATALOG": "none"} | env | extra


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([EXE, *args], env=env, cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


LATE_DESIGN_ID = 9100


def extract_an_order_before_its_design(cli: Any, src: str) -> None:
    """An early-arriving fact: a sales order now names design 9100 ('Late'), which is in
    totesys but not extracted yet (only sales_order is)."""
    query(src, "INSERT INTO design (design_id, created_at, last_updated, design_name, "
               "file_location, file_name) VALUES ($1, localtimestamp, localtimestamp, "
               "'Late', '/late', 'late.json')", [LATE_DESIGN_ID])  # fmt: skip
    query(src, "UPDATE sales_order SET design_id = $1, last_updated = localtimestamp(3) "
               "WHERE sales_order_id = (SELECT min(sales_order_id) FROM sales_order)",
          [LATE_DESIGN_ID])  # fmt: skip
    cli("extract", "--tables", "sales_order")


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


def pipeline_context(source: str, warehouse: str, buckets: Path, **settings: Any) -> Context:
    """A context over ``buckets`` (the core's, as the CLI builds it), its warehouse prepared
    as the CLI does under its lock."""
    from pydantic import SecretStr

    from ainsdale_etl.core.settings import Settings
    from ainsdale_etl.pipeline.binding import prepare_warehouse
    from ainsdale_etl.runtime.context import Context

    ctx = Context(
        Settings(
            source_url=SecretStr(source),
            warehouse_url=SecretStr(warehouse),
            ingest_uri=str(buckets / "ingest"),
            processed_uri=str(buckets / "processed"),
            home=buckets / "home",
            **settings,
        )
    )
    prepare_warehouse(ctx)
    return ctx


def run_pipeline(source: str, warehouse: str, buckets: Path) -> None:
    """One run-all over ``buckets``, in process."""
    from ainsdale_etl.pipeline.run_all import run_all

    run_all(pipeline_context(source, warehouse, buckets))
