"""Nothing lost, nothing stalled: 403s that are not outages, credentials that fail to refresh, exact bounds,
pending deletes that never remove newer data, write_policy='all' without partial copies, models without the
column, multi-table inheritance, and the right errors."""

from __future__ import annotations

import datetime
import http.server
import json
import threading
import time
from urllib.parse import urlsplit

import botocore.session
import pytest
from django.core.checks import run_checks
from django.core.files.base import ContentFile
from django.db import models, transaction
from django.test.utils import isolate_apps

from multicloud_storage import MultiCloudStorage, NoReplicaAvailable, ReplicaWriteError
from multicloud_storage.models import MissingReplica, PendingDelete
from tests.testapp.models import Attachment

from .conftest import FakeEntraCredential, fetch
from .faultproxy import azure_error, s3_error


def cloud_of(url: str, env) -> str:
    return {env.s3_proxy.port: "s3", env.azure_proxy.port: "azure"}[urlsplit(url).port]


# 2. A 403 is not an outage ------------------------------------------------------------------------


def test_a_role_without_list_bucket_keeps_s3_up_and_counts_403_names_as_taken(env):
    """Without s3:ListBucket, S3 answers 403 (no body) to HEAD of a missing key and AccessDenied to GET."""
    storage = env.install("both")
    env.s3_proxy.answer(403, method="HEAD")
    env.s3_proxy.answer(*s3_error(403, "AccessDenied"), method="GET", path=r"\.multicloud-probe")
    assert storage.health["s3"].probe_now() is True  # the probe is allowed under the minimal policy
    saved = storage.save_mirrored("report.pdf", ContentFile(b"pdf"))  # no HEAD needed: create-if-absent
    assert saved.locations == {"s3", "azure"}
    assert storage.exists("never-saved.txt") is True  # a 403 on the name check means taken: never overwritten
    assert storage.health["s3"].status().up
    assert cloud_of(storage.url(saved.name), env) == "s3"


def test_an_account_wide_403_marks_the_cloud_down_and_it_comes_back(env):
    storage = env.install("both")
    rule = env.s3_proxy.answer(*s3_error(403, "SignatureDoesNotMatch"))
    assert storage.health["s3"].probe_now() is False
    assert cloud_of(storage.url("a.txt"), env) == "azure"
    assert rule.hits >= 1
    env.s3_proxy.heal()
    assert storage.health["s3"].probe_now() is True
    assert cloud_of(storage.url("a.txt"), env) == "s3"


def test_a_403_on_one_object_reads_from_the_other_cloud_and_keeps_the_cloud_up(env):
    storage = env.install("both")
    name = storage.save("secret/kms.bin", ContentFile(b"kms"))
    env.s3_proxy.answer(*s3_error(403, "AccessDenied"), path=r"/secret/kms\.bin")
    assert storage.open(name).read() == b"kms"
    assert storage.size(name) == 3
    assert storage.health["s3"].status().up
    assert storage.open(storage.save("other.bin", ContentFile(b"o"))).read() == b"o"


# 3. Credentials that fail to refresh ------------------------------------------------------------


class ContainerCredentials(http.server.ThreadingHTTPServer):
    """The ECS/EKS container credentials endpoint botocore refreshes temporary credentials from."""

    def __init__(self) -> None:
        self.mode, self.served, self.lifetime = "ok", 0, 3600.0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(handler) -> None:  # noqa: N805
                if self.mode == "hang":
                    time.sleep(30)
                if self.mode != "ok":
                    handler.send_response(500)
                    handler.end_headers()
                    return
                self.served += 1
                expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=self.lifetime)
                body = json.dumps(
                    {
                        "AccessKeyId": "testing",
                        "SecretAccessKey": "testing",
                        "Token": f"session-{self.served}",
                        "Expiration": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    }
                )
                handler.send_response(200)
                handler.send_header("Content-Type", "application/json")
                handler.end_headers()
                handler.wfile.write(body.encode())

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.mark.parametrize("failure", ["error", "hang"])
def test_a_credential_refresh_failure_falls_to_azure_within_probe_timeout(env, monkeypatch, failure):
    endpoint = ContainerCredentials()
    endpoint.lifetime = 4.0  # expires soon: botocore must refresh before each use
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"http://127.0.0.1:{endpoint.server_port}/creds")
    storage = env.install("both", s3={"access_key": None, "secret_key": None})
    env.wait_for(lambda: storage.health["s3"].probe_now())  # the first fetch done (slow on a loaded machine)
    url = storage.url("a.txt")
    assert cloud_of(url, env) == "s3" and "X-Amz-Security-Token=session-" in url

    endpoint.mode = failure
    time.sleep(4.5)  # the credentials expire; every refresh now fails (or hangs)
    started = time.monotonic()
    url = storage.url("a.txt")
    assert time.monotonic() - started < 1.0 + 0.5  # probe_timeout, not botocore's retries
    assert cloud_of(url, env) == "azure"
    assert not storage.health["s3"].status().up
    started = time.monotonic()
    for _ in range(200):
        assert cloud_of(storage.url("a.txt"), env) == "azure"
    assert time.monotonic() - started < 0.5  # remembered: no url() waits for a refresh again

    endpoint.lifetime = 3600.0
    endpoint.mode = "ok"
    env.wait_for(lambda: storage.health["s3"].probe_now(), timeout=10)
    assert cloud_of(storage.url("a.txt"), env) == "s3"
    endpoint.shutdown()


class FailingEntraCredential(FakeEntraCredential):
    def get_token(self, *scopes, **kwargs):
        self.calls += 1
        from azure.core.exceptions import ClientAuthenticationError

        raise ClientAuthenticationError("the managed identity endpoint is unavailable")


def test_a_failing_user_delegation_key_fetch_is_remembered(oauth_azurite, db):
    credential = FailingEntraCredential()
    storage = MultiCloudStorage(
        mode="azure",
        health_check_interval=30,
        azure={
            "account_url": oauth_azurite.account_url,
            "azure_container": "nope",
            "token_credential": credential,
            "client_options": {"connection_verify": str(oauth_azurite.cert)},
        },
    )
    started = time.monotonic()
    for _ in range(50):
        with pytest.raises(NoReplicaAvailable, match="user delegation key"):
            storage.url("a.txt")
    assert time.monotonic() - started < 1.0 + 0.5  # one wait of at most probe_timeout, then remembered
    assert credential.calls <= 2  # one fetch (the SDK may ask twice), not one per url()


def test_url_expire_is_capped_at_seven_days(env):
    found = {m.id for m in run_checks() if m.id.startswith("multicloud_storage")}
    assert "multicloud_storage.E013" not in found
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="7 days"):
        env.install("both", url_expire=8 * 24 * 3600)
    storage = env.install("both")
    with pytest.raises(ValueError, match="7 days"):
        storage.url("a.txt", expire=8 * 24 * 3600)


# 4. Bounds are exact ----------------------------------------------------------------------------


@pytest.mark.parametrize("cloud", ["s3", "azure"])
@pytest.mark.parametrize("retries", [0, 1, 2])
def test_retries_counts_retries(env, cloud, retries):
    storage = env.install(cloud, retries=retries)
    rule = env.proxy(cloud).answer(
        *(s3_error(500, "InternalError") if cloud == "s3" else azure_error(500, "InternalError")), method="PUT"
    )
    with pytest.raises(ReplicaWriteError):
        storage.save("a.txt", ContentFile(b"x"))
    assert rule.hits == retries + 1


def test_an_upload_that_never_returns_does_not_hold_the_save(env, monkeypatch):
    storage = env.install("both", connect_timeout=0.5, read_timeout=1.0, retries=1)
    release = threading.Event()
    azure = storage.clouds["azure"]
    monkeypatch.setattr(azure, "put", lambda *a, **k: release.wait(60))  # stops reading, never returns
    started = time.monotonic()
    saved = storage.save_mirrored("a.txt", ContentFile(b"x"))
    elapsed = time.monotonic() - started
    release.set()
    assert saved.locations == {"s3"}
    assert elapsed < 2 * (0.5 + 1.0) + 1.0 + 1.0  # attempts x (connect + read) + backoff, plus slack
    assert MissingReplica.objects.filter(cloud="azure", name=saved.name).exists()


# 5. Pending deletes never remove newer data -----------------------------------------------------


def test_a_delete_in_a_rolled_back_transaction_deletes_nothing(env):
    storage = env.install("both")
    name = storage.save("keep.txt", ContentFile(b"keep"))
    with pytest.raises(RuntimeError), transaction.atomic():
        storage.delete(name)
        raise RuntimeError("the view failed")
    assert env.s3_bytes(name) == env.azure_bytes(name) == b"keep"


def test_a_delete_then_a_save_of_the_same_name_in_one_transaction_keeps_the_new_file(
    env, django_capture_on_commit_callbacks
):
    storage = env.install("both", file_overwrite=True)
    storage.save("avatar.png", ContentFile(b"old"))
    with django_capture_on_commit_callbacks(execute=True):
        storage.delete("avatar.png")
        storage.save("avatar.png", ContentFile(b"new"))
    assert env.s3_bytes("avatar.png") == env.azure_bytes("avatar.png") == b"new"


def test_a_save_clears_the_pending_deletes_of_the_clouds_it_wrote(env, django_capture_on_commit_callbacks):
    storage = env.install("both", file_overwrite=True)
    storage.save("doc.txt", ContentFile(b"old"))
    env.azure_proxy.set("refuse")
    with django_capture_on_commit_callbacks(execute=True):
        storage.delete("doc.txt")
    assert PendingDelete.objects.filter(cloud="azure", name="doc.txt").exists()
    env.azure_proxy.heal()
    assert storage.health["azure"].probe_now()
    storage.save("doc.txt", ContentFile(b"new"))
    assert not PendingDelete.objects.filter(name="doc.txt").exists()
    assert env.azure_bytes("doc.txt") == b"new"


# 6. write_policy="all" leaves no partial copy ---------------------------------------------------


def test_all_policy_removes_a_copy_that_landed_after_its_cloud_timed_out(env, monkeypatch):
    storage = env.install("both", write_policy="all", connect_timeout=0.5, read_timeout=1.0, retries=1)
    azure = storage.clouds["azure"]
    original = azure.put
    finished = threading.Event()

    def stored_but_no_answer(*args, **kwargs):
        original(*args, **kwargs)  # the blob is stored...
        time.sleep(5)  # ...but the answer never comes in time
        finished.set()

    monkeypatch.setattr(azure, "put", stored_but_no_answer)
    with pytest.raises(ReplicaWriteError):
        storage.save("a.txt", ContentFile(b"payload"))
    assert env.s3_keys() == set()
    assert finished.wait(10)
    env.wait_for(lambda: env.azure_names() == set())  # removed, also after the late answer


def test_all_policy_records_a_copy_it_could_not_remove_and_says_so(env, monkeypatch):
    storage = env.install("both", write_policy="all")
    env.s3_proxy.answer(*s3_error(500, "InternalError"), method="PUT")

    def cannot_delete(name):
        raise ConnectionError("azure went away")

    monkeypatch.setattr(storage.clouds["azure"], "remove", cannot_delete)
    with pytest.raises(ReplicaWriteError, match="recorded for the repair") as raised:
        storage.save("a.txt", ContentFile(b"payload"))
    assert raised.value.left_behind == {"azure"}
    assert PendingDelete.objects.filter(cloud="azure", name="a.txt").exists()


# 7. Models without the column -------------------------------------------------------------------


def test_a_model_without_the_column_records_the_copy_it_missed(env, django_assert_num_queries):
    storage = env.install("both")
    env.s3_proxy.set("refuse")
    attachment = Attachment.objects.create(file=ContentFile(b"notes", name="notes.txt"))
    missing = MissingReplica.objects.get()
    assert (missing.cloud, missing.name) == ("s3", attachment.file.name)
    env.s3_proxy.heal()
    assert storage.health["s3"].probe_now()
    with django_assert_num_queries(0):
        attachment.file.url  # noqa: B018 - url() never queries the table


# 8. Multi-table inheritance ---------------------------------------------------------------------


@isolate_apps("tests.testapp")
def test_a_column_on_a_multi_table_child_is_a_check_error_and_the_parent_still_works(env):
    from multicloud_storage.fields import MirrorLocationField

    class Parent(models.Model):
        file = models.FileField()

        class Meta:
            app_label = "testapp"

    class Child(Parent):
        mirrors = MirrorLocationField(file_field="file")

        class Meta:
            app_label = "testapp"

    errors = Child._meta.get_field("mirrors").check()
    assert [e.id for e in errors] == ["multicloud_storage.E017"]
    env.install("both")
    parent = Parent(file="a.txt")
    assert "a.txt" in parent.file.url  # the parent's FieldFile was left alone


# 12. The right errors ---------------------------------------------------------------------------


def test_open_with_a_failing_download_and_no_other_copy_is_no_replica_available(env):
    storage = env.install("both")
    name = storage.save("only-s3.txt", ContentFile(b"x"))
    env.emulators.azure.get_blob_client(env.container, name).delete_blob()
    env.s3_proxy.answer(*s3_error(500, "InternalError"), method="GET")
    with pytest.raises(NoReplicaAvailable):
        storage.open(name)


def test_a_public_bucket_builds_no_client_per_thread(env, monkeypatch):
    storage = env.install("s3", s3={"querystring_auth": False})
    url = storage.url("a b.txt")
    assert "?" not in url and url.endswith("/a%20b.txt")
    built = []  # the threads that built a boto3 client
    create_client = botocore.session.Session.create_client
    monkeypatch.setattr(
        botocore.session.Session,
        "create_client",
        lambda self, *args, **kwargs: (
            built.append(threading.current_thread().name) or create_client(self, *args, **kwargs)
        ),
    )
    urls = []
    for i in range(5):
        thread = threading.Thread(target=lambda: urls.append(storage.url("x.txt")), name=f"url-{i}")
        thread.start()
        thread.join()
    assert not [name for name in built if name.startswith("url-")]  # S3Storage builds a client in each new thread
    assert len(urls) == 5 and all(u.endswith("/x.txt") and "?" not in u for u in urls)


def test_custom_domain_without_cloudfront_keys_is_a_check_warning(settings):
    settings.STORAGES = {
        "default": {
            "BACKEND": "multicloud_storage.MultiCloudStorage",
            "OPTIONS": {"mode": "s3", "s3": {"bucket_name": "media", "custom_domain": "cdn.example.com"}},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.MULTICLOUD_STORAGE = {}
    found = {m.id: m for m in run_checks() if m.id.startswith("multicloud_storage")}
    assert "multicloud_storage.W002" in found and "unsigned" in found["multicloud_storage.W002"].msg


def test_azure_ad_url_works_end_to_end(oauth_azurite, db):
    credential = FakeEntraCredential()
    oauth_azurite.admin.create_container("ad-e2e")
    storage = MultiCloudStorage(
        mode="azure",
        azure={
            "account_url": oauth_azurite.account_url,
            "azure_container": "ad-e2e",
            "token_credential": credential,
            "client_options": {"connection_verify": str(oauth_azurite.cert)},
        },
    )
    name = storage.save("x.txt", ContentFile(b"ad"))
    assert fetch(storage.url(name), context=oauth_azurite.ssl_context) == (200, b"ad")
