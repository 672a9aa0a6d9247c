"""What the multicloud commands share: finding the storage by its STORAGES alias, and probing its clouds."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import CommandError

from ...registry import unwrap
from ...storage import MultiCloudStorage

USAGE = 2  # exit status of a usage error (argparse's too)


def storage_for(alias: str) -> MultiCloudStorage:
    from django.core.files.storage import default_storage, storages

    try:
        storage = unwrap(default_storage) if alias == "default" else storages[alias]
    except Exception as exc:  # noqa: BLE001 - InvalidStorageError and its kin
        raise CommandError(f"No storage {alias!r} in STORAGES.", returncode=USAGE) from exc
    if not isinstance(storage, MultiCloudStorage):
        raise CommandError(f"STORAGES[{alias!r}] is {type(storage).__name__}, not MultiCloudStorage.", returncode=USAGE)
    return storage


def probe_all(storage: MultiCloudStorage) -> dict[str, dict[str, Any]]:
    """Probe every cloud of the mode now, in this thread: cloud -> {up, reason, latency_ms}."""
    result = {}
    for cloud, health in storage.health.items():
        started = time.monotonic()
        up = health.probe_now()
        result[cloud] = {
            "up": up,
            "reason": health.status().reason,
            "latency_ms": round((time.monotonic() - started) * 1000, 1),
        }
    return result
