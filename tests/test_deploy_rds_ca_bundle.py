"""The image's RDS CA bundle fetcher (docker/rds_ca_bundle.py): a bundle of Amazon RDS CAs is
kept; an HTML error page, a truncated file, a stranger's CA or plain HTTP fails the build.

Served here by a local HTTPS server with certificates made for the test: the build's machine
fetches AWS's real bundle the same way."""

from __future__ import annotations

import datetime as dt
import http.server
import importlib.util
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[1]


def _load_fetcher() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "rds_ca_bundle", ROOT / "docker" / "rds_ca_bundle.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fetcher = _load_fetcher()
_KEY = ec.generate_private_key(ec.SECP256R1())


def _ca(common_name: str, unit: str = "Amazon RDS", san: str | None = None) -> bytes:
    """A self-signed CA certificate in PEM, named as AWS names the RDS CAs."""
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Amazon Web Services, Inc."),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(_KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    if san:
        import ipaddress

        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(san))]),
            critical=False,
        )
    return builder.sign(_KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _bundle(count: int = 12) -> bytes:
    return b"".join(_ca(f"Amazon RDS region-{i} Root CA ECC384 G1") for i in range(count))


ERROR_PAGE = b"<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head></html>"


def test_a_bundle_of_amazon_rds_cas_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "bundle.pem"
    path.write_bytes(_bundle(12))
    assert fetcher.check_bundle(path) == 12


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (ERROR_PAGE, "not a PEM bundle: it begins '<!DOCTYPE html>"),
        (b"", "not a PEM bundle"),
        (_bundle(3), "3 certificates; AWS's bundle holds 10 or more"),
        (_bundle(12)[:-200], "could not be read"),  # cut inside the last certificate
        (_bundle(11) + _ca("Evil Root CA", unit="Totally Legit"), "not Amazon RDS's"),
        (
            _bundle(11) + b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
            "could not be read",
        ),
    ],
    ids=["html", "empty", "too-few", "truncated", "a-stranger", "garbled"],
)
def test_anything_else_fails_the_build(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "bundle.pem"
    path.write_bytes(content)
    with pytest.raises(fetcher.NotABundleError) as refused:
        fetcher.check_bundle(path)
    assert says in str(refused.value)


# -- fetched over HTTPS ----------------------------------------------------------------------


@pytest.fixture
def serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[bytes], str]]:
    """A local HTTPS server answering every GET with the bytes given; the fetcher trusts its
    certificate as the build trusts AWS's truststore."""
    server_cert = tmp_path / "server.pem"
    server_key = tmp_path / "server.key"
    server_cert.write_bytes(_ca("localhost test server", unit="tests", san="127.0.0.1"))
    server_key.write_bytes(
        _KEY.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    body = {"data": b""}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body["data"])))
            self.end_headers()
            self.wfile.write(body["data"])

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server_cert, server_key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(
        fetcher, "tls_context", lambda: ssl.create_default_context(cafile=server_cert)
    )

    def url_of(data: bytes) -> str:
        body["data"] = data
        return f"https://127.0.0.1:{server.server_address[1]}/global/global-bundle.pem"

    yield url_of
    server.shutdown()
    server.server_close()


def test_the_build_keeps_the_bundle_it_fetched(
    serve: Callable[[bytes], str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "etc" / "ssl" / "certs" / "rds-global-bundle.pem"
    bundle = _bundle(12)
    assert fetcher.main([serve(bundle), str(dest)]) == 0
    assert dest.read_bytes() == bundle and dest.stat().st_mode & 0o777 == 0o644
    assert "12 Amazon RDS CA certificates" in capsys.readouterr().out


def test_the_build_fails_on_an_error_page_and_writes_nothing(
    serve: Callable[[bytes], str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "rds-global-bundle.pem"
    assert fetcher.main([serve(ERROR_PAGE), str(dest)]) == 1
    assert not dest.exists()
    assert "was refused: not a PEM bundle" in capsys.readouterr().err


def test_the_build_fails_on_a_server_it_cannot_authenticate(
    serve: Callable[[bytes], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = serve(_bundle(12))
    monkeypatch.setattr(fetcher, "tls_context", ssl.create_default_context)
    assert fetcher.main([url, str(tmp_path / "b.pem")]) == 1  # not signed by a known CA
    assert fetcher.main([url.replace("https:", "http:"), str(tmp_path / "b.pem")]) == 1
    assert fetcher.main([]) == 2
    assert not (tmp_path / "b.pem").exists()
