"""Hot prebuilt statements run on SQLite's own cursor, past SQLAlchemy's per-execution machinery.

A prebuilt Core statement costs about 130 µs through `Connection.execute` and 15 µs on the bare
cursor (in process): SQLAlchemy builds an execution context, processes each parameter, and
wraps the cursor in a result for every call. A decision runs about fifteen statements; counted
in instructions (callgrind, the review loop in process), moving the user read alone saved 2.5 %
of a decision.

SQLAlchemy still compiles the statement, once per dialect and set of parameter names, and its
own bind and result processors convert the values: what reaches SQLite is what SQLAlchemy would
have sent, and rows come back converted as its rows would be. Driver errors are wrapped as
SQLAlchemy wraps them (`sqlalchemy.exc.IntegrityError` and so on). What would make the SQL or its
values per call (an IN list given per call, a literal-rendered bind, a column default computed in
Python) takes SQLAlchemy's path, as PostgreSQL and any other database always do; its result
answers the same calls.

Rows the ORM loaded only to be read can come back as ORM objects in no session (`detached`), or
as the session's own object refreshed (`loaded`), at a fraction of an ORM load's cost.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict, manager_of_class, set_committed_value


class Prebuilt:
    """A statement built once, run with `run(session_or_connection, params)`."""

    __slots__ = ("statement", "_plans", "_last")

    def __init__(self, statement: sa.Executable) -> None:
        self.statement = statement
        self._plans: dict[tuple, _Plan | None] = {}
        self._last: tuple[Dialect | None, tuple | None, _Plan | None] = (None, None, None)

    def run(self, where: Session | Connection, params: Mapping[str, Any] | None = None):
        """Execute inside `where`'s transaction; a LeanResult on SQLite, else SQLAlchemy's Result.

        Given a Session, its pending changes are flushed first unless autoflush is off, as for an
        ORM statement (several of these replaced one), then this runs on its connection.
        """
        params = params or {}
        if isinstance(where, Session):
            if where.autoflush:
                where.flush()
            connection = where.connection()
        else:
            connection = where
        dialect = connection.dialect
        if dialect.name != "sqlite":
            return connection.execute(self.statement, params)
        # As SQLAlchemy does, the SQL is compiled for the parameters' names: an INSERT without
        # .values() lists exactly the columns given.
        names = tuple(params)
        last_dialect, last_names, plan = self._last
        if dialect is not last_dialect or names != last_names:
            plan = self._plan(dialect, names)
        if plan is None:
            return connection.execute(self.statement, params)
        return plan.run(connection.connection.dbapi_connection, params, dialect)

    def _plan(self, dialect: Dialect, names: tuple[str, ...]) -> _Plan | None:
        key = (_dialect_key(dialect), names)
        if key in self._plans:
            plan = self._plans[key]
        else:
            plan = self._plans[key] = _Plan.of(self.statement, dialect, names)
        self._last = (dialect, names, plan)
        return plan

    def plan_for(self, dialect: Dialect, names: tuple[str, ...]) -> _Plan | None:
        """The plan these parameter names run with on `dialect`; None means the ordinary path."""
        return self._plan(dialect, names)


def _dialect_key(dialect: Dialect) -> tuple:
    # Every SQLite engine's dialect compiles alike; keying by the instance would keep one plan per
    # engine ever made (the tests make thousands).
    return type(dialect), dialect.paramstyle, dialect.server_version_info


class _Plan:
    """The compiled SQL, and how to turn parameters into its positional values and rows back."""

    __slots__ = ("sql", "binds", "row_type", "result_processors")

    @classmethod
    def of(cls, statement: sa.Executable, dialect: Dialect, names: tuple[str, ...]) -> _Plan | None:
        """The plan, or None when the SQL or its values would be made per call: an IN list given
        per call, a literal-rendered bind, or a column default computed in Python (SQLAlchemy's
        execution context fills those in, and this path has none)."""
        if dialect.paramstyle != "qmark":
            return None
        compiled = statement.compile(dialect=dialect, column_keys=list(names))
        if compiled.insert_prefetch or compiled.update_prefetch:
            return None
        sql = compiled.string
        binds: list[tuple[str, Any, Callable | None]] = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            if bind.literal_execute or bind.callable is not None:
                return None
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if not bind.expanding:
                binds.append((bind.key, _REQUIRED if bind.required else bind.value, process))
                continue
            # An IN list fixed in the statement (`status IN (queued, leased)`) is written out once.
            placeholder = f"__[POSTCOMPILE_{name}]"
            if bind.key in names or bind.required or not bind.value or sql.count(placeholder) != 1:
                return None
            sql = sql.replace(placeholder, ", ".join("?" * len(bind.value)))
            binds += [(_FIXED, value, process) for value in bind.value]
        return cls(sql, tuple(binds), statement, dialect)

    def __init__(self, sql: str, binds: tuple, statement: sa.Executable, dialect: Dialect) -> None:
        self.sql, self.binds = sql, binds
        columns = list(getattr(statement, "exported_columns", ()) or ())
        if columns:
            self.row_type = namedtuple("LeanRow", [c.key for c in columns], rename=True)
            self.result_processors = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None)
                                           for c in columns)
        else:
            self.row_type, self.result_processors = None, ()

    def run(self, dbapi_connection, params: Mapping[str, Any], dialect: Dialect) -> LeanResult:
        values = []
        for key, default, process in self.binds:
            value = default if key is _FIXED or key not in params else params[key]
            if value is _REQUIRED:
                raise sa.exc.InvalidRequestError(f"A value is required for bind parameter {key!r}")
            values.append(value if process is None else process(value))
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(self.sql, values)
            raw = cursor.fetchall() if self.row_type is not None else []
        except dialect.loaded_dbapi.Error as exc:
            cursor.close()
            raise sa.exc.DBAPIError.instance(self.sql, values, exc, dialect.loaded_dbapi.Error,
                                             dialect=dialect) from exc
        rowcount = cursor.rowcount
        cursor.close()
        return LeanResult(self._rows(raw), rowcount)

    def _rows(self, raw: list[tuple]) -> list:
        if not raw:
            return []
        make, processors = self.row_type._make, self.result_processors
        if not any(processors):
            return [make(row) for row in raw]
        return [make(value if process is None else process(value)
                     for process, value in zip(processors, row, strict=True)) for row in raw]


def detached(cls: type, row) -> Any:
    """An ORM object of `cls` holding `row`'s columns (named as its attributes) as loaded values,
    in no session: a snapshot to read, at a fraction of an ORM load's cost. Nothing it changes is
    ever flushed; record changes the database made already with `set_committed_value`."""
    manager = manager_of_class(cls)
    if not manager.mapper.configured:
        # In a fresh process before any ORM query: the attributes get their loaders only here.
        sa.orm.configure_mappers()
    obj = manager.new_instance()
    # Written straight into a new object's dict, which make_transient_to_detached then commits as
    # loaded (set_committed_value per column cost more than the query).
    instance_dict(obj).update(zip(row._fields, row, strict=True))
    make_transient_to_detached(obj)
    return obj


def loaded(session: Session, cls: type, row, *, refresh: bool = False) -> Any:
    """`row` as an ORM query would give it: the session's own object of `cls` if it holds one
    (its loaded values replaced by the row's given `refresh`, as `populate_existing` does), else a
    detached snapshot (`detached`)."""
    mapper = sa.inspect(cls)
    key = mapper.identity_key_from_primary_key([getattr(row, c.key) for c in mapper.primary_key])
    held = session.identity_map.get(key)
    if held is None:
        return detached(cls, row)
    if refresh:
        for name, value in zip(row._fields, row, strict=True):
            set_committed_value(held, name, value)
    return held


def column_values(obj) -> dict[str, Any]:
    """A mapped object's columns but its generated `id`, as the ORM would insert them: built by the
    model (its defaults), written by a prebuilt INSERT, then `stored`."""
    return {column.key: getattr(obj, column.key) for column in type(obj).__table__.columns if column.key != "id"}


def stored(session: Session, obj, new_id: int) -> Any:
    """`obj`, just written by a prebuilt INSERT that gave it `new_id`, joined to the session as an
    ORM insert leaves it: persistent and clean (no flush writes it again)."""
    obj.id = new_id
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


_REQUIRED = object()
_FIXED = object()  # an element of a fixed IN list: its value is the plan's


class LeanResult:
    """The part of SQLAlchemy's Result that the hot paths use."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list, rowcount: int) -> None:
        self._rows, self.rowcount = rows, rowcount

    def __iter__(self) -> Iterator:
        return iter(self._rows)

    def all(self) -> list:
        return list(self._rows)

    def first(self):
        return self._rows[0] if self._rows else None

    def one(self):
        if len(self._rows) != 1:
            raise sa.exc.NoResultFound("no row was found") if not self._rows else sa.exc.MultipleResultsFound(
                "more than one row was found")
        return self._rows[0]

    def one_or_none(self):
        if len(self._rows) > 1:
            raise sa.exc.MultipleResultsFound("more than one row was found")
        return self._rows[0] if self._rows else None

    def scalar(self):
        return self._rows[0][0] if self._rows else None

    def scalar_one(self):
        return self.one()[0]

    def scalars(self) -> list:
        return [row[0] for row in self._rows]
