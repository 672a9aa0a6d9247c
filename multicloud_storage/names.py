"""File-name rules: every accepted name is one key, the same in every cloud, checked before anything is written.

django-storages computes keys differently per cloud (its Azure helper strips ``./`` from both ends, so
``report.`` and ``report`` collide there and not in S3). Here one function, ``canonical``, turns a name
into the key body both adapters use, and refuses the names the clouds would store differently or not at all.
"""

from __future__ import annotations

import unicodedata

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.utils import validate_file_name
from storages.utils import clean_name

MAX_KEY_BYTES = 1024  # S3 keys: 1024 bytes of UTF-8; Azure blob names: 1024 characters
MAX_SEGMENTS = 254  # Azure: at most 254 path segments


def _shown(name: object) -> str:
    shown = repr(name)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _refuse(name: object, why: str) -> SuspiciousFileOperation:
    return SuspiciousFileOperation(f"File name {_shown(name)} {why}.")


def _is_noncharacter(char: str) -> bool:
    code = ord(char)
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def canonical(name: object, prefix_bytes: int = 0) -> str:
    """The name as stored in every cloud; SuspiciousFileOperation when no cloud-safe key exists for it.

    ``prefix_bytes`` is the longest ``location`` prefix (with its slash) of the clouds of the mode.
    """
    if not isinstance(name, str) or not name:
        raise SuspiciousFileOperation(f"A file name must be a non-empty string, not {_shown(name)}.")
    for char in name:
        category = unicodedata.category(char)
        if category == "Cc":
            raise _refuse(name, "contains control characters")
        if category == "Cs":
            raise _refuse(name, "contains unpaired surrogates (not valid UTF-8)")
        if _is_noncharacter(char):
            raise _refuse(name, "contains Unicode noncharacters")
    validate_file_name(name, allow_relative_path=True)  # Django's rules: no '..' segment, no absolute path
    key = str(
        clean_name(name)
    )  # the normalisation django-storages applies in both clouds ('a//b' -> 'a/b', '\\' -> '/')
    if not key or key.endswith("/"):
        raise _refuse(name, "names a directory, not a file")
    if key.startswith("/"):
        raise _refuse(name, "is absolute")
    segments = key.split("/")
    if any(segment.endswith(".") for segment in segments):
        raise _refuse(name, "has a path segment ending with '.', which Azure does not store as given")
    if len(segments) > MAX_SEGMENTS:
        raise _refuse(name, f"has more than {MAX_SEGMENTS} path segments")
    if prefix_bytes + len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise _refuse(name, f"is longer than the clouds accept ({MAX_KEY_BYTES} bytes with the location)")
    return key


def is_plain(name: str) -> bool:
    """True for a name that joins its location unchanged (a canonical one): no safe_join needed for its key."""
    return bool(name) and not (
        name[0] == "/"
        or name.startswith("./")
        or name.endswith(("/", "/."))
        or name == "."
        or "\\" in name
        or ".." in name
        or "//" in name
        or "/./" in name
    )
