"""A large copy made by the repair streams cloud to cloud: 256 MiB repaired with bounded memory (its own process)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from .emulators import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("transactional_db")]
MiB = 1024 * 1024


def test_a_256_mib_file_is_repaired_with_bounded_memory(env):
    body = os.urandom(MiB) * 256
    upload = env.emulators.s3.create_multipart_upload(Bucket=env.bucket, Key="big/recording.webm")
    parts = []
    for number, offset in enumerate(range(0, len(body), 32 * MiB), start=1):
        part = env.emulators.s3.upload_part(
            Bucket=env.bucket,
            Key="big/recording.webm",
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=body[offset : offset + 32 * MiB],
        )
        parts.append({"PartNumber": number, "ETag": part["ETag"]})
    env.emulators.s3.complete_multipart_upload(
        Bucket=env.bucket, Key="big/recording.webm", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )
    job = {"job": "repair_rss", "options": env.options("both"), "name": "big/recording.webm"}
    process = subprocess.run(
        [sys.executable, "-m", "tests.worker_process", json.dumps(job)],
        cwd=ROOT,
        text=True,
        capture_output=True,
        timeout=600,
        env={**os.environ, "MULTICLOUD_TEST_DB": ":memory:"},
    )
    assert process.returncode == 0, process.stderr[-3000:]
    result = json.loads(process.stdout.splitlines()[-1])
    assert result["copied"] == {"azure": len(body)} and result["holders"] == ["azure", "s3"]
    assert result["growth_kib"] < 64 * 1024, result  # parts in flight, not the file
    copy = hashlib.md5(usedforsecurity=False)
    for chunk in env.emulators.azure.get_blob_client(env.container, "big/recording.webm").download_blob().chunks():
        copy.update(chunk)
    assert copy.digest() == hashlib.md5(body, usedforsecurity=False).digest()  # byte for byte
