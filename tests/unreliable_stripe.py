"""localstripe behind a proxy that loses answers, for tests of calls whose outcome is unknown.

A request the proxy is told to drop reaches localstripe (so what it asks for happens) and
the connection is then closed without an answer (so the caller cannot know). As with
Stripe, a repeat with the same ``Idempotency-Key`` gets the first answer and does not
happen again: that is what makes asking again safe.
"""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

_FORWARDED = ("Authorization", "Content-Type", "Stripe-Version", "Stripe-Account", "Idempotency-Key")


class UnreliableStripe:
    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.lock = threading.Lock()
        self.rules: list[list] = []  # [method, path prefix, answers left to drop]
        self.answers: dict[tuple, tuple[int, bytes, str]] = {}
        self.requests: list[tuple[str, str, bool]] = []  # (method, path, answered)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.proxy = self
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def drop_answers(self, method: str, path: str, times: int) -> None:
        """Lose the answers of the next ``times`` requests of ``method`` on paths starting with ``path``."""
        with self.lock:
            self.rules.append([method, path, times])

    def count(self, method: str, path: str) -> int:
        with self.lock:
            return sum(1 for m, p, _ in self.requests if m == method and p.startswith(path))

    def _drop(self, method: str, path: str) -> bool:
        with self.lock:
            for rule in self.rules:
                if rule[0] == method and path.startswith(rule[1]) and rule[2] > 0:
                    rule[2] -= 1
                    return True
        return False

    def relay(self, method: str, path: str, headers, body: bytes) -> tuple[int, bytes, str]:
        key = headers.get("Idempotency-Key")
        cache_key = (method, key) if key else None
        with self.lock:
            cached = self.answers.get(cache_key) if cache_key else None
        if cached is not None:
            return cached
        forwarded = {name: headers[name] for name in _FORWARDED if headers.get(name)}
        response = requests.request(method, self.upstream + path, data=body, headers=forwarded, timeout=30)
        answer = (response.status_code, response.content, response.headers.get("Content-Type", "application/json"))
        if cache_key and response.status_code < 500:
            with self.lock:
                self.answers.setdefault(cache_key, answer)
        return answer

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: a dropped answer is a closed socket

    def _handle(self) -> None:
        proxy: UnreliableStripe = self.server.proxy
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, content, content_type = proxy.relay(self.command, self.path, self.headers, body)
        dropped = proxy._drop(self.command, self.path)
        with proxy.lock:
            proxy.requests.append((self.command, self.path, not dropped))
        if dropped:
            self.close_connection = True
            return
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_DELETE = _handle

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass
