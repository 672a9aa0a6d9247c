"""A drop-in for django-storages users (issue 12), part 4: the apps they use, the real packages, on the emulators.

- sorl-thumbnail (Pillow engine, its cached_db KVStore): thumbnails of a mirrored image are stored in both
  clouds, and their URLs fail over.
- Django REST framework: a ModelSerializer's ImageField gives the URL of a healthy copy, like the template; a
  multipart upload through a viewset fills the column.
- django-cleanup: replacing or deleting a file deletes every copy after the commit; a cloud that is down gets a
  PendingDelete, finished by the repair.
- the admin: a change form upload, a replacement and the "clear" checkbox keep the column right.
"""

from __future__ import annotations

import html
import re
import time

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.template import Context, Template
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from multicloud_storage.models import MissingReplica, PendingDelete

from .apps3rd.api import PhotoSerializer
from .apps3rd.models import Document, Photo
from .apps3rd.testing import image_size, png, port, reset_sorl, sync_json
from .conftest import fetch, settle

pytestmark = pytest.mark.usefixtures("transactional_db")


def down(env, storage, cloud: str) -> None:
    """The cloud's connections are reset; "reset" rather than "refuse", because these tests heal the cloud again
    and a refused proxy must bind its port anew, which another process on a busy machine may have taken."""
    env.proxy(cloud).set("reset")
    assert storage.health[cloud].probe_now() is False


def up(env, storage, cloud: str) -> None:
    settle(storage)  # a save's last retry cannot land after the heal: what the repair copies stays countable
    env.proxy(cloud).heal()
    assert storage.health[cloud].probe_now() is True


# sorl-thumbnail ---------------------------------------------------------------------------------


@pytest.fixture
def sorl():
    reset_sorl()
    yield
    reset_sorl()


THUMBNAIL_TAG = Template(
    '{% load thumbnail %}{% thumbnail photo.image "80x60" crop="center" format="PNG" as im %}'
    '<img src="{{ im.url }}" width="{{ im.width }}" height="{{ im.height }}">{% endthumbnail %}'
)


def thumbnail_src(photo: Photo) -> str:
    rendered = THUMBNAIL_TAG.render(Context({"photo": photo}))
    match = re.search(r'src="([^"]+)" width="80" height="60"', rendered)
    assert match, rendered
    return html.unescape(match.group(1))


def test_sorl_thumbnails_are_stored_in_both_clouds_and_fail_over(env, sorl):
    from sorl.thumbnail import get_thumbnail

    storage = env.install("both")
    photo = Photo.objects.create(title="cat", image=ContentFile(png(), name="cat.png"))
    assert photo.image_mirrors == {"s3", "azure"}

    thumbnail = get_thumbnail(photo.image, "80x60", crop="center", format="PNG")
    assert (
        thumbnail.name.startswith("cache/") and thumbnail.name in env.s3_keys() and thumbnail.name in env.azure_names()
    )
    assert env.s3_bytes(thumbnail.name) == env.azure_bytes(thumbnail.name)
    assert image_size(env.s3_bytes(thumbnail.name)) == (80, 60)

    src = thumbnail_src(photo)  # the template tag finds the same thumbnail (KVStore) and signs a URL of it
    assert port(src) == env.s3_proxy.port
    status, body = fetch(src)
    assert status == 200 and body == env.s3_bytes(thumbnail.name)

    down(env, storage, "s3")
    src = thumbnail_src(photo)
    assert port(src) == env.azure_proxy.port
    assert fetch(src) == (200, env.azure_bytes(thumbnail.name))
    assert port(get_thumbnail(photo.image, "80x60", crop="center", format="PNG").url) == env.azure_proxy.port


def test_sorl_thumbnail_made_during_an_outage_is_repaired(env, sorl):
    """A new size while S3 is down: the source is read from Azure, the thumbnail stored there (recorded as
    missing in S3, since thumbnails have no column) and served from there; the repair copies it to S3."""
    from sorl.thumbnail import get_thumbnail

    storage = env.install("both")
    photo = Photo.objects.create(title="dog", image=ContentFile(png(400, 300, (20, 90, 200)), name="dog.png"))
    down(env, storage, "s3")
    thumbnail = get_thumbnail(photo.image, "40x30", format="PNG")
    assert thumbnail.name in env.azure_names() and thumbnail.name not in env.s3_keys()
    assert MissingReplica.objects.filter(cloud="s3", name=thumbnail.name).exists()
    assert port(thumbnail.url) == env.azure_proxy.port
    assert image_size(fetch(thumbnail.url)[1]) == (40, 30)

    up(env, storage, "s3")
    summary = sync_json()
    assert summary["clean"] and summary["copies_made"] == 1
    assert env.s3_bytes(thumbnail.name) == env.azure_bytes(thumbnail.name)
    assert fetch(get_thumbnail(photo.image, "40x30", format="PNG").url)[0] == 200  # S3's URL again, and it exists


# Django REST framework --------------------------------------------------------------------------


def test_drf_serializer_urls_fail_over_like_the_template(env):
    storage = env.install("both")
    photo = Photo.objects.create(title="cat", image=ContentFile(png(), name="cat.png"))
    template = Template("{{ photo.image.url }}")
    request = Request(APIRequestFactory().get("/api/photos/"))

    def serialized(with_request: bool = True) -> str:
        return PhotoSerializer(photo, context={"request": request} if with_request else {}).data["image"]

    for url in (serialized(), serialized(with_request=False)):
        # Already absolute (a signed cloud URL): build_absolute_uri() keeps it, it never becomes http://testserver/...
        assert url.startswith(f"http://127.0.0.1:{env.s3_proxy.port}/")
        assert fetch(url) == (200, png())
    assert port(html.unescape(template.render(Context({"photo": photo})))) == env.s3_proxy.port

    down(env, storage, "s3")
    for url in (serialized(), html.unescape(template.render(Context({"photo": photo})))):
        assert port(url) == env.azure_proxy.port
        assert fetch(url) == (200, png())
    response = APIClient().get(f"/api/photos/{photo.pk}/")
    assert response.status_code == 200 and port(response.json()["image"]) == env.azure_proxy.port
    up(env, storage, "s3")

    # The column decides where a copy exists: a photo stored while Azure was down is served from S3 only.
    down(env, storage, "azure")
    s3_only = Photo.objects.create(title="s3 only", image=ContentFile(png(10, 10), name="small.png"))
    assert s3_only.image_mirrors == {"s3"}
    up(env, storage, "azure")
    data = PhotoSerializer(s3_only, context={"request": request}).data
    assert port(data["image"]) == env.s3_proxy.port and fetch(data["image"]) == (200, png(10, 10))


def test_drf_multipart_upload_fills_the_column(env):
    storage = env.install("both")
    client = APIClient()
    response = client.post(
        "/api/photos/",
        {"title": "upload", "image": SimpleUploadedFile("upload me.png", png(64, 48), content_type="image/png")},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    photo = Photo.objects.get()
    assert photo.image.name == "photos/upload_me.png" and photo.image_mirrors == {"s3", "azure"}
    assert env.s3_bytes(photo.image.name) == env.azure_bytes(photo.image.name) == png(64, 48)
    assert sorted(re.split(r",\s*", response.json()["image_mirrors"])) == ["azure", "s3"]
    assert fetch(response.json()["image"]) == (200, png(64, 48))

    # A replacement while Azure is down: the column says S3 only, and the API keeps serving the new image.
    down(env, storage, "azure")
    response = client.patch(
        f"/api/photos/{photo.pk}/",
        {"image": SimpleUploadedFile("second.png", png(32, 24), content_type="image/png")},
        format="multipart",
    )
    assert response.status_code == 200, response.content
    photo.refresh_from_db()
    assert photo.image.name == "photos/second.png" and photo.image_mirrors == {"s3"}
    assert response.json()["image_mirrors"] == "s3"
    assert fetch(client.get(f"/api/photos/{photo.pk}/").json()["image"]) == (200, png(32, 24))
    with pytest.raises(Exception):  # noqa: B017 - the raw client: the copy really is not in Azure
        env.azure_bytes(photo.image.name)


# django-cleanup ---------------------------------------------------------------------------------


def in_clouds(env, name: str) -> set[str]:
    return {cloud for cloud, names in (("s3", env.s3_keys()), ("azure", env.azure_names())) if name in names}


def test_cleanup_replacing_or_deleting_deletes_every_copy_after_the_commit(env):
    env.install("both")
    doc = Document.objects.create(title="v1", file=ContentFile(b"version 1", name="report.txt"))
    first = doc.file.name
    assert in_clouds(env, first) == {"s3", "azure"}

    doc.file = ContentFile(b"version 2", name="report-v2.txt")
    doc.save()
    second = doc.file.name
    assert doc.mirrors == {"s3", "azure"} and in_clouds(env, second) == {"s3", "azure"}
    assert in_clouds(env, first) == set()  # the replaced file: every copy

    with transaction.atomic():
        doc.file = ContentFile(b"version 3", name="report-v3.txt")
        doc.save()
        third = doc.file.name
        assert in_clouds(env, second) == {"s3", "azure"}  # django-cleanup waits for the commit
    assert in_clouds(env, second) == set() and in_clouds(env, third) == {"s3", "azure"}

    with pytest.raises(RuntimeError), transaction.atomic():
        Document.objects.get(pk=doc.pk).delete()
        raise RuntimeError("rolled back")
    assert in_clouds(env, third) == {"s3", "azure"}  # rolled back: nothing deleted

    with transaction.atomic():
        Document.objects.get(pk=doc.pk).delete()
        assert in_clouds(env, third) == {"s3", "azure"}
    assert in_clouds(env, third) == set()
    assert not PendingDelete.objects.exists()


def test_the_librarys_own_delete_waits_for_the_commit(env):
    storage = env.install("both")
    doc = Document.objects.create(file=ContentFile(b"x", name="kept.txt"))
    name = doc.file.name
    with pytest.raises(RuntimeError), transaction.atomic():
        storage.delete(name)
        raise RuntimeError("rolled back")
    assert in_clouds(env, name) == {"s3", "azure"}
    with transaction.atomic():
        storage.delete(name)
        assert in_clouds(env, name) == {"s3", "azure"}
    assert in_clouds(env, name) == set()


def test_cleanup_with_a_cloud_down_records_the_copies_it_could_not_delete(env):
    storage = env.install("both")
    doc = Document.objects.create(title="v1", file=ContentFile(b"version 1", name="notes.txt"))
    deleted_later = Document.objects.create(title="gone", file=ContentFile(b"bye", name="gone.txt"))
    first, gone = doc.file.name, deleted_later.file.name
    time.sleep(1.1)  # the clouds' times have one-second resolution: a copy written in the delete's second is kept

    down(env, storage, "azure")
    doc.file = ContentFile(b"version 2", name="notes-v2.txt")
    doc.save()
    deleted_later.delete()
    assert doc.mirrors == {"s3"} and in_clouds(env, doc.file.name) == {"s3"}
    assert in_clouds(env, first) == in_clouds(env, gone) == {"azure"}  # S3's copies went; Azure's are left
    assert set(PendingDelete.objects.values_list("cloud", "name")) == {("azure", first), ("azure", gone)}

    up(env, storage, "azure")
    summary = sync_json()
    assert summary["clean"] and summary["deletes_finished"] == 2 and summary["copies_made"] == 1
    assert in_clouds(env, first) == in_clouds(env, gone) == set()
    assert in_clouds(env, doc.file.name) == {"s3", "azure"}
    assert Document.objects.get(pk=doc.pk).mirrors == {"s3", "azure"}
    assert not PendingDelete.objects.exists()


# the admin --------------------------------------------------------------------------------------


def currently_link(admin_client, pk: int) -> str:
    page = admin_client.get(f"/admin/apps3rd/document/{pk}/change/").content.decode()
    match = re.search(r'Currently: <a href="([^"]+)"', page)
    assert match, page
    return html.unescape(match.group(1))


def test_admin_upload_replace_and_clear_keep_the_column_right(admin_client, env):
    storage = env.install("both")
    response = admin_client.post(
        "/admin/apps3rd/document/add/",
        {
            "title": "contract",
            "file": SimpleUploadedFile("contract.pdf", b"%PDF signed", content_type="application/pdf"),
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    doc = Document.objects.get()
    assert doc.file.name == "documents/contract.pdf" and doc.mirrors == {"s3", "azure"}
    assert env.s3_bytes(doc.file.name) == env.azure_bytes(doc.file.name) == b"%PDF signed"
    assert fetch(currently_link(admin_client, doc.pk)) == (200, b"%PDF signed")

    down(env, storage, "azure")  # a replacement while Azure is down
    response = admin_client.post(
        f"/admin/apps3rd/document/{doc.pk}/change/",
        {"title": "contract", "file": SimpleUploadedFile("contract v2.pdf", b"%PDF v2")},
    )
    assert response.status_code == 302
    doc.refresh_from_db()
    assert doc.file.name == "documents/contract_v2.pdf" and doc.mirrors == {"s3"}
    up(env, storage, "azure")
    link = currently_link(admin_client, doc.pk)
    assert port(link) == env.s3_proxy.port and fetch(link) == (200, b"%PDF v2")  # never Azure's: it has no copy
    down(env, storage, "s3")
    assert port(currently_link(admin_client, doc.pk)) == env.s3_proxy.port  # still S3: the only holder
    up(env, storage, "s3")

    response = admin_client.post(f"/admin/apps3rd/document/{doc.pk}/change/", {"title": "contract", "file-clear": "on"})
    assert response.status_code == 302
    doc.refresh_from_db()
    assert doc.file.name == ""
    assert in_clouds(env, "documents/contract_v2.pdf") == set()  # django-cleanup removed the cleared file
    # The column after "clear": see test_dropin_bugs.py (it still names S3 today).
