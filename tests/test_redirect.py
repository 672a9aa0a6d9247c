"""Redirect links (url_mode="redirect", issue 8): links that choose a healthy cloud when they are clicked.

Through Django's test client and the real emulators behind the fault proxies: the Location of every 302 is checked
to be one of the storage's own clouds, and what it points at is downloaded.
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.request
from urllib.parse import unquote, urlsplit

import pytest
from django.core import signing
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.template import Context, Template

from multicloud_storage import MultiCloudStorage, NoReplicaAvailable, redirect
from tests.testapp.models import Recording

from .conftest import fetch, forget_default_storage, query

BODY = b"the bytes of a recording " * 40
AWKWARD = ["with space.txt", "hash#tag.txt", "what?.txt", "100%.txt", "a+b.txt", "x&y=z.txt", "ünïcødé/日本語 ✓.txt"]
S3 = {"bucket_name": "media"}
AZURE = {"azure_container": "media", "account_name": "acme", "account_key": "c2VjcmV0LWtleQ=="}


def click(client, link: str, method: str = "get"):
    """Request a link as a browser would: its path (a full URL's host is the app's)."""
    parts = urlsplit(link)
    assert not parts.query and not parts.fragment, link
    return getattr(client, method)(parts.path)


def cloud_of(response, env, target_expire: int = 300) -> str:
    """The cloud a 302 points at; fails unless it is a URL of this test's bucket or container."""
    assert response.status_code == 302, (response.status_code, response.content)
    location = response["Location"]
    parts = urlsplit(location)
    assert parts.scheme == "http" and parts.hostname == "127.0.0.1", location
    cache = response["Cache-Control"]
    assert cache.startswith("private, max-age=") and int(cache.rsplit("=", 1)[1]) < target_expire
    assert response["Referrer-Policy"] == "no-referrer"
    if parts.port == env.s3_proxy.port:
        assert parts.path.startswith(f"/{env.bucket}/") and query(location)["X-Amz-Expires"] == str(target_expire)
        return "s3"
    assert parts.port == env.azure_proxy.port and parts.path.startswith(f"/devstoreaccount1/{env.container}/")
    assert query(location)["sp"] == "r" and query(location)["sr"] == "b"
    return "azure"


def refused(response) -> bool:
    return response.status_code == 404 and response.content == b""


def token_of(link: str) -> str:
    return urlsplit(link).path.split("/")[2]


def resign(token: str, change, **signer) -> str:
    """The token's fields changed by ``change`` and signed again (by default with the real key and salt)."""
    payload = signing.Signer(salt=redirect.SALT).unsign(token)
    fields = change(json.loads(signing.b64_decode(payload.encode())))
    data = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
    return signing.Signer(**{"salt": redirect.SALT, **signer}).sign(signing.b64_encode(data).decode())


# The click -------------------------------------------------------------------------------------


def test_link_redirects_to_s3_and_the_bytes_download(env, client):
    storage = env.install("both", url_mode="redirect", url_expire=86400)
    name = storage.save("reports/q1 report.txt", ContentFile(BODY))
    link = storage.url(name)
    assert link.startswith("/files/") and link.endswith("/reports/q1%20report.txt")
    assert redirect.read_token(token_of(link)).expires == pytest.approx(time.time() + 86400, abs=5)
    response = click(client, link)
    assert cloud_of(response, env) == "s3"
    assert fetch(response["Location"]) == (200, BODY)


def test_s3_down_after_the_link_was_made_the_same_link_goes_to_azure(env, client):
    storage = env.install("both", url_mode="redirect")
    name = storage.save("a.txt", ContentFile(BODY))
    link = storage.url(name)
    assert cloud_of(click(client, link), env) == "s3"

    env.s3_proxy.set("refuse")
    assert storage.health["s3"].probe_now() is False
    response = click(client, link)
    assert cloud_of(response, env) == "azure"
    assert fetch(response["Location"]) == (200, BODY)

    env.s3_proxy.heal()
    assert storage.health["s3"].probe_now() is True
    assert cloud_of(click(client, link), env) == "s3"


def test_hung_s3_with_verify_answers_within_probe_timeout_with_azure(env, client):
    storage = env.install(
        "both", url_mode="redirect", redirect_verify=True, probe_timeout=1.0, health_check_interval=3600
    )  # no background probe: the HEAD finds the hang
    name = storage.save("a.txt", ContentFile(BODY))
    link = storage.url(name)
    assert cloud_of(click(client, link), env) == "s3"  # verified

    env.s3_proxy.set("hang")
    started = time.monotonic()
    response = click(client, link)
    elapsed = time.monotonic() - started
    assert cloud_of(response, env) == "azure"
    assert 0.9 < elapsed < 1.0 + 2.0, elapsed  # probe_timeout, plus a loose margin for a loaded machine
    assert not storage.health["s3"].status().up
    assert fetch(response["Location"]) == (200, BODY)
    started = time.monotonic()
    assert cloud_of(click(client, link), env) == "azure"  # S3 is known down: no wait any more
    assert time.monotonic() - started < 0.9


def test_verify_times_the_head_not_the_building_of_a_client(env, client, monkeypatch):
    # A boto3 resource is built on first use: a CPU-bound second on a loaded machine (this once marked S3 down
    # in CI). The verification's clock starts once the client exists.
    import boto3

    storage = env.install("both", url_mode="redirect", redirect_verify=True, probe_timeout=1.0)
    name = storage.save("a.txt", ContentFile(BODY))
    build = boto3.Session.resource

    def slow_build(self, *args, **kwargs):
        time.sleep(1.5)
        return build(self, *args, **kwargs)

    monkeypatch.setattr(boto3.Session, "resource", slow_build)
    storage.clouds["s3"]._shared = None  # as in a process that has not read from S3 yet
    response = click(client, storage.url(name))
    assert cloud_of(response, env) == "s3"
    assert fetch(response["Location"]) == (200, BODY)
    assert storage.health["s3"].status().up


def test_verify_moves_on_from_a_missing_copy_without_marking_the_cloud_down(env, client):
    storage = env.install("both", url_mode="redirect", redirect_verify=True)
    name = storage.save("a.txt", ContentFile(BODY))
    env.emulators.s3.delete_object(Bucket=env.bucket, Key=name)
    response = click(client, storage.url(name))
    assert cloud_of(response, env) == "azure"
    assert fetch(response["Location"]) == (200, BODY)
    assert storage.health["s3"].status().up

    env.emulators.azure.get_blob_client(env.container, name).delete_blob()
    assert refused(click(client, storage.url(name)))  # the file is in none of its clouds


def test_an_azure_only_row_never_redirects_to_s3(env, client):
    storage = env.install("both", url_mode="redirect")
    env.s3_proxy.set("refuse")
    recording = Recording.objects.create(file=ContentFile(BODY, name="outage.webm"))
    assert recording.mirrors == {"azure"}
    env.s3_proxy.heal()
    assert storage.health["s3"].probe_now() is True

    html = Template("{{ r.file.url }}").render(Context({"r": Recording.objects.get()}))
    assert html.startswith("/files/") and html.endswith("/recordings/outage.webm")
    assert redirect.read_token(token_of(html)).locations == {"azure"}
    response = click(client, html)
    assert cloud_of(response, env) == "azure"
    assert fetch(response["Location"]) == (200, BODY)

    storage.health["azure"].mark_down("test")  # even with its only holder marked down: never S3
    assert cloud_of(click(client, html), env) == "azure"


def test_the_admin_change_page_links_through_the_view(env, admin_client):
    env.install("both", url_mode="redirect")
    recording = Recording.objects.create(file=ContentFile(BODY, name="admin clip.webm"))
    page = admin_client.get(f"/admin/testapp/recording/{recording.pk}/change/").content.decode()
    link = re.search(r'href="(/files/[^"]+)"', page).group(1)
    assert link.endswith(f"/{recording.file.name}")
    response = click(admin_client, link)
    assert cloud_of(response, env) == "s3"
    assert fetch(response["Location"]) == (200, BODY)


def test_head_works_and_other_methods_are_405(env, client):
    storage = env.install("both", url_mode="redirect", read_order=["azure", "s3"])
    name = storage.save("a.txt", ContentFile(BODY))
    link = storage.url(name)
    response = click(client, link, "head")
    assert cloud_of(response, env) == "azure"
    request = urllib.request.Request(response["Location"], method="HEAD")
    with urllib.request.urlopen(request, timeout=10) as answer:  # Azurite checks the SAS
        assert answer.status == 200 and int(answer.headers["Content-Length"]) == len(BODY)
    for method in ("post", "put", "delete", "patch", "options"):
        response = click(client, link, method)
        assert response.status_code == 405 and response["Allow"] == "GET, HEAD" and response.content == b""


@pytest.mark.parametrize("name", AWKWARD)
def test_awkward_names_round_trip(env, client, name):
    storage = env.install("both", url_mode="redirect")
    assert storage.save(name, ContentFile(BODY)) == name
    for cloud in ("s3", "azure"):
        link = storage.url(name, locations={cloud})
        assert unquote(urlsplit(link).path).split("/", 3)[3] == name  # the download name
        response = click(client, link)
        assert cloud_of(response, env) == cloud
        assert fetch(response["Location"]) == (200, BODY)


def test_parameters_and_expire_are_carried_by_the_link(env, client):
    storage = env.install("both", url_mode="redirect", redirect_target_expire=120)
    name = storage.save("a.txt", ContentFile(BODY))
    disposition = 'attachment; filename="report.txt"'
    link = storage.url(name, expire=60, parameters={"ResponseContentDisposition": disposition})
    assert redirect.read_token(token_of(link)).expires == pytest.approx(time.time() + 60, abs=5)
    response = click(client, link)
    assert cloud_of(response, env, target_expire=120) == "s3"
    assert query(response["Location"])["response-content-disposition"] == disposition

    env.s3_proxy.set("refuse")
    assert storage.health["s3"].probe_now() is False
    response = click(client, link)
    assert cloud_of(response, env, target_expire=120) == "azure"
    with urllib.request.urlopen(response["Location"], timeout=10) as answer:
        assert answer.headers["Content-Disposition"] == disposition and answer.read() == BODY

    with pytest.raises(ValueError, match="not supported"):
        storage.url(name, parameters={"X-Evil": "1"})
    with pytest.raises(ValueError):
        storage.url(name, expire=0)
    with pytest.raises(ValueError):
        storage.url(name, http_method="PUT")
    with pytest.raises(NoReplicaAvailable):
        storage.url(name, locations=set())


def test_no_cloud_can_sign_gives_503_with_retry_after(env, client):
    connection = env.azure_options()["connection_string"]
    without_key = ";".join(p for p in connection.split(";") if not p.startswith("AccountKey"))
    storage = env.install(
        "both",
        url_mode="redirect",
        s3={"access_key": None, "secret_key": None},
        azure={"connection_string": without_key, "sas_token": "sv=2020&sig=x"},
    )
    response = click(client, storage.url("a.txt"))
    assert response.status_code == 503 and int(response["Retry-After"]) >= 1 and response.content == b""


def test_url_never_touches_the_network(env):
    storage = env.install("both", url_mode="redirect")
    before = (env.s3_proxy.accepted, env.azure_proxy.accepted)
    started = time.perf_counter()
    for i in range(500):
        storage.url(f"file {i}.txt", locations=[None, {"s3"}, {"azure"}][i % 3])
    per_call = (time.perf_counter() - started) / 500
    time.sleep(0.2)
    assert (env.s3_proxy.accepted, env.azure_proxy.accepted) == before
    assert per_call < 0.005  # local work only (loose: the benchmark measures it)


def test_full_url_base(env, client):
    storage = env.install("both", url_mode="redirect", redirect_base_url="https://app.example.com/files/")
    name = storage.save("a b.txt", ContentFile(BODY))
    link = storage.url(name)
    assert link.startswith("https://app.example.com/files/") and link.endswith("/a%20b.txt")
    assert fetch(click(client, link)["Location"]) == (200, BODY)


# Links that must not work: 404 with an empty body, logged at INFO without the token ----------------


def test_bad_tokens_are_404_with_an_empty_body_and_logged_without_the_token(env, client, caplog):
    storage = env.install("both", url_mode="redirect")
    name = storage.save("a.txt", ContentFile(BODY))
    link = storage.url(name)
    token = token_of(link)
    payload, signature = token.rsplit(":", 1)
    assert token == signing.Signer(salt=redirect.SALT).sign(payload)  # exactly Django's Signer token
    later = resign(token, lambda f: [f[0] + 3600, *f[1:]])
    bad = {
        "tampered expiry": f"{later.rsplit(':', 1)[0]}:{signature}",
        "tampered signature": f"{payload}:{signature[:-2]}{'AB' if signature[-2:] != 'AB' else 'CD'}",
        "truncated": token[:-3],
        "payload only": payload,
        "garbage": "not-a-token",
        "expired": resign(token, lambda f: [int(time.time()) - 1, *f[1:]]),
        "other salt": resign(token, lambda f: f, salt="another.app"),
        "other key": resign(token, lambda f: f, key="another-secret-key"),
        "malformed": resign(token, lambda f: {"name": f[2]}),
        "unknown storage": resign(token, lambda f: [*f, "nope"]),
        "not a MultiCloudStorage": resign(token, lambda f: [*f, "staticfiles"]),
    }
    assert cloud_of(click(client, link), env) == "s3"
    assert cloud_of(click(client, f"/files/{later}/a.txt"), env) == "s3"  # a token Django's Signer made
    with caplog.at_level(logging.INFO):
        for reason, value in bad.items():
            assert refused(click(client, f"/files/{value}/a.txt")), reason
    for value in [token, *bad.values()]:
        assert value not in caplog.text and value.rsplit(":", 1)[-1] not in caplog.text
    assert "Redirect link refused" in caplog.text
    assert all(record.levelno == logging.INFO for record in caplog.records if "refused" in record.getMessage())


def test_tokens_of_other_storages_and_mounts(env, client, settings):
    env.install("both", url_mode="redirect")
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {
            "BACKEND": "multicloud_storage.MultiCloudStorage",
            "OPTIONS": env.options("azure", url_mode="redirect"),
        },  # the same mount, another storage
        "elsewhere": {
            "BACKEND": "multicloud_storage.MultiCloudStorage",
            "OPTIONS": env.options("both", url_mode="redirect", redirect_base_url="/other/"),
        },
    }
    forget_default_storage()
    default, private, elsewhere = storages["default"], storages["private"], storages["elsewhere"]
    name = default.save("a.txt", ContentFile(BODY))
    assert cloud_of(click(client, default.url(name)), env) == "s3"
    assert cloud_of(click(client, private.url(name)), env) == "azure"  # its token names its storage
    assert redirect.read_token(token_of(private.url(name))).alias == "private"
    link = elsewhere.url(name)
    assert link.startswith("/other/")
    assert refused(click(client, link.replace("/other/", "/files/", 1)))  # not where its links are served


def test_key_rotation_keeps_old_links_working(env, client, settings):
    settings.SECRET_KEY = "the-old-secret-key"
    storage = env.install("both", url_mode="redirect")
    name = storage.save("a.txt", ContentFile(BODY))
    link = storage.url(name)
    settings.SECRET_KEY = "the-new-secret-key"
    assert refused(click(client, link))
    settings.SECRET_KEY_FALLBACKS = ["the-old-secret-key"]
    assert cloud_of(click(client, link), env) == "s3"
    assert cloud_of(click(client, storage.url(name)), env) == "s3"  # new links use the new key


# Configuration ---------------------------------------------------------------------------------


def _check_ids(settings, **options) -> dict:
    options = {"s3": S3, "azure": AZURE, "url_mode": "redirect", **options}
    if getattr(settings, "LEGACY", False):  # Django 4.2 configured with DEFAULT_FILE_STORAGE
        settings.MULTICLOUD_STORAGE = options
    else:
        settings.STORAGES = {
            "default": {"BACKEND": "multicloud_storage.MultiCloudStorage", "OPTIONS": options},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    forget_default_storage()
    return {message.id: message for message in run_checks() if message.id.startswith("multicloud_storage")}


def build(settings, **options) -> MultiCloudStorage:
    """A storage built directly, from these options only (not from the MULTICLOUD_STORAGE setting)."""
    settings.MULTICLOUD_STORAGE = {}
    return MultiCloudStorage(**{"s3": S3, "azure": AZURE, **options})


def test_check_warns_when_the_view_is_not_mounted_at_redirect_base_url(settings):
    assert _check_ids(settings) == {}
    assert _check_ids(settings, redirect_base_url="https://app.example.com/files/") == {}
    found = _check_ids(settings, redirect_base_url="/downloads/")
    assert set(found) == {"multicloud_storage.W003"}
    assert 'path("downloads/", include("multicloud_storage.urls"))' in found["multicloud_storage.W003"].hint
    assert set(_check_ids(settings, redirect_base_url="/")) == {"multicloud_storage.W003"}  # mounted at /files/
    assert set(_check_ids(settings, redirect_base_url="/files/t/")) == {"multicloud_storage.W003"}


@pytest.mark.parametrize(
    "base",
    [
        "files/",
        "/files",
        "ftp://host/files/",
        "//host/files/",
        "https:///files/",
        "/files/?a=1/",
        "/files/#x/",
        42,
        None,
    ],
)
def test_invalid_redirect_base_url_is_an_error(settings, base):
    assert set(_check_ids(settings, redirect_base_url=base)) == {"multicloud_storage.E019"}
    with pytest.raises(ImproperlyConfigured, match="E019"):
        build(settings, url_mode="redirect", redirect_base_url=base)
    build(settings, redirect_base_url=base)  # unused in direct mode


def test_other_redirect_option_errors(settings):
    assert set(_check_ids(settings, url_mode="proxy")) == {"multicloud_storage.E018"}
    assert set(_check_ids(settings, redirect_target_expire=3601)) == {"multicloud_storage.E021"}
    assert _check_ids(settings, redirect_target_expire=3600) == {}  # equal to url_expire is fine
    assert set(_check_ids(settings, redirect_target_expire=0)) == {"multicloud_storage.E008"}
    with pytest.raises(ImproperlyConfigured, match="E021"):
        build(settings, url_mode="redirect", url_expire=60)  # default target: 300 s


def test_a_redirect_storage_outside_storages_cannot_make_links(settings, monkeypatch):
    direct = build(settings, url_mode="redirect")
    assert direct.alias is None
    with pytest.raises(ImproperlyConfigured, match="STORAGES"):
        direct.url("a.txt")
    monkeypatch.setattr(Recording._meta.get_field("file"), "storage", direct)
    found = _check_ids(settings)
    assert set(found) == {"multicloud_storage.E022"}
    assert "testapp.Recording.file" in found["multicloud_storage.E022"].msg
