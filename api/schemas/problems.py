"""A body's validation problems, each placed at the setting it is about.

A validator that checks a whole model (or a field holding a structure, such as a template's
``when``) raises ``FieldProblem`` naming the setting below it that is wrong (``send_slots[1]``,
``guardrails[1]``, ``touch``); ``placed`` turns any pydantic error into (field, problem): the
validator's location followed by that setting, and the problem in the validator's own words
(without pydantic's "Value error, " prefix). ``api.errors`` answers a request's validation
errors with it; a PATCH (validated as a whole) and a batch item (validated on its own) too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_INDEX = re.compile(r"^\[\d+\]")


class FieldProblem(ValueError):
    """A setting below the validated model or field is wrong: ``field`` its path from there
    (``send_slots[1]``, ``buckets.dpd``, ``touch``), ``problem`` what is wrong with it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def below(where: str, field: str) -> str:
    """``field`` as a path under ``where`` ("" is the body itself)."""
    if not where:
        return field
    return f"{where}{field}" if _INDEX.match(field) else f"{where}.{field}"


def placed(error: Mapping[str, Any], where: str) -> tuple[str, str]:
    """(field, problem) of one pydantic error whose location reads ``where`` ("" for the body
    itself): a ``FieldProblem`` is placed at its own field under it; a validator's ValueError
    is worded as raised; any other error keeps pydantic's message."""
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, FieldProblem):
        return below(where, cause.field), cause.problem
    if error.get("type") == "value_error" and isinstance(cause, ValueError):
        return where, str(cause)
    return where, str(error.get("msg", ""))
