"""The uvicorn entry point: `app_from_env()` builds the app from TAKEDOWN_* environment variables
(uvicorn calls it in each worker process)."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from app.api import create_app
from app.api.settings import Settings


def app_from_env() -> FastAPI:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return create_app(Settings.from_env())
