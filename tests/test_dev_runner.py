"""``scripts/dev.py run``: it writes what it chose to .env, stops everything on SIGTERM as on
Ctrl+C, and says clearly when its port is taken."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests
from dotenv import dotenv_values

from .services import WEBHOOK_SECRET, free_port, process_environment
from .stream_helpers import ROOT

pytestmark = pytest.mark.backends("sqlite")
# The interpreter outside the venv, as a person runs it: dev.py re-executes itself in .venv.
PYTHON = getattr(sys, "_base_executable", sys.executable)


def runner_env(tmp_path, database_url, redis_url, stripe_url, port) -> dict:
    env = process_environment(database_url, redis_url, stripe_url, PORT=port, PAYFLOW_DOTENV=tmp_path / ".env",
                              PROMETHEUS_MULTIPROC_DIR=tmp_path / "metrics")
    for name in ("PAYFLOW_ENV", "JWT_SECRET_KEY", "STRIPE_SECRET_KEY", "FLASK_SKIP_DOTENV"):
        env.pop(name)  # chosen by dev.py, or read from .env, as for a person
    return env


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigterm_stops_the_whole_stack_and_the_chosen_settings_are_in_env(
        tmp_path, database_url, redis_server, localstripe):
    port = free_port()
    (tmp_path / ".env").write_text("JWT_SECRET_KEY=the-users-own-secret-that-is-long-enough\nLOG_LEVEL=WARNING")
    env = runner_env(tmp_path, database_url, redis_server.url, localstripe.url, port)
    log = open(tmp_path / "run.log", "wb")
    process = subprocess.Popen([PYTHON, "scripts/dev.py", "run"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert process.poll() is None, (tmp_path / "run.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "run.log").read_text()
            time.sleep(0.3)
        written = dotenv_values(tmp_path / ".env")
        assert written["JWT_SECRET_KEY"] == "the-users-own-secret-that-is-long-enough"  # never overwritten
        assert written["LOG_LEVEL"] == "WARNING"
        assert written["PAYFLOW_ENV"] == "development"
        assert "REDIS_URL" not in written and "STRIPE_API_BASE" not in written  # given by the environment
        assert written["PORT"] == str(port)  # given for this run only, and what a later shell's commands need

        process.send_signal(signal.SIGTERM)  # to dev.py alone, as a process manager does
        assert process.wait(60) == 0
        assert not group_alive(process.pid), subprocess.run(["ps", "-o", "pid,cmd", "-g", str(process.pid)],
                                                            capture_output=True, text=True).stdout
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    finally:
        if group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def test_a_taken_port_is_named_with_how_to_choose_another(tmp_path, database_url, redis_server, localstripe):
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = runner_env(tmp_path, database_url, redis_server.url, localstripe.url, port)
        result = subprocess.run([PYTHON, "scripts/dev.py", "run"], cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=60)
    assert result.returncode == 1
    assert f"port {port} is already in use" in result.stderr
    assert "PORT=5001 python3 scripts/dev.py run" in result.stderr


def test_what_dev_py_chose_lets_a_fresh_shell_run_the_flask_commands(tmp_path, database_url, redis_server,
                                                                     migrated_app):
    """A .env as dev.py writes it is all `flask --app wsgi ...` needs: no exported variables."""
    dotenv = (f"PAYFLOW_ENV=development\nJWT_SECRET_KEY=from-the-dotenv-file-long-enough\n"
              f"DATABASE_URL={database_url}\nREDIS_URL={redis_server.url}\nSTRIPE_WEBHOOK_SECRET={WEBHOOK_SECRET}\n")
    workdir = tmp_path / "checkout"
    workdir.mkdir()
    (workdir / ".env").write_text(dotenv)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PAYFLOW_", "STRIPE_", "JWT_", "DATABASE_", "REDIS_", "FLASK_"))}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "webhooks", "list", "--status", "dead"],
                            cwd=workdir, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "no events" in result.stdout or result.stdout == ""
    # The list of commands too: Flask answers --help before it reads .env itself.
    listed = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "--help"], cwd=workdir, env=env,
                            capture_output=True, text=True, timeout=60)
    assert "Traceback" not in listed.stderr, listed.stderr
    assert "webhooks" in listed.stdout and "demo" in listed.stdout, listed.stdout
