"""The safe expression language of ``condition`` criteria, on top of simpleeval (never ``eval``).

An expression reads the deal's fields by name (``amount >= 5000 and segment in ('mid', 'enterprise')``)
and may call ``len``, ``date('2026-12-31')``, ``days_since(date)`` and ``days_until(date)``;
``today`` is the clock's date, and date fields are dates, so ``close_date > today`` compares days.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from simpleeval import EvalWithCompoundTypes, InvalidExpression

FUNCTION_NAMES = ("date", "days_since", "days_until", "len")
BUILTIN_NAMES = ("today", "True", "False", "None")


class ExpressionError(ValueError):
    """An expression that cannot be parsed or evaluated; the message says why."""


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    raise TypeError(f"not a date: {value!r}")


def check_syntax(expr: str) -> None:
    """Raise :class:`ExpressionError` unless ``expr`` is a single well-formed expression."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"invalid expression {expr!r}: {exc.msg}") from None
    nodes = list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Attribute | ast.Lambda | ast.NamedExpr | ast.Starred):
            raise ExpressionError(f"invalid expression {expr!r}: {type(node).__name__} not allowed")
    for node in nodes:
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in FUNCTION_NAMES):
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise ExpressionError(f"unknown function '{name}' in {expr!r} (functions: {', '.join(FUNCTION_NAMES)})")


def referenced_names(expr: str) -> set[str]:
    """The field names an expression reads (function names and built-ins excluded)."""
    tree = ast.parse(expr, mode="eval")
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    return names - called - set(BUILTIN_NAMES)


def _evaluator(names: Mapping[str, Any], today: date) -> EvalWithCompoundTypes:
    functions = {
        "len": len,
        "date": _as_date,
        "days_since": lambda value: (today - _as_date(value)).days,
        "days_until": lambda value: (_as_date(value) - today).days,
    }
    return EvalWithCompoundTypes(names={**names, "today": today}, functions=functions)


def evaluate(expr: str, *, names: Mapping[str, Any], today: date) -> Any:
    """Evaluate ``expr`` with ``names`` bound; raise :class:`ExpressionError` on failure."""
    try:
        return _evaluator(names, today).eval(expr)
    except InvalidExpression as exc:
        raise ExpressionError(str(exc)) from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ExpressionError(f"{expr}: {exc}") from None


def type_problem(expr: str, *, sample: Mapping[str, Any], today: date) -> str | None:
    """Why ``expr`` cannot work even when every field it reads holds a value of its type, or None.

    ``sample`` binds each field to an example value of its declared type. Arithmetic errors (such
    as a division by a sample zero) depend on the values, so they are not reported."""
    try:
        _evaluator(sample, today).eval(expr)
    except InvalidExpression as exc:
        return str(exc)
    except (TypeError, ValueError) as exc:
        return str(exc)
    except ArithmeticError:
        return None
    return None
