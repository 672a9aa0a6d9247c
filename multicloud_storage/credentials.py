"""What signs URLs: credentials fetched in the background, never waited on longer than ``probe_timeout``.

Presigning is local, but what it signs with is not always: AWS credentials from STS, an instance role or
SSO must be refreshed, and an Azure AD user-delegation key must be fetched. ``Renewable`` keeps the last
good value, renews it in the background before it expires, waits for a fetch only when nothing cached is
still valid (and then at most ``wait`` seconds), and remembers a failure for ``backoff`` seconds so that
every ``url()`` in the meantime fails over at once instead of trying again. Only the very first fetch is ever
waited for; after a failure, retries run in the background.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timedelta, timezone
from typing import Generic, TypeVar

from .exceptions import CredentialsUnavailable, describe

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Renewable(Generic[T]):
    def __init__(
        self,
        fetch: Callable[[datetime], tuple[T, datetime | None]],
        *,
        what: str,
        wait: float,
        backoff: float,
        renew_margin: timedelta,
        known: T | None = None,
    ) -> None:
        """``fetch(needed)`` returns a value valid at least until ``needed`` and its expiry (None: never).

        ``known``: a value that never expires, known at construction (static keys): nothing is ever fetched.
        """
        self._fetch = fetch
        self._what = what
        self._wait = wait
        self._backoff = backoff
        self._margin = renew_margin
        self._value: T | None = known
        self._expiry: datetime | None = None
        self._pending: Future[T] | None = None
        self._failed_at = self._started_at = float("-inf")
        self._failure = ""
        self._lock = threading.Lock()

    def get(self, needed: datetime | None = None, *, retry: bool = False) -> T:
        """A value valid until ``needed`` (default: now); CredentialsUnavailable within ``wait`` seconds.

        ``retry`` (the health probe) waits for a new attempt after a failure, once its backoff has passed.
        """
        needed = needed or utcnow()
        value, expiry = self._value, self._expiry
        if value is not None and (expiry is None or expiry >= needed + self._margin):
            return value
        usable = value is not None and (expiry is None or expiry > needed)
        pending = self._renew(needed, urgent=not usable)
        if usable:
            return value  # type: ignore[return-value]
        if pending is None or (self._failure and not retry):
            # Once a fetch failed, callers never wait again: the retry runs in the background.
            raise CredentialsUnavailable(f"{self._what} unavailable ({self._failure}); retried in the background")
        try:
            return pending.result(timeout=self._wait)
        except FutureTimeout:
            raise CredentialsUnavailable(f"{self._what} not fetched within {self._wait:g} s") from None
        except CredentialsUnavailable:
            raise
        except Exception as exc:
            raise CredentialsUnavailable(f"{self._what} unavailable ({describe(exc)})") from exc

    def after_fork(self) -> None:
        """In a forked child the fetching thread is gone: forget the fetch it was running."""
        self._lock = threading.Lock()
        self._pending = None

    def prefetch(self) -> None:
        """Start the first fetch now, in the background, so that the first URL finds it ready (unless known)."""
        if self._value is None:
            self._renew(utcnow(), urgent=True)

    def _renew(self, needed: datetime, urgent: bool) -> Future[T] | None:
        """The fetch under way (started if due); None while a recent failure is remembered, or when a
        renewal that is not urgent ran less than ``backoff`` seconds ago."""
        with self._lock:
            if self._pending is not None and not self._pending.done():
                return self._pending
            now = time.monotonic()
            if now - self._failed_at < self._backoff or (not urgent and now - self._started_at < self._backoff):
                return None
            self._started_at = now
            pending: Future[T] = Future()
            self._pending = pending
        threading.Thread(target=self._run, args=(pending, needed), name="multicloud-credentials", daemon=True).start()
        return pending

    def _run(self, pending: Future[T], needed: datetime) -> None:
        try:
            value, expiry = self._fetch(needed)
        except BaseException as exc:  # noqa: BLE001 - remembered, reported to whoever waits
            self._failed_at = time.monotonic()
            self._failure = describe(exc)
            pending.set_exception(exc)
        else:
            self._value, self._expiry = value, expiry
            self._failed_at = float("-inf")
            self._failure = ""
            pending.set_result(value)
