"""Foreign-key triggers switched off while a load copies rows whose references it checks itself.

PostgreSQL checks each inserted row's foreign keys with a trigger per row and key; a load that
checks the references of a whole batch set-based (:mod:`.references`) can spare them -- most
of an incremental load's time. Only those triggers: a trigger a user put on a warehouse table
(an audit, say) keeps firing.

- On a table without triggers or rules of the user's, a role that may set
  ``session_replication_role`` (a superuser, or ``rds_superuser`` on RDS) sets it to
  ``replica`` for the statement: there it silences nothing but the foreign-key checks, and it
  costs no lock.
- On a table with a user's trigger, a superuser disables exactly its foreign-key check
  triggers (``ALTER TABLE … DISABLE TRIGGER``, which for constraint triggers PostgreSQL allows
  superusers only), inside the load's transaction: enabled again before it commits, and by its
  rollback. Not everywhere: the ALTER is a catalog change under a SHARE ROW EXCLUSIVE lock
  (which waits for an autovacuum of the table), and measured a little slower than ``replica``
  (README, Performance).
- Otherwise the triggers fire: every row is checked by PostgreSQL as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ainsdale_etl.adapters.postgres import fetch_all
from ainsdale_etl.core.registry import STAR_TABLES, StarTable, quote_ident

if TYPE_CHECKING:
    from adbc_driver_postgresql.dbapi import Cursor

_TRIGGER_NAME = re.compile(r"RI_ConstraintTrigger_[ac]_\d+")


@dataclass(frozen=True)
class TriggerSkipping:
    """What this role may do about the star tables' foreign-key triggers (see the module)."""

    superuser: bool = False
    replication_role: bool = False  # may set session_replication_role
    user_triggers: frozenset[str] = frozenset()  # star tables with triggers or rules of theirs

    def skips(self, table: StarTable) -> bool:
        """Whether ``table``'s rows are copied without its foreign-key triggers."""
        if not table.foreign_keys:
            return False
        return self.superuser or (self.replication_role and table.name not in self.user_triggers)

    @property
    def everywhere(self) -> bool:
        """Whether every table with foreign keys skips their triggers: then every reference
        is checked set-based at the end, and tables may be loaded in any order."""
        return all(self.skips(t) for t in STAR_TABLES.values() if t.foreign_keys)

    @contextmanager
    def off(self, cur: Cursor, table: StarTable) -> Iterator[None]:
        """``table``'s foreign-key triggers off for the statements inside (if it :meth:`skips`)."""
        if not self.skips(table):
            yield
            return
        if table.name not in self.user_triggers:
            cur.execute("SET LOCAL session_replication_role = replica")
            yield
            cur.execute("SET LOCAL session_replication_role = origin")
            return
        names = [
            row[0]
            for row in fetch_all(
                cur,
                """SELECT t.tgname FROM pg_trigger t JOIN pg_constraint c ON c.oid = t.tgconstraint
                   WHERE t.tgrelid = to_regclass($1) AND c.contype = 'f'
                     AND c.conrelid = t.tgrelid AND t.tgisinternal""",
                [f"public.{quote_ident(table.name)}"],  # the star's schema, not the search path
            )
            if _TRIGGER_NAME.fullmatch(row[0])
        ]
        if not names:  # no foreign-key trigger (keys dropped, renamed): nothing to skip
            yield
            return
        quoted = [f'"{n}"' for n in names]
        name = quote_ident(table.name)
        # Inside the load's transaction: an error before the ENABLE rolls the DISABLE back too.
        cur.execute(f"ALTER TABLE {name} " + ", ".join(f"DISABLE TRIGGER {n}" for n in quoted))
        yield
        cur.execute(f"ALTER TABLE {name} " + ", ".join(f"ENABLE TRIGGER {n}" for n in quoted))


NO_SKIPPING = TriggerSkipping()


def trigger_skipping(cur: Cursor) -> TriggerSkipping:
    """What this role may skip (one catalog query)."""
    [(superuser, replication_role, user_triggers)] = fetch_all(
        cur,
        """SELECT r.rolsuper,
                  r.rolsuper OR EXISTS (
                      SELECT 1 FROM pg_roles s WHERE s.rolname = 'rds_superuser'
                        AND pg_has_role(current_user, s.oid, 'member')),
                  ARRAY(SELECT c.relname::text FROM pg_class c
                        WHERE c.relname = ANY($1) AND c.relnamespace = 'public'::regnamespace
                          AND (EXISTS (SELECT 1 FROM pg_trigger t
                                       WHERE t.tgrelid = c.oid AND NOT t.tgisinternal)
                               OR EXISTS (SELECT 1 FROM pg_rewrite r WHERE r.ev_class = c.oid)))
           FROM pg_roles r WHERE r.rolname = current_user""",
        [list(STAR_TABLES)],
    )
    return TriggerSkipping(bool(superuser), bool(replication_role), frozenset(user_triggers))
