"""AWS clients made one way for buckets, secrets and alerts, and AWS errors said in one line.

boto3 finds credentials through its usual chain and the endpoint through ``AWS_ENDPOINT_URL``
(moto, MinIO, LocalStack), so nothing here names either.
"""

from __future__ import annotations

from typing import Any

from ainsdale_etl.core.errors import ConfigError, EtlError, TryLaterError


def region_of(arn: str | None) -> str | None:
    """The region an ARN names (``arn:aws:sns:eu-west-2:…`` → ``eu-west-2``), else None."""
    parts = (arn or "").split(":")
    if len(parts) >= 6 and parts[0] == "arn" and parts[3]:
        return parts[3]
    return None


def aws_client(
    service: str, *, arn: str | None = None, max_attempts: int = 8, timeout: float = 60
) -> Any:
    """A boto3 client; in the region of ``arn`` when it names one, so a secret or topic ARN
    works even where no default region is configured."""
    import boto3
    from botocore.config import Config

    # Adaptive retries back off on throttling (503 SlowDown, TooManyRequests) as well as 5xx.
    # SigV4 for S3 presigned URLs too (botocore still presigns SigV2 in some regions): objects
    # encrypted with KMS can only be read through a SigV4 signature.
    config = Config(
        retries={"mode": "adaptive", "max_attempts": max_attempts},
        connect_timeout=timeout,
        read_timeout=timeout,
        signature_version="s3v4" if service == "s3" else None,
    )
    make: Any = boto3.client  # one function for every service: the stubs' overloads do not fit
    return make(service, region_name=region_of(arn), config=config)


_CONFIGURATION_ERRORS = {"NoCredentialsError", "PartialCredentialsError", "NoRegionError"}
# Faults of the moment: the network, throttling, a service's own 5xx. botocore has retried
# them already (adaptive mode, up to 8 attempts), so what reaches us is for a later run.
_TRANSIENT_ERRORS = {
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ConnectionClosedError",
    "ProxyConnectionError",
}
_TRANSIENT_CODES = {
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
    "RequestTimeout",
    "RequestTimeoutException",
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
}


def is_aws_error(exc: BaseException) -> bool:
    """True for botocore's errors (without importing botocore for the check)."""
    # boto3's S3 transfer wraps botocore errors in its own (S3UploadFailedError).
    return type(exc).__module__.startswith(("botocore.", "boto3."))


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ``ClientError`` (``AccessDenied``…), or the exception's name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or type(exc).__name__)
    return type(exc).__name__


def describe_aws_error(exc: BaseException) -> str:
    """One line: the AWS error code and message (no request ids, no stack)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        message = str(response.get("Error", {}).get("Message") or "").strip()
        code = error_code(exc)
        return f"{code}: {message}" if message else code
    return " ".join(str(exc).split()) or type(exc).__name__


def is_transient_aws_error(exc: BaseException) -> bool:
    """A network fault, throttling or a 5xx: worth a later run, unlike a refusal (403, 404)."""
    if type(exc).__name__ in _TRANSIENT_ERRORS:
        return True
    response = getattr(exc, "response", None)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") if response else None
    return error_code(exc) in _TRANSIENT_CODES or (isinstance(status, int) and status >= 500)


def aws_failure(exc: BaseException, doing: str) -> EtlError:
    """The expected failure for an AWS error met while ``doing`` something: missing
    credentials or region are configuration (exit 2), a fault of the moment that outlived
    botocore's retries is "try later" (exit 75), anything else a failed run (exit 1)."""
    message = f"{doing}: {describe_aws_error(exc)}"
    if type(exc).__name__ in _CONFIGURATION_ERRORS:
        return ConfigError(f"{message}; configure AWS credentials and AWS_REGION")
    if is_transient_aws_error(exc):
        return TryLaterError(f"{message}; a later run will try again")
    return EtlError(message)
