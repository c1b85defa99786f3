"""Stand-ins for the outside world: a port nothing listens on, a server that never answers,
a PostgreSQL proxy that misbehaves on purpose, AWS in process."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from urllib.parse import parse_qs, urlsplit

import pytest


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (connections to it are refused)."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


@contextmanager
def tcp_listener(*, hang_up: bool) -> Iterator[int]:
    """The port of a server on 127.0.0.1 that accepts connections and then never says a word
    (a half-dead host, a black-holed security group), or (``hang_up``) closes them at once."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn = listener.accept()[0]
            except OSError:
                return
            if hang_up:
                conn.close()
            else:
                held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        for conn in held:
            conn.close()


class FlakyProxy:
    """A TCP proxy in front of PostgreSQL that misbehaves on purpose: it hangs up on the first
    ``refuse`` connections, and cuts the first connection that sends more than ``cut_after``
    bytes (mid-COPY, inside a load transaction)."""

    def __init__(self, upstream_url: str, *, refuse: int = 0, cut_after: int | None = None):
        parts = urlsplit(upstream_url)
        socket_dir = parse_qs(parts.query).get("host", [""])[0] or (
            parts.hostname if parts.hostname and parts.hostname.startswith("/") else ""
        )
        port = parts.port or 5432
        self.upstream: tuple[int, object] = (
            (socket.AF_UNIX, f"{socket_dir}/.s.PGSQL.{port}")
            if socket_dir
            else (socket.AF_INET, (parts.hostname or "127.0.0.1", port))
        )
        self.user = parts.username or "postgres"
        self.refuse, self.cut_after = refuse, cut_after
        self.accepted = self.cut = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self.accepted <= self.refuse:
                client.close()
                continue
            family, address = self.upstream
            server = socket.socket(family, socket.SOCK_STREAM)
            server.connect(address)  # type: ignore[arg-type]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        sent = 0
        with suppress(OSError):
            while data := src.recv(65536):
                sent += len(data)
                if upstream and self.cut_after and not self.cut and sent > self.cut_after:
                    self.cut += 1
                    break
                dst.sendall(data)
        for s in (src, dst):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self.listener.close()


@contextmanager
def mocked_aws(region: str = "eu-west-2") -> Iterator[None]:
    """In-process moto for every AWS service, with fake credentials and a default region, and
    nothing of the developer's own AWS setup (profile, endpoint) in the way."""
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_DEFAULT_REGION", region)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN",
                     "AWS_REGION"):  # fmt: skip
            env.delenv(name, raising=False)
        with mock_aws():
            yield
