"""Browser-like SSE clients for the soak run: they reconnect with Last-Event-ID, as EventSource does."""
from __future__ import annotations

import asyncio
import json
import threading
import time


class SoakClient:
    def __init__(self, user_id: str, token: str, port: int):
        self.user_id = user_id
        self.token = token
        self.port = port
        self.last_id: str | None = None
        self.updates: list[tuple[str, dict, float]] = []  # (event, data, received at)
        self.resyncs: list[float] = []
        self.refused: list[str] = []  # answers other than 200: a browser would stop for good
        self.connections = 0
        self.first_open: float | None = None
        self.writer = None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._stream(stop)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                pass
            if not stop.is_set():
                await asyncio.sleep(0.5)

    async def _stream(self, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 22)
        self.writer = writer
        query = f"?lastEventId={self.last_id}" if self.last_id else ""
        writer.write((f"GET /payments/stream{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                      f"Authorization: Bearer {self.token}\r\n\r\n").encode())
        await writer.drain()
        status = await reader.readline()
        if not status:
            return
        if b" 200 " not in status:
            self.refused.append(status.decode(errors="replace").strip())
            writer.close()
            return
        chunked = False
        while True:
            header = await reader.readline()
            if header in (b"\r\n", b""):
                break
            if header.lower().startswith(b"transfer-encoding:") and b"chunked" in header.lower():
                chunked = True
        self.connections += 1
        if self.first_open is None:
            self.first_open = time.time()
        buffer = ""
        while not stop.is_set():
            if chunked:
                size_line = await reader.readline()
                if not size_line:
                    return
                size = int(size_line.strip() or b"0", 16)
                if size == 0:
                    return
                chunk = await reader.readexactly(size + 2)
                buffer += chunk[:-2].decode()
            else:
                data = await reader.read(65536)
                if not data:
                    return
                buffer += data.decode()
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                self._handle(block)

    def _handle(self, block: str) -> None:
        fields = {"data": []}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                fields["data"].append(value)
            else:
                fields[name] = value
        if "id" in fields:  # as a browser does: a bare id sets the last event id too
            self.last_id = fields["id"]
        if "event" not in fields:
            return
        if fields["event"] == "resync":
            self.resyncs.append(time.time())
            return
        self.updates.append((fields["event"], json.loads("\n".join(fields["data"])), time.time()))


class ClientFleet:
    """All clients on one asyncio loop in a background thread."""

    def __init__(self, clients: list[SoakClient]):
        self.clients = clients
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.stop_event = asyncio.run_coroutine_threadsafe(self._make_event(), self.loop).result()
        self.tasks = [asyncio.run_coroutine_threadsafe(client.run(self.stop_event), self.loop) for client in clients]

    @staticmethod
    async def _make_event() -> asyncio.Event:
        return asyncio.Event()

    def wait_connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(client.first_open for client in self.clients):
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        def close():
            self.stop_event.set()
            for client in self.clients:
                if client.writer is not None:
                    client.writer.close()

        self.loop.call_soon_threadsafe(close)
        for task in self.tasks:
            try:
                task.result(timeout=5)
            except Exception:
                pass
        self.loop.call_soon_threadsafe(self.loop.stop)
