"""The report: analysis queries against a small hand-written warehouse with known answers,
the charts and HTML page end to end, and a real browser rendering the page."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pydantic import SecretStr

from ainsdale_etl.adapters.postgres import Database
from ainsdale_etl.core.errors import ConfigError
from ainsdale_etl.load.migrate import migrate_warehouse
from ainsdale_etl.ops.report.charts import CHART_NAMES
from ainsdale_etl.ops.report.data import CurrencyHeadline, ReportResult
from ainsdale_etl.ops.report.datasets import DATASETS, json_rows, partial_months
from ainsdale_etl.ops.report.publish import latest_state, latest_url, publish_report
from ainsdale_etl.ops.report.queries import TOP_N, Period, latest_batch, run_query
from ainsdale_etl.ops.report.since import parse_state, since_previous
from ainsdale_etl.ops.report.write import report_batch, write_report
from helpers.databases import query
from helpers.processes import cli_env, run
from helpers.stand_ins import mocked_aws

D = Decimal
# Debian's chromium here and in .ci/run; a CI runner may name another (AINSDALE_TEST_CHROMIUM).
CHROMIUM = os.environ.get("AINSDALE_TEST_CHROMIUM", "/usr/bin/chromium")

# Every date the facts reference must be in dim_date (foreign keys).
_CALENDAR = """
INSERT INTO dim_date
SELECT d, extract(year FROM d), extract(month FROM d), extract(day FROM d),
       extract(isodow FROM d), trim(to_char(d, 'Day')), trim(to_char(d, 'Month')),
       extract(quarter FROM d)
FROM generate_series(date '2024-01-01', date '2024-03-31', interval '1 day') AS d
"""

# Known answers (latest version of each order; order 1 was revised from 10 to 12 units):
#   GBP: orders 1 (12 x 2.50 = 30.00), 2 (3 x 100.00 = 300.00), 3 (1 x 0.01) -> 330.01
#   USD: orders 4 (4 x 1234.56 = 4938.24), 5 (2 x 0.10 = 0.20)               -> 4938.44
_ROWS = [
    "INSERT INTO dim_currency VALUES (1, 'GBP', 'Pound Sterling'), (2, 'USD', 'US Dollar')",
    """INSERT INTO dim_staff VALUES
       (1, 'Ann', 'Lee', 'Sales', 'Leeds', 'ann@example.com'),
       (2, 'Bob', 'Ray', 'Sales', 'Leeds', 'bob@example.com'),
       (3, 'Cat', 'Fox', 'Purchasing', NULL, 'cat@example.com')""",
    """INSERT INTO dim_location VALUES
       (1, '1 High St', NULL, NULL, 'London', 'N1', 'United Kingdom', '0100'),
       (2, '2 Low St', NULL, NULL, 'Leeds', 'LS1', 'United Kingdom', '0200'),
       (3, '3 Rue Haute', NULL, NULL, 'Paris', '75001', 'France', '0300')""",
    """INSERT INTO dim_design VALUES (1, 'Wooden', '/d', 'w.json'), (2, 'Steel', '/d', 's.json'),
       (3, 'Granite <b>&</b>', '/d', 'g.json')""",
    """INSERT INTO dim_counterparty VALUES
       (1, 'Acme Ltd', '1 High St', NULL, NULL, 'London', 'N1', 'United Kingdom', '0100'),
       (2, 'Bolt plc', '3 Rue Haute', NULL, NULL, 'Paris', '75001', 'France', '0300')""",
    "INSERT INTO dim_payment_type VALUES (1, 'SALES_RECEIPT'), (2, 'PURCHASE_PAYMENT')",
    """INSERT INTO dim_transaction VALUES (1, 'SALE', 1, NULL), (2, 'SALE', 2, NULL),
       (3, 'SALE', 4, NULL), (4, 'PURCHASE', NULL, 1)""",
    # (id, created d/t, last_updated d/t, staff, counterparty, units, price, currency, design,
    #  agreed payment, agreed delivery, delivery location)
    """INSERT INTO fact_sales_order (sales_order_id, created_date, created_time,
         last_updated_date, last_updated_time, sales_staff_id, counterparty_id, units_sold,
         unit_price, currency_id, design_id, agreed_payment_date, agreed_delivery_date,
         agreed_delivery_location_id) VALUES
       (1, '2024-01-10', '09:00', '2024-01-10', '23:00', 1, 1, 10, 2.50, 1, 1, '2024-01-20', '2024-01-15', 1),
       (1, '2024-01-10', '09:00', '2024-01-11', '01:00', 1, 1, 12, 2.50, 1, 1, '2024-01-20', '2024-01-15', 1),
       (2, '2024-01-20', '10:00', '2024-01-20', '10:00', 2, 2, 3, 100.00, 1, 2, '2024-02-01', '2024-01-25', 2),
       (3, '2024-02-05', '11:00', '2024-02-05', '11:00', 1, 1, 1, 0.01, 1, 1, '2024-02-10', '2024-02-08', 3),
       (4, '2024-02-14', '12:00', '2024-02-14', '12:00', 2, 2, 4, 1234.56, 2, 3, '2024-03-01', '2024-02-20', 3),
       (5, '2024-03-01', '13:00', '2024-03-01', '13:00', 3, 1, 2, 0.10, 2, 1, '2024-03-10', '2024-03-05', 1)
    """,
    # Purchase order 1 was revised from 5 to 6 items: GBP 60.00 in January, USD 99.00 in February.
    """INSERT INTO fact_purchase_order (purchase_order_id, created_date, created_time,
         last_updated_date, last_updated_time, staff_id, counterparty_id, item_code,
         item_quantity, item_unit_price, currency_id, agreed_delivery_date, agreed_payment_date,
         agreed_delivery_location_id) VALUES
       (1, '2024-01-15', '09:00', '2024-01-15', '09:00', 3, 2, 'AB1', 5, 10.00, 1, '2024-01-20', '2024-01-30', 2),
       (1, '2024-01-15', '09:00', '2024-01-16', '09:00', 3, 2, 'AB1', 6, 10.00, 1, '2024-01-20', '2024-01-30', 2),
       (2, '2024-02-20', '09:00', '2024-02-20', '09:00', 3, 1, 'CD2', 100, 0.99, 2, '2024-02-25', '2024-03-01', 1)
    """,
    # Receipts: payment 1 was unpaid, then paid: GBP paid 30.00, outstanding 300.00; USD paid
    # 4938.24. Payment 4 is to a supplier (purchase order 1): GBP 60.00 outstanding.
    """INSERT INTO fact_payment (payment_id, created_date, created_time, last_updated_date,
         last_updated_time, transaction_id, counterparty_id, payment_amount, currency_id,
         payment_type_id, paid, payment_date) VALUES
       (1, '2024-01-12', '09:00', '2024-01-12', '09:00', 1, 1, 30.00, 1, 1, false, '2024-01-20'),
       (1, '2024-01-12', '09:00', '2024-01-20', '09:00', 1, 1, 30.00, 1, 1, true, '2024-01-20'),
       (2, '2024-01-25', '09:00', '2024-01-25', '09:00', 2, 2, 300.00, 1, 1, false, '2024-02-01'),
       (3, '2024-02-15', '09:00', '2024-02-15', '09:00', 3, 2, 4938.24, 2, 1, true, '2024-03-01'),
       (4, '2024-01-16', '09:00', '2024-01-16', '09:00', 4, 2, 60.00, 1, 2, false, '2024-01-30')
    """,
    # The current version of each fact, as a load records it (the <fact>_current views the
    # report reads): the one updated last.
    *(
        f"""INSERT INTO ainsdale_meta.row_version (star_table, id, batch_id, record_id)
            SELECT DISTINCT ON ({key}) '{fact}', {key}, '20240302T090000Z', {record}
            FROM {fact} ORDER BY {key}, last_updated_date DESC, last_updated_time DESC"""
        for fact, key, record in (
            ("fact_sales_order", "sales_order_id", "sales_record_id"),
            ("fact_purchase_order", "purchase_order_id", "purchase_record_id"),
            ("fact_payment", "payment_id", "payment_record_id"),
        )
    ),
    """INSERT INTO ainsdale_meta.loaded_batch (batch_id, loaded_at, rows) VALUES
       ('20240301T090000Z', '2024-03-01 09:00+00', '{}'),
       ('20240302T090000Z', '2024-03-02 09:30+00', '{}')""",
]
LATEST_BATCH = "20240302T090000Z"


@pytest.fixture(scope="module")
def report_database(new_database_url: Callable[[str], str]) -> Callable[[], Database]:
    """A factory of throwaway databases (the shared ones of conftest, dropped at session end)."""
    return lambda: Database("warehouse", SecretStr(new_database_url("report_test")))


@pytest.fixture(scope="module")
def report_warehouse(report_database: Callable[[], Database]) -> Database:
    db = report_database()
    migrate_warehouse(db)
    with db.connect() as conn, conn.cursor() as cur:
        for statement in [_CALENDAR, *_ROWS]:
            cur.execute(statement)
        conn.commit()
    return db


@pytest.fixture(scope="module")
def report_empty_warehouse(report_database: Callable[[], Database]) -> Database:
    db = report_database()
    migrate_warehouse(db)
    return db


@pytest.fixture(scope="module")
def report_result(
    report_warehouse: Database, tmp_path_factory: pytest.TempPathFactory
) -> ReportResult:
    return write_report(report_warehouse, tmp_path_factory.mktemp("report") / "new" / "dir")


@pytest.fixture
def report_out(report_result: ReportResult) -> Path:
    return report_result.index.parent


def _query(db: Database, name: str, period: Period | None = None) -> list[dict[str, object]]:
    with db.connect() as conn, conn.cursor() as cur:
        return run_query(cur, name, period or Period()).to_dicts()


# -- the queries ---------------------------------------------------------------------------


def test_headline_counts_only_the_latest_version_of_each_order(report_warehouse: Database) -> None:
    assert _query(report_warehouse, "headline") == [
        {"currency_code": "GBP", "orders": 3, "units": 16, "value": D("330.01"),
         "average_order_value": D("110.00")},
        {"currency_code": "USD", "orders": 2, "units": 6, "value": D("4938.44"),
         "average_order_value": D("2469.22")},
    ]  # fmt: skip


def test_money_comes_back_as_exact_decimals(report_warehouse: Database) -> None:
    with report_warehouse.connect() as conn, conn.cursor() as cur:
        frame = run_query(cur, "headline", Period())
    assert frame.schema["value"] == pl.Decimal(38, 2)


def test_sales_by_month_per_currency(report_warehouse: Database) -> None:
    assert _query(report_warehouse, "sales_by_month") == [
        {"month": date(2024, 1, 1), "currency_code": "GBP", "orders": 2, "units": 15, "value": D("330.00")},
        {"month": date(2024, 2, 1), "currency_code": "GBP", "orders": 1, "units": 1, "value": D("0.01")},
        {"month": date(2024, 2, 1), "currency_code": "USD", "orders": 1, "units": 4, "value": D("4938.24")},
        {"month": date(2024, 3, 1), "currency_code": "USD", "orders": 1, "units": 2, "value": D("0.20")},
    ]  # fmt: skip


def test_sales_span_is_the_first_and_last_order_day(report_warehouse: Database) -> None:
    assert _query(report_warehouse, "sales_span") == [
        {"first_day": date(2024, 1, 10), "last_day": date(2024, 3, 1)}
    ]


def _ranking(db: Database, name: str) -> list[tuple[object, ...]]:
    return [(r["currency_code"], r["label"], r["value"]) for r in _query(db, name)]


def test_top_designs_are_labelled_with_their_id_and_ranked_per_currency(
    report_warehouse: Database,
) -> None:
    assert _ranking(report_warehouse, "top_designs") == [
        ("GBP", "Steel (#2)", D("300.00")),
        ("GBP", "Wooden (#1)", D("30.01")),
        ("USD", "Granite <b>&</b> (#3)", D("4938.24")),
        ("USD", "Wooden (#1)", D("0.20")),
    ]


def test_designs_by_month_keep_designs_that_share_a_name_apart(report_warehouse: Database) -> None:
    rows = _query(report_warehouse, "designs_by_month")
    assert [(r["month"].month, r["currency_code"], r["label"], r["value"]) for r in rows] == [
        (1, "GBP", "Wooden (#1)", D("30.00")),
        (1, "GBP", "Steel (#2)", D("300.00")),
        (2, "GBP", "Wooden (#1)", D("0.01")),
        (2, "USD", "Granite <b>&</b> (#3)", D("4938.24")),
        (3, "USD", "Wooden (#1)", D("0.20")),
    ]


def test_places_by_month_carry_country_and_city_for_the_drill_down(
    report_warehouse: Database,
) -> None:
    rows = _query(report_warehouse, "places_by_month")
    assert [(r["month"].month, r["currency_code"], r["country"], r["city"], r["value"])
            for r in rows] == [
        (1, "GBP", "United Kingdom", "Leeds", D("300.00")),
        (1, "GBP", "United Kingdom", "London", D("30.00")),
        (2, "GBP", "France", "Paris", D("0.01")),
        (2, "USD", "France", "Paris", D("4938.24")),
        (3, "USD", "United Kingdom", "London", D("0.20")),
    ]  # fmt: skip
    assert _ranking(report_warehouse, "sales_by_city")[:3] == [
        ("GBP", "Leeds, United Kingdom", D("300.00")),
        ("GBP", "London, United Kingdom", D("30.00")),
        ("GBP", "Paris, France", D("0.01")),
    ]


def test_top_counterparties(report_warehouse: Database) -> None:
    rows = _query(report_warehouse, "top_counterparties")
    assert [
        (r["currency_code"], r["label"], r["orders"], r["units"], r["value"]) for r in rows
    ] == [
        ("GBP", "Bolt plc", 1, 3, D("300.00")),
        ("GBP", "Acme Ltd", 2, 13, D("30.01")),
        ("USD", "Bolt plc", 1, 4, D("4938.24")),
        ("USD", "Acme Ltd", 1, 2, D("0.20")),
    ]


def test_sales_by_staff_member(report_warehouse: Database) -> None:
    assert _ranking(report_warehouse, "top_staff") == [
        ("GBP", "Bob Ray (Sales)", D("300.00")),
        ("GBP", "Ann Lee (Sales)", D("30.01")),
        ("USD", "Bob Ray (Sales)", D("4938.24")),
        ("USD", "Cat Fox (Purchasing)", D("0.20")),
    ]


def test_receipts_and_supplier_payments_are_apart_at_their_latest_version(
    report_warehouse: Database,
) -> None:
    rows = _query(report_warehouse, "cash_by_month")
    assert [(r["month"].month, r["currency_code"], r["transaction_type"], r["paid"],
             r["payments"], r["value"]) for r in rows] == [
        (1, "GBP", "PURCHASE", False, 1, D("60.00")),
        (1, "GBP", "SALE", False, 1, D("300.00")),
        (1, "GBP", "SALE", True, 1, D("30.00")),
        (2, "USD", "SALE", True, 1, D("4938.24")),
    ]  # fmt: skip


def test_period_filters_on_the_created_date_inclusively(report_warehouse: Database) -> None:
    february = Period(date(2024, 2, 5), date(2024, 2, 14))
    rows = _query(report_warehouse, "headline", february)
    assert [(r["currency_code"], r["orders"], r["value"]) for r in rows] == [
        ("GBP", 1, D("0.01")),
        ("USD", 1, D("4938.24")),
    ]
    assert _query(report_warehouse, "headline", Period(date_from=date(2024, 3, 2))) == []
    since_february = _query(report_warehouse, "cash_by_month", Period(date(2024, 2, 1), None))
    assert [r["currency_code"] for r in since_february] == ["USD"]


def test_latest_batch_is_the_most_recently_loaded(report_warehouse: Database) -> None:
    with report_warehouse.connect() as conn, conn.cursor() as cur:
        batch = latest_batch(cur)
    assert batch is not None
    assert batch[0] == LATEST_BATCH
    assert batch[1].isoformat().startswith("2024-03-02T09:30")


# -- the dashboard's data and charts (pure) ------------------------------------------------


def test_a_month_the_data_covers_in_part_says_how_far_it_goes() -> None:
    assert partial_months(date(2024, 1, 10), date(2024, 3, 1)) == {
        date(2024, 1, 1): "data from 10 January 2024",
        date(2024, 3, 1): "data to 1 March 2024",
    }
    assert partial_months(date(2024, 1, 1), date(2024, 2, 29)) == {}  # whole months, leap day
    assert partial_months(date(2024, 5, 2), date(2024, 5, 30)) == {
        date(2024, 5, 1): "data from 2 May 2024 to 30 May 2024"
    }


def test_rows_carry_months_as_utc_time_and_money_as_exact_text_and_cents() -> None:
    frame = pl.DataFrame(
        {"month": [date(2024, 12, 1)], "currency_code": ["GBP"], "orders": [1],
         "value": [D("618614544254.63")]},
        schema_overrides={"value": pl.Decimal(38, 2)},
    )  # fmt: skip
    [row] = json_rows(frame, {date(2024, 12, 1): "data to 2 December 2024"})
    assert row == {
        "month": 1733011200000, "month_end": 1735689600000, "month_label": "December 2024",
        "partial": "data to 2 December 2024", "currency_code": "GBP", "orders": 1,
        "value": "618614544254.63", "cents": 61861454425463,
    }  # fmt: skip


def _design(label: str, value: str) -> dict[str, str]:
    return {"label": label, "value": value}


def _previous(**changes: object) -> dict[str, object]:
    state: dict[str, object] = {
        "version": 2, "batch_id": "B1", "loaded_at": "2024-03-01T09:00:00+00:00",
        "period": [None, None],
        "currencies": {"GBP": {"orders": 2, "value": "30.01"}},
        "designs": {"GBP": {"1": _design("Wooden (#1)", "30.01"), "9": _design("Old (#9)", "5.00")}},
    }  # fmt: skip
    return state | changes


def test_since_the_previous_report_counts_what_was_gained_and_who_moved() -> None:
    now = _previous(
        batch_id="B2",
        currencies={"GBP": {"orders": 3, "value": "330.01"}, "USD": {"orders": 1, "value": "1.00"}},
        designs={
            "GBP": {"1": _design("Wooden (#1)", "30.01"), "2": _design("Steel (#2)", "300.00")},
            "USD": {"3": _design("A (#3)", "1.00")},
        },
    )
    since = since_previous(now, _previous())
    assert (since.previous_batch, since.same_period, since.new_batch) == ("B1", True, True)
    gbp, usd = since.changes
    assert (gbp.orders, gbp.value) == (1, D("300.00"))
    assert [(m.label, m.change) for m in gbp.movers] == [
        ("Steel (#2)", D("300.00")),
        ("Old (#9)", D("-5.00")),
    ]
    assert (usd.currency_code, usd.orders, usd.value) == ("USD", 1, D("1.00"))
    assert since_previous(now, None).previous_batch is None
    assert parse_state(b"not json") is None and parse_state(b'{"version": 0}') is None
    assert parse_state(b'{"version": 1}') is None  # keyed by label: not comparable


def test_since_the_previous_report_follows_a_design_through_a_rename_by_its_id() -> None:
    renamed = _previous(
        batch_id="B2",
        designs={"GBP": {"1": _design("Oak (#1)", "40.01"), "9": _design("Old (#9)", "5.00")}},
    )
    [gbp] = since_previous(renamed, _previous()).changes
    assert [(m.label, m.change, m.was) for m in gbp.movers] == [
        ("Oak (#1)", D("10.00"), "Wooden (#1)")
    ]  # one design that gained 10.00, not one losing 30.01 and another gaining 40.01


def test_since_a_report_of_the_same_batch_says_there_is_no_new_batch() -> None:
    since = since_previous(_previous(), _previous())
    assert (since.previous_batch, since.new_batch, since.changes) == ("B1", False, [])


def test_the_same_batch_with_other_figures_shows_what_changed() -> None:
    """A batch loaded again (a repair) moves the totals without a newer batch: not "nothing new"."""
    repaired = _previous(currencies={"GBP": {"orders": 2, "value": "25.01"}},
                         designs={"GBP": {"1": _design("Wooden (#1)", "25.01"),
                                          "9": _design("Old (#9)", "5.00")}})  # fmt: skip
    since = since_previous(repaired, _previous())
    assert (since.previous_batch, since.new_batch) == ("B1", False)
    [gbp] = since.changes
    assert (gbp.orders, gbp.value) == (0, D("-5.00"))
    assert [(m.label, m.change) for m in gbp.movers] == [("Wooden (#1)", D("-5.00"))]


def test_the_dashboard_links_its_charts_by_currency_brush_and_country(report_out: Path) -> None:
    spec = _embedded(report_out, "report-spec")
    assert {p["name"] for p in spec["params"]} == {"currency", "brush", "country_pick"}
    assert '"url"' not in json.dumps(spec)  # every dataset is in the page, once
    assert sorted(spec["datasets"]) == sorted(DATASETS) and all(spec["datasets"].values())


# -- the page, end to end ------------------------------------------------------------------


class _Page(HTMLParser):
    """What a reader (or a screen reader) meets on the page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._skip = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._skip = tag in {"script", "style"}

    def handle_endtag(self, tag: str) -> None:
        self._skip = False

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def _page(out: Path) -> tuple[_Page, str]:
    html = (out / "index.html").read_text(encoding="utf-8")
    page = _Page()
    page.feed(html)
    return page, " ".join(" ".join(page.text).split())


def _embedded(out: Path, element_id: str) -> dict[str, Any]:
    html = (out / "index.html").read_text(encoding="utf-8")
    match = re.search(f'<script type="application/json" id="{element_id}">(.*?)</script>', html)
    assert match, element_id
    return json.loads(match.group(1))  # type: ignore[no-any-return]


def test_page_data_match_the_warehouse_to_the_penny_per_currency(
    report_warehouse: Database, report_out: Path
) -> None:
    """Sums of the page's own rows against an independent query of the facts."""
    truth = {
        cur: (orders, D(value))
        for cur, orders, value in query(
            report_warehouse.url.get_secret_value(),
            """SELECT c.currency_code, count(*), sum(s.units_sold * s.unit_price)::text
               FROM (SELECT DISTINCT ON (sales_order_id) * FROM fact_sales_order
                     ORDER BY sales_order_id, last_updated_date DESC, last_updated_time DESC) s
               JOIN dim_currency c USING (currency_id) GROUP BY 1""",
        )
    }
    assert truth == {"GBP": (3, D("330.01")), "USD": (2, D("4938.44"))}
    monthly = _embedded(report_out, "report-data")["monthly"]
    spec = _embedded(report_out, "report-spec")
    designs = spec["datasets"]["designs"]
    for rows in (monthly, designs):
        for cur, (orders, value) in truth.items():
            mine = [r for r in rows if r["currency_code"] == cur]
            assert sum(r["orders"] for r in mine) == orders
            assert sum(D(r["value"]) for r in mine) == value
            assert sum(r["cents"] for r in mine) == int(value * 100)
    _, text = _page(report_out)
    assert "GBP 330.01" in text and "GBP 110.00" in text  # the default currency's cards
    assert "GBP 325.01" not in text  # the total if the superseded version of order 1 counted


def test_page_marks_the_partial_months(report_out: Path) -> None:
    _, text = _page(report_out)
    assert "All months: January 2024 (partial: data from 10 January 2024) to February 2024" in text
    monthly = _embedded(report_out, "report-data")["monthly"]
    assert {r["month_label"]: r["partial"] for r in monthly}["February 2024"] == ""


def test_page_says_which_batch_it_is_as_of(report_out: Path) -> None:
    html = (report_out / "index.html").read_text(encoding="utf-8")
    as_of = f"Data as of batch <code>{LATEST_BATCH}</code>, loaded 2 March 2024 at 09:30 UTC."
    assert as_of in html
    assert "20240301T090000Z" not in html


def test_page_is_self_contained_and_accessible(report_out: Path) -> None:
    page, text = _page(report_out)
    html = (report_out / "index.html").read_text(encoding="utf-8")
    assert page.all("html") == [{"lang": "en"}]
    assert len(page.all("h1")) == 1
    assert all(th.get("scope") in {"col", "row", "rowgroup"} for th in page.all("th"))
    assert len(page.all("caption")) == len(page.all("table"))
    assert not page.all("link") and all("src" not in s for s in page.all("script"))
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing fetched
    assert "Granite <b>&</b> (#3)" in text and "<b>&" not in html  # names are text, not markup


def _relative_links(out: Path) -> list[str]:
    """Every src or href of the page that names another file (a data: URI or a #fragment is
    the page itself); the bundled scripts are text to the parser, not tags."""
    page, _ = _page(out)
    return [
        str(value)
        for _tag, attrs in page.tags
        for name, value in attrs.items()
        if name in {"src", "href"} and not str(value).startswith(("data:", "#"))
    ]


def test_the_page_is_one_file_that_links_no_other(report_out: Path) -> None:
    assert _relative_links(report_out) == []
    assert sorted(p.name for p in report_out.iterdir()) == ["index.html", "report.json"]


def test_report_draws_pngs_only_when_asked(
    report_warehouse: Database, cli: Callable[..., Any], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AINSDALE_WAREHOUSE_URL", report_warehouse.url.get_secret_value())
    out = tmp_path / "r"
    cli("report", "--out", str(out), "--png")
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == sorted(f"{n}.{c}.png" for n in CHART_NAMES for c in ("GBP", "USD"))
    for png in pngs:
        data = (out / png).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5_000
    assert _relative_links(out) == []  # beside the page, not linked from it
    cli("report", "--out", str(out))
    assert not list(out.glob("*.png"))  # an earlier report's images are not this one's


def test_write_report_returns_the_headline_and_keeps_its_state(
    report_result: ReportResult, report_out: Path
) -> None:
    assert report_result.index.name == "index.html"
    assert report_result.folder.name == "dir"  # created with its parents
    assert report_result.headline == [
        CurrencyHeadline("GBP", 3, 16, D("330.01"), D("110.00")),
        CurrencyHeadline("USD", 2, 6, D("4938.44"), D("2469.22")),
    ]
    state = json.loads((report_out / "report.json").read_text())
    assert state["batch_id"] == LATEST_BATCH
    assert state["currencies"]["USD"] == {"orders": 2, "value": "4938.44"}
    _, text = _page(report_out)
    assert "This is the first report built here" in text


def test_the_next_report_says_what_changed_since_the_previous_one(
    report_warehouse: Database, report_out: Path, tmp_path: Path
) -> None:
    before = json.loads((report_out / "report.json").read_text())
    before |= {
        "batch_id": "20240301T090000Z",
        "currencies": {"GBP": {"orders": 2, "value": "30.01"}},
    }
    before["designs"]["GBP"] = {"1": {"label": "Wooden (#1)", "value": "30.01"}}
    write_report(report_warehouse, tmp_path, previous=json.dumps(before).encode())
    _, text = _page(tmp_path)
    assert "Since the previous report (batch 20240301T090000Z" in text
    assert "+1 orders, +GBP 300.00 of sales in GBP." in text
    assert "Steel (#2) +GBP 300.00" in text


def test_report_for_a_period(report_warehouse: Database, tmp_path: Path) -> None:
    result = write_report(report_warehouse, tmp_path, date_from=date(2024, 2, 1),
                          date_to=date(2024, 2, 29))  # fmt: skip
    assert [(h.currency_code, h.total_value) for h in result.headline] == [
        ("GBP", D("0.01")),
        ("USD", D("4938.24")),
    ]
    _, text = _page(tmp_path)
    assert "Covers orders created from 1 February 2024 to 29 February 2024." in text
    assert "GBP 330.01" not in text


def test_a_period_without_sales_says_so(report_warehouse: Database, tmp_path: Path) -> None:
    result = write_report(report_warehouse, tmp_path, date_from=date(2025, 1, 1))
    assert result.charts == [] and result.headline == []
    _, text = _page(tmp_path)
    assert "No sales orders match: orders created on or after 1 January 2025." in text
    assert not list(tmp_path.glob("*.png"))
    # Its state is kept all the same (an idle run-all drew a page without sales again every
    # time), and the next report compares with no sales.
    state = json.loads((tmp_path / "report.json").read_text())
    assert result.as_of is not None and state["batch_id"] == result.as_of[0]
    assert (state["currencies"], state["designs"]) == ({}, {})
    # A page of a period is not the dashboard a refresh keeps current; one of every order is.
    assert report_batch(tmp_path) is None
    again = write_report(report_warehouse, tmp_path)
    assert again.headline and report_batch(tmp_path) == result.as_of[0]


def test_a_backwards_period_is_refused(report_warehouse: Database, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="after"):
        write_report(report_warehouse, tmp_path, date_from=date(2024, 3, 1),
                     date_to=date(2024, 2, 1))  # fmt: skip


def test_an_empty_warehouse_says_there_is_no_data_yet(
    report_empty_warehouse: Database, tmp_path: Path
) -> None:
    result = write_report(report_empty_warehouse, tmp_path)
    assert (result.charts, result.headline, result.as_of) == ([], [], None)
    page, text = _page(tmp_path)
    assert "There is no data in the warehouse yet." in text
    assert "No batch has been loaded into the warehouse yet." in text
    assert not page.all("script")


def test_a_database_without_the_warehouse_tables_says_there_is_no_data_yet(
    report_database: Callable[[], Database], tmp_path: Path
) -> None:
    result = write_report(report_database(), tmp_path)
    assert result.charts == []
    assert "There is no data in the warehouse yet." in _page(tmp_path)[1]


# -- publishing ----------------------------------------------------------------------------


def test_publishing_to_s3_writes_both_prefixes_typed_and_encrypted(report_out: Path) -> None:
    import boto3

    from ainsdale_etl.adapters.storage import open_storage
    from ainsdale_etl.adapters.storage.s3 import encryption_args

    kinds = {"html": "text/html", "png": "image/png", "json": "application/json"}
    with mocked_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="processed",
                         CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})  # fmt: skip
        s3.put_object(Bucket="processed", Key="p/reports/latest/top_designs.EUR.png", Body=b"x")
        storage = open_storage("s3://processed/p", encryption=encryption_args("AES256", None))
        published = publish_report(storage, report_out, LATEST_BATCH)
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket="processed")["Contents"]}
        heads = {k: s3.head_object(Bucket="processed", Key=k) for k in keys}
        url = latest_url(storage, 600)
        state = latest_state(storage)
    files = {p.name for p in report_out.iterdir()}
    assert keys == {f"p/reports/{d}/{f}" for d in (LATEST_BATCH, "latest") for f in files}
    assert published.latest_prefix == "reports/latest/"
    for key, head in heads.items():
        assert head["ContentType"].startswith(kinds[key.rsplit(".", 1)[1]]), key
        assert head["ServerSideEncryption"] == "AES256", key
    assert "/p/reports/latest/index.html?" in url and "X-Amz-Signature=" in url
    assert state == (report_out / "report.json").read_bytes()


def test_report_publish_to_a_folder_bucket_and_url(
    report_warehouse: Database, cli: Callable[..., Any], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AINSDALE_WAREHOUSE_URL", report_warehouse.url.get_secret_value())
    monkeypatch.setenv("AINSDALE_PROCESSED_URI", str(tmp_path / "processed"))
    monkeypatch.setenv("AINSDALE_LOG_FORMAT", "console")
    cli("report", "--url", expect=2)  # nothing published yet: says so
    result = cli("report", "--publish", "--out", str(tmp_path / "r"))
    latest = tmp_path / "processed" / "reports" / "latest" / "index.html"
    assert (tmp_path / "processed" / "reports" / LATEST_BATCH / "index.html").is_file()
    assert result.output.strip().splitlines()[-1] == latest.as_uri()
    assert cli("report", "--url").output.strip() == latest.as_uri()


def _rename_a_design(source_url: str, name: str = "Renamed") -> None:
    query(source_url, "UPDATE design SET design_name = $1, last_updated = localtimestamp(3) "
          "WHERE design_id = (SELECT min(design_id) FROM design)", [name])  # fmt: skip


def test_run_all_and_load_publish_the_report_when_told_to(
    cli: Callable[..., Any], etl_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = Path(etl_env["AINSDALE_PROCESSED_URI"]) / "reports"
    cli("run-all")  # not told to
    assert not reports.exists()
    cli("run-all", "--publish-report")  # told to, but nothing loaded: nothing new to show
    assert not reports.exists()
    _rename_a_design(etl_env["AINSDALE_SOURCE_URL"])
    cli("extract")
    cli("transform")
    cli("load", "--publish-report")
    batch = json.loads((reports / "latest" / "report.json").read_text())["batch_id"]
    assert (reports / batch / "index.html").is_file()
    assert (reports / "latest" / "sales_by_month.GBP.png").is_file()  # for e-mail
    # The setting it replaced publishes nothing more, and says what to use instead.
    monkeypatch.setenv("AINSDALE_REPORT_PUBLISH", "true")
    _rename_a_design(etl_env["AINSDALE_SOURCE_URL"], "Renamed again")
    done = cli("run-all")
    assert "AINSDALE_REPORT_PUBLISH is no longer a setting" in done.output
    assert "the --publish-report option of run-all and load" in done.output
    assert sorted(p.name for p in reports.iterdir()) == [batch, "latest"]


def test_report_sums_valid_money_of_any_size(cli, etl_env, tmp_path: Path) -> None:
    """One order of 20,000 units at the largest price numeric(10,2) holds: the month's total
    overflowed a numeric(14,2) cast ('numeric field overflow', exit 1)."""
    src = etl_env["AINSDALE_SOURCE_URL"]
    query(src, "UPDATE sales_order SET units_sold = 20000, unit_price = 99999999.99, "
               "last_updated = localtimestamp(3) WHERE sales_order_id = "
               "(SELECT min(sales_order_id) FROM sales_order)")  # fmt: skip
    cli("run-all")
    cli("report", "--out", str(tmp_path / "big"))
    monthly = _embedded(tmp_path / "big", "report-data")["monthly"]
    big = max(monthly, key=lambda r: D(r["value"]))
    assert D(big["value"]) > D("1999999999800") and big["cents"] == int(D(big["value"]) * 100)


def _since_text(out: Path) -> str:
    """The words of the page's "Since the previous report" section."""
    html = (out / "index.html").read_text(encoding="utf-8")
    match = re.search(r'<div class="since">(.*?)</div>\s*<h2>', html, re.S)
    assert match, "no since section"
    section = _Page()
    section.feed(match.group(1))
    return " ".join("".join(section.text).split())


def _state_batch(out: Path) -> str:
    return str(json.loads((out / "report.json").read_text())["batch_id"])


def test_the_next_report_follows_a_renamed_design_by_id_or_says_no_batch_is_new(
    cli: Callable[..., Any], etl_env: dict[str, str], tmp_path: Path
) -> None:
    """A design renamed (and sold once more) between two reports is one design that moved,
    under its new name, not the old name losing all and the new one gaining all; a report
    built again on the same batch says there is no new batch since it."""
    src, out = etl_env["AINSDALE_SOURCE_URL"], tmp_path / "r"
    cli("run-all")
    cli("report", "--out", str(out))
    first = _state_batch(out)
    cli("report", "--out", str(out))
    assert _since_text(out).startswith(f"No new batch since {first}, loaded ")
    [(order, design, old)] = query(src, "SELECT o.sales_order_id, d.design_id, d.design_name "
                                   "FROM sales_order o JOIN design d USING (design_id) "
                                   "ORDER BY o.sales_order_id LIMIT 1")  # fmt: skip
    query(src, "UPDATE design SET design_name = 'Renamed', last_updated = localtimestamp(3) "
               "WHERE design_id = $1", [design])  # fmt: skip
    query(src, "UPDATE sales_order SET units_sold = units_sold + 1000, "
               "last_updated = localtimestamp(3) WHERE sales_order_id = $1", [order])  # fmt: skip
    cli("run-all")
    cli("report", "--out", str(out))
    since = _since_text(out)
    assert since.startswith(f"Since the previous report (batch {first}, loaded ")
    assert f"Renamed (#{design}) (was {old} (#{design}))+" in since
    assert since.count(f"{old} (#{design})") == since.count("(was ")  # only as what it was


@dataclass(frozen=True)
class Embedded:
    """The embedded default in a folder of its own: its home and the CLI's environment."""

    home: Path
    env: dict[str, str]
    totesys: str  # a URI of its source, to change it as an application would

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = run(list(args), self.env, self.home.parent)
        assert done.returncode == 0, done.stderr
        return done


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    """The embedded default (no database URL set), seeded small and run once; its server
    kept running between commands (`embedded url`) and stopped at the end."""
    home = tmp_path_factory.mktemp("embedded") / "home"
    env = cli_env({"AINSDALE_HOME": str(home), "AINSDALE_LOG_FORMAT": "console"})
    started = run(["embedded", "url", "totesys"], env, home.parent)
    assert started.returncode == 0, started.stderr
    try:
        default = Embedded(home, env, started.stdout.strip())
        default.run("seed", "--scale", "0.01")
        default.run("run-all")
        yield default
    finally:
        run(["embedded", "stop"], env, home.parent)


def test_run_all_on_the_embedded_default_keeps_the_dashboard_current(embedded: Embedded) -> None:
    """After each run-all that loads a batch the page is as of that batch; a run that loads
    nothing leaves it alone; a refresh that fails is a warning, the run's data stands, and
    the next run-all catches up."""
    folder = embedded.home / "report"
    index = folder / "index.html"
    first, drawn_at = _state_batch(folder), index.stat().st_mtime_ns
    idle = embedded.run("run-all")
    assert "loaded nothing" in idle.stdout and "dashboard refreshed" not in idle.stdout
    assert index.stat().st_mtime_ns == drawn_at

    _rename_a_design(embedded.totesys)
    loaded = embedded.run("run-all")
    assert f"dashboard refreshed: {index.resolve()}" in loaded.stdout
    second = _state_batch(folder)
    assert second > first and f"batch <code>{second}</code>" in index.read_text()
    assert _since_text(folder).startswith(f"Since the previous report (batch {first}, ")

    aside = embedded.home / "report-aside"
    folder.rename(aside)
    folder.write_text("")  # a file where the page's folder goes: the refresh cannot write
    _rename_a_design(embedded.totesys, "Renamed again")
    unrefreshed = embedded.run("run-all")  # exit 0: the data work stands
    said = unrefreshed.stdout + unrefreshed.stderr
    assert "warning: the dashboard was not refreshed" in said and "run-all tries again" in said
    folder.unlink()
    aside.rename(folder)
    caught_up = embedded.run("run-all")  # loads nothing, but the page was behind
    assert "loaded nothing" in caught_up.stdout and "dashboard refreshed" in caught_up.stdout
    third = _state_batch(folder)
    assert third > second

    # SIGTERM once the batch is loaded: the run stops (130) before the refresh, as it would
    # at any safe point, and its rerun refreshes the page.
    _rename_a_design(embedded.totesys, "Renamed a third time")
    stop = {"AINSDALE_FAULTS": "batch_loaded:term:1"}
    stopped = run(["run-all"], embedded.env | stop, embedded.home.parent)
    assert stopped.returncode == 130, stopped.stderr
    assert "before refreshing the dashboard" in stopped.stderr
    assert _state_batch(folder) == third
    rerun = embedded.run("run-all")
    assert "loaded nothing" in rerun.stdout and "dashboard refreshed" in rerun.stdout
    fourth = _state_batch(folder)
    assert fourth > third

    # A good batch, then a broken one: the run fails (1) on the second, and the page shows
    # the first, not what the warehouse held before, while the broken one waits for a fix.
    _rename_a_design(embedded.totesys, "Renamed a fourth time")
    embedded.run("extract")
    _rename_a_design(embedded.totesys, "Renamed a fifth time")
    embedded.run("extract")
    *_, good, broken = sorted(p.name for p in (embedded.home / "ingest").glob("data/*/*/*/*"))
    [csv] = (embedded.home / "ingest").glob(f"data/*/*/*/{broken}/{broken}_design.csv")
    csv.write_bytes(csv.read_bytes()[:10])  # its checksum no longer matches
    failed = run(["run-all"], embedded.env, embedded.home.parent)
    assert failed.returncode == 1 and broken in failed.stderr, failed.stderr
    assert _state_batch(folder) == good > fourth


# -- a real browser ------------------------------------------------------------------------

BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]  # fmt: skip
ARTIFACTS = Path(os.environ.get("AINSDALE_TEST_ARTIFACTS", Path(__file__).parents[1] / "artifacts"))


def _cards(page: Any) -> tuple[str, ...]:
    return tuple(page.inner_text(f"#card-{k}") for k in ("value", "orders", "units", "average"))


@contextmanager
def _in_chromium(index: Path) -> Iterator[tuple[Any, list[str]]]:
    """``index`` open in headless chromium, offline (every request but file: and data:
    refused, and a test fails on one), once the page says it is ready; yields the page and
    the errors it raised or logged."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api", reason="needs playwright (dev extra)")
    refused: list[str] = []

    def only_local(route: Any) -> None:
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(10_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.route("**/*", only_local)
        page.goto(index.as_uri())
        page.wait_for_selector("body[data-ready=true]", timeout=20_000)
        yield page, errors
        browser.close()
    assert refused == []


def test_a_browser_offline_explores_the_dashboard(report_out: Path) -> None:
    """Chromium opens the page with every request but file: and data: refused, changes the
    currency, brushes a month, drills into a country; the figures follow, exactly."""
    with _in_chromium(report_out / "index.html") as (page, errors):
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        assert _cards(page) == ("GBP 330.01", "3", "16", "GBP 110.00")

        dashboard = page.locator("#dashboard")
        # Bars are named by their tooltip's full label (the axis shows a shortened one).
        uk = page.locator('#dashboard path[aria-label*="Country: United Kingdom"]')
        uk.click()  # drill down: the cities of the country clicked
        page.wait_for_timeout(200)
        assert dashboard.locator('[aria-label*="City: Leeds, United Kingdom"]').count() == 1
        assert dashboard.locator('[aria-label*="City: Paris"]').count() == 0
        uk.dblclick()

        page.select_option("#currency", "USD")
        page.wait_for_timeout(200)
        assert _cards(page) == ("USD 4,938.44", "2", "6", "USD 2,469.22")
        assert page.locator('[data-currency="USD"]').first.is_visible()
        assert dashboard.locator('[aria-label*="Design: Wooden (#1)"]').count() == 1

        february = page.locator('#dashboard path[aria-label^="month: Feb 2024"]').bounding_box()
        assert february is not None
        y = february["y"] + february["height"] / 2
        page.mouse.move(february["x"] - 4, y)
        page.mouse.down()
        page.mouse.move(february["x"] + february["width"] / 2, y, steps=5)
        page.mouse.up()
        page.wait_for_timeout(200)
        assert _cards(page) == ("USD 4,938.24", "1", "4", "USD 4,938.24")
        assert page.inner_text("#months") == "Brushed months: February 2024 (1 month)."
        assert dashboard.locator('[aria-label*="Design: Wooden (#1)"]').count() == 0  # March's

        page.locator('#dashboard path[aria-label*="Design: Granite"]').hover()
        page.wait_for_selector("#vg-tooltip-element.visible", timeout=5_000)
        assert "USD 4,938.24" in page.inner_text("#vg-tooltip-element")
        page.screenshot(path=str(ARTIFACTS / "dashboard-brushed.png"), full_page=True)

        for width in (1280, 720):  # a large total shrinks to fit its card
            page.set_viewport_size({"width": width, "height": 1000})
            overflowing = page.evaluate("""() => {
                const cards = [...document.querySelectorAll('.card .big')];
                cards.forEach(el => { el.textContent = 'GBP 618,614,544,254.63'; });
                window.dashboard.fitCards();
                return cards.filter(el => el.scrollWidth > el.clientWidth).length; }""")
            assert overflowing == 0, width
        assert errors == []


def test_a_browser_shows_the_refreshed_dashboard_whole_at_1280_px(embedded: Embedded) -> None:
    """The page run-all refreshed, at a 1280 px window: nothing scrolls sideways, neither the
    page nor its charts, and the monthly chart's legend sits above its plot, clear of the bars."""
    with _in_chromium(embedded.home / "report" / "index.html") as (page, errors):
        fits = page.evaluate("""() => {
            const page = document.documentElement, charts = document.getElementById('dashboard');
            // The monthly chart's: the first of each on the page.
            const legend = charts.querySelector('.role-legend').getBoundingClientRect();
            const axis = charts.querySelector('.role-axis[aria-label^="Y-axis titled"]')
                .getBoundingClientRect();
            return {page: [page.scrollWidth, page.clientWidth],
                    charts: [charts.scrollWidth, charts.clientWidth],
                    legend_bottom: legend.bottom, plot_top: axis.top};
        }""")  # fmt: skip
        assert errors == []
    assert fits["page"][0] <= fits["page"][1], fits
    assert fits["charts"][0] <= fits["charts"][1], fits
    assert fits["legend_bottom"] <= fits["plot_top"], fits  # above the plot, not over its bars


# -- any text ------------------------------------------------------------------------------

EMOJI_NAME = "x" + "😀" * 25 + " Wooden 👨‍👩‍👧 Spoon 🇬🇧 café"  # past the old 220 px label limit


def _emoji_designs(cli: Any, src: str) -> None:
    query(src, "UPDATE design SET design_name = $1 || design_id, last_updated = localtimestamp(3)",
          [EMOJI_NAME])  # fmt: skip
    cli("run-all")


def test_labels_are_shortened_by_grapheme_never_inside_one() -> None:
    from ainsdale_etl.ops.report.labels import graphemes, short_label

    assert graphemes("e\u0301👨‍👩‍👧🇬🇧👍🏽a") == ["e\u0301", "👨‍👩‍👧", "🇬🇧", "👍🏽", "a"]
    short = short_label(EMOJI_NAME + " (#42)", 20)
    assert len(graphemes(short)) == 20 and short.endswith("(#42)") and "…" in short
    assert set(graphemes(short)) <= set(graphemes(EMOJI_NAME + " (#42)…"))
    assert short_label("Oak (#1)") == "Oak (#1)"


def test_a_design_named_with_emoji_draws_every_chart(cli, etl_env, tmp_path: Path) -> None:
    """One emoji cut in two at the axis's label limit stopped the whole page (vl-convert:
    "unexpected end of hex escape"; `report` exited 1, "unexpected ValueError")."""
    _emoji_designs(cli, etl_env["AINSDALE_SOURCE_URL"])
    done = cli("report", "--out", str(tmp_path / "r"), "--png")
    assert "warning" not in done.output
    pngs = {p.name.split(".")[0] for p in (tmp_path / "r").glob("*.png")}
    assert pngs == set(CHART_NAMES)
    assert EMOJI_NAME in (tmp_path / "r" / "index.html").read_text(encoding="utf-8")


def test_a_chart_that_cannot_be_drawn_is_left_out_with_a_warning(
    cli, etl_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ainsdale_etl.ops.report import charts

    _emoji_designs(cli, etl_env["AINSDALE_SOURCE_URL"])
    # The old axis limit: Vega cuts the designs' labels through an emoji, and the renderer fails.
    monkeypatch.setitem(charts.CONFIG, "axis", {**charts.CONFIG["axis"], "labelLimit": 220})
    done = cli("report", "--out", str(tmp_path / "r"), "--png")
    [warning] = [ln for ln in done.output.splitlines() if '"warning"' in ln]
    assert "chart top_designs left out" in warning and "report_chart_left_out" in warning
    pngs = {p.name.split(".")[0] for p in (tmp_path / "r").glob("*.png")}
    assert pngs == set(CHART_NAMES) - {"top_designs"}
    spec = json.dumps(_embedded(tmp_path / "r", "report-spec"))
    assert f"Top {TOP_N} designs" not in spec and f"Top {TOP_N} counterparties" in spec


# Hard names, one per design by id (the label is "<name> (#<id>)"). Each but the RTL one
# begins with six astronauts (👩🏽‍🚀: four code points, one grapheme), so a label cut by code
# point at the 23rd stops inside the sixth.
ASTRONAUTS = "👩🏽‍🚀" * 6
HARD_NAMES = [
    ASTRONAUTS + " cafe\u0301 cre\u0300me nai\u0308ve n\u0303 a\u0308\u0304 the combining one",
    "שולחן עץ אלון מעוצב בעבודת יד " * 3 + "تصميم خشبي",  # right to left, long
    ASTRONAUTS + " " + "an extraordinarily long design name " * 14,
    ASTRONAUTS + " 🇬🇧🇯🇵 👨‍👩‍👧‍👦 👍🏽 family ❤️ flags",
    ASTRONAUTS,  # short enough to be drawn whole
]


def test_a_browser_draws_every_chart_of_designs_with_hard_names_and_never_cuts_a_grapheme(
    cli, etl_env, tmp_path: Path
) -> None:
    """Emoji with skin tones and joiners, combining marks, right-to-left text and a very long
    name: the page draws every chart in chromium, with no error, and each design's axis label
    is its name whole, or its start and end around "…" cut between graphemes as the browser
    itself segments them (Intl.Segmenter), never inside one."""
    src = etl_env["AINSDALE_SOURCE_URL"]
    cases = " ".join(f"WHEN {i} THEN ${i + 1}" for i in range(len(HARD_NAMES)))
    query(src, f"UPDATE design SET design_name = CASE design_id % {len(HARD_NAMES)} {cases} END, "
               "last_updated = localtimestamp(3)", list(HARD_NAMES))  # fmt: skip
    cli("run-all")
    done = cli("report", "--out", str(tmp_path / "r"))
    assert "warning" not in done.output  # no chart left out
    labels = [
        f"{name} (#{i})" for i, name in query(src, "SELECT design_id, design_name FROM design")
    ]

    with _in_chromium(tmp_path / "r" / "index.html") as (page, errors):
        drawn = page.evaluate("""(labels) => {
            const view = window.dashboard && window.dashboard.view;
            const marks = document.querySelectorAll('#dashboard .role-mark > path').length;
            const bars = [...document.querySelectorAll('#dashboard path[aria-label*="Design: "]')]
                .map(el => el.getAttribute('aria-label'));
            const axis = [...document.querySelectorAll('#dashboard .role-axis-label text')]
                .map(el => el.textContent);
            const seg = new Intl.Segmenter(undefined, {granularity: 'grapheme'});
            const split = (s) => [...seg.segment(s)].map(g => g.segment);
            const shortened = (label, shown) => {
                if (shown === label) return true;
                const [head, tail, more] = shown.split('\\u2026');
                if (tail === undefined || more !== undefined || !head || !tail) return false;
                const whole = split(label), h = split(head), t = split(tail);
                return h.every((g, i) => g === whole[i])
                    && t.every((g, i) => g === whole[whole.length - t.length + i]);
            };
            const onBars = labels.filter(l => bars.some(b => b.includes(`Design: ${l};`)));
            return {
                view: Boolean(view), marks, axis, onBars,
                unlabelled: onBars.filter(l => !axis.some(shown => shortened(l, shown))),
                text: document.getElementById('dashboard').textContent.slice(0, 200),
            };
        }""", labels)  # fmt: skip
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-hard-names.png"), full_page=True)
        assert errors == []
    assert drawn["view"] and drawn["marks"] > 50, drawn["text"]
    assert len(drawn["onBars"]) == min(TOP_N, len(labels))  # every top design has its bar
    assert drawn["unlabelled"] == [], drawn["axis"]
    assert any(label.startswith(ASTRONAUTS) for label in drawn["onBars"])
    assert any(ASTRONAUTS[:20] in shown and "…" in shown for shown in drawn["axis"])
