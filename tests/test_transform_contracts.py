"""Data contracts: an extracted CSV checked against the source schema and typed exactly."""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ainsdale_etl.core.errors import BadInputError
from ainsdale_etl.core.registry import SOURCE_TABLES
from ainsdale_etl.transform.contracts import parse_source_csv, read_source_csv, record_blocks

PAYMENT = SOURCE_TABLES["payment"]
ADDRESS = SOURCE_TABLES["address"]
WHERE = "s3://ingest/data/2024/03/04/20240304T101112000000Z/payment.csv"

GOOD_PAYMENT = {
    "payment_id": "21",
    "created_at": "2024-03-04 10:11:12.345",
    "last_updated": "2024-03-06 23:59:59.999",
    "transaction_id": "20",
    "counterparty_id": "10",
    "payment_amount": "146.58",
    "currency_id": "1",
    "payment_type_id": "3",
    "paid": "true",
    "payment_date": "2024-03-12",
    "company_ac_number": "67305075",
    "counterparty_ac_number": "31758074",
}


def payment_csv(*overrides: dict[str, str]) -> bytes:
    """A payment CSV with one row per override of a valid row."""
    lines = [",".join(PAYMENT.column_names)]
    lines += [",".join({**GOOD_PAYMENT, **o}[c] for c in PAYMENT.column_names) for o in overrides]
    return ("\n".join(lines) + "\n").encode()


def parse_payment(data: bytes, warn=lambda _: None) -> pl.DataFrame:
    return parse_source_csv(data, PAYMENT, where=WHERE, warn=warn)


def test_a_valid_csv_is_typed_as_the_source_declares():
    frame = parse_payment(payment_csv({}))
    assert frame.schema == pl.Schema(
        {
            "payment_id": pl.Int32,
            "created_at": pl.Datetime("ms"),
            "last_updated": pl.Datetime("ms"),
            "transaction_id": pl.Int32,
            "counterparty_id": pl.Int32,
            "payment_amount": pl.Decimal(10, 2),
            "currency_id": pl.Int32,
            "payment_type_id": pl.Int32,
            "paid": pl.Boolean,
            "payment_date": pl.String,
            "company_ac_number": pl.Int32,
            "counterparty_ac_number": pl.Int32,
        }
    )
    assert frame.row(0, named=True) == {
        "payment_id": 21,
        "created_at": datetime(2024, 3, 4, 10, 11, 12, 345000),
        "last_updated": datetime(2024, 3, 6, 23, 59, 59, 999000),
        "transaction_id": 20,
        "counterparty_id": 10,
        "payment_amount": Decimal("146.58"),
        "currency_id": 1,
        "payment_type_id": 3,
        "paid": True,
        "payment_date": "2024-03-12",
        "company_ac_number": 67305075,
        "counterparty_ac_number": 31758074,
    }


def test_timestamps_without_a_fraction_are_whole_seconds():
    frame = parse_payment(payment_csv({"created_at": "2024-03-04 10:11:12"}))
    assert frame["created_at"].to_list() == [datetime(2024, 3, 4, 10, 11, 12)]


def test_timestamps_as_postgres_prints_them_keep_their_milliseconds():
    # COPY drops trailing zeros of the fraction: .3 is 300 ms, .32 is 320 ms.
    frame = parse_payment(payment_csv({"created_at": "2024-03-04 10:11:12.3"},
                                      {"created_at": "2024-03-04 10:11:12.32"}))  # fmt: skip
    assert frame["created_at"].to_list() == [
        datetime(2024, 3, 4, 10, 11, 12, 300000),
        datetime(2024, 3, 4, 10, 11, 12, 320000),
    ]


@pytest.mark.parametrize(("text", "value"), [("true", True), ("false", False), ("t", True),
                                             ("f", False), ("TRUE", True)])  # fmt: skip
def test_booleans_in_the_spellings_postgres_and_polars_write(text, value):
    assert parse_payment(payment_csv({"paid": text}))["paid"].to_list() == [value]


def test_money_keeps_its_exact_cents():
    frame = parse_payment(payment_csv({"payment_amount": "99999999.99"}, {"payment_amount": "0.1"}))
    assert frame["payment_amount"].to_list() == [Decimal("99999999.99"), Decimal("0.10")]


def test_an_empty_string_is_not_null():
    header = ",".join(ADDRESS.column_names)
    row = '1,6826 Herzog Via,"",,Leeds,28441,UK,1803 637401,2024-03-04 10:11:12.345,2024-03-04 10:11:12.345'
    frame = parse_source_csv(f"{header}\n{row}\n".encode(), ADDRESS, where="address.csv")
    assert frame["address_line_2"].to_list() == [""]
    assert frame["district"].to_list() == [None]


def test_an_enum_is_kept_as_its_text():
    table = SOURCE_TABLES["payment_type"]
    data = b"payment_type_id,payment_type_name,created_at,last_updated\n"
    data += b"2,SALES_REFUND,2022-11-03 14:20:49.962,2022-11-03 14:20:49.962\n"
    frame = parse_source_csv(data, table, where="payment_type.csv")
    assert frame.schema["payment_type_name"] == pl.String
    assert frame["payment_type_name"].to_list() == ["SALES_REFUND"]


def test_columns_come_back_in_the_source_order_whatever_the_header_order():
    names = list(reversed(PAYMENT.column_names))
    data = ",".join(names) + "\n" + ",".join(GOOD_PAYMENT[c] for c in names) + "\n"
    frame = parse_payment(data.encode())
    assert frame.columns == PAYMENT.column_names
    assert frame["payment_id"].to_list() == [21]


def test_a_header_only_file_is_an_empty_typed_frame():
    frame = parse_payment(payment_csv())
    assert frame.height == 0
    assert frame.schema["payment_amount"] == pl.Decimal(10, 2)


def test_a_missing_column_names_the_object_and_the_column():
    names = [c for c in PAYMENT.column_names if c != "paid"]
    data = ",".join(names) + "\n" + ",".join(GOOD_PAYMENT[c] for c in names) + "\n"
    with pytest.raises(BadInputError) as err:
        parse_payment(data.encode())
    message = str(err.value)
    assert message.startswith(f"{WHERE}: column paid missing from the header")


def test_an_extra_column_is_reported_and_dropped():
    names = [*PAYMENT.column_names, "note"]
    data = ",".join(names) + "\n" + ",".join({**GOOD_PAYMENT, "note": "hi"}[c] for c in names)
    warnings: list[str] = []
    frame = parse_payment(data.encode(), warn=warnings.append)
    assert len(warnings) == 1
    assert "note" in warnings[0]
    assert warnings[0].startswith(WHERE)
    assert "note" not in frame.columns
    assert frame.columns == PAYMENT.column_names


def test_a_valid_file_warns_about_nothing():
    warnings: list[str] = []
    parse_payment(payment_csv({}), warn=warnings.append)
    assert warnings == []


@pytest.mark.parametrize(
    ("column", "value", "kind"),
    [
        ("currency_id", "1.5", "integer"),
        ("currency_id", "one", "integer"),
        ("company_ac_number", "2147483648", "integer"),  # beyond integer
        ("created_at", "2024-13-01 00:00:00.000", "timestamp"),
        ("created_at", "2024-03-04T10:11:12.345", "timestamp"),
        ("last_updated", "2024-03-04", "timestamp"),
        ("last_updated", "2024-03-04 10:11:12.3456", "timestamp"),  # finer than timestamp(3)
        ("payment_amount", "12.5O", "amount with at most 2 decimals"),
        ("payment_amount", "123456789.00", "amount with at most 2 decimals"),
        ("paid", "yes", "boolean"),
        ("payment_date", "2024-02-30", "YYYY-MM-DD date"),
        ("payment_date", "4 March", "YYYY-MM-DD date"),
    ],
)
def test_a_value_of_the_wrong_type_names_column_row_and_value(column, value, kind):
    data = payment_csv({}, {"payment_id": "22", column: value})
    with pytest.raises(BadInputError) as err:
        parse_payment(data)
    assert str(err.value) == (
        f"{WHERE}: column {column} of row payment_id=22 holds {value!r}, "
        f"which is not a valid {kind}"
    )


def test_a_money_value_with_more_than_two_decimals_is_an_error():
    with pytest.raises(BadInputError, match=r"payment_amount of row payment_id=21 holds '12.345'"):
        parse_payment(payment_csv({"payment_amount": "12.345"}))


def test_null_in_a_not_null_column_names_the_row():
    with pytest.raises(BadInputError) as err:
        parse_payment(payment_csv({}, {"payment_id": "22", "payment_date": ""}))
    assert str(err.value) == (
        f"{WHERE}: column payment_date is NULL in row payment_id=22, "
        "but the source declares it NOT NULL"
    )


def test_null_in_a_nullable_column_is_fine():
    table = SOURCE_TABLES["transaction"]
    data = b"transaction_id,transaction_type,sales_order_id,purchase_order_id,created_at,last_updated\n"
    data += b"20,SALE,7,,2024-03-04 10:11:12.345,2024-03-04 10:11:12.345\n"
    frame = parse_source_csv(data, table, where="transaction.csv")
    assert frame.select("sales_order_id", "purchase_order_id").rows() == [(7, None)]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n",
        payment_csv({}).replace(b"146.58", b"\xff\xfe"),  # not UTF-8
        payment_csv({}).replace(b",true,", b',"true,'),  # an unterminated quote
        payment_csv({}).rstrip(b"\n") + b",1,2,3\n",  # more fields than the header
    ],
    ids=["empty", "blank-line", "not-utf8", "open-quote", "ragged"],
)
def test_an_unreadable_file_is_bad_input(data):
    with pytest.raises(BadInputError, match=rf"^{WHERE}: not a readable CSV file \("):
        parse_payment(data)


def test_garbled_bytes_that_look_compressed_are_bad_input():
    with pytest.raises(BadInputError, match="not a readable CSV"):
        parse_payment(b"\x1f\x8b\x08\x00" + bytes(range(256)))


# --- large objects, read a block at a time --------------------------------------------------

TRICKY = b'address_id,address_line_1\n1,"12 ""The"" Road\nFlat 2"\n2,plain\n3,"a,b"\n'


@pytest.mark.parametrize("size", range(1, len(TRICKY) + 1))
def test_blocks_end_between_records_never_inside_a_quoted_newline(size):
    blocks = list(record_blocks(io.BytesIO(TRICKY), size))
    assert b"".join(blocks) == TRICKY
    for block in blocks:
        assert block.endswith(b"\n") and block.count(b'"') % 2 == 0


def address_csv(lines: list[str | None]) -> bytes:
    frame = pl.DataFrame(
        {c: [GOOD_ADDRESS[c]] * len(lines) for c in ADDRESS.column_names}
    ).with_columns(
        pl.Series("address_id", [str(i) for i in range(len(lines))]),
        pl.Series("address_line_2", lines, dtype=pl.String),
    )
    return frame.write_csv().encode()


GOOD_ADDRESS = {
    "address_id": "1", "address_line_1": "6826 Herzog Via", "address_line_2": "", "district": "",
    "city": "Leeds", "postal_code": "28441", "country": "UK", "phone": "1803 637401",
    "created_at": "2024-03-04 10:11:12.345", "last_updated": "2024-03-04 10:11:12.345",
}  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(st.one_of(st.none(), st.text(alphabet='ab,"\n ', max_size=12)), max_size=30),
    block=st.integers(min_value=1, max_value=400),
)
def test_reading_in_blocks_gives_exactly_the_rows_of_reading_whole(tmp_path_factory, lines, block):
    data = address_csv(lines)
    path = tmp_path_factory.mktemp("csv") / "address.csv"
    path.write_bytes(data)
    chunks = list(read_source_csv(path, ADDRESS, where="address.csv", block_bytes=block))
    whole = parse_source_csv(data, ADDRESS, where="address.csv")
    assert pl.concat(chunks).equals(whole)
    assert whole["address_line_2"].to_list() == lines


def test_a_bad_value_in_a_later_block_is_named_with_its_row(tmp_path):
    rows = [{"payment_id": str(i)} for i in range(50)] + [{"payment_id": "99", "paid": "maybe"}]
    path = tmp_path / "payment.csv"
    path.write_bytes(payment_csv(*rows))
    with pytest.raises(BadInputError, match="column paid of row payment_id=99 holds 'maybe'"):
        list(read_source_csv(path, PAYMENT, where=WHERE, block_bytes=256))
