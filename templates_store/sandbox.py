"""The Jinja2 sandbox reminders render in, and the constructs it refuses before running one.

The environment is immutable, has no globals, a short list of filters, capped operators, and
writes text and numbers only: an expression that yields a method, a list, ``none``, a boolean
or any other Python object is refused wherever it would become text (``{{ }}``, ``~`` and the
text filters), so no message ever shows a Python repr such as ``<built-in method upper …>``.
``unsafe`` finds, without running anything, what a reminder never needs and an attacker would
(function calls, private attributes, ``**``, imports, loops in loops).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, Undefined, meta, nodes
from jinja2 import pass_eval_context as _pass_eval_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OPERAND_CHARS = 10_000  # largest text or list that '*', '+' or |replace may build
MAX_CONSTANT = 1_000_000  # larger numeric literals may not be multiplied at all
MAX_EXPONENT = 100
ALLOWED_FILTERS = frozenset(
    {"abs", "capitalize", "count", "d", "default", "e", "escape", "first", "float", "int"}
    | {"last", "length", "lower", "replace", "round", "string", "striptags", "title", "trim"}
    | {"truncate", "upper", "urlencode", "wordcount"}
)
# filters that turn their input into text: it must be text or a number already
_TEXT_FILTERS = frozenset(
    {"capitalize", "e", "escape", "lower", "replace", "string", "striptags", "title", "trim"}
    | {"truncate", "upper", "urlencode"}
)
_NUMERIC_FILTERS = frozenset({"abs", "count", "float", "int", "length", "round", "wordcount"})
FORBIDDEN_NAMES = frozenset(
    {"self", "config", "request", "range", "cycler", "joiner", "lipsum", "namespace", "dict"}
    | {"caller", "varargs", "kwargs", "super"}
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


def _kind(value: Any) -> str:
    """What a value is, in a manager's words (never its repr)."""
    if isinstance(value, LoopContext):
        return "the loop itself (use loop.index and the like)"
    if callable(value):
        return "a method or function"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a dict"
    return f"a {type(value).__name__} object"


def plain_value(value: Any) -> Any:
    """``value`` when it may be written into a message: text or a number (an undefined value
    passes and fails on its own, naming the variable). Anything else is refused."""
    if isinstance(value, str | Undefined) or (
        isinstance(value, int | float) and not isinstance(value, bool)
    ):
        return value
    raise SecurityError(
        f"an expression yields {_kind(value)}; a message may only show text and numbers"
    )


@_pass_eval_context
def _finalize(eval_ctx: EvalContext, value: Any) -> Any:
    """Every ``{{ }}`` output passes here. Taking the eval context keeps Jinja from folding
    constant outputs at compile time, past this check."""
    return plain_value(value)


def _text_input(original: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that turns its input into text, refusing input that is not text or a number
    (``|string`` of a method would print its repr)."""
    first = 1 if getattr(original, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(original)  # keeps jinja_pass_arg
    def checked(*args: Any, **kwargs: Any) -> Any:
        if len(args) > first:
            plain_value(args[first])
        return original(*args, **kwargs)

    return checked


def _sized(value: Any) -> int | None:
    return len(value) if isinstance(value, str | list | tuple) else None


@_pass_eval_context
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


class _PlainCodeGenerator(CodeGenerator):
    """Jinja's code generator with every operand of ``~`` checked by ``plain_value``."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:  # noqa: N802 (Jinja's)
        if frame.eval_ctx.volatile:
            func_name = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            func_name = "markup_join"
        else:
            func_name = "str_join"
        self.write(f"{func_name}((")
        for arg in node.nodes:
            self.write("environment.plain(")
            self.visit(arg, frame)
            self.write("), ")
        self.write("))")


class ReminderSandbox(ImmutableSandboxedEnvironment):
    """The sandbox with no globals, few filters, no calls, size caps on operators, and output
    of text and numbers only. Not optimised: constant folding would evaluate expressions at
    compile time, past these checks."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _PlainCodeGenerator

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(
            undefined=StrictUndefined, autoescape=autoescape, finalize=_finalize, optimized=False
        )
        self.globals.clear()
        filters = {name: FILTERS[name] for name in ALLOWED_FILTERS}
        filters |= {"replace": _bounded_replace, "round": _bounded_round}
        self.filters = {
            name: _text_input(f) if name in _TEXT_FILTERS else f for name, f in filters.items()
        }

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

    def plain(self, value: Any) -> Any:
        """``plain_value``, for the generated code of ``~``."""
        return plain_value(value)

    def call(self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Refuse every function call: a reminder needs variables and filters only."""
        raise SecurityError("function calls are not allowed in reminders")

    def getattr(self, obj: Any, attribute: str) -> Any:
        """An attribute, unless it is a method (``name.upper`` is not text)."""
        return _no_method(super().getattr(obj, attribute), attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """An item, unless it is a method (``name['upper']``)."""
        return _no_method(super().getitem(obj, argument), argument)


def _no_method(value: Any, name: Any) -> Any:
    if callable(value) and not isinstance(value, Undefined):  # Undefined defines __call__
        raise SecurityError(
            f"{str(name)[:50]!r} is a method: function calls are not allowed in reminders"
        )
    return value


ENVIRONMENTS = {flag: ReminderSandbox(autoescape=flag) for flag in (False, True)}
# Analysis (meta.find_undeclared_variables) runs Jinja's own code generator, which folds
# constant expressions: it must be the sandbox (intercepted operators are never folded, only
# bounded filters exist), else validating "{{ 'a' * 10**9 }}" would build the gigabyte string
# it is meant to refuse.
ANALYSIS = ENVIRONMENTS[False]


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


def unsafe(node: nodes.Node) -> tuple[str, str] | None:
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
    if isinstance(node, nodes.Name) and (node.name.startswith("_") or node.name in FORBIDDEN_NAMES):
        return "unsafe_template", f"uses '{node.name}', which reminders may not use"
    if isinstance(node, nodes.For) and any(True for _ in node.find_all(nodes.For)):
        return "unsafe_template", "puts a loop inside a loop"
    if isinstance(node, nodes.Filter) and node.name not in ALLOWED_FILTERS:
        if node.name in FILTERS:
            return "unsafe_template", f"uses the filter '{node.name}', which reminders may not use"
        return "unknown_filter", f"uses unknown filter '{node.name}'"
    if isinstance(node, nodes.Test) and node.name not in ANALYSIS.tests:
        return "unknown_test", f"uses unknown test '{node.name}'"
    return None


def used_variables(ast: nodes.Template, *, exact: bool) -> set[str]:
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


def compile_unchecked(source: str, autoescape: bool) -> Template:
    """Compile in the sandbox without the registration checks (tests use it directly)."""
    return ENVIRONMENTS[autoescape].from_string(source)
