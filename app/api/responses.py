"""JSON responses built directly (json.dumps to bytes), skipping FastAPI's generic encoder on hot paths."""

from __future__ import annotations

import json

from fastapi import Response


def json_response(data: object, status: int = 200) -> Response:
    return Response(json.dumps(data, separators=(",", ":")).encode(), status_code=status, media_type="application/json")
