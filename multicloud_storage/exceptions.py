"""Exceptions raised by MultiCloudStorage, and the redaction used in every message."""

from __future__ import annotations

import re

__all__ = ["NoReplicaAvailable", "ReplicaWriteError", "CredentialsUnavailable", "Stalled", "ContentMismatch", "describe"]

# Query parameters and connection-string fields that carry a secret.
_SECRET_PATTERNS = [
    re.compile(r"(?i)((?:sig|signature|x-amz-signature|x-amz-security-token|x-amz-credential)=)[^&\s'\"]+"),
    re.compile(r"(?i)((?:accountkey|sharedaccesssignature)=)[^;\s'\"]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
]


def describe(exc: BaseException) -> str:
    """A one-line, secret-free description of an exception, for logs and messages."""
    text = " ".join(str(exc).split())[:300]
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1<redacted>", text)
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
