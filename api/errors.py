"""JSON errors: {"error": {"code", "message", "details"}}, never a 500 for bad input."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.schemas.campaigns import NotPatchable
from api.schemas.errors import ErrorOut
from api.schemas.problems import placed

logger = logging.getLogger("dunning_bandit.api")


class ApiError(Exception):
    """An error the caller can act on; raised by the service layer or routes."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


_STATUSES = {
    400: "The body is not valid JSON",
    401: "No API key, or not a valid one",
    403: "The key's role may not do this",
    404: "The campaign, template, decision or segment does not exist",
    409: "Conflicts with the current state (a duplicate key, a lifecycle transition)",
    413: "The body or the batch is too large",
    422: "The request is well-formed JSON but not valid",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text} for status, text in _STATUSES.items()
}


def not_found(what: str, key: str) -> ApiError:
    return ApiError(404, f"{what}_not_found", f"{what.replace('_', ' ')} {key!r} does not exist")


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": _text(message), "details": _safe(details)}}


def _text(value: str) -> str:
    """``value`` as UTF-8-encodable text: lone surrogates (valid in a JSON escape, not in
    UTF-8) become backslash escapes."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _location(loc: tuple[Any, ...]) -> str:
    """A request error's location as a path ("" for the body itself)."""
    parts = [str(p) for p in (loc[1:] if loc[:1] == ("body",) else loc)]  # a field may be "body"
    return ".".join(parts)


def problems_of(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each pydantic error as ``{"field", "problem"}`` (and ``"input"`` when it has one):
    the path of the setting it is about (api.schemas.problems) and what is wrong with it."""
    found = []
    for e in errors:
        field, problem = placed(e, _location(tuple(e.get("loc", ()))))
        item = {"field": _text(field or "body"), "problem": _text(problem)}
        if "input" in e:
            item["input"] = _safe(e["input"])
        found.append(item)
    return found


def invalid_request(problems: Sequence[Mapping[str, Any]]) -> str:
    """The message of a 422 ``invalid_request``: the first problem, and how many more."""
    first = problems[0] if problems else {"field": "body", "problem": "invalid"}
    message = f"{first['field']}: {first['problem']}"
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
    return message


def _safe(value: Any) -> Any:
    """``value`` if it renders as strict JSON in UTF-8 (no NaN, no lone surrogates), else its
    repr, so echoing a bad input never turns a 422 into a 500."""
    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError):  # UnicodeEncodeError is a ValueError
        return _text(repr(value))
    return value


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the JSON error shape."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status)

    @app.exception_handler(NotPatchable)
    async def not_patchable(_: Request, exc: NotPatchable) -> JSONResponse:
        body = error_body("field_not_patchable", str(exc), {"field": exc.field})
        return JSONResponse(body, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = problems_of([{"input": None, **e} for e in exc.errors()])
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            where = problems[0]["field"] if problems else "body"
            return JSONResponse(
                error_body(
                    "invalid_json", f"the request body is not valid JSON ({where})", problems
                ),
                status_code=400,
            )
        message = invalid_request(problems)
        return JSONResponse(error_body("invalid_request", message, problems), status_code=422)

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        return JSONResponse(
            error_body("internal_error", "an unexpected error occurred; it has been logged"),
            status_code=500,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {
            400: "invalid_json",  # the body could not be read (e.g. it is not UTF-8)
            401: "unauthorized",
            404: "not_found",
            405: "method_not_allowed",
            413: "too_large",
        }
        code = codes.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )
