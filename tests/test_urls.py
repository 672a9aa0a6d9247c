"""URLs: SigV4 presigns that botocore agrees with, read-only blob SAS that Azurite verifies, and the choice of cloud."""

from __future__ import annotations

import datetime
import logging
import time
from urllib.parse import quote, urlsplit

import pytest
from django.core.files.base import ContentFile

from multicloud_storage import NoReplicaAvailable

from .conftest import S3_KEY, botocore_presign, fetch, query

AWKWARD = [
    "with space.txt",
    "hash#tag.txt",
    "what?.txt",
    "100%.txt",
    "a+b.txt",
    "x&y=z.txt",
    "ünïcødé/日本語.txt",
    "emoji 🎥 clip.webm",
    "semi;colon,comma.txt",
    "tilde~quote'.txt",
]


@pytest.mark.parametrize("name", ["plain.txt", "dir/sub dir/ä#?%+&.bin", "emoji 🎥.webm"])
@pytest.mark.parametrize("token", [None, "session/token+with=chars"])
def test_s3_url_is_the_sigv4_presign_botocore_computes(env, name, token):
    storage = env.install("both", url_expire=900, s3={"security_token": token, "location": "media"})
    url = storage.url(name)
    params = query(url)
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert params["X-Amz-Expires"] == "900"
    assert params["X-Amz-SignedHeaders"] == "host"
    assert params["X-Amz-Credential"].startswith(f"{S3_KEY}/") and params["X-Amz-Credential"].endswith(
        "/s3/aws4_request"
    )
    assert params.get("X-Amz-Security-Token") == token

    expected = botocore_presign(storage, f"media/{name}", params["X-Amz-Date"], 900, token=token)
    assert urlsplit(url)._replace(query="") == urlsplit(expected)._replace(query="")
    assert params == query(expected)  # same signature, byte for byte


def test_azure_sas_is_read_only_blob_scoped_and_expires_after_url_expire(env):
    storage = env.install("both", url_expire=600, read_order=["azure", "s3"])
    name = storage.save("secret report.txt", ContentFile(b"top secret"))
    other = storage.save("other.txt", ContentFile(b"other"))
    url = storage.url(name)
    params = query(url)
    assert urlsplit(url).port == env.azure_proxy.port
    assert params["sp"] == "r" and params["sr"] == "b" and "sig" in params
    expiry = datetime.datetime.strptime(params["se"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    remaining = (expiry - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    assert 540 < remaining <= 601
    assert fetch(url) == (200, b"top secret")

    # Azurite verifies SAS: a tampered signature, or this SAS on another blob, is refused.
    tampered = url.replace("sig=", "sig=AAAA")
    assert fetch(tampered)[0] == 403
    assert fetch(url.replace(quote(name), other))[0] == 403
    unsigned = url.split("?")[0]
    assert fetch(unsigned)[0] in (403, 404)  # a private container refuses a link without SAS


@pytest.mark.parametrize("name", AWKWARD)
def test_awkward_names_download_the_right_bytes_from_both_clouds(env, name):
    storage = env.install("both")
    body = f"bytes of {name}".encode()
    saved = storage.save(name, ContentFile(body))
    assert saved == name
    assert env.s3_bytes(name) == env.azure_bytes(name) == body
    assert fetch(storage.url(name, locations={"s3"})) == (200, body)
    assert fetch(storage.url(name, locations={"azure"})) == (200, body)


def test_read_order_azure_first(env):
    storage = env.install("both", read_order=["azure", "s3"])
    name = storage.save("a.txt", ContentFile(b"x"))
    assert urlsplit(storage.url(name)).port == env.azure_proxy.port


def test_no_url_for_a_copy_the_column_says_does_not_exist(env):
    storage = env.install("both")
    with pytest.raises(NoReplicaAvailable):
        storage.url("a.txt", locations=set())
    s3_only = env.install("s3")
    with pytest.raises(NoReplicaAvailable, match="no cloud of the mode holds it"):
        s3_only.url("a.txt", locations={"azure"})
    assert urlsplit(storage.url("a.txt", locations={"azure"})).port == env.azure_proxy.port


def test_a_hung_cloud_never_stalls_url(env):
    # Long timeouts, so that any wait on the hung cloud (its probe or a request) would last seconds and stand
    # out from a scheduling pause of a loaded CI machine (a pause of 1.15 s was seen on two cores).
    storage = env.install("both", probe_timeout=3.0, read_timeout=5.0)
    name = storage.save("a.txt", ContentFile(b"x"))
    env.s3_proxy.set("hang")
    slowest, calls = 0.0, 0
    deadline = time.monotonic() + 10  # the probe gives up after 3 s (6 s if one had started before the hang)
    while time.monotonic() < deadline:
        started = time.monotonic()
        url = storage.url(name)
        slowest = max(slowest, time.monotonic() - started)
        calls += 1
        if urlsplit(url).port == env.azure_proxy.port:
            break  # the probe noticed, in the background
        time.sleep(0.01)
    assert urlsplit(storage.url(name)).port == env.azure_proxy.port
    assert calls > 100  # url() kept answering while the probe waited
    assert slowest < 1.5, slowest  # a wait on the hung cloud would take its probe timeout (3 s) at least


def test_every_holder_down_still_returns_a_signed_url_and_logs_it(env, caplog):
    storage = env.install("both")
    env.s3_proxy.set("refuse")
    env.azure_proxy.set("refuse")
    assert storage.health["s3"].probe_now() is False
    assert storage.health["azure"].probe_now() is False
    with caplog.at_level(logging.WARNING, logger="multicloud_storage"):
        url = storage.url("a.txt")
    assert urlsplit(url).port == env.s3_proxy.port  # first in read order
    assert "marked down" in caplog.text


def test_static_keys_are_never_fetched_so_a_slow_fetch_never_fails_s3_over(env, monkeypatch):
    # Fetching credentials builds a boto3 session: a CPU-bound second on a loaded machine. Keys given in the
    # settings never expire, so nothing is fetched and nothing can time out (this once marked S3 down in CI).
    from multicloud_storage.s3 import S3Cloud

    def slow_fetch(self, needed):
        time.sleep(5)
        raise AssertionError("static keys are fetched")

    monkeypatch.setattr(S3Cloud, "_fetch_credentials", slow_fetch)
    storage = env.install("both")
    name = storage.save("static.txt", ContentFile(b"signed with the settings' keys"))
    assert storage.health["s3"].probe_now() is True
    url = storage.url(name)
    assert urlsplit(url).port == env.s3_proxy.port
    assert query(url)["X-Amz-Credential"].startswith(f"{S3_KEY}/")
    assert fetch(url) == (200, b"signed with the settings' keys")
    assert storage.health["s3"].status().up


def test_missing_s3_credentials_fall_to_azure_at_once(env):
    storage = env.install("both", probe_timeout=0.5, s3={"access_key": None, "secret_key": None})
    started = time.monotonic()
    url = storage.url("a.txt")
    # At most probe_timeout, once, for the first lookup (a boto3 session: CPU-bound, it may take all of it on a
    # loaded machine), plus a margin; never botocore's own retries or timeouts.
    assert time.monotonic() - started < 0.5 + 0.5
    assert urlsplit(url).port == env.azure_proxy.port
    assert not storage.health["s3"].status().up  # a cloud that cannot sign is down for URLs
    started = time.monotonic()
    for _ in range(100):  # the failure is remembered: no lookup, no wait
        assert urlsplit(storage.url("a.txt")).port == env.azure_proxy.port
    assert time.monotonic() - started < 0.2


def test_unsigned_urls_only_for_containers_configured_public(env):
    public = env.install("both", s3={"querystring_auth": False}, azure={"public": True})
    assert "X-Amz-Signature" not in public.url("a b.txt") and "?" not in public.url("a b.txt")
    assert public.url("a b.txt", locations={"azure"}).endswith("/a%20b.txt")


def test_azure_without_key_or_identity_cannot_sign_and_falls_over(env):
    connection = env.azure_options()["connection_string"]
    without_key = ";".join(p for p in connection.split(";") if not p.startswith("AccountKey"))
    storage = env.install(
        "both", read_order=["azure", "s3"], azure={"connection_string": without_key, "sas_token": "sv=2020&sig=x"}
    )
    assert urlsplit(storage.url("a.txt")).port == env.s3_proxy.port
    with pytest.raises(NoReplicaAvailable, match="no Azure account key or token credential"):
        storage.url("a.txt", locations={"azure"})


@pytest.mark.parametrize(
    ("blob", "protocol", "overrides"),
    [
        ("plain.txt", None, {}),
        ("dir/ä b#?%+&.bin", "https", {}),
        (
            "x.pdf",
            None,
            {
                "content_disposition": 'attachment; filename="r é.pdf"',
                "content_type": "application/pdf",
                "cache_control": "no-cache",
                "content_language": "fr",
                "content_encoding": "identity",
            },
        ),
    ],
)
def test_azure_sas_signed_in_plain_hmac_is_the_sdks_token(blob, protocol, overrides):
    from azure.storage.blob import generate_blob_sas

    from multicloud_storage.azure import AzureCloud
    from multicloud_storage.cloud import Timeouts

    from .emulators import AZURITE_KEY

    cloud = AzureCloud(
        timeouts=Timeouts(1, 1, 0, 1),
        azure_container="media",
        account_name="devstoreaccount1",
        account_key=AZURITE_KEY,
        account_url="http://127.0.0.1:9/devstoreaccount1",
    )
    expiry = datetime.datetime(2026, 12, 1, 3, 4, 5, tzinfo=datetime.timezone.utc)
    ours = cloud._service_sas(blob, expiry, protocol, overrides)
    theirs = generate_blob_sas(
        "devstoreaccount1",
        "media",
        blob,
        account_key=AZURITE_KEY,
        permission="r",
        expiry=expiry,
        protocol=protocol,
        **overrides,
    )
    assert ours == theirs
