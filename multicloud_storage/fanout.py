"""Where writes fan out: one read of the content, streamed to every target cloud at once.

The content is read once, in chunks, and each chunk is handed to one bounded queue per cloud; each
cloud's upload runs in its own thread and reads its queue like a file. Memory stays bounded (queue
depth x chunk size, plus the SDKs' own part buffers) whatever the size, and non-seekable content
works. A target that fails stops receiving chunks; the others go on.
"""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

CHUNK_SIZE = 256 * 1024
QUEUE_DEPTH = 8
_EOF = b""


class _Aborted(Exception):
    pass


class PipeReader(io.RawIOBase):
    """A read-only, non-seekable file fed by the fan-out; what each cloud's upload reads."""

    def __init__(self, name: str, content_type: str | None, size: int | None) -> None:
        super().__init__()
        self.name = name
        self.content_type = content_type
        self.size = size  # the length when the source knows it reliably (a seekable file), else None
        self.queue: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=QUEUE_DEPTH)
        self.done = threading.Event()  # set when the upload returned or gave up; the producer stops feeding it
        self._buffer = b""
        self._position = 0
        self._eof = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if (offset, whence) in ((0, io.SEEK_SET), (0, io.SEEK_CUR)) and self._position == 0:
            return 0  # django-storages rewinds before uploading; at the start that is a no-op
        raise io.UnsupportedOperation("the fan-out stream is not seekable")

    def is_empty(self) -> bool:
        """Wait for the first byte (or the end) without consuming it: True for an empty stream."""
        data = self.read(1)
        self._buffer = data + self._buffer
        self._position -= len(data)
        return not data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        chunks = [self._buffer]
        have = len(self._buffer)
        while not self._eof and (size is None or size < 0 or have < size):
            item = self.queue.get()
            if isinstance(item, BaseException):
                raise _Aborted("the content could not be read") from item
            if item == _EOF:
                self._eof = True
                break
            chunks.append(item)
            have += len(item)
        data = b"".join(chunks)
        if size is not None and size >= 0:
            data, self._buffer = data[:size], data[size:]
        else:
            self._buffer = b""
        self._position += len(data)
        return data


def _known_size(content: Any) -> int | None:
    try:
        if content.seekable():
            return int(content.size)
    except (AttributeError, OSError, TypeError, ValueError):
        pass
    return None


def _chunks(content: Any) -> Iterable[bytes]:
    if hasattr(content, "chunks"):
        yield from content.chunks(CHUNK_SIZE)
        return
    while chunk := content.read(CHUNK_SIZE):
        yield chunk


def fan_out(
    name: str, content: Any, uploads: Mapping[str, Callable[[Any], object]]
) -> dict[str, BaseException | None]:
    """Run ``uploads[cloud](stream)`` for every cloud with the same bytes; return each cloud's error or None.

    An error reading ``content`` itself is raised (after every upload was aborted).
    """
    content_type = getattr(content, "content_type", None)
    size = _known_size(content)
    pipes = {cloud: PipeReader(name, content_type, size) for cloud in uploads}
    errors: dict[str, BaseException | None] = {cloud: None for cloud in uploads}

    def run(cloud: str) -> None:
        try:
            uploads[cloud](pipes[cloud])
        except BaseException as exc:
            errors[cloud] = exc
        finally:
            pipes[cloud].done.set()

    threads = [threading.Thread(target=run, args=(c,), name=f"multicloud-upload-{c}", daemon=True) for c in uploads]
    for thread in threads:
        thread.start()
    try:
        for chunk in _chunks(content):
            if isinstance(chunk, str):
                chunk = chunk.encode()
            if all(pipe.done.is_set() for pipe in pipes.values()):
                break  # every upload gave up: no reason to read further
            if chunk:
                _feed(pipes.values(), chunk)
        _feed(pipes.values(), _EOF)
    except BaseException as exc:
        _feed(pipes.values(), exc)
        for thread in threads:
            thread.join()
        raise
    for thread in threads:
        thread.join()
    return errors


def _feed(pipes: Iterable[PipeReader], item: bytes | BaseException) -> None:
    for pipe in pipes:
        while not pipe.done.is_set():
            try:
                pipe.queue.put(item, timeout=0.1)
                break
            except queue.Full:
                continue
