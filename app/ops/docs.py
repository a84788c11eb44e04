"""/docs (Swagger UI) and /redoc (ReDoc), with every asset served by the service itself.

FastAPI's own pages load their scripts, styles and favicon from a CDN, so on a network with no
way out (a pharmacy's, often) they are blank. The assets come pinned from the
``fastapi-offline`` package (constraints.txt pins its version), installed with the service:
nothing is fetched at run time, and no page names another origin.
"""

from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from app.core.errors import NotFound

ASSETS_PATH = "/docs/assets"
ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
"""Every asset the two pages load, and its media type."""
_ASSETS = Path(str(files("fastapi_offline") / "static"))
_SWAGGER_UI: dict[str, Any] = {
    "persistAuthorization": True,  # the token pasted in Authorize survives a reload
    "validatorUrl": None,  # Swagger UI would send the document to its public validator
}

router = APIRouter(include_in_schema=False)


def _asset(request: Request, name: str) -> str:
    return f"{request.scope.get('root_path', '')}{ASSETS_PATH}/{name}"


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=f"{request.scope.get('root_path', '')}{request.app.openapi_url}",
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=_asset(request, "swagger-ui-bundle.js"),
        swagger_css_url=_asset(request, "swagger-ui.css"),
        swagger_favicon_url=_asset(request, "favicon.png"),
        oauth2_redirect_url=None,
        swagger_ui_parameters=_SWAGGER_UI,
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=f"{request.scope.get('root_path', '')}{request.app.openapi_url}",
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=_asset(request, "redoc.standalone.js"),
        redoc_favicon_url=_asset(request, "favicon.png"),
        with_google_fonts=False,
    )


@router.get(ASSETS_PATH + "/{name}")
async def docs_asset(name: str) -> Response:
    media_type = ASSET_TYPES.get(name)
    if media_type is None:
        raise NotFound(f"no docs asset {name!r}")
    # The assets change only with the package's version: a day's caching spares a reload.
    headers = {"Cache-Control": "public, max-age=86400"}
    return FileResponse(_ASSETS / name, media_type=media_type, headers=headers)
