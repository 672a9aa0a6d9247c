"""url() cost: MultiCloudStorage against django-storages' own S3Storage and AzureStorage.

Part of `make bench` (python -m benchmarks.bench), which writes it into benchmarks/RESULTS.md.
Alone: python -m benchmarks.bench_urls   (starts its own emulators and prints the section; writes nothing)
Both sides are configured alike (same endpoints, SigV4, one-hour URLs) against moto server and Azurite.
Presigning is local, so the emulators only serve to make the setup the real one.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
import timeit
from pathlib import Path
from typing import Any

from benchmarks import common

NAME = "recordings/2026/meeting 42 – café.webm"
CALLS = 2000
REPEATS = 7
GOALS = {"S3 presigned URL": 0.12, "Azure SAS URL": 0.14, "S3 URL, column says both": 0.12}


def per_call_us(func: Any, calls: int, repeats: int) -> float:
    func()  # warm up: clients, endpoint resolution, keys
    timings = timeit.repeat(func, number=calls, repeat=repeats)
    return statistics.median(timings) / calls * 1e6


def first_call_in_new_thread_ms(storage: Any, calls: int = 5) -> float:
    samples = []
    for _ in range(calls):
        result: dict[str, float] = {}

        def run(result: dict[str, float] = result) -> None:
            started = time.perf_counter()
            storage.url(NAME)
            result["t"] = time.perf_counter() - started

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        samples.append(result["t"] * 1e3)
    return statistics.median(samples)


def measure(endpoints: common.Endpoints, calls: int = CALLS, repeats: int = REPEATS) -> dict[str, Any]:
    """url() per call, ours and theirs, against the emulators of ``endpoints`` (direct, not shaped)."""
    from storages.backends.azure_storage import AzureStorage
    from storages.backends.s3 import S3Storage

    from multicloud_storage import MultiCloudStorage

    s3_options, azure_options = endpoints.s3_options(), endpoints.azure_options()
    theirs_s3 = S3Storage(**s3_options, client_config=common.sigv4())
    theirs_azure = AzureStorage(**azure_options, expiration_secs=3600)
    ours_s3 = MultiCloudStorage(mode="both", s3=s3_options, azure=azure_options)
    ours_azure = MultiCloudStorage(mode="both", s3=s3_options, azure=azure_options, read_order=["azure", "s3"])
    assert "X-Amz-Signature" in ours_s3.url(NAME) and "sig=" in ours_azure.url(NAME)
    assert "X-Amz-Signature" in theirs_s3.url(NAME) and "sig=" in theirs_azure.url(NAME)

    rows = []
    for label, ours, theirs in (
        ("S3 presigned URL", lambda: ours_s3.url(NAME), lambda: theirs_s3.url(NAME)),
        ("Azure SAS URL", lambda: ours_azure.url(NAME), lambda: theirs_azure.url(NAME)),
        ("S3 URL, column says both", lambda: ours_s3.url(NAME, locations={"s3", "azure"}), lambda: theirs_s3.url(NAME)),
    ):
        ours_us, theirs_us = per_call_us(ours, calls, repeats), per_call_us(theirs, calls, repeats)
        rows.append(
            {
                "label": label,
                "ours_us": ours_us,
                "theirs_us": theirs_us,
                "ratio": ours_us / theirs_us,
                "goal": GOALS[label],
            }
        )
    new_thread = {"ours_ms": first_call_in_new_thread_ms(ours_s3), "theirs_ms": first_call_in_new_thread_ms(theirs_s3)}
    return {"calls": calls, "repeats": repeats, "rows": rows, "new_thread": new_thread}


def section_lines(result: dict[str, Any], command: str) -> list[str]:
    lines = [
        "## url()",
        "",
        f"Measured by `{command}`. Median of {result['repeats']} runs of {result['calls']} calls; both sides in one "
        "process, same endpoints (moto server, Azurite, loopback), SigV4, one-hour URLs. Presigning is local.",
        "",
        "| url() | multicloud_storage (µs) | django-storages (µs) | ratio (ours / theirs) | goal |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        theirs = "AzureStorage.url" if row["label"].startswith("Azure") else "S3Storage.url"
        lines.append(
            f"| {row['label']} (vs {theirs}) | {row['ours_us']:.1f} | {row['theirs_us']:.1f} | {row['ratio']:.3f} "
            f"| <= {row['goal']} |"
        )
    new_thread = result["new_thread"]
    lines += [
        "",
        f"First url() in a new thread: multicloud_storage {new_thread['ours_ms']:.2f} ms, "
        f"django-storages S3Storage {new_thread['theirs_ms']:.2f} ms (it builds a boto3 resource per thread).",
        "",
    ]
    return lines


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-urls-"))
    with common.Emulators(workdir) as emulators:
        result = measure(emulators.direct)
    print("\n".join(section_lines(result, "python -m benchmarks.bench_urls")))


if __name__ == "__main__":
    main()
