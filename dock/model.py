"""The job list's table model: a list of ids plus a dict of frozen rows, refreshed by difference."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from itertools import pairwise
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor

from dock import formatting
from dock.resources import icon
from worker.store.rows import Job
from worker.store.states import JobStatus

Index = QModelIndex | QPersistentModelIndex


class Role(IntEnum):
    """What the delegates read: they never touch the database."""

    JOB_ID = Qt.ItemDataRole.UserRole + 1
    STATUS = Qt.ItemDataRole.UserRole + 2
    PROGRESS = Qt.ItemDataRole.UserRole + 3
    MESSAGE = Qt.ItemDataRole.UserRole + 4
    BUSY = Qt.ItemDataRole.UserRole + 5  # the label of an action in flight ("Deleting…"), else None
    ROW = Qt.ItemDataRole.UserRole + 6


class Column(IntEnum):
    ID = 0
    FILE = 1
    HANDLER = 2
    STATUS = 3
    PROGRESS = 4
    ATTEMPTS = 5
    CREATED = 6
    DURATION = 7
    ACTIONS = 8


HEADERS = {Column.ID: "#", Column.FILE: "File", Column.HANDLER: "Handler", Column.STATUS: "Status",
           Column.PROGRESS: "Progress", Column.ATTEMPTS: "Attempts", Column.CREATED: "Created",
           Column.DURATION: "Duration", Column.ACTIONS: ""}
# The store sorts (a proxy takes seconds on 100,000 rows); the actions column cannot be sorted.
SORT_KEYS: dict[Column, str] = {Column.ID: "id", Column.FILE: "filename", Column.HANDLER: "handler",
                                Column.STATUS: "status", Column.PROGRESS: "progress",
                                Column.ATTEMPTS: "attempts", Column.CREATED: "created_at",
                                Column.DURATION: "duration"}
STATUS_COLORS = {JobStatus.PENDING: "#6b7280", JobStatus.RUNNING: "#1d4ed8", JobStatus.COMPLETED: "#15803d",
                 JobStatus.FAILED: "#b91c1c", JobStatus.CANCELLED: "#6b7280"}
STATUS_QCOLORS = {status: QColor(color) for status, color in STATUS_COLORS.items()}
BUSY_COLOR = QColor("#9ca3af")
MUTED_COLOR = QColor("#4b5563")
RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
HANDLED_ROLES = frozenset({int(Qt.ItemDataRole.DisplayRole), int(Qt.ItemDataRole.DecorationRole),
                           int(Qt.ItemDataRole.TextAlignmentRole), int(Qt.ItemDataRole.ForegroundRole),
                           int(Qt.ItemDataRole.ToolTipRole), *(int(r) for r in Role)})
SELECTABLE = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
MUTED = (Column.ID, Column.CREATED, Column.DURATION, Column.ATTEMPTS, Column.HANDLER)


@dataclass(frozen=True, slots=True)
class Row:
    """What one line of the list shows: light, immutable, safe to hand between threads."""

    id: int
    filename: str
    handler: str
    status: JobStatus
    progress: int
    message: str
    attempts: int
    max_attempts: int
    run_after: float
    created_at: float
    started_at: float | None
    finished_at: float | None
    error: str | None  # the first line only: the details pane fetches the rest
    rev: int

    @classmethod
    def of(cls, job: Job) -> Row:
        error = job.error.strip().splitlines()[0][:300] if job.error and job.error.strip() else job.error
        return cls(job.id, job.filename, job.handler, job.status, job.progress, job.message, job.attempts,
                   job.max_attempts, job.run_after, job.created_at, job.started_at, job.finished_at,
                   error, job.rev)


@dataclass(frozen=True, slots=True)
class Diff:
    """How to turn the old id list into the new one with few, contiguous row operations.

    removed: (first, last) ranges of the old list, bottom-up so earlier ranges keep their numbers.
    inserted: (position, ids) runs of the new list, top-down.
    changed: positions in the new list of rows that stayed but whose data changed.
    gone: ids no longer in the list at all.
    """

    removed: tuple[tuple[int, int], ...] = ()
    inserted: tuple[tuple[int, tuple[int, ...]], ...] = ()
    changed: tuple[int, ...] = ()
    gone: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class ModelChange:
    """One refresh, computed off the GUI thread. `reset` (a new filter or sort) replaces everything."""

    seq: int
    reset: bool = False
    ids: list[int] = field(default_factory=list)  # the whole list, for a reset
    rows: dict[int, Row] = field(default_factory=dict)  # new or changed rows (every row, for a reset)
    diff: Diff = field(default_factory=Diff)


def runs(positions: Sequence[int]) -> list[tuple[int, int]]:
    """(first, last) of each run of consecutive numbers in an ascending sequence."""
    found: list[tuple[int, int]] = []
    for position in positions:
        if found and position == found[-1][1] + 1:
            found[-1] = (found[-1][0], position)
        else:
            found.append((position, position))
    return found


def _longest_increasing(values: Sequence[int]) -> set[int]:
    """The values of one longest strictly increasing subsequence (patience sorting, O(n log n))."""
    if all(a < b for a, b in pairwise(values)):
        return set(values)
    tails: list[int] = []
    tail_values: list[int] = []
    previous = [-1] * len(values)
    for i, value in enumerate(values):
        k = bisect_left(tail_values, value)
        if k:
            previous[i] = tails[k - 1]
        if k == len(tails):
            tails.append(i)
            tail_values.append(value)
        else:
            tails[k], tail_values[k] = i, value
    chosen: set[int] = set()
    i = tails[-1] if tails else -1
    while i >= 0:
        chosen.add(values[i])
        i = previous[i]
    return chosen


def _runs(flags: Iterable[bool]) -> list[tuple[int, int]]:
    """(first, last) of each run of True."""
    runs: list[tuple[int, int]] = []
    start = -1
    i = -1
    for i, flag in enumerate(flags):
        if flag and start < 0:
            start = i
        elif not flag and start >= 0:
            runs.append((start, i - 1))
            start = -1
    if start >= 0:
        runs.append((start, i))
    return runs


def plan_diff(old: Sequence[int], new: Sequence[int], changed_ids: Collection[int]) -> Diff:
    """The row operations from `old` to `new`: rows that keep their relative order stay (and keep their
    selection); the fewest others are removed and inserted again. Pure, so it can run on any thread."""
    if list(old) == list(new):  # the common refresh: same rows, some changed (compared in C)
        wanted = set(changed_ids)
        return Diff(changed=tuple(i for i, j in enumerate(new) if j in wanted)) if wanted else Diff()
    new_pos = {job_id: i for i, job_id in enumerate(new)}
    staying = _longest_increasing([new_pos[j] for j in old if j in new_pos])
    leaving = [new_pos.get(j) is None or new_pos[j] not in staying for j in old]
    removed = tuple(reversed(_runs(leaving)))
    inserted = tuple((first, tuple(new[first:last + 1])) for first, last in _runs(i not in staying
                                                                                   for i in range(len(new))))
    changed = tuple(sorted(new_pos[j] for j in changed_ids if new_pos.get(j) in staying))
    return Diff(removed, inserted, changed, frozenset(j for j in old if j not in new_pos))


@dataclass(slots=True)
class _Busy:
    label: str
    settle_seq: int | None = None  # a refresh with this sequence number or later shows the outcome


class JobModel(QAbstractTableModel):
    """The jobs the current query shows, in its order.

    Signals:
        sort_requested(str key, bool descending): the view asked to sort; the poller re-queries.
    """

    sort_requested = Signal(str, bool)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._ids: list[int] = []
        self._rows: dict[int, Row] = {}
        self._busy: dict[int, _Busy] = {}

    # ---- reading ------------------------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(Column)

    def row_at(self, position: int) -> Row:
        return self._rows[self._ids[position]]

    def ids(self) -> list[int]:
        return list(self._ids)

    def ids_in(self, spans: Iterable[tuple[int, int]]) -> list[int]:
        """The ids shown in these (first, last) runs of rows: list slices, no per-row work in Python."""
        ids: list[int] = []
        for first, last in spans:
            ids += self._ids[first:last + 1]
        return ids

    def rows_of(self, job_ids: Iterable[int]) -> list[Row]:
        return [self._rows[j] for j in job_ids]

    def statuses_of(self, job_ids: Iterable[int]) -> set[JobStatus]:
        return {self._rows[j].status for j in job_ids}

    def positions(self, job_ids: Iterable[int]) -> dict[int, int]:
        """Where each of `job_ids` is shown (ids not shown are left out); one pass over the list."""
        wanted = set(job_ids)
        if len(wanted) <= 4:
            return {j: self._ids.index(j) for j in wanted if j in self._rows}
        return {j: i for i, j in enumerate(self._ids) if j in wanted}

    def busy_count(self) -> int:
        return len(self._busy)

    def busy_label(self, job_id: int) -> str | None:
        busy = self._busy.get(job_id)
        return busy.label if busy else None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        # Called some 700 times per repaint: roles nobody answers leave first, and the column stays an int.
        if role not in HANDLED_ROLES or not index.isValid() or not 0 <= index.row() < len(self._ids):
            return None
        row = self._rows[self._ids[index.row()]]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == Role.JOB_ID:
            return row.id
        if role == Role.STATUS:
            return row.status
        if role == Role.PROGRESS:
            return row.progress
        if role == Role.MESSAGE:
            return row.message
        if role == Role.BUSY:
            return self.busy_label(row.id)
        if role == Role.ROW:
            return row
        return self._decoration(row, column, role)

    def _display(self, row: Row, column: int) -> str:
        match column:
            case Column.ID:
                return str(row.id)
            case Column.FILE:
                return formatting.shown(row.filename)
            case Column.HANDLER:
                return formatting.shown(row.handler)
            case Column.STATUS:
                return self.busy_label(row.id) or formatting.STATUS_LABELS[row.status]
            case Column.PROGRESS:
                return f"{row.progress}%"
            case Column.ATTEMPTS:
                return formatting.attempts(row.status, row.attempts, row.max_attempts, row.run_after)
            case Column.CREATED:
                return formatting.when(row.created_at)
            case Column.DURATION:
                # A job waiting for its next attempt has no duration to show; its last attempt's is history.
                if row.status is JobStatus.PENDING:
                    return ""
                return formatting.job_duration(row.started_at, row.finished_at)
        return ""

    def _decoration(self, row: Row, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DecorationRole and column == Column.STATUS:
            return icon(f"status-{row.status.value}")
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return RIGHT if column in (Column.ID, Column.DURATION) else LEFT
        if role == Qt.ItemDataRole.ForegroundRole:
            if row.id in self._busy:
                return BUSY_COLOR
            if column == Column.STATUS:
                return STATUS_QCOLORS[row.status]
            if column in MUTED:
                return MUTED_COLOR
        if role == Qt.ItemDataRole.ToolTipRole:
            # Qt guesses whether a tooltip is HTML: job data goes in escaped, so it always reads literally.
            if column == Column.FILE:
                return formatting.plain_tip(row.filename)
            if column in (Column.STATUS, Column.PROGRESS):
                tip = row.error if row.status is JobStatus.FAILED else row.message
                return formatting.plain_tip(tip) if tip else None
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(Column):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[Column(section)]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return LEFT  # right-aligned titles collide with the sort arrow
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return SELECTABLE

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        key = SORT_KEYS.get(Column(column)) if 0 <= column < len(Column) else None
        if key is not None:
            self.sort_requested.emit(key, order == Qt.SortOrder.DescendingOrder)

    # ---- refreshing ---------------------------------------------------------------------------------------

    def apply(self, change: ModelChange) -> None:
        """Apply one refresh: row operations for a diff, a reset only for a new query."""
        if change.reset:
            self.beginResetModel()
            self._ids = list(change.ids)  # the poller keeps its own list: this one is ours to edit
            self._rows = change.rows  # a copy made for us off the GUI thread
            self.endResetModel()
        else:
            self._apply_diff(change)
        self._settle_busy(change.seq)

    def _apply_diff(self, change: ModelChange) -> None:
        diff, root = change.diff, QModelIndex()
        for first, last in diff.removed:
            self.beginRemoveRows(root, first, last)
            del self._ids[first:last + 1]
            self.endRemoveRows()
        for job_id in diff.gone:
            self._rows.pop(job_id, None)
        self._rows.update(change.rows)  # before the inserts: the view reads the new rows at once
        for position, ids in diff.inserted:
            self.beginInsertRows(root, position, position + len(ids) - 1)
            self._ids[position:position] = ids
            self.endInsertRows()
        self._emit_runs(diff.changed)

    # ---- actions in flight --------------------------------------------------------------------------------

    def mark_busy(self, job_ids: Iterable[int], label: str) -> None:
        """Show at once that an action is on its way ("Deleting…"), until the store confirms it."""
        ids = [j for j in job_ids if j in self._rows]
        for job_id in ids:
            self._busy[job_id] = _Busy(label)
        self._emit_rows(ids)

    def settle_busy_after(self, job_ids: Iterable[int], seq: int) -> None:
        """The action is committed: the refresh numbered `seq` (or later) will show its outcome."""
        for job_id in job_ids:
            if job_id in self._busy:
                self._busy[job_id].settle_seq = seq

    def clear_busy(self, job_ids: Iterable[int]) -> None:
        """The action was refused or failed: show the row as it is."""
        ids = [j for j in job_ids if self._busy.pop(j, None) is not None]
        self._emit_rows(j for j in ids if j in self._rows)

    def _settle_busy(self, seq: int) -> None:
        done = [j for j, busy in self._busy.items()
                if j not in self._rows or (busy.settle_seq is not None and seq >= busy.settle_seq)]
        if done:
            self.clear_busy(done)

    def _emit_rows(self, job_ids: Iterable[int]) -> None:
        self._emit_runs(sorted(self.positions(job_ids).values()))

    def _emit_runs(self, positions: Sequence[int]) -> None:
        """One dataChanged per run of adjacent rows: per row, "Retry All Failed" on 10,000 jobs held the GUI
        thread for 150 ms."""
        last = len(Column) - 1
        for first, end in runs(positions):
            self.dataChanged.emit(self.index(first, 0), self.index(end, last))
