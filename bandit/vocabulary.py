"""Names of places and languages: one rule each, for debtors, caps and renditions alike.

Jurisdictions: a US state, district or outlying area, by USPS code, ISO 3166-2 code or name
(pycountry's ``US-XX`` subdivisions), is its USPS code (" ma", "Massachusetts", "US-MA" -> "MA");
another country's ISO 3166-2 code is itself in capitals ("de-by" -> "DE-BY"); anything else is
kept with its whitespace collapsed and casefolded, so it matches only itself, however written.

Locales: BCP 47 tags (langcodes) in their standard form ("de_at" -> "de-AT", "iw" -> "he",
"zh-cmn-Hans" -> "zh-Hans", "en-Latn" -> "en"). A debtor's locale finds a rendition by lookup:
the tag, then its less specific forms ("zh-Hans-CN" -> "zh-Hans" -> "zh-CN" -> "zh"; "da-DK" ->
"da"), then the campaign's fallback the same way. A form whose likely script differs from the
tag's is skipped, as CLDR's parent locales do: "zh-Hant-TW" never falls to "zh" (Simplified),
nor "sr-Latn" to "sr" (Cyrillic).

Pure: the libraries' bundled tables only; no I/O of ours, no clock.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import cache, lru_cache
from typing import Any

import pycountry
from langcodes import Language

_CACHE = 8192


class UnknownJurisdiction(ValueError):
    """A jurisdiction that is neither a US state, district or outlying area nor an ISO 3166-2
    subdivision code."""


class BadLocale(ValueError):
    """A locale that is not a well-formed BCP 47 tag with registered subtags."""


# --- jurisdictions ------------------------------------------------------------------------------


def _words(value: str) -> str:
    """``value`` trimmed, with every run of whitespace one space."""
    return " ".join(value.split())


def _subdivisions(**query: str) -> Any:
    """pycountry's ISO 3166-2 look-up: a subdivision, a list of them, or None."""
    return pycountry.subdivisions.get(**query)  # type: ignore[no-untyped-call]


@cache
def _us_places() -> dict[str, str]:
    """Casefolded USPS code, ISO 3166-2 code and name of each US subdivision -> USPS code."""
    places: dict[str, str] = {}
    for place in _subdivisions(country_code="US") or ():
        usps = place.code.removeprefix("US-")
        for name in (usps, place.code, place.name):
            places[_words(name).casefold()] = usps
    return places


@lru_cache(maxsize=_CACHE)
def _known(folded: str) -> str | None:
    """The canonical form of a recognised place given casefolded, else None."""
    if (usps := _us_places().get(folded)) is not None:
        return usps
    found = _subdivisions(code=folded.upper()) if "-" in folded else None
    return None if found is None else str(found.code)


def jurisdiction(value: str | None) -> str | None:
    """The one form a jurisdiction is compared in: a recognised place's code ("MA", "DE-BY"),
    None when blank, else the text trimmed, whitespace collapsed and casefolded."""
    if value is None:
        return None
    folded = _words(value).casefold()
    if not folded:
        return None
    known = _known(folded)
    return folded if known is None else known


def known_jurisdiction(value: str) -> str:
    """``jurisdiction(value)`` for a recognised place; UnknownJurisdiction otherwise."""
    known = _known(_words(value).casefold())
    if known is None:
        raise UnknownJurisdiction(
            f"unknown jurisdiction {value!r}: use a US state's code or name ('MA', "
            "'Massachusetts') or an ISO 3166-2 subdivision code ('US-MA', 'DE-BY')"
        )
    return known


# --- locales ------------------------------------------------------------------------------------


@lru_cache(maxsize=_CACHE)
def _parse(tag: str) -> Language | None:
    """The standard form of a well-formed tag, None if it does not parse."""
    try:
        return Language.get(tag, normalize=True).prefer_macrolanguage().simplify_script()
    except ValueError:  # langcodes' LanguageTagError
        return None


def canonical_locale(tag: str) -> str:
    """The standard form of a well-formed BCP 47 tag whose subtags are registered
    ("de_at" -> "de-AT"); BadLocale otherwise ("jp", "en-Abcd", "en--US")."""
    found = _parse(tag)
    if found is None or not found.is_valid():
        raise BadLocale(
            f"bad locale {tag!r}: use a BCP 47 language tag such as 'en', 'de-AT' or 'zh-Hans'"
        )
    return str(found.to_tag())


def locale_key(tag: str) -> str:
    """The form two locales are compared in: the standard tag, or, for text that does not
    parse, the text trimmed and lower-cased with '_' as '-'."""
    found = _parse(tag)
    return str(found.to_tag()) if found is not None else tag.strip().replace("_", "-").casefold()


def _likely_script(language: str, region: str | None) -> str | None:
    """The script a language (in a region) is written in unless said otherwise (CLDR)."""
    script: str | None = Language.make(language=language, territory=region).maximize().script
    return script


@lru_cache(maxsize=_CACHE)
def lookup_forms(tag: str) -> tuple[str, ...]:
    """The forms of ``tag`` a rendition is looked for under, most specific first:
    "zh-Hans-CN" -> ("zh-Hans-CN", "zh-Hans", "zh-CN", "zh"); "zh-TW" -> ("zh-TW",
    "zh-Hant-TW", "zh-Hant"); each form keeps the tag's (likely) script."""
    found = _parse(tag)
    if found is None or found.language is None or found.language.startswith("x-"):
        return (locale_key(tag),)
    language, script, region = found.language, found.script, found.territory
    likely = script or _likely_script(language, region)
    forms = [found, Language.make(language=language, script=script, territory=region)]
    if likely is not None:
        forms.append(Language.make(language=language, script=likely, territory=region))
        forms.append(Language.make(language=language, script=likely))
    for place in (region, None):
        if likely is None or _likely_script(language, place) == likely:
            forms.append(Language.make(language=language, territory=place))
    return tuple(dict.fromkeys(str(form.simplify_script().to_tag()) for form in forms))


def resolve_locale(
    locale: str, available: Collection[str], fallback: str | None = None
) -> str | None:
    """The member of ``available`` (one arm's rendition locales) to render for a debtor of
    ``locale``: the first of ``lookup_forms(locale)`` rendered, else the first of the campaign's
    ``fallback`` forms rendered, else None. Case and '_' or '-' make no difference."""
    pool = available if isinstance(available, frozenset) else frozenset(available)
    return _resolve(locale, pool, fallback)


@lru_cache(maxsize=_CACHE)
def _resolve(locale: str, available: frozenset[str], fallback: str | None) -> str | None:
    by_key: dict[str, str] = {}
    for tag in sorted(available):  # two spellings of one tag: the first in order stands
        by_key.setdefault(locale_key(tag), tag)
    for wanted in (locale, fallback):
        for form in lookup_forms(wanted) if wanted is not None else ():
            if form in by_key:
                return by_key[form]
    return None
