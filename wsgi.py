"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi``.

Under gunicorn's gevent worker class the worker patches the standard library
before it imports this module, so sockets, locks and the database driver
cooperate with gevent without patching here.
"""
from payflow import metrics_store

# Before anything imports prometheus_client, which reads PROMETHEUS_MULTIPROC_DIR on import.
metrics_store.prepare_directory()

from payflow import create_app  # noqa: E402

app = create_app()
