"""The id sets the key check keeps: parsed from objects, sorted, and grown by each batch."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from ainsdale_etl.core.registry import SOURCE_TABLES
from ainsdale_etl.extract import deletions
from ainsdale_etl.extract.deletions import (
    decode_ids,
    encode_ids,
    ids_in_csv,
    missing_from,
    sorted_ids,
    with_new_ids,
)

ids = st.lists(st.integers(min_value=1, max_value=10_000), unique=True, max_size=300)


@given(ids)
def test_sorted_ids_orders_any_ids_and_keeps_sorted_ones(values):
    assert sorted_ids(np.array(values, dtype=np.int64)).tolist() == sorted(values)


@given(ids, st.lists(st.integers(min_value=1, max_value=10_000), max_size=100))
def test_the_ids_delivered_are_the_sorted_union_of_the_known_and_the_extracted(known, extracted):
    known_ids = np.array(sorted(known), dtype=np.int64)
    union = with_new_ids(known_ids, np.array(extracted, dtype=np.int64))
    assert union.tolist() == sorted(set(known) | set(extracted))
    if set(extracted) <= set(known):
        assert union is known_ids  # nothing new: no copy


@given(ids, ids)
def test_stored_ids_decode_to_themselves_and_the_missing_are_the_difference(known, present):
    stored, now = np.array(sorted(known), dtype=np.int64), np.array(sorted(present), np.int64)
    assert decode_ids(encode_ids(stored)).tolist() == sorted(known)
    assert missing_from(stored, now) == sorted(set(known) - set(present))


def test_ids_are_read_from_an_object_block_by_block_even_where_a_value_spans_two(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(deletions, "_CSV_BLOCK_BYTES", 256)  # the header fits
    lines = ["design_id,design_name,file_location,file_name,created_at,last_updated"]
    for design in range(1, 41):
        name = f'"a name\nover two lines, {"x" * (design % 7)}"'
        lines.append(f"{design * 3},{name},/x,f.json,2024-01-01 00:00:00,2024-01-01 00:00:00")
    path = tmp_path / "design.csv"
    path.write_text("\n".join(lines) + "\n")
    assert ids_in_csv(path, SOURCE_TABLES["design"]).tolist() == [d * 3 for d in range(1, 41)]
    header_only = tmp_path / "empty.csv"
    header_only.write_text(lines[0] + "\n")
    assert ids_in_csv(header_only, SOURCE_TABLES["design"]).tolist() == []
