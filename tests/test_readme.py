"""The README's commands work as printed, with nothing but ``.env`` for settings."""
from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from .services import JWT_SECRET, WEBHOOK_SECRET, process_environment
from .stream_helpers import ROOT, WebProcess

pytestmark = pytest.mark.backends("sqlite")
README = (ROOT / "README.md").read_text()
FLASK_LINE = re.compile(r"^(?:\.venv/bin/)?flask --app wsgi .*$")
BIN = Path(sys.executable).parent


def readme_flask_commands() -> list[str]:
    """Every ``flask --app wsgi ...`` line of the README's shell blocks, without its comment."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.DOTALL):
        for line in block.splitlines():
            line = re.split(r"\s+#", line.strip(), maxsplit=1)[0].strip()
            if FLASK_LINE.match(line):
                commands.append(line)
    return commands


def as_run(line: str, ids: dict) -> list[str]:
    """The line as a person types it: optional ``[...]`` parts left out, placeholders filled."""
    words = shlex.split(re.sub(r"\s*\[[^\]]*\]", "", line))
    words[0] = str(BIN / "flask")
    return [ids.get(word, word) for word in words]


def test_every_documented_setting_of_config_py_is_in_the_readme_table():
    read = set(re.findall(r'env(?:\.get)?\(\s*"([A-Z_]+)"', (ROOT / "config.py").read_text()))
    read |= set(re.findall(r'_(?:int|bool|list)\(env, "([A-Z_]+)"', (ROOT / "config.py").read_text()))
    read |= set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', (ROOT / "gunicorn.conf.py").read_text()))
    table = README[README.index("### Configuration"):]
    missing = sorted(name for name in read if f"`{name}`" not in table)
    assert missing == [], f"settings read but not in the README's configuration table: {missing}"


def test_the_readme_flask_commands_run_as_printed_from_a_fresh_shell(tmp_path, redis_server, localstripe):
    commands = readme_flask_commands()
    assert len(commands) >= 10, commands
    database = f"sqlite:///{tmp_path}/payflow.db"
    server_env = process_environment(database, redis_server.url, localstripe.url)
    web = WebProcess(server_env, name="readme-web")
    worker = None
    try:
        web.wait_ready()
        # What scripts/dev.py run leaves in .env; the shell itself exports nothing of payflow's.
        (tmp_path / ".env").write_text("\n".join([
            "PAYFLOW_ENV=development", f"PORT={web.port}", f"JWT_SECRET_KEY={JWT_SECRET}",
            f"REDIS_URL={redis_server.url}", f"STRIPE_API_BASE={localstripe.url}",
            f"STRIPE_WEBHOOK_SECRET={WEBHOOK_SECRET}", f"DATABASE_URL={database}", "LOG_LEVEL=WARNING",
        ]) + "\n")
        shell = {key: value for key, value in server_env.items()
                 if not key.startswith(("PAYFLOW_", "STRIPE_", "JWT_", "DATABASE_", "REDIS_", "FLASK_", "AUTH_"))}
        shell["PYTHONPATH"] = str(ROOT)

        def flask(words, **kwargs):
            result = subprocess.run(words, cwd=tmp_path, env=shell, capture_output=True, text=True, timeout=120,
                                    **kwargs)
            assert result.returncode == 0, f"{' '.join(words)}\n{result.stdout}\n{result.stderr}"
            return result.stdout

        first = [line for line in commands if re.search(r" (db upgrade|users create|demo seed)\b", line)]
        assert len(first) == 3
        for line in first:
            flask(as_run(line, {}), input="a long enough password\na long enough password\n")
        ids = objects_to_name(web.url)
        ran = set(first)
        for line in [line for line in commands if " simulate " in line]:
            output = flask(as_run(line, ids))
            assert " -> 200 " in output, output
            ids.setdefault("EVENT_ID", output.split()[0])
            ran.add(line)
        for line in [line for line in commands if line not in ran and not line.endswith(" worker")]:
            flask(as_run(line, ids))
            ran.add(line)

        [worker_line] = [line for line in commands if line.endswith(" worker")]
        worker_log = open(tmp_path / "worker.log", "w")
        worker = subprocess.Popen(as_run(worker_line, ids), cwd=tmp_path, env=shell, stdout=worker_log,
                                  stderr=subprocess.STDOUT)
        company = ids["company_headers"]
        deadline = time.monotonic() + 30
        while requests.get(f"{web.url}/payments/{ids['PAYMENT_ID']}", headers=company, timeout=5
                           ).json()["status"] != "HELD":
            assert worker.poll() is None and time.monotonic() < deadline, "the worker did not apply the event"
            time.sleep(0.3)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
        ran.add(worker_line)
        assert ran == set(commands)
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
        web.stop()


def objects_to_name(base: str) -> dict:
    """A pending payment (for PAYMENT_ID) and a payout (PAYOUT_ID), made through the API."""
    def session(email):
        login = requests.post(f"{base}/auth/login", json={"email": email, "password": "payflow-demo"}, timeout=10)
        assert login.status_code == 200, login.text
        return {"Authorization": f"Bearer {login.json()['access_token']}"}

    company, influencer = session("company@demo.payflow.dev"), session("influencer@demo.payflow.dev")
    creator = requests.get(f"{base}/influencers?email=influencer@demo.payflow.dev", headers=company, timeout=10).json()

    def payment(currency):
        created = requests.post(f"{base}/payments", json={"influencerId": creator["id"], "amount": 5000,
                                                          "currency": currency}, headers=company, timeout=10)
        assert created.status_code == 201, created.text
        return created.json()["id"]

    paid = payment("eur")  # localstripe pays out in EUR
    card = {"number": "4242424242424242", "expMonth": 12, "expYear": 2034, "cvc": "123"}
    assert requests.post(f"{base}/payments/{paid}/test-card", json=card, headers=company, timeout=30).status_code == 200
    assert requests.post(f"{base}/payments/{paid}/release", headers=company, timeout=30).status_code == 200
    payout = requests.post(f"{base}/payouts", json={"amount": 1000, "currency": "eur"}, headers=influencer, timeout=30)
    assert payout.status_code == 201, payout.text
    return {"PAYMENT_ID": payment("usd"), "PAYOUT_ID": payout.json()["id"], "company_headers": company}
