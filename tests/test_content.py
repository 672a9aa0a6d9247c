"""Every copy a save reports holds exactly the bytes it was given; bad content writes nothing anywhere."""

from __future__ import annotations

import io
import os

import pytest
from django.core.files.base import ContentFile, File

from multicloud_storage import ReplicaWriteError
from multicloud_storage.exceptions import ContentMismatch
from multicloud_storage.models import MissingReplica

MiB = 1024 * 1024
CAFE = "café au lait ☕"  # 13 characters, 17 bytes of UTF-8


class OneWay(io.RawIOBase):
    """A non-seekable stream (a pipe, a socket) of ``data``."""

    def __init__(self, data: bytes, fail_after: int | None = None) -> None:
        self._data = memoryview(data)
        self._position = 0
        self._fail_after = fail_after

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._fail_after is not None and self._position >= self._fail_after:
            raise OSError("the upstream connection dropped")
        n = min(len(buffer), len(self._data) - self._position, 256 * 1024)
        buffer[:n] = self._data[self._position : self._position + n]
        self._position += n
        return n


class Chunked(File):
    """Content that is a generator of chunks of uneven sizes (like a streamed HTTP body)."""

    def __init__(self, pieces: list[bytes], name: str) -> None:
        super().__init__(None, name)
        self._pieces = pieces

    def chunks(self, chunk_size=None):
        yield from self._pieces

    @property
    def size(self):
        raise AttributeError("a generator cannot tell its size")


def pseudo_random(size: int, seed: int = 7) -> bytes:
    block = os.urandom(64 * 1024) if seed is None else bytes((i * seed + 13) % 256 for i in range(64 * 1024))
    return (block * (size // len(block) + 1))[:size]


def contents(tmp_path):
    """(label, content factory, expected bytes)"""
    big = pseudo_random(12 * MiB + 7)
    on_disk = tmp_path / "upload.bin"
    on_disk.write_bytes(pseudo_random(9 * MiB + 3, seed=3))
    text_big = "é" * (5 * MiB)  # 5 Mi characters, 10 MiB of UTF-8: above the single-request size in bytes
    return [
        ("text", lambda: ContentFile(CAFE, name="t.txt"), CAFE.encode()),
        ("bytes", lambda: ContentFile(b"\x00\xffbinary", name="b.bin"), b"\x00\xffbinary"),
        ("empty", lambda: ContentFile(b"", name="e.bin"), b""),
        ("empty text", lambda: ContentFile("", name="e.txt"), b""),
        ("non-seekable", lambda: File(OneWay(CAFE.encode() * 1000), name="n.bin"), CAFE.encode() * 1000),
        ("text stream", lambda: File(io.StringIO(CAFE * 3), name="s.txt"), (CAFE * 3).encode()),
        ("generator", lambda: Chunked([b"a", b"", b"bc" * 5000, b"d"], "g.bin"), b"a" + b"bc" * 5000 + b"d"),
        ("large non-seekable", lambda: File(OneWay(big), name="big.bin"), big),
        ("large text", lambda: ContentFile(text_big, name="big.txt"), text_big.encode()),
        ("file on disk", lambda: File(open(on_disk, "rb")), on_disk.read_bytes()),  # noqa: SIM115
    ]


@pytest.mark.parametrize("mode", ["both", "s3", "azure"])
def test_every_copy_holds_exactly_the_bytes_given(env, tmp_path, mode):
    storage = env.install(mode)
    for label, make, expected in contents(tmp_path):
        content = make()
        saved = storage.save_mirrored(f"{label.replace(' ', '-')}/{content.name}", content)
        assert saved.locations == set(storage.clouds), label
        for cloud in saved.locations:
            assert env.raw_bytes(cloud, saved.name) == expected, (label, cloud)
        assert storage.open(saved.name).read() == expected, label
        assert storage.size(saved.name) == len(expected), label


def test_text_is_stored_as_utf8_in_both_clouds_and_reported_in_both(env):
    """The review's case: S3 had 17 bytes, Azure 14, and the save reported both."""
    storage = env.install("both")
    saved = storage.save_mirrored("cafe.txt", ContentFile(CAFE))
    assert saved.locations == {"s3", "azure"}
    assert env.s3_bytes(saved.name) == env.azure_bytes(saved.name) == CAFE.encode() and len(CAFE.encode()) == 17


def test_a_size_that_lies_is_refused_before_any_request(env):
    storage = env.install("both")
    content = ContentFile(b"twelve bytes")
    content.size = 100
    before = (env.s3_proxy.accepted, env.azure_proxy.accepted)
    with pytest.raises(ContentMismatch, match="declared 100 bytes"):
        storage.save("liar.bin", content)
    assert (env.s3_proxy.accepted, env.azure_proxy.accepted) == before
    assert env.s3_keys() == set() and env.azure_names() == set()


def test_a_stream_whose_size_lies_fails_before_the_commit_and_leaves_nothing(env):
    storage = env.install("both")
    data = pseudo_random(10 * MiB)
    content = File(OneWay(data), name="liar.bin")
    content.size = len(data) + 1
    with pytest.raises(ContentMismatch):
        storage.save("liar.bin", content)
    assert env.s3_keys() == set() and env.azure_names() == set()
    assert env.emulators.s3.list_multipart_uploads(Bucket=env.bucket).get("Uploads", []) == []
    assert MissingReplica.objects.count() == 0


@pytest.mark.parametrize("fail_after", [64 * 1024, 20 * MiB])  # before the first request; after parts were sent
def test_a_reader_failing_mid_stream_leaves_no_object_anywhere(env, fail_after):
    storage = env.install("both")
    with pytest.raises(OSError, match="upstream connection dropped"):
        storage.save("broken.bin", File(OneWay(pseudo_random(32 * MiB), fail_after=fail_after), name="broken.bin"))
    assert env.s3_keys() == set() and env.azure_names() == set()
    assert MissingReplica.objects.count() == 0
    # The parts already sent are dropped: no unfinished multipart upload stays billed.
    env.wait_for(lambda: env.emulators.s3.list_multipart_uploads(Bucket=env.bucket).get("Uploads", []) == [])


def test_content_that_is_not_a_file_is_refused_cleanly(env):
    storage = env.install("both")
    with pytest.raises((TypeError, AttributeError, ValueError)):
        storage.save("gen.bin", (chunk for chunk in [b"a", b"b"]))
    assert env.s3_keys() == set() and env.azure_names() == set()


def test_a_file_that_changes_while_saved_is_refused(env, tmp_path, monkeypatch):
    storage = env.install("both")
    path = tmp_path / "growing.log"
    path.write_bytes(b"x" * (9 * MiB))
    from multicloud_storage import fanout

    original = fanout.FileSource.read

    def read_then_append(self, offset, length):
        data = original(self, offset, length)
        with open(path, "ab") as handle:  # another process appends while the upload reads
            handle.write(b"more")
        return data

    monkeypatch.setattr(fanout.FileSource, "read", read_then_append)
    with open(path, "rb") as handle, pytest.raises(ContentMismatch, match="changed"):
        storage.save("growing.log", File(handle))
    assert env.s3_keys() == set() and env.azure_names() == set()


def test_both_clouds_refusing_a_write_is_a_replica_write_error(env):
    storage = env.install("both")
    env.s3_proxy.set("refuse")
    env.azure_proxy.set("refuse")
    with pytest.raises(ReplicaWriteError) as raised:
        storage.save("a.txt", ContentFile(CAFE))
    assert set(raised.value.errors) == {"s3", "azure"}
