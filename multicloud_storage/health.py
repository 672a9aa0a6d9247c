"""Where health is decided: one verdict per cloud, from operation failures and a periodic probe, optionally
shared by every process through Django's cache.

Presigning is local, so a URL never reveals an outage. A cloud is marked down when an operation fails in a
way ``Cloud.classify`` calls an outage or a credentials failure (never a missing file, never a 403 on one
object). A cheap probe with a short timeout runs in the background at most once per
``health_check_interval``: it confirms an outage, notices recovery, and notices an outage no operation hit.
``is_up()`` never waits: it returns the last verdict and, when due, starts a probe or a cache refresh in the
background.

With ``shared_cache`` (a ``CACHES`` alias), a verdict reached by any process is published with its wall-clock
time; every process adopts a newer verdict within about a second (``SYNC_EVERY``), and the routine probe is
leased (``cache.add``) so that one process probes per interval, not each of them. Every cache call fails open:
when the cache is unreachable, each process keeps its own view and retries after ``CACHE_PAUSE`` seconds.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from . import signals
from .exceptions import describe

logger = logging.getLogger("multicloud_storage")
SYNC_EVERY = 1.0  # seconds between refreshes of the shared view, per process
CACHE_PAUSE = 5.0  # seconds without cache calls after one failed
_background = ThreadPoolExecutor(max_workers=4, thread_name_prefix="multicloud-health")


def _after_fork_in_child() -> None:
    global _background
    _background = ThreadPoolExecutor(max_workers=4, thread_name_prefix="multicloud-health")
    for health in list(_HEALTHS):
        health.after_fork()


_HEALTHS: weakref.WeakSet[Health] = weakref.WeakSet()
os.register_at_fork(after_in_child=_after_fork_in_child)


@dataclass(frozen=True)
class CloudStatus:
    cloud: str
    up: bool
    reason: str  # why it is down ("" when up); never holds a secret
    last_probe_age: float | None  # seconds since this process last probed or adopted a verdict; None: never


class SharedCache:
    """Django's cache as the place where processes share verdicts; every call fails open, with a pause."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self._paused_until = 0.0
        self._warned = False

    def call(self, operation: Callable[[Any], Any], default: Any = None) -> Any:
        if time.monotonic() < self._paused_until:
            return default
        try:
            from django.core.cache import caches

            result = operation(caches[self.alias])
        except Exception as exc:  # noqa: BLE001 - the cache is an optimisation: fail open
            self._paused_until = time.monotonic() + CACHE_PAUSE
            if not self._warned:
                self._warned = True
                logger.warning(
                    "Shared cache %r unreachable, health is not shared for now: %s", self.alias, describe(exc)
                )
            return default
        if self._warned:
            self._warned = False
            logger.warning("Shared cache %r reachable again.", self.alias)
        return result


class Health:
    def __init__(
        self,
        cloud: str,
        probe: Callable[[], object],
        interval: float,
        *,
        shared: SharedCache | None = None,
        scope: str = "",
    ) -> None:
        self.cloud = cloud
        self.interval = interval
        self._probe = probe
        self._shared = shared
        self._key = f"multicloud:health:{scope}"
        self._up = True
        self._reason = ""
        self._at = 0.0  # wall-clock time of the verdict (what makes a newer one win)
        self._probed_at: float | None = None
        self._answered_at = float("-inf")  # when an operation last succeeded on this cloud
        self._synced_at = float("-inf")
        self._probing = False
        self._syncing = False
        self._lock = threading.Lock()
        _HEALTHS.add(self)

    def after_fork(self) -> None:
        """A forked child has none of the parent's probing threads."""
        self._lock = threading.Lock()
        self._probing = self._syncing = False

    def is_up(self) -> bool:
        """The current verdict, at once; starts a background probe or cache refresh when one is due."""
        now = time.monotonic()
        if self._shared is not None and now - self._synced_at >= SYNC_EVERY and not self._syncing:
            self._sync_soon()
        probed_at = self._probed_at
        if (probed_at is None or now - probed_at >= self.interval) and not self._probing:
            self._start_probe(leased=True)
        return self._up

    def mark_down(self, reason: BaseException | str) -> None:
        self._set(False, reason if isinstance(reason, str) else describe(reason), time.time(), publish=True)

    def mark_up(self) -> None:
        self._answered_at = time.monotonic()
        if not self._up:
            self._set(True, "", time.time(), publish=True)

    def suspect(self) -> None:
        """Probe now in the background (an operation is silent), unless a probe is running."""
        self._start_probe(leased=False)

    def status(self) -> CloudStatus:
        age = None if self._probed_at is None else time.monotonic() - self._probed_at
        return CloudStatus(self.cloud, self._up, self._reason, age)

    def probe_now(self) -> bool:
        """Probe in this thread (for commands and tests), publish and return the verdict."""
        with self._lock:
            self._probed_at = time.monotonic()
        self._run_probe()
        return self._up

    def sync_now(self) -> None:
        """Adopt the shared verdict now, if it is newer (tests and commands)."""
        self._syncing = True
        self._sync()

    # The background work --------------------------------------------------------------------

    def _start_probe(self, leased: bool) -> None:
        with self._lock:
            if self._probing:
                return
            self._probing = True
            self._probed_at = time.monotonic()
        _background.submit(self._leased_probe if leased else self._run_probe)

    def _leased_probe(self) -> None:
        if self._shared is not None:
            lease = f"{self._key}:probe"
            seconds = math.ceil(self.interval)  # cache timeouts are whole seconds (0 would delete the key)
            won = self._shared.call(lambda cache: cache.add(lease, uuid.uuid4().hex, timeout=seconds), True)
            if not won:  # another process probes this interval: adopt its verdict instead
                self._probing = False
                self._sync()
                return
        self._run_probe()

    def _run_probe(self) -> None:
        started = time.monotonic()
        try:
            self._probe()
        except Exception as exc:  # noqa: BLE001 - the verdict
            timed_out = isinstance(exc, TimeoutError) or "timeout" in type(exc).__name__.lower()
            if timed_out and self._answered_at >= started:  # slow, not out: other requests succeeded meanwhile
                return
            self.mark_down(exc)
        else:
            self._set(True, "", time.time(), publish=True, force_publish=True)
        finally:
            self._probing = False

    def _sync_soon(self) -> None:
        with self._lock:
            if self._syncing:
                return
            self._syncing = True
        _background.submit(self._sync)

    def _sync(self) -> None:
        try:
            shared = self._shared.call(lambda cache: cache.get(self._key)) if self._shared is not None else None
            if isinstance(shared, dict) and float(shared.get("at", 0)) > self._at:
                self._set(bool(shared["up"]), str(shared.get("reason", "")), float(shared["at"]), publish=False)
        finally:
            self._synced_at = time.monotonic()
            self._syncing = False

    def _publish(self, verdict: dict[str, Any]) -> None:
        def newer_wins(cache: Any) -> None:
            current = cache.get(self._key)
            if not isinstance(current, dict) or float(current.get("at", 0)) < verdict["at"]:
                cache.set(self._key, verdict, timeout=None)

        if self._shared is not None:
            self._shared.call(newer_wins)

    def _set(self, up: bool, reason: str, at: float, *, publish: bool, force_publish: bool = False) -> None:
        with self._lock:
            if at < self._at:
                return  # an older verdict never overrides a newer one
            changed = up != self._up
            self._up, self._reason, self._at = up, reason, at
        if publish and self._shared is not None and (changed or force_publish):
            _background.submit(self._publish, {"up": up, "reason": reason, "at": at})
        if changed:
            if up:
                logger.warning("Cloud %s is up again.", self.cloud)
                signals.cloud_up.send(sender=Health, cloud=self.cloud, reason="")
            else:
                logger.warning("Cloud %s is down: %s", self.cloud, reason)
                signals.cloud_down.send(sender=Health, cloud=self.cloud, reason=reason)
