"""A TCP proxy on loopback in front of an emulator: faults, HTTP answers chosen by the test, and link shaping.

Modes, switched by tests with ``set(mode)``:

- pass:   forward both ways.
- refuse: nothing listens on the port (connect gets ECONNREFUSED); open connections are reset.
- hang:   connections are accepted, nothing is forwarded or answered; open connections stall too.
- reset:  connections are accepted and reset at once; open connections are reset.

HTTP answers: ``answer(status, body, headers, method=..., path=..., times=...)`` adds a rule; a request it
matches is not forwarded, the proxy answers it itself (with ``Connection: close``) and closes the connection.
Rules also apply to later requests on connections that are already open (the SDKs pool keep-alive
connections): the client-to-upstream bytes are parsed for request boundaries (request line and headers,
then the body by Content-Length or chunked transfer-encoding) while they are relayed. Responses are not
parsed: the SDKs do not pipeline, so when a request starts the previous response is complete.
``s3_error`` and ``azure_error`` build cloud-shaped errors for it::

    proxy.answer(*s3_error(403, "AccessDenied"), method="HEAD", path=r"/photos/cat\\.jpg$")
    proxy.answer(*azure_error(503, "ServerBusy"), times=1)
    proxy.answer(503)  # every request, until heal()

Counters: ``accepted`` (connections), ``requests`` (HTTP requests seen), ``answered`` (by a rule), and
``recent``, the (method, target) of the last 1000 requests: what a test or a benchmark can count round trips by.

Shaping (constructor options, for benchmarks): ``latency`` seconds are added in each direction as a
pipeline delay (every chunk is released ``latency`` after it arrived; throughput is not reduced), and
``rate`` bytes per second per direction is shared by all the connections of the proxy (None: unlimited).
``FaultProxy(port, latency=0.010, rate=25e6)`` is a 20 ms round trip at 25 MB/s.
"""

from __future__ import annotations

import contextlib
import http
import queue
import re
import select
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from email.utils import formatdate
from typing import Any
from xml.sax.saxutils import escape

MODES = ("pass", "refuse", "hang", "reset")
BUFFER_SIZE = 256 * 1024  # one recv
MAX_HEAD = 64 * 1024  # a request head larger than this is not HTTP we understand: relay it as opaque bytes
DRAIN_IDLE = 2.0  # after an answer, the request body still coming is read and dropped until this long idle
DRAIN_MAX = 60.0
_PACER_CREDIT = 0.005  # seconds of an idle link's rate that a sender may use at once

Headers = Mapping[str, str] | Iterable[tuple[str, str]] | None


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _nodelay(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


# Cloud-shaped errors: (status, body, headers), to pass to FaultProxy.answer(*...).


def s3_error(status: int, code: str, message: str = "") -> tuple[int, bytes, dict[str, str]]:
    """An S3 error response: ``<Error><Code>..</Code><Message>..</Message></Error>`` (no body on HEAD, as S3)."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message or code)}</Message>"
        "<RequestId>FAULTPROXY</RequestId><HostId>faultproxy</HostId></Error>"
    ).encode()
    return status, body, {"Content-Type": "application/xml", "x-amz-request-id": "FAULTPROXY"}


def azure_error(status: int, code: str, message: str = "") -> tuple[int, bytes, dict[str, str]]:
    """An Azure Storage error response: XML body and the ``x-ms-error-code`` header (sent on HEAD too)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime())
    text = f"{message or code}\nRequestId:00000000-0000-0000-0000-000000000000\nTime:{now}"
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(text)}</Message></Error>"
    ).encode()
    headers = {
        "Content-Type": "application/xml",
        "x-ms-error-code": code,
        "x-ms-request-id": "00000000-0000-0000-0000-000000000000",
        "x-ms-version": "2025-01-05",
    }
    return status, body, headers


class Rule:
    """One answer the proxy gives instead of forwarding; ``hits`` counts the requests it answered."""

    def __init__(
        self, status: int, body: bytes, headers: Headers, method: str | None, path: str | None, times: int | None
    ) -> None:
        self.status = status
        self.body = body
        self.headers = list(headers.items() if isinstance(headers, Mapping) else headers or [])
        self.method = method.upper() if method else None
        self.path = re.compile(path) if path is not None else None
        self.times = times
        self.hits = 0

    def matches(self, method: str, target: str) -> bool:
        return (self.method is None or self.method == method) and (self.path is None or bool(self.path.search(target)))

    def response(self, method: str) -> bytes:
        try:
            reason = http.HTTPStatus(self.status).phrase
        except ValueError:
            reason = "Status"
        names = {name.lower() for name, _ in self.headers}
        lines = [f"HTTP/1.1 {self.status} {reason}"]
        lines += [f"{name}: {value}" for name, value in self.headers if name.lower() != "connection"]
        if "content-length" not in names:
            lines.append(f"Content-Length: {len(self.body)}")
        if "date" not in names:
            lines.append(f"Date: {formatdate(usegmt=True)}")
        lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if method == "HEAD" or self.status in (204, 304) else head + self.body

    def __repr__(self) -> str:
        pattern = self.path.pattern if self.path else None
        return f"<Rule {self.status} method={self.method} path={pattern!r} times={self.times} hits={self.hits}>"


class RequestParser:
    """Finds request boundaries in a client-to-server HTTP/1.1 byte stream fed in arbitrary pieces.

    ``feed(data)`` yields ("head", method, target, head_bytes) for each complete request head (the caller
    forwards head_bytes or answers the request itself) and ("data", bytes) for everything else, to forward
    as is. Bodies are skipped by Content-Length or chunked transfer-encoding. Something that is not HTTP
    turns the parser into a pass-through.
    """

    HEAD, BODY, CHUNK_SIZE, CHUNK_DATA, TRAILER, OPAQUE = range(6)

    def __init__(self) -> None:
        self.state = self.HEAD
        self._head = bytearray()
        self._line = bytearray()
        self._remaining = 0

    def feed(self, data: bytes) -> Iterator[tuple[Any, ...]]:
        pos, end = 0, len(data)
        while pos < end:
            state = self.state
            if state == self.OPAQUE:
                yield ("data", data[pos:] if pos else data)
                return
            if state in (self.BODY, self.CHUNK_DATA):
                take = min(self._remaining, end - pos)
                yield ("data", data if take == end and pos == 0 else data[pos : pos + take])
                pos += take
                self._remaining -= take
                if not self._remaining:
                    self.state = self.HEAD if state == self.BODY else self.CHUNK_SIZE
            elif state in (self.CHUNK_SIZE, self.TRAILER):
                newline = data.find(b"\n", pos)
                stop = end if newline < 0 else newline + 1
                self._line += data[pos:stop]
                yield ("data", data[pos:stop])
                pos = stop
                if newline >= 0:
                    self._line_done()
                elif len(self._line) > MAX_HEAD:
                    self.state = self.OPAQUE
            else:  # HEAD
                before = len(self._head)
                self._head += data[pos:]
                if before == 0 and self._head[:1] in (b"\r", b"\n"):  # stray CRLF between requests
                    stripped = bytes(self._head[: len(self._head) - len(self._head.lstrip(b"\r\n"))])
                    self._head.clear()  # it held data[pos:] only; the rest is read again below
                    yield ("data", stripped)
                    pos += len(stripped)
                    continue
                found = self._head.find(b"\r\n\r\n", max(0, before - 3))
                if found < 0:
                    if len(self._head) > MAX_HEAD:
                        self.state = self.OPAQUE
                        yield ("data", bytes(self._head))
                        self._head.clear()
                    return
                head = bytes(self._head[: found + 4])
                self._head.clear()
                pos += found + 4 - before
                parsed = self._parse_head(head)
                if parsed is None:
                    self.state = self.OPAQUE
                    yield ("data", head)
                    continue
                yield ("head", parsed[0], parsed[1], head)

    def _parse_head(self, head: bytes) -> tuple[str, str] | None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return None
        length, chunked = 0, False
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                continue
            name = name.strip().lower()
            if name == "content-length":
                try:
                    length = int(value.strip())
                except ValueError:
                    return None
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        if chunked:
            self.state = self.CHUNK_SIZE
        elif length > 0:
            self.state, self._remaining = self.BODY, length
        else:
            self.state = self.HEAD
        return parts[0], parts[1]

    def _line_done(self) -> None:
        line = bytes(self._line).strip()
        self._line.clear()
        if self.state == self.TRAILER:
            if not line:
                self.state = self.HEAD
            return
        try:
            size = int(line.split(b";", 1)[0].strip() or b"x", 16)
        except ValueError:
            self.state = self.OPAQUE
            return
        if size == 0:
            self.state = self.TRAILER
        else:
            self.state, self._remaining = self.CHUNK_DATA, size + 2  # the data and its CRLF


class _Pacer:
    """A byte rate shared by every connection of one proxy in one direction (a virtual clock)."""

    def __init__(self, rate: float) -> None:
        self.rate = float(rate)
        self._lock = threading.Lock()
        self._next = 0.0

    def pace(self, size: int) -> None:
        """Return when ``size`` more bytes have been sent through the link (they are fully serialised)."""
        with self._lock:
            now = time.monotonic()
            # A little credit for a link that was idle (or a sleep that overshot): the rate holds when busy.
            self._next = max(self._next, now - _PACER_CREDIT) + size / self.rate
            wait = self._next - now
        if wait > 0:
            time.sleep(wait)


_STOP = object()


class _Direction:
    """One direction of a relayed connection: paced, delayed, then written to ``dst``."""

    def __init__(self, link: _Link, dst: socket.socket, pacer: _Pacer | None, latency: float, name: str) -> None:
        self.link, self.dst, self.pacer, self.latency = link, dst, pacer, latency
        self.queue: queue.SimpleQueue[tuple[float, Any]] | None = None
        if latency > 0:
            self.queue = queue.SimpleQueue()
            threading.Thread(target=self._writer, name=name, daemon=True).start()

    def send(self, data: bytes) -> None:
        if not data:
            return
        if self.pacer is not None:
            for start in range(0, len(data), 65536):  # smooth enough for concurrent connections
                self.pacer.pace(min(65536, len(data) - start))
        if self.queue is not None:
            self.queue.put((time.monotonic() + self.latency, data))
        else:
            self.link.wait_while_hanging()
            self.dst.sendall(data)

    def finish(self) -> None:
        """The source closed: close the connection once what was sent before has been delivered."""
        if self.queue is not None:
            self.queue.put((time.monotonic() + self.latency, None))
        else:
            self.link.close()

    def stop(self) -> None:
        if self.queue is not None:
            self.queue.put((0.0, _STOP))

    def _writer(self) -> None:
        assert self.queue is not None
        while True:
            release, data = self.queue.get()
            if data is _STOP:
                return
            delay = release - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if data is None:
                self.link.close()
                return
            try:
                self.link.wait_while_hanging()
                self.dst.sendall(data)
            except (OSError, ValueError):
                self.link.close()
                return


class _Link:
    """One client connection relayed to the upstream."""

    def __init__(self, proxy: FaultProxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream: socket.socket | None = None
        self.closed = False
        self.answering = False
        self._close_lock = threading.Lock()
        self._directions: list[_Direction] = []

    def wait_while_hanging(self) -> None:
        while self.proxy.mode == "hang" and not self.closed:
            time.sleep(0.02)
        if self.proxy.mode != "pass" or self.closed:
            raise OSError("the proxy stopped relaying this connection")

    def serve(self) -> None:
        proxy = self.proxy
        with proxy._lock:
            proxy._connections.add(self.client)
        try:
            while proxy.mode == "hang":
                time.sleep(0.02)
            if proxy.mode != "pass":
                return
            upstream = socket.create_connection((proxy.upstream_host, proxy.upstream_port))
            self.upstream = upstream
            _nodelay(upstream)
            with proxy._lock:
                proxy._connections.add(upstream)
            if proxy.mode != "pass":
                return
            to_upstream = _Direction(self, upstream, proxy._pacers[0], proxy.latency, f"faultproxy-{proxy.port}-up")
            to_client = _Direction(self, self.client, proxy._pacers[1], proxy.latency, f"faultproxy-{proxy.port}-down")
            self._directions = [to_upstream, to_client]
            threading.Thread(
                target=self._pump, args=(upstream, to_client, None), name=f"faultproxy-{proxy.port}", daemon=True
            ).start()
            self._pump(self.client, to_upstream, RequestParser())
        except (OSError, ValueError):
            self.close()
        finally:
            if self.upstream is None:
                self.close()

    def _pump(self, src: socket.socket, direction: _Direction, parser: RequestParser | None) -> None:
        proxy = self.proxy
        try:
            while not self.closed:
                if proxy.mode == "hang":
                    time.sleep(0.02)
                    continue
                if proxy.mode != "pass":
                    break
                ready, _, _ = select.select([src], [], [], 0.05)
                if not ready:
                    continue
                data = src.recv(BUFFER_SIZE)
                if not data:
                    if not self.answering:
                        direction.finish()
                    return
                if parser is None:
                    direction.send(data)
                    continue
                for event in parser.feed(data):
                    if event[0] == "data":
                        direction.send(event[1])
                        continue
                    _, method, target, head = event
                    rule = proxy._take_rule(method, target)
                    if rule is None:
                        direction.send(head)
                    else:
                        self._answer(rule, method)
                        return
        except (OSError, ValueError):
            pass
        if not self.answering:
            self.close()

    def _answer(self, rule: Rule, method: str) -> None:
        """Answer the request with the rule, read and drop what the client still sends, then close."""
        self.answering = True
        client = self.client
        try:
            if self.proxy.latency:
                time.sleep(2 * self.proxy.latency)  # the round trip a real answer would take
            client.sendall(rule.response(method))
            client.shutdown(socket.SHUT_WR)
            started = idle_since = time.monotonic()
            while True:
                now = time.monotonic()
                if now - idle_since > DRAIN_IDLE or now - started > DRAIN_MAX:
                    break
                ready, _, _ = select.select([client], [], [], 0.05)
                if ready:
                    if not client.recv(BUFFER_SIZE):
                        break  # the client read the answer and closed
                    idle_since = time.monotonic()
        except (OSError, ValueError):
            pass
        finally:
            self.close()

    def close(self) -> None:
        with self._close_lock:
            if self.closed:
                return
            self.closed = True
        for direction in self._directions:
            direction.stop()
        with self.proxy._lock:
            for sock in (self.client, self.upstream):
                if sock is not None:
                    self.proxy._connections.discard(sock)
                    with contextlib.suppress(OSError):
                        sock.close()


class FaultProxy:
    def __init__(
        self,
        upstream_port: int,
        host: str = "127.0.0.1",
        *,
        latency: float = 0.0,
        rate: float | None = None,
        upstream_host: str = "127.0.0.1",
    ) -> None:
        if latency < 0 or (rate is not None and rate <= 0):
            raise ValueError("latency must be >= 0 and rate > 0 (or None)")
        self.host = host
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.latency = float(latency)  # seconds added in each direction
        self.rate = rate  # bytes per second per direction, shared by all connections; None: unlimited
        self._pacers = (_Pacer(rate), _Pacer(rate)) if rate else (None, None)
        self.mode = "pass"
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._held: socket.socket | None = None  # holds the port while refusing
        self._connections: set[socket.socket] = set()
        self._rules: list[Rule] = []
        self._stopped = False
        self.accepted = 0  # connections accepted so far: lets a test prove a cloud was never contacted
        self.answered = 0  # requests answered by a rule instead of the upstream
        self.requests = 0  # HTTP requests seen (answered or forwarded)
        self.recent: deque[tuple[str, str]] = deque(maxlen=1000)  # (method, target) of the latest requests
        self._listen(0)
        self.port = self._listener.getsockname()[1]  # type: ignore[union-attr]
        threading.Thread(target=self._accept_loop, name=f"faultproxy-{self.port}", daemon=True).start()

    def _listen(self, port: int) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, port))
        listener.listen(128)
        self._listener = listener

    def _hold(self, port: int) -> socket.socket:
        """Bind ``port`` without listening. The closed listener lingers until the accept loop's select() returns
        (at most 50 ms): retry until then."""
        held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for _ in range(50):
            try:
                held.bind((self.host, port))
                return held
            except OSError:
                time.sleep(0.01)
        held.bind((self.host, port))  # the error, if the port is really taken
        return held

    def set(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; use one of {MODES}")
        with self._lock:
            self.mode = mode
            if mode in ("refuse", "reset"):
                for conn in list(self._connections):
                    _reset(conn)
                self._connections.clear()
            if mode == "refuse" and self._listener is not None:
                # A bound socket that does not listen: connections are refused, and the port stays ours (no
                # other process can take it before heal() listens on it again).
                self._listener.close()
                self._listener = None
                self._held = self._hold(self.port)
            elif mode != "refuse" and self._listener is None:
                self._listen(self.port)
                if self._held is not None:
                    self._held.close()
                    self._held = None

    def answer(
        self,
        status: int,
        body: bytes | str = b"",
        headers: Headers = None,
        *,
        method: str | None = None,
        path: str | None = None,
        times: int | None = None,
    ) -> Rule:
        """Answer matching requests with ``status``, ``headers`` and ``body`` instead of forwarding them.

        ``method``: only requests with this method; ``path``: only requests whose target (path and query,
        as sent, percent-encoded) matches this regex (``re.search``); ``times``: answer at most this many
        requests (None: until ``heal()``). The first matching rule, in the order added, answers.
        """
        if isinstance(body, str):
            body = body.encode()
        rule = Rule(status, body, headers, method, path, times)
        with self._lock:
            self._rules.append(rule)
        return rule

    @property
    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    def _take_rule(self, method: str, target: str) -> Rule | None:
        with self._lock:
            self.requests += 1
            self.recent.append((method, target))
            for rule in self._rules:
                if (rule.times is None or rule.hits < rule.times) and rule.matches(method, target):
                    rule.hits += 1
                    self.answered += 1
                    return rule
        return None

    def heal(self) -> None:
        """Back to pass, with no answer rules."""
        with self._lock:
            self._rules.clear()
        self.set("pass")

    def close(self) -> None:
        self._stopped = True
        with self._lock:
            self._rules.clear()
        self.set("refuse")
        if self._held is not None:
            self._held.close()
            self._held = None

    def _accept_loop(self) -> None:
        while not self._stopped:
            listener = self._listener
            if listener is None:
                time.sleep(0.02)
                continue
            try:
                ready, _, _ = select.select([listener], [], [], 0.05)
                if not ready:
                    continue
                client, _ = listener.accept()
            except (OSError, ValueError):
                continue  # the listener was closed under us (refuse)
            self.accepted += 1
            if self.mode == "reset":
                _reset(client)
                continue
            _nodelay(client)
            threading.Thread(target=_Link(self, client).serve, name=f"faultproxy-{self.port}", daemon=True).start()
