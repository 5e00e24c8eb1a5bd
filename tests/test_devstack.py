"""``devstack``: the one place that starts servers and processes for the tests, the benchmarks and
``scripts/dev.py``, and keeps runs side by side apart."""
from __future__ import annotations

import os
import re

import pytest
import redis

from devstack import ROOT, RedisServer, SharedRedis, port_answers, redis_answers
from devstack.redis_server import LEASE_KEY

# What starting a piece of the stack by hand looks like; each belongs in devstack/ alone.
STARTS_BY_HAND = {
    "a free port": re.compile(r"""\.bind\(\(\s*["'](127\.0\.0\.1)?["']\s*,\s*0\s*\)\)"""),
    "a redis-server": re.compile(r"""__redis_executable__|["']redis-server["']"""),
    "a throwaway database": re.compile(r"CREATE DATABASE", re.IGNORECASE),
    "gunicorn": re.compile(r"""["']gunicorn["']\s*,\s*["']-c["']"""),
    "a worker process": re.compile(r"""Popen\(\s*\[[^\]]*["']worker["']"""),
    "the offline Stripe": re.compile(r"""Popen\(\s*\[[^\]]*["']stripe_standin["']"""),
}
SOURCES = ["bench", "jobs", "payflow", "scripts", "stripe_standin", "tests"]


def python_sources():
    for directory in SOURCES:
        yield from sorted((ROOT / directory).rglob("*.py"))
    yield from sorted(ROOT.glob("*.py"))


def test_servers_and_processes_are_started_by_devstack_alone():
    this_file = os.path.abspath(__file__)
    found = []
    for path in python_sources():
        if os.path.abspath(path) == this_file:
            continue
        text = path.read_text(errors="replace")
        for piece, pattern in STARTS_BY_HAND.items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line} starts {piece} by hand")
    assert found == [], "use devstack's pieces instead:\n" + "\n".join(found)


def test_a_private_redis_killed_and_started_again_is_back_on_its_port_and_empty():
    server = RedisServer()
    try:
        client = redis.Redis.from_url(server.url)
        client.set("queued", "job")
        server.kill()
        assert not port_answers(server.port)
        server.start()
        assert server.url.endswith(f":{server.port}/0")
        assert client.get("queued") is None  # lost with the process, as a crashed Redis without persistence
    finally:
        server.close()
    assert not server.data_dir.exists()


def test_runs_side_by_side_lease_different_databases_of_the_shared_redis_and_give_them_back():
    url = os.environ.get("PAYFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379")
    if not redis_answers(url):
        pytest.skip(f"no Redis at {url}")
    first, second = SharedRedis(url), SharedRedis(url)
    try:
        assert first.url != second.url
        number = first.url.rsplit("/", 1)[1]
        first.stop()
        # free again: another run may take it at once, but no longer under this process's lease
        holder = redis.Redis.from_url(url).get(f"{LEASE_KEY}:{number}")
        assert holder != str(os.getpid()).encode()
    finally:
        first.stop()
        second.stop()

