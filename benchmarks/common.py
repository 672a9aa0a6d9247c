"""What the benchmarks share: Django, the emulators (direct and behind WAN-shaping proxies), the storages compared.

Importing this module sets up Django (benchmarks/settings.py: the test settings with a migrated SQLite file) and
keeps ambient AWS configuration out.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
for _var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "STORAGE_UPLOAD_MODE"):
    os.environ.pop(_var, None)
os.environ.update(
    AWS_SHARED_CREDENTIALS_FILE="/nonexistent/credentials",
    AWS_CONFIG_FILE="/nonexistent/config",
    AWS_EC2_METADATA_DISABLED="true",
)

import django  # noqa: E402

django.setup()


def _database() -> None:
    """Migrate this process's database file (the library records repair work there), removed at exit."""
    import atexit

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    path = settings.DATABASES["default"]["NAME"]

    def remove() -> None:
        connections.close_all()
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.remove(path + suffix)

    atexit.register(remove)
    call_command("migrate", verbosity=0, interactive=False)


_database()

from botocore.config import Config  # noqa: E402
from django.core.files.base import ContentFile, File  # noqa: E402

from benchmarks.wan_proxy import WAN  # noqa: E402,F401 - the link's definition, shown in the report
from tests.emulators import azure_connection_string, s3_client, start_azurite, start_moto  # noqa: E402

KiB, MiB, GiB = 1024, 1024**2, 1024**3
# The variants compared.
OURS_BOTH, OURS_S3, OURS_AZURE = "ours both", "ours s3", "ours azure"
IDEAL, S3STORAGE = "ideal by hand", "S3Storage(file_overwrite=False)"
# Where each variant's save must land (a both-mode save that reached one cloud only is a failure, not a time).
CLOUDS = {
    OURS_BOTH: ("s3", "azure"),
    OURS_S3: ("s3",),
    OURS_AZURE: ("azure",),
    IDEAL: ("s3", "azure"),
    S3STORAGE: ("s3",),
}
KEY = "bench"  # moto accepts any key
BUCKET = CONTAINER = "bench"
# Django keeps uploads up to this size in memory (FILE_UPLOAD_MAX_MEMORY_SIZE), larger ones in a temporary file.
IN_MEMORY_MAX = 2_621_440


def human(size: int) -> str:
    for unit, factor in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B"


def sigv4() -> Config:
    return Config(signature_version="s3v4")


@dataclass(frozen=True)
class Endpoints:
    """Where the storages connect: the emulators themselves ("loopback") or the shaping proxies ("wan")."""

    label: str
    s3_port: int
    azure_port: int

    def s3_options(self) -> dict[str, Any]:
        return {
            "bucket_name": BUCKET,
            "endpoint_url": f"http://127.0.0.1:{self.s3_port}",
            "access_key": KEY,
            "secret_key": KEY,
            "region_name": "us-east-1",
        }

    def azure_options(self) -> dict[str, Any]:
        return {"azure_container": CONTAINER, "connection_string": azure_connection_string(self.azure_port)}


class Emulators:
    """moto server and Azurite with a bucket and a container, WAN-shaping proxies, and raw clients for cleanup."""

    def __init__(self, workdir: Path) -> None:
        from azure.storage.blob import BlobServiceClient

        self.workdir = workdir
        self.moto = self.azurite = None
        self.wan_process: subprocess.Popen[str] | None = None
        try:
            self.moto = start_moto(workdir)
            self.azurite = start_azurite(workdir)
            self.s3 = s3_client(self.moto.port, KEY)
            self.s3.create_bucket(Bucket=BUCKET)
            self.azure = BlobServiceClient.from_connection_string(azure_connection_string(self.azurite.port))
            self.container = self.azure.create_container(CONTAINER)
            # The shaping proxies run in a process of their own: their relay threads must not take the
            # interpreter lock from the client code being measured.
            self.wan_process = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.wan_proxy", str(self.moto.port), str(self.azurite.port)],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert self.wan_process.stdout is not None
            ports = json.loads(self.wan_process.stdout.readline() or "null")
            if not ports:
                raise RuntimeError("the WAN proxy process did not start")
        except BaseException:
            self.stop()
            raise
        self.direct = Endpoints("loopback", self.moto.port, self.azurite.port)
        self.wan = Endpoints("WAN", ports["s3"], ports["azure"])

    def remove(self, name: str) -> None:
        """Delete ``name`` from both clouds (directly, not through a proxy); moto keeps objects in memory."""
        from azure.core.exceptions import ResourceNotFoundError

        self.s3.delete_object(Bucket=BUCKET, Key=name)
        with contextlib.suppress(ResourceNotFoundError):
            self.container.delete_blob(name)

    def sizes(self, name: str) -> dict[str, int | None]:
        """The size of ``name`` in each cloud (None: not there), seen directly: did a save land where it should?"""
        from azure.core.exceptions import ResourceNotFoundError
        from botocore.exceptions import ClientError

        found: dict[str, int | None] = {}
        try:
            found["s3"] = self.s3.head_object(Bucket=BUCKET, Key=name)["ContentLength"]
        except ClientError:
            found["s3"] = None
        try:
            found["azure"] = self.container.get_blob_client(name).get_blob_properties().size
        except ResourceNotFoundError:
            found["azure"] = None
        return found

    def stop(self) -> None:
        for closer in (getattr(self, "s3", None), getattr(self, "azure", None)):
            if closer is not None:
                with contextlib.suppress(Exception):
                    closer.close()
        if self.wan_process is not None:
            try:
                self.wan_process.stdin.close()  # type: ignore[union-attr]
                self.wan_process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.wan_process.kill()
                self.wan_process.wait()
        for emulator in (self.moto, self.azurite):
            if emulator is not None:
                emulator.stop()

    def __enter__(self) -> Emulators:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


# The storages compared -----------------------------------------------------------------------------------


# Options given to every MultiCloudStorage besides mode, s3 and azure (none: its defaults); `--ours KEY=VALUE`
# sets them, and they reach the memory subprocesses through the environment.
OURS_OPTIONS: dict[str, Any] = json.loads(os.environ.get("BENCH_OURS_OPTIONS") or "{}")


def ours(endpoints: Endpoints, mode: str) -> Any:
    from multicloud_storage import MultiCloudStorage

    return MultiCloudStorage(mode=mode, s3=endpoints.s3_options(), azure=endpoints.azure_options(), **OURS_OPTIONS)


def s3_storage(endpoints: Endpoints) -> Any:
    """django-storages' S3Storage with Django's no-overwrite rule (its default is file_overwrite=True)."""
    from storages.backends.s3 import S3Storage

    return S3Storage(**endpoints.s3_options(), file_overwrite=False, client_config=sigv4())


def azure_storage(endpoints: Endpoints) -> Any:
    from storages.backends.azure_storage import AzureStorage

    return AzureStorage(**endpoints.azure_options(), overwrite_files=False)


class IdealByHand:
    """django-storages' S3Storage.save and AzureStorage.save run in two threads on the same content.

    The two threads live as long as this object (one single-thread pool per cloud): S3Storage keeps its boto3
    resource per thread, so a new thread per save would rebuild it every time (~60-100 ms) and make "ideal"
    look worse than it can be.
    """

    def __init__(self, endpoints: Endpoints) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.s3 = s3_storage(endpoints)
        self.azure = azure_storage(endpoints)
        self._pools = {key: ThreadPoolExecutor(1, thread_name_prefix=f"ideal-{key}") for key in ("s3", "azure")}

    def save(self, name: str, content: Content) -> str:
        from concurrent.futures import wait

        def run(storage: Any) -> str:
            with content.open() as file:  # each thread reads its own file object of the same bytes
                return storage.save(name, file)

        futures = {
            key: self._pools[key].submit(run, storage) for key, storage in (("s3", self.s3), ("azure", self.azure))
        }
        wait(futures.values())
        saved = {key: future.result() for key, future in futures.items()}  # raises the first error
        if saved["s3"] != saved["azure"]:
            raise RuntimeError(f"the clouds chose different names: {saved}")
        return saved["s3"]


class Content:
    """The bytes saved: a ContentFile up to Django's in-memory upload limit, else a file on disk opened as
    django.core.files.File (as Django's TemporaryUploadedFile is)."""

    def __init__(self, size: int, workdir: Path, *, on_disk: bool | None = None) -> None:
        self.size = size
        self.on_disk = size > IN_MEMORY_MAX if on_disk is None else on_disk
        self.path: Path | None = None
        self.data = b""
        if self.on_disk:
            self.path = workdir / f"content-{size}.bin"
            if not self.path.exists() or self.path.stat().st_size != size:
                write_random_file(self.path, size)
        else:
            self.data = os.urandom(size)

    def open(self) -> File:
        if self.path is not None:
            return File(open(self.path, "rb"), name=self.path.name)  # noqa: SIM115 - closed by the caller
        return ContentFile(self.data, name="content.bin")

    @property
    def kind(self) -> str:
        return "File on disk" if self.on_disk else "ContentFile"


def write_random_file(path: Path, size: int, block: int = 8 * 1024 * 1024) -> None:
    pattern = os.urandom(block)  # random, not compressible; one block repeated keeps this fast
    with open(path, "wb") as out:
        left = size
        counter = 0
        while left > 0:
            piece = min(left, block)
            out.write(counter.to_bytes(8, "big") + pattern[8:piece] if piece > 8 else pattern[:piece])
            left -= piece
            counter += 1


def save_with(storage: Any) -> Callable[[str, Content], str]:
    def save(name: str, content: Content) -> str:
        with content.open() as file:
            return storage.save(name, file)

    return save


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")
