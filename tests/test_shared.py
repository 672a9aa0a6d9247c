"""Health shared by every process through Django's cache (a real redis-server): verdicts adopted within about a
second, one probe per interval across processes, and a cache outage that breaks nothing but the sharing."""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time

import pytest
from django.core.files.base import ContentFile

from .emulators import ROOT, start_redis
from .faultproxy import s3_error


class Processes:
    """N processes handing out URLs, their lines read as they come."""

    def __init__(self, count: int, options: dict, seconds: float, name: str = "seed.txt") -> None:
        self.lines: queue.Queue[tuple[int, dict]] = queue.Queue()
        job = json.dumps({"job": "url_loop", "options": options, "seconds": seconds, "name": name})
        self.processes = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.worker_process", job],
                cwd=ROOT,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "MULTICLOUD_TEST_DB": ":memory:"},
            )
            for _ in range(count)
        ]
        for index, process in enumerate(self.processes):
            threading.Thread(target=self._read, args=(index, process), daemon=True).start()

    def _read(self, index: int, process: subprocess.Popen) -> None:
        for line in process.stdout:
            if line.startswith("{"):
                self.lines.put((index, json.loads(line)))

    def until(self, predicate, timeout: float) -> list[tuple[int, dict]]:
        """Lines read until ``predicate(seen)`` holds."""
        seen: list[tuple[int, dict]] = []
        deadline = time.monotonic() + timeout
        while not predicate(seen):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"not reached within {timeout} s; last lines: {seen[-8:]}"
            try:
                seen.append(self.lines.get(timeout=remaining))
            except queue.Empty:
                continue
        return seen

    def stop(self) -> None:
        for process in self.processes:
            process.kill()
            process.wait()


def every_process(port: int, count: int, since: float = 0.0):
    return lambda seen: {i for i, line in seen if line["port"] == port and line["t"] >= since} == set(range(count))


@pytest.mark.slow
@pytest.mark.usefixtures("transactional_db")
def test_every_process_adopts_a_verdict_within_about_a_second(env, shared_cache):
    options = env.options("both", shared_cache="shared", health_check_interval=1.0, probe_timeout=1.0)
    processes = Processes(3, options, seconds=40)
    try:
        processes.until(every_process(env.s3_proxy.port, 3), timeout=30)  # all started, all on S3
        broken = time.time()
        env.s3_proxy.set("refuse")
        seen = processes.until(every_process(env.azure_proxy.port, 3, since=broken), timeout=15)
        first_azure = {
            i: min(
                line["t"] for j, line in seen if j == i and line["port"] == env.azure_proxy.port and line["t"] >= broken
            )
            for i in range(3)
        }
        # One probe per interval across processes finds S3 down (1 s), the others adopt it within a second.
        assert max(first_azure.values()) - broken < 1.0 + 1.0 + 1.0 + 1.0, first_azure
        assert max(line["cost"] for _, line in seen) < 0.1  # url() never waited on the cache or a cloud

        healed = time.time()
        env.s3_proxy.heal()
        processes.until(every_process(env.s3_proxy.port, 3, since=healed + 0.01), timeout=15)
    finally:
        processes.stop()


@pytest.mark.slow
@pytest.mark.usefixtures("transactional_db")
def test_probes_are_shared_one_per_interval_across_processes(env, shared_cache):
    env.install("both", shared_cache="shared")  # the test process does not probe: it hands out no URL
    probes = env.s3_proxy.answer(*s3_error(404, "NoSuchKey"), method="GET", path=r"\.multicloud-probe")
    options = env.options("both", shared_cache="shared", health_check_interval=1.0)
    processes = Processes(4, options, seconds=30)
    try:
        processes.until(every_process(env.s3_proxy.port, 4), timeout=30)
        before, started = probes.hits, time.monotonic()
        time.sleep(4)
        window = time.monotonic() - started
        shared = probes.hits - before
    finally:
        processes.stop()
    # Without sharing, four processes would probe about 4 x 4 = 16 times.
    assert shared <= window / 1.0 + 2, shared


def test_a_cache_outage_breaks_nothing_but_the_sharing(env, settings, tmp_path, caplog):
    redis = start_redis(tmp_path)
    settings.CACHES = {
        **settings.CACHES,
        "shared": {**settings.CACHES["shared"], "LOCATION": f"redis://127.0.0.1:{redis.port}/0"},
    }
    storage = env.install("both", shared_cache="shared")
    assert storage.save_mirrored("before.txt", ContentFile(b"x")).locations == {"s3", "azure"}
    storage.url("before.txt")
    redis.stop()  # the cache dies
    with caplog.at_level(logging.WARNING, logger="multicloud_storage"):
        slowest = 0.0
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            started = time.monotonic()
            storage.url("before.txt")
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.02)
        saved = storage.save_mirrored("during.txt", ContentFile(b"y"))
        env.s3_proxy.set("refuse")  # a verdict reached while the cache is down is still this process's own
        storage.save_mirrored("down.txt", ContentFile(b"z"))
        assert not storage.health["s3"].status().up
    assert slowest < 0.5, slowest  # url() never touches the cache in its thread (loose: a loaded machine pauses)
    assert saved.locations == {"s3", "azure"}
    assert env.azure_bytes("during.txt") == b"y"
    assert caplog.text.count("unreachable") == 1  # logged once
