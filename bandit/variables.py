"""Missing variables: an arm whose rendition for a debtor needs a variable the request does not
give is ineligible before the draw (reason ``missing_variables``, naming them), so the draw,
and the propensity logged with it, is made over arms that can be rendered.

Pure: per arm, the variables each of its renditions needs (by the rendition's locale, known
from the templates without rendering them); per debtor, the locale and the names given. The
rendition a debtor gets is the one eligibility picks for the debtor's locale; an arm with
none is ``locale_missing`` and needs nothing here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet

import numpy as np

from bandit.rules import BoolArray, Exclusion
from bandit.vocabulary import resolve_locale

CODE = "missing_variables"
Needs = Mapping[str, frozenset[str]]  # a rendition's locale -> the variables it needs


def missing_for(
    needs: Sequence[Needs], locale: str, fallback: str | None, given: AbstractSet[str]
) -> tuple[tuple[str, ...], ...]:
    """Per arm (K,), the variables (sorted) its rendition for ``locale`` needs that ``given``
    lacks; empty when nothing is missing or the arm has no rendition for the locale."""
    missing = []
    for arm in needs:
        chosen = resolve_locale(locale, frozenset(arm), fallback)
        wanted = arm[chosen] if chosen is not None else frozenset()
        missing.append(tuple(sorted(wanted - given)))
    return tuple(missing)


def variables_mask(
    needs: Sequence[Needs],
    locales: Sequence[str],
    fallback: str | None,
    given: Sequence[AbstractSet[str]],
) -> BoolArray:
    """(N, K) True where arm k's rendition for debtor i (locale ``locales[i]``) has every
    variable it needs among ``given[i]``; one row computed per distinct (locale, names)."""
    mask = np.ones((len(locales), len(needs)), dtype=np.bool_)
    rows: dict[tuple[str, frozenset[str]], BoolArray] = {}
    for i, (locale, names) in enumerate(zip(locales, given, strict=True)):
        key = (locale, frozenset(names))
        if key not in rows:
            missing = missing_for(needs, locale, fallback, key[1])
            rows[key] = np.array([not m for m in missing], dtype=np.bool_)
        mask[i] = rows[key]
    return mask


def exclusions(
    keys: Sequence[str], channels: Sequence[str], missing: Sequence[tuple[str, ...]]
) -> tuple[Exclusion, ...]:
    """A ``missing_variables`` exclusion for each arm that lacks variables; waiting never
    lifts it (``until`` None)."""
    return tuple(
        Exclusion(
            CODE,
            key,
            channel,
            f"{key} needs the variable{'s' * (len(names) > 1)} {', '.join(names)}, "
            "which the request does not give",
            None,
        )
        for key, channel, names in zip(keys, channels, missing, strict=True)
        if names
    )
