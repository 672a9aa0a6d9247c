"""Fixtures: the real emulators behind fault proxies, a fresh bucket and container per test, raw SDK clients."""

from __future__ import annotations

import base64
import copy
import datetime
import itertools
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import pytest
from azure.core.credentials import AccessToken
from azure.storage.blob import BlobServiceClient
from botocore.config import Config

from .emulators import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    ROOT,
    Emulator,
    azure_connection_string,
    make_certificate,
    s3_client,
    start_azurite,
    start_moto,
    start_redis,
)
from .faultproxy import FaultProxy

# No ambient AWS credentials or metadata lookups: "credentials missing" must mean missing, and fast.
for _var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "STORAGE_UPLOAD_MODE"):
    os.environ.pop(_var, None)
os.environ.update(
    AWS_SHARED_CREDENTIALS_FILE="/nonexistent/credentials",
    AWS_CONFIG_FILE="/nonexistent/config",
    AWS_EC2_METADATA_DISABLED="true",
)
S3_KEY = "testing"  # moto accepts any key
_counter = itertools.count()


class Emulators:
    def __init__(self, workdir: Path) -> None:
        self.moto = start_moto(workdir)
        self.azurite = start_azurite(workdir)
        self.s3_proxy = FaultProxy(self.moto.port)
        self.azure_proxy = FaultProxy(self.azurite.port)
        self.s3 = s3_client(self.moto.port, S3_KEY)
        self.azure = BlobServiceClient.from_connection_string(azure_connection_string(self.azurite.port))

    def stop(self) -> None:
        self.s3.close()
        self.azure.close()  # Azurite waits for open keep-alive connections before exiting
        self.s3_proxy.close()
        self.azure_proxy.close()
        self.moto.stop()
        self.azurite.stop()


@pytest.fixture(scope="session")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulators]:
    started = Emulators(tmp_path_factory.mktemp("emulators"))  # fails (never skips) if one cannot start
    yield started
    started.stop()


class Env:
    """One test's bucket and container, the options pointing at them through the proxies, and raw checks."""

    def __init__(self, emulators: Emulators, settings: Any) -> None:
        self.emulators = emulators
        self._settings = settings
        self.bucket = self.container = f"t{next(_counter)}-{uuid.uuid4().hex[:10]}"
        emulators.s3.create_bucket(Bucket=self.bucket)
        emulators.azure.create_container(self.container)
        self.s3_proxy = emulators.s3_proxy
        self.azure_proxy = emulators.azure_proxy

    def s3_options(self, **extra: Any) -> dict[str, Any]:
        return {
            "bucket_name": self.bucket,
            "endpoint_url": f"http://127.0.0.1:{self.s3_proxy.port}",
            "access_key": S3_KEY,
            "secret_key": S3_KEY,
            "region_name": "us-east-1",
            **extra,
        }

    def azure_options(self, **extra: Any) -> dict[str, Any]:
        return {
            "azure_container": self.container,
            "connection_string": azure_connection_string(self.azure_proxy.port),
            **extra,
        }

    def options(self, mode: str = "both", *, s3: dict | None = None, azure: dict | None = None, **extra: Any) -> dict:
        return {
            "mode": mode,
            "s3": {**self.s3_options(), **(s3 or {})},
            "azure": {**self.azure_options(), **(azure or {})},
            "health_check_interval": 0.5,
            "connect_timeout": 1.0,
            "read_timeout": 2.0,
            "probe_timeout": 1.0,
            **extra,
        }

    def install(self, mode: str = "both", **kwargs: Any) -> Any:
        """Make a MultiCloudStorage with these options Django's default storage, and return it."""
        from django.core.files.storage import storages

        options = self.options(mode, **kwargs)
        if getattr(self._settings, "LEGACY", False):
            self._settings.MULTICLOUD_STORAGE = options
        else:
            self._settings.STORAGES = {
                "default": {"BACKEND": "multicloud_storage.MultiCloudStorage", "OPTIONS": options},
                "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
            }
        forget_default_storage()
        return storages["default"]

    # What landed, seen with raw SDK clients talking to the emulators directly (not through the proxies).
    def s3_keys(self) -> set[str]:
        listing = self.emulators.s3.list_objects_v2(Bucket=self.bucket)
        return {item["Key"] for item in listing.get("Contents", [])}

    def s3_bytes(self, key: str) -> bytes:
        return self.emulators.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def azure_names(self) -> set[str]:
        return {blob.name for blob in self.emulators.azure.get_container_client(self.container).list_blobs()}

    def azure_bytes(self, name: str) -> bytes:
        return self.emulators.azure.get_blob_client(self.container, name).download_blob().readall()

    def raw_bytes(self, cloud: str, name: str) -> bytes:
        return self.s3_bytes(name) if cloud == "s3" else self.azure_bytes(name)

    def proxy(self, cloud: str) -> FaultProxy:
        return self.s3_proxy if cloud == "s3" else self.azure_proxy

    @staticmethod
    def wait_for(predicate: Any, timeout: float = 10.0) -> Any:
        return wait_until(predicate, timeout)


@pytest.fixture(autouse=True)
def _legacy_storages_kept() -> Iterator[None]:
    """Django 4.2: overriding DEFAULT_FILE_STORAGE writes into the global STORAGES dict, and the override's undo
    leaves it there; put it back after each test (legacy runs only), and let Django build storages afresh."""
    from django.conf import settings

    if not getattr(settings, "LEGACY", False):
        yield
        return
    saved = copy.deepcopy(settings.STORAGES)
    yield
    settings.STORAGES.clear()
    settings.STORAGES.update(saved)
    from django.core.files.storage import storages

    storages.__dict__.pop("backends", None)
    storages._backends = None
    forget_default_storage()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on the emulators use the database (saves record repair work): mark them django_db."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "env" in names and not item.get_closest_marker("django_db"):
            item.add_marker(pytest.mark.django_db(transaction="transactional_db" in names))


@pytest.fixture
def env(emulators: Emulators, settings: Any) -> Iterator[Env]:
    environment = Env(emulators, settings)
    yield environment
    emulators.s3_proxy.heal()
    emulators.azure_proxy.heal()
    forget_default_storage()


def forget_default_storage() -> None:
    """Make Django build the default storage again from the settings (override_settings does not in legacy mode)."""
    from django.core.files.storage import default_storage, storages
    from django.utils.functional import empty

    storages._storages = {}
    default_storage._wrapped = empty


def query(url: str) -> dict[str, str]:
    """A URL's query parameters, decoded."""
    return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).items()}


def botocore_presign(
    storage: Any,
    key: str,
    amz_date: str,
    expire: int,
    *,
    token: str | None = None,
    parameters: dict[str, str] | None = None,
    method: str = "GET",
) -> str:
    """What botocore itself presigns for the same request at the same instant (moto does not check signatures)."""
    s3 = storage.clouds["s3"]
    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        region_name=s3.region_name,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_KEY,
        aws_session_token=token,
        config=Config(signature_version="s3v4"),
    )
    frozen = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    original = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda *a, **k: frozen
    try:
        return str(
            client.generate_presigned_url(
                "get_object",
                Params={"Bucket": s3.bucket_name, "Key": key, **(parameters or {})},
                ExpiresIn=expire,
                HttpMethod=method,
            )
        )
    finally:
        botocore.auth.get_current_datetime = original
        client.close()


def settle(storage: Any) -> None:
    """Wait until no request of this process is still running on any cloud of ``storage``.

    A save stops waiting for a cloud it found down while that cloud's SDK may still retry its last request; once
    the cloud heals, that retry may land (a good copy, which the repair then records instead of making). Tests that
    count the repair's copies heal only after this. Every thread of each cloud's pool must reach one barrier, so
    none is busy with an older request.
    """
    from multicloud_storage.cloud import POOL_SIZE

    for cloud in storage.clouds.values():
        barrier = threading.Barrier(POOL_SIZE)
        for future in [cloud.pool.submit(barrier.wait, 30) for _ in range(POOL_SIZE)]:
            future.result()


def fetch(url: str, context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    """GET a URL as a browser would (no SDK, no credentials): (status, body)."""
    try:
        with urllib.request.urlopen(url, timeout=10, context=context) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until(predicate: Any, timeout: float = 10.0, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout}s")


# Azure AD through Azurite's OAuth mode (HTTPS, bearer tokens checked by claims, not signature).
class FakeEntraCredential:
    """An azure-core TokenCredential returning an unsigned JWT with the claims Azurite checks."""

    def __init__(self) -> None:
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls += 1
        expires = int(time.time()) + 3600
        claims = {
            "aud": "https://storage.azure.com",
            "iss": "https://sts.windows.net/00000000-0000-0000-0000-000000000001/",
            "exp": expires,
            "nbf": int(time.time()) - 60,
            "iat": int(time.time()) - 60,
            "oid": "11111111-1111-1111-1111-111111111111",
            "tid": "00000000-0000-0000-0000-000000000001",
        }

        def part(data: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

        return AccessToken(f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.", expires)


class OAuthAzurite:
    def __init__(self, workdir: Path) -> None:
        self.cert, key = make_certificate(workdir)
        self.emulator = start_azurite(workdir, oauth_cert=(self.cert, key))
        self.account_url = f"https://127.0.0.1:{self.emulator.port}/{AZURITE_ACCOUNT}"
        self.ssl_context = ssl.create_default_context(cafile=str(self.cert))
        self.admin = BlobServiceClient(
            self.account_url,
            credential={"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY},
            connection_verify=str(self.cert),
        )


@pytest.fixture(scope="session")
def oauth_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OAuthAzurite]:
    started = OAuthAzurite(tmp_path_factory.mktemp("azurite-oauth"))
    yield started
    started.emulator.stop()


# Shared state and tasks: a real redis-server, and task workers as real subprocesses.
@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    server = start_redis(tmp_path_factory.mktemp("redis"))  # fails (never skips) if it cannot start
    os.environ["MULTICLOUD_TEST_REDIS"] = f"redis://127.0.0.1:{server.port}/0"  # for subprocesses
    yield server
    server.stop()


@pytest.fixture
def shared_cache(redis_server: Emulator, settings: Any) -> str:
    """The "shared" cache (Django's RedisCache) and RQ's queue on the session's redis-server; emptied."""
    import django_rq.settings
    from django.core.cache import caches

    url = f"redis://127.0.0.1:{redis_server.port}/0"
    settings.CACHES = {**settings.CACHES, "shared": {**settings.CACHES["shared"], "LOCATION": url}}
    settings.RQ_QUEUES = {"default": {"URL": url}}
    django_rq.settings.QUEUES["default"]["URL"] = url  # django_rq reads its queues at import
    caches["shared"].clear()
    return "shared"


class Worker:
    """A task worker in a subprocess, on the test's database and storage options: db_worker, or RQ's worker."""

    def __init__(self, options: dict[str, Any], kind: str = "db") -> None:
        from django.db import connection

        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "MULTICLOUD_TEST_DB": connection.settings_dict["NAME"],
            "MULTICLOUD_TEST_STORAGE": json.dumps(options),
            "MULTICLOUD_TEST_TASKS": kind,
        }
        command = (
            ["db_worker", "--interval", "0.2"]
            if kind == "db"
            else ["rqworker", "default", "--with-scheduler", "--job-class", "django_tasks_rq.Job"]
        )
        self.log = open(ROOT / ".artifacts" / f"worker-{kind}-{os.getpid()}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "django", *command],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


@pytest.fixture
def worker(transactional_db: Any) -> Iterator[Any]:
    (ROOT / ".artifacts").mkdir(exist_ok=True)
    started: list[Worker] = []

    def start(options: dict[str, Any], kind: str = "db") -> Worker:
        started.append(Worker(options, kind))
        return started[-1]

    yield start
    for one in started:
        one.stop()
