"""A Stripe stand-in that can be slow, silent or forgetful, in front of localstripe.

It forwards every request to localstripe and adds what a client of the real Stripe can
meet and localstripe cannot show:

* Stripe's idempotency: a request repeating an ``Idempotency-Key`` gets the first
  answer again (nothing is done twice), another body with the same key gets 400
  ``idempotency_error``, and a repeat while the first is still being done gets 409;
* ``hold(...)``: answers wait until the test releases them (a slow Stripe);
* ``drop_answers(...)``: the request is done at Stripe but the connection closes
  before the answer (a lost answer); repeats of it lose their answer too, until
  ``clear()``, so the library's own retries cannot recover it;
* ``answer_with(...)``: an error answer without doing anything (a 5xx, a 429, a 4xx);
* the ``created`` filter of ``GET /v1/payouts``, which localstripe refuses.

Every request is logged, with whether it reached localstripe (``executed``).
"""
from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests

FORWARDED_HEADERS = ("Authorization", "Content-Type", "Stripe-Version", "Stripe-Account", "User-Agent")


@dataclass
class Gate:
    """Holds the answers of matching requests until ``release()``."""

    arrived: threading.Event = field(default_factory=threading.Event)
    opened: threading.Event = field(default_factory=threading.Event)

    def wait_arrived(self, timeout: float = 20.0) -> None:
        assert self.arrived.wait(timeout), "no request reached the stand-in"

    def release(self) -> None:
        self.opened.set()


@dataclass
class Logged:
    method: str
    path: str
    idempotency_key: str | None
    executed: bool = False  # forwarded to localstripe (not a replay, not refused)
    answered: bool = True


@dataclass
class _Remembered:
    fingerprint: str
    done: threading.Event = field(default_factory=threading.Event)
    status: int = 0
    body: bytes = b""


class FaultyStripe:
    def __init__(self, upstream_url: str):
        self.upstream = upstream_url.rstrip("/")
        self.lock = threading.Lock()
        self.log: list[Logged] = []
        self.keys: dict[str, _Remembered] = {}
        self.gates: list[tuple[str, str, Gate]] = []
        self.dropping: list[tuple[str, str]] = []
        self.canned: list[tuple[str, str, int, str]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    # --- what a test arranges ---------------------------------------------------------

    def hold(self, method: str, path_prefix: str) -> Gate:
        gate = Gate()
        with self.lock:
            self.gates.append((method, path_prefix, gate))
        return gate

    def drop_answers(self, method: str, path_prefix: str) -> None:
        with self.lock:
            self.dropping.append((method, path_prefix))

    def answer_with(self, method: str, path_prefix: str, status: int, error_type: str = "api_error") -> None:
        with self.lock:
            self.canned.append((method, path_prefix, status, error_type))

    def clear(self) -> None:
        """Answer everything at once again (held answers are released)."""
        with self.lock:
            gates, self.gates, self.dropping, self.canned = self.gates, [], [], []
        for _, _, gate in gates:
            gate.release()

    def executed(self, method: str, path_prefix: str) -> list[Logged]:
        with self.lock:
            return [entry for entry in self.log
                    if entry.executed and entry.method == method and entry.path.startswith(path_prefix)]

    def stop(self) -> None:
        self.clear()
        self.server.shutdown()
        self.server.server_close()

    # --- serving ------------------------------------------------------------------------

    def _matching(self, method: str, path: str):
        with self.lock:
            gate = next((g for m, p, g in self.gates if m == method and path.startswith(p)), None)
            drop = any(m == method and path.startswith(p) for m, p in self.dropping)
        return gate, drop

    def _forward(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, bytes]:
        parts = urlsplit(path)
        query = parse_qsl(parts.query, keep_blank_values=True)
        created = {k: int(v) for k, v in query if k in ("created[gte]", "created[lte]")}
        if created and method == "GET" and parts.path == "/v1/payouts":
            return self._payouts_created(headers, created.get("created[gte]", 0), created.get("created[lte]", 2**63))
        url = f"{self.upstream}{parts.path}" + (f"?{urlencode(query)}" if query else "")
        response = requests.request(method, url, headers=headers, data=body, timeout=30)
        return response.status_code, response.content

    def _payouts_created(self, headers: dict, low: int, high: int) -> tuple[int, bytes]:
        """Every payout created in [low, high], on one page (localstripe has no such filter)."""
        found, after = [], None
        while True:
            params = {"limit": 100, **({"starting_after": after} if after else {})}
            response = requests.get(f"{self.upstream}/v1/payouts", params=params, headers=headers, timeout=30)
            if response.status_code != 200:
                return response.status_code, response.content
            page = response.json()
            found += [item for item in page["data"] if low <= item["created"] <= high]
            if not page["has_more"] or not page["data"]:
                break
            after = page["data"][-1]["id"]
        listing = {"object": "list", "url": "/v1/payouts", "has_more": False, "data": found}
        return 200, json.dumps(listing).encode()

    def _serve(self, handler: BaseHTTPRequestHandler) -> tuple[int, bytes] | None:
        method, path = handler.command, handler.path
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        key = handler.headers.get("Idempotency-Key")
        entry = Logged(method, urlsplit(path).path, key)
        with self.lock:
            self.log.append(entry)
        gate, drop = self._matching(method, entry.path)
        with self.lock:
            canned = next(((status, kind) for m, p, status, kind in self.canned
                           if m == method and entry.path.startswith(p)), None)
        if canned is not None:
            status, kind = canned
            return status, _error(kind, f"the stand-in answers {status}")
        if gate is not None:
            gate.arrived.set()
            gate.opened.wait(60)
        headers = {name: handler.headers[name] for name in FORWARDED_HEADERS if handler.headers.get(name)}
        if key is None or method != "POST":
            status, content = self._forward(method, path, headers, body)
            entry.executed = True
        else:
            status, content = self._idempotent(entry, key, method, path, headers, body)
        if drop:
            entry.answered = False
            return None
        return status, content

    def _idempotent(self, entry: Logged, key: str, method: str, path: str, headers: dict, body: bytes):
        fingerprint = hashlib.sha256(f"{method} {entry.path}\n".encode() + body).hexdigest()
        with self.lock:
            remembered = self.keys.get(key)
            first = remembered is None
            if first:
                remembered = self.keys[key] = _Remembered(fingerprint)
        if not first:
            if remembered.fingerprint != fingerprint:
                return 400, _error("idempotency_error",
                                   "Keys for idempotent requests can only be used with the same parameters "
                                   "they were first used with.")
            if not remembered.done.is_set():
                return 409, _error("idempotency_error", "There is currently another in-progress request "
                                                        "using this Idempotent Key.")
            return remembered.status, remembered.body
        try:
            remembered.status, remembered.body = self._forward(method, path, headers, body)
            entry.executed = True
        except Exception:
            with self.lock:
                del self.keys[key]
            raise
        finally:
            remembered.done.set()
        return remembered.status, remembered.body

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self):
                answer = standin._serve(self)
                if answer is None:  # done at "Stripe", and the answer is lost on the way
                    self.close_connection = True
                    return
                status, content = answer
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.send_header("Request-Id", "req_standin")
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_DELETE = _any

            def log_message(self, *args):  # quiet
                pass

        return Handler


def _error(kind: str, message: str) -> bytes:
    return json.dumps({"error": {"type": kind, "message": message}}).encode()
