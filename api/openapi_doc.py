"""The OpenAPI document and its pages, beyond what FastAPI generates from the routes.

- Security: an HTTP bearer scheme (the API key), required on every operation but the public
  ones (``/healthz``, ``/metrics``), which then list no 401/403 either.
- Errors are JSON whatever a route serves when it succeeds (the dashboard's HTML page): a
  4xx is declared as the ``application/json`` it is.
- The links between operations (api.openapi_links).
- ``/docs``: Swagger UI from the ``swagger-ui-bundle-v2`` package's files, served by the app
  itself (no CDN: the page works offline). No ReDoc page is offered.

Operation ids are the routes' own (``operation_id=`` on each decorator, else the function's
name: ``short_ids``), so a generated client's method names survive a path change.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from api import openapi_links

BEARER = "bearer"
SECURITY_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "an API key, made with `dunning-bandit keys create --role ROLE`; "
    "send it as `Authorization: Bearer <key>`",
}
# (method, path) of the operations anyone may call, and the errors they never answer
PUBLIC = {("get", "/healthz"), ("get", "/metrics")}
NOT_PUBLIC_ERRORS = ("400", "401", "403", "404", "409", "422")
DOCS_ASSETS = "/static/swagger-ui"
# self-hosted: the server that serves the document is the one to call
SERVERS = [{"url": "/", "description": "this server"}]
# every operation has one of these tags (a generated client's module names)
TAGS = [
    {"name": "campaigns", "description": "Create and read campaigns (their settings)"},
    {"name": "templates", "description": "Register, version, preview, pause, resume, retire"},
    {"name": "decisions", "description": "The next message for a debtor; the audit record"},
    {"name": "events", "description": "Opens, clicks, payments and opt-outs"},
    {"name": "analysis", "description": "Arm statistics and the decision log"},
    {"name": "keys", "description": "Create, list and revoke API keys (admin)"},
    {"name": "dashboard", "description": "The campaign's dashboard page"},
    {"name": "service", "description": "Liveness and metrics (no key needed)"},
]


def short_ids(route: APIRoute) -> str:
    """A route without an ``operation_id`` is named by its function (never by its path)."""
    return route.name


def split_name(name: str) -> str:
    """A model both read and answered is split by FastAPI into ``X-Input`` and ``X-Output``
    (an answer requires every field it sends): named ``X`` and ``XOut`` (``CapIn``:
    ``CapOut``) here, so a generated client has one class name for each."""
    if name.endswith("-Input"):
        return name.removesuffix("-Input")
    if name.endswith("-Output"):
        return name.removesuffix("-Output").removesuffix("In") + "Out"
    return name


def _renamed(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.get("components", {}).get("schemas", {})
    names = {n: split_name(n) for n in components if split_name(n) != n}
    if not names:
        return schema
    text = json.dumps(schema)
    for old, new in names.items():
        text = text.replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
    renamed: dict[str, Any] = json.loads(text)
    renamed["components"]["schemas"] = {
        names.get(n, n): ({**s, "title": names[n]} if n in names else s)
        for n, s in renamed["components"]["schemas"].items()
    }
    return renamed


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """Security, the public operations, JSON errors and one name per model (a new dict)."""
    schema = _renamed(schema)
    schema.setdefault("components", {}).setdefault("securitySchemes", {})[BEARER] = dict(
        SECURITY_SCHEME
    )
    schema["security"] = [{BEARER: []}]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if (method, path) in PUBLIC:
                operation["security"] = []
                for status in NOT_PUBLIC_ERRORS:
                    responses.pop(status, None)
            for status, response in responses.items():
                content = response.get("content", {})
                if status.startswith("4") and "application/json" not in content:
                    response["content"] = {
                        "application/json": content.get("text/html")
                        or {"schema": {"$ref": "#/components/schemas/ErrorOut"}}
                    }
    return schema


def documented(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """``app.openapi`` with ``document`` and the links applied once, when first built."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_links.add_links(document(build()))
        return app.openapi_schema

    return openapi


def install_docs(app: FastAPI) -> None:
    """``/docs`` with its assets from the installed package (create the app with
    ``docs_url=None``)."""
    from swagger_ui_bundle import swagger_ui_path

    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")
    redirect = "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
            oauth2_redirect_url=redirect,
            swagger_ui_parameters={"persistAuthorization": True},
        )

    @app.get(redirect, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
