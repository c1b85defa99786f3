"""The real CLI as a subprocess, and a warehouse's contents in a comparable form."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ainsdale_etl.core.registry import STAR_TABLES
from conftest import query

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


def warehouse_contents(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every star table's rows (surrogate keys left out: identity values are not transactional,
    so a rolled-back load legitimately skips some), sorted."""
    contents = {}
    for name, table in STAR_TABLES.items():
        columns = ", ".join(f'"{c}"::text' for c in table.column_names)
        if query(url, "SELECT to_regclass($1) IS NULL", [name]) == [(True,)]:
            contents[name] = []
            continue
        contents[name] = query(url, f'SELECT {columns} FROM "{name}" ORDER BY {columns}')
    return contents


def ledger(url: str) -> list[str]:
    if query(url, "SELECT to_regclass('ainsdale_meta.loaded_batch') IS NULL") == [(True,)]:
        return []
    return [r[0] for r in query(url, "SELECT batch_id FROM ainsdale_meta.loaded_batch ORDER BY 1")]


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
