"""Where the dock keeps its data: one folder with the database and a folder per job."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from worker.store.errors import DockError

log = logging.getLogger(__name__)

APP_NAME = "processing-dock"
MARKER = ".processing-dock"  # says "this folder is a dock's", so that opening it again is never a takeover
MARKER_TEXT = "This folder is a Processing Dock data folder: its job store, inputs and outputs.\n"
ENV_DATA_DIR = "DOCK_DATA_DIR"


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """--data-dir, else $DOCK_DATA_DIR, else the platform's user data folder."""
    chosen = explicit or os.environ.get(ENV_DATA_DIR) or platformdirs.user_data_dir(APP_NAME, appauthor=False)
    return Path(chosen).expanduser().resolve()


@dataclass(frozen=True, slots=True)
class DataDir:
    """The layout of a data folder.

    Attributes:
        root: the folder itself (0700 when the dock made it; the user's own permissions otherwise).
        database: dock.sqlite3 (0600).
        jobs: one folder per job id, holding input/, output/ and job.log.
        staging: uploads being copied; renamed into jobs/ when their row commits.
    """

    root: Path

    @property
    def database(self) -> Path:
        return self.root / "dock.sqlite3"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    @property
    def worker_log(self) -> Path:
        return self.root / "worker.log"

    def job_dir(self, job_id: int) -> Path:
        return self.jobs / str(job_id)

    def output_dir(self, job_id: int) -> Path:
        return self.job_dir(job_id) / "output"

    def job_log(self, job_id: int) -> Path:
        return self.job_dir(job_id) / "job.log"

    @property
    def marker(self) -> Path:
        return self.root / MARKER

    def ensure(self) -> DataDir:
        """Make this folder a data folder: a new one is created private to this user (0700); an existing one
        keeps its permissions, and one that is not empty must already be a dock's (its marker or database).
        A home folder or /tmp given by mistake is refused, never taken over."""
        try:
            self._check_ours()
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            for folder in (self.jobs, self.staging):
                folder.mkdir(mode=0o700, exist_ok=True)
        except OSError as error:  # a file in the way, a read-only disk: say so in one line
            raise DockError(
                f"cannot use {self.root} as the data folder: {error.strerror or error}"
                + (f" ({error.filename})" if error.filename and str(error.filename) != str(self.root) else "")
            ) from error
        return self

    def mark(self) -> None:
        """Say in the folder that it is a dock's: after its store opened, so a folder whose database is refused
        (damaged, newer) is left exactly as it was."""
        if not self.marker.exists():
            self.marker.write_text(MARKER_TEXT)

    def _check_ours(self) -> None:
        if not self.root.exists():
            return
        if not self.root.is_dir():
            raise DockError(f"cannot use {self.root} as the data folder: it is a file, not a folder")
        if self.marker.exists() or self.database.exists() or all(_is_ours(e.name) for e in os.scandir(self.root)):
            return  # a dock's folder, or one another process is making into one this very moment
        raise DockError(
            f"cannot use {self.root} as the data folder: it is not empty and is not a Processing Dock data "
            "folder (it has neither .processing-dock nor dock.sqlite3); nothing was changed. Give an empty or "
            "new folder with --data-dir or DOCK_DATA_DIR"
        )

    def remove_job_files(self, job_id: int) -> bool:
        """Remove one job's folder and nothing else; True if it is gone (or never was).

        Links inside are removed, never followed. What cannot go now (a handler still writing) is left
        for the worker or sweep_orphans(); the caller's transition has already committed either way.
        """
        gone = remove_tree(self.job_dir(job_id))
        if not gone:
            log.info("job %s: %s could not be removed yet; sweep_orphans() will retry", job_id, self.job_dir(job_id))
        return gone

    def attempt_dir(self, job_id: int, token: str) -> Path:
        """Where one attempt's handler writes: its own folder, so a stale attempt can never mix its files
        into the outputs of the attempt that holds the claim."""
        return self.job_dir(job_id) / "attempts" / token

    def attempt_paths(self, job_id: int, token: str) -> tuple[str, str, str]:
        """(job folder, attempt folder, job log) as strings, the same as job_dir(), attempt_dir() and job_log():
        made for every job a worker starts or finishes, where pathlib cost more than the rest of the step."""
        job = f"{self.root}/jobs/{job_id}"
        return job, f"{job}/attempts/{token}", f"{job}/job.log"

    def publish_attempt(self, job_id: int, token: str) -> None:
        """Make an attempt's folder the job's output/, replacing what was there.

        An attempt that never asked for its folder wrote nothing: output/ is left as the upload made it.
        """
        job, attempt, _log = self.attempt_paths(job_id, token)
        output = f"{job}/output"
        try:
            os.rename(attempt, output)  # replaces an empty output/ in the same system call
        except FileNotFoundError:
            return
        except OSError:  # output/ is not empty (left by a crash of an earlier publish): replace it whole
            remove_tree(Path(output))
            os.rename(attempt, output)

    def discard_attempt(self, job_id: int, token: str) -> None:
        remove_tree(self.attempt_dir(job_id, token))

    def remove_stale_staging(self, untouched_since: float) -> list[str]:
        """Remove staged uploads in which nothing changed after `untouched_since` (left by a crashed add)."""
        removed = []
        for staged in self.staging.iterdir() if self.staging.exists() else ():
            try:
                newest = max(p.lstat().st_mtime for p in (staged, *staged.rglob("*")))
            except OSError:  # vanished while we looked: its add finished or was discarded
                continue
            if newest < untouched_since:
                shutil.rmtree(staged, ignore_errors=True)
                removed.append(staged.name)
        return removed


OWN_ENTRIES = frozenset({MARKER, "dock.sqlite3", "dock.sqlite3-wal", "dock.sqlite3-shm", "dock.sqlite3-journal",
                         "jobs", "staging", "worker.log"})


def _is_ours(name: str) -> bool:
    """An entry a data folder has (a new store is built as .dock.sqlite3.<pid>.<random>.new, then linked)."""
    return name in OWN_ENTRIES or name.startswith(".dock.sqlite3.")


def remove_tree(folder: Path) -> bool:
    """Remove a folder of the dock's, opening up read-only subfolders a handler left; True if it is gone."""
    shutil.rmtree(folder, ignore_errors=True)
    if folder.exists() and not folder.is_symlink():
        with contextlib.suppress(OSError):
            folder.chmod(0o700)
        for root, dirs, _ in os.walk(folder, onerror=lambda _e: None):
            for name in dirs:  # top-down: each folder is opened before the walk enters it
                path = os.path.join(root, name)
                if not os.path.islink(path):
                    with contextlib.suppress(OSError):
                        os.chmod(path, 0o700)
        shutil.rmtree(folder, ignore_errors=True)
    return not folder.exists()
