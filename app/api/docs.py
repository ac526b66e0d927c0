"""The /docs page (Swagger UI) served whole by the service: it works with no internet access.

Swagger UI's built files (JavaScript, CSS, icon, and its Apache-2.0 licence) come from the pinned
`swagger-ui-py` package's `swagger_ui/static` folder and are served under /docs/assets/; the page
refers to nothing else, and turns off Swagger UI's online spec validator (which would send the
document's address to validator.swagger.io). The bearer scheme in the OpenAPI document
(app.api.openapi) gives the page its Authorize button. Only the files the page needs are served.

Never fetches anything from the network; never serves a file outside that folder.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from app.api.errors import ApiError

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"
# What the page loads, and the licence that comes with it: name -> media type.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "LICENSE": "text/plain; charset=utf-8",
}
PARAMETERS = {"validatorUrl": None}  # no badge fetched from validator.swagger.io


def assets_dir() -> Path:
    """swagger-ui-py's static folder, found without importing the package (it imports jinja2 and more)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is not installed (it is a dependency of takedown-matcher)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    missing = [name for name in ASSETS if not (folder / name).is_file()]
    if missing:
        raise RuntimeError(f"swagger-ui-py's static folder {folder} lacks {', '.join(missing)}")
    return folder


def install(app: FastAPI) -> None:
    """GET /docs and GET /docs/assets/{name}; FastAPI's own CDN-based /docs and /redoc stay off."""
    folder = assets_dir()
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS_URL, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{app.title}: API", swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css", swagger_favicon_url=f"{ASSETS_URL}/favicon-32x32.png",
            swagger_ui_parameters=PARAMETERS,
        )

    @app.get(ASSETS_URL + "/{name}", include_in_schema=False)
    async def asset(name: str) -> FileResponse:
        media_type = ASSETS.get(name)
        if media_type is None:
            raise ApiError(404, "not_found", "no such file")
        return FileResponse(folder / name, media_type=media_type, headers={"cache-control": "public, max-age=86400"})
