"""url() cost: MultiCloudStorage against django-storages' own S3Storage and AzureStorage, in one run.

Run: python -m benchmarks.bench_urls   (writes benchmarks/RESULTS.md)
Both sides are configured alike (same endpoints, SigV4, one-hour URLs) against moto server and Azurite.
Presigning is local, so the emulators only serve to make the setup the real one.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.update(AWS_EC2_METADATA_DISABLED="true")

import django  # noqa: E402

django.setup()

import azure.storage.blob  # noqa: E402
import boto3  # noqa: E402
import storages  # noqa: E402
from botocore.config import Config  # noqa: E402
from storages.backends.azure_storage import AzureStorage  # noqa: E402
from storages.backends.s3 import S3Storage  # noqa: E402

from multicloud_storage import MultiCloudStorage  # noqa: E402
from tests.emulators import azure_connection_string, start_azurite, start_moto  # noqa: E402

NAME = "recordings/2026/meeting 42 – café.webm"
CALLS = 2000
REPEATS = 7


def per_call_us(func) -> float:
    func()  # warm up: clients, endpoint resolution, keys
    timings = timeit.repeat(func, number=CALLS, repeat=REPEATS)
    return statistics.median(timings) / CALLS * 1e6


def first_call_in_new_thread_ms(storage, calls: int = 5) -> float:
    samples = []
    for _ in range(calls):
        result = {}

        def run():
            started = time.perf_counter()
            storage.url(NAME)
            result["t"] = time.perf_counter() - started

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        samples.append(result["t"] * 1e3)
    return statistics.median(samples)


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    moto, azurite = start_moto(workdir), start_azurite(workdir)
    try:
        endpoint = f"http://127.0.0.1:{moto.port}"
        connection = azure_connection_string(azurite.port)
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="k", aws_secret_access_key="k",
                     region_name="us-east-1").create_bucket(Bucket="media")
        azure.storage.blob.BlobServiceClient.from_connection_string(connection).create_container("media")

        s3_options = {"bucket_name": "media", "endpoint_url": endpoint, "access_key": "k", "secret_key": "k",
                      "region_name": "us-east-1"}
        azure_options = {"azure_container": "media", "connection_string": connection}
        theirs_s3 = S3Storage(**s3_options, client_config=Config(signature_version="s3v4"))
        theirs_azure = AzureStorage(**azure_options, expiration_secs=3600)
        ours_s3 = MultiCloudStorage(mode="both", s3=s3_options, azure=azure_options)
        ours_azure = MultiCloudStorage(mode="both", s3=s3_options, azure=azure_options, read_order=["azure", "s3"])
        assert "X-Amz-Signature" in ours_s3.url(NAME) and "sig=" in ours_azure.url(NAME)
        assert "X-Amz-Signature" in theirs_s3.url(NAME) and "sig=" in theirs_azure.url(NAME)

        rows = []
        for label, ours, theirs in (
            ("S3 presigned URL", lambda: ours_s3.url(NAME), lambda: theirs_s3.url(NAME)),
            ("Azure SAS URL", lambda: ours_azure.url(NAME), lambda: theirs_azure.url(NAME)),
            ("S3 URL, column says both", lambda: ours_s3.url(NAME, locations={"s3", "azure"}),
             lambda: theirs_s3.url(NAME)),
        ):
            ours_us, theirs_us = per_call_us(ours), per_call_us(theirs)
            rows.append((label, ours_us, theirs_us))
        new_thread = (first_call_in_new_thread_ms(ours_s3), first_call_in_new_thread_ms(theirs_s3))
    finally:
        moto.stop()
        azurite.stop()

    lines = [
        "# url() benchmark",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} by `python -m benchmarks.bench_urls` on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, Django {django.get_version()}, "
        f"django-storages {storages.__version__}, boto3 {boto3.__version__}, azure-storage-blob "
        f"{azure.storage.blob.__version__}. Median of {REPEATS} runs of {CALLS} calls; both sides in one process, "
        "one run, same endpoints (moto server, Azurite), SigV4, one-hour URLs.",
        "",
        "| url() | multicloud_storage (µs) | django-storages (µs) | ratio (ours / theirs) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, ours_us, theirs_us in rows:
        lines.append(f"| {label} | {ours_us:.1f} | {theirs_us:.1f} | {ours_us / theirs_us:.2f} |")
    lines += [
        "",
        f"First url() in a new thread: multicloud_storage {new_thread[0]:.2f} ms, "
        f"django-storages S3Storage {new_thread[1]:.2f} ms (it builds a boto3 resource per thread).",
        "",
        "The target (issue 2): at most 1.5x django-storages. A ratio below 1 means faster.",
        "",
    ]
    text = "\n".join(lines)
    (ROOT / "benchmarks" / "RESULTS.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
