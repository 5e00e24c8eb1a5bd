"""gunicorn settings for the Procfile's ``web`` process."""
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
worker_class = "gevent"
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
# Each open event stream holds a connection; gevent makes them cheap.
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "10000"))
# Long-lived streams are closed on deploy within this grace period.
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "20"))
timeout = 30
keepalive = 5
accesslog = "-"
