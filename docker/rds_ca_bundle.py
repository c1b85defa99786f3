"""Fetch AWS's RDS CA bundle into the image, refusing anything that is not one.

Run at build time by docker/Dockerfile, with the base image's Python and nothing else:
``python rds_ca_bundle.py URL DEST``. Connections built from a secret verify an RDS server
against this file (``sslmode=verify-full``; the task definition sets ``PGSSLROOTCERT`` to it).

No pinned checksum: AWS rotates the bundle (a new region, a new CA), and a pinned SHA-256 would
fail every build after each rotation. The download is authenticated by TLS to AWS's truststore,
checked against the base image's CA certificates; the checks below fail the build on what TLS
cannot catch: an HTML error page or a redirect's body, a truncated file, a certificate that is
not Amazon RDS's (every CA in the bundle can vouch for an RDS host, so a stranger is refused).
"""

from __future__ import annotations

import re
import ssl
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

# The global bundle holds some 100 CAs (several per region); far fewer means a partial file.
MIN_CERTIFICATES = 10
MAX_BYTES = 4 * 1024 * 1024  # the bundle is ~170 KB; anything this large is not it
_PEM_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.DOTALL)
_NAMED_FIELDS = {"organizationName", "organizationalUnitName", "commonName"}


class NotABundleError(ValueError):
    """The bytes fetched are not AWS's RDS CA bundle."""


def certificates(path: Path) -> list[dict[str, Any]]:
    """Every certificate in the PEM file ``path``, as :meth:`ssl.SSLContext.get_ca_certs`
    describes them (``subject``, ``notAfter`` ...)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=str(path))
    except ssl.SSLError as exc:
        raise NotABundleError(f"its certificates could not be read ({exc})") from None
    return context.get_ca_certs()


def _names_amazon_rds(cert: dict[str, Any]) -> bool:
    return any(
        key in _NAMED_FIELDS and "Amazon RDS" in value
        for rdn in cert["subject"]
        for key, value in rdn
    )


def _subject(cert: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for rdn in cert["subject"] for key, value in rdn)


def check_bundle(path: Path, minimum: int = MIN_CERTIFICATES) -> int:
    """The number of certificates in ``path``; raises :class:`NotABundleError` unless it is a
    bundle of at least ``minimum`` PEM certificates, every one read and naming Amazon RDS."""
    text = path.read_bytes().decode("ascii", "replace")
    blocks = _PEM_BLOCK.findall(text)
    if not blocks:
        raise NotABundleError(f"not a PEM bundle: it begins {text[:80].strip()!r}")
    try:
        distinct = {ssl.PEM_cert_to_DER_cert(block) for block in blocks}
    except ValueError as exc:
        raise NotABundleError(f"a PEM block is not base64 ({exc})") from None
    found = certificates(path)
    if len(found) != len(distinct):
        raise NotABundleError(f"{len(distinct)} PEM blocks but {len(found)} certificates read")
    if len(found) < minimum:
        raise NotABundleError(f"{len(found)} certificates; AWS's bundle holds {minimum} or more")
    strangers = [_subject(cert) for cert in found if not _names_amazon_rds(cert)]
    if strangers:
        raise NotABundleError(f"certificates not Amazon RDS's: {'; '.join(strangers[:3])}")
    return len(found)


def tls_context() -> ssl.SSLContext:
    """TLS as the download's authentication: the base image's CAs, the hostname checked."""
    return ssl.create_default_context()


def fetch(url: str, dest: Path) -> int:
    """Download ``url`` over verified HTTPS to ``dest`` if it is a bundle; its certificates."""
    if not url.startswith("https://"):
        raise NotABundleError(f"{url}: only HTTPS authenticates the bundle")
    with urllib.request.urlopen(url, timeout=60, context=tls_context()) as response:  # noqa: S310
        data = response.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise NotABundleError(f"{url}: over {MAX_BYTES} bytes")
    with tempfile.TemporaryDirectory() as folder:
        candidate = Path(folder) / "bundle.pem"
        candidate.write_bytes(data)
        count = check_bundle(candidate)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    dest.chmod(0o644)  # read by the task's non-root user
    return count


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python rds_ca_bundle.py URL DEST", file=sys.stderr)
        return 2
    url, dest = argv
    try:
        count = fetch(url, Path(dest))
    except (NotABundleError, OSError) as exc:
        print(f"error: the RDS CA bundle from {url} was refused: {exc}", file=sys.stderr)
        return 1
    print(f"{dest}: {count} Amazon RDS CA certificates from {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
