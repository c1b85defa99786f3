"""PostgreSQL connections over ADBC, with errors scrubbed of credentials."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import SecretStr

from ainsdale_etl.adapters.deadlines import CONNECT_TIMEOUT, interruptible, with_connection_defaults
from ainsdale_etl.adapters.sessions import PINNED_SETTINGS, with_session_settings
from ainsdale_etl.core.errors import DatabaseError
from ainsdale_etl.core.retry import NO_RETRY, RetryPolicy, is_transient, retrying

if TYPE_CHECKING:
    import psycopg
    import pyarrow as pa
    from adbc_driver_postgresql.dbapi import Connection, Cursor


class _Connection(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Connection)  # a driver's connection
# user:password@ in a URI of any scheme: database URLs, and catalog URIs (a SQL catalog's
# postgresql+psycopg://, a REST catalog's https://) that travel in settings and errors alike.
_URI_CREDENTIALS = re.compile(r"([a-z][a-z0-9+.\-]*://)[^@/\s\"']*@", re.IGNORECASE)
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)
# Every database URI and password this process holds, so that any message, whichever library
# composed it, can be scrubbed of them before it is printed, logged or sent in an alert.
_KNOWN_SECRETS: set[str] = set()


MIN_SCRUBBED_LENGTH = 4


class ConnectTime:
    """Connections this process opened and the seconds it waited for them (every database,
    every thread): the ``connections`` line of a run's time breakdown."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count, self.seconds = 0, 0.0

    def add(self, seconds: float) -> None:
        with self._lock:
            self.count += 1
            self.seconds += seconds


CONNECT_TIME = ConnectTime()


def scrub(text: str, *secrets: str) -> str:
    """``text`` with every credential it may echo (URIs, ``password=``, known secrets) masked."""
    # Longest first: a URI is masked whole before the password inside it.
    for secret in sorted({*secrets, *_KNOWN_SECRETS}, key=len, reverse=True):
        # A password shorter than this would mask ordinary words and digits ("etl" in
        # "ainsdale-etl"); URIs and password= forms are still masked by the patterns below.
        if len(secret) >= MIN_SCRUBBED_LENGTH:
            text = text.replace(secret, "***")
    text = _URI_CREDENTIALS.sub(r"\1***@", text)
    return _KEYWORD_PASSWORD.sub(r"\1***", text)


def remember_secret_uri(uri: str) -> None:
    """Mask the password in ``uri`` wherever it appears from now on (see :func:`scrub`), for
    a URI that is not a database URL, such as a catalog's. The URI itself stays readable
    once its ``user:password@`` is masked: it says where the catalog is."""
    _KNOWN_SECRETS.update(s for s in _secrets_of(SecretStr(uri)) if s != uri)


def _secrets_of(url: SecretStr) -> set[str]:
    """The forms in which a URI's credentials can appear: the URI, its password, as written
    (percent-quoted) and as meant."""
    from urllib.parse import unquote, urlsplit

    raw = url.get_secret_value()
    try:
        quoted = urlsplit(raw).password or ""
    except ValueError:
        quoted = ""
    return {s for s in (raw, quoted, unquote(quoted)) if s}


def server_diagnostics(exc: BaseException) -> str | None:
    """The server's own words for a failed statement -- primary message, detail and hint --
    from psycopg's ``diag`` or ADBC's ``details``; None if the server sent none."""
    diag = getattr(exc, "diag", None)
    if diag is not None and getattr(diag, "message_primary", None):
        parts = [diag.message_primary, diag.message_detail, diag.message_hint]
    else:
        fields = {
            (k.decode() if isinstance(k, bytes) else str(k)): (
                v.decode(errors="replace") if isinstance(v, bytes) else str(v)
            )
            for k, v in (getattr(exc, "details", None) or [])
        }
        if not fields.get("PG_DIAG_MESSAGE_PRIMARY"):
            return None
        parts = [fields.get(f"PG_DIAG_MESSAGE_{p}") for p in ("PRIMARY", "DETAIL", "HINT")]
    primary, detail, hint = (" ".join(str(p).split()) if p else "" for p in parts)
    return "; ".join(
        [primary, *([f"detail: {detail}"] if detail else []), *([f"hint: {hint}"] if hint else [])]
    )


def describe_error(exc: BaseException, url: SecretStr | None = None) -> str:
    """One scrubbed line describing a driver error: the server's message, detail and hint
    where it sent them, else the driver's first lines."""
    message = server_diagnostics(exc)
    if message is None:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        message = " ".join(lines[:2]) if lines else type(exc).__name__
        message = message.removeprefix("IO: ").removeprefix("[libpq] ")
    return scrub(message, *(_secrets_of(url) if url else ()))


def describe_url(url: SecretStr) -> str:
    """Where a URI points, safe to print: ``user@host:port/dbname``, no password."""
    from urllib.parse import parse_qs, unquote, urlsplit

    try:
        parts = urlsplit(url.get_secret_value())
        query = parse_qs(parts.query)
        host = parts.hostname or query.get("host", [""])[0] or "localhost"
        port = parts.port or query.get("port", [""])[0]
    except ValueError:
        return "an unparseable URI"
    user = f"{unquote(parts.username)}@" if parts.username else ""
    return f"{user}{host}{f':{port}' if port else ''}{unquote(parts.path) or '/'}"


class Database:
    """A PostgreSQL database named by a URI kept secret.

    ``origin`` says where the URI came from (e.g. the secret id), for error messages.
    Connecting retries transient failures (``retry_policy``, each retry reported through
    ``on_retry``, waiting with ``sleep``); errors raised while connected say whether they are
    transient, so a caller can repeat a whole step (see core/retry.py). Every attempt has a
    deadline (``connect_timeout``) and, given ``check_stop``, ends at once on a stop request.
    Every session starts with ``settings`` set (:data:`PINNED_SETTINGS` unless given).
    """

    def __init__(
        self,
        label: str,
        url: SecretStr,
        origin: str = "",
        *,
        retry_policy: RetryPolicy = NO_RETRY,
        on_retry: Callable[[str], None] = lambda _message: None,
        connect_timeout: int = CONNECT_TIMEOUT,
        check_stop: Callable[[], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        settings: Mapping[str, str] = PINNED_SETTINGS,
    ) -> None:
        self.label = label
        self.settings = dict(settings)
        self.url = url
        self.origin = origin
        self.retry_policy = retry_policy
        self.on_retry = on_retry
        self.connect_timeout = connect_timeout
        # Raises to stop (runtime/shutdown.py's checkpoint): connects and backoffs wake for it.
        self.check_stop = check_stop
        self.sleep = sleep
        self._idle: list[tuple[bool, Connection]] | None = None  # see reusing_connections
        self._idle_lock = threading.Lock()
        _KNOWN_SECRETS.update(_secrets_of(url))

    def _error(self, prefix: str, exc: Exception) -> DatabaseError:
        message = describe_error(exc, self.url)
        transient = is_transient(message, getattr(exc, "sqlstate", None))
        return DatabaseError(f"{prefix}: {message}", transient=transient)

    @contextmanager
    def _session(
        self,
        open_connection: Callable[[str], C],
        driver_error: type[Exception],
        *,
        done: Callable[[C], None] | None = None,
        options: str = "",
    ) -> Iterator[C]:
        """A connection made by ``open_connection(uri)`` (retried; settings pinned, ``options``
        added); the driver's errors become one scrubbed :class:`DatabaseError`. After use it
        is closed, or, if nothing went wrong and ``done`` is given, handed to ``done``."""

        uri = with_connection_defaults(self.url.get_secret_value(), self.connect_timeout)
        uri = with_session_settings(uri, self.settings, options)

        def attempt() -> C:
            started = time.perf_counter()
            try:
                if self.check_stop is None:
                    conn = open_connection(uri)
                else:
                    conn = interruptible(partial(open_connection, uri), self.check_stop)
                CONNECT_TIME.add(time.perf_counter() - started)
                return conn
            except driver_error as exc:
                origin = f" ({self.origin})" if self.origin else ""
                raise self._error(
                    f"cannot connect to the {self.label} database{origin}", exc
                ) from None

        conn = retrying(
            attempt,
            what=f"connecting to the {self.label} database",
            policy=self.retry_policy,
            on_retry=self.on_retry,
            sleep=self.sleep,
        )
        try:
            yield conn
        except driver_error as exc:
            conn.close()
            raise self._error(f"{self.label} database error", exc) from None
        except BaseException:
            conn.close()
            raise
        if done is None:
            conn.close()
        else:
            done(conn)

    @contextmanager
    def reusing_connections(self) -> Iterator[None]:
        """Within this block, an ADBC connection used without error is kept for the next
        :meth:`connect` instead of closed. An ADBC connect looks up the server's types and
        costs about 30 ms; a run-all made five, a sixth of an incremental run."""
        self._idle = []
        try:
            yield
        finally:
            with self._idle_lock:
                idle, self._idle = self._idle or [], None
            for _, conn in idle:
                with suppress(Exception):
                    conn.close()

    def _reuse(self, autocommit: bool) -> Connection | None:
        """An idle connection in this mode that still answers, if there is one. It is asked
        first: it may have sat idle through a long step, and a server's idle timeout may have
        closed it meanwhile."""
        import adbc_driver_manager

        while True:
            with self._idle_lock:
                idle = self._idle or []
                found = next((i for i, (mode, _) in enumerate(idle) if mode == autocommit), None)
                if found is None:
                    return None
                conn = idle.pop(found)[1]
            try:
                with conn.cursor() as cur:
                    fetch_all(cur, "SELECT 1")
                return conn
            except adbc_driver_manager.Error:
                with suppress(Exception):
                    conn.close()

    def _keep(self, autocommit: bool, conn: Connection) -> None:
        try:
            if not autocommit:
                conn.rollback()  # what the user did not commit is not carried over
        except Exception:
            conn.close()
            return
        with self._idle_lock:
            if self._idle is not None:
                self._idle.append((autocommit, conn))
                return
        conn.close()

    @contextmanager
    def connect(self, *, autocommit: bool = False) -> Iterator[Connection]:
        """An ADBC connection: Arrow in and out, bulk ingest by COPY."""
        import adbc_driver_manager
        import adbc_driver_postgresql.dbapi as adbc

        def open_connection(uri: str) -> Connection:
            return self._reuse(autocommit) or adbc.connect(uri, autocommit=autocommit)

        done = None if self._idle is None else partial(self._keep, autocommit)
        with self._session(open_connection, adbc_driver_manager.Error, done=done) as conn:
            yield conn

    @contextmanager
    def psycopg_connect(
        self, *, autocommit: bool = False, options: Mapping[str, str | int] | None = None
    ) -> Iterator[psycopg.Connection]:
        """A psycopg connection: for ``COPY ... TO STDOUT`` (which ADBC does not offer), and
        for the run lock, which should not wait for ADBC to be imported. ``options`` are
        libpq connection parameters added to the URI's (e.g. keepalives); an ``options``
        among them is added to the URI's and the pinned settings, not put in their place."""
        import psycopg

        extra: dict[str, Any] = dict(options or {})  # libpq keywords, beside psycopg's own
        startup = str(extra.pop("options", ""))

        def open_connection(uri: str) -> psycopg.Connection:
            return psycopg.connect(uri, autocommit=autocommit, **extra)

        with self._session(open_connection, psycopg.Error, options=startup) as conn:
            yield conn


def relation_exists(conn: psycopg.Connection, name: str) -> bool:
    """Whether the table or view ``name`` (schema-qualified, or on the search path) exists."""
    found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [name]).fetchone()
    return bool(found and found[0])


def split_script(script: str) -> list[str]:
    """The statements of a plain SQL script (no semicolons inside literals or bodies)."""
    code = "\n".join(ln for ln in script.splitlines() if not ln.lstrip().startswith("--"))
    return [stmt.strip() for stmt in code.split(";") if stmt.strip()]


def execute_script(cursor: Cursor, script: str) -> None:
    """Run a script statement by statement: ADBC prepares each, and one prepare takes one."""
    for statement in split_script(script):
        cursor.execute(statement)


def fetch_arrow(cursor: Cursor, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
    cursor.execute(sql, params)
    return cursor.fetch_arrow_table()


def fetch_all(
    cursor: Cursor, sql: str, params: Sequence[Any] | None = None
) -> list[tuple[Any, ...]]:
    cursor.execute(sql, params)
    return cursor.fetchall()
