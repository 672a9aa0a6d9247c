"""The admin: the mirror-state filter, the repair action, and the repair backlog, through Django's test client."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from multicloud_storage.models import MissingReplica, PendingDelete
from tests.testapp.models import Recording

pytestmark = pytest.mark.usefixtures("transactional_db")


@pytest.fixture
def rows(env):
    storage = env.install("both")
    complete = Recording.objects.create(file=ContentFile(b"c", name="complete.webm"))
    env.azure_proxy.set("refuse")
    no_azure = Recording.objects.create(file=ContentFile(b"a", name="no-azure.webm"))
    env.azure_proxy.heal()
    storage.health["azure"].probe_now()
    unknown = Recording.objects.create(file=ContentFile(b"u", name="unknown.webm"))
    Recording.objects.filter(pk=unknown.pk).update(mirrors=None)
    return storage, complete, no_azure, unknown


def listed(admin_client, value):
    response = admin_client.get("/admin/testapp/recording/", {"mirror_copies": value} if value else {})
    assert response.status_code == 200
    return {row.pk for row in response.context["cl"].queryset}


def test_the_filter_lists_rows_by_mirror_state(admin_client, rows):
    storage, complete, no_azure, unknown = rows
    assert listed(admin_client, None) == {complete.pk, no_azure.pk, unknown.pk}
    assert listed(admin_client, "complete") == {complete.pk}
    assert listed(admin_client, "missing_azure") == {no_azure.pk}
    assert listed(admin_client, "missing_s3") == set()
    assert listed(admin_client, "unknown") == {unknown.pk}
    page = admin_client.get("/admin/testapp/recording/").content.decode()
    assert "every copy" in page and "missing Azure" in page


def test_the_action_repairs_the_selected_rows(admin_client, rows, env):
    storage, complete, no_azure, unknown = rows
    response = admin_client.post(
        "/admin/testapp/recording/",
        {"action": "repair_mirrors", "_selected_action": [no_azure.pk, unknown.pk]},
        follow=True,
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "Checked 2 files, made 1 copy. Every copy is in place." in text
    assert Recording.objects.get(pk=no_azure.pk).mirrors == {"s3", "azure"}
    assert Recording.objects.get(pk=unknown.pk).mirrors == {"s3", "azure"}
    assert env.azure_bytes(no_azure.file.name) == b"a"
    assert listed(admin_client, "complete") == {complete.pk, no_azure.pk, unknown.pk}


def test_the_action_reports_what_it_could_not_do(admin_client, rows, env):
    storage, complete, no_azure, unknown = rows
    env.emulators.s3.delete_object(Bucket=env.bucket, Key=no_azure.file.name)  # its only copy is gone
    response = admin_client.post(
        "/admin/testapp/recording/", {"action": "repair_mirrors", "_selected_action": [no_azure.pk]}, follow=True
    )
    assert "lost (in no cloud)" in response.content.decode()
    assert Recording.objects.get(pk=no_azure.pk).mirrors == {"s3"}  # never cleared


def test_the_backlog_is_visible_and_read_only(admin_client, rows):
    storage = rows[0]
    PendingDelete.record(storage.scopes["s3"], "s3", "old.webm", "s3 was down")
    page = admin_client.get("/admin/multicloud_storage/pendingdelete/")
    assert page.status_code == 200 and "old.webm" in page.content.decode()
    assert admin_client.get("/admin/multicloud_storage/pendingdelete/add/").status_code == 403
    assert admin_client.get("/admin/multicloud_storage/missingreplica/").status_code == 200
    assert MissingReplica.objects.filter(name__endswith="no-azure.webm").exists()
