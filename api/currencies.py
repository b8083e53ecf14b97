"""Currency codes: ISO 4217, from pycountry's table (not a hand-kept list)."""

from __future__ import annotations

from typing import Annotated

import pycountry
from pydantic import Field

CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["EUR", "USD", "JPY"])]


def is_currency(code: str) -> bool:
    """Whether ``code`` is an ISO 4217 currency code (upper case only, as the API writes it)."""
    return code.isupper() and pycountry.currencies.get(alpha_3=code) is not None
