"""Azure AD (managed identity, service principal): user-delegation SAS against Azurite's OAuth mode over HTTPS."""

from __future__ import annotations

import uuid

import pytest
from django.core.files.base import ContentFile

from multicloud_storage import MultiCloudStorage

from .conftest import FakeEntraCredential, fetch, query, wait_until


@pytest.fixture
def identity_storage(oauth_azurite, db):
    container = f"id-{uuid.uuid4().hex[:12]}"
    oauth_azurite.admin.create_container(container)
    credential = FakeEntraCredential()
    storage = MultiCloudStorage(
        mode="azure",
        azure={
            "account_url": oauth_azurite.account_url,
            "azure_container": container,
            "token_credential": credential,
            "client_options": {"connection_verify": str(oauth_azurite.cert)},
        },
    )
    wait_until(lambda: storage.health["azure"].probe_now())  # the first key fetched (slow on a loaded machine)
    return storage, credential, container


def test_user_delegation_sas_downloads_and_the_key_is_cached(identity_storage, oauth_azurite):
    storage, credential, container = identity_storage
    name = storage.save("recording.webm", ContentFile(b"via managed identity"))
    blob = oauth_azurite.admin.get_blob_client(container, name)
    assert blob.download_blob().readall() == b"via managed identity"

    fetched = []
    cloud = storage.clouds["azure"]
    original = cloud._fetch_delegation_key
    cloud._keys._fetch = lambda *a: fetched.append(a) or original(*a)
    urls = [storage.url(name) for _ in range(50)]

    params = query(urls[0])
    assert params["sp"] == "r" and params["sr"] == "b"
    assert {"skoid", "sktid", "skt", "ske", "sks", "skv"} <= set(params)  # signed with a user-delegation key
    assert fetch(urls[0], context=oauth_azurite.ssl_context) == (200, b"via managed identity")
    assert fetch(urls[-1], context=oauth_azurite.ssl_context) == (200, b"via managed identity")
    assert len(fetched) <= 1  # one key for many URLs (fetched at most once, here or by the save)

    tampered = urls[0].replace("sig=", "sig=AAAA")
    assert fetch(tampered, context=oauth_azurite.ssl_context)[0] == 403


def test_a_key_close_to_expiry_is_renewed_in_the_background(identity_storage, oauth_azurite):
    import datetime

    storage, credential, container = identity_storage
    name = storage.save("a.txt", ContentFile(b"x"))
    storage.url(name)
    keys = storage.clouds["azure"]._keys
    first = keys._value
    # Pretend the key expires in 90 minutes: still good for a 1-hour URL, but due for renewal.
    keys._expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=90)
    keys._started_at = float("-inf")
    url = storage.url(name)
    assert fetch(url, context=oauth_azurite.ssl_context) == (200, b"x")
    keys._pending.result(timeout=5)
    assert keys._value is not first
