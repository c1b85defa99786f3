"""Bad input is refused with one line naming the batch, object and row; the warehouse is left
untouched; the batch is quarantined so nothing passes it; fixing it and rerunning that batch
resumes the pipeline. One test per kind of bad input."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import polars as pl
import pytest

from helpers.contents import ledger, warehouse_contents
from helpers.databases import query

Edit = Callable[[Path], None]


def _batch_dir(ingest: Path) -> Path:
    [manifest] = ingest.glob("data/*/*/*/*/*_manifest.json")
    return manifest.parent


def _manifest_path(batch: Path) -> Path:
    return batch / f"{batch.name}_manifest.json"


def _object(batch: Path, table: str) -> Path:
    return batch / f"{batch.name}_{table}.csv"


def _reseal(batch: Path, table: str, *, rows: int | None = None) -> None:
    """Make the manifest agree with an edited object, as a careless hand-fix would."""
    path = _manifest_path(batch)
    manifest = json.loads(path.read_text())
    entry = manifest["tables"][table]
    entry["sha256"] = hashlib.sha256(_object(batch, table).read_bytes()).hexdigest()
    if rows is not None:
        entry["rows"] = rows
    path.write_text(json.dumps(manifest))


def _edit_rows(table: str, change: Callable[[pl.DataFrame], pl.DataFrame]) -> Edit:
    def edit(batch: Path) -> None:
        path = _object(batch, table)
        frame = pl.read_csv(path, infer_schema=False)
        change(frame).write_csv(path)
        _reseal(batch, table)

    return edit


def _truncate(batch: Path) -> None:
    path = _object(batch, "sales_order")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garble(batch: Path) -> None:
    _object(batch, "design").write_bytes(b'\x00\x9f\x92\x96 not,a\ncsv\x00"file')
    _reseal(batch, "design")


def _delete(batch: Path) -> None:
    _object(batch, "currency").unlink()


def _miscount(batch: Path) -> None:
    manifest = json.loads(_manifest_path(batch).read_text())
    _reseal(batch, "payment", rows=manifest["tables"]["payment"]["rows"] + 1)


def _second_row(column: str, value: str | None) -> Callable[[pl.DataFrame], pl.DataFrame]:
    def change(frame: pl.DataFrame) -> pl.DataFrame:
        index = pl.int_range(pl.len()) == 1
        return frame.with_columns(
            pl.when(index).then(pl.lit(value, pl.String)).otherwise(pl.col(column)).alias(column)
        )

    return change


OTHER_BATCH = "20200101T000000000000Z"


def _point_at(key: Callable[[Path, str], str], table: str = "design") -> Edit:
    """Name another object in the manifest (its checksum too), as a hand-edit or an attacker
    would."""

    def edit(batch: Path) -> None:
        path = _manifest_path(batch)
        manifest = json.loads(path.read_text())
        manifest["tables"][table]["key"] = key(batch, table)
        path.write_text(json.dumps(manifest))

    return edit


def _another_batchs_object(batch: Path, table: str) -> str:
    """Another batch's copy of the object (the same bytes and checksum) under its folder."""
    other = batch.parents[3] / "2020" / "01" / "01" / OTHER_BATCH
    other.mkdir(parents=True)
    shutil.copy(_object(batch, table), other / f"{OTHER_BATCH}_{table}.csv")
    return f"data/2020/01/01/{OTHER_BATCH}/{OTHER_BATCH}_{table}.csv"


def _no_checksum(batch: Path) -> None:
    path = _manifest_path(batch)
    manifest = json.loads(path.read_text())
    manifest["tables"]["design"]["sha256"] = None
    path.write_text(json.dumps(manifest))


# kind -> (edit, the step that refuses it, words the one error line must hold)
BAD_INPUTS: dict[str, tuple[Edit, str, list[str]]] = {
    "truncated CSV": (_truncate, "transform", ["sales_order.csv", "checksum"]),
    "garbled CSV": (_garble, "transform", ["design.csv", "missing from the header"]),
    "missing table file": (_delete, "transform", ["currency.csv", "missing"]),
    "manifest row count off": (_miscount, "transform", ["payment.csv", "its manifest says"]),
    "column missing": (
        _edit_rows("sales_order", lambda f: f.drop("units_sold")),
        "transform",
        ["sales_order.csv", "units_sold missing"],
    ),
    "non-date in a date column": (
        _edit_rows("sales_order", _second_row("agreed_delivery_date", "next tuesday")),
        "transform",
        ["sales_order.csv", "agreed_delivery_date", "sales_order_id=", "'next tuesday'"],
    ),
    "NULL in a NOT NULL column": (
        _edit_rows("sales_order", _second_row("units_sold", None)),
        "transform",
        ["sales_order.csv", "units_sold is NULL", "sales_order_id="],
    ),
    "another batch's object": (
        _point_at(_another_batchs_object),
        "transform",
        ["table design", f"{OTHER_BATCH}_design.csv", f"belongs to batch {OTHER_BATCH}"],
    ),
    "a key outside the bucket's batches": (
        _point_at(lambda batch, table: f"data/../../{batch.name}_{table}.csv"),
        "transform",
        ["table design", "'data/../../", "not a batch object's key"],
    ),
    "an object without a checksum": (_no_checksum, "transform", ["design.csv", "no checksum"]),
}


def _errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


def _statuses(cli) -> dict[str, dict]:
    return {b["batch_id"]: b for b in json.loads(cli("batches", "--json").output)}


@pytest.mark.parametrize("kind", BAD_INPUTS)
def test_bad_input_is_refused_quarantined_and_resumed_once_fixed(kind, cli, etl_env):
    edit, step, words = BAD_INPUTS[kind]
    ingest, wh = Path(etl_env["AINSDALE_INGEST_URI"]), etl_env["AINSDALE_WAREHOUSE_URL"]
    src = etl_env["AINSDALE_SOURCE_URL"]
    cli("extract")
    batch = _batch_dir(ingest)
    good = batch.with_name("good-copy")
    shutil.copytree(batch, good)
    edit(batch)

    failed = cli("run-all", expect=1)
    [line] = _errors(failed.output)
    assert batch.name in line and all(w in line for w in words), line
    assert "Traceback" not in failed.output
    # The warehouse is untouched: nothing of the batch, no ledger entry.
    assert ledger(wh) == []
    assert all(rows == [] for rows in warehouse_contents(wh).values())
    status = _statuses(cli)[batch.name]
    assert status["status"] == "quarantined" and status["problem"].startswith(step)

    # A later batch is extracted but waits behind the quarantined one.
    query(src, "UPDATE sales_order SET units_sold = units_sold + 1, "
               "last_updated = localtimestamp(3) WHERE sales_order_id = 1")  # fmt: skip
    blocked = cli("run-all", expect=1)
    [line] = _errors(blocked.output)
    assert f"batch {batch.name} is quarantined" in line and "--batch-id" in line
    assert ledger(wh) == []
    later = [b for b in _statuses(cli) if b != batch.name]
    assert len(later) == 1

    # Fix the input, rerun that batch: the quarantine lifts and the pipeline carries on.
    shutil.rmtree(batch)
    good.rename(batch)
    cli("run-all", "--batch-id", batch.name)
    assert _statuses(cli)[batch.name]["status"] == "loaded"
    cli("run-all")
    assert ledger(wh) == sorted([batch.name, *later])
    assert query(wh, "SELECT count(*) FROM fact_sales_order WHERE sales_order_id = 1") == [(2,)]
    assert {s["status"] for s in _statuses(cli).values()} == {"loaded"}


def test_a_transient_failure_inside_the_load_does_not_quarantine(
    cli, etl_env, monkeypatch, pg_admin_url
):
    from helpers.stand_ins import FlakyProxy

    wh = etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("extract")
    cli("transform")
    proxy = FlakyProxy(pg_admin_url, cut_after=12_000)  # only the load's COPY sends this much
    try:
        monkeypatch.setenv("AINSDALE_WAREHOUSE_URL", proxy.url(urlsplit(wh).path[1:]))
        monkeypatch.setattr("ainsdale_etl.core.retry.DB_ATTEMPTS", 1)
        failed = cli("run-all", expect=75)  # transient, retries spent: try later
    finally:
        proxy.close()
    assert proxy.cut == 1, failed.output
    [line] = _errors(failed.output)
    assert "warehouse database error" in line
    monkeypatch.setenv("AINSDALE_WAREHOUSE_URL", wh)
    assert {s["status"] for s in _statuses(cli).values()} == {"transformed"}  # not quarantined
    cli("run-all")
    assert len(ledger(wh)) == 1


def test_batches_before_a_quarantined_one_are_still_loaded(cli, etl_env):
    ingest, wh = Path(etl_env["AINSDALE_INGEST_URI"]), etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("extract")
    [first] = _statuses(cli)
    query(etl_env["AINSDALE_SOURCE_URL"], "UPDATE sales_order SET units_sold = units_sold + 1, "
          "last_updated = localtimestamp(3) WHERE sales_order_id <= 3")  # fmt: skip
    cli("extract")
    [second] = [b for b in _statuses(cli) if b != first]
    _truncate(next(ingest.glob(f"data/*/*/*/{second}")))

    [line] = _errors(cli("run-all", expect=1).output)
    assert second in line and "checksum" in line
    assert ledger(wh) == [first]
    statuses = _statuses(cli)
    assert statuses[first]["status"] == "loaded" and statuses[second]["status"] == "quarantined"


def test_a_fact_pointing_at_a_row_not_delivered_loads_and_the_row_replaces_its_placeholder(
    cli, etl_env
):
    """Not a quarantine any more: the design becomes an inferred member, and once it is added
    to totesys the next scheduled run replaces the placeholder, with no command by hand."""
    ingest, wh = Path(etl_env["AINSDALE_INGEST_URI"]), etl_env["AINSDALE_WAREHOUSE_URL"]
    src = etl_env["AINSDALE_SOURCE_URL"]
    cli("extract")
    _edit_rows("sales_order", _second_row("design_id", "99999"))(_batch_dir(ingest))
    cli("run-all")
    design = "SELECT design_name FROM dim_design WHERE design_id = 99999"
    assert query(wh, design) == [("unknown",)]
    query(src, "INSERT INTO design (design_id, created_at, design_name, file_location, "
               "file_name, last_updated) VALUES (99999, localtimestamp(3), 'Late', '/x', "
               "'late.json', localtimestamp(3))")  # fmt: skip
    cli("run-all")
    assert {s["status"] for s in _statuses(cli).values()} == {"loaded"}
    assert query(wh, design) == [("Late",)]
    assert query(wh, "SELECT count(*) FROM fact_sales_order WHERE design_id = 99999") == [(1,)]
    assert query(wh, "SELECT count(*) FROM ainsdale_meta.inferred_member") == [(0,)]


def test_a_failed_rerun_of_a_loaded_batch_does_not_hold_up_later_ones(cli, etl_env):
    processed = Path(etl_env["AINSDALE_PROCESSED_URI"])
    cli("run-all")
    [loaded] = _statuses(cli)
    [parquet] = processed.glob(f"data/*/*/*/{loaded}/*_fact_sales_order.parquet")
    parquet.write_bytes(b"not parquet")
    [line] = _errors(cli("load", "--batch-id", loaded, expect=1).output)
    assert "checksum" in line
    assert _statuses(cli)[loaded]["status"] == "loaded"  # not quarantined
    query(etl_env["AINSDALE_SOURCE_URL"], "UPDATE staff SET last_updated = localtimestamp(3) "
          "WHERE staff_id = 1")  # fmt: skip
    cli("run-all")
    assert len(ledger(etl_env["AINSDALE_WAREHOUSE_URL"])) == 2


def test_a_parquet_object_of_another_schema_is_refused_before_anything_is_loaded(cli, etl_env):
    processed, wh = Path(etl_env["AINSDALE_PROCESSED_URI"]), etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("extract")
    cli("transform")
    [batch] = _statuses(cli)
    [parquet] = processed.glob(f"data/*/*/*/{batch}/*_dim_design.parquet")
    frame = pl.read_parquet(parquet)
    frame.with_columns(pl.col("design_id").cast(pl.String)).write_parquet(parquet)
    manifest_path = parquet.parent / f"{batch}_manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["tables"]["dim_design"]["sha256"] = hashlib.sha256(parquet.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest))

    failed = cli("load", expect=1)
    [line] = _errors(failed.output)
    assert batch in line and "table dim_design" in line and parquet.name in line
    assert "design_id is large_string, not integer" in line
    assert ledger(wh) == []
    assert all(rows == [] for rows in warehouse_contents(wh).values())
    status = _statuses(cli)[batch]
    assert status["status"] == "quarantined" and status["problem"].startswith("load")


@pytest.mark.parametrize("superuser", [True, False], ids=["triggers off", "keys re-added"])
def test_the_bulk_load_path_infers_members_too(superuser, cli, etl_env, monkeypatch):
    monkeypatch.setattr("ainsdale_etl.load.bulk.BULK_MIN_ROWS", 1)
    wh = etl_env["AINSDALE_WAREHOUSE_URL"]
    if not superuser:  # may not skip triggers: the foreign keys are dropped and re-added
        import ainsdale_etl.load.load
        from ainsdale_etl.load.triggers import NO_SKIPPING

        monkeypatch.setattr(ainsdale_etl.load.load, "trigger_skipping", lambda cur: NO_SKIPPING)
    cli("extract")
    _edit_rows("sales_order", _second_row("staff_id", "77777"))(
        _batch_dir(Path(etl_env["AINSDALE_INGEST_URI"]))
    )
    cli("run-all")
    staff = "SELECT first_name, department_name, location FROM dim_staff WHERE staff_id = 77777"
    assert query(wh, staff) == [("unknown", "unknown", None)]
    assert len(ledger(wh)) == 1
    validated = query(wh, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated")
    assert validated == [(24,)]


@pytest.mark.parametrize("bulk", ["1", "1000000"], ids=["bulk path", "merge path"])
def test_a_version_repeated_in_a_batch_is_refused_on_either_load_path(
    bulk, cli, etl_env, monkeypatch
):
    monkeypatch.setattr("ainsdale_etl.load.bulk.BULK_MIN_ROWS", int(bulk))
    cli("extract")
    cli("transform")
    [parquet] = Path(etl_env["AINSDALE_PROCESSED_URI"]).glob("data/*/*/*/*/*_fact_payment.parquet")
    frame = pl.read_parquet(parquet)
    pl.concat([frame, frame.head(1)]).write_parquet(parquet)
    manifest_path = next(parquet.parent.glob("*_manifest.json"))
    manifest = json.loads(manifest_path.read_text())
    entry = manifest["tables"]["fact_payment"]
    entry["sha256"], entry["rows"] = (
        hashlib.sha256(parquet.read_bytes()).hexdigest(),
        frame.height + 1,
    )
    manifest_path.write_text(json.dumps(manifest))

    [line] = _errors(cli("load", expect=1).output)
    assert "fact_payment holds the same payment_id" in line and parquet.parent.name in line
    assert ledger(etl_env["AINSDALE_WAREHOUSE_URL"]) == []


def test_a_scheduled_load_does_not_pass_a_batch_quarantined_at_its_transform(cli, etl_env):
    """A later batch transformed out of turn (transform --batch-id) is ready to load, but a
    scheduled load must stop at the batch quarantined before it, naming that batch."""
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("extract")
    _edit_rows("sales_order", _second_row("agreed_delivery_date", "2024-02-30"))(
        _batch_dir(Path(etl_env["AINSDALE_INGEST_URI"]))
    )
    cli("transform", expect=1)
    query(src, "UPDATE staff SET first_name = 'Later', last_updated = localtimestamp(3) "
               "WHERE staff_id = 1")  # fmt: skip
    cli("extract")
    first, later = sorted(_statuses(cli))
    assert _statuses(cli)[first]["status"] == "quarantined"
    cli("transform", "--batch-id", later)
    stopped = cli("load", expect=1)
    [line] = _errors(stopped.output)
    assert f"batch {first} is quarantined" in line
    assert ledger(wh) == []
    assert _statuses(cli)[later]["status"] == "transformed"
