"""Drop-in gaps found while porting django-storages' expectations (issue 12), each fixed, each kept as a test.

Each names the expectation it ports and how the library meets it:

1. ``open(name, "r")`` returns bytes. django-storages' S3Storage (``S3File``) and Django's own storages return
   text in text mode (``test_s3.py``: ``S3StorageTestsWithMoto.test_storage_open_reading_with_newlines``,
   ``S3StorageTests.test_storage_open_read_string``). Code that did ``csv.reader(storage.open(name, "r"))`` on
   S3Storage would break after the switch. Fixed (``MultiCloudStorage.open``): when ``"b" not in mode``, wrap the
   spooled file in ``io.TextIOWrapper(..., encoding="utf-8")`` (on Python 3.10 wrap ``spooled._file``, as
   django-storages does) before ``File(...)``.
2. ``get_available_name`` offers names that ``save()`` then refuses (``"..."``, ``"report."``).
   AzureStorage raises for ``"..."`` (``test_azure.py``: ``AzureStorageTest.test_get_available_invalid``).
   Fixed (``MultiCloudStorage.get_available_name``): check the name it returns with ``canonical(name,
   self._prefix_bytes)``, as Django's ``Storage.save`` validates the name it gets back.
3. Clearing a file (the admin's "clear" checkbox, or ``doc.file = None; doc.save()``) leaves the column naming
   the clouds of the file that is gone. ``FieldFile.delete`` sets it to NULL; a cleared file does too. Fixed
   (``MirrorLocationField.pre_save``): when the file field is empty, set the column to None.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import SuspiciousOperation
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from storages.backends.s3 import S3Storage

from .apps3rd.models import Document

TEXT = b"line1\nline2\r\nmore\rtext\n"


def test_open_in_text_mode_reads_text_like_s3storage(env):
    """Ports S3StorageTestsWithMoto.test_storage_open_reading_with_newlines and
    S3StorageTests.test_storage_open_read_string."""
    storage = env.install("both")
    name = storage.save("test_storage_open_read_with_newlines.txt", ContentFile(TEXT))
    s3_storage = S3Storage(**env.s3_options())
    with s3_storage.open(name, "r") as file:
        assert file.read() == "line1\nline2\nmore\ntext\n"  # what a django-storages project relies on
    for locations in ({"s3"}, {"azure"}):
        with storage.open(name, "r", locations=locations) as file:
            assert file.read() == "line1\nline2\nmore\ntext\n"
        with storage.open(name, "r", locations=locations) as file:
            assert file.readlines() == ["line1\n", "line2\n", "more\n", "text\n"]
        with storage.open(name, "rb", locations=locations) as file:
            assert file.read() == TEXT


@pytest.mark.parametrize("name", ["...", "report.", "dir./x.txt"])
def test_get_available_name_never_offers_a_name_save_refuses(env, name):
    """Ports AzureStorageTest.test_get_available_invalid (``"..."`` raises there)."""
    storage = env.install("both")
    with pytest.raises(SuspiciousOperation):
        storage.save(name, ContentFile(b"x"))  # refused, before any request
    with pytest.raises((ValueError, SuspiciousOperation)):
        storage.get_available_name(name)


@pytest.mark.usefixtures("transactional_db")
def test_clearing_a_file_clears_its_column(env, admin_client):
    env.install("both")
    doc = Document.objects.create(title="a", file=ContentFile(b"x", name="a.txt"))
    assert doc.mirrors == {"s3", "azure"}
    response = admin_client.post(f"/admin/apps3rd/document/{doc.pk}/change/", {"title": "a", "file-clear": "on"})
    assert response.status_code == 302
    doc.refresh_from_db()
    assert doc.file.name == ""
    assert doc.mirrors is None  # today: MirrorLocations(['azure', 's3']), the clouds of a file that is gone

    doc.file = SimpleUploadedFile("b.txt", b"b")
    doc.save()
    doc.file = None
    doc.save()
    doc.refresh_from_db()
    assert doc.mirrors is None
