#!/usr/bin/env python
"""The one-command demo: ``make demo`` (or ``python example_project/demo.py``).

Starts moto server (S3) and Azurite (Azure) on loopback, each behind a fault proxy, creates the bucket and the
container, migrates a fresh SQLite database, loads the sample media through the models, creates a superuser for
the admin, starts the task worker (``manage.py db_worker``: the repairs of copies an outage left missing), and
serves the example project. The status panel breaks and heals the clouds through the proxies, which the site and
the worker both go through. Ctrl-C stops everything it started.

``--url-mode redirect`` (or ``DEMO_URL_MODE=redirect``) serves media through redirect links (``/files/...``) that
choose a healthy cloud at each click, instead of URLs of one cloud chosen when the page is rendered.

Every start is a fresh one, unless ``--keep``: then the database and the emulators' data of the last run (in
``--workdir``) are kept. Azurite keeps its data there itself; moto server keeps nothing, so the bucket is copied
to ``<workdir>/s3-data/`` when the demo stops and uploaded again on the next ``--keep`` start.
"""

from __future__ import annotations

import argparse
import contextlib
import mimetypes
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

from tests.emulators import Emulator, azure_connection_string, azurite_binary, free_port, start_moto  # noqa: E402
from tests.faultproxy import FaultProxy  # noqa: E402

BUCKET = CONTAINER = "media"
SAMPLES = HERE / "sample_media"
ADMIN_USERNAME = "demo"


def load_samples() -> None:
    from django.core.files import File

    from meetings.models import BotDebugScreenshot, Recording

    with open(SAMPLES / "meeting.webm", "rb") as video:
        Recording.objects.create(title="Weekly sync", file=File(video, name="weekly-sync.webm"))
    with open(SAMPLES / "meeting.webm", "rb") as video:
        old = Recording.objects.create(title="Recorded before the column existed", file=File(video, name="old.webm"))
    Recording.objects.filter(pk=old.pk).update(mirrors=None)  # as rows are right after migration 0002
    with open(SAMPLES / "screenshot.png", "rb") as image, open(SAMPLES / "bot-debug.webm", "rb") as video:
        shot = BotDebugScreenshot.objects.create(
            caption="Bot joined the call",
            image=File(image, name="joined.png"),
            debug_video=File(video, name="bot-debug.webm"),
        )
    from sorl.thumbnail import get_thumbnail

    get_thumbnail(shot.image, "160x90", crop="center")  # made now, in both clouds: as the list page asks for it


def create_superuser() -> str:
    """The admin's superuser, with a new random password at every start: returns the password."""
    from django.contrib.auth import get_user_model

    password = secrets.token_urlsafe(12)
    user, _ = get_user_model().objects.get_or_create(username=ADMIN_USERNAME)
    user.is_staff = user.is_superuser = user.is_active = True
    user.set_password(password)
    user.save()
    return password


def save_bucket(s3, target: Path) -> None:
    """moto server keeps nothing: copy the bucket to disk, for the next ``--keep`` start."""
    shutil.rmtree(target, ignore_errors=True)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            path = target / item["Key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(BUCKET, item["Key"], str(path))


def restore_bucket(s3, source: Path) -> None:
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        s3.upload_file(str(path), BUCKET, path.relative_to(source).as_posix(), ExtraArgs={"ContentType": content_type})


def start_emulators(workdir: Path) -> tuple[Emulator, Emulator]:
    """moto server and Azurite. A terminal's Ctrl-C reaches the whole process group, and moto server would exit on it
    before the demo saved the bucket: moto starts with SIGINT blocked (a child inherits the signal mask), and the demo
    stops it with SIGTERM. Node unblocks every signal at start: Azurite takes Ctrl-C as a clean shutdown."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        moto = start_moto(workdir)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    try:
        return moto, start_azurite(workdir)
    except BaseException:
        moto.stop()
        raise


def start_azurite(workdir: Path) -> Emulator:
    """Azurite (blob), as ``tests.emulators.start_azurite`` starts it, but keeping idle connections open for 10
    minutes (its default: 5 s). Through the fault proxy, a request sent on a connection at the moment Azurite closes
    it is reset, and a health probe (never retried) takes that for an outage: Azure would look down for a health
    interval, now and then, while nothing is wrong."""
    port = free_port()
    location = workdir / "azurite-data"
    location.mkdir(exist_ok=True)
    argv = [
        azurite_binary(), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(location),
        "--silent", "--skipApiVersionCheck", "--loose", "--disableTelemetry", "--blobKeepAliveTimeout", "600",
    ]  # fmt: skip
    return Emulator("azurite", argv, port, workdir)


def stop_azurite(azurite: Emulator, timeout: float = 10) -> None:
    """SIGTERM, and the time to write its metadata: Azurite logs when it is done, though its telemetry may keep the
    process alive after that (then stop() kills it)."""
    azurite.process.terminate()
    deadline = time.monotonic() + timeout
    while azurite.process.poll() is None and time.monotonic() < deadline:
        if "successfully closed" in azurite.log.read_text(errors="replace"):
            break
        time.sleep(0.05)
    azurite.stop()


def start_worker(workdir: Path) -> subprocess.Popen[str]:
    """django-tasks-db's worker, with the site's environment (the same settings, database and proxies): it runs the
    repair tasks. Its output is shown with a ``[worker]`` prefix. A terminal's Ctrl-C reaches it too (it stops
    between tasks); the demo stops it with SIGTERM all the same."""
    command = [
        sys.executable,
        str(HERE / "manage.py"),
        "db_worker",
        "--interval",
        "0.5",
        "--no-reload",
        "--no-startup-delay",
    ]
    process = subprocess.Popen(
        command,
        cwd=workdir,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        preexec_fn=_die_with_parent(),
    )

    def relay() -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            print(f"[worker] {line}", end="", flush=True)

    threading.Thread(target=relay, name="worker-output", daemon=True).start()
    return process


def _die_with_parent() -> Callable[[], None] | None:
    """What the worker's child runs before exec: SIGTERM when the demo dies, even killed (Linux's prctl
    PR_SET_PDEATHSIG; elsewhere nothing). Looked up here: the child, forked beside the proxies' threads, only
    calls it."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)


def stop_worker(worker: subprocess.Popen[str], timeout: float = 10) -> None:
    if worker.poll() is None:
        worker.terminate()  # db_worker stops at once between tasks, or after the running one
    try:
        worker.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workdir", type=Path, default=HERE / ".demo", help="emulator data and the database")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the database and the emulators' data of the last run (default: a fresh start)",
    )
    parser.add_argument(
        "--url-mode",
        choices=["direct", "redirect"],
        default=os.environ.get("DEMO_URL_MODE") or "direct",
        help="direct: URLs of one cloud, chosen when the page is rendered; redirect: links to /files/ that choose a "
        "healthy cloud at each click (default: $DEMO_URL_MODE, else direct)",
    )
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C, even when started in the background
    workdir = args.workdir.resolve()
    database, s3_data = workdir / "db.sqlite3", workdir / "s3-data"
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    kept = args.keep and database.exists()
    moto = azurite = s3 = worker = None
    proxies: dict[str, FaultProxy] = {}
    try:
        moto, azurite = start_emulators(workdir)
        proxies = {"s3": FaultProxy(moto.port), "azure": FaultProxy(azurite.port)}
        os.environ.update(
            DJANGO_SETTINGS_MODULE="demo_site.settings",
            DEMO_DB_PATH=str(database),
            DEMO_S3_ENDPOINT_URL=f"http://127.0.0.1:{proxies['s3'].port}",
            AWS_ACCESS_KEY_ID="demo",
            AWS_SECRET_ACCESS_KEY="demo",  # moto accepts any key
            AWS_SHARED_CREDENTIALS_FILE=str(workdir / "none"),
            AWS_CONFIG_FILE=str(workdir / "none"),
            AWS_EC2_METADATA_DISABLED="true",
            AZURE_STORAGE_CONNECTION_STRING=azure_connection_string(proxies["azure"].port),
            DEMO_URL_MODE=args.url_mode,
        )
        os.environ.setdefault("DEMO_HEALTH_INTERVAL", "2")
        import boto3
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import BlobServiceClient

        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{moto.port}", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)  # moto server starts empty every time
        if kept:
            if s3_data.is_dir():
                restore_bucket(s3, s3_data)
            else:
                print(f"No S3 data saved in {s3_data} by the last run: the rows' S3 copies are missing.", flush=True)
        azure = BlobServiceClient.from_connection_string(azure_connection_string(azurite.port))
        with azure, contextlib.suppress(ResourceExistsError):  # the container is kept from the last run
            azure.create_container(CONTAINER)

        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        if not kept:
            load_samples()
        password = create_superuser()
        worker = start_worker(workdir)

        from django.contrib.staticfiles.handlers import StaticFilesHandler
        from django.core.servers.basehttp import run
        from django.core.wsgi import get_wsgi_application

        from meetings import faults

        faults.PROXIES.update(proxies)

        def announce(port: int) -> None:  # once the server listens
            address = f"http://{args.host}:{port}/"
            print(f"The demo is at {address}  (S3 and Azure on emulators; Ctrl-C stops everything)")
            print(f"The admin: {address}admin/  username {ADMIN_USERNAME}  password {password}  (new at every start)")
            print(f"URL mode: {args.url_mode}. The task worker runs the repairs; its lines start with [worker].")
            if kept:
                print(f"Kept the database and the emulators' data of the last run ({workdir}).", flush=True)
            else:
                print(f"A fresh database and fresh emulators ({workdir}); --keep keeps them next time.", flush=True)

        run(args.host, args.port, StaticFilesHandler(get_wsgi_application()), threading=True, on_bind=announce)
    except KeyboardInterrupt:
        pass
    finally:
        if worker is not None:
            stop_worker(worker)
        for proxy in proxies.values():
            proxy.close()
        if azurite is not None:
            stop_azurite(azurite)
        if moto is not None:
            if s3 is not None:
                try:
                    save_bucket(s3, s3_data)
                except Exception as error:  # the demo stops all the same
                    print(f"Could not save the bucket to {s3_data} for --keep: {error}", file=sys.stderr)
            moto.stop()


if __name__ == "__main__":
    main()
