"""``python -m stripe_standin --port 8420 [--state-file PATH] [--from-scratch]``: see ``settings.py``."""
from __future__ import annotations

import logging
import os
import sys

from aiohttp import web

from .app import create_app
from .persistence import StateFile, StateFileError
from .runtime import Runtime
from .settings import parse
from .state import State


def main(argv: list[str]) -> int:
    settings = parse(argv, os.environ)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    state_file = StateFile(settings.state_file) if settings.state_file else None
    state = None
    if state_file is not None and not settings.from_scratch:
        try:
            state = state_file.load()
        except StateFileError as exc:
            print(f"stripe_standin: {exc}", file=sys.stderr)
            return 2
    runtime = Runtime(settings, state or State(), state_file)
    where = f"state in {settings.state_file}" if state_file else "state kept in memory only"
    print(f"stripe_standin: offline Stripe on http://{settings.host}:{settings.port} ({where})", flush=True)
    web.run_app(create_app(runtime), host=settings.host, port=settings.port, print=None,
                access_log=logging.getLogger("stripe_standin.access"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
