"""The variables a rendition needs from the caller, known from its source without rendering.

A variable is needed when the rendition reads it (``jinja2.meta.find_undeclared_variables``)
somewhere it does not check for it first: inside ``{% if x is defined %}`` (or the ``else`` of
``x is undefined``), after ``x is defined and``, in ``x|default(…)`` and in the test itself a
missing ``x`` renders fine. The decision flow makes an arm whose rendition needs a variable
the request lacks ineligible before the draw (bandit.variables).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from jinja2 import TemplateSyntaxError, nodes

from templates_store.rendering import Rendition
from templates_store.sandbox import ANALYSIS, used_variables

_DEFAULT_FILTERS = frozenset({"default", "d"})


def _tested(node: nodes.Node, test: str) -> str | None:
    """``x`` when ``node`` is ``x is <test>``."""
    if isinstance(node, nodes.Test) and node.name == test and isinstance(node.node, nodes.Name):
        return node.node.name
    return None


def _defined_if_true(test: nodes.Node) -> frozenset[str]:
    """Names certainly defined where ``test`` is true."""
    if (name := _tested(test, "defined")) is not None:
        return frozenset({name})
    if isinstance(test, nodes.And):
        return _defined_if_true(test.left) | _defined_if_true(test.right)
    if isinstance(test, nodes.Not):
        return _defined_if_false(test.node)
    return frozenset()


def _defined_if_false(test: nodes.Node) -> frozenset[str]:
    """Names certainly defined where ``test`` is false."""
    if (name := _tested(test, "undefined")) is not None:
        return frozenset({name})
    if isinstance(test, nodes.Or):
        return _defined_if_false(test.left) | _defined_if_false(test.right)
    if isinstance(test, nodes.Not):
        return _defined_if_true(test.node)
    return frozenset()


def _unchecked_reads(node: nodes.Node, safe: frozenset[str]) -> Iterator[str]:
    """Names read by ``node`` where they are not known to be defined (``safe``)."""
    if isinstance(node, nodes.Name):
        if node.ctx == "load" and node.name not in safe:
            yield node.name
        return
    if _tested(node, "defined") is not None or _tested(node, "undefined") is not None:
        return
    if isinstance(node, nodes.Filter) and node.name in _DEFAULT_FILTERS:
        if node.node is not None and not isinstance(node.node, nodes.Name):
            yield from _unchecked_reads(node.node, safe)
        for argument in (*node.args, *(kw.value for kw in node.kwargs)):
            yield from _unchecked_reads(argument, safe)
        return
    if isinstance(node, nodes.And | nodes.Or):
        yield from _unchecked_reads(node.left, safe)
        guard = _defined_if_true if isinstance(node, nodes.And) else _defined_if_false
        yield from _unchecked_reads(node.right, safe | guard(node.left))
        return
    if isinstance(node, nodes.CondExpr):
        yield from _unchecked_reads(node.test, safe)
        yield from _unchecked_reads(node.expr1, safe | _defined_if_true(node.test))
        if node.expr2 is not None:
            yield from _unchecked_reads(node.expr2, safe | _defined_if_false(node.test))
        return
    if isinstance(node, nodes.If):
        yield from _if_reads(node, safe)
        return
    for child in node.iter_child_nodes():
        yield from _unchecked_reads(child, safe)


def _if_reads(node: nodes.If, safe: frozenset[str]) -> Iterator[str]:
    """``{% if %}…{% elif %}…{% else %}``: each branch knows what the tests before it said."""
    for branch in (node, *node.elif_):
        yield from _unchecked_reads(branch.test, safe)
        inside = safe | _defined_if_true(branch.test)
        for child in branch.body:
            yield from _unchecked_reads(child, inside)
        safe = safe | _defined_if_false(branch.test)
    for child in node.else_:
        yield from _unchecked_reads(child, safe)


@lru_cache(maxsize=4096)
def needed_by(source: str) -> frozenset[str]:
    """The variables one field's source needs from the caller (none if it does not parse:
    such a source was refused at registration)."""
    try:
        ast = ANALYSIS.parse(source)
        used = used_variables(ast, exact=True)
    except (TemplateSyntaxError, RecursionError):
        return frozenset()
    return frozenset(used & set(_unchecked_reads(ast, frozenset())))


def needed_variables(rendition: Rendition) -> frozenset[str]:
    """The variables a rendition (body, subject and title) needs from the caller."""
    fields = (rendition.body, rendition.subject, rendition.title)
    return frozenset().union(*(needed_by(f) for f in fields if f is not None))
