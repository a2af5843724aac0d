"""The job store: states and their one transition table, the schema and its migrations, the data folder, and
every read and compare-and-set write the window, the command line and the worker make. It knows nothing of
the worker process, the handlers or Qt."""

from worker.store.errors import DatabaseError, DockError, JobNotFound, TransitionRefused
from worker.store.layout import DataDir
from worker.store.rows import Claim, Completion, Event, Job, NewJob, Outcome
from worker.store.states import ACTIVE, FINISHED, Action, JobStatus
from worker.store.store import DEFAULT_MAX_ATTEMPTS, Store, WorkerInfo
from worker.store.transitions import Backoff

__all__ = [
    "ACTIVE", "DEFAULT_MAX_ATTEMPTS", "FINISHED", "Action", "Backoff", "Claim", "Completion", "DataDir",
    "DatabaseError", "DockError", "Event", "Job", "JobNotFound", "JobStatus", "NewJob", "Outcome", "Store",
    "TransitionRefused", "WorkerInfo",
]
