"""payflow's own command line (``flask --app wsgi ...``), run to the end: migrations, seeding, users."""
from __future__ import annotations

import subprocess
import sys

from .errors import StartError
from .process import ROOT


def flask_command(*args: str) -> list[str]:
    """``flask --app wsgi <args>`` with this interpreter."""
    return [sys.executable, "-m", "flask", "--app", "wsgi", *args]


def run_flask(env: dict, *args: str, quiet: bool = True, timeout: float | None = 300) -> str:
    """Run ``flask --app wsgi <args>`` with ``env`` and return its output (empty when not ``quiet``:
    then it goes to this process's own). Raises StartError with the output when it fails."""
    result = subprocess.run(flask_command(*args), cwd=ROOT, env=env, timeout=timeout, text=True,
                            capture_output=quiet)
    if result.returncode != 0:
        raise StartError(f"flask {' '.join(args)} exited with {result.returncode}\n"
                         f"{(result.stdout or '')[-2000:]}{(result.stderr or '')[-3000:]}")
    return result.stdout or ""


def migrate(env: dict, quiet: bool = True) -> None:
    """``flask --app wsgi db upgrade`` (the Procfile's ``release``) on ``env``'s ``DATABASE_URL``."""
    run_flask(env, "db", "upgrade", quiet=quiet)
