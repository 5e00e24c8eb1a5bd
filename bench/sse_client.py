"""Many concurrent SSE readers in one asyncio process, measuring delivery latency."""
from __future__ import annotations

import asyncio
import json
import time


class Reader:
    """One open stream: counts the first bytes and the latency of every timed event."""

    def __init__(self, user: str, *, opens_silently: bool = False):
        self.user = user
        # A server that sends nothing until the first event (flask-sse) counts as open once asked.
        self.opens_silently = opens_silently
        self.opened = asyncio.Event()
        self.latencies: list[float] = []
        self.arrivals: list[tuple[str, float]] = []  # (paymentId, when) of payment updates
        self.writer = None
        self.task = None

    async def run(self, port: int, path: str, headers: dict) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        self.writer = writer
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n{head}\r\n".encode())
        await writer.drain()
        if self.opens_silently:
            self.opened.set()
        status = await reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"stream refused: {status!r}")
        while (await reader.readline()) not in (b"\r\n", b""):
            pass  # response headers
        while True:
            line = await reader.readline()
            if not line:
                return
            # payflow sends the stream's resume position (a bare id:) once it is subscribed.
            if b"id: " in line or self.opens_silently:
                self.opened.set()
            if b'"sentAt"' in line or b'"paymentId"' in line:
                start = line.find(b"{")
                if start >= 0:
                    received = time.time()
                    data = json.loads(line[start:line.rfind(b"}") + 1])
                    if "sentAt" in data:
                        self.latencies.append(received - data["sentAt"])
                    elif data.get("paymentId"):
                        self.arrivals.append((data["paymentId"], received))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.task is not None:
            self.task.cancel()


async def open_streams(port: int, paths_and_headers: list[tuple[str, str, dict]], batch: int = 250,
                       opens_silently: bool = False) -> list[Reader]:
    readers = []
    for start in range(0, len(paths_and_headers), batch):
        chunk = []
        for user, path, headers in paths_and_headers[start:start + batch]:
            reader = Reader(user, opens_silently=opens_silently)
            reader.task = asyncio.ensure_future(reader.run(port, path, headers))
            chunk.append(reader)
        await asyncio.wait_for(asyncio.gather(*(r.opened.wait() for r in chunk)), timeout=120)
        readers.extend(chunk)
    return readers
