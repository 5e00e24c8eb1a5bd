"""The deploy files users expect: Dockerfile (hadolint), compose.yaml (the Compose Specification's
JSON Schema) and app.json, each in step with the Procfile. No Docker engine runs here."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"


def procfile() -> dict[str, str]:
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip():
            name, command = line.split(":", 1)
            # the environment assignments before the command are Procfile shell, not the command
            processes[name] = re.sub(r'^(\w+="[^"]*"\s+)+', "", command.strip())
    return processes


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint is not installed (pip install -r requirements-dev.txt)")
    return found


def test_the_dockerfile_passes_hadolint():
    result = subprocess.run([hadolint(), "--no-color", "Dockerfile"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install flask\nCMD gunicorn wsgi:app\n")
    result = subprocess.run([hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "DL" in result.stdout


def test_the_image_runs_the_procfiles_web_process_as_a_non_root_user():
    text = (ROOT / "Dockerfile").read_text()
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.MULTILINE).group(1))
    assert " ".join(cmd) == procfile()["web"]
    assert re.search(r"^USER (?!root|0\b)\S+$", text, re.MULTILINE)
    python = re.search(r"^FROM python:(\d+\.\d+)", text, re.MULTILINE).group(1)
    assert python == (ROOT / ".python-version").read_text().strip()
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_yaml_is_valid_against_the_compose_specification():
    validator = Draft7Validator(json.loads(SCHEMA.read_text()))
    errors = sorted(validator.iter_errors(compose()), key=lambda error: list(error.path))
    assert errors == [], "\n".join(f"{list(error.path)}: {error.message}" for error in errors)


def test_the_schema_would_catch_a_broken_compose_file():
    validator = Draft7Validator(json.loads(SCHEMA.read_text()))
    broken = compose()
    broken["services"]["web"]["ports"] = {"5000": 5000}
    broken["services"]["worker"]["restart_policy"] = "always"
    assert len(list(validator.iter_errors(broken))) >= 2


def test_compose_runs_web_worker_and_release_as_the_procfile_says_with_postgres_and_redis():
    services = compose()["services"]
    assert set(services) >= {"web", "worker", "release", "postgres", "redis"}
    for name in ("web", "worker", "release"):
        assert " ".join(services[name]["command"]) == procfile()[name], name
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"].startswith("postgresql://") and "@postgres:" in environment["DATABASE_URL"]
        assert environment["REDIS_URL"].startswith("redis://redis:")
        assert environment["PAYFLOW_ENV"] == "production" and "JWT_SECRET_KEY" in environment
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["release"]["condition"] == "service_completed_successfully"
    assert services["release"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["postgres"]["image"].startswith("postgres:") and services["redis"]["image"].startswith("redis:")


def test_app_json_describes_the_procfile_processes_addons_and_settings():
    app = json.loads((ROOT / "app.json").read_text())
    assert set(app["formation"]) == set(procfile()) - {"release"}
    plans = " ".join(addon["plan"] if isinstance(addon, dict) else addon for addon in app["addons"])
    assert "heroku-postgresql" in plans and "heroku-redis" in plans
    env = app["env"]
    assert env["JWT_SECRET_KEY"]["generator"] == "secret"
    assert env["STRIPE_SECRET_KEY"]["required"] and env["STRIPE_WEBHOOK_SECRET"]["required"]
    assert env["TRUSTED_PROXY_HOPS"]["value"] == "1"
    readme = (ROOT / "README.md").read_text()
    undocumented = [name for name in env if f"`{name}`" not in readme]
    assert undocumented == [], f"app.json sets settings the README does not explain: {undocumented}"
