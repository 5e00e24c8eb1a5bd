"""Ports on this machine: a free one for a server to take, and waiting until a server answers on one."""
from __future__ import annotations

import http.client
import socket
import subprocess
import time

from .errors import StartError

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port nobody listens on now, on 127.0.0.1.

    The kernel picks it, so test runs and benchmarks side by side on one machine do not collide
    (a port could still be taken between this call and the server's bind; in practice it is not).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_in_use(port: int, host: str = "0.0.0.0") -> bool:
    """Whether a server could not bind ``port`` on ``host`` now (another program listens on it).

    Binds as gunicorn does (SO_REUSEADDR), so that the connections a server just stopped left
    in TIME_WAIT do not count as the port being taken.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def port_answers(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _check_alive(process: subprocess.Popen | None, what: str) -> None:
    if process is not None and process.poll() is not None:
        raise StartError(f"{what} exited with {process.returncode} before it answered")


def wait_for_port(port: int, timeout: float = 20.0, process: subprocess.Popen | None = None) -> None:
    """Until something accepts connections on 127.0.0.1:``port``.

    Raises StartError after ``timeout`` seconds, or at once when ``process`` (the server being
    waited for) has exited.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _check_alive(process, f"the process meant to listen on port {port}")
        if port_answers(port):
            return
        time.sleep(0.05)
    raise StartError(f"nothing listening on port {port} after {timeout}s")


def http_status(port: int, path: str = "/", timeout: float = 2.0) -> int | None:
    """The status of ``GET path`` on 127.0.0.1:``port``, or None when nothing answered."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def wait_for_http(port: int, path: str = "/", timeout: float = 30.0, *, status: int | None = None,
                  process: subprocess.Popen | None = None) -> int:
    """Until ``GET path`` on 127.0.0.1:``port`` is answered (with ``status``, when given); the status.

    Raises StartError after ``timeout`` seconds, or at once when ``process`` has exited.
    """
    deadline = time.monotonic() + timeout
    answered = None
    while time.monotonic() < deadline:
        _check_alive(process, f"the process meant to serve port {port}")
        answered = http_status(port, path)
        if answered is not None and (status is None or answered == status):
            return answered
        time.sleep(0.05)
    raise StartError(f"GET {path} on port {port} was answered {answered} after {timeout}s"
                     + (f" (waiting for {status})" if status else ""))
