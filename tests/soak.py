"""A bounded soak: S3 flaps between pass, refused, hung and reset while threads save and sign.

Used by tests/test_soak.py (which asserts the invariants) and by the benchmark (which publishes the figures).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.files.base import ContentFile

CYCLE = [("pass", 3.0), ("refuse", 2.0), ("pass", 2.0), ("hang", 3.0), ("pass", 2.0), ("reset", 2.0)]


def run(storage: Any, s3_proxy: Any, seconds: float = 60.0, savers: int = 3) -> dict[str, Any]:
    """Run the soak; returns what happened (every save with its bytes, every URL with its timing and verdicts)."""
    seeds = [storage.save_mirrored(f"soak/seed-{i}.bin", ContentFile(os.urandom(2048))) for i in range(4)]
    stop = threading.Event()
    phases: list[tuple[float, str]] = []
    saves: list[dict[str, Any]] = []
    urls: list[dict[str, Any]] = []
    lock = threading.Lock()

    def flap() -> None:
        while not stop.is_set():
            for mode, duration in CYCLE:
                if stop.is_set():
                    break
                s3_proxy.set(mode)
                phases.append((time.monotonic(), mode))
                stop.wait(duration)
        s3_proxy.heal()

    def save(worker: int) -> None:
        number = 0
        while not stop.is_set():
            body = os.urandom(4096 + 1024 * (number % 64))
            started = time.monotonic()
            try:
                saved = storage.save_mirrored(f"soak/w{worker}-{number}.bin", ContentFile(body))
                result = {"name": saved.name, "locations": sorted(saved.locations), "body": body}
            except Exception as exc:  # noqa: BLE001 - a failed save is allowed; a wrong one is not
                result = {"error": f"{type(exc).__name__}: {exc}"}
            result["seconds"] = time.monotonic() - started
            with lock:
                saves.append(result)
            number += 1

    def sign() -> None:
        while not stop.is_set():
            for seed in seeds:
                before = {c: storage.health[c].status().up for c in storage.clouds}
                started = time.perf_counter()
                url = storage.url(seed.name, locations=seed.locations)
                cost = time.perf_counter() - started
                after = {c: storage.health[c].status().up for c in storage.clouds}
                urls.append({"t": time.monotonic(), "cost": cost, "url": url, "before": before, "after": after})
            time.sleep(0.002)

    threads = [threading.Thread(target=flap)] + [threading.Thread(target=save, args=(i,)) for i in range(savers)]
    threads.append(threading.Thread(target=sign))
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    return {"phases": phases, "saves": saves, "urls": urls, "seconds": seconds}


def phase_at(phases: list[tuple[float, str]], moment: float) -> str:
    current = "pass"
    for started, mode in phases:
        if started > moment:
            break
        current = mode
    return current


def summary(result: dict[str, Any], cloud_of: Callable[[str], str]) -> dict[str, Any]:
    """The figures: URL cost while S3 is hung, the slowest save, and URLs handed out for a cloud known down."""
    hung = [u["cost"] for u in result["urls"] if phase_at(result["phases"], u["t"]) == "hang"]
    wrong = [
        u
        for u in result["urls"]
        if cloud_of(u["url"]) == "s3"
        and not u["before"]["s3"]
        and not u["after"]["s3"]
        and u["before"]["azure"]
        and u["after"]["azure"]
    ]
    costs = sorted(hung) or [0.0]
    stored = [s for s in result["saves"] if "error" not in s]
    return {
        "seconds": result["seconds"],
        "saves": len(result["saves"]),
        "saves_failed": len(result["saves"]) - len(stored),
        "saves_single_copy": sum(len(s["locations"]) == 1 for s in stored),
        "slowest_save_s": max((s["seconds"] for s in result["saves"]), default=0.0),
        "urls": len(result["urls"]),
        "urls_while_hung": len(hung),
        "url_p50_while_hung_ms": statistics.median(costs) * 1000,
        "url_p99_while_hung_ms": costs[int(len(costs) * 0.99) - 1 if len(costs) > 1 else 0] * 1000,
        "url_max_while_hung_ms": costs[-1] * 1000,
        "urls_for_a_cloud_known_down": len(wrong),
    }
