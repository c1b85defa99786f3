"""Database credentials from AWS Secrets Manager, in the RDS secret format.

A secret holds JSON such as ``{"engine": "postgres", "host": "…", "port": 5432,
"username": "…", "password": "…", "dbname": "…"}``. It becomes a libpq URI kept as a
:class:`~pydantic.SecretStr`. Every error names the secret and the key at fault, never a value:
these messages end up in CloudWatch and in alerts.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from pydantic import SecretStr

from ainsdale_etl.core.errors import ConfigError

REQUIRED_KEYS = ("host", "username", "password", "dbname")
DEFAULT_PORT = 5432
POSTGRES_ENGINES = {"postgres", "postgresql", "aurora-postgresql"}
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
_FORMAT = 'RDS JSON: {"host", "port", "username", "password", "dbname"}'


# Where the image keeps AWS's RDS CA bundle (docs/deploy.md); PGSSLROOTCERT may name another.
RDS_CA_BUNDLE = "/etc/ssl/certs/rds-global-bundle.pem"
_RDS_HOST = re.compile(r"\.rds\.amazonaws\.com(\.cn)?$", re.IGNORECASE)


def is_rds_host(host: str) -> bool:
    return bool(_RDS_HOST.search(host))


def rds_ca_bundle() -> str | None:
    """The RDS CA bundle to verify RDS servers with: PGSSLROOTCERT's file, else the image's;
    None if neither is there."""
    for candidate in (os.environ.get("PGSSLROOTCERT"), RDS_CA_BUNDLE):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def default_sslmode(host: str, ca_bundle: str | None = None) -> str:
    """``verify-full`` for an RDS host when the RDS CA bundle is at hand (the server's
    identity checked: a man in the middle is refused); ``require`` over any other network
    (encrypted, identity unchecked); ``prefer`` on this machine, where TLS protects nothing."""
    if host in LOCAL_HOSTS or host.startswith("/"):
        return "prefer"
    return "verify-full" if is_rds_host(host) and ca_bundle else "require"


def parse_secret(text: str | None, secret_id: str) -> dict[str, Any]:
    """The JSON object a secret holds."""
    try:
        value = json.loads(text or "")
    except ValueError:
        # The decoder's message quotes the text: it must not reach a log.
        raise ConfigError(f"secret {secret_id} is not JSON; it must hold {_FORMAT}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"secret {secret_id} is not a JSON object; it must hold {_FORMAT}")
    return value


def database_url(
    secret: Mapping[str, Any],
    *,
    secret_id: str,
    sslmode: str | None = None,
    ca_bundle: str | None = None,
) -> SecretStr:
    """The libpq URI of an RDS-format secret.

    User, password and database name are percent-quoted, so any character is safe. A ``host``
    starting with ``/`` is a unix-socket directory and travels as the ``host`` parameter.
    """
    missing = [k for k in REQUIRED_KEYS if not isinstance(secret.get(k), str) or not secret[k]]
    if missing:
        raise ConfigError(
            f"secret {secret_id} lacks {', '.join(repr(k) for k in missing)}; "
            f"it must hold {_FORMAT}"
        )
    engine = secret.get("engine")
    if engine is not None and str(engine).lower() not in POSTGRES_ENGINES:
        raise ConfigError(f"secret {secret_id} is for engine {engine!r}; PostgreSQL is needed")
    try:
        port = int(secret.get("port") or DEFAULT_PORT)
    except (TypeError, ValueError):
        raise ConfigError(f"secret {secret_id}: 'port' is not a number") from None

    host = secret["host"]
    credentials = f"{quote(secret['username'], safe='')}:{quote(secret['password'], safe='')}"
    params = {"sslmode": sslmode or default_sslmode(host, ca_bundle)}
    if params["sslmode"] in {"verify-ca", "verify-full"} and ca_bundle:
        params["sslrootcert"] = ca_bundle
    if host.startswith("/"):
        netloc = f"{credentials}@"
        params = {"host": host, "port": str(port), **params}
    else:
        bracketed = f"[{host}]" if ":" in host else host  # an IPv6 address
        netloc = f"{credentials}@{bracketed}:{port}"
    path = quote(secret["dbname"], safe="")
    return SecretStr(f"postgresql://{netloc}/{path}?{urlencode(params)}")


def fetch_secret(secret_id: str) -> str | None:
    """The text of a secret (its current version)."""
    from ainsdale_etl.adapters.aws import aws_client, aws_failure, error_code, is_aws_error

    try:
        response = aws_client("secretsmanager", arn=secret_id).get_secret_value(SecretId=secret_id)
    except Exception as exc:
        if not is_aws_error(exc):
            raise
        code = error_code(exc)
        if code == "ResourceNotFoundException":
            raise ConfigError(
                f"secret {secret_id} not found (or it has no value yet); "
                "check AINSDALE_*_SECRET_ID and the region"
            ) from None
        if code in {"AccessDeniedException", "AccessDenied"}:
            raise ConfigError(
                f"access denied to secret {secret_id}; the role needs "
                "secretsmanager:GetSecretValue on it (and kms:Decrypt on its key)"
            ) from None
        raise aws_failure(exc, f"cannot read secret {secret_id}") from None
    if "SecretString" in response:
        return response["SecretString"]
    binary = response.get("SecretBinary")
    return binary.decode("utf-8", errors="replace") if binary else None


def database_url_from_secret(secret_id: str, *, sslmode: str | None = None) -> SecretStr:
    """The URI of the database a Secrets Manager secret describes."""
    secret = parse_secret(fetch_secret(secret_id), secret_id)
    return database_url(secret, secret_id=secret_id, sslmode=sslmode, ca_bundle=rds_ca_bundle())
