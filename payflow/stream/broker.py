"""One Redis subscription per web process, fanned out to the streams open in it.

The listener thread (a greenlet under gunicorn's gevent worker) owns a single
pub/sub connection. Streams register with ``connect()``: the user's channel is
subscribed on first use (and the stream waits for Redis to confirm, so nothing
published after it starts replaying can be missed) and unsubscribed when the
user's last stream here closes. Each stream has a bounded queue; a stream that
falls that far behind is dropped (it resumes with Last-Event-ID) instead of
holding memory or the others back. If the Redis connection breaks, every stream
here is ended so that browsers reconnect and replay from history.
"""
from __future__ import annotations

import logging
import queue
import socket
import threading
import time

import redis

from .. import metrics
from . import history

log = logging.getLogger(__name__)

CLOSE = object()  # put on a stream's queue to end it


class Stream:
    def __init__(self, user_id: str, capacity: int):
        self.user_id = user_id
        self.queue: queue.Queue = queue.Queue(maxsize=capacity)
        self.closed_reason: str | None = None
        self.socket = None  # the client's connection, where the server exposes it

    def offer(self, message) -> None:
        if self.closed_reason is not None:
            return  # already ended: nothing more for it (and it is counted as dropped once)
        try:
            self.queue.put_nowait(message)
        except queue.Full:
            self.close("too slow: its queue is full")
            metrics.STREAM_CLIENTS_DROPPED.inc()
            self._hang_up()

    def _hang_up(self) -> None:
        """Close the connection under a client that stopped reading: its writer is blocked on
        a full socket and would never see the close otherwise."""
        if self.socket is not None:
            try:
                self.socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already gone

    def close(self, reason: str) -> None:
        if self.closed_reason is None:
            self.closed_reason = reason
            try:
                self.queue.put_nowait(CLOSE)
            except queue.Full:
                pass  # the reader checks closed_reason between messages


class Broker:
    def __init__(self, redis_url: str, *, queue_size: int = 256):
        self.redis_url = redis_url
        self.queue_size = queue_size
        self.streams: dict[str, set[Stream]] = {}
        self.lock = threading.Lock()
        self.commands: queue.Queue = queue.Queue()
        self.confirmations: dict[str, threading.Event] = {}
        self.subscribed: set[str] = set()
        self.stopping = False
        self.thread: threading.Thread | None = None

    # --- used by the stream endpoint -------------------------------------------------

    def connect(self, user_id: str, timeout: float = 5.0, connection=None) -> Stream:
        """Register a stream; returns once its user's channel is live in Redis."""
        stream = Stream(user_id, self.queue_size)
        stream.socket = connection
        name = history.channel(user_id)
        with self.lock:
            if self.stopping:
                # A reconnect that reached this process on its way out (gunicorn still accepts for
                # a moment after SIGTERM): end it at once, so the browser goes elsewhere.
                stream.close("server shutting down")
                return stream
        self._ensure_listener()
        with self.lock:
            first = user_id not in self.streams
            self.streams.setdefault(user_id, set()).add(stream)
            confirmed = self.confirmations.get(name)
            if name not in self.subscribed and confirmed is None:
                confirmed = self.confirmations[name] = threading.Event()
                self.commands.put(("subscribe", name))
        metrics.STREAMS_OPEN.inc()
        if confirmed is not None and not confirmed.wait(timeout):
            self.disconnect(stream)
            raise redis.ConnectionError("the stream subscription was not confirmed by Redis")
        if first:
            log.debug("first stream of %s here", user_id)
        return stream

    def disconnect(self, stream: Stream) -> None:
        name = history.channel(stream.user_id)
        with self.lock:
            streams = self.streams.get(stream.user_id)
            if streams is None or stream not in streams:
                return
            streams.discard(stream)
            if not streams:
                del self.streams[stream.user_id]
                self.commands.put(("unsubscribe", name))
        metrics.STREAMS_OPEN.dec()

    def shutdown(self) -> None:
        """End every stream (deploy or restart): browsers reconnect to another process."""
        with self.lock:
            self.stopping = True
        self._close_all("server shutting down")

    # --- the listener ----------------------------------------------------------------

    def _ensure_listener(self) -> None:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._listen_forever, name="payflow-stream-broker", daemon=True)
                self.thread.start()

    def _close_all(self, reason: str) -> None:
        with self.lock:
            streams = [stream for group in self.streams.values() for stream in group]
        for stream in streams:
            stream.close(reason)

    def _listen_forever(self) -> None:
        backoff = 0.1
        while not self.stopping:
            try:
                self._listen()
            except redis.RedisError as exc:
                log.warning("stream broker lost Redis (%s); ending local streams so they resume", exc)
            with self.lock:
                self.subscribed.clear()
                for event in self.confirmations.values():
                    event.set()  # waiting streams give up now and are closed below
                self.confirmations.clear()
            metrics.STREAM_SUBSCRIPTIONS.set(0)
            self._close_all("lost the connection to Redis")
            time.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    def _listen(self) -> None:
        client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=2, health_check_interval=0)
        pubsub = client.pubsub(ignore_subscribe_messages=False)
        try:
            pubsub.ping()  # connects, so that a dead Redis fails here and not on first use
            with self.lock:
                wanted = {history.channel(user_id) for user_id in self.streams}
            if wanted:
                pubsub.subscribe(*wanted)
            while not self.stopping:
                self._run_commands(pubsub)
                message = pubsub.get_message(timeout=0.05)
                if message is not None:
                    self._handle(message)
        finally:
            pubsub.close()
            client.close()

    def _run_commands(self, pubsub) -> None:
        while True:
            try:
                command, name = self.commands.get_nowait()
            except queue.Empty:
                return
            if command == "subscribe":
                pubsub.subscribe(name)
            else:
                with self.lock:
                    still_wanted = history.user_of_channel(name) in self.streams
                    if not still_wanted:
                        # Forget it now: a stream of this user arriving before Redis confirms
                        # must subscribe again rather than trust a subscription on its way out.
                        self.subscribed.discard(name)
                if not still_wanted:
                    pubsub.unsubscribe(name)

    def _handle(self, message: dict) -> None:
        kind = message["type"]
        name = message["channel"].decode() if isinstance(message["channel"], bytes) else message["channel"]
        if kind == "subscribe":
            with self.lock:
                self.subscribed.add(name)
                confirmed = self.confirmations.pop(name, None)
                metrics.STREAM_SUBSCRIPTIONS.set(len(self.subscribed))
            if confirmed is not None:
                confirmed.set()
            return
        if kind == "unsubscribe":
            with self.lock:
                self.subscribed.discard(name)
                metrics.STREAM_SUBSCRIPTIONS.set(len(self.subscribed))
            return
        if kind != "message":
            return
        user_id = history.user_of_channel(name)
        parsed = history.parse_message(message["data"])
        with self.lock:
            streams = list(self.streams.get(user_id, ()))
        for stream in streams:
            stream.offer(parsed)


_brokers: dict[str, Broker] = {}
_brokers_lock = threading.Lock()
_shutting_down = False


def broker_for(redis_url: str) -> Broker:
    """The process's broker for this Redis (one per process, whatever the number of apps).

    Once the process is shutting down, every broker (even one first asked for now) is a
    stopping one, which ends the streams that still arrive instead of holding them open.
    """
    with _brokers_lock:
        broker = _brokers.get(redis_url)
        if broker is None:
            broker = _brokers[redis_url] = Broker(redis_url)
            broker.stopping = _shutting_down
        return broker


def shutdown_all() -> None:
    global _shutting_down
    with _brokers_lock:
        _shutting_down = True
        brokers = list(_brokers.values())
    for broker in brokers:
        broker.shutdown()
