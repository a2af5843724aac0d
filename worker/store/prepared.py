"""Core statements compiled once for the store's dialect and run straight on the DBAPI cursor.

The worker's hot path runs a handful of statements thousands of times a second. Built with SQLAlchemy Core they
stay dialect-neutral; executed through `Connection.execute` each call also pays for cache-key lookups, result
processing and event dispatch, which cost more than SQLite's own work. A `Prepared` statement is compiled once
per dialect, and each run binds its parameters and hands them to the driver. Values the driver cannot take
(JSON) are converted by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

_Compiled = tuple[str, Callable[[Mapping[str, Any]], tuple[Any, ...]] | None, dict[str, Any]]


def _getter(order: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A positional parameter tuple from a mapping, as fast as Python does it (itemgetter)."""
    if len(order) == 1:  # itemgetter of one key returns the bare value, not a 1-tuple
        (name,) = order
        return lambda values: (values[name],)
    return cast(Callable[[Mapping[str, Any]], tuple[Any, ...]], itemgetter(*order)) if order else (lambda _v: ())


class Prepared:
    """One Core statement, compiled on first use for the connection's dialect."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = cast(SQLCompiler, self.statement.compile(dialect=dialect))
            getter = _getter(list(compiled.positiontup or ())) if compiled.positional else None
            found = self._compiled[dialect.name] = (str(compiled), getter, dict(compiled.params))
        return found

    def bind(self, dialect: Dialect, values: Mapping[str, Any]) -> tuple[str, Any]:
        """The SQL text and the driver's parameters for `values` (constants of the statement filled in)."""
        sql, getter, constants = self._for(dialect)
        merged = {**constants, **values} if constants else values
        return sql, (getter(merged) if getter is not None else merged)

    def run(self, conn: Connection, values: Mapping[str, Any]) -> Any:
        """Execute once; returns the DBAPI cursor (rowcount, fetchall), which the caller closes."""
        sql, params = self.bind(conn.dialect, values)
        cursor = conn.connection.cursor()
        cursor.execute(sql, params)
        return cursor

    def run_many(self, conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        """Execute once per row (no RETURNING), in one driver call."""
        sql, getter, constants = self._for(conn.dialect)
        merged = [{**constants, **row} for row in rows] if constants else rows
        params: Any = merged if getter is None else [getter(row) for row in merged]
        cursor = conn.connection.cursor()
        try:
            cursor.executemany(sql, params)
        finally:
            cursor.close()
