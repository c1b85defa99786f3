"""Dimensions: built from the current state of their source tables, limited to the rows a batch
affected: a changed address rebuilds its location and every counterparty whose legal address it
is; a changed department rebuilds every staff row in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import polars as pl

from ainsdale_etl.core.registry import PLACEHOLDER_TEXT, SOURCE_VERSION, STAR_TABLES
from ainsdale_etl.transform.star.conform import conform, empty_source
from ainsdale_etl.transform.star.current import BATCH_COLUMN, latest, live


def build_dim_location(address: pl.DataFrame) -> pl.DataFrame:
    return conform(address.rename({"address_id": "location_id"}), "dim_location")


def build_dim_design(design: pl.DataFrame) -> pl.DataFrame:
    return conform(design, "dim_design")


def build_dim_payment_type(payment_type: pl.DataFrame) -> pl.DataFrame:
    return conform(payment_type, "dim_payment_type")


def build_dim_transaction(transaction: pl.DataFrame) -> pl.DataFrame:
    return conform(transaction, "dim_transaction")


@lru_cache(maxsize=1)
def iso_4217_names() -> pl.DataFrame:
    """ISO 4217 alphabetic codes and their names, from pycountry's maintained table."""
    import pycountry

    codes = [(c.alpha_3, c.name) for c in pycountry.currencies]
    return pl.DataFrame(
        codes, schema={"currency_code": pl.String, "currency_name": pl.String}, orient="row"
    )


def build_dim_currency(currency: pl.DataFrame) -> pl.DataFrame:
    """Currencies named by ISO 4217; a code the standard does not know (a new one, a local
    token) is named by itself rather than refused: it is not bad input, and the transform
    warns about it (:func:`unknown_currency_codes`)."""
    named = currency.with_columns(pl.col("currency_code").str.to_uppercase()).join(
        iso_4217_names(), on="currency_code", how="left"
    )
    named = named.with_columns(pl.col("currency_name").fill_null(pl.col("currency_code")))
    return conform(named, "dim_currency")


def unknown_currency_codes(dim_currency: pl.DataFrame) -> list[str]:
    """The codes of ``dim_currency`` that ISO 4217 does not know (named by themselves)."""
    unknown = dim_currency.join(iso_4217_names(), on="currency_code", how="anti")
    return sorted(unknown["currency_code"].to_list())


def unknown_references(
    rows: pl.DataFrame, column: str, known: pl.DataFrame, key: str
) -> pl.DataFrame:
    """The rows whose ``column`` names no ``key`` in ``known`` (not delivered yet)."""
    return rows.join(known, left_on=column, right_on=key, how="anti")


def _with_source_version(
    conformed: pl.DataFrame, joined: pl.DataFrame, *versions: str
) -> pl.DataFrame:
    """``conformed`` with :data:`SOURCE_VERSION`, the newest batch any of its row's source
    rows came from, where the current state says (``versions``: its batch columns).

    A joined row is as new as its newest part, not as the batch that rebuilt it: a batch
    transformed after a later one (a repair out of turn) rebuilds staff from the later one's
    staff rows, and what it builds must not count as older than what that batch loaded.
    """
    present = [v for v in versions if v in joined.columns]
    if not present:
        return conformed  # built from the source itself (verify): no batches to speak of
    return conformed.with_columns(joined.select(pl.max_horizontal(present).alias(SOURCE_VERSION)))


def build_dim_staff(staff: pl.DataFrame, department: pl.DataFrame) -> pl.DataFrame:
    """Staff with their department's name and location. A department not delivered yet gives
    the placeholder name (the row is rebuilt when the department arrives: see
    :func:`build_dimensions`), as the load does for facts (load/inferred.py)."""
    joined = staff.join(
        department.select("department_id", "department_name", "location", *_batch(department)),
        on="department_id",
        how="left",
        suffix="_department",
    ).with_columns(pl.col("department_name").fill_null(PLACEHOLDER_TEXT))
    return _with_source_version(
        conform(joined, "dim_staff"), joined, BATCH_COLUMN, f"{BATCH_COLUMN}_department"
    )


def _batch(state: pl.DataFrame) -> list[str]:
    return [BATCH_COLUMN] if BATCH_COLUMN in state.columns else []


def build_dim_counterparty(counterparty: pl.DataFrame, address: pl.DataFrame) -> pl.DataFrame:
    legal = address.select(
        pl.col("address_id").alias("legal_address_id"),
        *(
            pl.col(c).alias(f"counterparty_legal_{c}")
            for c in (
                "address_line_1",
                "address_line_2",
                "district",
                "city",
                "postal_code",
                "country",
            )
        ),
        pl.col("phone").alias("counterparty_legal_phone_number"),
        *(pl.col(c).alias(f"{c}_address") for c in _batch(address)),
    )
    joined = counterparty.join(legal, on="legal_address_id", how="left")
    required = [c.name for c in STAR_TABLES["dim_counterparty"].columns if not c.nullable]
    placeholders = [pl.col(c).fill_null(PLACEHOLDER_TEXT) for c in required if c in legal.columns]
    joined = joined.with_columns(placeholders)
    return _with_source_version(
        conform(joined, "dim_counterparty"), joined, BATCH_COLUMN, f"{BATCH_COLUMN}_address"
    )


def _ids(frame: pl.DataFrame, column: str) -> pl.Series:
    return frame[column].unique()


def build_dim_transaction_latest(transaction: pl.DataFrame) -> pl.DataFrame:
    """dim_transaction from a batch's transaction rows: the latest version of each id."""
    return build_dim_transaction(latest(transaction, "transaction"))


def build_dimensions(
    changes: Mapping[str, pl.DataFrame], current: Mapping[str, pl.DataFrame]
) -> dict[str, pl.DataFrame]:
    """Every dimension a batch affects but those in :data:`ROW_WISE` and the calendar (which
    follows the facts' dates).

    ``changes`` holds the batch's rows per source table (absent: no rows); ``current`` holds the
    current state (after this batch) of each table in :data:`JOINED_SOURCES`.
    """

    def changed(name: str) -> pl.DataFrame:
        return changes[name] if name in changes else empty_source(name)

    current = {name: live(state) for name, state in current.items()}  # deleted ids: no rows

    address, staff = changed("address"), changed("staff")
    counterparty, department = changed("counterparty"), changed("department")
    all_staff = current["staff"].filter(
        pl.col("staff_id").is_in(_ids(staff, "staff_id").implode())
        | pl.col("department_id").is_in(_ids(department, "department_id").implode())
    )
    all_counterparties = current["counterparty"].filter(
        pl.col("counterparty_id").is_in(_ids(counterparty, "counterparty_id").implode())
        | pl.col("legal_address_id").is_in(_ids(address, "address_id").implode())
    )
    return {
        "dim_staff": build_dim_staff(all_staff, current["department"]),
        "dim_location": build_dim_location(latest(address, "address")),
        "dim_design": build_dim_design(latest(changed("design"), "design")),
        "dim_currency": build_dim_currency(latest(changed("currency"), "currency")),
        "dim_counterparty": build_dim_counterparty(all_counterparties, current["address"]),
        "dim_payment_type": build_dim_payment_type(latest(changed("payment_type"), "payment_type")),
    }
