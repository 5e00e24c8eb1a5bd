"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi``.

Under gunicorn's gevent worker class the worker patches the standard library
before it imports this module, so sockets, locks and the database driver
cooperate with gevent without patching here.
"""
from payflow import create_app

app = create_app()
