"""Names of places and languages: one rule for jurisdictions and one locale resolver, used
alike by caps, debtors, eligibility and rendering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pycountry
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bandit.eligibility import ArmCatalog, Cap, Contact, ContactRules, Debtor, eligibility
from bandit.vocabulary import (
    BadLocale,
    UnknownJurisdiction,
    canonical_locale,
    jurisdiction,
    known_jurisdiction,
    locale_key,
    lookup_forms,
    resolve_locale,
)
from templates_store.templating import Rendition, pick_rendition

# --- jurisdictions ------------------------------------------------------------------------------

US = [(s.code, s.name) for s in pycountry.subdivisions.get(country_code="US")]


@pytest.mark.parametrize(
    ("given_as", "expected"),
    [
        ("MA", "MA"),
        ("ma", "MA"),
        (" MA", "MA"),
        ("MA\t", "MA"),
        ("Massachusetts", "MA"),
        ("  massachusetts ", "MA"),
        ("MASSACHUSETTS", "MA"),
        ("US-MA", "MA"),
        ("us-ma", "MA"),
        ("New  York", "NY"),
        ("new york", "NY"),
        ("District of Columbia", "DC"),
        ("Puerto Rico", "PR"),
        ("de-by", "DE-BY"),
        ("Bavaria", "bavaria"),  # not a US name: kept, in one form
        (" Some  Place ", "some place"),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_a_jurisdiction_has_one_form(given_as: str | None, expected: str | None) -> None:
    assert jurisdiction(given_as) == expected


@pytest.mark.parametrize(("code", "name"), US)
def test_every_us_subdivision_by_code_iso_code_or_name(code: str, name: str) -> None:
    usps = code.removeprefix("US-")
    for spelling in (usps, usps.lower(), f" {usps} ", code, code.lower(), name, name.upper()):
        assert jurisdiction(spelling) == usps
        assert known_jurisdiction(spelling) == usps


@pytest.mark.parametrize("unknown", ["Masachusetts", "Bavaria", "XX-YY", "M A", "ZZ"])
def test_an_unknown_jurisdiction_is_refused_where_one_must_be_known(unknown: str) -> None:
    with pytest.raises(UnknownJurisdiction, match="unknown jurisdiction"):
        known_jurisdiction(unknown)


@given(st.text(max_size=40))
def test_jurisdiction_is_idempotent(value: str) -> None:
    once = jurisdiction(value)
    assert jurisdiction(once) == once


@given(st.sampled_from(US), st.sampled_from(["", " ", "  ", "\t"]), st.booleans())
def test_case_and_whitespace_never_change_a_place(
    place: tuple[str, str], pad: str, upper: bool
) -> None:
    _, name = place
    spelled = pad + (name.upper() if upper else name.lower()).replace(" ", "  ") + pad
    assert jurisdiction(spelled) == jurisdiction(name)


NOON_NY = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)  # a Wednesday, 12:00 in New York


def test_caps_and_debtors_compare_jurisdictions_in_one_form() -> None:
    """The Massachusetts cap (2 calls in 7 days) holds however either side spells the state."""
    one_arm = ArmCatalog(("firm",), ("voice",), (False,), (True,), (frozenset({"en"}),))
    for cap_as in ("MA", "Massachusetts", " ma"):
        rules = ContactRules(caps=(Cap("voice", 7, 7.0), Cap("voice", 2, 7.0, cap_as)))
        assert rules.caps[1].jurisdiction == "MA"
        for debtor_as in ("MA", "ma", " MA", "Massachusetts", "US-MA"):
            calls = tuple(Contact(NOON_NY - timedelta(hours=h), "voice", "firm") for h in (1, 2))
            debtor = Debtor(
                frozenset({"voice"}),
                "America/New_York",
                "en",
                jurisdiction=debtor_as,
                history=calls,
            )
            assert debtor.jurisdiction == "MA"
            found = eligibility(one_arm, rules, debtor, NOON_NY)
            assert not found.mask[0]
            assert {e.code for e in found.exclusions} == {"frequency_cap"}
            assert "(MA)" in found.exclusions[0].detail


# --- locales ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "standard"),
    [
        ("de_AT", "de-AT"),
        ("de-at", "de-AT"),
        ("DE_at", "de-AT"),
        ("zh-hans-cn", "zh-Hans-CN"),
        ("EN", "en"),
        ("en-Latn", "en"),
        ("iw", "he"),
        ("cmn-Hans-CN", "zh-Hans-CN"),
        ("en-GB-oxendict", "en-GB-oxendict"),
    ],
)
def test_a_locale_has_one_standard_form(tag: str, standard: str) -> None:
    assert canonical_locale(tag) == standard


@pytest.mark.parametrize("bad", ["jp", "en-Abcd", "en--US", "english", "en_", "!!", "", "de DE"])
def test_a_locale_that_is_not_a_bcp47_tag_is_refused(bad: str) -> None:
    with pytest.raises(BadLocale, match="BCP 47"):
        canonical_locale(bad)


@pytest.mark.parametrize(
    ("tag", "forms"),
    [
        ("zh-Hans-CN", ("zh-Hans-CN", "zh-Hans", "zh-CN", "zh")),
        ("da-DK", ("da-DK", "da")),
        ("de_AT", ("de-AT", "de")),
        ("en-GB-oxendict", ("en-GB-oxendict", "en-GB", "en")),
        ("zh-TW", ("zh-TW", "zh-Hant-TW", "zh-Hant")),  # never "zh", which is Simplified
        ("sr-Latn-RS", ("sr-Latn-RS", "sr-Latn")),  # never "sr", which is Cyrillic
    ],
)
def test_lookup_drops_region_and_script_keeping_the_script(
    tag: str, forms: tuple[str, ...]
) -> None:
    assert lookup_forms(tag) == forms


@pytest.mark.parametrize(
    ("locale", "available", "fallback", "expected"),
    [
        ("da-DK", {"en", "da"}, "en", "da"),
        ("zh-Hans-CN", {"en", "zh"}, "en", "zh"),
        ("zh-Hans", {"en", "zh"}, None, "zh"),
        ("zh-Hans-CN", {"zh", "zh-Hans"}, None, "zh-Hans"),
        ("zh-Hans-CN", {"zh", "zh-CN"}, None, "zh-CN"),
        ("zh-Hant-TW", {"zh", "en"}, "en", "en"),
        ("de_AT", {"de-AT", "de"}, None, "de-AT"),
        ("de-AT", {"de_at", "de"}, None, "de_at"),  # a stored spelling is returned as stored
        ("de-CH", {"de", "en"}, "en", "de"),
        ("fr", {"de", "en-US"}, "en_us", "en-US"),  # the fallback matches the same way
        ("fr-CA", {"de", "en-US"}, "en-US-x-legal", "en-US"),
        ("fr", {"de"}, "en", None),
        ("fr", set(), "en", None),
        ("!!", {"!!"}, None, "!!"),  # text that does not parse still matches itself
    ],
)
def test_resolve_locale(
    locale: str, available: set[str], fallback: str | None, expected: str | None
) -> None:
    assert resolve_locale(locale, available, fallback) == expected


LANGUAGES = ("en", "de", "da", "zh", "sr", "pt", "fr", "he", "iw", "cmn")
SCRIPTS = (None, "Hans", "Hant", "Latn", "Cyrl")
REGIONS = (None, "CN", "TW", "AT", "DE", "DK", "BR", "US", "RS", "419")


@st.composite
def tags(draw: st.DrawFn) -> str:
    """A tag of real subtags in any case, with '-' or '_' between them; now and then junk."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_!", min_size=1, max_size=8))
    parts = [draw(st.sampled_from(LANGUAGES)), draw(st.sampled_from(SCRIPTS))]
    parts += [draw(st.sampled_from(REGIONS))]
    return draw(st.sampled_from("-_")).join(p for p in parts if p is not None)


@st.composite
def respelled(draw: st.DrawFn, tag: str) -> str:
    """``tag`` with each letter's case and each separator drawn anew."""
    letters = [
        c if not c.isalpha() else (c.upper() if draw(st.booleans()) else c.lower()) for c in tag
    ]
    return "".join(draw(st.sampled_from("-_")) if c in "-_" else c for c in letters)


def _distinct(available: list[str]) -> frozenset[str]:
    """One spelling per tag, as one template version stores them."""
    return frozenset({locale_key(a): a for a in available}.values())


@given(tags(), st.lists(tags(), max_size=6), st.none() | tags(), st.data())
def test_the_resolver_ignores_case_and_separators(
    locale: str, available: list[str], fallback: str | None, data: st.DataObject
) -> None:
    pool = _distinct(available)
    found = resolve_locale(locale, pool, fallback)
    again = resolve_locale(
        data.draw(respelled(locale)),
        pool,
        None if fallback is None else data.draw(respelled(fallback)),
    )
    assert again == found
    stored_otherwise = {data.draw(respelled(a)): a for a in pool}
    other = resolve_locale(locale, frozenset(stored_otherwise), fallback)
    assert (None if other is None else stored_otherwise[other]) == found


@given(tags(), st.lists(tags(), max_size=6), st.none() | tags())
def test_the_resolver_only_returns_an_available_locale(
    locale: str, available: list[str], fallback: str | None
) -> None:
    found = resolve_locale(locale, available, fallback)
    assert found is None or found in available
    if fallback is not None and locale_key(fallback) in {locale_key(a) for a in available}:
        assert found is not None  # a rendered fallback is always found


@given(tags(), st.lists(tags(), max_size=6), st.none() | tags(), st.data())
def test_an_exact_match_wins(
    locale: str, available: list[str], fallback: str | None, data: st.DataObject
) -> None:
    pool = set(_distinct(available))
    pool = {a for a in pool if locale_key(a) != locale_key(locale)}
    exact = data.draw(respelled(locale))
    assert resolve_locale(locale, frozenset(pool | {exact}), fallback) == exact


@given(tags(), st.lists(tags(), min_size=1, max_size=6), st.none() | tags())
def test_eligibility_and_rendering_pick_the_same_locale(
    locale: str, available: list[str], fallback: str | None
) -> None:
    pool = _distinct(available)
    assume(len(pool) == len(set(available)))
    renditions = [Rendition("email", a, "b", subject="s") for a in sorted(pool)]
    catalog = ArmCatalog(("t",), ("email",), (False,), (True,), (pool,))
    rules = ContactRules(caps=(), fallback_locale=fallback)
    debtor = Debtor(frozenset({"email"}), "UTC", locale)
    chosen = eligibility(catalog, rules, debtor, NOON_NY).locales[0]
    rendered = pick_rendition(renditions, "email", locale, fallback)
    assert chosen == (None if rendered is None else rendered.locale)
