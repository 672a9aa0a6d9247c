"""Where health is decided: one Health per cloud, fed by operation failures and a periodic probe.

Presigning is local, so a URL never reveals an outage. A cloud is marked down when an operation
fails with an outage error (connection, timeout, 5xx, auth; never a 404). A cheap probe with a short
timeout runs in the background at most once per ``health_check_interval`` per process: it confirms
an outage, notices recovery, and notices an outage that no operation has hit yet. Readers never
wait for a probe: ``is_up()`` returns the last verdict at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .exceptions import describe

logger = logging.getLogger("multicloud_storage")


@dataclass(frozen=True)
class CloudStatus:
    cloud: str
    up: bool
    reason: str  # why it is down ("" when up); never holds a secret
    last_probe_age: float | None  # seconds since the last probe started; None: never probed


class Health:
    def __init__(self, cloud: str, probe: Callable[[], object], interval: float) -> None:
        self.cloud = cloud
        self.interval = interval
        self._probe = probe
        self._up = True
        self._reason = ""
        self._probed_at: float | None = None
        self._probing = False
        self._lock = threading.Lock()

    def is_up(self) -> bool:
        """The current verdict, in microseconds; starts a background probe when one is due."""
        probed_at = self._probed_at
        if (probed_at is None or time.monotonic() - probed_at >= self.interval) and not self._probing:
            self._start_probe()
        return self._up

    def mark_down(self, exc: BaseException) -> None:
        self._set(False, describe(exc))

    def mark_up(self) -> None:
        if not self._up:
            self._set(True, "")

    def status(self) -> CloudStatus:
        age = None if self._probed_at is None else time.monotonic() - self._probed_at
        return CloudStatus(self.cloud, self._up, self._reason, age)

    def probe_now(self) -> bool:
        """Probe in this thread (for commands and tests) and return the verdict."""
        with self._lock:
            self._probed_at = time.monotonic()
        self._run_probe()
        return self._up

    def _start_probe(self) -> None:
        with self._lock:
            if self._probing:
                return
            self._probing = True
            self._probed_at = time.monotonic()
        threading.Thread(target=self._run_probe, name=f"multicloud-probe-{self.cloud}", daemon=True).start()

    def _run_probe(self) -> None:
        try:
            self._probe()
        except Exception as exc:
            self.mark_down(exc)
        else:
            self.mark_up()
        finally:
            self._probing = False

    def _set(self, up: bool, reason: str) -> None:
        with self._lock:
            changed = up != self._up
            self._up, self._reason = up, reason
        if changed and up:
            logger.warning("Cloud %s is up again.", self.cloud)
        elif changed:
            logger.warning("Cloud %s is down: %s", self.cloud, reason)
