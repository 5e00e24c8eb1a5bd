"""Per-user event history and live fan-out in Redis.

Each update is appended to the user's Redis Stream (bounded by
``STREAM_HISTORY_SIZE`` entries and ``STREAM_HISTORY_SECONDS`` of age) and
published on the user's channel, by one Lua script: the stream entry id becomes
the SSE ``id:``, and the append and the publish happen atomically and in order,
so a browser replaying from the stream and then listening live sees every event
once.
"""
from __future__ import annotations

import json

import redis
from flask import current_app

from ..extensions import redis_client

STREAM_KEY = "payflow:events:{user_id}"
CHANNEL = "payflow:live:{user_id}"

_APPEND_AND_PUBLISH = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'event', ARGV[2], 'data', ARGV[3])
local now = redis.call('TIME')
local oldest = (tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)) - tonumber(ARGV[4])
redis.call('XTRIM', KEYS[1], 'MINID', '~', oldest)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', KEYS[2], id .. '\\n' .. ARGV[2] .. '\\n' .. ARGV[3])
return id
"""


def stream_key(user_id: str) -> str:
    return STREAM_KEY.format(user_id=user_id)


def channel(user_id: str) -> str:
    return CHANNEL.format(user_id=user_id)


def user_of_channel(name: str) -> str:
    return name.split(":", 2)[2]


def append(user_id: str, event: str, data: dict) -> str:
    """Record ``event`` for ``user_id`` and publish it live; returns its id."""
    config = current_app.config
    script = current_app.extensions.get("payflow_append_script")
    if script is None:
        script = current_app.extensions["payflow_append_script"] = redis_client.client.register_script(
            _APPEND_AND_PUBLISH
        )
    entry_id = script(
        keys=[stream_key(user_id), channel(user_id)],
        args=[config["STREAM_HISTORY_SIZE"], event, json.dumps(data, separators=(",", ":")),
              config["STREAM_HISTORY_SECONDS"] * 1000],
    )
    return entry_id.decode() if isinstance(entry_id, bytes) else entry_id


def parse_message(payload: bytes | str) -> tuple[str, str, str]:
    """(id, event, data) of a published message."""
    text = payload.decode() if isinstance(payload, bytes) else payload
    entry_id, event, data = text.split("\n", 2)
    return entry_id, event, data


def parse_id(entry_id: str) -> tuple[int, int] | None:
    """A stream id as a comparable pair, or None if it is not one."""
    millis, _, sequence = (entry_id or "").partition("-")
    # ASCII digits only: str.isdigit() also accepts "１" or "²", which Redis refuses.
    if not (millis.isascii() and millis.isdigit() and sequence.isascii() and sequence.isdigit()) or len(entry_id) > 41:
        return None
    millis_value, sequence_value = int(millis), int(sequence)
    if max(millis_value, sequence_value) >= 2**64:  # beyond what a Redis stream id can hold
        return None
    return millis_value, sequence_value


POSITION = "position"  # a marker entry: gives an empty history an id to resume from


def position(client, user_id: str) -> str:
    """The id of the newest entry in the user's history, for a stream that starts without one.

    Sent as a bare ``id:`` line, it becomes the browser's Last-Event-ID without being an
    event, so that a stream that has received nothing yet still resumes from here, and is
    told to resync if Redis loses what was published meanwhile. An empty history gets a
    marker entry, which is never sent as an event.
    """
    key = stream_key(user_id)
    newest = client.xrevrange(key, count=1)
    if newest:
        return _text(newest[0][0])
    config = current_app.config
    with client.pipeline(transaction=True) as pipe:
        pipe.xadd(key, {"event": POSITION, "data": "{}"}, maxlen=config["STREAM_HISTORY_SIZE"], approximate=True)
        pipe.pexpire(key, config["STREAM_HISTORY_SECONDS"] * 1000)
        entry_id, _ = pipe.execute()
    return _text(entry_id)


def since(client, user_id: str, last_id: str) -> list[tuple[str, str, str]] | None:
    """Every event after ``last_id`` still in history, oldest first; None if ``last_id`` is not
    in the history any more (trimmed, expired, lost with Redis, or never issued): resync."""
    key = stream_key(user_id)
    try:
        with client.pipeline(transaction=True) as pipe:
            pipe.xrange(key, min=last_id, max=last_id, count=1)
            pipe.xrange(key, min=f"({last_id}", max="+")
            found, entries = pipe.execute()
    except redis.ResponseError:  # Redis refuses the id itself (e.g. the very last possible id)
        return None
    if not found:
        return None
    return [(_text(entry_id), _text(fields[b"event"]), _text(fields[b"data"])) for entry_id, fields in entries
            if fields[b"event"] != POSITION.encode()]


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value
