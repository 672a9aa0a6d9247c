"""The origin's checklist: what the meeting-recording service's hand-written fallback got wrong, each a test."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile
from django.db import transaction
from django.template import Context, Template

from multicloud_storage import NoReplicaAvailable
from tests.testapp.models import Attachment, BotDebugScreenshot, Recording

from .conftest import fetch, query, wait_until

pytestmark = pytest.mark.django_db

VIDEO = b"\x1aE\xdf\xa3 a small webm-ish recording " * 100
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82"
)


def cloud_of(url: str, env) -> str:
    port = urlsplit(url).port
    return {env.s3_proxy.port: "s3", env.azure_proxy.port: "azure"}[port]


def test_both_mode_both_up_writes_both_and_serves_s3(env):
    env.install("both")
    recording = Recording.objects.create(file=ContentFile(VIDEO, name="meeting.webm"))

    assert recording.mirrors == {"s3", "azure"}
    assert Recording.objects.get().mirrors == {"s3", "azure"}  # and it is in the database
    assert env.s3_bytes(recording.file.name) == VIDEO
    assert env.azure_bytes(recording.file.name) == VIDEO
    url = recording.file.url
    assert cloud_of(url, env) == "s3"
    assert fetch(url) == (200, VIDEO)


def test_both_mode_with_s3_credentials_missing_lands_on_azure_and_serves_a_sas(env):
    env.install("both", s3={"access_key": None, "secret_key": None})
    recording = Recording.objects.create(file=ContentFile(VIDEO, name="meeting.webm"))

    assert recording.mirrors == {"azure"}
    assert Recording.objects.get().mirrors == {"azure"}
    assert env.s3_keys() == set()
    assert env.azure_bytes(recording.file.name) == VIDEO
    url = recording.file.url
    assert cloud_of(url, env) == "azure"
    params = query(url)
    assert params["sp"] == "r" and params["sr"] == "b" and "sig" in params
    assert fetch(url) == (200, VIDEO)


@pytest.mark.parametrize("fault", ["refuse", "hang"])
def test_s3_going_down_after_the_write_moves_urls_and_reads_to_azure_and_back(env, fault):
    storage = env.install("both")
    recording = Recording.objects.create(file=ContentFile(VIDEO, name="meeting.webm"))
    assert cloud_of(recording.file.url, env) == "s3"

    env.s3_proxy.set(fault)
    # Within the health interval (0.5 s here) plus a probe timeout, URLs move to Azure.
    url = wait_until(lambda: (u := Recording.objects.get().file.url) and cloud_of(u, env) == "azure" and u, 5)
    assert fetch(url) == (200, VIDEO)
    with Recording.objects.get().file.open() as f:
        assert f.read() == VIDEO
    assert not storage.health["s3"].status().up

    env.s3_proxy.heal()
    url = wait_until(lambda: (u := Recording.objects.get().file.url) and cloud_of(u, env) == "s3" and u, 5)
    assert fetch(url) == (200, VIDEO)


def test_azure_mode_writes_and_serves_azure_only_and_never_contacts_s3(env, django_capture_on_commit_callbacks):
    before = env.s3_proxy.accepted
    storage = env.install("azure")
    recording = Recording.objects.create(file=ContentFile(VIDEO, name="meeting.webm"))

    assert set(storage.clouds) == {"azure"}
    assert recording.mirrors == {"azure"}
    assert env.azure_bytes(recording.file.name) == VIDEO
    assert env.s3_keys() == set()
    url = recording.file.url
    assert cloud_of(url, env) == "azure"
    assert fetch(url) == (200, VIDEO)
    with django_capture_on_commit_callbacks(execute=True):
        recording.file.delete()
    assert env.azure_names() == set()
    assert env.s3_proxy.accepted == before  # not one connection to S3


def test_s3_mode_with_s3_failing_raises_no_replica_and_the_template_renders_empty(env):
    env.install("s3", s3={"access_key": None, "secret_key": None})
    Recording.objects.bulk_create([Recording(file="recordings/old.webm", mirrors={"s3"})])
    recording = Recording.objects.get()

    with pytest.raises(NoReplicaAvailable):
        recording.file.url  # noqa: B018
    html = Template('<video src="{{ r.file.url }}"></video>').render(Context({"r": recording}))
    assert html == '<video src=""></video>'
    assert env.azure_names() == set()


def test_s3_mode_with_s3_down_fails_saves_but_still_signs_urls(env):
    azure_connections = env.azure_proxy.accepted
    storage = env.install("s3")
    env.s3_proxy.set("refuse")
    with pytest.raises(OSError), transaction.atomic():
        Recording.objects.create(file=ContentFile(VIDEO, name="meeting.webm"))
    assert Recording.objects.count() == 0
    assert env.s3_keys() == set()
    # Presigning is local: the only holder is down, but a maybe-working link beats none.
    assert not storage.health["s3"].status().up
    assert cloud_of(storage.url("recordings/any.webm"), env) == "s3"
    assert env.azure_proxy.accepted == azure_connections  # s3 mode never contacts Azure


def test_second_model_with_differently_named_columns(env):
    env.install("both", s3={"access_key": None, "secret_key": None})
    shot = BotDebugScreenshot(image=ContentFile(PNG, name="shot.png"))
    shot.video.save("debug.webm", ContentFile(VIDEO), save=False)
    shot.save()

    shot = BotDebugScreenshot.objects.get()
    assert shot.mirror_of_image == {"azure"}
    assert shot.video_clouds == {"azure"}
    assert shot.image.width == 1 and shot.image.height == 1  # ImageField still works
    assert cloud_of(shot.image.url, env) == "azure"
    assert fetch(shot.image.url) == (200, PNG)
    assert fetch(shot.video.url) == (200, VIDEO)


def test_rows_from_before_the_column_are_served_from_every_cloud_of_the_mode(env):
    env.install("both")
    name = Recording.objects.create(file=ContentFile(VIDEO, name="old.webm")).file.name
    Recording.objects.update(mirrors=None)  # as rows are after the column was added
    recording = Recording.objects.get()
    assert recording.mirrors is None

    assert cloud_of(recording.file.url, env) == "s3"
    env.s3_proxy.set("refuse")
    with recording.file.open() as f:  # the failed read marks S3 down...
        assert f.read() == VIDEO
    url = recording.file.url  # ...so the URL moves at once
    assert cloud_of(url, env) == "azure" and name in urlsplit(url).path
    assert fetch(url) == (200, VIDEO)


def test_model_without_the_column_works_with_every_cloud_of_the_mode(env):
    env.install("both")
    attachment = Attachment.objects.create(file=ContentFile(VIDEO, name="notes.webm"))
    assert env.s3_keys() == env.azure_names() == {attachment.file.name}
    assert fetch(attachment.file.url) == (200, VIDEO)

    env.s3_proxy.set("refuse")
    attachment = Attachment.objects.get()
    assert attachment.file.read() == VIDEO
    assert cloud_of(attachment.file.url, env) == "azure"


def test_an_azure_only_row_never_gets_an_s3_url(env):
    storage = env.install("both")
    env.s3_proxy.set("refuse")
    recording = Recording.objects.create(file=ContentFile(VIDEO, name="during-outage.webm"))
    assert recording.mirrors == {"azure"}
    env.s3_proxy.heal()
    assert storage.health["s3"].probe_now()  # S3 is healthy again...
    url = Recording.objects.get().file.url
    assert cloud_of(url, env) == "azure"  # ...but it has no copy of this file
    assert fetch(url) == (200, VIDEO)
