"""Exceptions raised by MultiCloudStorage, and the redaction used in every message."""

from __future__ import annotations

import logging
import re

__all__ = [
    "NoReplicaAvailable",
    "ReplicaWriteError",
    "CredentialsUnavailable",
    "Stalled",
    "ContentMismatch",
    "describe",
]

# Query parameters and connection-string fields that carry a secret.
_SECRET_PATTERNS = [
    re.compile(r"(?i)((?:sig|signature|x-amz-signature|x-amz-security-token|x-amz-credential)=)[^&\s'\"]+"),
    re.compile(r"(?i)((?:accountkey|sharedaccesssignature)=)[^;\s'\"]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)('x-amz-security-token': b?')[^']+"),  # a header in botocore's request repr
    re.compile(r"(?i)^(x-amz-security-token:)[^\n]+", re.MULTILINE),  # ...and in its canonical request
]


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1<redacted>", text)
    return text


class RedactingFilter(logging.Filter):
    """Redacts credentials from botocore's DEBUG records (it logs request headers, the session token among them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


def describe(exc: BaseException) -> str:
    """A one-line, secret-free description of an exception, for logs and messages."""
    text = redact(" ".join(str(exc).split())[:300])
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class NoReplicaAvailable(OSError):
    """No cloud holding the file could serve it (or sign a URL for it).

    ``silent_variable_failure`` makes ``{{ obj.file.url }}`` render empty instead of failing the page.
    """

    silent_variable_failure = True

    def __init__(self, name: str, errors: dict[str, str] | None = None, reason: str = "") -> None:
        self.name = name
        self.errors = dict(errors or {})
        detail = reason or "; ".join(f"{cloud}: {err}" for cloud, err in self.errors.items())
        super().__init__(f"No replica of {name!r} is available" + (f" ({detail})" if detail else ""))


class ReplicaWriteError(OSError):
    """A save did not store the file as the write policy requires; nothing was reported as stored.

    ``left_behind`` names the clouds where a copy may remain because removing it failed: each is
    recorded as a PendingDelete for the repair, and the message says so.
    """

    def __init__(self, name: str, errors: dict[str, str], left_behind: frozenset[str] = frozenset()) -> None:
        self.name = name
        self.errors = dict(errors)
        self.left_behind = left_behind
        detail = "; ".join(f"{cloud}: {err}" for cloud, err in self.errors.items())
        extra = (
            f"; a copy may remain in {', '.join(sorted(left_behind))}, recorded for the repair (PendingDelete)"
            if left_behind
            else ""
        )
        super().__init__(f"Could not store {name!r} ({detail}{extra})")


class CredentialsUnavailable(Exception):
    """A cloud cannot sign or authenticate now (no, incomplete or unrefreshable credentials)."""


class Stalled(TimeoutError):
    """A request made no progress within its bound; the save, read or delete stopped waiting for it."""


class ContentMismatch(ValueError):
    """The content did not match what it declared (its ``size``), or changed while it was being read."""
