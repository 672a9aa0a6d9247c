"""One save in a fresh process, with its memory measured: run by benchmarks.bench, one process per case.

python -m benchmarks.rss_child CASE SIZE PATH S3_PORT AZURE_PORT NAME OUT_JSON
CASE: ours-both | ideal | S3Storage. The baseline is VmRSS after setup (clients built, one small save done);
the peak is sampled from /proc/self/status every 20 ms in a thread during the save (and checked against
VmHWM, reset at the baseline). The caller deletes NAME afterwards.
"""

from __future__ import annotations

import gc
import json
import sys
import threading
import time
from pathlib import Path

from benchmarks import common

SAMPLE_EVERY = 0.020


def _hwm_kib() -> int | None:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def main(argv: list[str]) -> None:
    case, size, path, s3_port, azure_port, name, out = argv
    endpoints = common.Endpoints("loopback", int(s3_port), int(azure_port))
    content = common.Content(int(size), Path(path).parent, on_disk=True)
    assert content.path == Path(path), (content.path, path)
    if case == "ours-both":
        save = common.save_with(common.ours(endpoints, "both"))
    elif case == "ideal":
        save = common.IdealByHand(endpoints).save
    elif case == "S3Storage":
        save = common.save_with(common.s3_storage(endpoints))
    else:
        raise SystemExit(f"unknown case {case!r}")

    warm = common.Content(10 * 1024, Path(path).parent, on_disk=False)
    save(name + ".warm-up", warm)  # clients, connections, thread pools: part of the setup, not of the save

    gc.collect()
    time.sleep(0.2)
    baseline = common.rss_kib()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        hwm_reset = True
    except OSError:
        hwm_reset = False
    samples: list[tuple[float, int]] = []
    stop = threading.Event()
    started = time.perf_counter()

    def sample() -> None:
        while True:
            samples.append((round(time.perf_counter() - started, 3), common.rss_kib()))
            if stop.wait(SAMPLE_EVERY):
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    saved = save(name, content)
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    samples.append((round(time.perf_counter() - started, 3), common.rss_kib()))
    peak = max(rss for _, rss in samples)
    hwm = _hwm_kib() if hwm_reset else None
    Path(out).write_text(
        json.dumps(
            {
                "case": case,
                "size": int(size),
                "saved": saved,
                "seconds": seconds,
                "baseline_kib": baseline,
                "peak_kib": peak,
                "growth_kib": peak - baseline,
                "hwm_growth_kib": None if hwm is None else hwm - baseline,
                "samples": samples,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
