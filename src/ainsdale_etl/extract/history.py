"""Which history of the source a window belongs to: the server's identity and its enums' labels.

An xid window (see :mod:`.windows`) means something only on the history it was taken on. A
restore (from a snapshot, to a point in time) or a failover to a replica that lagged puts
another history behind the same database name, and its xids may pass the old ``xmax`` before
the next extract, where "the transaction ids went backwards" no longer shows it. So every
extract records in its manifest what identifies the source's history:

* the cluster's **system identifier** (``pg_control_system()``): a new cluster (a logical
  restore, another server) has another; a physical copy (a snapshot restore, a replica, an RDS
  Multi-AZ standby) keeps it;
* its **timeline**: a promotion or a point-in-time restore starts a new one; an RDS Multi-AZ
  failover, which loses nothing, does not. On a primary it is read from the name of the
  current WAL file, which every role may do; on a standby, from ``pg_control_checkpoint()``.

Where a table's last window was recorded with another identity, the table is read whole (as on
its first extract), with one warning naming both. A part this role cannot read is "unknown",
and unknown is never a change: manifests written before identities were recorded, or by a role
without the grant, cause no whole read. ``pg_control_system()`` and ``pg_control_checkpoint()``
are open to every role in a stock PostgreSQL, but a hardened server (RDS among them) may keep
them to superusers and ``pg_monitor``: ``GRANT pg_monitor TO <role>``, or ``GRANT EXECUTE ON
FUNCTION pg_control_system(), pg_control_checkpoint() TO <role>`` (``ainsdale-etl check`` says
which is missing).

Enum labels are part of the history too: ``ALTER TYPE ... RENAME VALUE`` changes no row, so no
row is captured and the star would keep the old label for ever. Each manifest records the labels
of every enum its tables use, in order; where a label recorded with a table's last window is
gone, that table is read whole, with one warning per enum. A label only added changes no
stored value, and causes no whole read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ainsdale_etl.core.events import Reporter
from ainsdale_etl.core.manifests import Manifest, SourceIdentity

if TYPE_CHECKING:
    import psycopg

# The functions whose EXECUTE the identity needs, and what grants it.
IDENTITY_FUNCTIONS = ("pg_control_system()", "pg_control_checkpoint()")
IDENTITY_GRANT = "GRANT pg_monitor TO {role} (or GRANT EXECUTE ON FUNCTION {functions} TO {role})"

# A function's EXECUTE privilege is checked when the statement starts, even in a CASE branch
# never taken: the privileges are asked first, and only what may be called is called.
_PRIVILEGES = f"""
    SELECT {", ".join(f"has_function_privilege('{f}', 'EXECUTE')" for f in IDENTITY_FUNCTIONS)},
           pg_is_in_recovery(), current_user"""
_SYSTEM = "(SELECT system_identifier::text FROM pg_control_system())"
_CHECKPOINT_TIMELINE = "(SELECT timeline_id::int FROM pg_control_checkpoint())"
# A WAL file's name starts with its timeline, as 8 hex digits (pg_walfile_name is refused on a
# standby, which pg_is_in_recovery() tells).
_WAL_TIMELINE = "('x' || left(pg_walfile_name(pg_current_wal_lsn()), 8))::bit(32)::int"

# The enum types the named tables' columns use: each type's labels in order, and its tables.
_ENUMS = """
    SELECT t.typname::text, array_agg(DISTINCT c.relname::text),
           (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
            FROM pg_enum e WHERE e.enumtypid = t.oid)
    FROM unnest(%s::text[]) AS wanted(name)
    JOIN pg_class c ON c.oid = to_regclass(quote_ident(wanted.name))
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    JOIN pg_type t ON t.oid = a.atttypid AND t.typtype = 'e'
    GROUP BY t.oid, t.typname
    ORDER BY 1"""


@dataclass(frozen=True)
class IdentityAccess:
    """What this role may read of the source's identity, and the functions it may not call
    that it would need (empty: everything)."""

    role: str
    system: bool
    checkpoint: bool
    standby: bool

    @property
    def missing(self) -> list[str]:
        wanted = {IDENTITY_FUNCTIONS[0]: self.system, IDENTITY_FUNCTIONS[1]: self.checkpoint}
        if not self.standby:  # a primary's timeline is read from its WAL file's name
            del wanted[IDENTITY_FUNCTIONS[1]]
        return [name for name, granted in wanted.items() if not granted]

    def grant(self) -> str:
        """The statement that gives this role what it misses."""
        role = f'"{self.role}"'
        return IDENTITY_GRANT.format(role=role, functions=", ".join(self.missing))


@dataclass(frozen=True)
class SourceState:
    """What identifies the history the source holds now: its identity, each enum type's
    labels in order, and the extracted tables that use each enum."""

    identity: SourceIdentity
    enums: dict[str, list[str]]
    users: dict[str, list[str]]


def identity_access(conn: psycopg.Connection) -> IdentityAccess:
    row = conn.execute(_PRIVILEGES).fetchone()
    assert row is not None
    system, checkpoint, standby, role = row
    return IdentityAccess(str(role), bool(system), bool(checkpoint), bool(standby))


def read_identity(conn: psycopg.Connection) -> SourceIdentity:
    """The source's system identifier and timeline, each None where this role may not read it."""
    access = identity_access(conn)
    system = _SYSTEM if access.system else "NULL::text"
    if not access.standby:
        timeline = _WAL_TIMELINE
    else:
        timeline = _CHECKPOINT_TIMELINE if access.checkpoint else "NULL::int"
    row = conn.execute(f"SELECT {system}, {timeline}").fetchone()
    assert row is not None
    return SourceIdentity(system_identifier=row[0], timeline=row[1])


def read_source_state(conn: psycopg.Connection, tables: list[str]) -> SourceState:
    """The source's identity and the enums ``tables`` use (two catalog reads, and one for the
    privileges)."""
    rows = conn.execute(_ENUMS, [tables]).fetchall()
    return SourceState(
        read_identity(conn),
        enums={name: list(labels) for name, _, labels in rows},
        users={name: sorted(users) for name, users, _ in rows},
    )


def identity_changed(before: SourceIdentity | None, now: SourceIdentity) -> bool:
    """Whether ``now`` is another history than ``before``; a part unknown on either side is
    never a change."""
    if before is None:
        return False
    pairs = ((before.system_identifier, now.system_identifier), (before.timeline, now.timeline))
    return any(old is not None and new is not None and old != new for old, new in pairs)


def label_change(before: list[str], now: list[str]) -> str | None:
    """How an enum's labels changed, where a label ``before`` held is gone (a value stored
    with it now reads otherwise); None if none is."""
    gone = [label for label in before if label not in now]
    if not gone:
        return None
    if len(before) == len(now):  # RENAME VALUE keeps each label's place
        pairs = [f"{old} -> {new}" for old, new in zip(before, now, strict=True) if old != new]
        return f"renamed {', '.join(pairs)}"
    added = [label for label in now if label not in before]
    return f"gone {', '.join(gone)}" + (f"; added {', '.join(added)}" if added else "")


def whole_reads(last: Mapping[str, Manifest], now: SourceState, reporter: Reporter) -> set[str]:
    """The tables to read whole because ``now`` is not the history their last window (in
    ``last``, the manifest holding each table's) was taken on: another source identity, or an
    enum label gone. One warning for the identity, one per enum."""
    moved = {
        name: manifest.source
        for name, manifest in last.items()
        if identity_changed(manifest.source, now.identity)
    }
    if moved:
        before = "; ".join(sorted({str(identity) for identity in moved.values()}))
        which = "every table" if moved.keys() == last.keys() else ", ".join(sorted(moved))
        reporter.warning(
            f"the source is another history than the last extract read (was {before}; now "
            f"{now.identity}: a restore, or a failover to a replica): {which} read whole, as "
            "its transaction ids say nothing across histories; rows seen before are not "
            "loaded twice",
            kind="source_identity_changed",
            step="extract",
            tables=sorted(moved),
            was=before,
            now=str(now.identity),
        )
    whole = set(moved)
    for enum, labels in now.enums.items():
        changes: dict[str, str] = {}
        for name in now.users.get(enum, []):
            manifest = last.get(name)
            if name in whole or manifest is None or manifest.enums is None:
                continue
            change = label_change(manifest.enums.get(enum, labels), labels)
            if change:
                changes[name] = change
        if changes:
            tables = sorted(changes)
            reporter.warning(
                f"totesys enum {enum} changed ({'; '.join(sorted(set(changes.values())))}), "
                f"which changes no row: {', '.join(tables)} read whole, so the new labels reach "
                "the warehouse",
                kind="source_enum_changed",
                step="extract",
                enum=enum,
                tables=tables,
            )
            whole.update(tables)
    return whole
