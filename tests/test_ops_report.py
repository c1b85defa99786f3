"""The report: analysis queries against a small hand-written warehouse with known answers,
the charts and HTML page end to end, and a real browser rendering the page."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest
from pydantic import SecretStr

from ainsdale_etl.adapters.postgres import Database
from ainsdale_etl.core.errors import ConfigError
from ainsdale_etl.load.migrate import ensure_warehouse
from ainsdale_etl.ops.report.charts import money_scale, ranked_bars
from ainsdale_etl.ops.report.data import CurrencyHeadline, ReportResult
from ainsdale_etl.ops.report.queries import Period, latest_batch, run_query
from ainsdale_etl.ops.report.write import write_report

D = Decimal
CHROMIUM = "/usr/bin/chromium"

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
    # Payment 1 was unpaid, then paid: GBP paid 30.00, outstanding 300.00; USD paid 4938.24.
    """INSERT INTO fact_payment (payment_id, created_date, created_time, last_updated_date,
         last_updated_time, transaction_id, counterparty_id, payment_amount, currency_id,
         payment_type_id, paid, payment_date) VALUES
       (1, '2024-01-12', '09:00', '2024-01-12', '09:00', 1, 1, 30.00, 1, 1, false, '2024-01-20'),
       (1, '2024-01-12', '09:00', '2024-01-20', '09:00', 1, 1, 30.00, 1, 1, true, '2024-01-20'),
       (2, '2024-01-25', '09:00', '2024-01-25', '09:00', 2, 2, 300.00, 1, 1, false, '2024-02-01'),
       (3, '2024-02-15', '09:00', '2024-02-15', '09:00', 3, 2, 4938.24, 2, 1, true, '2024-03-01')
    """,
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
    ensure_warehouse(db)
    with db.connect() as conn, conn.cursor() as cur:
        for statement in [_CALENDAR, *_ROWS]:
            cur.execute(statement)
        conn.commit()
    return db


@pytest.fixture(scope="module")
def report_empty_warehouse(report_database: Callable[[], Database]) -> Database:
    db = report_database()
    ensure_warehouse(db)
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
        {"month": date(2024, 1, 1), "currency_code": "GBP", "orders": 2, "value": D("330.00")},
        {"month": date(2024, 2, 1), "currency_code": "GBP", "orders": 1, "value": D("0.01")},
        {"month": date(2024, 2, 1), "currency_code": "USD", "orders": 1, "value": D("4938.24")},
        {"month": date(2024, 3, 1), "currency_code": "USD", "orders": 1, "value": D("0.20")},
    ]


def _ranking(db: Database, name: str) -> list[tuple[object, ...]]:
    return [(r["currency_code"], r["label"], r["value"]) for r in _query(db, name)]


def test_top_designs_ranked_by_value_within_each_currency(report_warehouse: Database) -> None:
    assert _ranking(report_warehouse, "top_designs") == [
        ("GBP", "Steel", D("300.00")),
        ("GBP", "Wooden", D("30.01")),
        ("USD", "Granite <b>&</b>", D("4938.24")),
        ("USD", "Wooden", D("0.20")),
    ]


def test_sales_by_delivery_country_and_city(report_warehouse: Database) -> None:
    assert _ranking(report_warehouse, "sales_by_country") == [
        ("GBP", "United Kingdom", D("330.00")),
        ("GBP", "France", D("0.01")),
        ("USD", "France", D("4938.24")),
        ("USD", "United Kingdom", D("0.20")),
    ]
    assert _ranking(report_warehouse, "sales_by_city") == [
        ("GBP", "Leeds, United Kingdom", D("300.00")),
        ("GBP", "London, United Kingdom", D("30.00")),
        ("GBP", "Paris, France", D("0.01")),
        ("USD", "Paris, France", D("4938.24")),
        ("USD", "London, United Kingdom", D("0.20")),
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


def test_sales_by_staff_member_and_department(report_warehouse: Database) -> None:
    assert _ranking(report_warehouse, "top_staff") == [
        ("GBP", "Bob Ray (Sales)", D("300.00")),
        ("GBP", "Ann Lee (Sales)", D("30.01")),
        ("USD", "Bob Ray (Sales)", D("4938.24")),
        ("USD", "Cat Fox (Purchasing)", D("0.20")),
    ]
    assert _ranking(report_warehouse, "sales_by_department") == [
        ("GBP", "Sales", D("330.01")),
        ("USD", "Sales", D("4938.24")),
        ("USD", "Purchasing", D("0.20")),
    ]


def test_purchases_vs_sales_by_month(report_warehouse: Database) -> None:
    rows = _query(report_warehouse, "purchases_vs_sales_by_month")
    assert [(r["month"], r["currency_code"], r["sales"], r["purchases"]) for r in rows] == [
        (date(2024, 1, 1), "GBP", D("330.00"), D("60.00")),
        (date(2024, 2, 1), "GBP", D("0.01"), D("0.00")),
        (date(2024, 2, 1), "USD", D("4938.24"), D("99.00")),
        (date(2024, 3, 1), "USD", D("0.20"), D("0.00")),
    ]


def test_payments_paid_vs_outstanding_uses_the_latest_version(report_warehouse: Database) -> None:
    assert _query(report_warehouse, "payments_status") == [
        {"currency_code": "GBP", "paid_count": 1, "paid": D("30.00"),
         "outstanding_count": 1, "outstanding": D("300.00")},
        {"currency_code": "USD", "paid_count": 1, "paid": D("4938.24"),
         "outstanding_count": 0, "outstanding": D("0.00")},
    ]  # fmt: skip


def test_period_filters_on_the_created_date_inclusively(report_warehouse: Database) -> None:
    february = Period(date(2024, 2, 5), date(2024, 2, 14))
    rows = _query(report_warehouse, "headline", february)
    assert [(r["currency_code"], r["orders"], r["value"]) for r in rows] == [
        ("GBP", 1, D("0.01")),
        ("USD", 1, D("4938.24")),
    ]
    assert _query(report_warehouse, "headline", Period(date_from=date(2024, 3, 2))) == []
    since_march = _query(report_warehouse, "payments_status", Period(date(2024, 2, 1), None))
    assert [r["currency_code"] for r in since_march] == ["USD"]


def test_latest_batch_is_the_most_recently_loaded(report_warehouse: Database) -> None:
    with report_warehouse.connect() as conn, conn.cursor() as cur:
        batch = latest_batch(cur)
    assert batch is not None
    assert batch[0] == LATEST_BATCH
    assert batch[1].isoformat().startswith("2024-03-02T09:30")


# -- the charts ----------------------------------------------------------------------------


def test_money_scale_keeps_tick_labels_short() -> None:
    assert money_scale(9_999.0) == (1.0, "")
    assert money_scale(25_000.0) == (1_000.0, " thousands")
    assert money_scale(12_500_000.0) == (1_000_000.0, " millions")


def test_ranked_bars_draws_one_labelled_panel_per_currency() -> None:
    frame = pl.DataFrame(
        {"currency_code": ["EUR", "GBP", "GBP"], "label": ["A", "B", "C"],
         "value": [D("1500.00"), D("25000.00"), D("12000.50")]},
        schema_overrides={"value": pl.Decimal(38, 2)},
    )  # fmt: skip
    fig = ranked_bars(fig_frame := frame, "Top things", "Sales value")
    fig.canvas.draw()
    eur, gbp = fig.axes
    assert fig_frame.height == 3
    assert (eur.get_title(), gbp.get_title()) == ("EUR", "GBP")
    assert eur.get_xlabel() == "Sales value (EUR)"
    assert gbp.get_xlabel() == "Sales value (GBP thousands)"
    assert [t.get_text() for t in gbp.get_yticklabels()] == ["B", "C"]
    assert "1,000" in [t.get_text() for t in eur.get_xticklabels()]  # thousands separators


# -- the page, end to end ------------------------------------------------------------------


class _Page(HTMLParser):
    """What a reader (or a screen reader) meets on the page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def _page(out: Path) -> tuple[_Page, str]:
    html = (out / "index.html").read_text(encoding="utf-8")
    page = _Page()
    page.feed(html)
    return page, " ".join(" ".join(page.text).split())


def test_every_chart_is_a_png_linked_from_the_page_with_alt_text(report_out: Path) -> None:
    page, _ = _page(report_out)
    images = page.all("img")
    pngs = sorted(p.name for p in report_out.glob("*.png"))
    assert sorted(str(img["src"]) for img in images) == pngs
    assert set(pngs) == {
        "sales_by_month.png", "top_designs.png", "sales_by_country.png",
        "top_counterparties.png", "sales_by_department.png", "purchases_vs_sales.png",
        "payments.png",
    }  # fmt: skip
    for img in images:
        assert len(str(img["alt"])) > 60, img
    for png in pngs:
        data = (report_out / png).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000


def test_page_figures_match_the_warehouse_to_the_penny(report_out: Path) -> None:
    _, text = _page(report_out)
    for figure in ["GBP 330.01", "USD 4,938.44", "GBP 110.00", "USD 2,469.22", "GBP 0.01",
                   "USD 4,938.24", "GBP 60.00", "USD 99.00", "GBP 300.00", "USD 0.00"]:  # fmt: skip
        assert figure in text, figure
    assert "GBP 325.01" not in text  # the total if the superseded version of order 1 counted
    assert "Granite <b>&</b>" in text  # shown as text, not markup


def test_page_says_which_batch_it_is_as_of(report_out: Path) -> None:
    html = (report_out / "index.html").read_text(encoding="utf-8")
    as_of = f"Data as of batch <code>{LATEST_BATCH}</code>, loaded 2 March 2024 at 09:30 UTC."
    assert as_of in html
    assert "20240301T090000Z" not in html


def test_page_is_self_contained_and_accessible(report_out: Path) -> None:
    page, _ = _page(report_out)
    html = (report_out / "index.html").read_text(encoding="utf-8")
    assert page.all("html") == [{"lang": "en"}]
    assert len(page.all("h1")) == 1
    assert len(page.all("h2")) == 8
    assert all(th.get("scope") in {"col", "row", "rowgroup"} for th in page.all("th"))
    assert len(page.all("caption")) == len(page.all("table")) == 5
    assert not page.all("script") and not page.all("link")
    assert "http://" not in html and "https://" not in html
    assert "<b>" not in html


def test_write_report_returns_the_headline_and_files(report_result: ReportResult) -> None:
    assert report_result.index.name == "index.html"
    assert report_result.index.parent.name == "dir"  # created with its parents
    assert len(report_result.charts) == 7
    assert all(p.exists() and p.parent == report_result.index.parent for p in report_result.charts)
    assert report_result.headline == [
        CurrencyHeadline("GBP", 3, 16, D("330.01"), D("110.00")),
        CurrencyHeadline("USD", 2, 6, D("4938.44"), D("2469.22")),
    ]
    assert report_result.as_of is not None and report_result.as_of[0] == LATEST_BATCH


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
    assert not page.all("img")


def test_a_database_without_the_warehouse_tables_says_there_is_no_data_yet(
    report_database: Callable[[], Database], tmp_path: Path
) -> None:
    result = write_report(report_database(), tmp_path)
    assert result.charts == []
    assert "There is no data in the warehouse yet." in _page(tmp_path)[1]


# -- a real browser ------------------------------------------------------------------------


def test_chromium_renders_the_page(report_out: Path, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    shot = tmp_path / "shot.png"
    run = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=1280,2000", (report_out / "index.html").as_uri()],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert shot.exists() and shot.stat().st_size > 50_000
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1280, 2000)
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000) or []
    assert len(colours) > 500  # text, cards and charts, not a blank or error page


def test_report_sums_valid_money_of_any_size(cli, etl_env, tmp_path: Path) -> None:
    """One order of 20,000 units at the largest price numeric(10,2) holds: the month's total
    overflowed a numeric(14,2) cast ('numeric field overflow', exit 1)."""
    from conftest import query

    src = etl_env["AINSDALE_SOURCE_URL"]
    query(src, "UPDATE sales_order SET units_sold = 20000, unit_price = 99999999.99, "
               "last_updated = localtimestamp(3) WHERE sales_order_id = "
               "(SELECT min(sales_order_id) FROM sales_order)")  # fmt: skip
    cli("run-all")
    cli("report", "--out", str(tmp_path / "big"))
    import re

    page = (tmp_path / "big" / "index.html").read_text()
    assert re.search(r"\b\d{1,3}(,\d{3}){4}\.\d\d\b", page)  # a figure over a trillion, exact
