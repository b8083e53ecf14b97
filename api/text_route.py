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
from api.schemas.common import NOT_TEXT, TEXT_CHECKED, not_text

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class TextRoute(APIRoute):
    """An APIRoute that checks the JSON body's strings before validation (a fast scan of the
    raw bytes for surrogate escapes; the parsed body is walked only when one is found)."""

    @property
    def _per_item(self) -> tuple[str, ...]:
        """Where a fault is the item's own (``x-item-errors``: a batch's list field, whose
        items are answered one by one): left to the body's model."""
        field = (self.openapi_extra or {}).get("x-item-errors")
        return (f"body.{field}[",) if field else ()

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            body = await request.body()  # kept on the request: the handler reads it again
            clean = not (body and _SURROGATE_ESCAPE.search(body))
            TEXT_CHECKED.set(clean)  # this request's context: its body's models read it
            if not clean:
                try:
                    where = not_text(json.loads(body))
                except ValueError:
                    where = None  # not JSON: the handler says so
                if where is not None and not where.startswith(self._per_item):
                    problem = NOT_TEXT
                    detail = [{"field": where, "problem": problem, "input": None}]
                    raise ApiError(422, "invalid_request", f"{where}: {problem}", detail)
            return await handler(request)

        return checked
