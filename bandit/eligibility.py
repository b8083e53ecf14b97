"""Eligibility: which arms may be sent to a debtor now, why each other may not, and when.

PRODUCT.md "Constraints the decision must respect" as (N, K) masks over arms, in five rooms:
``bandit.rules`` (the campaign's contact rules, its arms, a debtor and past sends, the answer),
``bandit.quiet_hours`` (local time), ``bandit.caps`` (frequency caps), ``bandit.masks`` (every
rule as a mask, for a batch at once) and ``bandit.explanations`` (one debtor's reasons and
next allowed time). This module is their one import for the rest of the code. Pure: ``now``
is an argument; times are compared as whole microseconds since the epoch.
"""

from __future__ import annotations

from bandit.caps import MAX_CAP_DAYS, Cap
from bandit.channels import ALL_CHANNELS, CHANNELS
from bandit.explanations import eligibility
from bandit.masks import batch_masks, masks_of, row_failures, rule_failures
from bandit.quiet_hours import UnknownTimezone, load_zone, next_outside_quiet_hours
from bandit.rules import (
    CODES,
    ArmCatalog,
    BoolArray,
    Contact,
    ContactRules,
    Debtor,
    Eligibility,
    Exclusion,
)

__all__ = [
    "ALL_CHANNELS",
    "CHANNELS",
    "CODES",
    "MAX_CAP_DAYS",
    "ArmCatalog",
    "BoolArray",
    "Cap",
    "Contact",
    "ContactRules",
    "Debtor",
    "Eligibility",
    "Exclusion",
    "UnknownTimezone",
    "batch_masks",
    "eligibility",
    "load_zone",
    "masks_of",
    "next_outside_quiet_hours",
    "row_failures",
    "rule_failures",
]
