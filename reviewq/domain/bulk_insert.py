"""Many rows in one INSERT .. ON CONFLICT DO NOTHING RETURNING, handed to the driver as they are.

A batch of 100 outputs through SQLAlchemy's executemany spent more time building and converting
parameters (a bind processor per value) than the database spent storing the rows. Here the values
shared by every row are converted once, by the column types' own bind processors (so they are
stored exactly as SQLAlchemy would store them), and the per-row values arrive already in the
driver's form: strings, integers, JSON text.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

# Rows per statement: 13 columns x 500 stays far below SQLite's 32,766 and PostgreSQL's 65,535
# parameters per statement.
ROWS_PER_STATEMENT = 500

_PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def insert_ignoring_conflicts(
    session: Session, table: sa.Table, *, columns: Sequence[str], rows: Sequence[tuple],
    shared: dict[str, Any], conflict: str, returning: str,
) -> list:
    """Insert `rows` (values for `columns`, in driver form) plus `shared` (column: Python value,
    the same for every row); a row whose `conflict` column clashes is skipped. The `returning`
    column of each row inserted, in no particular order."""
    connection = session.connection()
    dialect = connection.dialect
    shared_values = tuple(_bound(table.c[name], value, dialect) for name, value in shared.items())
    names = [*columns, *shared]
    quote = dialect.identifier_preparer.quote
    group = "(" + ", ".join([_PLACEHOLDER[dialect.paramstyle]] * len(names)) + ")"
    # Names are the table's own (a KeyError otherwise), quoted by the dialect; values only ever
    # travel as parameters.
    head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(table.c[n].name) for n in names)}) VALUES "  # noqa: S608
    tail = f" ON CONFLICT ({quote(table.c[conflict].name)}) DO NOTHING RETURNING {quote(table.c[returning].name)}"
    found: list = []
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        params = tuple(chain.from_iterable(row + shared_values for row in chunk))
        sql = head + ", ".join([group] * len(chunk)) + tail
        found += connection.exec_driver_sql(sql, params).scalars().all()  # one fetchall, not a fetch per row
    return found


def _bound(column: sa.Column, value: Any, dialect: sa.Dialect) -> Any:
    process = column.type.dialect_impl(dialect).bind_processor(dialect)  # e.g. SQLite's DATETIME text
    return value if process is None else process(value)
