"""Reads follow read_order and fall over; a hung cloud does not stall open(); many threads at once."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile

from multicloud_storage import NoReplicaAvailable

from .conftest import fetch


def test_reads_come_from_the_first_cloud_in_read_order_and_fall_over(env):
    storage = env.install("both")
    name = storage.save("doc.txt", ContentFile(b"hello"))
    # Make the copies differ so the test can tell which cloud answered.
    env.emulators.azure.get_blob_client(env.container, name).upload_blob(b"hello from azure", overwrite=True)
    assert storage.open(name).read() == b"hello"
    assert storage.size(name) == 5

    env.s3_proxy.set("refuse")
    assert storage.open(name).read() == b"hello from azure"
    assert storage.size(name) == len(b"hello from azure")
    assert storage.exists(name)
    assert storage.get_modified_time(name).tzinfo is not None


def test_azure_first_read_order(env):
    storage = env.install("both", read_order=["azure", "s3"])
    name = storage.save("doc.txt", ContentFile(b"hello"))
    env.emulators.azure.get_blob_client(env.container, name).upload_blob(b"azure copy", overwrite=True)
    assert storage.open(name).read() == b"azure copy"


def test_a_copy_missing_in_one_cloud_is_read_from_the_other(env):
    storage = env.install("both")
    name = storage.save("doc.txt", ContentFile(b"hello"))
    env.emulators.s3.delete_object(Bucket=env.bucket, Key=name)
    assert storage.open(name).read() == b"hello"
    assert storage.size(name) == 5
    assert storage.health["s3"].status().up  # a missing file is not an outage


def test_missing_everywhere_is_file_not_found(env):
    storage = env.install("both")
    with pytest.raises(FileNotFoundError):
        storage.open("nope.txt")
    with pytest.raises(FileNotFoundError):
        storage.size("nope.txt")
    assert not storage.exists("nope.txt")


def test_every_cloud_down_is_no_replica_available(env):
    storage = env.install("both")
    name = storage.save("doc.txt", ContentFile(b"hello"))
    env.s3_proxy.set("refuse")
    env.azure_proxy.set("refuse")
    with pytest.raises(NoReplicaAvailable):
        storage.open(name)


def test_a_hung_cloud_does_not_stall_open(env):
    storage = env.install("both", read_timeout=10.0)  # long timeouts: only the hedge can keep open() quick
    name = storage.save("doc.txt", ContentFile(b"hello"))
    env.s3_proxy.set("hang")
    started = time.monotonic()
    assert storage.open(name).read() == b"hello"
    assert time.monotonic() - started < 2.5  # failover_after (1 s) plus Azure's answer


def test_open_is_read_only(env):
    storage = env.install("both")
    with pytest.raises(ValueError, match="reading only"):
        storage.open("a.txt", "wb")


def test_listdir_is_the_union_of_the_clouds(env):
    storage = env.install("both")
    storage.save("dir/both.txt", ContentFile(b"x"))
    storage.save("dir/sub/deep.txt", ContentFile(b"x"))
    env.emulators.azure.get_blob_client(env.container, "dir/azure-only.txt").upload_blob(b"x")
    assert storage.listdir("dir") == (["sub"], ["azure-only.txt", "both.txt"])
    env.azure_proxy.set("refuse")
    assert storage.listdir("dir") == (["sub"], ["both.txt"])


def test_eight_threads_saving_and_signing_at_once(env):
    storage = env.install("both")
    errors: list[BaseException] = []
    saved: list[tuple[str, bytes]] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        try:
            for i in range(4):
                body = f"worker {worker} file {i}".encode()
                name, locations = storage.save_mirrored("same-name.txt", ContentFile(body))
                assert locations == {"s3", "azure"}
                for _ in range(20):
                    assert urlsplit(storage.url(name, locations=locations)).port == env.s3_proxy.port
                with lock:
                    saved.append((name, body))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    names = [name for name, _ in saved]
    assert len(names) == len(set(names)) == 32  # no two saves got the same name: no file overwritten
    assert env.s3_keys() == env.azure_names() == set(names)
    for name, body in saved:
        assert env.s3_bytes(name) == env.azure_bytes(name) == body
    for name, body in saved[:8]:
        assert fetch(storage.url(name)) == (200, body)
    assert storage.clouds["s3"].connection is storage.clouds["s3"].connection  # one client for every thread


@pytest.mark.django_db
def test_file_open_and_size_honour_the_column(env):
    from tests.testapp.models import Recording

    env.install("both")
    recording = Recording.objects.create(file=ContentFile(b"both clouds", name="r.txt"))
    env.emulators.azure.get_blob_client(env.container, recording.file.name).upload_blob(b"azure!", overwrite=True)
    Recording.objects.update(mirrors={"azure"})  # the column says only Azure holds it
    recording = Recording.objects.get()
    with recording.file.open() as f:
        assert f.read() == b"azure!"
    assert recording.file.size == len(b"azure!")
