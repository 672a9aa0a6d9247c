"""A drop-in for django-storages users (issue 12), part 3: the migration path, on the emulators.

A project on plain django-storages (``S3Storage``, or ``AzureStorage``) has rows and files. It switches BACKEND
to MultiCloudStorage (mode both) on the same bucket or container, adds the column (its existing rows are NULL:
unknown), and runs ``manage.py multicloud_sync`` to backfill the other cloud. The steps are those of
``docs_dropin.md``; each assertion is a sentence of it.
"""

from __future__ import annotations

import urllib.parse

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command

from multicloud_storage import MultiCloudStorage, NoReplicaAvailable
from multicloud_storage.registry import unwrap

from .apps3rd.models import Document, Photo
from .apps3rd.testing import (
    FAST,
    forget_storage_backends,
    plain_s3_settings,
    png,
    port,
    reset_sorl,
    sync_json,
    use_backend,
)
from .conftest import fetch

pytestmark = pytest.mark.usefixtures("transactional_db")


@pytest.fixture(autouse=True)
def storage_backends_read_again():
    """These tests switch BACKEND; Django 4.2 (legacy settings) caches it: the next test reads the settings anew."""
    yield
    forget_storage_backends()


FILES = {
    "q1.pdf": b"%PDF-1.4 first quarter\n" * 50,
    "q2.pdf": b"%PDF-1.4 second quarter\n" * 50,
    "scans/page 1.png": b"\x89PNG\r\n\x1a\n page one" * 20,
}


def path(url: str) -> str:
    return urllib.parse.urlsplit(url).path


def test_from_s3storage(env, settings):
    # Before: plain django-storages, configured by its AWS_* settings (the same bucket and endpoint).
    plain_s3_settings(env, settings)
    use_backend(settings, "storages.backends.s3.S3Storage")
    for name, body in FILES.items():
        Document.objects.create(title=name, file=ContentFile(body, name=name))
    before = {doc.pk: (doc.file.name, doc.file.url) for doc in Document.objects.all()}
    assert env.s3_keys() == {name for name, _ in before.values()} and env.azure_names() == set()
    Document.objects.update(mirrors=None)  # what `migrate` leaves in the new column of existing rows
    assert set(Document.objects.values_list("mirrors", flat=True)) == {None}

    # After: BACKEND MultiCloudStorage; the AWS_* settings still configure the S3 side ("s3" is not even given).
    use_backend(
        settings, "multicloud_storage.MultiCloudStorage", {"mode": "both", "azure": env.azure_options(), **FAST}
    )
    storage = unwrap(default_storage)
    assert isinstance(storage, MultiCloudStorage) and storage.clouds["s3"].bucket_name == env.bucket

    # Served unchanged right after the switch: the same object URL path, the same bytes.
    for doc in Document.objects.all():
        name, old_url = before[doc.pk]
        assert doc.mirrors is None
        assert port(doc.file.url) == env.s3_proxy.port and path(doc.file.url) == path(old_url)
        assert fetch(doc.file.url) == (200, FILES[doc.title])
        with doc.file.open("rb") as fh:
            assert fh.read() == FILES[doc.title]
    new = Document.objects.create(title="new", file=ContentFile(b"written after the switch", name="q3.pdf"))
    assert new.mirrors == {"s3", "azure"}  # new uploads are mirrored at once

    # Before the backfill ends, NULL means "in every cloud": with S3 down, a NULL row's URL is Azure's, which
    # has no copy yet (404), and a read finds no copy that answers. This is the gap the backfill closes.
    env.s3_proxy.set("refuse")
    assert storage.health["s3"].probe_now() is False
    unbacked = Document.objects.get(title="q1.pdf")
    assert port(unbacked.file.url) == env.azure_proxy.port and fetch(unbacked.file.url)[0] == 404
    with pytest.raises(NoReplicaAvailable):
        unbacked.file.open("rb")
    env.s3_proxy.heal()
    assert storage.health["s3"].probe_now() is True

    # The backfill: every file copied to Azure, every NULL column set to the clouds that hold the file.
    summary = sync_json()
    assert summary["clean"] and summary["copies_made"] == len(FILES) and summary["columns_backfilled"] == len(FILES)
    assert summary["bytes_copied"] == sum(len(body) for body in FILES.values())
    for doc in Document.objects.exclude(pk=new.pk):
        assert doc.mirrors == {"s3", "azure"}
        assert env.azure_bytes(doc.file.name) == env.s3_bytes(doc.file.name) == FILES[doc.title]
        properties = env.emulators.azure.get_blob_client(env.container, doc.file.name).get_blob_properties()
        assert properties.content_settings.content_type == (
            "application/pdf" if doc.title.endswith(".pdf") else "image/png"
        )

    # And now S3 can go down: URLs and reads fail over to Azure.
    env.s3_proxy.set("refuse")
    assert storage.health["s3"].probe_now() is False
    for doc in Document.objects.all():
        assert port(doc.file.url) == env.azure_proxy.port
        body = FILES.get(doc.title, b"written after the switch")
        assert fetch(doc.file.url) == (200, body)
        with doc.file.open("rb") as fh:
            assert fh.read() == body


def test_from_azurestorage(env, settings):
    # Before: plain django-storages AzureStorage (its AZURE_* settings), signed URLs for a private container.
    settings.AZURE_CONTAINER = env.container
    settings.AZURE_CONNECTION_STRING = env.azure_options()["connection_string"]
    settings.AZURE_URL_EXPIRATION_SECS = 3600
    use_backend(settings, "storages.backends.azure_storage.AzureStorage")
    for name, body in FILES.items():
        Document.objects.create(title=name, file=ContentFile(body, name=name))
    before = {doc.pk: doc.file.url for doc in Document.objects.all()}
    assert all(fetch(url)[0] == 200 for url in before.values())
    assert env.azure_names() == set(Document.objects.values_list("file", flat=True)) and env.s3_keys() == set()
    Document.objects.update(mirrors=None)

    # After, step 1: the cloud that holds the files first in read_order until the backfill ends.
    options = {"mode": "both", "s3": env.s3_options(), "read_order": ["azure", "s3"], **FAST}
    use_backend(settings, "multicloud_storage.MultiCloudStorage", options)  # "azure" comes from the AZURE_* settings
    storage = unwrap(default_storage)
    for doc in Document.objects.all():
        assert port(doc.file.url) == env.azure_proxy.port and path(doc.file.url) == path(before[doc.pk])
        assert fetch(doc.file.url) == (200, FILES[doc.title])
        with doc.file.open("rb") as fh:
            assert fh.read() == FILES[doc.title]

    # Why: with the default read order (S3 first), a NULL row's URL is S3's, which has no copy before the
    # backfill (404). Reads are not affected: a copy missing in S3 is read from Azure.
    s3_first = MultiCloudStorage(**{**options, "read_order": ["s3", "azure"]})
    doc = Document.objects.get(title="q1.pdf")
    assert fetch(s3_first.url(doc.file.name, locations=doc.mirrors))[0] == 404
    assert s3_first.open(doc.file.name).read() == FILES["q1.pdf"]

    summary = sync_json()
    assert summary["clean"] and summary["copies_made"] == len(FILES) and summary["columns_backfilled"] == len(FILES)
    for doc in Document.objects.all():
        assert doc.mirrors == {"s3", "azure"}
        assert env.s3_bytes(doc.file.name) == env.azure_bytes(doc.file.name) == FILES[doc.title]
        assert fetch(s3_first.url(doc.file.name, locations=doc.mirrors)) == (200, FILES[doc.title])  # gap closed

    # The original cloud goes down: URLs and reads fail over to the backfilled copies in S3.
    env.azure_proxy.set("refuse")
    assert storage.health["azure"].probe_now() is False
    for doc in Document.objects.all():
        assert port(doc.file.url) == env.s3_proxy.port
        assert fetch(doc.file.url) == (200, FILES[doc.title])
        with doc.file.open("rb") as fh:
            assert fh.read() == FILES[doc.title]


def test_thumbnails_are_made_again_through_the_new_backend(env, settings):
    """sorl-thumbnail's keys include the storage backend's class: after the switch every thumbnail gets a new name
    and is made again on first use, from a healthy copy of the image, into both clouds. The old thumbnails are in
    no column and were never recorded missing: multicloud_sync leaves them where they are (S3 only), and
    ``manage.py thumbnail clear_delete_all`` removes them (it lists and deletes through the new backend)."""
    from sorl.thumbnail import get_thumbnail

    reset_sorl()
    plain_s3_settings(env, settings)
    use_backend(settings, "storages.backends.s3.S3Storage")
    photo = Photo.objects.create(image=ContentFile(png(), name="cat.png"))
    old = get_thumbnail(photo.image, "60x45", format="PNG").name
    assert old in env.s3_keys() and env.azure_names() == set()

    use_backend(
        settings, "multicloud_storage.MultiCloudStorage", {"mode": "both", "azure": env.azure_options(), **FAST}
    )
    reset_sorl()
    storage = unwrap(default_storage)
    summary = sync_json()
    assert summary["copies_made"] == 1 and Photo.objects.get().image_mirrors == {"s3", "azure"}  # the image only
    assert old not in env.azure_names()  # a file no row references is not backfilled

    thumbnail = get_thumbnail(Photo.objects.get().image, "60x45", format="PNG")
    assert thumbnail.name != old
    assert thumbnail.name in env.s3_keys() and thumbnail.name in env.azure_names()
    env.s3_proxy.set("reset")
    assert storage.health["s3"].probe_now() is False
    assert port(thumbnail.url) == env.azure_proxy.port and fetch(thumbnail.url) == (
        200,
        env.azure_bytes(thumbnail.name),
    )
    env.s3_proxy.heal()
    assert storage.health["s3"].probe_now() is True

    call_command("thumbnail", "clear_delete_all", verbosity=0)
    assert old not in env.s3_keys() and thumbnail.name not in env.s3_keys() | env.azure_names()
    assert {"photos/cat.png"} == env.s3_keys() == env.azure_names()  # the images stay
    reset_sorl()
