"""File-name rules, checked before anything is written to any cloud."""

from __future__ import annotations

import re

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.utils import validate_file_name

MAX_KEY_LENGTH = 1024  # S3 keys: 1024 bytes of UTF-8; Azure blob names: 1024 characters
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _shown(name: str) -> str:
    shown = repr(name)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def check_name(name: object, prefix_length: int = 0) -> str:
    """Return ``name`` if every cloud can store it safely; raise SuspiciousFileOperation otherwise."""
    if not isinstance(name, str) or not name:
        raise SuspiciousFileOperation(f"A file name must be a non-empty string, not {_shown(name)}.")  # type: ignore[arg-type]
    if _CONTROL.search(name):
        raise SuspiciousFileOperation(f"File name {_shown(name)} contains control characters.")
    if prefix_length + len(name.encode("utf-8")) > MAX_KEY_LENGTH:
        raise SuspiciousFileOperation(
            f"File name {_shown(name)} is longer than the clouds accept ({MAX_KEY_LENGTH} bytes with the location)."
        )
    validate_file_name(name, allow_relative_path=True)  # Django's rules: no '..', no absolute path
    return name
