"""The fault matrix, cell by cell: each fault of each cloud x each operation, against moto server and Azurite
through the fault proxies. Expected outcomes and bounds come from tests/fault_matrix.py (also the README's table)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile

from multicloud_storage import ReplicaWriteError
from multicloud_storage.models import PendingDelete

from . import fault_matrix
from .faultproxy import azure_error, s3_error

OPTIONS = {
    "connect_timeout": 0.5,
    "read_timeout": 1.0,
    "retries": 1,
    "probe_timeout": 1.0,
    "failover_after": 0.5,
    "health_check_interval": 0.5,
}
BOUNDS = {"F": 0.5, "P": 1.0, "A": 2, "C": 0.5, "R": 1}
SEED, DOOMED, TARGET = "seed/seed.txt", "seed/doomed.txt", "seed/target.txt"


def break_cloud(env, cloud: str, fault: str) -> dict:
    """Apply the fault; return the storage options (credentials) a storage must use to meet it."""
    proxy = env.proxy(cloud)
    if fault in ("refused", "hung", "reset"):
        proxy.set({"refused": "refuse", "hung": "hang", "reset": "reset"}[fault])
    elif fault == "5xx":
        proxy.answer(*(s3_error(503, "SlowDown") if cloud == "s3" else azure_error(503, "ServerBusy")))
    elif fault == "credentials missing":
        if cloud == "s3":
            return {"s3": {"access_key": None, "secret_key": None}}
        without_key = ";".join(
            p for p in env.azure_options()["connection_string"].split(";") if not p.startswith("AccountKey")
        )
        return {"azure": {"connection_string": without_key}}
    elif fault == "credentials wrong":
        if cloud == "s3":  # moto does not check signatures: the proxy answers as S3 would
            proxy.answer(*s3_error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist."))
        else:  # Azurite checks the shared key for real
            wrong = re.sub(r"AccountKey=[^;]+", "AccountKey=" + "QUJD" * 22, env.azure_options()["connection_string"])
            return {"azure": {"connection_string": wrong}}
    elif fault == "credentials expiring":
        if cloud == "s3":
            proxy.answer(*s3_error(400, "ExpiredToken", "The provided token has expired."))
        else:
            proxy.answer(*azure_error(403, "AuthenticationFailed", "Signature not valid in the specified time frame"))
    elif fault == "403 on one object":
        for name in (SEED, DOOMED, TARGET, "all.txt"):
            path = re.escape(f"/{env.bucket}/{name}")
            proxy.answer(
                *(
                    s3_error(403, "AccessDenied")
                    if cloud == "s3"
                    else azure_error(403, "AuthorizationPermissionMismatch")
                ),
                path=path,
            )
    return {}


def cloud_of(url: str, env) -> str:
    return {env.s3_proxy.port: "s3", env.azure_proxy.port: "azure"}[urlsplit(url).port]


@pytest.mark.slow  # storage behaviour, the same on every Django: make test runs it once
@pytest.mark.parametrize("fault", list(fault_matrix.FAULTS))
@pytest.mark.parametrize("cloud", ["s3", "azure"])
def test_fault_matrix(env, cloud, fault, django_capture_on_commit_callbacks):
    other = "azure" if cloud == "s3" else "s3"
    healthy = env.install("both")
    for name in (SEED, DOOMED):
        assert healthy.save(name, ContentFile(b"seed")) == name
    credentials = break_cloud(env, cloud, fault)
    object_only = fault == "403 on one object"

    def run(operation, action):
        started = time.monotonic()
        result = action()
        elapsed = time.monotonic() - started
        bound = fault_matrix.bound_seconds(fault_matrix.bound_class(fault, operation), **BOUNDS)
        assert elapsed <= bound, f"{operation}: {elapsed:.2f} s > {bound:.2f} s"
        return result

    storage = env.install("both", **OPTIONS, **credentials)
    saved = run("save, both, any", lambda: storage.save_mirrored(TARGET, ContentFile(b"target")))
    assert saved.locations == {other}
    assert env.raw_bytes(other, saved.name) == b"target"
    assert saved.name not in (env.s3_keys() if cloud == "s3" else env.azure_names())
    assert storage.health[cloud].status().up is object_only

    strict = env.install("both", **OPTIONS, **credentials, write_policy="all")
    with pytest.raises(ReplicaWriteError):
        run("save, both, all", lambda: strict.save("all.txt", ContentFile(b"all")))
    assert not any(n.startswith("all") for n in env.s3_keys() | env.azure_names())

    alone = env.install(cloud, **OPTIONS, **credentials)
    with pytest.raises(ReplicaWriteError):
        run("save, its mode", lambda: alone.save(TARGET, ContentFile(b"alone")))

    elsewhere = env.install(other, **OPTIONS)
    assert set(elsewhere.clouds) == {other}  # no client for the faulty cloud exists at all
    assert run("save, other mode", lambda: elsewhere.save("other.txt", ContentFile(b"other"))) == "other.txt"

    storage = env.install("both", **OPTIONS, **credentials)
    storage.save_mirrored("detect.txt", ContentFile(b"d"))  # this process learns of the fault
    url = run("url", lambda: storage.url(SEED))
    assert cloud_of(url, env) == ("s3" if object_only else other)

    assert run("open + read", lambda: storage.open(SEED).read()) == b"seed"
    assert run("exists", lambda: storage.exists(SEED)) is True
    assert run("size", lambda: storage.size(SEED)) == 4
    assert "seed.txt" in run("listdir", lambda: storage.listdir("seed"))[1]

    with django_capture_on_commit_callbacks(execute=True):
        run("delete", lambda: storage.delete(DOOMED))
    assert DOOMED not in (env.azure_names() if other == "azure" else env.s3_keys())
    assert PendingDelete.objects.filter(cloud=cloud, name=DOOMED).exists()


def test_the_readme_shows_the_fault_matrix():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert fault_matrix.markdown() in readme, "run `python -m tests.fault_matrix` and paste the table in the README"
