"""A save SIGKILLed half-way leaves no visible partial object in either cloud; the next repair run reports nothing
lost and aborts the unfinished S3 multipart upload the kill left behind."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys

import pytest
from django.core.management import call_command

from .conftest import wait_until
from .emulators import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("transactional_db")]
MiB = 1024 * 1024


@pytest.mark.parametrize("percent", [25, 50, 80])
def test_a_save_killed_half_way_leaves_nothing_visible_and_the_repair_cleans_up(env, tmp_path, percent):
    env.install("both")
    path = tmp_path / "recording.webm"
    path.write_bytes(os.urandom(MiB) * 64)
    job = {"job": "save_file", "options": env.options("both"), "path": str(path), "name": "killed/recording.webm"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.worker_process", json.dumps(job)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MULTICLOUD_TEST_DB": ":memory:"},
    )

    def parts_uploaded() -> int:
        uploads = env.emulators.s3.list_multipart_uploads(Bucket=env.bucket).get("Uploads", [])
        if not uploads:
            return 0
        upload = uploads[0]
        parts = env.emulators.s3.list_parts(Bucket=env.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        return len(parts.get("Parts", []))

    wait_until(lambda: parts_uploaded() >= 8 * percent // 100 or process.poll() is not None, timeout=60, step=0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert env.s3_keys() == set() and env.azure_names() == set()  # nothing visible, in either cloud

    out = io.StringIO()
    call_command("multicloud_sync", "--json", "--stale-uploads-hours", "0", stdout=out)  # a clean run: returns
    summary = json.loads(out.getvalue())
    assert summary["lost"] == [] and summary["uploads_aborted"] >= 1
    assert env.emulators.s3.list_multipart_uploads(Bucket=env.bucket).get("Uploads", []) == []
    assert env.s3_keys() == set() and env.azure_names() == set()
