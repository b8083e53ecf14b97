"""Template validation, sandboxed rendering and SMS arithmetic (templates_store.templating)."""

from __future__ import annotations

import contextlib
import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2 import TemplateSyntaxError

from templates_store.templating import (
    CHANNELS,
    STANDARD_VARIABLES,
    RenderError,
    Rendition,
    SmsInfo,
    TemplateInvalid,
    TemplateProblem,
    _compile_unchecked,
    _run,
    pick_rendition,
    render,
    sample_variables,
    sms_info,
    validate_template,
)

VARIABLES = {
    "name": "Åse Øberg",
    "amount_due": "€120.00",
    "due_date": "2024-12-31",
    "pay_url": "https://pay.example/x",
    "opt_out_url": "https://pay.example/stop",
    "creditor": "Northwind",
    "reference": "INV-1",
}


def problems_of(renditions: list[Rendition], **kwargs: object) -> tuple[TemplateProblem, ...]:
    with pytest.raises(TemplateInvalid) as caught:
        validate_template(renditions, **kwargs)  # type: ignore[arg-type]
    assert caught.value.problems, "TemplateInvalid without problems"
    return caught.value.problems


def sms(body: str) -> Rendition:
    return Rendition("sms", "en", body)


# --- registration: injection and malformed bodies -------------------------------------------

BODY_CASES = [
    # (case id, SMS body, expected code, expected line or None)
    ("syntax", "Hi\n{{ name }\nReply STOP", "syntax_error", 2),
    ("unclosed_if", "Reply STOP\n{% if name %}x", "syntax_error", 2),
    ("unknown_tag", "Reply STOP {% do name %}", "syntax_error", 1),
    ("unknown_variable", "Reply STOP\n\n{{ nmae }}", "unknown_variable", 3),
    ("loop_outside_loop", "Reply STOP {{ loop.index }}", "unknown_variable", 1),
    ("dunder_attr", "Reply STOP {{ name.__class__ }}", "unsafe_template", 1),
    ("dunder_item", "Reply STOP {{ name['__class__'] }}", "unsafe_template", 1),
    ("private_attr", "Reply STOP {{ name._secret }}", "unsafe_template", 1),
    ("mro_chain", "Reply STOP {{ ''.__class__.__mro__[1].__subclasses__() }}", "unsafe_template", 1),
    ("globals", "Reply STOP\n{{ name.__init__.__globals__['__builtins__'] }}", "unsafe_template", 2),
    ("cycler_rce", "Reply STOP\n\n{{ cycler.__init__.__globals__.os.popen('id').read() }}",
     "unsafe_template", 3),
    ("cycler", "Reply STOP {{ cycler }}", "unsafe_template", 1),
    ("joiner", "Reply STOP {{ joiner }}", "unsafe_template", 1),
    ("lipsum", "Reply STOP {{ lipsum }}", "unsafe_template", 1),
    ("namespace", "Reply STOP {% set ns = namespace(a=1) %}", "unsafe_template", 1),
    ("namespace_ref", "Reply STOP {% set ns.a = 1 %}", "unsafe_template", 1),
    ("dict", "Reply STOP {{ dict }}", "unsafe_template", 1),
    ("range_call", "Reply STOP {{ range(10**9)|length }}", "unsafe_template", 1),
    ("for_range", "Reply STOP {% for i in range(10**9) %}{% endfor %}", "unsafe_template", 1),
    ("nested_for", "Reply STOP {% for a in name %}\n{% for b in name %}{% endfor %}{% endfor %}",
     "unsafe_template", 1),
    ("string_mul", "Reply STOP {{ 'a' * 10**9 }}", "unsafe_template", 1),
    ("string_mul_small", "Reply STOP {{ 'a' * 3 }}", "unsafe_template", 1),
    ("variable_mul", "Reply STOP {{ name * 3 }}", "unsafe_template", 1),
    ("list_mul", "Reply STOP {{ [0] * 1000 }}", "unsafe_template", 1),
    ("large_constant_mul", "Reply STOP {{ 2 * 100000000 }}", "unsafe_template", 1),
    ("pow", "Reply STOP {{ 9**9**9 }}", "unsafe_template", 1),
    ("percent_format", "Reply STOP {{ '%999999999s' % name }}", "unsafe_template", 1),
    ("attr_filter", "Reply STOP {{ name|attr('__class__') }}", "unsafe_template", 1),
    ("format_filter", "Reply STOP {{ '%s'|format(name) }}", "unsafe_template", 1),
    ("format_method", "Reply STOP {{ '{0.__class__}'.format(name) }}", "unsafe_template", 1),
    ("method_call", "Reply STOP {{ name.upper() }}", "unsafe_template", 1),
    ("center_filter", "Reply STOP {{ name|center(1000000000) }}", "unsafe_template", 1),
    ("map_filter", "Reply STOP {{ name|map(attribute='__class__')|list }}", "unsafe_template", 1),
    ("self", "Reply STOP {{ self }}", "unsafe_template", 1),
    ("self_private", "Reply STOP {{ self._TemplateReference__context }}", "unsafe_template", 1),
    ("config", "Reply STOP {{ config.items() }}", "unsafe_template", 1),
    ("request", "Reply STOP {{ request.application }}", "unsafe_template", 1),
    ("include", "Reply STOP\n{% include 'secrets.txt' %}", "unsafe_template", 2),
    ("import", "Reply STOP {% import 'macros' as m %}", "unsafe_template", 1),
    ("from_import", "Reply STOP {% from 'macros' import m %}", "unsafe_template", 1),
    ("extends", "{% extends 'base' %}Reply STOP", "unsafe_template", 1),
    ("macro", "Reply STOP {% macro m() %}x{% endmacro %}", "unsafe_template", 1),
    ("call_block", "Reply STOP {% call name() %}x{% endcall %}", "unsafe_template", 1),
    ("block", "Reply STOP {% block b %}x{% endblock %}", "unsafe_template", 1),
    ("autoescape_off", "Reply STOP {% autoescape false %}{{ name }}{% endautoescape %}",
     "unsafe_template", 1),
    ("unknown_filter", "Reply STOP {{ name|uppper }}", "unknown_filter", 1),
    ("unknown_test", "Reply STOP {{ name is nosuch }}", "unknown_test", 1),
    ("deep_nesting", "Reply STOP {{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", "too_complex", None),
    ("too_large", "Reply STOP " + "x" * 100_001, "too_large", None),
    ("missing_opt_out", "Hi {{ name }}, pay {{ amount_due }}: {{ pay_url }}", "missing_opt_out",
     None),
    ("opt_out_only_in_comment", "Hi {{ name }} {# Reply STOP #}", "missing_opt_out", None),
    ("runtime_type_error", "Reply STOP {{ name + 1 }}", "render_error", None),
    ("computed_dunder", "Reply STOP {{ name['_' ~ '_class__'] }}", "render_error", None),
    ("syntax_and_opt_out", "Hi {{ name }", "missing_opt_out", None),
    ("too_long", "Reply STOP " + "{{ pay_url }} " * 12, "sms_too_long", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "code", "line"), [c[1:] for c in BODY_CASES], ids=[c[0] for c in BODY_CASES]
)
def test_bad_body_is_rejected_with_code_and_line(body: str, code: str, line: int | None) -> None:
    started = time.perf_counter()
    problems = problems_of([sms(body)])
    assert time.perf_counter() - started < 1.0, "validation must not evaluate the payload"
    found = [p for p in problems if p.code == code]
    assert found, f"expected {code}, got {[(p.code, p.message) for p in problems]}"
    assert all(p.channel == "sms" and p.locale == "en" and p.index == 0 for p in found)
    assert found[0].message.startswith("sms/en")
    if line is not None:
        assert found[0].line == line
        assert found[0].field == "body"
        assert f"body line {line}:" in found[0].message


def test_syntax_error_message_names_rendition_field_and_line() -> None:
    (problem,) = problems_of([sms("Hi\n{{ name }\nReply STOP")])
    assert problem.message == "sms/en body line 2: unexpected '}'"


def test_subject_problem_names_the_subject_field() -> None:
    email = Rendition("email", "en", "{{ opt_out_url }}", subject="Hi\n{{ name.__class__ }}")
    (problem,) = problems_of([email])
    assert (problem.code, problem.field, problem.line) == ("unsafe_template", "subject", 2)


def test_unknown_variable_suggests_the_close_name() -> None:
    (problem,) = problems_of([sms("{{ amount_du }} Reply STOP")])
    assert "'amount_du'" in problem.message and "did you mean 'amount_due'" in problem.message


def test_declared_variables_are_allowed_only_when_declared() -> None:
    body = "{{ installments }} Reply STOP"
    assert problems_of([sms(body)])[0].code == "unknown_variable"
    validate_template([sms(body)], variables=["installments"])


RENDITION_CASES = [
    ("unknown_channel", [Rendition("fax", "en", "x")], {}, "unknown_channel"),
    ("bad_locale", [Rendition("letter", "english!", "x")], {}, "bad_locale"),
    ("empty_locale", [Rendition("letter", "", "x")], {}, "bad_locale"),
    ("duplicate", [sms("a Reply STOP"), sms("b Reply STOP")], {}, "duplicate_rendition"),
    ("duplicate_case", [sms("a Reply STOP"), Rendition("sms", "EN", "b Reply STOP")], {},
     "duplicate_rendition"),
    ("missing_subject", [Rendition("email", "en", "{{ opt_out_url }}")], {}, "missing_subject"),
    ("blank_subject", [Rendition("email", "en", "{{ opt_out_url }}", subject=" ")], {},
     "missing_subject"),
    ("missing_title", [Rendition("push", "en", "Pay {{ amount_due }}")], {}, "missing_title"),
    ("empty_body", [Rendition("letter", "en", "  \n")], {}, "empty_body"),
    ("no_renditions", [], {}, "no_renditions"),
    ("bad_variable_dunder", [sms("Reply STOP")], {"variables": ["__class__"]}, "bad_variable"),
    ("bad_variable_self", [sms("Reply STOP")], {"variables": ["self"]}, "bad_variable"),
    ("sms_segments", [sms("Reply STOP " + "x" * 150)], {"sms_max_segments": 1}, "sms_too_long"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("renditions", "kwargs", "code"),
    [c[1:] for c in RENDITION_CASES],
    ids=[c[0] for c in RENDITION_CASES],
)
def test_bad_rendition_is_rejected(
    renditions: list[Rendition], kwargs: dict[str, object], code: str
) -> None:
    assert code in {p.code for p in problems_of(renditions, **kwargs)}


def test_all_problems_are_reported_at_once() -> None:
    renditions = [
        Rendition("email", "en", "<p>{{ name }}</p>"),
        sms("{{ nmae }}\n{{ name.__class__ }}"),
        Rendition("fax", "xx-!", "hi"),
    ]
    with pytest.raises(TemplateInvalid) as caught:
        validate_template(renditions)
    error = caught.value
    codes = [p.code for p in error.problems]
    for code in ("missing_subject", "missing_opt_out", "unknown_variable", "unsafe_template"):
        assert code in codes
    assert {"unknown_channel", "bad_locale"} <= set(codes)
    assert "problems:" in str(error) and "sms/en body line 2" in str(error)


def test_sms_too_long_names_count_and_encoding() -> None:
    body = "回复 STOP 退订 " + "{{ name }} " * 10
    (problem,) = problems_of([Rendition("sms", "zh", body)])
    assert problem.code == "sms_too_long"
    assert "UCS-2" in problem.message and "segments" in problem.message


def test_custom_sample_values_drive_the_length_check() -> None:
    body = "Hi {{ name }} Reply STOP"
    validate_template([sms(body)], sms_max_segments=1)
    problems = problems_of([sms(body)], sms_max_segments=1, sample={"name": "x" * 200})
    assert problems[0].code == "sms_too_long"


def test_sample_values_have_realistic_lengths() -> None:
    values = sample_variables(["installments"])
    assert STANDARD_VARIABLES | {"installments"} == set(values)
    assert len(values["pay_url"]) == len(values["opt_out_url"]) == 40
    assert len(values["name"]) >= 20
    assert sample_variables(sample={"name": "Ada"})["name"] == "Ada"


def test_sms_max_segments_must_be_positive() -> None:
    with pytest.raises(ValueError, match="sms_max_segments"):
        validate_template([sms("Reply STOP")], sms_max_segments=0)


@pytest.mark.parametrize(
    "line",
    [
        "Reply STOP to opt out",
        "reply stop",
        "Text STOP to 12345",
        "STOP to opt out",
        "Send STOP to unsubscribe",
        "Antworten Sie STOP zum Abmelden",
        "Antworte mit STOP",
        "Mit „STOP“ antworten, um sich abzumelden",
        "Svar STOP for at afmelde",
        "回复 STOP 退订",
        "回复STOP",
        "回T退订",
    ],
)
def test_reply_stop_lines_count_as_opt_out(line: str) -> None:
    validate_template([sms(f"Hej {{{{ name }}}}. {line}")])


def test_opt_out_is_not_required_for_letter_push_voice() -> None:
    validate_template(
        [
            Rendition("letter", "en", "Dear {{ name }}, please pay {{ amount_due }}."),
            Rendition("push", "en", "{{ amount_due }} is due", title="Reminder"),
            Rendition("voice", "en", "Hello {{ name }}. You owe {{ amount_due }}."),
        ]
    )


# --- happy path: every channel in en / de / da / zh -----------------------------------------

WORDS = {
    "en": ("Hi {{ name }}, {{ amount_due }} is due on {{ due_date }}", "Reply STOP to opt out"),
    "de": ("Hallo {{ name }}, bitte überweisen Sie {{ amount_due }} bis {{ due_date }}",
           "Antworten Sie STOP zum Abmelden"),
    "da": ("Hej {{ name }}, du skylder {{ amount_due }}. Betal før {{ due_date }}",
           "Svar STOP for at afmelde"),
    "zh": ("您好 {{ name }}，您有 {{ amount_due }} 待付，截止 {{ due_date }}", "回复 STOP 退订"),  # noqa: RUF001
}  # fmt: skip


def renditions_for(locale: str) -> list[Rendition]:
    text, stop = WORDS[locale]
    link = '<a href="{{ opt_out_url }}">✕</a>'
    return [
        Rendition("email", locale, f"<p>{text}. <a href='{{{{ pay_url }}}}'>→</a> {link}</p>",
                  subject="{{ creditor }}: {{ reference }}"),
        Rendition("sms", locale, f"{text}: {{{{ pay_url }}}} {stop}"),
        Rendition("letter", locale, f"{{{{ creditor }}}}\n\n{text}.\n{{{{ reference }}}}\n"),
        Rendition("push", locale, f"{text}.", title="{{ creditor }}"),
        Rendition("voice", locale, f"{text}. {{% if reference is defined %}}{{{{ reference }}}}"
                  "{% endif %}"),
    ]  # fmt: skip


@pytest.mark.parametrize("locale", ["en", "de", "da", "zh"])
def test_every_channel_validates_and_renders(locale: str) -> None:
    renditions = renditions_for(locale)
    validate_template(renditions)
    for rendition in renditions:
        message = render(rendition, VARIABLES)
        assert VARIABLES["amount_due"] in message.body
        assert "{{" not in message.body
    email = render(renditions[0], VARIABLES)
    assert email.subject == "Northwind: INV-1"
    assert render(renditions[3], VARIABLES).title == "Northwind"
    info = sms_info(render(renditions[1], VARIABLES).body)
    assert info.encoding == ("UCS-2" if locale == "zh" else "GSM-7")
    assert info.segments <= 2


def test_whole_template_with_all_locales_validates() -> None:
    validate_template([r for locale in WORDS for r in renditions_for(locale)])


def test_product_spec_example_validates_and_renders() -> None:
    renditions = [
        Rendition("email", "en", '<p>Hi {{ name }}, {{ amount_due }} is due. <a href="{{ pay_url }}'
                  '">Pay</a> <a href="{{ opt_out_url }}">Unsubscribe</a></p>',
                  subject="A quick reminder, {{ name }}"),
        sms("Hi {{ name }}, {{ amount_due }} is due: {{ pay_url }} Reply STOP to opt out"),
    ]  # fmt: skip
    validate_template(renditions)
    variables = {"name": "Ada", "amount_due": "$120.00", "pay_url": "https://pay.example/x"}
    body = render(renditions[1], variables).body
    assert body == "Hi Ada, $120.00 is due: https://pay.example/x Reply STOP to opt out"


def test_chinese_sms_is_ucs2() -> None:
    body = "您好 {{ name }}，您有 {{ amount_due }} 待付。回复 STOP 退订"  # noqa: RUF001
    rendition = Rendition("sms", "zh", body)
    validate_template([rendition])
    body = render(rendition, {"name": "王伟", "amount_due": "¥500"}).body
    assert body == "您好 王伟，您有 ¥500 待付。回复 STOP 退订"  # noqa: RUF001
    assert sms_info(body) == SmsInfo("UCS-2", len(body), 1)


# --- rendering: escaping, strict variables, the sandbox --------------------------------------


def test_email_body_is_escaped_but_subject_and_sms_are_not() -> None:
    email = Rendition("email", "en", "<b>{{ name }}</b> {{ opt_out_url }}", subject="Hi {{ name }}")
    variables = {"name": "<script>alert(1)</script>", "opt_out_url": "https://x/?a=1&b=2"}
    message = render(email, variables)
    assert message.body == ("<b>&lt;script&gt;alert(1)&lt;/script&gt;</b> https://x/?a=1&amp;b=2")
    assert message.subject == "Hi <script>alert(1)</script>"
    text = render(sms("{{ name }} Reply STOP"), variables).body
    assert text == "<script>alert(1)</script> Reply STOP"


def test_subject_and_title_are_one_line() -> None:
    email = Rendition("email", "en", "{{ opt_out_url }}", subject="Hi {{ name }}")
    message = render(email, {"name": "Ada\r\nBcc: all@example.com", "opt_out_url": "u"})
    assert message.subject == "Hi Ada Bcc: all@example.com"


def test_missing_variable_raises_render_error_naming_it() -> None:
    rendition = sms("Hi {{ name }}, {{ amount_due }} is due. Reply STOP")
    with pytest.raises(RenderError, match="sms/en body: variable 'amount_due' is missing") as err:
        render(rendition, {"name": "Ada"})
    assert err.value.variable == "amount_due"


def test_is_defined_works_with_strict_undefined() -> None:
    rendition = sms("{% if reference is defined %}Ref {{ reference }}. {% endif %}Reply STOP")
    assert render(rendition, {}).body == "Reply STOP"
    assert render(rendition, {"reference": "R1"}).body == "Ref R1. Reply STOP"


def test_render_refuses_an_unvalidated_unsafe_template() -> None:
    with pytest.raises(RenderError, match="private attribute '__class__'"):
        render(sms("{{ name.__class__ }}"), VARIABLES)
    with pytest.raises(RenderError, match="line 2: calls a function"):
        render(sms("x\n{{ cycler.__init__.__globals__.os.popen('id').read() }}"), VARIABLES)


def test_allowed_filters_and_arithmetic_work() -> None:
    rendition = sms(
        "{{ name|upper }} {{ (amount_due|float * 0.9)|round(2) }} {{ creditor|default('us') }}"
        " {{ reference|replace('-', ' ') }} Reply STOP"
    )
    validate_template([rendition])
    body = render(rendition, {"name": "ada", "amount_due": "100", "reference": "A-1"}).body
    assert body == "ADA 90.0 us A 1 Reply STOP"


RUNTIME_CASES = [
    # (case id, source passed straight to the sandbox, extra variables, expected reason)
    ("string_mul", "{{ 'a' * 10**9 }}", {}, "'\\*' would build"),
    ("list_mul", "{{ [0] * 10**7 }}", {}, "'\\*' would build"),
    ("variable_mul", "{{ name * 100000 }}", {}, "'\\*' would build"),
    ("pow_tower", "{{ 9**9**9 }}", {}, "'\\*\\*' is limited"),
    ("pow_big", "{{ 2 ** 100000000 }}", {}, "'\\*\\*' is limited"),
    ("range", "{{ range(10**9)|length }}", {}, "function calls are not allowed"),
    ("for_range", "{% for i in range(10**9) %}{% endfor %}", {}, "function calls"),
    ("percent_width", "{{ '%999999999s' % name }}", {}, "formatting text with '%'"),
    ("format_method", "{{ '{0.__class__}'.format(name) }}", {}, "function calls"),
    ("dunder", "{{ name.__class__.__mro__ }}", {}, "'__class__' of 'str' object is unsafe"),
    ("dunder_item", "{{ name['__class__']['__mro__'] }}", {}, "'__class__' of 'str'"),
    ("self_private", "{{ self._TemplateReference__context }}", {}, "is unsafe"),
    ("cycler_rce", "{{ cycler.__init__.__globals__.os.popen('id').read() }}", {}, "unsafe"),
    ("no_cycler", "{{ cycler }}", {}, "variable 'cycler' is missing"),
    ("no_joiner", "{{ joiner }}", {}, "variable 'joiner' is missing"),
    ("no_lipsum", "{{ lipsum }}", {}, "variable 'lipsum' is missing"),
    ("no_range", "{{ range }}", {}, "variable 'range' is missing"),
    ("no_namespace", "{{ namespace }}", {}, "variable 'namespace' is missing"),
    ("no_dict", "{{ dict }}", {}, "variable 'dict' is missing"),
    ("namespace", "{% set ns = namespace(a=1) %}{{ ns.a }}", {}, "function calls"),
    ("method_call", "{{ name.upper() }}", {}, "function calls"),
    ("replace_blowup", "{{ name|replace('', pay_url) }}", {"name": "x" * 5000, "pay_url": "y" * 99},
     "\\|replace would build"),
    ("round_precision", "{{ 1.5|round(10**9, 'floor') }}", {}, "\\|round precision"),
    ("output_cap", "{% for a in name %}{% for b in name %}{{ a }}{{ b }}{% endfor %}{% endfor %}",
     {"name": "x" * 3000}, "output is longer than 200000"),
    ("plus_blowup", "{{ name + name }}", {"name": "x" * 6000}, "'\\+' would build"),
    ("attr_filter", "{{ name|attr('upper') }}", {}, "No filter named 'attr'"),
    ("format_filter", "{{ '%s'|format(name) }}", {}, "No filter named 'format'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("source", "extra", "reason"),
    [c[1:] for c in RUNTIME_CASES],
    ids=[c[0] for c in RUNTIME_CASES],
)
def test_sandbox_alone_keeps_payloads_inert(
    source: str, extra: dict[str, str], reason: str
) -> None:
    """Defence in depth: with validation skipped, the sandbox itself refuses, and fast."""
    started = time.perf_counter()
    with pytest.raises((RenderError, TemplateSyntaxError), match=reason):
        _run(_compile_unchecked(source, False), {**VARIABLES, **extra}, "sms/en body")
    assert time.perf_counter() - started < 1.0


def test_sandbox_has_no_globals() -> None:
    assert _compile_unchecked("x", True).globals == {}
    assert _compile_unchecked("x", False).environment.globals == {}


def test_set_inside_a_loop_does_not_accumulate() -> None:
    source = "{% set x = name %}{% for c in name %}{% set x = x ~ x %}{% endfor %}{{ x|length }}"
    assert _run(_compile_unchecked(source, False), {"name": "a" * 64}, "t") == "64"


# --- SMS arithmetic ----------------------------------------------------------------------------

SMS_CASES = [
    ("empty", "", "GSM-7", 0, 1),
    ("gsm_160", "a" * 160, "GSM-7", 160, 1),
    ("gsm_161", "a" * 161, "GSM-7", 161, 2),
    ("gsm_306", "a" * 306, "GSM-7", 306, 2),
    ("gsm_307", "a" * 307, "GSM-7", 307, 3),
    ("gsm_accents", "ÄÖÑÜäöñüàèéùìòÇØøÅåÆæßÉ" * 6, "GSM-7", 138, 1),
    ("euro_80", "€" * 80, "GSM-7", 160, 1),
    ("euro_81", "€" * 81, "GSM-7", 162, 2),
    ("brace_80", "{" * 80, "GSM-7", 160, 1),
    ("extension_mix", "a" * 159 + "€", "GSM-7", 161, 2),
    ("extension_not_split", "a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3),
    ("basic_e_acute", "a" * 159 + "é", "GSM-7", 160, 1),
    ("ucs2_by_a_acute", "a" * 159 + "á", "UCS-2", 160, 3),
    ("ucs2_70", "中" * 70, "UCS-2", 70, 1),
    ("ucs2_71", "中" * 71, "UCS-2", 71, 2),
    ("ucs2_134", "中" * 134, "UCS-2", 134, 2),
    ("ucs2_135", "中" * 135, "UCS-2", 135, 3),
    ("emoji_35", "😀" * 35, "UCS-2", 70, 1),
    ("emoji_36", "😀" * 36, "UCS-2", 72, 2),
    ("surrogate_not_split", "中" * 66 + "😀" + "中" * 66, "UCS-2", 134, 3),
]


@pytest.mark.parametrize(
    ("text", "encoding", "characters", "segments"),
    [c[1:] for c in SMS_CASES],
    ids=[c[0] for c in SMS_CASES],
)
def test_sms_info(text: str, encoding: str, characters: int, segments: int) -> None:
    assert sms_info(text) == SmsInfo(encoding, characters, segments)


@given(st.text(alphabet="abcXYZ 019.,!?@£$", max_size=1000))
def test_sms_segments_for_plain_gsm_text(text: str) -> None:
    expected = 1 if len(text) <= 160 else math.ceil(len(text) / 153)
    assert sms_info(text) == SmsInfo("GSM-7", len(text), expected)


@given(st.text(max_size=400))
def test_sms_units_fit_in_the_segments(text: str) -> None:
    info = sms_info(text)
    single, part = (160, 153) if info.encoding == "GSM-7" else (70, 67)
    assert info.characters <= (single if info.segments == 1 else info.segments * part)
    if info.encoding == "UCS-2":
        assert info.characters == len(text.encode("utf-16-le")) // 2


# --- pick_rendition ----------------------------------------------------------------------------


def test_pick_rendition_exact_then_fallback_then_none() -> None:
    en, de = sms("en Reply STOP"), Rendition("sms", "de-DE", "de Antworten Sie STOP")
    email = Rendition("email", "fr", "fr {{ opt_out_url }}", subject="s")
    renditions = [en, de, email]
    assert pick_rendition(renditions, "sms", "de-DE", "en") is de
    assert pick_rendition(renditions, "sms", "de_de", None) is de
    assert pick_rendition(renditions, "sms", "da", "en") is en
    assert pick_rendition(renditions, "sms", "da", None) is None
    assert pick_rendition(renditions, "email", "en", "de-DE") is None
    assert pick_rendition(renditions, "push", "en", "en") is None
    assert pick_rendition(renditions, "email", "FR", None) is email


# --- property: validation never crashes; accepted templates render safely and fast ------------

JUNK = [
    "{{", "}}", "{%", "%}", "{#", "#}", "|", "(", ")", "[", "]", ".", "'", '"', "*", "**", "%",
    "~", "+", "-", "/", "=", ",", ":", " if ", " else ", " for x in ", " endfor ", " endif ",
    " set ", " in ", "__class__", "__globals__", "_x", "range(10)", "10**9", "9**9**9", "999999999",
    "cycler", "self", "loop", "|attr('a')", "|format", "|upper", "|length", "|replace('', 'ab')",
    "|truncate(5)", "|default('x')", "{% raw %}", "{% endraw %}", "Reply STOP", "\n", "€", "中",
    "😀", "{% for c in name %}", "{% endfor %}", "{% if name %}", "{% endif %}", "{{ x }}",
    "{{ name.__class__ }}", "{{ 'a' * 99 }}", "{{ name|attr('x') }}", "{{ range(9) }}",
    "{{ 9**9 }}", "{{ name|center(99) }}", "{{ name + 1 }}", "{{ amount_due|float * 2 }}",
]  # fmt: skip
PIECES = st.one_of(
    st.text(max_size=12),
    st.sampled_from(sorted(STANDARD_VARIABLES)).map(lambda v: "{{ " + v + " }}"),
    st.sampled_from(sorted(STANDARD_VARIABLES)),
    st.sampled_from(JUNK),
)
SOURCES = st.lists(PIECES, max_size=25).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(channel=st.sampled_from(CHANNELS), body=SOURCES, extra=SOURCES)
def test_validation_never_crashes_and_accepted_templates_render_safely(
    channel: str, body: str, extra: str
) -> None:
    rendition = Rendition(
        channel,
        "en",
        body,
        subject=extra if channel == "email" else None,
        title=extra if channel == "push" else None,
    )
    try:
        validate_template([rendition])
    except TemplateInvalid as error:
        assert all(p.code and p.message for p in error.problems)
        return
    for variables in (sample_variables(), VARIABLES, {"name": "x" * 2000}, {}):
        started = time.perf_counter()
        with contextlib.suppress(RenderError):
            render(rendition, variables)
        assert time.perf_counter() - started < 1.0
