"""One writer per run directory: a lock file beside the run, held while a process writes it."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from sape_geo.atomic import explain_os_error

LOCK_SUFFIX = ".sape-geo-lock"


class RunDirectoryError(OSError):
    """A run directory that cannot be created, replaced or used; the message says why and where."""


class RunDirectoryBusyError(RunDirectoryError):
    """Another process is writing this run directory right now (it holds the run's lock)."""


class RunLock:
    """An exclusive lock on a run directory, held while a process writes it (:mod:`filelock`).

    The lock file sits beside the run (``PARENT/.NAME.sape-geo-lock``), so it survives the run folder
    being swapped; it holds the holder's process id, for the message a second writer gets, and is
    removed when released. Re-entrant within a process, across threads and instances (a batch worker
    locks the run, then the task's :class:`~sape_geo.runs.RunDirectory` locks it again).

    Raises
    ------
    RunDirectoryBusyError : another process holds the lock.
    RunDirectoryError : the lock file cannot be created (read-only file system, ...).
    """

    def __init__(self, run_path: str | os.PathLike) -> None:
        run_path = Path(os.path.abspath(run_path))
        self.run_path = run_path
        self.path = run_path.parent / f".{run_path.name}{LOCK_SUFFIX}"
        # One instance per path and no per-thread state: every RunLock of this run in this process is one lock.
        self._lock = FileLock(self.path, timeout=0, thread_local=False, is_singleton=True, on_acquired=_write_pid)

    def acquire(self) -> "RunLock":
        try:
            self._lock.acquire()
        except Timeout:
            try:
                holder = self.path.read_text(encoding="ascii", errors="replace").strip()[:64]
            except OSError:
                holder = ""
            raise RunDirectoryBusyError(
                f"run directory {self.run_path} is being written by another sape-geo process"
                f"{f' (pid {holder})' if holder else ''}; wait for it to finish or use another --out"
            ) from None
        except OSError as error:
            raise RunDirectoryError(f"cannot create the run directory {self.run_path}: {explain_os_error(error)}") from None
        return self

    def release(self) -> None:
        if not self._lock.is_locked:
            return
        if self._lock.lock_counter == 1:
            # Unlinked while still held: a process that locks this file meanwhile finds it unlinked
            # and opens a new one (filelock checks), so two processes never hold the run. filelock
            # itself keeps the file on Unix; sape-geo leaves nothing beside a run.
            with contextlib.suppress(OSError):  # Windows: an open file cannot be removed
                self.path.unlink()
        self._lock.release()

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc_info: Any) -> None:
        self.release()


def _write_pid(descriptor: int) -> None:
    os.ftruncate(descriptor, 0)
    os.write(descriptor, str(os.getpid()).encode("ascii"))
