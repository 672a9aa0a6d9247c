"""Writes: fan-out to both clouds, write policies, dead clouds, streaming, names that agree, bad input."""

from __future__ import annotations

import io
import os
import time

import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile, File

from multicloud_storage import ReplicaWriteError
from multicloud_storage.models import PendingDelete

pytestmark = pytest.mark.django_db


class OneWayStream(io.RawIOBase):
    """A non-seekable stream (a pipe, a socket, a generator) that yields ``total`` bytes."""

    def __init__(self, total: int) -> None:
        self.remaining = total
        self.produced = bytearray()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.remaining, 64 * 1024)
        data = bytes((len(self.produced) + i) % 251 for i in range(n))
        buffer[:n] = data
        self.produced += data
        self.remaining -= n
        return n


def test_both_mode_streams_non_seekable_content_to_both_clouds(env):
    storage = env.install("both")
    stream = OneWayStream(12 * 1024 * 1024 + 7)  # above S3's multipart threshold and Azure's block size
    saved = storage.save_mirrored("big/stream.bin", File(stream, name="stream.bin"))
    assert saved.locations == {"s3", "azure"}
    assert env.s3_bytes(saved.name) == bytes(stream.produced)
    assert env.azure_bytes(saved.name) == bytes(stream.produced)


def test_empty_file_is_stored_in_both(env):
    storage = env.install("both")
    name = storage.save("empty.txt", ContentFile(b""))
    assert env.s3_bytes(name) == b"" and env.azure_bytes(name) == b""


def test_content_type_and_bytes_agree_across_clouds(env):
    storage = env.install("both")
    name = storage.save("clip.webm", ContentFile(b"webm" * 1000))
    s3_head = env.emulators.s3.head_object(Bucket=env.bucket, Key=name)
    azure_props = env.emulators.azure.get_blob_client(env.container, name).get_blob_properties()
    assert s3_head["ContentType"] == azure_props.content_settings.content_type == "video/webm"


def test_a_taken_name_gets_a_new_name_free_in_every_cloud(env):
    storage = env.install("both")
    first = storage.save("report.txt", ContentFile(b"one"))
    # The name is taken in Azure only (say, a copy from another process): still not reused.
    env.emulators.azure.get_blob_client(env.container, "only-azure.txt").upload_blob(b"theirs")
    second = storage.save("report.txt", ContentFile(b"two"))
    third = storage.save("only-azure.txt", ContentFile(b"mine"))

    assert first == "report.txt" and second != first and third != "only-azure.txt"
    assert env.s3_bytes(first) == env.azure_bytes(first) == b"one"
    assert env.s3_bytes(second) == env.azure_bytes(second) == b"two"
    assert env.azure_bytes("only-azure.txt") == b"theirs"
    assert env.s3_bytes(third) == env.azure_bytes(third) == b"mine"


def test_file_overwrite_keeps_the_name(env):
    storage = env.install("both", file_overwrite=True)
    storage.save("same.txt", ContentFile(b"one"))
    assert storage.save("same.txt", ContentFile(b"two")) == "same.txt"
    assert env.s3_bytes("same.txt") == env.azure_bytes("same.txt") == b"two"


@pytest.mark.parametrize("fault", ["refuse", "hang", "reset"])
def test_write_policy_any_stores_on_the_cloud_that_is_up(env, fault):
    storage = env.install("both")
    env.azure_proxy.set(fault)
    started = time.monotonic()
    saved = storage.save_mirrored("a.txt", ContentFile(b"payload"))
    elapsed = time.monotonic() - started
    assert saved.locations == {"s3"}
    assert env.s3_bytes(saved.name) == b"payload"
    assert env.azure_names() == set()
    # A dead cloud does not stall a save: bounded timeouts (1 s connect, 2 s read, 1 retry here)...
    assert elapsed < 8, elapsed
    # ...and once known down it is skipped at once.
    started = time.monotonic()
    assert storage.save_mirrored("b.txt", ContentFile(b"payload")).locations == {"s3"}
    assert time.monotonic() - started < 1.5


def test_default_timeouts_give_up_on_a_hung_cloud_within_seconds(env):
    options = env.options("both")
    for key in ("connect_timeout", "read_timeout", "probe_timeout"):
        options.pop(key)  # the library's defaults
    from multicloud_storage import MultiCloudStorage

    storage = MultiCloudStorage(**options)
    env.s3_proxy.set("hang")
    started = time.monotonic()
    assert storage.save_mirrored("slow.txt", ContentFile(b"x")).locations == {"azure"}
    assert time.monotonic() - started < 15


@pytest.mark.parametrize("down", ["s3", "azure"])
def test_write_policy_all_with_a_cloud_down_fails_and_writes_nothing(env, down):
    storage = env.install("both", write_policy="all")
    (env.s3_proxy if down == "s3" else env.azure_proxy).set("refuse")
    with pytest.raises(ReplicaWriteError) as raised:
        storage.save("a.txt", ContentFile(b"payload"))
    assert down in raised.value.errors
    assert env.s3_keys() == set() and env.azure_names() == set()
    # Known down now: the next save fails before writing anything anywhere.
    with pytest.raises(ReplicaWriteError, match="marked down"):
        storage.save("b.txt", ContentFile(b"payload"))
    assert env.s3_keys() == set() and env.azure_names() == set()


def test_write_policy_all_removes_the_copy_that_landed_when_the_other_failed(env):
    storage = env.install("both", write_policy="all", s3={"access_key": None, "secret_key": None})
    assert storage.health["s3"].is_up()  # not known yet: the write is attempted
    with pytest.raises(ReplicaWriteError):
        storage.save("a.txt", ContentFile(b"payload"))
    assert env.s3_keys() == set()
    assert env.azure_names() == set()  # Azure took it, then it was removed: no partial copy


def test_both_clouds_down_fails_the_save(env):
    storage = env.install("both")
    env.s3_proxy.set("refuse")
    env.azure_proxy.set("refuse")
    with pytest.raises(ReplicaWriteError):
        storage.save("a.txt", ContentFile(b"payload"))


@pytest.mark.parametrize(
    "name",
    [
        "../escape.txt",
        "/etc/passwd",
        "dir/../../up.txt",
        "nul\x00byte.txt",
        "tab\there.txt",
        "new\nline.txt",
        "del\x7f.txt",
        "x" * 1025,
        "d/" + "é" * 600,
    ],
)
def test_bad_names_are_refused_before_anything_is_written(env, name):
    storage = env.install("both")
    with pytest.raises(SuspiciousFileOperation):
        storage.save(name, ContentFile(b"payload"))
    assert env.s3_keys() == set() and env.azure_names() == set()


def test_reading_the_content_fails_nothing_is_stored(env):
    storage = env.install("both")

    class Broken(io.RawIOBase):
        sent = 0

        def readable(self):
            return True

        def readinto(self, buffer):
            if self.sent > 1024 * 1024:
                raise OSError("disk on fire")
            self.sent += len(buffer)
            buffer[:] = b"x" * len(buffer)
            return len(buffer)

    with pytest.raises(OSError, match="disk on fire"):
        storage.save("partial.bin", File(Broken(), name="partial.bin"))
    assert env.s3_keys() == set() and env.azure_names() == set()


def test_delete_removes_every_copy(env, django_capture_on_commit_callbacks):
    storage = env.install("both")
    name = storage.save("gone.txt", ContentFile(b"x"))
    with django_capture_on_commit_callbacks(execute=True):
        storage.delete(name)
    assert env.s3_keys() == set() and env.azure_names() == set()
    assert not storage.exists(name)
    assert PendingDelete.objects.count() == 0


def test_delete_with_a_cloud_down_is_recorded_durably(env, django_capture_on_commit_callbacks):
    storage = env.install("both")
    name = storage.save("gone.txt", ContentFile(b"x"))
    env.azure_proxy.set("refuse")
    with django_capture_on_commit_callbacks(execute=True):
        storage.delete(name)
    assert env.s3_keys() == set()
    assert env.azure_names() == {name}
    pending = PendingDelete.objects.get()
    assert (pending.cloud, pending.name) == ("azure", name)
    assert "AccountKey" not in pending.reason and "sig=" not in pending.reason


def test_temporary_uploaded_file_is_streamed(env, tmp_path):
    storage = env.install("both")
    path = tmp_path / "upload.bin"
    path.write_bytes(os.urandom(300_000))
    with open(path, "rb") as handle:
        name = storage.save("upload.bin", File(handle))
    assert env.s3_bytes(name) == env.azure_bytes(name) == path.read_bytes()
