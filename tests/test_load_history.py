"""Dimension history (type 2): each sequence of source changes is extracted batch by batch, the
source's dimension rows recorded after each, and the history the warehouse keeps -- whatever
the order its batches were loaded in -- compared with one built here from those records alone:
a version wherever a row's values changed, ending where the next begins or the row left."""

from __future__ import annotations

from helpers.contents import SOURCE_STAR, batch_ids, histories, warehouse_contents
from helpers.databases import query

NOW = "localtimestamp(3)"
DIMS = ("dim_staff", "dim_design", "dim_counterparty", "dim_location")

Snapshots = list[tuple[str, dict[str, dict[str, tuple[object, ...]]]]]


def _newest_batch(etl_env) -> str:
    return batch_ids(etl_env["AINSDALE_INGEST_URI"])[-1]


def _extract(cli, etl_env, snapshots: Snapshots) -> str:
    """Extract a batch and record the source's dimension rows as of it, by id."""
    cli("extract")
    batch = _newest_batch(etl_env)
    src = etl_env["AINSDALE_SOURCE_URL"]
    rows = {name: {r[0]: r for r in query(src, SOURCE_STAR[name])} for name in DIMS}
    snapshots.append((batch, rows))
    return batch


def expected_history(snapshots: Snapshots, dim: str) -> list[tuple[object, ...]]:
    """The history the source's records say: (values..., valid_from, valid_to, is_current),
    the interval ends being batch ids, sorted by id and valid_from."""
    versions: dict[str, list[tuple[str, tuple[object, ...] | None]]] = {}
    for batch, rows in snapshots:
        for id_ in set(rows[dim]) | set(versions):
            row = rows[dim].get(id_)
            held = versions.setdefault(id_, [])
            last = held[-1][1] if held else None
            if row != last:
                held.append((batch, row))
    history = []
    for held in versions.values():
        for (start, row), (end, _) in zip(held, [*held[1:], (None, None)], strict=True):
            if row is not None:
                history.append((*row, start, end, end is None))
    return sorted(history, key=_by_id_and_start)


def _by_id_and_start(row: tuple[object, ...]) -> tuple[int, str]:
    return int(str(row[0])), str(row[-3])


def warehouse_history(url: str, dim: str) -> list[tuple[object, ...]]:
    """The warehouse's history of ``dim`` in the same form (its interval ends as batch ids)."""
    columns = [f'"{c}"::text' for c in _columns(dim)]
    stamp = "to_char({} AT TIME ZONE 'UTC', 'YYYYMMDD\"T\"HH24MISSUS\"Z\"')"
    rows = query(
        url,
        f"SELECT {', '.join(columns)}, {stamp.format('valid_from')}, "
        f'{stamp.format("valid_to")}, is_current FROM "{dim}_history"',
    )
    return sorted(rows, key=_by_id_and_start)


def _columns(dim: str) -> list[str]:
    from ainsdale_etl.core.registry import STAR_TABLES

    return STAR_TABLES[dim].column_names


def _current_rows_are_the_dimensions(url: str) -> None:
    """The current rows of each history are the dimension's rows, but placeholders and rows
    kept (deleted at the source) for the facts that point at them."""
    from ainsdale_etl.load.ddl import historied

    for dim in historied():
        listed = ", ".join(f'"{c}"' for c in dim.column_names)
        key = f'"{dim.key[0]}"'
        only_one_side = query(
            url,
            f"""(SELECT {listed} FROM "{dim.name}_history" WHERE is_current
                EXCEPT SELECT {listed} FROM "{dim.name}")
                UNION ALL
                (SELECT {listed} FROM "{dim.name}" d WHERE NOT EXISTS (SELECT FROM
                    ainsdale_meta.row_version v WHERE v.star_table = '{dim.name}'
                    AND v.id = d.{key} AND v.deleted)
                AND NOT EXISTS (SELECT FROM ainsdale_meta.inferred_member i
                    WHERE i.dim = '{dim.name}' AND i.id = d.{key})
                EXCEPT SELECT {listed} FROM "{dim.name}_history" WHERE is_current)""",
        )
        assert only_one_side == [], dim


def _a_department_with_three_staff(src: str) -> int:
    return query(
        src,
        "SELECT department_id FROM staff GROUP BY 1 HAVING count(*) >= 3 ORDER BY 1 LIMIT 1",
    )[0][0]


def _five_batches(cli, etl_env) -> tuple[Snapshots, dict[str, int]]:
    """Renames in several batches, a clock a day fast then a day slow, a department renamed
    under three or more staff, an address moved, a design deleted and put back."""
    src = etl_env["AINSDALE_SOURCE_URL"]
    design = query(src, "SELECT min(design_id) FROM design")[0][0]
    department = _a_department_with_three_staff(src)
    address = query(src, "SELECT min(legal_address_id) FROM counterparty")[0][0]
    query(src, "INSERT INTO design (design_id, created_at, last_updated, design_name, "
               "file_location, file_name) VALUES (9300, localtimestamp, localtimestamp, "
               "'Brief', '/b', 'b.json')")  # fmt: skip
    snapshots: Snapshots = []
    _extract(cli, etl_env, snapshots)

    def rename(name: str, stamp: str = NOW) -> None:
        query(src, f"UPDATE design SET design_name = $1, last_updated = {stamp} "
                   "WHERE design_id = $2", [name, design])  # fmt: skip

    rename("Once")
    _extract(cli, etl_env, snapshots)
    rename("Twice")
    query(src, f"UPDATE department SET department_name = 'Renamed', last_updated = {NOW} "
               "WHERE department_id = $1", [department])  # fmt: skip
    query(src, "DELETE FROM design WHERE design_id = 9300")
    _extract(cli, etl_env, snapshots)
    rename("Fast clock", f"{NOW} + interval '1 day'")
    query(src, f"UPDATE address SET city = 'Moved', last_updated = {NOW} WHERE address_id = $1",
          [address])  # fmt: skip
    _extract(cli, etl_env, snapshots)
    rename("Slow clock", f"{NOW} - interval '1 day'")
    query(src, "INSERT INTO design (design_id, created_at, last_updated, design_name, "
               "file_location, file_name) VALUES (9300, localtimestamp, localtimestamp, "
               "'Back', '/b', 'b.json')")  # fmt: skip
    _extract(cli, etl_env, snapshots)
    cli("transform")
    return snapshots, {"design": design, "department": department, "address": address}


def test_batches_loaded_out_of_order_give_the_history_the_source_went_through(
    cli, etl_env, new_database_url, monkeypatch
):
    snapshots, ids = _five_batches(cli, etl_env)
    batches = [batch for batch, _ in snapshots]
    in_order = etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("load")
    for dim in DIMS:
        assert warehouse_history(in_order, dim) == expected_history(snapshots, dim), dim
    _current_rows_are_the_dimensions(in_order)

    design = [r for r in warehouse_history(in_order, "dim_design") if r[0] == str(ids["design"])]
    names = [design[0][1], "Once", "Twice", "Fast clock", "Slow clock"]
    # The clock's jumps change nothing: the batch order decides.
    assert [(r[1], r[-3], r[-1]) for r in design] == [
        (name, batch, i == 4) for i, (name, batch) in enumerate(zip(names, batches, strict=True))
    ]
    renamed = query(
        in_order,
        "SELECT count(DISTINCT staff_id) FROM dim_staff_history WHERE department_name = "
        "'Renamed' AND is_current AND valid_from = ainsdale_meta.batch_time($1)",
        [batches[2]],
    )[0][0]
    assert renamed >= 3
    brief = [r[1:2] + r[-3:] for r in warehouse_history(in_order, "dim_design") if r[0] == "9300"]
    assert brief == [("Brief", batches[0], batches[2], False), ("Back", batches[4], None, True)]

    for order in ([0, 3, 1, 4, 2], [4, 2, 0, 3, 1]):  # the first: a bulk load, then a backfill
        other = new_database_url("history")
        monkeypatch.setenv("AINSDALE_WAREHOUSE_URL", other)
        for i in order:
            cli("load", "--batch-id", batches[i])
        assert histories(other) == histories(in_order), order
        assert warehouse_contents(other) == warehouse_contents(in_order), order
        _current_rows_are_the_dimensions(other)
        cli("load", "--batch-id", batches[order[1]])  # a rerun changes nothing
        assert histories(other) == histories(in_order), order


def test_a_fact_as_recorded_sees_the_department_and_city_of_its_time(cli, etl_env):
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    order, staff, old_department = query(
        src,
        "SELECT o.sales_order_id, o.staff_id, d.department_name FROM sales_order o "
        "JOIN staff s USING (staff_id) JOIN department d USING (department_id) "
        "ORDER BY 1 LIMIT 1",
    )[0]
    query(src, f"UPDATE department SET department_name = 'Then renamed', last_updated = {NOW} "
               "WHERE department_id = (SELECT department_id FROM staff WHERE staff_id = $1)",
          [staff])  # fmt: skip
    cli("run-all")
    query(src, f"UPDATE sales_order SET units_sold = units_sold + 1, last_updated = {NOW} "
               "WHERE sales_order_id = $1", [order])  # fmt: skip
    cli("run-all")
    seen = query(
        wh,
        "SELECT units_sold, sales_staff_department_name FROM fact_sales_order_as_recorded "
        "WHERE sales_order_id = $1 ORDER BY recorded_batch",
        [order],
    )
    (first_units, first_department), (_, second_department) = seen
    assert (first_department, second_department) == (old_department, "Then renamed")
    current = query(wh, "SELECT department_name FROM dim_staff WHERE staff_id = $1", [staff])
    assert current == [("Then renamed",)]
    unmatched = query(
        wh,
        "SELECT count(*) FROM fact_sales_order_as_recorded WHERE sales_staff_version_key IS NULL "
        "OR counterparty_version_key IS NULL OR design_version_key IS NULL",
    )
    assert unmatched == [(0,)]
    assert first_units is not None
