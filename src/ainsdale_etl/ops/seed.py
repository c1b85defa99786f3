"""Seed a totesys database with realistic synthetic data, set-based, in one transaction.

Every quirk of the production database is reproduced on purpose: enum types, money as
numeric(10,2), agreed dates as text, millisecond timestamps, ids with gaps, rows stored out of
id order, nullable address lines and a ``_prisma_migrations`` table. All generation happens in
SQL (``generate_series`` + a seeded ``random()``), so scale 100 takes seconds, not minutes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from typing import TYPE_CHECKING

from ainsdale_etl.adapters.postgres import Database, execute_script, fetch_all
from ainsdale_etl.core.errors import RefusedError
from ainsdale_etl.core.registry import IGNORED_SOURCE_TABLES, SOURCE_TABLES

if TYPE_CHECKING:
    from adbc_driver_postgresql.dbapi import Cursor

SEED_MARKER = "ainsdale-etl seed"  # COMMENT ON SCHEMA public: this data is ours to overwrite


@dataclass(frozen=True)
class SeedSize:
    sales_orders: int
    purchase_orders: int
    designs: int
    staff: int = 20
    counterparties: int = 20
    addresses: int = 30
    departments: int = 8

    @classmethod
    def for_scale(cls, scale: float) -> SeedSize:
        """``scale`` 1 is about the size of the production database."""
        return cls(
            sales_orders=max(10, round(11_000 * scale)),
            purchase_orders=max(5, round(4_600 * scale)),
            designs=max(10, round(500 * min(scale, 1) + 5 * max(scale - 1, 0))),
        )


def totesys_ddl() -> str:
    return files("ainsdale_etl.ops").joinpath("sql/totesys.sql").read_text(encoding="utf-8")


_FIRST = "ARRAY['Jeremie','Deron','Jeanette','Ana','Magdalena','Korey','Raphael','Oswaldo','Brody','Jazmyn','Meda','Imani','Stan','Rigoberto','Tom','Pierce','Flavio','Lina','Ayaan','Sofia','Mateo','Priya','Noah','Chloe']"
_LAST = "ARRAY['Franey','Herzog','Erdman','Glover','Zieme','Ondricka','Rippin','Bruen','Ratke','Kuhic','Cremin','Yost','Lehner','Hahn','Shields','Sipes','Hane','Schinner','Okafor','Nguyen','Kowalski','Murphy']"
_CITIES = "ARRAY['New Patienceburgh','Aliso Viejo','Lake Charles','Olsonside','Fort Shadburgh','Kendraburgh','North Kyler','Utica','Leeds','Manchester','Lyon','Porto','Rotterdam','Austin']"
_COUNTRIES = "ARRAY['United States','Antigua and Barbuda','Bosnia and Herzegovina','Austria','Faroe Islands','Saint Helena','Iceland','Heard Island and McDonald Islands','United Kingdom','United Kingdom','France','Portugal','Netherlands','United States']"
_DESIGN = "ARRAY['Wooden','Granite','Soft','Steel','Concrete','Bronze','Rubber','Frozen','Cotton','Plastic','Fresh','Metal']"
_COMPANY = "ARRAY['Fahey and Sons','Leannon, Predovic and Morar','Armstrong Inc','Kohler Inc','Frami, Yundt and Macejkovic','Mraz LLC','Padberg, Lueilwitz and Johnson','Grant - Lakin','Price LLC','Bosco - Grady','Marvin LLC','Jacobi Inc']"
_DEPARTMENTS = "ARRAY['Sales','Purchasing','Production','Dispatch','Finance','Facilities','Communications','HR']"
# Rows are inserted in md5(id) order, i.e. not in id order, as in production. (Not ORDER BY
# random(): PostgreSQL then evaluates every random() of the row to one shared value.)
# Ids with gaps, as in production: every seventh id was used once and deleted.
_GAPPY_ID = "(gs + gs / 7)"
_START = "timestamp '2022-11-03 14:20:49.962'"
_STAMP = f"{_START} + random() * interval '1095 days'"

_STATEMENTS = [
    "SET LOCAL max_parallel_workers_per_gather = 0",  # one worker: random() stays deterministic
    "SELECT setseed($1)",
    """INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, applied_steps_count)
       SELECT md5(gs::text)::uuid::text, md5('checksum' || gs), now(), 'migration_' || gs, 1
       FROM generate_series(1, 3) gs""",
    f"""INSERT INTO address (address_id, address_line_1, address_line_2, district, city,
                             postal_code, country, phone, created_at, last_updated)
       SELECT id, (100 + floor(random() * 9000))::int || ' ' || ({_LAST})[1 + floor(random() * 22)::int] || ' Road',
              CASE WHEN random() < 0.5 THEN 'Apt. ' || (1 + floor(random() * 99))::int END,
              CASE WHEN random() < 0.6 THEN (ARRAY['Avon','Bedfordshire','Cheshire','Kent','Surrey'])[1 + floor(random() * 5)::int] END,
              ({_CITIES})[city], lpad((floor(random() * 99999))::int::text, 5, '0'), ({_COUNTRIES})[city],
              '1803 ' || lpad((floor(random() * 999999))::int::text, 6, '0'), ts, ts
       FROM (SELECT {_GAPPY_ID} AS id, {_STAMP} AS ts, 1 + floor(random() * 14)::int AS city
             FROM generate_series(1, $2) gs) g
       ORDER BY md5(id::text)""",
    f"""INSERT INTO department (department_id, department_name, location, manager, created_at, last_updated)
       SELECT gs, ({_DEPARTMENTS})[gs], (ARRAY['Manchester','Leeds','Leds'])[1 + floor(random() * 3)::int],
              ({_FIRST})[1 + floor(random() * 24)::int] || ' ' || ({_LAST})[1 + floor(random() * 22)::int],
              {_START}, {_START}
       FROM generate_series(1, $3) gs ORDER BY md5(gs::text)""",
    f"""INSERT INTO currency (currency_id, currency_code, created_at, last_updated)
       SELECT gs, (ARRAY['GBP','USD','EUR'])[gs], {_START}, {_START} FROM generate_series(1, 3) gs""",
    f"""INSERT INTO payment_type (payment_type_id, payment_type_name, created_at, last_updated)
       SELECT gs, (enum_range(NULL::"PaymentTypeName"))[gs], {_START}, {_START}
       FROM generate_series(1, 4) gs""",
    f"""INSERT INTO staff (staff_id, first_name, last_name, department_id, email_address, created_at, last_updated)
       SELECT gs, f, l, 1 + floor(random() * $3)::int,
              lower(f || '.' || l) || '@terrifictotes.com', {_START}, {_START}
       FROM (SELECT gs, ({_FIRST})[1 + (gs * 7) % 24] AS f, ({_LAST})[1 + (gs * 5) % 22] AS l
             FROM generate_series(1, $4) gs) s
       ORDER BY md5(gs::text)""",
    f"""INSERT INTO counterparty (counterparty_id, counterparty_legal_name, legal_address_id,
                                  commercial_contact, delivery_contact, created_at, last_updated)
       SELECT gs, ({_COMPANY})[1 + (gs - 1) % 12] || CASE WHEN gs > 12 THEN ' ' || gs ELSE '' END,
              (SELECT address_id FROM address ORDER BY address_id OFFSET (gs * 3) % $2 LIMIT 1),
              CASE WHEN random() < 0.9 THEN ({_FIRST})[1 + floor(random() * 24)::int] || ' ' || ({_LAST})[1 + floor(random() * 22)::int] END,
              CASE WHEN random() < 0.9 THEN ({_FIRST})[1 + floor(random() * 24)::int] || ' ' || ({_LAST})[1 + floor(random() * 22)::int] END,
              {_START}, {_START}
       FROM generate_series(1, $5) gs ORDER BY md5(gs::text)""",
    f"""INSERT INTO design (design_id, created_at, design_name, file_location, file_name, last_updated)
       SELECT id, ts, n, '/' || (ARRAY['usr','private','opt','System','Users'])[1 + floor(random() * 5)::int] || '/share',
              lower(n) || '-' || to_char(ts, 'YYYYMMDD') || '-' || substr(md5(id::text), 1, 4) || '.json', ts
       FROM (SELECT {_GAPPY_ID} AS id, {_STAMP} AS ts,
                    ({_DESIGN})[1 + floor(random() * 12)::int] AS n
             FROM generate_series(1, $6) gs) d
       ORDER BY md5(id::text)""",
    f"""INSERT INTO sales_order (sales_order_id, created_at, last_updated, design_id, staff_id,
                                 counterparty_id, units_sold, unit_price, currency_id,
                                 agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
       SELECT id, ts, ts + CASE WHEN random() < 0.3 THEN random() * interval '20 days' ELSE interval '0' END,
              (SELECT array_agg(design_id ORDER BY design_id) FROM design)[1 + floor(random() * $6)::int],
              (SELECT array_agg(staff_id ORDER BY staff_id) FROM staff)[1 + floor(random() * $4)::int],
              (SELECT array_agg(counterparty_id ORDER BY counterparty_id) FROM counterparty)[1 + floor(random() * $5)::int],
              1000 + floor(random() * 99000)::int, round((2 + random() * 2)::numeric, 2),
              1 + floor(random() * 3)::int,
              to_char(ts + (1 + floor(random() * 10)::int) * interval '1 day', 'YYYY-MM-DD'),
              to_char(ts + (1 + floor(random() * 14)::int) * interval '1 day', 'YYYY-MM-DD'),
              (SELECT array_agg(address_id ORDER BY address_id) FROM address)[1 + floor(random() * $2)::int]
       FROM (SELECT {_GAPPY_ID} AS id, {_STAMP} AS ts FROM generate_series(1, $7) gs) o
       ORDER BY md5(id::text)""",
    f"""INSERT INTO purchase_order (purchase_order_id, created_at, last_updated, staff_id, counterparty_id,
                                    item_code, item_quantity, item_unit_price, currency_id,
                                    agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
       SELECT id, ts, ts + CASE WHEN random() < 0.2 THEN random() * interval '10 days' ELSE interval '0' END,
              (SELECT array_agg(staff_id ORDER BY staff_id) FROM staff)[1 + floor(random() * $4)::int],
              (SELECT array_agg(counterparty_id ORDER BY counterparty_id) FROM counterparty)[1 + floor(random() * $5)::int],
              upper(substr(md5(id::text), 1, 7)), 1 + floor(random() * 999)::int,
              round((1 + random() * 999)::numeric, 2), 1 + floor(random() * 3)::int,
              to_char(ts + (1 + floor(random() * 10)::int) * interval '1 day', 'YYYY-MM-DD'),
              to_char(ts + (1 + floor(random() * 30)::int) * interval '1 day', 'YYYY-MM-DD'),
              (SELECT array_agg(address_id ORDER BY address_id) FROM address)[1 + floor(random() * $2)::int]
       FROM (SELECT {_GAPPY_ID} AS id, {_STAMP} AS ts FROM generate_series(1, $8) gs) o
       ORDER BY md5(id::text)""",
    """INSERT INTO transaction (transaction_id, transaction_type, sales_order_id, purchase_order_id,
                                created_at, last_updated)
       SELECT row_number() OVER (ORDER BY o.created_at, o.kind, o.id) + 3, o.kind::"TransactionType",
              CASE WHEN o.kind = 'SALE' THEN o.id END, CASE WHEN o.kind = 'PURCHASE' THEN o.id END,
              o.created_at, o.last_updated
       FROM (SELECT 'SALE' AS kind, sales_order_id AS id, created_at, last_updated FROM sales_order
             UNION ALL
             SELECT 'PURCHASE', purchase_order_id, created_at, last_updated FROM purchase_order) o
       ORDER BY md5(o.kind || o.id)""",
    """INSERT INTO payment (payment_id, created_at, last_updated, transaction_id, counterparty_id,
                            payment_amount, currency_id, payment_type_id, paid, payment_date,
                            company_ac_number, counterparty_ac_number)
       SELECT t.transaction_id + 1, t.created_at, t.last_updated, t.transaction_id,
              coalesce(s.counterparty_id, p.counterparty_id),
              least(coalesce(s.units_sold * s.unit_price, p.item_quantity * p.item_unit_price), 99999999.99),
              coalesce(s.currency_id, p.currency_id),
              CASE WHEN t.transaction_type = 'SALE' THEN (CASE WHEN random() < 0.05 THEN 2 ELSE 1 END)
                   ELSE (CASE WHEN random() < 0.05 THEN 4 ELSE 3 END) END,
              random() < 0.7,
              coalesce(s.agreed_payment_date, p.agreed_payment_date),
              10000000 + floor(random() * 89999999)::int, 10000000 + floor(random() * 89999999)::int
       FROM transaction t
       LEFT JOIN sales_order s USING (sales_order_id)
       LEFT JOIN purchase_order p USING (purchase_order_id)
       ORDER BY md5(t.transaction_id::text)""",
]


def _is_empty(cur: Cursor) -> bool:
    rows = fetch_all(
        cur,
        """SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')""",
    )
    return int(rows[0][0]) == 0


def _is_ours(cur: Cursor) -> bool:
    rows = fetch_all(cur, "SELECT obj_description('public'::regnamespace, 'pg_namespace')")
    return rows[0][0] == SEED_MARKER


def source_is_empty(db: Database) -> bool:
    with db.connect() as conn, conn.cursor() as cur:
        return _is_empty(cur)


def generator_seed(random_seed: int) -> float:
    """PostgreSQL's ``setseed`` takes a float in [-1, 1]; people give an integer."""
    if random_seed < 0:
        raise ValueError("random seed must be a whole number, 0 or more")
    return (random_seed % 2**31) / 2**31


def seed(
    db: Database, *, scale: float = 1.0, random_seed: int = 42, force: bool = False
) -> dict[str, int]:
    """Create the totesys schema in ``db`` and fill it; returns rows per table.

    Refuses a database that holds tables this command did not create, unless ``force``;
    a database it seeded before is re-seeded only with ``force``.
    """
    fraction = generator_seed(random_seed)
    size = SeedSize.for_scale(scale)
    tables = [*IGNORED_SOURCE_TABLES, *SOURCE_TABLES]
    with db.connect() as conn, conn.cursor() as cur:
        if not _is_empty(cur):
            if not force:
                what = "seeded before" if _is_ours(cur) else "holds tables seed did not create"
                raise RefusedError(
                    f"the source database {what}; rerun with --force to drop and re-seed it"
                )
            _drop_totesys(cur)
        execute_script(cur, totesys_ddl())
        params = (fraction, size.addresses, size.departments, size.staff, size.counterparties,
                  size.designs, size.sales_orders, size.purchase_orders)  # fmt: skip
        for statement in _STATEMENTS:
            cur.execute(*_bind(statement, params))
        for table in SOURCE_TABLES.values():
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{table.id_column}'), "
                f'(SELECT max("{table.id_column}") FROM "{table.name}"))'
            )
        cur.execute(f"COMMENT ON SCHEMA public IS '{SEED_MARKER}'")
        counts = {t: int(fetch_all(cur, f'SELECT count(*) FROM "{t}"')[0][0]) for t in tables}
        conn.commit()
    return counts


def _bind(statement: str, params: tuple[float | int, ...]) -> tuple[str, list[float | int] | None]:
    """Renumber the $n a statement uses to $1..$k (PostgreSQL wants no gaps) with their values."""
    used = sorted({int(n) for n in re.findall(r"\$(\d+)", statement)})
    if not used:
        return statement, None
    numbering = {old: new for new, old in enumerate(used, start=1)}
    sql = re.sub(r"\$(\d+)", lambda m: f"${numbering[int(m.group(1))]}", statement)
    return sql, [params[n - 1] for n in used]


def _drop_totesys(cur: Cursor) -> None:
    names = ", ".join(f'"{t}"' for t in [*SOURCE_TABLES, *IGNORED_SOURCE_TABLES])
    cur.execute(f"DROP TABLE IF EXISTS {names} CASCADE")
    cur.execute('DROP TYPE IF EXISTS "PaymentTypeName", "TransactionType" CASCADE')
