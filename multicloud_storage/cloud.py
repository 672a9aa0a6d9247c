"""The contract of a per-cloud adapter, stated once.

Each adapter is the django-storages backend of its cloud (which keeps its settings, key layout, content
types and listing) plus what mirroring needs, each a short method:

- ``classify(exc)``: what an error means (the file is missing, the name is taken, the cloud is out, it
  cannot authenticate, or only this object failed). Reads, writes, the probe and health all use it.
- create-if-absent writes in one request (``put``) or in parts (``start_parts`` ... ``commit_parts``), so
  that Django's no-overwrite rule costs no extra round trip and holds across processes;
- ``stat``, ``read_range``, ``open_stream``: reads, and the source of a copy from one cloud to another;
- ``sign_url``: a URL built locally; ``probe``: a cheap request that an account with the documented
  minimal permissions may make.

Every adapter owns one bounded, reused thread pool: nothing here starts a thread per call.
"""

from __future__ import annotations

import abc
import enum
import os
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

POOL_SIZE = 16  # threads per cloud, shared by every save, read and delete of one storage


class Fault(enum.Enum):
    MISSING = "missing"  # the cloud answered: no such file
    EXISTS = "exists"  # a create-if-absent write found the name taken
    OUTAGE = "outage"  # the cloud failed: connection, timeout, 5xx, throttling, missing bucket
    CREDENTIALS = "credentials"  # the account cannot authenticate: no, wrong, expired or unrefreshable credentials
    OBJECT = "object"  # this object only (403 on one key, a 4xx): the cloud is fine

    @property
    def marks_down(self) -> bool:
        return self in (Fault.OUTAGE, Fault.CREDENTIALS)


@dataclass(frozen=True)
class Timeouts:
    connect: float
    read: float
    retries: int  # retries after the first attempt
    probe: float

    @property
    def attempts(self) -> int:
        return self.retries + 1


@dataclass(frozen=True)
class Stat:
    size: int
    modified: datetime
    md5: bytes | None  # the cloud's own MD5 of the bytes, when it keeps one (single-request uploads)
    etag: str  # the version of the object: what a write returned for it
    content_type: str | None = None


_CLOUDS: weakref.WeakSet[Cloud] = weakref.WeakSet()


class Cloud(abc.ABC):
    name: ClassVar[str]
    location: str
    pool: ThreadPoolExecutor

    def start_pool(self) -> None:
        """Start (or, in a forked child, restart) this cloud's threads: a fork keeps no thread but the caller's."""
        self.pool = ThreadPoolExecutor(max_workers=POOL_SIZE, thread_name_prefix=f"multicloud-{self.name}")
        _CLOUDS.add(self)

    def after_fork(self) -> None:
        self.start_pool()

    @abc.abstractmethod
    def warm(self) -> None:
        """Build the SDK clients now (local work, no request), so that a request timed by the wall clock
        measures the cloud, not the building of a client (a CPU-bound second on a loaded machine)."""

    @abc.abstractmethod
    def key(self, name: str) -> str:
        """The object key of a canonical name (the ``location`` prefix included)."""

    @abc.abstractmethod
    def classify(self, exc: BaseException) -> Fault | None:
        """What a failure means; None when it is not the cloud's (a bug, bad input): then it is raised."""

    # URLs and health --------------------------------------------------------------------------

    @abc.abstractmethod
    def sign_url(self, name: str, expire: int, parameters: dict[str, str] | None = None, method: str = "GET") -> str:
        """A GET (or HEAD) URL valid for ``expire`` seconds, with S3-style response overrides, built locally;
        CredentialsUnavailable if it cannot be signed, ValueError for an override the cloud cannot honour."""

    def probe(self) -> None:
        """Raise unless the cloud answers a cheap, permitted request within the probe timeout.

        A connection error that is not a timeout is tried once more at once: a pooled connection the server
        closed while idle (Azurite after 5 s, the clouds after minutes) is not an outage.
        """
        try:
            self.probe_once()
        except Exception as exc:
            if self.classify(exc) is not Fault.OUTAGE or "timeout" in type(exc).__name__.lower():
                raise
            self.probe_once()

    @abc.abstractmethod
    def probe_once(self) -> None:
        """One cheap request the documented minimal permissions allow; raises what the cloud answered."""

    # Writes: ``options`` come from ``write_options`` and are opaque to the caller ----------------

    @abc.abstractmethod
    def write_options(self, name: str, content: Any) -> Any:
        """Content type and the other per-object settings of django-storages, for the writes below."""

    @abc.abstractmethod
    def put(self, name: str, data: bytes, options: Any, *, create_only: bool) -> str:
        """Store ``data`` in one request; with ``create_only`` a taken name fails (Fault.EXISTS). Returns the ETag."""

    @abc.abstractmethod
    def start_parts(self, name: str, options: Any) -> Any:
        """Begin an upload in parts; returns its handle."""

    @abc.abstractmethod
    def put_part(self, name: str, handle: Any, number: int, data: bytes) -> Any:
        """Upload part ``number`` (1-based); returns what ``commit_parts`` needs of it."""

    @abc.abstractmethod
    def commit_parts(self, name: str, handle: Any, parts: list[Any], options: Any, *, create_only: bool) -> str:
        """Make the parts the object, in one request; with ``create_only`` a taken name fails (Fault.EXISTS).
        Returns the ETag."""

    @abc.abstractmethod
    def abort_parts(self, name: str, handle: Any) -> None:
        """Drop the parts of an upload that will not be committed."""

    # Reads ----------------------------------------------------------------------------------

    @abc.abstractmethod
    def stat(self, name: str) -> Stat:
        """Size, modification time and MD5 (when kept); raises an error classified MISSING when absent."""

    @abc.abstractmethod
    def read_range(self, name: str, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (a part of a copy to another cloud)."""

    @abc.abstractmethod
    def open_stream(self, name: str) -> tuple[int, Iterator[bytes]]:
        """(size, chunks) of the whole object: returns once the cloud answered, the body is read lazily."""

    @abc.abstractmethod
    def remove(self, name: str) -> None:
        """Delete the object; a missing object is not an error."""

    @abc.abstractmethod
    def list_names(self, path: str) -> tuple[list[str], list[str]]:
        """Directories and files directly under ``path``, relative to it."""

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _after_fork_in_child() -> None:
    for cloud in list(_CLOUDS):
        cloud.after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
