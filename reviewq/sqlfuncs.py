"""Small SQL expressions that differ between SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement


class floor_int(FunctionElement):  # noqa: N801 - reads like the SQL function it renders
    """floor(x) as an integer, for x >= 0 (bin numbers). SQLite lacks floor() in many builds."""

    type = sa.Integer()
    inherit_cache = True
    name = "floor_int"


@compiles(floor_int)
def _floor_default(element, compiler, **kw):
    return f"CAST(floor({compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(floor_int, "sqlite")
def _floor_sqlite(element, compiler, **kw):
    # CAST truncates toward zero, which is floor for the non-negative values binned here.
    return f"CAST({compiler.process(element.clauses, **kw)} AS INTEGER)"


def count_where(condition) -> sa.ColumnElement:
    """SUM(CASE WHEN condition THEN 1 ELSE 0 END), the same on both backends."""
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


class not_indexed(FunctionElement):  # noqa: N801 - reads like the SQL it renders
    """The column, but not a term SQLite may pick an index for (its documented unary +).

    SQLite has no statistics here and takes an equality on a few-valued column (items.status)
    as selective: it reads every match through that index and sorts them, where another index
    read in order would stop after a few rows. PostgreSQL plans by its statistics: plain column.
    """

    inherit_cache = True
    name = "not_indexed"

    @property
    def type(self):
        return self.clauses.clauses[0].type


@compiles(not_indexed)
def _not_indexed_default(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(not_indexed, "sqlite")
def _not_indexed_sqlite(element, compiler, **kw):
    return f"+{compiler.process(element.clauses, **kw)}"


class seconds_apart(FunctionElement):  # noqa: N801 - reads like the SQL it renders
    """|a - b| in seconds between two timestamps: for ordering by nearness in time."""

    type = sa.Float()
    inherit_cache = True
    name = "seconds_apart"


@compiles(seconds_apart)
def _seconds_apart_default(element, compiler, **kw):
    a, b = (compiler.process(c, **kw) for c in element.clauses)
    return f"abs(extract(epoch from ({a} - {b})))"


@compiles(seconds_apart, "sqlite")
def _seconds_apart_sqlite(element, compiler, **kw):
    # Timestamps are stored as ISO text in UTC, which julianday() reads (to about a millisecond).
    a, b = (compiler.process(c, **kw) for c in element.clauses)
    return f"(abs(julianday({a}) - julianday({b})) * 86400.0)"
