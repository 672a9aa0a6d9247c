"""Where writes fan out: the bytes of one save, uploaded to every target cloud at once, each at its own pace.

The content becomes a ``Source`` that every upload reads by offset, so no upload waits for another's bursts:

- bytes in memory (``ContentFile``, ``InMemoryUploadedFile``): read in place;
- a file on disk (``TemporaryUploadedFile``, ``File(open(...))``): ``os.pread`` at each upload's own offset;
- anything else (text, a pipe, a generator): read once, in the saving thread, into a temporary file that the
  uploads read behind it; text is encoded as UTF-8;
- another cloud's copy (repairs): ranged reads.

Up to ``SINGLE_REQUEST_MAX`` bytes a save is one create-if-absent request per cloud, all sending the same bytes,
read once; above, an upload in parts (``PARTS_IN_FLIGHT`` at a time per cloud, so memory is bounded whatever the
size) committed by one create-if-absent request, sent only once the whole content was read and found unchanged
(a file modified meanwhile is refused, so no two clouds get different bytes). Every
request runs on its cloud's thread pool with a deadline; a cloud silent for ``failover_after`` seconds is
probed, and one found down (or past a deadline) is given up on while the others go on.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any

from .cloud import Cloud, Timeouts
from .exceptions import ContentMismatch, Stalled

MiB = 1024 * 1024
SINGLE_REQUEST_MAX = 16 * MiB  # up to this size, one request per cloud (both clouds at once: 32 MiB in memory)
PART_SIZE = 8 * MiB  # at least; larger for sources beyond MAX_PARTS parts
PARTS_IN_FLIGHT = 3  # per cloud and upload
MAX_PARTS = 10_000  # S3's limit (Azure allows 50,000 blocks)
READ_CHUNK = MiB
MIN_RATE = MiB  # bytes per second a request body must at least move: the slowest link a write tolerates
COMMIT_READ = 60.0  # seconds a commit of parts may take to answer (S3 keeps a slow one alive with whitespace)


# Sources -------------------------------------------------------------------------------------------


class Source:
    """The bytes of one save, readable by offset by several uploads at once."""

    size: int | None = None  # known once ``done``
    done = True
    remote = False  # reads go over the network (a copy from another cloud): deadlines allow for them

    def ready(self) -> int:
        """How many bytes, from the start, can be read now."""
        return self.size or 0

    def read(self, offset: int, length: int) -> bytes:
        raise NotImplementedError

    def pump(self) -> None:
        """Read more of the content (only sources fed by the saving thread do anything)."""

    def verify(self) -> None:
        """Raise ContentMismatch if the content is not what it was when the uploads started."""

    def close(self) -> None:
        pass


class BufferSource(Source):
    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._view = memoryview(data)
        self.size = self._view.nbytes

    def read(self, offset: int, length: int) -> bytes:
        return bytes(self._view[offset : offset + length])

    def close(self) -> None:
        self._view.release()


class FileSource(Source):
    """A regular file read with pread: every upload at its own offset, no shared position."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._stat = os.fstat(fd)
        self.size = self._stat.st_size

    def read(self, offset: int, length: int) -> bytes:
        data = os.pread(self._fd, length, offset)
        while len(data) < length:
            more = os.pread(self._fd, length - len(data), offset + len(data))
            if not more:
                raise ContentMismatch("the file shrank while it was being saved")
            data += more
        return data

    def verify(self) -> None:
        now = os.fstat(self._fd)
        if (now.st_size, now.st_mtime_ns) != (self._stat.st_size, self._stat.st_mtime_ns):
            raise ContentMismatch("the file changed while it was being saved")


class SpoolSource(Source):
    """Content read once, in the saving thread, into a temporary file that uploads read behind it."""

    def __init__(self, head: bytes, chunks: Iterator[bytes | str], declared: int | None, text: bool) -> None:
        self._file = tempfile.TemporaryFile(prefix="multicloud-")  # noqa: SIM115 - closed by close()
        self._fd = self._file.fileno()
        self._chunks = chunks
        self._declared = declared
        self._text = text
        self._written = 0
        self._lock = threading.Lock()
        self.done = False
        self._append(head)

    def _append(self, data: bytes) -> None:
        os.pwrite(self._fd, data, self._written)
        with self._lock:
            self._written += len(data)

    def ready(self) -> int:
        return self._written

    def pump(self) -> None:
        if self.done:
            return
        chunk = next(self._chunks, None)
        if chunk is None:
            if self._declared is not None and self._declared != self._written:
                raise ContentMismatch(f"the content declared {self._declared} bytes but {self._written} were read")
            self.size = self._written
            self.done = True
            return
        self._append(_as_bytes(chunk, self._text))

    def read(self, offset: int, length: int) -> bytes:
        return os.pread(self._fd, length, offset)

    def close(self) -> None:
        self._file.close()


class CloudSource(Source):
    """Another cloud's copy, read by ranges: what a repair copies from, memory bounded whatever the size."""

    remote = True

    def __init__(self, cloud: Cloud, name: str, size: int) -> None:
        self._cloud, self._name, self.size = cloud, name, size

    def read(self, offset: int, length: int) -> bytes:
        return self._cloud.read_range(self._name, offset, length) if length else b""


def _as_bytes(chunk: bytes | str, text: bool) -> bytes:
    if isinstance(chunk, str) != text:
        raise TypeError("the content mixes text and bytes")
    return chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)


def _declared_size(content: Any) -> int | None:
    try:
        size = content.size
    except Exception:  # noqa: BLE001 - a stream that cannot tell
        return None
    return size if isinstance(size, int) and not isinstance(size, bool) else None


def _regular_fd(file: Any) -> int | None:
    if isinstance(file, io.TextIOBase) or "b" not in str(getattr(file, "mode", "b")):
        return None
    try:
        fd = file.fileno()
        return fd if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


def open_source(content: Any) -> Source:
    """The Source for a save's content; ContentMismatch if it is not the size it declares."""
    file = getattr(content, "file", content)
    declared = _declared_size(content)
    if isinstance(file, (bytes, bytearray, memoryview)):
        source: Source = BufferSource(file)
    elif isinstance(file, io.BytesIO):
        source = BufferSource(file.getbuffer())
    elif (fd := _regular_fd(file)) is not None:
        source = FileSource(fd)
    else:
        return _stream_source(content, declared)
    if declared is not None and declared != source.size:
        source.close()
        raise ContentMismatch(f"the content declared {declared} bytes but holds {source.size}")
    return source


def _stream_source(content: Any, declared: int | None) -> Source:
    if hasattr(content, "chunks"):
        chunks: Iterator[bytes | str] = iter(content.chunks(READ_CHUNK))
    else:

        def read() -> bytes | str:
            return content.read(READ_CHUNK)  # type: ignore[no-any-return]

        chunks = iter(read, b"")
    head = bytearray()
    text: bool | None = None
    for chunk in chunks:
        if not chunk:
            continue
        text = isinstance(chunk, str) if text is None else text
        head += _as_bytes(chunk, text)
        if len(head) > SINGLE_REQUEST_MAX:
            return SpoolSource(bytes(head), chunks, None if text else declared, bool(text))
    if declared is not None and not text and declared != len(head):
        raise ContentMismatch(f"the content declared {declared} bytes but {len(head)} were read")
    return BufferSource(bytes(head))


# Uploads -------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    error: BaseException | None = None  # None: stored
    maybe_landed: bool = False  # given up while its final request was under way: the object may exist
    etag: str = ""  # the stored object's version, as the cloud answered the final request


class Upload:
    """One cloud's upload of one source: a single request, or parts then a commit."""

    def __init__(
        self, cloud: Cloud, name: str, options: Any, source: Source, *, create_only: bool, timeouts: Timeouts
    ) -> None:
        self.cloud, self.name, self.options, self.source = cloud, name, options, source
        self.create_only = create_only
        self._timeouts = timeouts
        self.single = source.done and (source.size or 0) <= SINGLE_REQUEST_MAX
        self.data = b""  # a single request's bytes: read once by fan_out, the same for every cloud
        self.part_size = max(PART_SIZE, -(-(source.size or 0) // MAX_PARTS)) if source.done else PART_SIZE
        self.handle: Any = None
        self.parts: dict[int, Any] = {}
        self.next_part = 1
        self.inflight: dict[Future[Any], str] = {}  # future -> "start" | "part" | "final"
        self.deadlines: dict[Future[Any], float] = {}
        self.nbytes: dict[Future[Any], int] = {}  # what each request carries (or, for a commit, stands for)
        self.outcome: Outcome | None = None
        self.last_progress = time.monotonic()
        self.suspected = False
        self._final_sent = False

    def _bound(self, kind: str, nbytes: int) -> float:
        """The hard bound of one request: every attempt connecting, sending at MIN_RATE and waiting for the answer."""
        t = self._timeouts
        answer = max(t.read, COMMIT_READ) if kind == "final" and not self.single else t.read
        bound = t.attempts * (t.connect + nbytes / MIN_RATE + answer) + t.retries * 1.0  # backoff: ~1 s a retry
        return bound * 2 if self.source.remote else bound

    def allowance(self) -> float:
        """Silence tolerated before a cloud found down is given up on: the in-flight bytes at MIN_RATE. A commit of
        parts is never given up early (the cloud took every part; assembling a large object takes it a while):
        only its hard bound applies."""
        if not self.single and "final" in self.inflight.values():
            return float("inf")
        return sum(self.nbytes.values()) / MIN_RATE

    def _submit(self, kind: str, nbytes: int, function: Callable[..., Any], *args: Any) -> None:
        future = self.cloud.pool.submit(function, *args)
        self.inflight[future] = kind
        self.nbytes[future] = nbytes
        self.deadlines[future] = time.monotonic() + self._bound(kind, nbytes)

    def _total_parts(self) -> int | None:
        if not self.source.done:
            return None
        return max(1, -(-(self.source.size or 0) // self.part_size))

    def step(self) -> None:
        """Submit whatever can be submitted now."""
        if self.outcome is not None or self._final_sent:
            return
        if self.single:
            self._final_sent = True
            self._submit("final", len(self.data), self._put)
            return
        if self.handle is None:
            if not self.inflight:
                self._submit("start", 0, self.cloud.start_parts, self.name, self.options)
            return
        total = self._total_parts()
        while sum(kind == "part" for kind in self.inflight.values()) < PARTS_IN_FLIGHT:
            number = self.next_part
            offset = (number - 1) * self.part_size
            if total is not None and number > total:
                break
            if total is None and number > MAX_PARTS:
                raise ContentMismatch(f"streams longer than {MAX_PARTS} parts need a seekable source")
            end = offset + self.part_size
            if not (self.source.ready() >= end or (self.source.done and offset < (self.source.size or 0))):
                break
            length = min(self.part_size, self.source.ready() - offset)
            self._submit("part", length, self._put_part, number, offset, length)
            self.next_part += 1
        if total is not None and len(self.parts) == total and not self.inflight:
            self.source.verify()
            self._final_sent = True
            ordered = [self.parts[number] for number in sorted(self.parts)]
            # A commit of many parts can take the cloud a while: it stands for 1/64 of the bytes in the bounds.
            self._submit("final", (self.source.size or 0) // 64, self._commit, ordered)

    def _put(self) -> str:
        return self.cloud.put(self.name, self.data, self.options, create_only=self.create_only)

    def _commit(self, parts: list[Any]) -> str:
        return self.cloud.commit_parts(self.name, self.handle, parts, self.options, create_only=self.create_only)

    def _put_part(self, number: int, offset: int, length: int) -> tuple[int, Any]:
        return number, self.cloud.put_part(self.name, self.handle, number, self.source.read(offset, length))

    def finished(self, future: Future[Any]) -> None:
        kind = self.inflight.pop(future)
        self.deadlines.pop(future, None)
        self.nbytes.pop(future, None)
        self.last_progress = time.monotonic()
        self.suspected = False
        if self.outcome is not None:
            return
        error = future.exception()
        if error is not None:
            self.give_up(error)
        elif kind == "start":
            self.handle = future.result()
        elif kind == "part":
            number, token = future.result()
            self.parts[number] = token
        elif kind == "final":
            self.outcome = Outcome(etag=str(future.result() or ""))

    def give_up(self, error: BaseException) -> None:
        """Stop this upload: drop its parts, and tell whether its final request may still land."""
        if self.outcome is not None:
            return
        final = "final" in self.inflight.values()
        self.outcome = Outcome(error, maybe_landed=final)
        if self.handle is not None and not final:
            handle, pending = self.handle, list(self.inflight)

            def abort() -> None:
                wait(pending)
                with contextlib.suppress(Exception):  # best effort; the repair command aborts stale uploads
                    self.cloud.abort_parts(self.name, handle)

            self.cloud.pool.submit(abort)


def fan_out(
    source: Source,
    uploads: list[Upload],
    *,
    failover_after: float,
    is_down: Callable[[str], bool],
    suspect: Callable[[str], None],
    late: Callable[[Upload, Future[Any]], None] | None = None,
    answered: Callable[[str], None] | None = None,
    tick: float = 0.05,
) -> dict[str, Outcome]:
    """Run the uploads to their end; a failure reading the source aborts them all and is raised.

    ``late(upload, future)`` is called (from a pool thread) when the final request of an upload that was
    given up on ends after all: the caller decides what to do with a copy that landed. ``answered(cloud)`` is
    called for every request that succeeded.
    """
    try:
        if any(upload.single for upload in uploads):
            # One read for every cloud, checked once read: no two clouds can get different bytes.
            data = source.read(0, source.size or 0)
            source.verify()
            for upload in uploads:
                upload.data = data
        while True:
            active = [upload for upload in uploads if upload.outcome is None]
            if not active:
                break
            source.pump()
            for upload in active:
                upload.step()
            futures = {future: upload for upload in active for future in upload.inflight}
            if not futures:
                if source.done:
                    continue
                continue  # the source is still being read: nothing to send yet
            done, _ = wait(futures, timeout=0 if not source.done else tick, return_when=FIRST_COMPLETED)
            for future in done:
                futures[future].finished(future)
                if answered is not None and future.exception() is None:
                    answered(futures[future].cloud.name)  # a part taken is a sign of life for health
            _watch(active, failover_after, is_down, suspect)
    except BaseException as exc:
        for upload in uploads:
            upload.give_up(exc)
        raise
    if late is not None:
        for upload in uploads:
            for future, kind in list(upload.inflight.items()):
                if kind == "final":
                    future.add_done_callback(functools.partial(late, upload))
    return {upload.cloud.name: upload.outcome or Outcome() for upload in uploads}


def _watch(
    active: list[Upload], failover_after: float, is_down: Callable[[str], bool], suspect: Callable[[str], None]
) -> None:
    now = time.monotonic()
    for upload in active:
        if upload.outcome is not None or not upload.inflight:
            continue
        silent = now - upload.last_progress
        if silent >= failover_after and not upload.suspected:
            upload.suspected = True
            suspect(upload.cloud.name)
        if silent >= failover_after + upload.allowance() and is_down(upload.cloud.name):
            upload.give_up(Stalled(f"{upload.cloud.name} is down; stopped waiting after {silent:.1f} s"))
        elif any(now > deadline for deadline in upload.deadlines.values()):
            upload.give_up(Stalled(f"no answer from {upload.cloud.name} within its bound"))
