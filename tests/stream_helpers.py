"""The stream tests' web processes (``devstack.WebProcess``) and a raw-socket SSE reader.

The reader speaks HTTP/1.1 on a plain socket (so a test controls the receive buffer,
sees the very first body bytes and when they came, and can stop reading) and parses
text/event-stream as a browser does: lines end only at CR, LF or CRLF, ``:`` starts a
comment, an empty line dispatches the event.
"""
from __future__ import annotations

import codecs
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field

from devstack import ROOT, WebProcess, start_web_processes

from .services import process_environment

__all__ = ["ROOT", "Event", "SSEStream", "WebProcess", "bearer", "server_environment", "start_web_processes"]

EVENT_NAMES = {"payment:update", "wallet:update", "payout:update", "resync"}


def server_environment(database_url: str, redis_url: str, stripe_url: str, **overrides) -> dict:
    return process_environment(database_url, redis_url, stripe_url, **{
        "WEB_CONCURRENCY": 1, "SSE_HEARTBEAT_SECONDS": 1, "LOG_LEVEL": "WARNING", **overrides})


@dataclass
class Event:
    event: str
    data: str
    id: str | None  # the id: field of this event's own block (None when it has none)
    received_at: float = field(default=0.0, compare=False)

    @property
    def json(self) -> dict:
        return json.loads(self.data)


class SSEStream:
    """One ``GET`` of an event stream on a raw socket, read by a background thread."""

    def __init__(self, port: int, path: str = "/payments/stream", *, headers: dict | None = None,
                 rcvbuf: int | None = None, read: bool = True):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port))
        self.sock.settimeout(None)
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept: text/event-stream",
                 "Accept-Encoding: gzip, deflate, br", "Cache-Control: no-cache"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.opened_at = time.monotonic()
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.body = b""  # the raw (de-chunked) body, as received
        self.first_body_at: float | None = None
        self.events: list[Event] = []
        self.comments: list[tuple[str, float]] = []
        self.retry: str | None = None
        self.last_event_id: str | None = None  # as a browser keeps it (ids of earlier blocks carry over)
        self.ended_cleanly = False  # the server sent the last chunk
        self.error: BaseException | None = None
        self.closed_by_us = False

        self._condition = threading.Condition()
        self._ended = threading.Event()
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._text = ""
        self._block: dict = {"data": [], "event": None, "id": None}
        self._thread = threading.Thread(target=self._run, name=f"sse-reader-{port}", daemon=True)
        if read:
            self._thread.start()

    # --- control -----------------------------------------------------------------------

    def start_reading(self) -> None:
        if not self._thread.is_alive() and not self._ended.is_set():
            self._thread.start()

    def close(self) -> None:
        self.closed_by_us = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        if self._thread.is_alive():
            self._thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- waiting -----------------------------------------------------------------------

    def wait(self, predicate, timeout: float = 10.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                result = predicate()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self._ended.is_set() and not predicate()):
                    raise AssertionError(f"{what} not met within {timeout}s (status {self.status}, ended "
                                         f"{self._ended.is_set()}, events {[(e.id, e.event) for e in self.events]}, "
                                         f"comments {[c for c, _ in self.comments]})")
                self._condition.wait(min(remaining, 0.1))

    def wait_open(self, timeout: float = 10.0) -> "SSEStream":
        """Until the first body bytes came, which the server sends before it subscribes: a test
        that publishes next must also wait for the subscription (or for a heartbeat)."""
        self.wait(lambda: self.first_body_at is not None, timeout, "first bytes")
        assert self.status == 200, (self.status, self.body)
        return self

    def wait_events(self, count: int, timeout: float = 10.0) -> list[Event]:
        self.wait(lambda: len(self.events) >= count, timeout, f"{count} events")
        return list(self.events)

    def wait_heartbeats(self, count: int, timeout: float = 10.0) -> None:
        self.wait(lambda: len(self.heartbeats()) >= count, timeout, f"{count} heartbeats")

    def wait_ended(self, timeout: float = 10.0) -> float:
        """Seconds from now until the server ended the stream."""
        started = time.monotonic()
        if not self._ended.wait(timeout):
            raise AssertionError(f"the stream was still open after {timeout}s; comments "
                                 f"{[c for c, _ in self.comments]}")
        return time.monotonic() - started

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    def heartbeats(self) -> list[float]:
        return [at for text, at in self.comments if "heartbeat" in text]

    def names(self) -> list[str]:
        return [event.event for event in self.events]

    # --- reading -----------------------------------------------------------------------

    def _run(self) -> None:
        buffer = b""
        try:
            while b"\r\n\r\n" not in buffer:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed before the response headers")
                buffer += chunk
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            for line in header_lines:
                name, _, value = line.partition(":")
                self.headers[name.strip().lower()] = value.strip()
            with self._condition:
                self.status = int(status_line.split()[1])
                self._condition.notify_all()
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                self._read_chunked(buffer)
            else:
                length = self.headers.get("content-length")
                self._read_plain(buffer, int(length) if length is not None else None)
        except OSError as exc:
            if not self.closed_by_us:
                self.error = exc
        except Exception as exc:  # a malformed answer: kept for the test to see
            self.error = exc
        finally:
            self._feed(b"", final=True)
            with self._condition:
                self._ended.set()
                self._condition.notify_all()

    def _recv_more(self, buffer: bytes) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the connection closed mid-body")
        return buffer + chunk

    def _read_chunked(self, buffer: bytes) -> None:
        while True:
            while b"\r\n" not in buffer:
                buffer = self._recv_more(buffer)
            size_line, buffer = buffer.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                self.ended_cleanly = True
                return
            while len(buffer) < size + 2:
                buffer = self._recv_more(buffer)
            self._feed(buffer[:size])
            buffer = buffer[size + 2:]

    def _read_plain(self, buffer: bytes, length: int | None) -> None:
        if buffer:
            self._feed(buffer)
        received = len(buffer)
        while length is None or received < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            received += len(chunk)
            self._feed(chunk)
        self.ended_cleanly = length is not None and received >= length

    def _feed(self, data: bytes, final: bool = False) -> None:
        now = time.monotonic()
        with self._condition:
            if data and self.first_body_at is None:
                self.first_body_at = now
            self.body += data
            self._text += self._decoder.decode(data, final=final)
            while True:
                match = re.search(r"\r\n|\r|\n", self._text)
                if match is None:
                    break
                if match.group() == "\r" and match.end() == len(self._text) and not final:
                    break  # may be the first half of a CRLF
                line, self._text = self._text[:match.start()], self._text[match.end():]
                self._line(line, now)
            self._condition.notify_all()

    def _line(self, line: str, now: float) -> None:
        block = self._block
        if line == "":
            if block["data"] or block["event"] is not None:
                self.events.append(Event(block["event"] or "message", "\n".join(block["data"]), block["id"], now))
            self._block = {"data": [], "event": None, "id": None}
            return
        if line.startswith(":"):
            self.comments.append((line[1:].removeprefix(" "), now))
            return
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            block["data"].append(value)
        elif name == "event":
            block["event"] = value
        elif name == "id":
            block["id"] = value
            self.last_event_id = value
        elif name == "retry":
            self.retry = value


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}
