"""Template validation at registration and sandboxed Jinja2 rendering of renditions.

``validate_template`` reports every problem of a template at once: syntax (with line
numbers), unknown variables, a missing opt-out, SMS length, and anything a reminder never
needs and an attacker would (function calls, private attributes, ``**``, imports, loops in
loops). ``render`` runs in an immutable sandbox with strict undefined variables, no
globals, a short list of filters, capped operators and a capped output, so a template
that slipped past validation still renders inert or raises ``RenderError``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import (
    StrictUndefined,
    Template,
    TemplateSyntaxError,
    UndefinedError,
    meta,
    nodes,
    pass_eval_context,
)
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bandit.vocabulary import resolve_locale
from templates_store.sms import SmsInfo, sms_info

__all__ = [
    "CHANNELS",
    "STANDARD_VARIABLES",
    "RenderError",
    "RenderedMessage",
    "Rendition",
    "SmsInfo",
    "TemplateInvalid",
    "TemplateProblem",
    "pick_rendition",
    "render",
    "sample_variables",
    "sms_info",
    "validate_template",
]

CHANNELS = ("email", "sms", "letter", "push", "voice")
STANDARD_VARIABLES = frozenset(
    {"name", "amount_due", "due_date", "pay_url", "opt_out_url", "creditor", "reference"}
)
OPT_OUT_CHANNELS = frozenset({"email", "sms"})
MAX_SOURCE_CHARS = 100_000  # per field; generous for inline-styled HTML email
MAX_OUTPUT_CHARS = 200_000  # per rendered field
MAX_OPERAND_CHARS = 10_000  # largest text or list that '*', '+' or |replace may build
MAX_CONSTANT = 1_000_000  # larger numeric literals may not be multiplied at all
MAX_EXPONENT = 100
ALLOWED_FILTERS = frozenset(
    {"abs", "capitalize", "count", "d", "default", "e", "escape", "first", "float", "int"}
    | {"last", "length", "lower", "replace", "round", "string", "striptags", "title", "trim"}
    | {"truncate", "upper", "urlencode", "wordcount"}
)
_NUMERIC_FILTERS = frozenset({"abs", "count", "float", "int", "length", "round", "wordcount"})
_FORBIDDEN_NAMES = frozenset(
    {"self", "config", "request", "range", "cycler", "joiner", "lipsum", "namespace", "dict"}
    | {"caller", "varargs", "kwargs", "super"}
)
_RESERVED = frozenset(
    {"true", "false", "none", "and", "or", "not", "in", "is", "if", "else", "loop"}
)
_FORBIDDEN_TAGS: dict[type[nodes.Node], str] = {
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from ... import %}",
    nodes.Extends: "{% extends %}",
    nodes.Macro: "{% macro %}",
    nodes.CallBlock: "{% call %}",
    nodes.Block: "{% block %}",
    nodes.ScopedEvalContextModifier: "{% autoescape %}",
    nodes.EvalContextModifier: "{% autoescape %}",
    nodes.NSRef: "a namespace assignment",
}
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_OPEN_QUOTE = "[\"'\u2018\u201a\u201c\u201e]?"  # straight, English and German quotes
_CLOSE_QUOTE = "[\"'\u2019\u201c\u201d]?"
_OPT_OUT_TEXT = re.compile(  # English, German, Danish and Chinese reply-STOP lines
    rf"\b(?:reply|text|txt|send|sms|svar)\s+(?:with\s+|med\s+|mit\s+)?{_OPEN_QUOTE}stop\b"
    rf"|\bstop{_CLOSE_QUOTE}\s+(?:to|til)\s+(?:opt[\s-]?out|unsubscribe|end|stop|afmeld)"
    rf"|\bantwort\w*\s+(?:sie\s+)?(?:mit\s+)?{_OPEN_QUOTE}stop\b"
    rf"|\bmit\s+{_OPEN_QUOTE}stop{_CLOSE_QUOTE}\s+antworten|\bstop\b[^.\n]{{0,40}}\babmelden"
    rf"|回复\s*{_OPEN_QUOTE}stop|退订",
    re.IGNORECASE,
)
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


@dataclass(frozen=True)
class Rendition:
    """One (channel, locale) form of a template; ``body`` and the optional fields are Jinja2."""

    channel: str
    locale: str
    body: str
    subject: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class RenderedMessage:
    """A rendition rendered for one debtor."""

    subject: str | None
    body: str
    title: str | None = None


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


class RenderError(ValueError):
    """A rendition could not be rendered; ``variable`` names a missing variable, if that was it."""

    def __init__(self, message: str, *, variable: str | None = None) -> None:
        super().__init__(message)
        self.variable = variable


def _sized(value: Any) -> int | None:
    return len(value) if isinstance(value, str | list | tuple) else None


@pass_eval_context
def _bounded_replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: int | None = None) -> Any:
    text, before, after = str(s), str(old), str(new)
    hits = text.count(before) if before else len(text) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    if len(text) + hits * (len(after) - len(before)) > max(len(text), MAX_OPERAND_CHARS):
        raise SecurityError(f"|replace would build more than {MAX_OPERAND_CHARS} characters")
    return FILTERS["replace"](eval_ctx, s, old, new, count)


def _bounded_round(value: Any, precision: Any = 0, method: str = "common") -> Any:
    if not isinstance(precision, int) or abs(precision) > 15:
        raise SecurityError("|round precision must be a whole number between -15 and 15")
    return FILTERS["round"](value, precision, method)


class _ReminderSandbox(ImmutableSandboxedEnvironment):
    """The sandbox with no globals, few filters, no calls and size caps on operators."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=autoescape)
        self.globals.clear()
        self.filters = {name: FILTERS[name] for name in ALLOWED_FILTERS}
        self.filters |= {"replace": _bounded_replace, "round": _bounded_round}

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Refuse operators that would build huge values (the defence behind validation)."""
        numbers = isinstance(left, int | float) and isinstance(right, int | float)
        if operator == "**" and not (numbers and abs(right) <= MAX_EXPONENT and abs(left) <= 1e6):
            raise SecurityError(f"'**' is limited to exponents up to {MAX_EXPONENT}")
        if operator == "%" and isinstance(left, str):
            raise SecurityError("formatting text with '%' is not allowed")
        size_left, size_right = _sized(left), _sized(right)
        if operator == "*" and (size_left is not None or size_right is not None):
            times = right if size_left is not None else left
            size = (size_left or size_right or 0) * (times if isinstance(times, int) else 1)
            if size > MAX_OPERAND_CHARS:
                raise SecurityError(f"'*' would build more than {MAX_OPERAND_CHARS} elements")
        if operator == "+" and (size_left or 0) + (size_right or 0) > MAX_OPERAND_CHARS:
            raise SecurityError(f"'+' would build more than {MAX_OPERAND_CHARS} elements")
        return super().call_binop(context, operator, left, right)

    def call(self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Refuse every function call: a reminder needs variables and filters only."""
        raise SecurityError("function calls are not allowed in reminders")


_ENVIRONMENTS = {flag: _ReminderSandbox(autoescape=flag) for flag in (False, True)}
# Analysis runs Jinja's code generator, which folds constant expressions: it must be the
# sandbox (intercepted operators are never folded, only bounded filters exist), else
# validating "{{ 'a' * 10**9 }}" would build the gigabyte string it is meant to refuse.
_ANALYSIS = _ENVIRONMENTS[False]


def _is_text(node: nodes.Node) -> bool:
    """Whether an expression may evaluate to text or a sequence (so '*' could repeat it)."""
    if isinstance(node, nodes.Const):
        return not isinstance(node.value, int | float)
    if isinstance(node, nodes.Filter):
        return node.name not in _NUMERIC_FILTERS
    if isinstance(node, nodes.Sub | nodes.Div | nodes.FloorDiv | nodes.UnaryExpr | nodes.Compare):
        return False
    if isinstance(node, nodes.Mod):
        return _is_text(node.left)
    if isinstance(node, nodes.BinExpr):
        return _is_text(node.left) or _is_text(node.right)
    if isinstance(node, nodes.CondExpr):
        return _is_text(node.expr1) or node.expr2 is None or _is_text(node.expr2)
    return True


def _is_large(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.Const)
        and isinstance(node.value, int | float)
        and (abs(node.value) > MAX_CONSTANT)
    )


def _unsafe(node: nodes.Node) -> tuple[str, str] | None:
    """(problem code, what is wrong) for one node, or None when the node is fine."""
    for kind, tag in _FORBIDDEN_TAGS.items():
        if isinstance(node, kind):
            return "unsafe_template", f"uses {tag}, which reminders may not use"
    if isinstance(node, nodes.Call):
        return "unsafe_template", "calls a function; reminders may use variables and filters only"
    if isinstance(node, nodes.Pow):
        return "unsafe_template", "uses '**'"
    if isinstance(node, nodes.Mul) and any(
        _is_text(s) or _is_large(s) for s in (node.left, node.right)
    ):
        return "unsafe_template", "uses '*' on text or a large number"
    if isinstance(node, nodes.Mod) and _is_text(node.left):
        return "unsafe_template", "formats text with '%'"
    key = node.attr if isinstance(node, nodes.Getattr) else None
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        key = str(node.arg.value)
    if key is not None and key.startswith("_"):
        return "unsafe_template", f"reads the private attribute '{key}'"
    if isinstance(node, nodes.Name) and (
        node.name.startswith("_") or node.name in _FORBIDDEN_NAMES
    ):
        return "unsafe_template", f"uses '{node.name}', which reminders may not use"
    if isinstance(node, nodes.For) and any(True for _ in node.find_all(nodes.For)):
        return "unsafe_template", "puts a loop inside a loop"
    if isinstance(node, nodes.Filter) and node.name not in ALLOWED_FILTERS:
        if node.name in FILTERS:
            return "unsafe_template", f"uses the filter '{node.name}', which reminders may not use"
        return "unknown_filter", f"uses unknown filter '{node.name}'"
    if isinstance(node, nodes.Test) and node.name not in _ANALYSIS.tests:
        return "unknown_test", f"uses unknown test '{node.name}'"
    return None


def _used_variables(ast: nodes.Template, *, exact: bool) -> set[str]:
    """Variables a template reads from its context (not set or looped over inside it).

    ``exact`` runs Jinja's code generator (scoping done right); it is skipped for a template
    already found unsafe, whose names are then approximated from the tree alone.
    """
    try:
        if exact:
            return set(meta.find_undeclared_variables(ast))
    except TemplateSyntaxError:  # an unknown filter or test, reported on its own
        pass
    stored = {n.name for n in ast.find_all(nodes.Name) if n.ctx != "load"}
    return {n.name for n in ast.find_all(nodes.Name) if n.ctx == "load"} - stored


def _literal_text(ast: nodes.Template) -> str:
    """The text a template writes verbatim (template data and string constants)."""
    parts = [n.data for n in ast.find_all(nodes.TemplateData)]
    parts += [n.value for n in ast.find_all(nodes.Const) if isinstance(n.value, str)]
    return "\n".join(parts)


def _compile_unchecked(source: str, autoescape: bool) -> Template:
    """Compile in the sandbox without the registration checks (tests use it directly)."""
    return _ENVIRONMENTS[autoescape].from_string(source)


@lru_cache(maxsize=2048)
def _template(source: str, autoescape: bool) -> Template:
    """Parse, check for unsafe constructs and compile; cached (a batch renders the same few)."""
    if len(source) > MAX_SOURCE_CHARS:
        raise RenderError(f"is longer than {MAX_SOURCE_CHARS} characters")
    ast = _ANALYSIS.parse(source)
    for node in ast.find_all(nodes.Node):
        if (found := _unsafe(node)) is not None:
            raise RenderError(f"line {node.lineno}: {found[1]}")
    return _compile_unchecked(source, autoescape)


def _run(template: Template, variables: Mapping[str, object], where: str) -> str:
    """Render with the output capped; every failure becomes a RenderError naming ``where``."""
    chunks: list[str] = []
    size = 0
    try:
        # shared=True: the context is the variables alone (the sandbox has no globals to add),
        # which spares Jinja merging its globals into every render
        context = template.new_context(dict(variables), shared=True)
        for chunk in template.root_render_func(context):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise RenderError(f"{where}: output is longer than {MAX_OUTPUT_CHARS} characters")
            chunks.append(chunk)
    except RenderError:
        raise
    except UndefinedError as exc:
        found = re.match(r"'([^']+)' is undefined", exc.message or "")
        variable = found.group(1) if found else None
        detail = f"variable '{variable}' is missing" if variable else exc.message
        raise RenderError(f"{where}: {detail}", variable=variable) from exc
    except SecurityError as exc:
        raise RenderError(f"{where}: refused by the sandbox: {exc}") from exc
    except Exception as exc:  # Jinja's sandbox docs: the caller must catch everything
        raise RenderError(f"{where}: {type(exc).__name__}: {exc}") from exc
    return "".join(chunks)


def _render_field(
    rendition: Rendition, field: str, source: str, values: Mapping[str, object]
) -> str:
    where = f"{rendition.channel}/{rendition.locale} {field}"
    autoescape = rendition.channel == "email" and field == "body"
    try:
        template = _template(source, autoescape)
    except RenderError as exc:
        raise RenderError(f"{where} {exc}") from exc
    except (TemplateSyntaxError, RecursionError) as exc:
        raise RenderError(f"{where}: cannot be compiled: {exc}") from exc
    text = _run(template, values, where)
    return text if field == "body" else re.sub(r"\s*[\r\n]+\s*", " ", text).strip()


def render(rendition: Rendition, variables: Mapping[str, object]) -> RenderedMessage:
    """Render a rendition for one debtor; email bodies are HTML-escaped, everything else not.

    Subjects and titles are folded onto one line (no header injection through a variable).
    """
    subject, title = rendition.subject, rendition.title
    body = _render_field(rendition, "body", rendition.body, variables)
    if subject is not None:
        subject = _render_field(rendition, "subject", subject, variables)
    if title is not None:
        title = _render_field(rendition, "title", title, variables)
    return RenderedMessage(subject=subject, body=body, title=title)


def pick_rendition(
    renditions: Sequence[Rendition], channel: str, locale: str, fallback_locale: str | None
) -> Rendition | None:
    """The rendition on ``channel`` whose locale ``bandit.vocabulary.resolve_locale`` picks for
    ``locale`` (then ``fallback_locale``), else None."""
    on_channel = [r for r in renditions if r.channel == channel]
    found = resolve_locale(locale, frozenset(r.locale for r in on_channel), fallback_locale)
    return next((r for r in on_channel if r.locale == found), None)


def sample_variables(
    variables: Iterable[str] = (), sample: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Values of realistic length for previews and the SMS length check; ``sample`` wins."""
    values = dict.fromkeys(variables, _DECLARED_SAMPLE) | _SAMPLE
    return values | dict(sample or {})


def _locale_key(locale: str) -> str:
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
        if not _IDENTIFIER.fullmatch(name) or name in _FORBIDDEN_NAMES | _RESERVED:
            detail = f"cannot declare the variable {name!r}: use a letter, then letters, digits"
            problems.append(_problem("bad_variable", f"{detail} or '_'; not a reserved word"))
    return problems


def _check_field(
    rendition: Rendition, index: int, field: str, source: str, allowed: frozenset[str]
) -> list[TemplateProblem]:
    """Problems of one field: size, syntax, unsafe constructs, unknown names, opt-out."""

    def problem(code: str, detail: str, line: int | None = None) -> TemplateProblem:
        return _problem(code, detail, rendition, index, field, line)

    if len(source) > MAX_SOURCE_CHARS:
        return [problem("too_large", f"is longer than {MAX_SOURCE_CHARS} characters")]
    problems = []
    try:
        ast: nodes.Template | None = _ANALYSIS.parse(source)
    except TemplateSyntaxError as exc:
        ast = None
        problems.append(problem("syntax_error", exc.message or "invalid syntax", exc.lineno))
    except RecursionError:
        ast = None
        problems.append(problem("too_complex", "is nested too deeply to be parsed"))
    if ast is not None:
        for node in ast.find_all(nodes.Node):
            if (found := _unsafe(node)) is not None:
                problems.append(problem(found[0], found[1], node.lineno))
        used = _used_variables(ast, exact=not problems)
        for name in sorted(used - allowed - _FORBIDDEN_NAMES):
            line = next((n.lineno for n in ast.find_all(nodes.Name) if n.name == name), None)
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            detail = f"uses unknown variable '{name}'{hint}; declare it in the template's variables"
            problems.append(problem("unknown_variable", detail, line))
    if not problems:
        try:
            _compile_unchecked(source, rendition.channel == "email" and field == "body")
        except TemplateSyntaxError as exc:
            problems.append(problem("syntax_error", exc.message or "invalid", exc.lineno))
        except (RecursionError, SyntaxError, MemoryError):
            problems.append(problem("too_complex", "is too complex to be compiled"))
    if field == "body" and rendition.channel in OPT_OUT_CHANNELS and source.strip():
        opt_out = (
            ("opt_out_url" in used or _OPT_OUT_TEXT.search(_literal_text(ast)))
            if ast is not None
            else ("opt_out_url" in source or _OPT_OUT_TEXT.search(source))  # best effort
        )
        if not opt_out:
            detail = "has no opt-out: add {{ opt_out_url }} or a line like 'Reply STOP to opt out'"
            problems.append(problem("missing_opt_out", detail))
    return problems


def _check_rendition(
    rendition: Rendition,
    index: int,
    allowed: frozenset[str],
    sms_max_segments: int,
    sample: Mapping[str, str],
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
    try:
        body = render(rendition, sample).body
    except RenderError as exc:
        return [_problem("render_error", f"fails with sample values: {exc}", rendition, index)]
    info = sms_info(body)  # cheap; only SMS has a length limit
    if rendition.channel == "sms" and info.segments > sms_max_segments:
        detail = (
            f"is {info.segments} SMS segments ({info.encoding}, {info.characters} characters) "
            f"with sample values; the limit is {sms_max_segments}"
        )
        problems.append(_problem("sms_too_long", detail, rendition, index, "body"))
    return problems


def validate_template(
    renditions: Sequence[Rendition],
    *,
    variables: Iterable[str] = (),
    sms_max_segments: int = 3,
    sample: Mapping[str, str] | None = None,
) -> None:
    """Check a template's renditions; raise TemplateInvalid listing every problem found.

    ``variables`` are the template's declared variables (beyond STANDARD_VARIABLES);
    ``sample`` overrides the sample values used to render for the SMS length check.
    """
    if sms_max_segments < 1:
        raise ValueError(f"sms_max_segments must be at least 1, got {sms_max_segments}")
    declared = list(variables)
    problems = _check_variables(declared)
    allowed = STANDARD_VARIABLES | frozenset(declared)
    if not renditions:
        problems.append(_problem("no_renditions", "a template needs at least one rendition"))
    seen: dict[tuple[str, str], int] = {}
    for index, rendition in enumerate(renditions):
        key = (rendition.channel, _locale_key(rendition.locale))
        if key in seen:
            detail = "appears twice; keep one rendition per channel and locale"
            problems.append(_problem("duplicate_rendition", detail, rendition, index))
        seen.setdefault(key, index)
        problems += _check_rendition(
            rendition, index, allowed, sms_max_segments, sample_variables(declared, sample)
        )
    if problems:
        raise TemplateInvalid(problems)
