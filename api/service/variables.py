"""Why a debtor got no arm when some arms lack variables (bandit.variables): their
``missing_variables`` reasons, and when waiting makes another arm eligible."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from api.service.preparation import arm_catalog
from bandit.eligibility import ContactRules, Debtor, Eligibility, Exclusion, eligibility
from bandit.variables import Needs, exclusions, missing_for
from templates_store.catalog import ArmInfo


def explain(
    arms: Sequence[ArmInfo],
    rules: ContactRules,
    debtor: Debtor,
    at: datetime,
    needs: Sequence[Needs],
    given: frozenset[str],
    found: Eligibility,
) -> tuple[tuple[Exclusion, ...], datetime | None]:
    """The ``missing_variables`` exclusions beside ``found`` (the other rules' verdict at
    ``at``), and the earliest time waiting makes an arm eligible: arms that lack variables
    never become eligible by waiting, so that time is judged over the others."""
    missing = missing_for(needs, debtor.locale, rules.fallback_locale, given)
    lacking = exclusions([a.key for a in arms], [a.channel for a in arms], missing)
    if not lacking:
        return lacking, found.next_allowed_at
    rest = [a for a, names in zip(arms, missing, strict=True) if not names]
    if not rest:
        return lacking, None
    return lacking, eligibility(arm_catalog(rest), rules, debtor, at).next_allowed_at
