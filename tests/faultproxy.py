"""A TCP proxy on loopback in front of an emulator, switched by tests between pass, refuse, hang and reset.

- pass:   forward both ways.
- refuse: nothing listens on the port (connect gets ECONNREFUSED); open connections are reset.
- hang:   connections are accepted, nothing is forwarded or answered; open connections stall too.
- reset:  connections are accepted and reset at once; open connections are reset.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time

MODES = ("pass", "refuse", "hang", "reset")


def _reset(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class FaultProxy:
    def __init__(self, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.upstream_port = upstream_port
        self.mode = "pass"
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._stopped = False
        self.accepted = 0  # connections accepted so far: lets a test prove a cloud was never contacted
        self._listen(0)
        self.port = self._listener.getsockname()[1]  # type: ignore[union-attr]
        threading.Thread(target=self._accept_loop, name=f"faultproxy-{self.port}", daemon=True).start()

    def _listen(self, port: int) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, port))
        listener.listen(128)
        self._listener = listener

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
                self._listener.close()
                self._listener = None
            elif mode != "refuse" and self._listener is None:
                self._listen(self.port)

    def heal(self) -> None:
        self.set("pass")

    def close(self) -> None:
        self._stopped = True
        self.set("refuse")

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
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = None
        with self._lock:
            self._connections.add(client)
        try:
            while self.mode == "hang":
                time.sleep(0.02)
            if self.mode != "pass":
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            with self._lock:
                self._connections.add(upstream)
            peers = {client: upstream, upstream: client}
            while True:
                if self.mode == "hang":
                    time.sleep(0.02)
                    continue
                if self.mode != "pass":
                    return
                ready, _, _ = select.select(list(peers), [], [], 0.05)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                for sock in (client, upstream):
                    if sock is not None:
                        self._connections.discard(sock)
                        try:
                            sock.close()
                        except OSError:
                            pass
