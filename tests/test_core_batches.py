"""Batches: ids, the object layout, and manifests as commit markers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from ainsdale_etl.adapters.storage.local import LocalStorage
from ainsdale_etl.core.batches import (
    MAX_MANIFEST_BYTES,
    Manifest,
    TableEntry,
    batch_prefix,
    check_object_key,
    committed_batches,
    fetch_checked,
    manifest_key,
    new_batch_id,
    object_key,
    parse_batch_id,
    read_manifest,
    select_batches,
    write_manifest,
)
from ainsdale_etl.core.errors import BadInputError, ConfigError
from ainsdale_etl.core.storage import ObjectNotFoundError

WHEN = datetime(2024, 3, 4, 10, 11, 12, 345678, tzinfo=UTC)
BATCH = "20240304T101112345678Z"


@pytest.fixture
def bucket(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "bucket")


def manifest(batch_id: str = BATCH, **tables: TableEntry) -> Manifest:
    return Manifest(batch_id=batch_id, stage="extract", created_at="2024-03-04T10:11:12Z",
                    tables=tables)  # fmt: skip


# --- ids -----------------------------------------------------------------------------------


def test_new_batch_id_is_the_utc_time_to_the_microsecond():
    assert new_batch_id(WHEN) == BATCH


def test_new_batch_id_converts_to_utc():
    paris = timezone(timedelta(hours=1))
    assert new_batch_id(datetime(2024, 3, 4, 11, 11, 12, 345678, tzinfo=paris)) == BATCH


def test_new_batch_id_defaults_to_now():
    before = datetime.now(UTC)
    batch_id = new_batch_id()
    assert re.fullmatch(r"\d{8}T\d{12}Z", batch_id)
    assert before <= parse_batch_id(batch_id) <= datetime.now(UTC)


def test_a_new_batch_id_sorts_after_the_last_committed_one_even_if_the_clock_is_behind():
    later = new_batch_id(WHEN + timedelta(hours=1))
    assert new_batch_id(WHEN, after=later) == new_batch_id(
        WHEN + timedelta(hours=1, microseconds=1)
    )
    assert new_batch_id(WHEN, after=new_batch_id(WHEN - timedelta(days=1))) == BATCH


def test_batch_ids_sort_as_their_times_do():
    times = [WHEN + timedelta(microseconds=1), WHEN + timedelta(days=40), WHEN,
             WHEN - timedelta(hours=11), WHEN + timedelta(seconds=0.5)]  # fmt: skip
    ids = [new_batch_id(t) for t in times]
    assert sorted(ids) == [new_batch_id(t) for t in sorted(times)]


def test_parse_batch_id_round_trips():
    assert parse_batch_id(BATCH) == WHEN
    assert new_batch_id(parse_batch_id(BATCH)) == BATCH


@pytest.mark.parametrize(
    "garbage",
    ["", "latest", "2024-03-04", "20240304T101112Z", "20240304T101112345678", "x20240304T101112345678Z",
     "20240304T101112345678Z/../x"],
)  # fmt: skip
def test_parse_batch_id_rejects_garbage_as_a_usage_error(garbage):
    with pytest.raises(ConfigError, match="is not a batch id; batch ids look like"):
        parse_batch_id(garbage)


def test_parse_batch_id_rejects_an_impossible_date_as_a_usage_error():
    with pytest.raises(ConfigError):
        parse_batch_id("20241301T000000000000Z")


# --- layout --------------------------------------------------------------------------------


def test_batch_prefix_is_dated_by_the_batch():
    assert batch_prefix(BATCH) == f"data/2024/03/04/{BATCH}/"


def test_object_key():
    assert (
        object_key(BATCH, "sales_order", "csv")
        == f"data/2024/03/04/{BATCH}/{BATCH}_sales_order.csv"
    )
    assert (
        object_key(BATCH, "dim_date", "parquet")
        == f"data/2024/03/04/{BATCH}/{BATCH}_dim_date.parquet"
    )


def test_manifest_key():
    assert manifest_key(BATCH) == f"data/2024/03/04/{BATCH}/{BATCH}_manifest.json"


def test_keys_of_a_malformed_id_are_refused():
    with pytest.raises(ConfigError):
        object_key("../../etc", "passwd", "csv")


# --- manifests -----------------------------------------------------------------------------


def test_a_manifest_round_trips_through_a_bucket(bucket):
    written = manifest(
        sales_order=TableEntry(key=object_key(BATCH, "sales_order", "csv"), rows=3, sha256="ab" * 32,
                               snapshot="900:905:901,903", in_flight=[901, 902, 903],
                               upper="2024-03-04 10:11:12.345", deleted=[4, 9]),
        address=TableEntry(),
    )  # fmt: skip
    write_manifest(bucket, written)
    assert bucket.exists(manifest_key(BATCH))
    read = read_manifest(bucket, BATCH)
    assert read == written
    assert read.total_rows == 3
    assert read.tables["sales_order"].in_flight == [901, 902, 903]
    assert read.tables["sales_order"].deleted == [4, 9]
    assert read.tables["address"].key is None


def test_a_manifest_of_an_older_release_listing_in_flight_xids_is_read(bucket):
    older = manifest(sales_order=TableEntry(snapshot="900:905:901", in_flight=[901, 902]))
    bucket.put_bytes(
        manifest_key(BATCH),
        older.model_dump_json(exclude={"tables": {"sales_order": {"in_flight_ranges"}}}).encode(),
    )
    entry = read_manifest(bucket, BATCH).tables["sales_order"]
    assert entry.in_flight == [901, 902] and entry.in_flight_ranges == []


def test_a_manifest_over_the_documented_size_is_refused_unread(bucket):
    huge = manifest(sales_order=TableEntry(snapshot="1:2:", in_flight=list(range(1_500_000))))
    raw = huge.model_dump_json(indent=2).encode()
    assert len(raw) > MAX_MANIFEST_BYTES
    bucket.put_bytes(manifest_key(BATCH), raw)
    with pytest.raises(BadInputError, match=f"^batch {BATCH}: manifest .* bytes, over the"):
        read_manifest(bucket, BATCH)


def test_reading_a_manifest_that_is_not_json_names_the_batch(bucket):
    bucket.put_bytes(manifest_key(BATCH), b"{not json")
    with pytest.raises(BadInputError) as err:
        read_manifest(bucket, BATCH)
    assert str(err.value).startswith(
        f"batch {BATCH}: manifest {manifest_key(BATCH)} in {bucket.uri}"
    )
    assert "is not valid" in str(err.value)


def test_reading_a_manifest_missing_a_field_names_the_batch(bucket):
    bucket.put_bytes(manifest_key(BATCH), b'{"batch_id": "x", "stage": "extract"}')
    with pytest.raises(BadInputError, match=f"^batch {BATCH}: manifest"):
        read_manifest(bucket, BATCH)


def test_reading_a_manifest_that_does_not_exist(bucket):
    with pytest.raises(ObjectNotFoundError, match=re.escape(manifest_key(BATCH))):
        read_manifest(bucket, BATCH)


# --- committed batches ---------------------------------------------------------------------


def test_committed_batches_lists_batches_with_a_manifest_oldest_first(bucket):
    later, earlier = "20240305T000000000001Z", "20240101T235959999999Z"
    for batch_id in (later, BATCH, earlier):
        bucket.put_bytes(object_key(batch_id, "sales_order", "csv"), b"x")
        write_manifest(bucket, manifest(batch_id))
    assert committed_batches(bucket) == [earlier, BATCH, later]


def test_committed_batches_ignores_objects_without_a_manifest(bucket):
    write_manifest(bucket, manifest(BATCH))
    uncommitted = "20240305T000000000000Z"
    bucket.put_bytes(object_key(uncommitted, "sales_order", "csv"), b"half a batch")
    assert committed_batches(bucket) == [BATCH]


def test_committed_batches_ignores_stray_files(bucket):
    write_manifest(bucket, manifest(BATCH))
    other = "20240305T000000000000Z"
    strays = [
        "data/README_manifest.json",  # not a batch id
        f"data/2024/03/04/{other}_manifest.json",  # not in its batch folder
        f"data/2024/03/06/{other}/{other}_manifest.json",  # in the wrong day's folder
        f"{other}_manifest.json",  # outside data/
        f"data/2024/03/05/{other}/{other}_manifest.json.bak",
    ]
    for key in strays:
        bucket.put_bytes(key, b"{}")
    assert committed_batches(bucket) == [BATCH]


def test_committed_batches_of_an_empty_or_missing_bucket(bucket):
    assert committed_batches(bucket) == []


def test_committed_batches_ignores_a_manifest_with_an_impossible_date(bucket):
    write_manifest(bucket, manifest(BATCH))
    bad = "20241301T000000000000Z"
    bucket.put_bytes(f"data/2024/13/01/{bad}/{bad}_manifest.json", b"{}")
    assert committed_batches(bucket) == [BATCH]


# --- selection -----------------------------------------------------------------------------

IDS = [
    "20240302T235959999999Z",
    "20240303T000000000000Z",
    "20240303T120000000000Z",
    "20240304T000000000000Z",
    "20240305T080000000000Z",
]


def test_select_all_when_nothing_is_asked():
    assert select_batches(IDS) == IDS


def test_select_one_batch_by_id():
    assert select_batches(IDS, batch_id=IDS[2]) == [IDS[2]]


def test_select_an_unknown_batch_id_is_empty():
    assert select_batches(IDS, batch_id="20990101T000000000000Z") == []


def test_select_a_malformed_batch_id_is_a_usage_error():
    with pytest.raises(ConfigError):
        select_batches(IDS, batch_id="20240303")


def test_select_since_a_date_includes_that_whole_day():
    assert select_batches(IDS, since="20240303") == IDS[1:]


def test_select_until_a_date_includes_that_whole_day():
    assert select_batches(IDS, until="20240303") == IDS[:3]


def test_select_one_day():
    assert select_batches(IDS, since="20240303", until="20240303") == IDS[1:3]


def test_select_since_and_until_full_ids_are_inclusive():
    assert select_batches(IDS, since=IDS[1], until=IDS[3]) == IDS[1:4]


def test_select_an_empty_window():
    assert select_batches(IDS, since="20240306") == []
    assert select_batches(IDS, since=IDS[3], until=IDS[2]) == []


# --- the objects a manifest may name ------------------------------------------------------

OTHER = "20240303T101112345678Z"  # an earlier batch


@pytest.mark.parametrize(
    "key",
    [
        object_key(BATCH, "design", "csv"),
        object_key(BATCH, "design", "20240305T000000000000Z.csv"),  # a rewrite's
        object_key(OTHER, "design", "ids"),  # an earlier key check's id set, pointed at again
    ],
)
def test_a_manifest_may_name_its_own_objects_and_an_earlier_id_set(key):
    check_object_key(BATCH, key, "design")


@pytest.mark.parametrize(
    ("key", "words"),
    [
        (object_key(OTHER, "design", "csv"), f"belongs to batch {OTHER}"),
        (object_key(BATCH, "staff", "csv"), "is named for table staff"),
        (f"data/2024/03/04/{BATCH}/../../../../../etc/{BATCH}_design.csv", "not a batch object"),
        ("../design.csv", "not a batch object"),
        (f"data/2024/03/05/{BATCH}/{BATCH}_design.csv", "not a batch object"),  # wrong day
    ],
)
def test_a_manifest_naming_any_other_key_is_bad_input_naming_batch_table_and_key(key, words):
    with pytest.raises(BadInputError) as caught:
        check_object_key(BATCH, key, "design")
    message = str(caught.value)
    assert message.startswith(f"batch {BATCH}: table design: object key {key!r}")
    assert words in message


def test_an_object_without_a_checksum_is_not_fetched(bucket, tmp_path):
    key = object_key(BATCH, "design", "csv")
    bucket.put_bytes(key, b"design_id\n1\n")
    with pytest.raises(BadInputError, match="no checksum"):
        fetch_checked(bucket, BATCH, TableEntry(key=key, rows=1), tmp_path)
    with pytest.raises(BadInputError, match="not a batch object"):
        fetch_checked(bucket, BATCH, TableEntry(key="../x", sha256="0" * 64), tmp_path)


def test_a_mass_delete_keeps_the_manifest_small_and_every_id():
    """A TRUNCATE of a two-million-row table, listed inline, would take the manifest past
    the size every step refuses: the ids are packed instead, and read back whole."""
    from ainsdale_etl.core.batches import MAX_MANIFEST_BYTES, Manifest, TableEntry

    ids = [*range(1, 2_000_001), *range(3_000_000, 3_700_000, 7)]
    manifest = Manifest(
        batch_id="20261207T080000000000Z",
        stage="extract",
        created_at="2026-12-07T08:00:00+00:00",
        tables={"payment": TableEntry(deleted=ids), "design": TableEntry(deleted=[4, 9])},
    )
    text = manifest.model_dump_json(indent=2)
    assert len(text) < MAX_MANIFEST_BYTES // 100
    assert '"deleted": [\n        4,\n        9\n      ]' in text  # a few stay readable
    again = Manifest.model_validate_json(text)
    assert again.tables["payment"].deleted == ids
    assert again.tables["design"].deleted == [4, 9]
