"""Knowing the source's history (issue #29): each manifest records the source's identity and its
enums' labels; another history, or a renamed label, makes the tables it touches read whole,
with one warning, so the warehouse ends up with what the source holds now."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ainsdale_etl.core.events import NullReporter
from ainsdale_etl.core.manifests import Manifest, SourceIdentity, TableEntry
from ainsdale_etl.extract.history import (
    SourceState,
    identity_changed,
    label_change,
    whole_reads,
)
from helpers.contents import manifests
from helpers.databases import query

A = SourceIdentity(system_identifier="7001", timeline=1)
PROMOTED = SourceIdentity(system_identifier="7001", timeline=2)
OTHER = SourceIdentity(system_identifier="7999", timeline=1)
PAYMENT_TYPES = ["SALES_RECEIPT", "SALES_REFUND", "PURCHASE_PAYMENT", "PURCHASE_REFUND"]


class Warnings(NullReporter):
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict]] = []

    def warning(self, message: str, **fields: object) -> None:
        self.seen.append((message, fields))


def _manifest(source: SourceIdentity | None, enums: dict | None, *tables: str) -> Manifest:
    entries = {name: TableEntry(snapshot="10:12:") for name in tables}
    return Manifest(batch_id="x", stage="extract", created_at="x", source=source, enums=enums,
                    tables=entries)  # fmt: skip


def test_a_new_timeline_or_system_is_another_history_and_unknown_is_never_one():
    assert identity_changed(A, PROMOTED) and identity_changed(A, OTHER)
    assert not identity_changed(A, A)
    assert not identity_changed(None, A)  # a manifest written before identities were recorded
    # a role that may not read the system identifier still sees a new timeline
    assert identity_changed(A, SourceIdentity(timeline=2))
    assert not identity_changed(A, SourceIdentity(timeline=1))
    assert not identity_changed(SourceIdentity(), OTHER)


def test_a_renamed_or_gone_label_is_a_change_and_an_added_one_is_not():
    renamed = ["SALES_RECEIPT_X", *PAYMENT_TYPES[1:]]
    assert label_change(PAYMENT_TYPES, renamed) == "renamed SALES_RECEIPT -> SALES_RECEIPT_X"
    assert label_change(PAYMENT_TYPES, [*PAYMENT_TYPES, "GIFT"]) is None
    assert label_change(["SALE", "PURCHASE"], ["PURCHASE"]) == "gone SALE"
    assert label_change(PAYMENT_TYPES, PAYMENT_TYPES) is None


def test_another_history_reads_the_tables_whose_last_window_it_took_with_one_warning():
    last = {
        "staff": _manifest(A, {}, "staff", "design"),
        "design": _manifest(A, {}, "staff", "design"),
        "currency": _manifest(PROMOTED, {}, "currency"),  # read since the failover
    }
    now = SourceState(PROMOTED, enums={}, users={})
    reporter = Warnings()
    assert whole_reads(last, now, reporter) == {"staff", "design"}
    [(message, fields)] = reporter.seen
    assert fields["kind"] == "source_identity_changed" and fields["tables"] == ["design", "staff"]
    assert "was system 7001, timeline 1; now system 7001, timeline 2" in message


def test_an_enum_renamed_reads_only_the_tables_using_it():
    enums = {"PaymentTypeName": PAYMENT_TYPES, "TransactionType": ["SALE", "PURCHASE"]}
    before = _manifest(A, enums, "payment_type", "transaction", "staff")
    last = dict.fromkeys(["payment_type", "transaction", "staff"], before)
    renamed = {**enums, "PaymentTypeName": ["SALES_RECEIPT_X", *PAYMENT_TYPES[1:]]}
    users = {"PaymentTypeName": ["payment_type"], "TransactionType": ["transaction"]}
    reporter = Warnings()
    assert whole_reads(last, SourceState(A, renamed, users), reporter) == {"payment_type"}
    [(message, fields)] = reporter.seen
    assert fields["enum"] == "PaymentTypeName" and fields["tables"] == ["payment_type"]
    assert "renamed SALES_RECEIPT -> SALES_RECEIPT_X" in message
    # a manifest from before labels were recorded: unknown, not changed
    older = dict.fromkeys(last, _manifest(A, None, "payment_type", "transaction", "staff"))
    assert whole_reads(older, SourceState(A, renamed, users), Warnings()) == set()


# --- the whole pipeline, on a real source ---------------------------------------------------


def _events(output: str) -> list[dict]:
    return [json.loads(ln) for ln in output.splitlines() if ln.startswith("{")]


def _warnings(output: str, kind: str) -> list[dict]:
    return [e for e in _events(output) if e["event"] == "warning" and e.get("kind") == kind]


def _manifest_files(etl_env: dict[str, str]) -> list[Path]:
    return manifests(Path(etl_env["AINSDALE_INGEST_URI"]))


def _extracted_rows(output: str) -> dict[str, int]:
    return {e["table"]: e["rows"] for e in _events(output) if e["event"] == "table_extracted"}


def test_each_manifest_records_the_source_s_identity_and_enum_labels(cli, etl_env):
    src = etl_env["AINSDALE_SOURCE_URL"]
    cli("extract")
    [path] = _manifest_files(etl_env)
    recorded = json.loads(path.read_text())
    [(system, timeline)] = query(
        src, "SELECT (SELECT system_identifier::text FROM pg_control_system()), "
             "(SELECT timeline_id FROM pg_control_checkpoint())",
    )  # fmt: skip
    assert recorded["source"] == {"system_identifier": system, "timeline": timeline}
    assert recorded["enums"] == {
        "PaymentTypeName": PAYMENT_TYPES,
        "TransactionType": ["SALE", "PURCHASE"],
    }


def test_a_source_restored_elsewhere_is_read_whole_once_with_one_warning(cli, etl_env):
    """A restore or a failover cannot be staged here: the last manifest is made to say the
    source was another cluster, as it would after one."""
    src = etl_env["AINSDALE_SOURCE_URL"]
    cli("extract")
    [path] = _manifest_files(etl_env)
    recorded = json.loads(path.read_text())
    now = recorded["source"]
    recorded["source"] = {"system_identifier": "1234", "timeline": 7}
    path.write_text(json.dumps(recorded))

    output = cli("extract").output
    [warning] = _warnings(output, "source_identity_changed")
    assert "was system 1234, timeline 7" in warning["message"]
    assert (
        f"now system {now['system_identifier']}, timeline {now['timeline']}" in warning["message"]
    )
    assert "every table read whole" in warning["message"]
    assert not _warnings(output, "table_read_whole")  # one warning, not one per table
    counts = _extracted_rows(output)
    assert counts["staff"] == query(src, "SELECT count(*) FROM staff")[0][0]
    assert counts["sales_order"] == query(src, "SELECT count(*) FROM sales_order")[0][0]

    # The new batch recorded the identity read now: the next extract reads on as usual.
    output = cli("extract").output
    assert not _warnings(output, "source_identity_changed")
    assert sum(_extracted_rows(output).values()) == 0


def test_a_manifest_without_an_identity_is_unknown_not_another_source(cli, etl_env):
    """Upgrading from a release that did not record identities reads nothing whole."""
    cli("extract")
    [path] = _manifest_files(etl_env)
    recorded = json.loads(path.read_text())
    del recorded["source"], recorded["enums"]
    path.write_text(json.dumps(recorded))
    output = cli("extract").output
    assert not _warnings(output, "source_identity_changed")
    assert not _warnings(output, "source_enum_changed")
    assert sum(_extracted_rows(output).values()) == 0


def test_an_idle_source_is_not_read_again(cli, etl_env):
    """Two extracts with nothing written to the source between: the second reads no row.
    (Here the warehouse shares the server, so xmax moves all the same: the case of an xmax
    that did not move is test_extract_windows's.)"""
    cli("extract")
    output = cli("extract").output
    assert not _warnings(output, "table_read_whole")
    assert sum(_extracted_rows(output).values()) == 0
    assert len(_manifest_files(etl_env)) == 1


@pytest.mark.parametrize(
    ("enum", "old", "new", "dim", "column"),
    [
        ("PaymentTypeName", "SALES_RECEIPT", "SALES_RECEIPT_X", "dim_payment_type",
         "payment_type_name"),
        ("TransactionType", "SALE", "SALE_X", "dim_transaction", "transaction_type"),
    ],
)  # fmt: skip
def test_an_enum_label_renamed_at_the_source_reaches_the_dimension(
    enum, old, new, dim, column, cli, etl_env
):
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    before = query(wh, f'SELECT count(*) FROM "{dim}" WHERE "{column}" = $1', [old])[0][0]
    assert before > 0
    query(src, f"ALTER TYPE \"{enum}\" RENAME VALUE '{old}' TO '{new}'")

    output = cli("run-all").output
    [warning] = _warnings(output, "source_enum_changed")
    assert warning["enum"] == enum and f"renamed {old} -> {new}" in warning["message"]
    assert query(wh, f'SELECT count(*) FROM "{dim}" WHERE "{column}" = $1', [old]) == [(0,)]
    assert query(wh, f'SELECT count(*) FROM "{dim}" WHERE "{column}" = $1', [new]) == [(before,)]
    assert json.loads(cli("verify", "--json").stdout)["ok"]

    # Recorded: the next run reads nothing whole again.
    output = cli("run-all").output
    assert not _warnings(output, "source_enum_changed")


def test_a_batch_extracted_again_keeps_its_identity_labels_and_place_in_the_chain(cli, etl_env):
    src = etl_env["AINSDALE_SOURCE_URL"]
    cli("extract")
    query(src, "UPDATE staff SET first_name = 'Again', last_updated = localtimestamp(3) "
               "WHERE staff_id = 1")  # fmt: skip
    cli("extract")
    first, second = _manifest_files(etl_env)
    before = json.loads(second.read_text())
    cli("extract", "--batch-id", before["batch_id"])
    after = json.loads(second.read_text())
    assert (
        after["tables"]["staff"]["rows"] == 1
        and after["tables"]["staff"]["key"] != (before["tables"]["staff"]["key"])
    )
    assert after["source"] == before["source"] and after["source"]["timeline"] is not None
    assert after["enums"] == before["enums"] and after["follows"] == before["follows"]
    assert before["follows"] == json.loads(first.read_text())["batch_id"]
