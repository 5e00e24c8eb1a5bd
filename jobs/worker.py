"""The RQ worker process: ``flask --app wsgi worker`` (the Procfile's ``worker``)."""
from __future__ import annotations

from flask import current_app
from rq import Queue, Worker

from payflow.extensions import redis_client

QUEUES = ("payment-webhooks", "default")


class AppContextWorker(Worker):
    """Runs every job inside the Flask app's context, so jobs reach the database."""

    def __init__(self, *args, app=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.flask_app = app

    def perform_job(self, job, queue):
        with self.flask_app.app_context():
            return super().perform_job(job, queue)


def run_worker(*, burst: bool = False) -> None:
    app = current_app._get_current_object()
    connection = redis_client.client
    queues = [Queue(name, connection=connection) for name in QUEUES]
    worker = AppContextWorker(queues, connection=connection, app=app)
    worker.work(with_scheduler=True, burst=burst)
