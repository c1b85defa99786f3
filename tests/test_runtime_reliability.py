"""Transient faults retried and permanent ones not, the run lock, and the fault-point switch,
against the real PostgreSQL (through a flaky TCP proxy where the network must misbehave)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import EndpointConnectionError, NoCredentialsError
from pydantic import SecretStr

from ainsdale_etl.adapters.postgres import Database, fetch_all
from ainsdale_etl.core.errors import ConfigError, DatabaseError, ExitCode, LockedError
from ainsdale_etl.core.events import NullReporter
from ainsdale_etl.core.retry import RetryPolicy, is_transient, retrying
from ainsdale_etl.core.settings import Settings
from ainsdale_etl.pipeline.binding import prepare_warehouse
from ainsdale_etl.pipeline.steps import extract_batch, load_pending, transform_pending
from ainsdale_etl.runtime.context import Context
from ainsdale_etl.runtime.lock import PIPELINE_LOCK_KEY, HeldLock, pipeline_lock
from ainsdale_etl.testing.faults import parse_faults
from helpers.databases import count, with_database
from helpers.stand_ins import FlakyProxy

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)


@pytest.mark.parametrize(
    ("message", "sqlstate", "transient"),
    [
        ('connection to server at "db", port 5432 failed: Connection refused', None, True),
        ("server closed the connection unexpectedly", None, True),
        ("FATAL:  the database system is starting up", None, True),
        ("FATAL:  sorry, too many clients already", "53300", True),
        ("could not serialize access due to concurrent update", "40001", True),
        ("Temporary failure in name resolution", None, True),
        ("SSL SYSCALL error: EOF detected", None, True),
        ("SSL connection has been closed unexpectedly", None, True),
        ("FATAL:  the database system is not yet accepting connections", None, True),
        ("canceling statement due to lock timeout", "55P03", True),
        # A SQLSTATE decides alone, whatever the message quotes.
        ("duplicate key: Key (name)=(connection refused) already exists", "23505", False),
        ('FATAL:  password authentication failed for user "etl"', None, False),
        ('FATAL:  database "nope" does not exist', None, False),
        ('relation "sales_order" does not exist', "42P01", False),
        ("could not translate host name: Name or service not known", None, False),
    ],
)
def test_transient_faults_are_told_from_permanent_ones(message, sqlstate, transient):
    assert is_transient(message, sqlstate) is transient


def test_backoff_grows_is_capped_and_jittered():
    policy = RetryPolicy(attempts=6, base_delay=0.5, max_delay=4.0)
    for retry, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0)]:
        delays = {policy.delay(retry) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered


def test_retrying_repeats_transient_failures_and_stops_at_the_bound():
    calls, messages, slept = [], [], []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise DatabaseError("warehouse database error: connection reset", transient=True)
        return "done"

    assert retrying(flaky, what="load", policy=FAST, on_retry=messages.append,
                    sleep=slept.append) == "done"  # fmt: skip
    assert len(calls) == 3 and len(slept) == 2
    assert (
        messages[0].startswith("load: warehouse database error") and "retry 1 of 3" in messages[0]
    )

    def down() -> None:
        calls.append(1)
        raise DatabaseError("cannot connect", transient=True)

    calls.clear()
    with pytest.raises(DatabaseError) as err:
        retrying(down, what="x", policy=FAST, on_retry=messages.append, sleep=slept.append)
    assert len(calls) == 4 and err.value.retries_exhausted
    # An outer step retrying the exhausted error does not multiply the tries.
    calls.clear()
    with pytest.raises(DatabaseError):
        retrying(lambda: retrying(down, what="x", policy=FAST, on_retry=messages.append,
                                  sleep=slept.append),
                 what="outer", policy=FAST, on_retry=messages.append, sleep=slept.append)  # fmt: skip
    assert len(calls) == 4


def _client_error(code: str, status: int) -> Exception:
    from botocore.exceptions import ClientError

    response = {
        "Error": {"Code": code, "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "PutObject")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "failure,code",
    [
        (lambda: DatabaseError("cannot connect: connection refused", transient=True), 75),
        (lambda: DatabaseError("relation x does not exist"), 1),
        (lambda: LockedError("another run holds the pipeline lock"), 75),
        (lambda: _client_error("SlowDown", 503), 75),
        (lambda: _client_error("InternalError", 500), 75),
        (lambda: _client_error("AccessDenied", 403), 1),
        (lambda: EndpointConnectionError(endpoint_url="https://s3"), 75),
        (lambda: NoCredentialsError(), 2),
        (lambda: ConfigError("AINSDALE_X: bad"), 2),
    ],
    ids=[
        "db-transient",
        "db-refused",
        "locked",
        "s3-slowdown",
        "s3-500",
        "s3-denied",
        "no-network",
        "no-credentials",
        "config",
    ],
)
def test_a_failure_that_a_later_run_may_cure_exits_75(failure, code):
    """Try later (75) is one class for the scheduler: the lock, and a database or AWS fault
    that outlived the in-process retries. Bad input (1) and configuration (2) are not."""
    from ainsdale_etl.runtime.failures import describe_failure

    message, exit_code = describe_failure(failure())
    assert exit_code == code, message


def test_a_permanent_failure_is_not_retried(pg_admin_url):
    retries: list[str] = []
    db = Database("warehouse", SecretStr(with_database(pg_admin_url, "no_such_database_x")),
                  retry_policy=FAST, on_retry=retries.append)  # fmt: skip
    with pytest.raises(DatabaseError) as err, db.connect():
        pass
    assert "does not exist" in str(err.value) and not err.value.transient
    assert retries == []


def test_connecting_retries_while_the_server_hangs_up(pg_admin_url):
    proxy = FlakyProxy(pg_admin_url, refuse=2)
    try:
        retries: list[str] = []
        db = Database("warehouse", SecretStr(proxy.url("postgres")), retry_policy=FAST,
                      on_retry=retries.append)  # fmt: skip
        with db.connect() as conn, conn.cursor() as cur:
            assert fetch_all(cur, "SELECT 41 + 1") == [(42,)]
        assert len(retries) == 2 and all("connecting to the warehouse" in m for m in retries)

        proxy.refuse, proxy.accepted = 1, 0
        once = Database("warehouse", SecretStr(proxy.url("postgres")))  # no retries
        with pytest.raises(DatabaseError) as err, once.connect():
            pass
        assert err.value.transient
    finally:
        proxy.close()


class Recorder(NullReporter):
    def __init__(self) -> None:
        super().__init__()
        self.warnings: list[str] = []

    def warning(self, message: str, **fields: object) -> None:
        self.warnings.append(message)


def test_a_connection_dropped_inside_the_load_is_retried_and_loads_once(
    source_url, warehouse_url, pg_admin_url, tmp_path: Path
):
    settings = Settings(
        source_url=SecretStr(source_url),
        warehouse_url=SecretStr(warehouse_url),
        ingest_uri=str(tmp_path / "ingest"),
        processed_uri=str(tmp_path / "processed"),
        home=tmp_path,
    )
    ctx = Context(settings, Recorder())
    prepare_warehouse(ctx)
    extract_batch(ctx)
    transform_pending(ctx)

    proxy = FlakyProxy(pg_admin_url, cut_after=40_000)  # only the load's COPY sends this much
    try:
        database = urlsplit(warehouse_url).path.lstrip("/")
        flaky = Context(settings.model_copy(update={"warehouse_url": SecretStr(proxy.url(database))}),
                        ctx.reporter)  # fmt: skip
        loaded = load_pending(flaky)
    finally:
        proxy.close()
    assert proxy.cut == 1
    assert any("load of batch" in w and "retry 1 of 3" in w for w in ctx.reporter.warnings)
    assert len(loaded) == 1
    assert count(warehouse_url, "fact_sales_order") == count(source_url, "sales_order")
    assert count(warehouse_url, "fact_payment") == count(source_url, "payment")


def test_a_run_lets_go_of_the_lock_itself_not_by_closing_its_connection(warehouse_url):
    """A closed session's backend ends a moment after the close, and until then still holds
    its locks: a command run right after another was refused (exit 75). The lock is
    unlocked first, so it is free while the connection is still open."""
    import psycopg

    # Advisory locks are per database, but pg_locks shows every database's: other tests on
    # the same server hold their own pipeline locks.
    held = (
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    with (
        psycopg.connect(warehouse_url, autocommit=True) as holder,
        psycopg.connect(warehouse_url, autocommit=True) as watcher,
    ):
        holder.execute("SELECT pg_advisory_lock(%s)", [PIPELINE_LOCK_KEY])
        assert watcher.execute(held, [PIPELINE_LOCK_KEY]).fetchone() == (1,)
        lock = HeldLock(holder)
        lock.release()
        assert watcher.execute(held, [PIPELINE_LOCK_KEY]).fetchone() == (0,)
        assert not holder.closed
        with pytest.raises(LockedError):  # nothing commits once it let go
            lock.verify()


def test_the_lock_admits_one_run_and_names_the_holder(warehouse_url):
    db = Database("warehouse", SecretStr(warehouse_url))
    with pipeline_lock(db, wait_seconds=0):
        with pytest.raises(LockedError) as err, pipeline_lock(db, wait_seconds=0.3):
            pass
        assert err.value.exit_code == ExitCode.TRY_LATER == 75
        assert "backend pid" in str(err.value) and "after waiting 0.3 s" in str(err.value)

    # A waiting run gets the lock as soon as the holder lets go.
    held = threading.Event()

    def hold_briefly() -> None:
        with pipeline_lock(db, wait_seconds=0):
            held.set()
            time.sleep(0.5)

    holder = threading.Thread(target=hold_briefly)
    holder.start()
    assert held.wait(10), "the holder never got the lock"
    started = time.monotonic()
    with pipeline_lock(db, wait_seconds=30):
        assert time.monotonic() - started < 10
    holder.join()


def test_a_run_reuses_its_warehouse_connections_but_never_a_failed_one(warehouse_url):
    db = Database("warehouse", SecretStr(warehouse_url))

    def backend() -> int:
        with db.connect() as conn, conn.cursor() as cur:
            return int(fetch_all(cur, "SELECT pg_backend_pid()")[0][0])

    assert backend() != backend()  # outside the block, each connect is new
    with db.reusing_connections():
        first = backend()
        assert backend() == first
        with db.connect() as conn, conn.cursor() as cur:
            cur.execute("CREATE TEMPORARY TABLE scratch (x int)")  # not committed
        with db.connect() as conn, conn.cursor() as cur:
            # Rolled back before it was handed on: the same session, none of the old work.
            assert fetch_all(cur, "SELECT pg_backend_pid(), to_regclass('scratch')") == [
                (first, None)
            ]
        with pytest.raises(DatabaseError), db.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT * FROM no_such_table")
        assert backend() != first  # the failed connection was closed, not kept
    assert _backend_gone(warehouse_url, first)


def _backend_gone(url: str, pid: int) -> bool:
    """Whether the server process of a closed connection has exited (it takes a moment)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as admin:
        for _ in range(50):
            if not admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchall():
                return True
            time.sleep(0.1)
    return False


# Tests share one server (and run side by side under xdist): only this test's database's locks.
THIS_DATABASE = "database = (SELECT oid FROM pg_database WHERE datname = current_database())"


def test_a_lock_whose_connection_dropped_stops_the_run_before_it_commits(warehouse_url):
    import psycopg

    db = Database("warehouse", SecretStr(warehouse_url))
    with pipeline_lock(db, wait_seconds=0) as lock, psycopg.connect(warehouse_url) as admin:
        lock.verify()  # held: nothing to say
        [(pid,)] = admin.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = %s::bigint::oid "
            f"AND {THIS_DATABASE}",
            [PIPELINE_LOCK_KEY],
        ).fetchall()
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        with pytest.raises(LockedError, match="lost the pipeline lock") as err:
            lock.verify()
        assert err.value.exit_code == ExitCode.TRY_LATER
    # And the lock is free for the next run.
    with pipeline_lock(db, wait_seconds=0):
        pass


@pytest.mark.parametrize(
    "spec",
    ["nowhere:kill", "object_written:explode", "object_written:kill:x", "lock_acquired:sleep=z"],
)
def test_a_malformed_fault_spec_is_a_config_error(spec):
    with pytest.raises(ConfigError, match="AINSDALE_FAULTS"):
        parse_faults(spec)


def test_fault_specs_parse():
    [kill, sleep] = parse_faults("object_written:kill:3, lock_acquired:sleep=1.5")
    assert (kill.point, kill.action, kill.nth) == ("object_written", "kill", 3)
    assert (sleep.point, sleep.action, sleep.nth) == ("lock_acquired", "sleep=1.5", 1)


@pytest.fixture
def idle_cut_url(warehouse_url):
    """The warehouse as a role whose sessions the server ends after 1 s of idleness, as an
    ``idle_session_timeout`` (or a NAT gateway's idle cut) would after longer."""
    import uuid

    import psycopg

    role = f"ainsdale_idle_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(warehouse_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"ALTER ROLE {role} SET idle_session_timeout = '1s'")
    parts = urlsplit(warehouse_url)
    host = parts.netloc.rpartition("@")[2]
    yield parts._replace(netloc=f"{role}@{host}").geturl()
    with psycopg.connect(warehouse_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [role]
        )
        admin.execute(f"DROP ROLE {role}")


def test_the_heartbeat_keeps_the_lock_through_idleness_and_sees_it_cut(idle_cut_url):
    import psycopg

    db = Database("warehouse", SecretStr(idle_cut_url))
    with pipeline_lock(db, wait_seconds=0, heartbeat_seconds=0.3) as lock:
        time.sleep(3)  # three idle timeouts' worth, with nothing else said on the session
        lock.verify()
        assert not lock.lost.is_set()
        with psycopg.connect(idle_cut_url, autocommit=True) as other:
            # Still held: no other session can take it.
            assert other.execute("SELECT pg_try_advisory_lock(%s)", [PIPELINE_LOCK_KEY]).fetchone() == (False,)  # fmt: skip
            other.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                f"AND objid = %s::bigint::oid AND pid <> pg_backend_pid() AND {THIS_DATABASE}",
                [PIPELINE_LOCK_KEY],
            )
        # The heartbeat notices the cut by itself within a beat or two, so the next commit's
        # check refuses at once, without asking the server.
        assert lock.lost.wait(2), "the heartbeat did not notice the lost connection"
        with pytest.raises(LockedError) as err:
            lock.verify()
        assert err.value.exit_code == ExitCode.TRY_LATER


def test_without_a_heartbeat_an_idle_cut_loses_the_lock_before_the_next_commit(idle_cut_url):
    db = Database("warehouse", SecretStr(idle_cut_url))
    with pipeline_lock(db, wait_seconds=0, heartbeat_seconds=0) as lock:
        time.sleep(2)
        with pytest.raises(LockedError, match="lost the pipeline lock") as err:
            lock.verify()
        assert err.value.exit_code == 75
