"""The contract of a per-cloud adapter.

Each adapter is the django-storages backend for its cloud (it does the data path: save, open,
delete, list) plus the four things failover needs: sign a URL locally, probe health cheaply,
tell an outage from a missing file, and read eagerly so that a failure surfaces in ``open()``.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from django.core.files.base import File


@dataclass(frozen=True)
class Timeouts:
    connect: float
    read: float
    retries: int
    probe: float


class Cloud(abc.ABC):
    name: ClassVar[str]

    @abc.abstractmethod
    def sign_url(self, name: str, expire: int) -> str:
        """A GET URL valid for ``expire`` seconds, built locally; CredentialsUnavailable if it cannot be signed."""

    @abc.abstractmethod
    def probe(self) -> None:
        """Raise unless the cloud answers a cheap request within the probe timeout."""

    @abc.abstractmethod
    def is_outage(self, exc: BaseException) -> bool:
        """True for connection errors, timeouts, 5xx and auth errors: the cloud, not the file, failed."""

    @abc.abstractmethod
    def is_not_found(self, exc: BaseException) -> bool:
        """True when the cloud answered that the file does not exist."""

    # The django-storages methods each adapter inherits.
    _open: Any
    _save: Any
    exists: Any
    delete: Any
    listdir: Any
    size: Any
    get_modified_time: Any

    @contextmanager
    def not_found_as_oserror(self, name: str) -> Iterator[None]:
        try:
            yield
        except FileNotFoundError:
            raise
        except Exception as exc:
            if self.is_not_found(exc):
                raise FileNotFoundError(f"{name!r} does not exist in {self.name}") from exc
            raise

    def open_for_read(self, name: str) -> File:
        """Open and download now (to a spooled temp file), so that a failing cloud fails here."""
        with self.not_found_as_oserror(name):
            file = self._open(name, "rb")
            file.file  # noqa: B018 - forces the download
            return file

    def file_size(self, name: str) -> int:
        with self.not_found_as_oserror(name):
            return self.size(name)

    def modified_time(self, name: str) -> datetime:
        with self.not_found_as_oserror(name):
            return self.get_modified_time(name)
