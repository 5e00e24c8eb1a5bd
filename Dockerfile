# payflow: one image for the Procfile's three processes (web, worker, release).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PAYFLOW_ENV=production \
    PORT=5000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/payflow-metrics

WORKDIR /app

# Dependencies first: this layer is reused until requirements.txt changes.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
RUN useradd --create-home --uid 10001 payflow \
    && mkdir -p /app/instance /tmp/payflow-metrics \
    && chown payflow /app/instance /tmp/payflow-metrics
USER 10001

EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '5000')}/healthz\", timeout=2)"]

# The Procfile's web; compose.yaml runs the worker and release from the same image.
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
