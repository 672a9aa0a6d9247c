"""A separate Python process using the storage, for tests that need several processes (not threads).

Run as ``python -m tests.worker_process '<json job>'``; prints one JSON line per result. Jobs:
- ``{"job": "save_rounds", "options": {...}, "name": "...", "start": <epoch>, "period": s, "rounds": n, "tag": "..."}``:
  at each round's start time, save ``name`` with content unique to this process and round.
"""

from __future__ import annotations

import json
import os
import sys
import time


def setup() -> None:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, run_syncdb=True)


def save_rounds(job: dict) -> None:
    from django.core.files.base import ContentFile

    from multicloud_storage import MultiCloudStorage

    storage = MultiCloudStorage(**job["options"])
    storage.clouds[next(iter(storage.clouds))].pool.submit(lambda: None).result()  # warm the pool
    for round_number in range(job["rounds"]):
        body = f"{job['tag']} round {round_number} pid {os.getpid()}".encode()
        start = job["start"] + round_number * job["period"]
        time.sleep(max(0.0, start - time.time()))
        try:
            saved = storage.save_mirrored(job["name"], ContentFile(body))
            result = {
                "round": round_number,
                "name": saved.name,
                "locations": sorted(saved.locations),
                "body": body.decode(),
            }
        except Exception as exc:  # noqa: BLE001 - reported to the test
            result = {"round": round_number, "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(result), flush=True)


def save_file(job: dict) -> None:
    """Save the file at ``path`` under ``name`` (a test kills this process half-way)."""
    from django.core.files import File

    from multicloud_storage import MultiCloudStorage

    storage = MultiCloudStorage(**job["options"])
    print(json.dumps({"started": True}), flush=True)
    with open(job["path"], "rb") as handle:
        saved = storage.save_mirrored(job["name"], File(handle))
    print(json.dumps({"name": saved.name, "locations": sorted(saved.locations)}), flush=True)


def repair_rss(job: dict) -> None:
    """Repair ``name`` (copy it to the clouds that lack it) and report the peak RSS growth, from VmHWM."""
    from multicloud_storage import MultiCloudStorage
    from multicloud_storage.repair import repair_file

    storage = MultiCloudStorage(**job["options"])
    storage.exists("warm-up")  # clients built before the baseline
    with open("/proc/self/clear_refs", "w") as handle:  # resets VmHWM to the current RSS
        handle.write("5")
    baseline = _status_kib("VmRSS")
    report = repair_file(storage, job["name"])
    result = {"copied": report.copied, "holders": sorted(report.holders), "growth_kib": _status_kib("VmHWM") - baseline}
    print(json.dumps(result), flush=True)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


def url_loop(job: dict) -> None:
    """Hand out URLs of ``name`` every ``every`` seconds for ``seconds``: one line per URL (time, port, cost)."""
    from urllib.parse import urlsplit

    from multicloud_storage import MultiCloudStorage

    storage = MultiCloudStorage(**job["options"])
    end = time.time() + job["seconds"]
    while time.time() < end:
        started = time.time()
        url = storage.url(job["name"])
        cost = time.time() - started
        print(json.dumps({"t": started, "port": urlsplit(url).port, "cost": cost}), flush=True)
        time.sleep(job.get("every", 0.05))


if __name__ == "__main__":
    setup()
    job = json.loads(sys.argv[1])
    jobs = {"save_rounds": save_rounds, "url_loop": url_loop, "save_file": save_file, "repair_rss": repair_rss}
    jobs[job.pop("job")](job)
