"""/docs without internet: Swagger UI from the `swagger-ui-py` package, served by the app.

FastAPI's own /docs page loads Swagger UI from a CDN and is blank offline; the app is built
with `docs_url=None` and this module serves the page with local asset URLs instead. Only
the few files the page needs are served from the package's static folder.
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse

ASSETS = Path(swagger_ui.__file__).parent / "static"
SERVED = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"})
PREFIX = "/docs/assets"


def docs_router(app: FastAPI) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    async def swagger_page() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{PREFIX}/favicon-32x32.png",
            oauth2_redirect_url="/docs/oauth2-redirect",
        )

    @router.get("/docs/oauth2-redirect")
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @router.get(PREFIX + "/{name}")
    async def asset(name: str) -> FileResponse:
        if name not in SERVED:
            raise HTTPException(status_code=404, detail=f"no docs asset {name!r}")
        # Cached for a day: the files change only with the pinned package.
        return FileResponse(ASSETS / name, headers={"Cache-Control": "public, max-age=86400"})

    return router


def mount_docs(app: FastAPI) -> None:
    """Serve /docs offline (build the app with `docs_url=None`)."""
    app.include_router(docs_router(app))
