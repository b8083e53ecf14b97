"""Refuse request bodies whose JSON strings are not Unicode text, before any handler runs.

JSON may spell a lone UTF-16 surrogate (``"\\udc00"``); Python decodes it into a string that
no database and no UTF-8 answer can hold. Caught here, once for every route, it is a 422
naming the field, and nothing is written (PRODUCT.md: never a 500 for bad input)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from api.errors import ApiError

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def not_text(value: Any, where: str = "body") -> str | None:
    """The place of the first string (or object key) in ``value`` that is not valid Unicode."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = not_text(key, where) or not_text(item, f"{where}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = not_text(item, f"{where}[{i}]")
            if found:
                return found
    return None


class TextRoute(APIRoute):
    """An APIRoute that checks the JSON body's strings before validation (a fast scan of the
    raw bytes for surrogate escapes; the parsed body is walked only when one is found)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            body = await request.body()  # kept on the request: the handler reads it again
            if body and _SURROGATE_ESCAPE.search(body):
                try:
                    where = not_text(json.loads(body))
                except ValueError:
                    where = None  # not JSON: the handler says so
                if where is not None:
                    problem = (
                        "holds a lone UTF-16 surrogate escape (such as \\udc00), which is not "
                        "text; send valid Unicode"
                    )
                    detail = [{"field": where, "problem": problem, "input": None}]
                    raise ApiError(422, "invalid_request", f"{where}: {problem}", detail)
            return await handler(request)

        return checked
