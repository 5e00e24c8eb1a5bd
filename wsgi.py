"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi``.

Under gunicorn's gevent worker class the worker patches the standard library
before it imports this module, so sockets, locks and the database driver
cooperate with gevent without patching here.
"""
import os

if os.environ.get("FLASK_SKIP_DOTENV", "").lower() in ("", "0", "false", "no"):
    # .env as Flask's CLI reads it (the environment wins): `flask --app wsgi --help` loads this
    # module before Flask reads .env itself, and the settings are needed to build the app.
    from dotenv import find_dotenv, load_dotenv

    load_dotenv(find_dotenv(usecwd=True))

from payflow import metrics_store  # noqa: E402

# Before anything imports prometheus_client, which reads PROMETHEUS_MULTIPROC_DIR on import.
metrics_store.prepare_directory()

from payflow import create_app  # noqa: E402

app = create_app()
