"""The analysts' views of the lake, for Athena: generated from the registry, deployed by Terraform.

The warehouse's ``<fact>_as_recorded`` views join every fact version to the dimension versions
valid when it was recorded. The lake knows when the *current* version of each fact was recorded
(``<fact>_current.recorded_at``), not when the versions before it were, so its view is
``<fact>_current_as_recorded``: each current version with the dimension versions valid then,
the rows of the warehouse's ``<fact>_as_recorded`` that are current. Each view is one
``CREATE OR REPLACE VIEW`` in ``terraform/athena/`` (written by ``make docs``, checked fresh by
the tests), made a named query in the lake's workgroup by ``terraform/athena.tf``.

The SQL keeps to what Athena (Trino) and DuckDB both read, unqualified table names (the named
query names the database), so the tests run the same text in DuckDB over a real lake.
"""

from __future__ import annotations

from ainsdale_etl.core.registry import DERIVED_TABLES, FACTS, StarTable, quote_ident
from ainsdale_etl.load.ddl import quote_ident_suffix, recorded_joins

VIEW_SUFFIX = "current_as_recorded"


def current_as_recorded_view(fact: StarTable) -> str:
    """CREATE OR REPLACE VIEW ``<fact>_current_as_recorded`` over the lake's tables."""
    current = DERIVED_TABLES[f"{fact.name}_current"]
    recorded = "f." + quote_ident("recorded_at")
    columns = [f"f.{quote_ident(c.name)}" for c in current.columns]
    joins = []
    for join in recorded_joins(fact):  # the lake's tables have the warehouse's names
        columns += join.columns()
        joins.append(join.join(recorded))
    listed = ",\n    ".join(columns)
    joined = "\n".join(joins)
    return (
        f"CREATE OR REPLACE VIEW {quote_ident_suffix(fact.name, VIEW_SUFFIX)} AS\n"
        f"SELECT\n    {listed}\nFROM {quote_ident(current.name)} f\n{joined}\n"
    )


def athena_views() -> dict[str, str]:
    """Each view's name and its CREATE OR REPLACE VIEW statement."""
    return {f"{fact.name}_{VIEW_SUFFIX}": current_as_recorded_view(fact) for fact in FACTS}
