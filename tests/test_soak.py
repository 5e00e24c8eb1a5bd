"""The short soak run: the whole stack under duplicated, shuffled events and injected faults.

bench/soak.py starts its own processes (two web, two workers, Redis, localstripe) on a
database of its own, and exits non-zero when any of its end-of-run checks fails.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from .services import postgres_database

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def postgres_available():
    try:
        postgres_database().drop()
    except Exception as exc:  # no PostgreSQL on this machine: the soak cannot run
        pytest.skip(f"PostgreSQL not reachable: {exc}")


@pytest.mark.timeout(360)
def test_the_short_soak_run_loses_doubles_and_unbalances_nothing(postgres_available):
    logs = tempfile.mkdtemp(prefix="payflow-soak-")
    result = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--short", "--logs", logs],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    print(result.stdout[-6000:])
    assert result.returncode == 0, f"soak failed (logs in {logs}):\n{result.stdout[-4000:]}\n{result.stderr[-3000:]}"
    assert result.stdout.count("PASS") >= 8
