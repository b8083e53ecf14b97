"""Rendering a rendition for one debtor in the sandbox (templates_store.sandbox).

``render`` refuses a source with unsafe constructs before compiling it (so a template that
slipped past validation still renders inert), runs it with strict undefined variables and a
capped output, and turns every failure into a ``RenderError`` naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from jinja2 import Template, TemplateSyntaxError, UndefinedError, nodes
from jinja2.exceptions import SecurityError

from templates_store.sandbox import ANALYSIS, compile_unchecked, unsafe

MAX_SOURCE_CHARS = 100_000  # per field; generous for inline-styled HTML email
MAX_OUTPUT_CHARS = 200_000  # per rendered field


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


class RenderError(ValueError):
    """A rendition could not be rendered; ``variable`` names a missing variable, if that was
    it, and ``field`` the field that failed (body, subject or title), when known."""

    def __init__(
        self, message: str, *, variable: str | None = None, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.variable = variable
        self.field = field


@lru_cache(maxsize=2048)
def _template(source: str, autoescape: bool) -> Template:
    """Parse, check for unsafe constructs and compile; cached (a batch renders the same few)."""
    if len(source) > MAX_SOURCE_CHARS:
        raise RenderError(f"is longer than {MAX_SOURCE_CHARS} characters")
    ast = ANALYSIS.parse(source)
    for node in ast.find_all(nodes.Node):
        if (found := unsafe(node)) is not None:
            raise RenderError(f"line {node.lineno}: {found[1]}")
    return compile_unchecked(source, autoescape)


def run(template: Template, variables: Mapping[str, object], where: str) -> str:
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
        try:
            template = _template(source, autoescape)
        except RenderError as exc:
            raise RenderError(f"{where} {exc}") from exc
        except (TemplateSyntaxError, RecursionError) as exc:
            raise RenderError(f"{where}: cannot be compiled: {exc}") from exc
        text = run(template, values, where)
    except RenderError as exc:
        raise RenderError(str(exc), variable=exc.variable, field=field) from exc
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
