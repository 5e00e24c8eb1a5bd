"""gunicorn settings for the Procfile's ``web`` process."""
import os

if os.environ.get("FLASK_SKIP_DOTENV") not in ("1", "true", "True"):
    # Settings from .env, as the flask command reads them; the environment wins.
    from dotenv import load_dotenv

    load_dotenv(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".env"))

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
worker_class = "gevent"
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
# Each open event stream holds a connection; gevent makes them cheap.
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "10000"))
# Long-lived streams are closed on deploy within this grace period.
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "20"))
timeout = 30
keepalive = 5
accesslog = os.environ.get("ACCESS_LOG", "-") or None
# The combined format plus the request id the app echoes, to find a request's own log lines.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %({x-request-id}o)s %(M)sms'
if os.environ.get("LOG_FORMAT", "text").lower() == "json":
    from payflow.logs import gunicorn_logconfig

    logconfig_dict = gunicorn_logconfig(os.environ.get("LOG_LEVEL", "INFO").upper(), access=accesslog is not None)
# Several payflow processes may share a machine (and a home directory); the
# management socket is not used and would be contended.
control_socket_disable = True


def on_starting(server):
    """Clear figures left by processes of an earlier run in PROMETHEUS_MULTIPROC_DIR."""
    from payflow.metrics_store import prune_dead_processes

    removed = prune_dead_processes()
    if removed:
        server.log.info("metrics: cleared %d files of processes that no longer run", removed)


def child_exit(server, worker):
    """A worker died or was replaced: its live gauges (open streams) stop counting."""
    from payflow.metrics_store import mark_process_dead

    mark_process_dead(worker.pid)


def post_worker_init(worker):
    """End open event streams as soon as this worker is told to stop (deploy, restart).

    Browsers then reconnect, with Last-Event-ID, to a process that is staying; the
    worker does not sit out its graceful timeout holding streams open.
    """
    import gevent

    def watch():
        while worker.alive:
            gevent.sleep(0.25)
        from payflow.stream.broker import shutdown_all

        shutdown_all()

    gevent.spawn(watch)
    gevent.spawn(_push_metrics, worker)


def _push_metrics(worker):
    """For hosts that share no disk: this host's figures to Redis, for the other hosts' /metrics."""
    import gevent

    from payflow.extensions import redis_client
    from payflow.metrics_store import push

    app = worker.wsgi
    interval = app.config["METRICS_PUSH_INTERVAL_SECONDS"]
    while interval > 0 and worker.alive:
        try:
            with app.app_context():
                push(redis_client.client, app.config)
        except Exception as exc:  # Redis away: the next round tries again
            worker.log.debug("metrics push skipped: %s", exc)
        gevent.sleep(interval)
