"""Tiny expression languages for kpis.yaml, parsed with Python's ``ast`` so nothing is ``eval``-ed.

Two uses share one parser:

* **column expressions** (``amount * 12 / coalesce(contract_months, 12)``) compile to SQLAlchemy over a
  semantic model's columns, inside the database;
* **formulas** (``revenue - abs(forecast - revenue)``) combine a KPI's aggregated measures in Python,
  after the one query has returned a handful of totals.

A hyphen between two letters belongs to a name (``deals-won``); subtraction is written with spaces.
"""

from __future__ import annotations

import ast
import functools
import operator
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import func, literal
from sqlalchemy.sql.expression import ColumnElement

from kpi.sqlfuncs import days_between

_HYPHENATED = re.compile(r"[A-Za-z_]\w*(?:-[A-Za-z_]\w*)+")
_ARITHMETIC: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


class FormulaError(ValueError):
    """A formula or expression that cannot be parsed or refers to something unknown."""


def identifier(name: str) -> str:
    """The name a KPI key or measure has inside formulas: ``deals-won`` -> ``deals_won``."""
    return name.replace("-", "_")


def parse(text: str) -> ast.expr:
    """Parse ``text`` into an expression tree, allowing only arithmetic, names, numbers and calls."""
    source = _HYPHENATED.sub(lambda match: identifier(match.group()), str(text).strip())
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        raise FormulaError(f"cannot read {text!r}: {exc.msg}") from None
    for node in ast.walk(tree):
        allowed = (ast.BinOp, ast.UnaryOp, ast.USub, ast.UAdd, ast.Name, ast.Constant, ast.Call, ast.Load)
        if not isinstance(node, allowed + tuple(_ARITHMETIC)):
            raise FormulaError(f"{text!r} uses {type(node).__name__}, which formulas do not allow")
        if isinstance(node, ast.Constant) and not isinstance(node.value, int | float | str):
            raise FormulaError(f"{text!r} has an unsupported constant {node.value!r}")
        if isinstance(node, ast.Call) and not isinstance(node.func, ast.Name):
            raise FormulaError(f"{text!r} calls something that is not a plain function name")
    return tree


def names(tree: ast.expr) -> set[str]:
    """Every name the expression reads (function names excluded)."""
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and id(node) not in called}


def target_calls(tree: ast.expr) -> set[str]:
    """KPI keys named in ``target(kpi)`` calls."""
    keys: set[str] = set()
    for node in ast.walk(tree):
        match node:
            case ast.Call(func=ast.Name(id="target"), args=[ast.Name(id=name), *_]):
                keys.add(name.replace("_", "-"))
    return keys


def rename(tree: ast.expr, mapping: Mapping[str, str]) -> ast.expr:
    """A copy of ``tree`` whose names are replaced through ``mapping`` (target() arguments untouched)."""
    return substitute(tree, {old: ast.Name(new, ast.Load()) for old, new in mapping.items()})


def substitute(tree: ast.expr, replacements: Mapping[str, ast.expr]) -> ast.expr:
    """A copy of ``tree`` with names replaced by whole sub-expressions (how KPI references are inlined)."""

    class Substituter(ast.NodeTransformer):
        def visit_Call(self, node: ast.Call) -> ast.Call:
            if isinstance(node.func, ast.Name) and node.func.id == "target":
                return node
            self.generic_visit(node)
            return node

        def visit_Name(self, node: ast.Name) -> ast.expr:
            return replacements.get(node.id, node)

    return Substituter().visit(ast.parse(ast.unparse(tree), mode="eval").body)


# --- column expressions, compiled to SQL ------------------------------------------------------------

_SQL_FUNCTIONS: dict[str, Callable[..., ColumnElement]] = {
    "coalesce": func.coalesce,
    "abs": func.abs,
    "nullif": func.nullif,
    "days": days_between,
}


def to_sql(tree: ast.expr, columns: Mapping[str, ColumnElement]) -> ColumnElement:
    """Compile a column expression over a model's ``columns``."""
    match tree:
        case ast.Constant(value=value):
            return literal(value)
        case ast.Name(id=name):
            if name not in columns:
                raise FormulaError(f"unknown column '{name}'; columns are: {', '.join(sorted(columns))}")
            return columns[name]
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            return -to_sql(operand, columns)
        case ast.UnaryOp(operand=operand):
            return to_sql(operand, columns)
        case ast.BinOp(left=left, op=op, right=right):
            return _ARITHMETIC[type(op)](to_sql(left, columns), to_sql(right, columns))
        case ast.Call(func=ast.Name(id=name), args=args) if name in _SQL_FUNCTIONS:
            return _SQL_FUNCTIONS[name](*(to_sql(arg, columns) for arg in args))
        case ast.Call(func=ast.Name(id=name)):
            raise FormulaError(f"unknown function '{name}'; use one of {', '.join(_SQL_FUNCTIONS)}")
    raise FormulaError(f"cannot compile {ast.unparse(tree)!r}")


# --- formulas over aggregated measures, evaluated in Python -----------------------------------------


#: A formula made a function of the measures' totals and the ``target(kpi)`` look-up.
Evaluator = Callable[[Mapping[str, Decimal], Callable[[str], Decimal | None]], Decimal | None]


def evaluate(tree: ast.expr, values: Mapping[str, Decimal], target: Callable[[str], Decimal | None]) -> Decimal | None:
    """Evaluate a formula; ``None`` (no target, or division by zero) propagates as "no value"."""
    return evaluator(tree)(values, target)


@functools.lru_cache(maxsize=1024)
def evaluator(tree: ast.expr) -> Evaluator:
    """The formula as a function, made once per tree (a tree lives as long as its catalog): a leaderboard applies
    one formula to 10,000 reps' totals, and walking the tree for each was a third of combining them."""
    match tree:
        case ast.Constant(value=value):
            constant = Decimal(str(value))
            return lambda values, target: constant
        case ast.Name(id=name):
            return lambda values, target: values[name]
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            inner = evaluator(operand)
            return lambda values, target: _negated(inner(values, target))
        case ast.UnaryOp(operand=operand):
            return evaluator(operand)
        case ast.BinOp(left=left, op=op, right=right):
            a, b, apply, divides = evaluator(left), evaluator(right), _ARITHMETIC[type(op)], isinstance(op, ast.Div)
            return lambda values, target: _applied(apply, a(values, target), b(values, target), divides)
        case ast.Call(func=ast.Name(id="abs"), args=[arg]):
            inner = evaluator(arg)
            return lambda values, target: _absolute(inner(values, target))
        case ast.Call(func=ast.Name(id="max" | "min" as name), args=[_, _, *_] as args):
            parts, pick = [evaluator(arg) for arg in args], max if name == "max" else min
            return lambda values, target: _picked(pick, [part(values, target) for part in parts])
        case ast.Call(func=ast.Name(id="target"), args=[ast.Name(id=key)]):
            kpi = key.replace("_", "-")
            return lambda values, target: target(kpi)
    raise FormulaError(f"cannot evaluate {ast.unparse(tree)!r}")


def _negated(value: Decimal | None) -> Decimal | None:
    return None if value is None else -value


def _absolute(value: Decimal | None) -> Decimal | None:
    return None if value is None else abs(value)


def _applied(apply: Callable[[Any, Any], Any], a: Decimal | None, b: Decimal | None, divides: bool) -> Decimal | None:
    return None if a is None or b is None or (divides and b == 0) else apply(a, b)


def _picked(pick: Callable[[list[Decimal]], Decimal], parts: list[Decimal | None]) -> Decimal | None:
    found = [part for part in parts if part is not None]
    return pick(found) if len(found) == len(parts) else None
