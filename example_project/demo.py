#!/usr/bin/env python
"""The one-command demo: ``make demo`` (or ``python example_project/demo.py``).

Starts moto server (S3) and Azurite (Azure) on loopback, each behind a fault proxy, creates the bucket and the
container, migrates a fresh SQLite database, loads the sample media through the models, and serves the example
project. The status panel breaks and heals the clouds through the proxies. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

from tests.emulators import azure_connection_string, start_azurite, start_moto  # noqa: E402
from tests.faultproxy import FaultProxy  # noqa: E402

BUCKET = CONTAINER = "media"
SAMPLES = HERE / "sample_media"


def load_samples() -> None:
    from django.core.files import File

    from meetings.models import BotDebugScreenshot, Recording

    with open(SAMPLES / "meeting.webm", "rb") as video:
        Recording.objects.create(title="Weekly sync", file=File(video, name="weekly-sync.webm"))
    with open(SAMPLES / "meeting.webm", "rb") as video:
        old = Recording.objects.create(title="Recorded before the column existed", file=File(video, name="old.webm"))
    Recording.objects.filter(pk=old.pk).update(mirrors=None)  # as rows are right after migration 0002
    with open(SAMPLES / "screenshot.png", "rb") as image, open(SAMPLES / "bot-debug.webm", "rb") as video:
        BotDebugScreenshot.objects.create(
            caption="Bot joined the call", image=File(image, name="joined.png"),
            debug_video=File(video, name="bot-debug.webm"),
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workdir", type=Path, default=HERE / ".demo", help="emulator data and the database")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C, even when started in the background
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    started: list = []
    try:
        moto, azurite = start_moto(args.workdir), start_azurite(args.workdir)
        started += [moto, azurite]
        proxies = {"s3": FaultProxy(moto.port), "azure": FaultProxy(azurite.port)}
        started += list(proxies.values())
        os.environ.update(
            DJANGO_SETTINGS_MODULE="demo_site.settings",
            DEMO_DB_PATH=str(args.workdir / "db.sqlite3"),
            DEMO_S3_ENDPOINT_URL=f"http://127.0.0.1:{proxies['s3'].port}",
            AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo",  # moto accepts any key
            AWS_SHARED_CREDENTIALS_FILE=str(args.workdir / "none"), AWS_CONFIG_FILE=str(args.workdir / "none"),
            AWS_EC2_METADATA_DISABLED="true",
            AZURE_STORAGE_CONNECTION_STRING=azure_connection_string(proxies["azure"].port),
        )
        os.environ.setdefault("DEMO_HEALTH_INTERVAL", "2")
        import boto3
        from azure.storage.blob import BlobServiceClient

        boto3.client("s3", endpoint_url=f"http://127.0.0.1:{moto.port}", region_name="us-east-1").create_bucket(
            Bucket=BUCKET
        )
        BlobServiceClient.from_connection_string(azure_connection_string(azurite.port)).create_container(CONTAINER)

        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        load_samples()

        from django.contrib.staticfiles.handlers import StaticFilesHandler
        from django.core.servers.basehttp import run
        from django.core.wsgi import get_wsgi_application

        from meetings import faults

        faults.PROXIES.update(proxies)
        print(f"The demo is at http://{args.host}:{args.port}/  (S3 and Azure on emulators; Ctrl-C stops everything)",
              flush=True)
        run(args.host, args.port, StaticFilesHandler(get_wsgi_application()), threading=True)
    except KeyboardInterrupt:
        pass
    finally:
        for thing in reversed(started):
            thing.close() if isinstance(thing, FaultProxy) else thing.stop()


if __name__ == "__main__":
    main()
