"""How the store runs SQL: Core statements compiled once per dialect, run on the driver's cursor in a transaction.

The worker's hot path runs a handful of statements thousands of times a second. Built with SQLAlchemy Core they
stay dialect-neutral; executed through `Connection.execute` each call also pays for cache-key lookups, result
processing and event dispatch, which cost more than SQLite's own work. A `Prepared` statement is compiled once
per dialect, and each run binds its parameters and hands them to the driver. Values the driver cannot take
(JSON) are converted by the caller, and rows come back as plain tuples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import Any, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

_Compiled = tuple[str, Callable[[Mapping[str, Any]], tuple[Any, ...]] | None, dict[str, Any]]
NO_VALUES: Mapping[str, Any] = {}


def _getter(order: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A positional parameter tuple from a mapping, as fast as Python does it (itemgetter)."""
    if len(order) == 1:  # itemgetter of one key returns the bare value, not a 1-tuple
        (name,) = order
        return lambda values: (values[name],)
    return cast(Callable[[Mapping[str, Any]], tuple[Any, ...]], itemgetter(*order)) if order else (lambda _v: ())


class Prepared:
    """One Core statement, compiled on first use for each dialect it runs on."""

    __slots__ = ("_compiled", "statement")

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

    def bind_many(self, dialect: Dialect, rows: Iterable[Mapping[str, Any]]) -> tuple[str, Any]:
        sql, getter, constants = self._for(dialect)
        merged = [{**constants, **row} for row in rows] if constants else rows
        return sql, (merged if getter is None else [getter(row) for row in merged])


class Tx:
    """The statements of one transaction (`Database.read()` or `write()`), run on one driver cursor.

    A statement is a `Prepared` (built once, for the hot paths and every fixed statement) or a Core statement
    built for this call (a list with a filter and a sort), which is compiled here.
    """

    __slots__ = ("cursor", "dialect")

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self.cursor = cursor
        self.dialect = dialect

    def run(self, statement: Prepared | ClauseElement, values: Mapping[str, Any] = NO_VALUES) -> Any:
        """Execute once; returns the driver's cursor (rowcount, fetchone, fetchall)."""
        prepared = statement if isinstance(statement, Prepared) else Prepared(statement)
        sql, params = prepared.bind(self.dialect, values)
        self.cursor.execute(sql, params)
        return self.cursor

    def rows(self, statement: Prepared | ClauseElement, values: Mapping[str, Any] = NO_VALUES) -> list[Any]:
        return cast(list[Any], self.run(statement, values).fetchall())

    def first(self, statement: Prepared | ClauseElement, values: Mapping[str, Any] = NO_VALUES) -> Any:
        """The first row, or None; the rest are read and dropped (SQLite needs a statement run to its end)."""
        rows = self.rows(statement, values)
        return rows[0] if rows else None

    def scalar(self, statement: Prepared | ClauseElement, values: Mapping[str, Any] = NO_VALUES) -> Any:
        row = self.first(statement, values)
        return None if row is None else row[0]

    def changed(self, statement: Prepared | ClauseElement, values: Mapping[str, Any] = NO_VALUES) -> int:
        """How many rows an UPDATE or DELETE without RETURNING changed."""
        return int(self.run(statement, values).rowcount)

    def many(self, statement: Prepared, rows: Iterable[Mapping[str, Any]]) -> None:
        """Execute once per row (no RETURNING), in one driver call."""
        sql, params = statement.bind_many(self.dialect, rows)
        self.cursor.executemany(sql, params)

    @contextmanager
    def savepoint(self, name: str) -> Iterator[None]:
        """Undo what the block wrote, alone, if it raises; the transaction goes on either way."""
        self.cursor.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.cursor.execute(f"ROLLBACK TO SAVEPOINT {name}")
            self.cursor.execute(f"RELEASE SAVEPOINT {name}")
            raise
        self.cursor.execute(f"RELEASE SAVEPOINT {name}")
