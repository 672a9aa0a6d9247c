"""Breaking and healing the clouds from the status panel: only when demo.py runs the emulators behind fault proxies."""

from __future__ import annotations

import os
from typing import Any

from django.core.files.storage import default_storage, storages
from django.utils.functional import empty

PROXIES: dict[str, Any] = {}  # cloud name -> tests.faultproxy.FaultProxy, filled by demo.py
FAULTS = {"down": "refuse", "hung": "hang", "reset": "reset"}
_AWS_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_removed: dict[str, str] = {}


def available() -> bool:
    return bool(PROXIES)


def current_storage() -> Any:
    return storages["default"]


def _rebuild_storage() -> None:
    """Start afresh, as a restarted process would (new clients, new health): Django's storages, and the instance
    sorl-thumbnail keeps for its thumbnails."""
    storages._storages = {}
    default_storage._wrapped = empty
    from sorl.thumbnail import default as sorl_default
    from sorl.thumbnail import images as sorl_images

    sorl_default.storage._wrapped = empty
    sorl_images.get_or_create_storage.cache_clear()


def apply(cloud: str, fault: str) -> None:
    if cloud not in PROXIES or fault not in (*FAULTS, "credentials", "heal"):
        raise ValueError(f"unknown fault {cloud}/{fault}")
    if fault == "credentials":
        if cloud != "s3":
            raise ValueError("only S3 credentials can be removed in the demo")
        for var in _AWS_VARS:
            if var in os.environ:
                _removed[var] = os.environ.pop(var)
        _rebuild_storage()
        return
    if fault == "heal":
        PROXIES[cloud].heal()
        if cloud == "s3" and _removed:
            os.environ.update(_removed)
            _removed.clear()
            _rebuild_storage()
    else:
        PROXIES[cloud].set(FAULTS[fault])
    health = current_storage().health.get(cloud)
    if health is not None:
        health.probe_now()  # the panel shows the new state at once, not after the next interval


def state() -> dict[str, str]:
    """What the panel says was done to each cloud."""
    shown = {cloud: proxy.mode for cloud, proxy in PROXIES.items()}
    if _removed:
        shown["s3"] = f"{shown.get('s3', 'pass')}, credentials removed"
    return shown
