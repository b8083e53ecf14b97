"""Template validation at registration: every problem of a template at once.

Syntax (with line numbers), unknown variables, unsafe constructs (templates_store.sandbox),
then each rendition is rendered with sample values and judged on what it renders: it must
render, an email or SMS must carry an opt-out, an SMS must fit the campaign's segment limit
(templates_store.message_checks, as at decision time). The sample opt-out URL is random
and unlike every other sample value, so a body cannot produce it but by writing
``{{ opt_out_url }}``; a second set of sample values, unlike the first, keeps a body from
showing the opt-out only for the first set's values.
"""

from __future__ import annotations

import difflib
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from jinja2 import TemplateSyntaxError, nodes

from bandit.channels import CHANNELS
from templates_store.message_checks import (
    MISSING_OPT_OUT,
    OPT_OUT_CHANNELS,
    OPT_OUT_TEXT,
    carries_opt_out,
    too_long,
)
from templates_store.rendering import MAX_SOURCE_CHARS, RenderError, Rendition, render
from templates_store.sandbox import ANALYSIS, FORBIDDEN_NAMES, compile_unchecked, unsafe
from templates_store.sandbox import used_variables as _used_variables
from templates_store.sms import sms_info

STANDARD_VARIABLES = frozenset(
    {"name", "amount_due", "due_date", "pay_url", "opt_out_url", "creditor", "reference"}
)
_RESERVED = frozenset(
    {"true", "false", "none", "and", "or", "not", "in", "is", "if", "else", "loop"}
)
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_SAMPLE = {
    "name": "Maximilian Schneider-Jensen",
    "amount_due": "€1,234.56",
    "due_date": "31 December 2024",
    "pay_url": "https://pay.example.com/p/7Hq2xK9mZp4Tw2",
    "opt_out_url": "https://pay.example.com/s/7Hq2xK9mZp4Tw2",
    "creditor": "Northwind Consumer Finance",
    "reference": "INV-2024-0001234",
}
_DECLARED_SAMPLE = "Sample value 1234567"  # 20 characters for a declared variable
_OTHER_SAMPLE = {  # plausible values unlike _SAMPLE in length and content
    "name": "Li Na",
    "amount_due": "$87.05",
    "due_date": "2025-03-01",
    "pay_url": "https://billing.example.net/go?r=55",
    "creditor": "Acme Credit",
    "reference": "R-77",
}
_OTHER_DECLARED_SAMPLE = "Another value"
_MISSING_FOR_OTHER_VALUES = (
    "has no opt-out with other sample values: show {{ opt_out_url }} or a line like "
    "'Reply STOP to opt out' whatever the values"
)


@dataclass(frozen=True)
class TemplateProblem:
    """One thing wrong with a template; ``index`` is the rendition's position in the list."""

    code: str
    message: str
    channel: str | None = None
    locale: str | None = None
    field: str | None = None
    line: int | None = None
    index: int | None = None


class TemplateInvalid(ValueError):
    """A template failed validation; ``problems`` lists every problem found."""

    def __init__(self, problems: Iterable[TemplateProblem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        summary = "; ".join(p.message for p in self.problems)
        super().__init__(f"template has {count} problem{'s' * (count != 1)}: {summary}")


def sample_variables(
    variables: Iterable[str] = (), sample: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Values of realistic length for previews and the SMS length check; ``sample`` wins."""
    values = dict.fromkeys(variables, _DECLARED_SAMPLE) | _SAMPLE
    return values | dict(sample or {})


def _opt_out_samples(
    declared: Sequence[str], sample: Mapping[str, str] | None
) -> tuple[dict[str, str], dict[str, str]]:
    """The two sets of values registration renders with, each with a fresh random opt-out
    URL (the first of the usual length, so the SMS length check does not vary)."""
    first = sample_variables(declared) | {"opt_out_url": _random_url("https://pay.example.com/s/")}
    second = dict.fromkeys(declared, _OTHER_DECLARED_SAMPLE) | _OTHER_SAMPLE
    second["opt_out_url"] = _random_url("https://optout.example.org/u/") + "?x=1&y=2"
    return first | dict(sample or {}), second


def _random_url(prefix: str) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(14))


def locale_key(locale: str) -> str:
    """A locale compared case-insensitively with '_' and '-' alike."""
    return locale.replace("_", "-").lower()


def _problem(
    code: str,
    detail: str,
    rendition: Rendition | None = None,
    index: int | None = None,
    field: str | None = None,
    line: int | None = None,
) -> TemplateProblem:
    where = "" if rendition is None else f"{rendition.channel or '?'}/{rendition.locale or '?'}"
    where += f" {field}" if field else ""
    where += f" line {line}" if line else ""
    return TemplateProblem(
        code=code,
        message=f"{where.strip()}: {detail}" if where else detail,
        channel=None if rendition is None else rendition.channel,
        locale=None if rendition is None else rendition.locale,
        field=field,
        line=line,
        index=index,
    )


def _check_variables(declared: Sequence[str]) -> list[TemplateProblem]:
    problems = []
    for name in declared:
        if not _IDENTIFIER.fullmatch(name) or name in FORBIDDEN_NAMES | _RESERVED:
            detail = f"cannot declare the variable {name!r}: use a letter, then letters, digits"
            problems.append(_problem("bad_variable", f"{detail} or '_'; not a reserved word"))
    return problems


def _literal_text(ast: nodes.Template) -> str:
    """The text a template writes verbatim (template data and string constants)."""
    parts = [n.data for n in ast.find_all(nodes.TemplateData)]
    parts += [n.value for n in ast.find_all(nodes.Const) if isinstance(n.value, str)]
    return "\n".join(parts)


def _parse(source: str) -> tuple[nodes.Template | None, list[tuple[str, str, int | None]]]:
    """The tree of a source and its problems as (code, detail, line)."""
    if len(source) > MAX_SOURCE_CHARS:
        return None, [("too_large", f"is longer than {MAX_SOURCE_CHARS} characters", None)]
    try:
        return ANALYSIS.parse(source), []
    except TemplateSyntaxError as exc:
        return None, [("syntax_error", exc.message or "invalid syntax", exc.lineno)]
    except RecursionError:
        return None, [("too_complex", "is nested too deeply to be parsed", None)]


def _check_field(
    rendition: Rendition, index: int, field: str, source: str, allowed: frozenset[str]
) -> list[TemplateProblem]:
    """Problems of one field before it is rendered: size, syntax, unsafe constructs, unknown
    names; for a body that cannot be rendered, a missing opt-out as far as its text shows."""

    def problem(code: str, detail: str, line: int | None = None) -> TemplateProblem:
        return _problem(code, detail, rendition, index, field, line)

    ast, found = _parse(source)
    problems = [problem(*p) for p in found]
    used: set[str] = set()
    if ast is not None:
        for node in ast.find_all(nodes.Node):
            if (bad := unsafe(node)) is not None:
                problems.append(problem(bad[0], bad[1], node.lineno))
        used = _used_variables(ast, exact=not problems)
        for name in sorted(used - allowed - FORBIDDEN_NAMES):
            line = next((n.lineno for n in ast.find_all(nodes.Name) if n.name == name), None)
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            detail = f"uses unknown variable '{name}'{hint}; declare it in the template's variables"
            problems.append(problem("unknown_variable", detail, line))
    if not problems:
        try:
            compile_unchecked(source, rendition.channel == "email" and field == "body")
        except TemplateSyntaxError as exc:
            problems.append(problem("syntax_error", exc.message or "invalid", exc.lineno))
        except (RecursionError, SyntaxError, MemoryError):
            problems.append(problem("too_complex", "is too complex to be compiled"))
    if problems and field == "body" and rendition.channel in OPT_OUT_CHANNELS and source.strip():
        opt_out = (  # best effort: the body cannot be rendered to be judged on its output
            ("opt_out_url" in used or OPT_OUT_TEXT.search(_literal_text(ast)))
            if ast is not None
            else ("opt_out_url" in source or OPT_OUT_TEXT.search(source))
        )
        if not opt_out:
            problems.append(problem("missing_opt_out", MISSING_OPT_OUT))
    return problems


def _check_rendered(
    rendition: Rendition,
    index: int,
    sms_max_segments: int,
    samples: tuple[dict[str, str], dict[str, str]],
) -> list[TemplateProblem]:
    """Render with each set of sample values; judge the output as the decision flow will."""
    problems: list[TemplateProblem] = []
    for n, values in enumerate(samples):
        try:
            message = render(rendition, values)
        except RenderError as exc:
            detail = f"fails with sample values: {exc}"
            return [_problem("render_error", detail, rendition, index, exc.field)]
        if not carries_opt_out(rendition.channel, message.body, values.get("opt_out_url")):
            detail = MISSING_OPT_OUT if n == 0 else _MISSING_FOR_OTHER_VALUES
            return [_problem("missing_opt_out", detail, rendition, index, "body")]
        if n == 0 and rendition.channel == "sms":
            why = too_long(sms_info(message.body), sms_max_segments, " with sample values")
            if why is not None:
                problems.append(_problem("sms_too_long", why, rendition, index, "body"))
    return problems


def _check_rendition(
    rendition: Rendition,
    index: int,
    allowed: frozenset[str],
    sms_max_segments: int,
    samples: tuple[dict[str, str], dict[str, str]],
) -> list[TemplateProblem]:
    problems = []
    if rendition.channel not in CHANNELS:
        detail = f"unknown channel {rendition.channel!r}; use one of {', '.join(CHANNELS)}"
        problems.append(_problem("unknown_channel", detail, rendition, index))
    if not _LOCALE.fullmatch(rendition.locale):
        detail = f"bad locale {rendition.locale!r}; use a language tag such as 'en' or 'de-DE'"
        problems.append(_problem("bad_locale", detail, rendition, index))
    required = {"email": "subject", "push": "title"}.get(rendition.channel)
    fields = {"body": rendition.body, "subject": rendition.subject, "title": rendition.title}
    if required is not None and not (fields[required] or "").strip():
        code, detail = f"missing_{required}", f"{rendition.channel} renditions need a {required}"
        problems.append(_problem(code, detail, rendition, index, required))
    if not rendition.body.strip():
        problems.append(_problem("empty_body", "the body is empty", rendition, index, "body"))
    for field, source in fields.items():
        if source is not None:
            problems += _check_field(rendition, index, field, source, allowed)
    if problems:
        return problems
    return _check_rendered(rendition, index, sms_max_segments, samples)


def validate_template(
    renditions: Sequence[Rendition],
    *,
    variables: Iterable[str] = (),
    sms_max_segments: int = 3,
    sample: Mapping[str, str] | None = None,
) -> None:
    """Check a template's renditions; raise TemplateInvalid listing every problem found.

    ``variables`` are the template's declared variables (beyond STANDARD_VARIABLES);
    ``sample`` overrides the first set of sample values (the one the SMS length is judged on).
    """
    if sms_max_segments < 1:
        raise ValueError(f"sms_max_segments must be at least 1, got {sms_max_segments}")
    declared = list(variables)
    problems = _check_variables(declared)
    allowed = STANDARD_VARIABLES | frozenset(declared)
    if not renditions:
        problems.append(_problem("no_renditions", "a template needs at least one rendition"))
    samples = _opt_out_samples(declared, sample)
    seen: dict[tuple[str, str], int] = {}
    for index, rendition in enumerate(renditions):
        key = (rendition.channel, locale_key(rendition.locale))
        if key in seen:
            detail = "appears twice; keep one rendition per channel and locale"
            problems.append(_problem("duplicate_rendition", detail, rendition, index))
        seen.setdefault(key, index)
        problems += _check_rendition(rendition, index, allowed, sms_max_segments, samples)
    if problems:
        raise TemplateInvalid(problems)
