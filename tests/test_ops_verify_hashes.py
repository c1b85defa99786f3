"""verify's row hashes: PostgreSQL and polars compute them bit for bit alike, and they see
what they must (tests/test_ops_verify*.py compare whole pipelines' tables with them)."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

import adbc_driver_postgresql.dbapi as adbc
import polars as pl

from ainsdale_etl.core.registry import BOOL, DATE, INT, MONEY, TEXT, TIME
from ainsdale_etl.ops.verify_hashes import lanes_frame, lanes_sql, row_frame, row_sql

TYPES = [("i", INT), ("d", DATE), ("t", TIME), ("m", MONEY), ("b", BOOL), ("s", TEXT)]
ROWS = [
    (1, date(2024, 2, 29), time(0, 0), Decimal("0.00"), True, "Pound Sterling"),
    (-2147483648, date(1900, 1, 1), time(23, 59, 59, 999999), Decimal("-99999999.99"), False, ""),
    (2147483647, date(9999, 12, 31), time(12, 0, 0, 1000), Decimal("99999999.99"), None, "Zürich 東京 'q'"),
    (None, None, None, None, None, None),
]  # fmt: skip
SCHEMA = {
    "i": pl.Int32,
    "d": pl.Date,
    "t": pl.Time,
    "m": pl.Decimal(10, 2),
    "b": pl.Boolean,
    "s": pl.String,
}


def in_polars(rows):
    frame = pl.DataFrame(rows, schema=SCHEMA, orient="row")
    return frame.select(*lanes_frame(row_frame(TYPES))).rows()


def in_postgres(url, rows):
    casts = ["integer", "date", "time", "numeric(10,2)", "boolean", "varchar"]
    values = ", ".join(
        "(" + ", ".join(f"${i * 6 + j + 1}::text::{c}" for j, c in enumerate(casts)) + f", {i})"
        for i in range(len(rows))
    )
    h0, h1 = lanes_sql("r")
    row = row_sql([(f"v.{name}", sql_type) for name, sql_type in TYPES])
    sql = (f"SELECT {h0}, {h1} FROM (SELECT {row} AS r, ord FROM (VALUES {values}) "
           f"AS v(i, d, t, m, b, s, ord)) x ORDER BY ord")  # fmt: skip
    params = [None if v is None else _text(v) for r in rows for v in r]
    with adbc.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return [tuple(int(x) for x in r) for r in cur.fetchall()]


def _text(value):
    return {True: "t", False: "f"}.get(value, str(value)) if isinstance(value, bool) else str(value)


def test_postgres_and_polars_hash_every_type_alike_including_nulls_and_extremes(pg_admin_url):
    assert in_polars(ROWS) == in_postgres(pg_admin_url, ROWS)


def test_one_changed_value_or_two_rows_trading_a_value_change_the_sums():
    base = in_polars(ROWS[:2])
    for column in range(6):
        changed = [list(r) for r in ROWS[:2]]
        changed[0][column] = ROWS[2][column]
        assert in_polars(changed)[0] != base[0], column
    traded = [list(r) for r in ROWS[:2]]
    traded[0][5], traded[1][5] = traded[1][5], traded[0][5]
    assert [sum(h) for h in zip(*in_polars(traded), strict=True)] != [
        sum(h) for h in zip(*base, strict=True)
    ]


def test_hashtext_in_python_is_the_server_s(pg_admin_url):
    import random

    from ainsdale_etl.ops.verify_hashtext import hashtext, hashtext_many

    rng = random.Random(7)
    words = ["", "a", "SALE", "PURCHASE", "x" * 11, "y" * 12, "z" * 13, "Zürich 東京"]
    words += [
        "".join(rng.choice("abé東 XY'\n") for _ in range(rng.randint(0, 40))) for _ in range(200)
    ]
    with adbc.connect(pg_admin_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT hashtext(w) FROM unnest($1::text[]) WITH ORDINALITY AS u(w, o) ORDER BY o",
            [words],
        )
        found = [r[0] for r in cur.fetchall()]
    assert found == [hashtext(w) for w in words] == hashtext_many(words).tolist()
