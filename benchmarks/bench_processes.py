"""Many processes and a flapping cloud: the figures of the shared-health and soak sections of RESULTS.md.

- **Failover across processes**: N processes handing out URLs (the url_loop job of tests/worker_process.py), S3
  refusing connections from one moment on: how long until every process hands out Azure URLs, and how many probes
  the processes make per health_check_interval, with and without ``shared_cache`` (a real redis-server).
- **Soak**: tests/soak.py (S3 flapping between pass, refused, hung and reset while threads save and sign): url()
  cost while S3 is hung, the slowest save, and URLs handed out for a cloud known down.

Run by ``make bench`` (``--only processes`` alone); it never asserts: tests/test_shared.py and tests/test_soak.py do.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks.common import BUCKET, CONTAINER, KEY, ROOT
from tests.emulators import azure_connection_string, start_redis
from tests.faultproxy import FaultProxy, s3_error

INTERVAL = 1.0


def _options(s3_port: int, azure_port: int, **extra: Any) -> dict[str, Any]:
    return {
        "mode": "both",
        "s3": {
            "bucket_name": BUCKET,
            "endpoint_url": f"http://127.0.0.1:{s3_port}",
            "access_key": KEY,
            "secret_key": KEY,
            "region_name": "us-east-1",
        },
        "azure": {"azure_container": CONTAINER, "connection_string": azure_connection_string(azure_port)},
        "health_check_interval": INTERVAL,
        "probe_timeout": 1.0,
        **extra,
    }


def _failover(proxy: FaultProxy, options: dict[str, Any], count: int, env: dict[str, str]) -> dict[str, Any]:
    lines: queue.Queue[tuple[int, dict[str, Any]]] = queue.Queue()
    job = json.dumps({"job": "url_loop", "options": options, "seconds": 60, "name": "bench/seed.txt"})
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.worker_process", job],
            cwd=ROOT,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    for index, process in enumerate(processes):
        threading.Thread(
            target=lambda i=index, p=process: [lines.put((i, json.loads(x))) for x in p.stdout if x.startswith("{")],
            daemon=True,
        ).start()

    def until(port: int, since: float, timeout: float) -> dict[int, float]:
        first: dict[int, float] = {}
        deadline = time.monotonic() + timeout
        while len(first) < count and time.monotonic() < deadline:
            try:
                index, line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line["port"] == port and line["t"] >= since:
                first.setdefault(index, line["t"])
        return first

    try:
        until(proxy.port, 0.0, 60)  # every process started and on S3
        probes = proxy.answer(*s3_error(404, "NoSuchKey"), method="GET", path=r"\.multicloud-probe")
        time.sleep(10)
        probes_per_interval = probes.hits / (10 / INTERVAL)
        proxy.heal()
        broken = time.time()
        proxy.set("refuse")
        azure_port = urlsplit(options["azure"]["connection_string"].split("BlobEndpoint=")[1]).port
        first = until(azure_port, broken, 30)
        delays = sorted(t - broken for t in first.values())
    finally:
        proxy.heal()
        for process in processes:
            process.kill()
            process.wait()
    return {
        "processes": count,
        "probes_per_interval": probes_per_interval,
        "seconds_until_every_process_failed_over": delays[-1] if len(delays) == count else None,
        "seconds_per_process": delays,
    }


def measure(
    workdir: Path, moto_port: int, azurite_port: int, count: int = 4, soak_seconds: float = 60
) -> dict[str, Any]:
    redis = start_redis(workdir)
    proxy = FaultProxy(moto_port)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "MULTICLOUD_TEST_DB": ":memory:",
        "MULTICLOUD_TEST_REDIS": f"redis://127.0.0.1:{redis.port}/0",
    }
    try:
        from django.core.files.base import ContentFile

        from multicloud_storage import MultiCloudStorage

        MultiCloudStorage(**_options(proxy.port, azurite_port)).save("bench/seed.txt", ContentFile(b"seed"))
        results: dict[str, Any] = {
            "without_shared_cache": _failover(proxy, _options(proxy.port, azurite_port), count, env),
            "with_shared_cache": _failover(
                proxy, _options(proxy.port, azurite_port, shared_cache="shared"), count, env
            ),
            "interval": INTERVAL,
        }
        results["soak"] = _soak(proxy, azurite_port, soak_seconds)
        return results
    finally:
        proxy.close()
        redis.stop()


def _soak(proxy: FaultProxy, azurite_port: int, seconds: float) -> dict[str, Any]:
    from multicloud_storage import MultiCloudStorage
    from tests import soak

    storage = MultiCloudStorage(**{**_options(proxy.port, azurite_port), "connect_timeout": 1.0, "read_timeout": 2.0})
    result = soak.run(storage, proxy, seconds=seconds)
    ports = {proxy.port: "s3", azurite_port: "azure"}
    return soak.summary(result, lambda url: ports.get(urlsplit(url).port, "other"))
