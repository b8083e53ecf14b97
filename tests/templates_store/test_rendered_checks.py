"""Judging what is rendered: the opt-out and SMS length of a rendered message
(templates_store.message_checks), the sandbox writing text and numbers only, and the
variables a rendition needs (templates_store.needs)."""

from __future__ import annotations

import contextlib
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from templates_store.message_checks import carries_opt_out, sms_segments, too_long
from templates_store.sms import GSM7_BASIC, GSM7_EXTENSION, SmsInfo
from templates_store.templating import (
    STANDARD_VARIABLES,
    RenderError,
    Rendition,
    TemplateInvalid,
    _compile_unchecked,
    _run,
    needed_variables,
    render,
    sms_info,
    validate_template,
)
from tests.templates_store.test_templating import VARIABLES, problems_of, sms

# --- the opt-out, judged on the rendered text ----------------------------------------------

URL = "https://pay.example/stop?d=1&k=2"


@pytest.mark.parametrize(
    ("channel", "body", "url", "expected"),
    [
        ("sms", f"Pay now. Opt out: {URL}", URL, True),
        ("sms", "Pay now. Reply STOP to opt out", None, True),
        ("sms", "Pay now. Reply STOP to opt out", "", True),
        ("sms", "Pay now.", URL, False),
        ("sms", "Pay now. https://pay.example/stop?d=1", URL, False),  # cut short
        ("sms", "Pay now. ", " ", False),  # a blank URL is found everywhere: never counts
        ("sms", "Pay now. ", "", False),
        ("sms", "Pay now. https://pay.example/stop?d=1&amp;k=2", URL, False),  # escaped SMS
        ("email", '<a href="https://pay.example/stop?d=1&amp;k=2">Unsubscribe</a>', URL, True),
        ("email", f"<a href='{URL}'>Unsubscribe</a>", URL, True),
        ("email", "<p>Reply <b>STOP</b> to opt out</p>", None, True),  # tags removed
        ("email", "<p>Unsubscribe</p>", URL, False),
        ("letter", "Dear customer", None, True),
        ("voice", "Hello", None, True),
        ("push", "Pay", None, True),
    ],
)
def test_carries_opt_out(channel: str, body: str, url: str | None, expected: bool) -> None:
    assert carries_opt_out(channel, body, url) is expected


@given(st.text(max_size=60), st.text(min_size=1, max_size=40), st.text(max_size=60))
def test_a_body_showing_the_url_carries_the_opt_out(before: str, url: str, after: str) -> None:
    body = before + url + after
    if url.strip():
        assert carries_opt_out("sms", body, url)
    # a blank URL is in every body: the body is judged on its STOP line alone
    assert carries_opt_out("sms", body, "  ") is carries_opt_out("sms", body, None)


def test_the_sample_opt_out_url_cannot_be_guessed() -> None:
    """A body that writes the well-known sample URL itself (and never the debtor's) fails."""
    for guessed in ("https://pay.example.com/s/7Hq2xK9mZp4Tw2", "{{ 'x' }}"):
        problems = problems_of([sms(f"Hi {{{{ name }}}} {guessed}")])
        assert [p.code for p in problems] == ["missing_opt_out"]


def test_an_opt_out_shown_only_for_the_first_sample_values_fails() -> None:
    body = "{% if amount_due == '€1,234.56' %}{{ opt_out_url }}{% endif %}"
    [problem] = problems_of([sms(body)])
    assert (problem.code, problem.field) == ("missing_opt_out", "body")
    assert "other sample values" in problem.message
    # an opt-out behind a check the template makes for itself is judged on both samples
    validate_template([sms("{% if reference is defined %}Reply STOP{% endif %} {{ pay_url }}")])


# --- the sandbox writes text and numbers only -----------------------------------------------

PYTHON_OBJECTS = [
    ("{{ name.upper }}", "method"),
    ("{{ name['upper'] }}", "method"),
    ("{{ name.upper|string }}", "method"),
    ("{{ name.upper ~ '' }}", "method"),
    ("{{ amount_due.conjugate }}", "method"),
    ("{{ none }}", "yields none"),
    ("{{ '' ~ none }}", "yields none"),
    ("{{ ('' ~ none)|upper }}", "yields none"),
    ("{{ true }}", "true or false"),
    ("{{ name is defined }}", "true or false"),
    ("{{ [1, 2] }}", "a list"),
    ("{{ [name]|string }}", "a list"),
    ("{{ (1, 2)|e }}", "a list"),
    ("{{ {'a': 1} }}", "a dict"),
    ("{{ {'a': 1}|urlencode }}", "a dict"),
    ("{% for c in 'ab' %}{{ loop }}{% endfor %}", "the loop itself"),
    ("{% for c in 'ab' %}{{ loop|replace('x', 'y') }}{% endfor %}", "the loop itself"),
    ("{% for c in 'ab' %}{{ c ~ loop }}{% endfor %}", "the loop itself"),
    ("{% set x = name.upper %}{{ x }}", "method"),
]


@pytest.mark.parametrize(("source", "reason"), PYTHON_OBJECTS, ids=[c[0] for c in PYTHON_OBJECTS])
def test_the_sandbox_never_writes_a_python_object(source: str, reason: str) -> None:
    for autoescape in (False, True):
        with pytest.raises(RenderError, match=re.escape(reason)) as caught:
            _run(_compile_unchecked(source, autoescape), {**VARIABLES, "amount_due": 12}, "t")
        assert "0x" not in str(caught.value) and "<" not in str(caught.value)


def test_text_and_numbers_are_still_written() -> None:
    source = (
        "{{ name }} {{ amount_due }} {{ 1/4 }} {{ 3 }} {{ name|length }} {{ name[0] }}"
        "{% for c in 'ab' %}{{ loop.index }}{% if loop.first %}!{% endif %}{% endfor %}"
        "{{ reference|default('-') }} {{ name ~ 1 }}"
    )
    text = _run(_compile_unchecked(source, True), {"name": "Ada", "amount_due": 12.5}, "t")
    assert text == "Ada 12.5 0.25 3 3 A1!2- Ada1"


REPR = re.compile(r"<[A-Za-z_][\w.]*[ >]| at 0x[0-9a-f]+|\b(?:None|True|False)\b")
PIECES = st.one_of(
    st.sampled_from(sorted(STANDARD_VARIABLES)).map(lambda v: "{{ " + v + " }}"),
    st.sampled_from(
        [
            "{{ name.upper }}", "{{ name.upper|string }}", "{{ name ~ none }}", "{{ none }}",
            "{{ [name]|first }}", "{{ [name]|e }}", "{{ name is defined }}", "{{ loop }}",
            "{% for c in name %}{{ loop|string }}{% endfor %}", "{{ name.split }}", "x ",
            "{{ (name == 'x')|string }}", "{{ name|default(none) }}", "{{ {}|string }}",
            "{{ name|replace('a', pay_url)|trim }}", "{{ amount_due|int }}", "{{ 1 > 2 }}",
            "{% set y = name.strip %}{{ y }}", "{{ name[0:3] }}", "{{ name|first ~ true }}",
        ]
    ),
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(PIECES, max_size=8).map("".join), st.booleans())
def test_no_rendered_message_contains_a_python_repr(source: str, email: bool) -> None:
    """Whatever a body is, what renders holds no repr: it renders only text and numbers."""
    rendition = Rendition("email" if email else "sms", "en", source, subject="s")
    with contextlib.suppress(RenderError):
        body = render(rendition, {**VARIABLES, "amount_due": 7}).body
        assert not REPR.search(body), body


# --- the variables a rendition needs ------------------------------------------------------

NEEDS = [
    ("Hi {{ name }}, {{ amount_due }}", {"name", "amount_due"}),
    ("{% if reference is defined %}Ref {{ reference }}{% endif %}", set()),
    ("{% if reference is undefined %}-{% else %}{{ reference }}{% endif %}", set()),
    ("{% if not reference is defined %}-{% else %}{{ reference }}{% endif %}", set()),
    ("{% if creditor is defined %}{% elif reference is defined %}{{ reference }}{% endif %}",
     set()),
    ("{% if creditor is defined %}{{ reference }}{% endif %}", {"reference"}),
    ("{% if reference is defined %}{% endif %}{{ reference }}", {"reference"}),
    ("{{ reference if reference is defined else 'none' }}", set()),
    ("{{ reference is defined and reference }}", set()),
    ("{{ reference is undefined or reference }}", set()),
    ("{{ reference or 'x' }}", {"reference"}),
    ("{{ reference|default('-') }} {{ creditor|d(name) }}", {"name"}),
    ("{{ reference|upper|default('-') }}", {"reference"}),
    ("{% set x = name %}{{ x }}{% for c in pay_url %}{{ c }}{% endfor %}", {"name", "pay_url"}),
    ("{% if name %}{{ due_date }}{% endif %}", {"name", "due_date"}),
    ("{{ name }", set()),  # does not parse: refused at registration
]  # fmt: skip


@pytest.mark.parametrize(("source", "expected"), NEEDS, ids=[c[0] for c in NEEDS])
def test_needed_variables(source: str, expected: set[str]) -> None:
    assert needed_variables(Rendition("sms", "en", source)) == expected


def test_needed_variables_cover_every_field() -> None:
    email = Rendition("email", "en", "{{ opt_out_url }}", subject="{{ creditor }}")
    push = Rendition("push", "en", "{{ amount_due }}", title="{{ reference }}")
    assert needed_variables(email) == {"opt_out_url", "creditor"}
    assert needed_variables(push) == {"amount_due", "reference"}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(sorted(STANDARD_VARIABLES)), max_size=7, unique=True))
def test_a_rendition_renders_with_the_variables_it_needs(given_names: list[str]) -> None:
    """Given the variables it needs a rendition renders; when it fails for a missing
    variable, that variable was needed (and not given)."""
    body = (
        "{{ name }} {% if reference is defined %}{{ reference }}{% endif %}"
        "{{ creditor|default('us') }} {{ amount_due if due_date is defined else '' }} "
        "{{ pay_url }} Reply STOP"
    )
    rendition = Rendition("sms", "en", body)
    needs = needed_variables(rendition)
    values = {name: VARIABLES[name] for name in given_names}
    try:
        render(rendition, values)
    except RenderError as exc:
        assert exc.variable in needs - set(given_names), (needs, given_names, exc)


# --- SMS segments: what an SMS is billed as ----------------------------------------------------

GSM_TEXT = st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENSION), max_size=700)
ANY_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENSION)), st.characters(codec="utf-8")
    ),
    max_size=500,
)


def units(text: str, encoding: str) -> list[int]:
    if encoding == "GSM-7":
        return [2 if c in GSM7_EXTENSION else 1 for c in text]
    return [len(c.encode("utf-16-le")) // 2 for c in text]


@settings(max_examples=300, deadline=None)
@given(st.one_of(GSM_TEXT, ANY_TEXT))
def test_sms_segments_are_the_fewest_parts_that_hold_the_text(text: str) -> None:
    """GSM-7 (extension characters count 2) when every character is in it, else UCS-2; one
    segment up to 160 / 70 units, else the fewest parts of 153 / 67 units that hold it
    without splitting a character (next-fit over the characters in order is optimal)."""
    info = sms_info(text)
    gsm = all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)
    assert info.encoding == ("GSM-7" if gsm else "UCS-2")
    sizes = units(text, info.encoding)
    assert info.characters == sum(sizes)
    single, part = (160, 153) if gsm else (70, 67)
    if info.characters <= single:
        assert info.segments == 1
    else:
        parts, used = 1, 0
        for size in sizes:
            if used + size > part:
                parts, used = parts + 1, 0
            used += size
        assert info.segments == parts
        assert math.ceil(info.characters / part) <= info.segments
        assert info.segments <= math.ceil(info.characters / (part - 1))
    assert sms_segments("sms", text) == info.segments
    assert sms_segments("email", text) == 1


@given(GSM_TEXT, st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENSION)))
def test_a_longer_sms_never_costs_fewer_segments(text: str, more: str) -> None:
    assert sms_info(text + more).segments >= sms_info(text).segments


def test_too_long_names_the_segments_and_the_limit() -> None:
    assert too_long(SmsInfo("GSM-7", 150, 1), 1) is None
    why = too_long(SmsInfo("UCS-2", 201, 3), 2, " with these values")
    assert why == "is 3 SMS segments (UCS-2, 201 characters) with these values; the limit is 2"


def test_a_template_invalid_error_lists_its_problems() -> None:
    with pytest.raises(TemplateInvalid, match="has no opt-out"):
        validate_template([sms("{% set x = opt_out_url %}")])
