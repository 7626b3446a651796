"""The run directory: the contract between fitting, the viewer, benchmarks and users' scripts.

::

    RUN/
      config.json     every setting, the seed, package versions, input paths and checksums
      metrics.json    final metrics with units in their names; written last: a run is complete iff it exists
      history.csv     step, loss, seconds, mean progress
      progress.npy    final progress per location: the heat map
      result.*        the task's product
      model.pt        weights, encoding buffers and mask state, with the spec to rebuild the network
      snapshots.npz   optional frames for playback

Every file is written atomically (:mod:`sape_geo.atomic`: a temporary file in the same folder, then
``os.replace``), and the whole run is built in a hidden folder beside its final place and moved there
when ``metrics.json`` is written (:class:`RunDirectory`), so a crash never leaves a half-written file or
run under a final name, and never touches the previous run. ``metrics.json`` records every other file's
size and SHA-256 (:func:`run_problems` checks them); ``.sape-geo-run``, written only by this module,
lists the run's files with their SHA-256 (``metrics.json``'s too), so ``--overwrite`` replaces nothing
but a run directory (:func:`is_run_directory`), and a file edited since the run wrote it
(:func:`edited_files`) is kept beside the run that replaces it (``NAME.edited-TIME/``), never lost.

Files that are not a run's (a batch's ``summary.csv``) go through :func:`write_owned_files`: the same
atomic writes, and a marker (``.sape-geo-files``) recording what this tool wrote, so a file of the same
name that sape-geo did not write, or that was edited since, is never replaced.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

import numpy as np

from sape_geo.atomic import (
    atomic_path,
    current_umask,
    explain_os_error,
    is_atomic_temporary,
    swap_folders,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from sape_geo.provenance import environment_versions, file_sha256
from sape_geo.run_lock import RunDirectoryError, RunLock

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
PROGRESS_FILE = "progress.npy"
MODEL_FILE = "model.pt"
SNAPSHOTS_FILE = "snapshots.npz"
PRODUCT_CHECKSUMS = "files"  # metrics.json: {name: {"bytes", "sha256"}} of every other file of the run
HISTORY_COLUMNS = ("step", "loss", "seconds", "mask_mean_progress")  # the mask's own mean (FieldModel.mask_mean_progress)


class RunDirectoryExistsError(RunDirectoryError, FileExistsError):
    """The output directory already holds files and ``overwrite`` was not given, or it is not ours to replace."""


class RunEditsKeptWarning(UserWarning):
    """Files of a replaced run had been edited since sape-geo wrote them; they were kept beside the new run."""


# Only this tool writes this file: it names the run's files, so ``--overwrite`` can tell a run
# directory from a user's folder that happens to hold a config.json.
MARKER_FILE = ".sape-geo-run"
MARKER_TOOL = "sape-geo run directory"
FAILURE_FILE = "error.json"
MARKER_CHECKSUMS = "sha256"  # in the run marker: {name: SHA-256} of every file, metrics.json too (it cannot list itself)
EDITED_SUFFIX = ".edited-"  # NAME.edited-TIME/: the edited files of a run that --overwrite or a batch replaced
OWNED_MARKER_FILE = ".sape-geo-files"
OWNED_MARKER_TOOL = "sape-geo files"
_BUILDING = ".sape-geo-building-"


def read_marker(path: str | os.PathLike) -> dict[str, Any] | None:
    """The run marker of ``path`` (a dict naming the run's files), or None when it has none or it is unreadable."""
    try:
        with open(Path(path) / MARKER_FILE, encoding="utf-8") as handle:
            marker = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("tool") != MARKER_TOOL or not isinstance(marker.get("files", []), list):
        return None
    return marker


def foreign_entries(path: str | os.PathLike) -> list[str] | None:
    """What in folder ``path`` this tool did not write: None when it has no run marker, else the names
    that are neither the marker, a file the marker lists, a batch failure record nor a temporary file."""
    path = Path(path)
    marker = read_marker(path)
    if marker is None:
        return None
    ours = {MARKER_FILE, FAILURE_FILE, *marker.get("files", [])}
    return sorted(
        entry.name for entry in path.iterdir()
        if not (entry.name in ours and entry.is_file() and not entry.is_symlink()) and not is_atomic_temporary(entry.name)
    )


def is_run_directory(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder this tool wrote as a run directory and holds nothing else.

    The only folders ``--overwrite`` replaces and a batch redoes.
    """
    path = Path(path)
    return path.is_dir() and not path.is_symlink() and foreign_entries(path) == []


class RunDirectory:
    """A run's output folder, built beside its final place and moved there whole when complete.

    Files go into a hidden folder in the same parent (``.NAME.sape-geo-building-XXXX``); writing
    ``metrics.json`` (:meth:`write_metrics`, always last) records every file's size and SHA-256 in it,
    writes the run marker (``.sape-geo-run``, the list of the run's files) and puts the folder in
    place, swapping it with the previous run in one step where the OS allows. So an interrupted or
    failed run leaves the previous run as it was, and nothing half-written under the final name.
    While it is built the run is locked (:class:`~sape_geo.run_lock.RunLock`): a second process writing the same run
    directory is refused.

    Parameters
    ----------
    path : the final folder.
    overwrite : replace an existing non-empty folder; only a run directory this tool wrote and that
        holds nothing else (:func:`is_run_directory`) is ever replaced. Any other non-empty folder is
        refused, so user files are never deleted; files of the run edited since it was written are
        kept beside it (:func:`keep_edited_files`, attribute ``kept_edits``).

    Raises
    ------
    RunDirectoryExistsError : the folder holds files and ``overwrite`` is False, or it is not a run
        directory of this tool (or holds files it did not write).
    ~sape_geo.run_lock.RunDirectoryBusyError : another process is writing the same run directory.
    RunDirectoryError : the folder cannot be created (read-only file system, a file in the way, ...).
    """

    def __init__(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        self.path = Path(path)
        self._final = Path(os.path.abspath(self.path))
        self._committed = False
        self._replace = False
        self.kept_edits: Path | None = None  # where the replaced run's edited files were kept, if any
        if self._final.is_symlink():
            raise RunDirectoryExistsError(f"{self.path} is a symbolic link; give the folder it points to as --out")
        if self._final.exists() and not self._final.is_dir():
            raise RunDirectoryExistsError(f"{self.path} exists and is not a directory")
        self._created_parents = self._make_parents()
        self._lock = RunLock(self._final)
        try:
            self._lock.acquire()
            self._replace = self._check_existing(overwrite)
            self._remove_stale_builds()
            self.staging = Path(tempfile.mkdtemp(prefix=f".{self._final.name}{_BUILDING}", dir=self._final.parent))
            os.chmod(self.staging, 0o777 & ~current_umask())  # mkdtemp makes 0700; a run folder is made like mkdir makes one
            write_json_atomic(self.staging / MARKER_FILE, self._marker([]))
        except BaseException as error:
            self._release_after_failed_start()
            if isinstance(error, OSError) and not isinstance(error, RunDirectoryError):
                raise RunDirectoryError(f"cannot create the run directory {self.path}: {explain_os_error(error)}") from None
            raise

    def _release_after_failed_start(self) -> None:
        self._lock.release()
        self._lock = None
        self._remove_created_parents()

    def _make_parents(self) -> list[Path]:
        """Create the missing parent folders; returns them (deepest last) to remove them again on failure."""
        missing = []
        for parent in [self._final.parent, *self._final.parent.parents]:
            if parent.exists() or parent.is_symlink():
                if not parent.is_dir():
                    raise RunDirectoryError(f"cannot create the run directory {self.path}: {parent} is a file, not a folder")
                break
            missing.append(parent)
        missing.reverse()
        for folder in missing:
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            except OSError as error:
                self._created_parents = missing[: missing.index(folder)]
                self._remove_created_parents()
                raise RunDirectoryError(f"cannot create the run directory {self.path}: {explain_os_error(error)}") from None
        return missing

    def _remove_created_parents(self) -> None:
        for folder in reversed(self._created_parents):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only while empty
        self._created_parents = []

    def _check_existing(self, overwrite: bool) -> bool:
        """Whether a previous run is there to be replaced; raises when the folder is not ours to replace."""
        if not self._final.is_dir() or not any(self._final.iterdir()):
            return False
        if not overwrite:
            raise RunDirectoryExistsError(
                f"run directory {self.path} is not empty; pass --overwrite (overwrite=True) to replace it"
            )
        foreign = foreign_entries(self._final)
        if foreign is None:
            raise RunDirectoryExistsError(
                f"{self.path} is not empty and is not a sape-geo run directory (no {MARKER_FILE} marker); "
                "refusing to delete it even with --overwrite; move it away or choose another --out"
            )
        if foreign:
            listed = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise RunDirectoryExistsError(
                f"{self.path} holds files sape-geo did not write ({listed}); refusing to replace it even with "
                "--overwrite; move them away or choose another --out"
            )
        return True

    def _remove_stale_builds(self) -> None:
        """Folders that interrupted or killed earlier runs of this name left beside it (we hold the lock,
        so no one is building them); only folders carrying our marker are removed."""
        for entry in self._final.parent.glob(f".{glob.escape(self._final.name)}{_BUILDING}*"):
            if entry.is_dir() and not entry.is_symlink() and read_marker(entry) is not None:
                shutil.rmtree(entry, ignore_errors=True)

    def _marker(self, files: list[str], checksums: dict[str, str] | None = None) -> dict[str, Any]:
        marker = {"tool": MARKER_TOOL, "files": files, "pid": os.getpid(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        if checksums is not None:
            marker[MARKER_CHECKSUMS] = checksums
        return marker

    @property
    def _root(self) -> Path:
        return self.path if self._committed else self.staging

    def file(self, name: str) -> Path:
        """Where the run's file ``name`` is written (inside the folder being built until the run is complete)."""
        return self._root / name

    @contextlib.contextmanager
    def atomic(self, name: str) -> Iterator[Path]:
        """Temporary path for ``name`` that becomes the final file only if the block succeeds."""
        with atomic_path(self.file(name)) as temporary:
            yield temporary

    def write_json(self, name: str, data: Any) -> None:
        write_json_atomic(self.file(name), data)

    def write_config(self, config: Mapping[str, Any]) -> None:
        self.write_json(CONFIG_FILE, {**config, "versions": environment_versions()})

    def write_metrics(self, metrics: Mapping[str, Any]) -> None:
        """Write ``metrics.json`` with every file's checksum; call it last: it completes the run and
        moves it into place (replacing the previous run, if any)."""
        if self._committed:
            raise RuntimeError(f"run directory {self.path} is already complete")
        files = {
            entry.name: {"bytes": entry.stat().st_size, "sha256": file_sha256(entry)}
            for entry in sorted(self.staging.iterdir())
            if entry.is_file() and entry.name not in (MARKER_FILE, METRICS_FILE) and not is_atomic_temporary(entry.name)
        }
        self.write_json(METRICS_FILE, {**dict(metrics), PRODUCT_CHECKSUMS: files})
        checksums = {name: entry["sha256"] for name, entry in files.items()}
        checksums[METRICS_FILE] = file_sha256(self.staging / METRICS_FILE)
        marker = self._marker(sorted([*files, METRICS_FILE]), checksums)
        write_json_atomic(self.staging / MARKER_FILE, marker)
        self._move_into_place()

    def write_history(self, rows: Sequence[Mapping[str, Any]]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        write_text_atomic(self.file(HISTORY_FILE), buffer.getvalue())

    def write_array(self, name: str, array: np.ndarray) -> None:
        with self.atomic(name) as temporary:
            with open(temporary, "wb") as handle:
                np.save(handle, np.asarray(array))

    def write_arrays(self, name: str, arrays: Mapping[str, np.ndarray]) -> None:
        with self.atomic(name) as temporary:
            with open(temporary, "wb") as handle:
                np.savez_compressed(handle, **{key: np.asarray(value) for key, value in arrays.items()})

    def save_model(self, model: "torch.nn.Module") -> None:
        """``model.pt``: the spec to rebuild the network (:func:`sape_geo.load_model`) and its state."""
        payload = {"spec": model.spec.to_dict(), "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
        with self.atomic(MODEL_FILE) as temporary:
            import torch

            torch.save(payload, temporary)

    def _move_into_place(self) -> None:
        final = self._final
        if final.is_dir() and any(final.iterdir()):
            if not self._replace or not is_run_directory(final):
                kept = final.parent / f"{final.name}.new-{self.staging.name.rsplit('-', 1)[-1]}"
                os.rename(self.staging, kept)
                self._committed = True
                self._release()
                raise RunDirectoryExistsError(
                    f"{self.path} changed while the run was being written (it now holds files sape-geo did not write); "
                    f"it was left as it is and the new run was kept in {kept}"
                )
            self.kept_edits = keep_edited_files(final)
            # One atomic exchange where the OS has one, else the old run is renamed aside for a moment.
            swap_folders(self.staging, final, aside_prefix=f".{final.name}{_BUILDING}")
            self._committed = True
            shutil.rmtree(self.staging, ignore_errors=True)  # the previous run, swapped out
        elif final.is_dir():
            # An empty folder the user made (maybe the working directory, or a mount point): keep it
            # and move the files in, metrics.json last, so the run counts as complete only when whole.
            names = sorted(entry.name for entry in self.staging.iterdir())
            for name in sorted(names, key=lambda name: name == METRICS_FILE):
                os.rename(self.staging / name, final / name)
            self._committed = True
            self.staging.rmdir()
        else:
            os.rename(self.staging, final)
            self._committed = True
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        self._created_parents = []

    def discard(self) -> None:
        """Give up an unfinished run: delete what was built (the previous run stays as it was) and unlock."""
        if not self._committed:
            shutil.rmtree(self.staging, ignore_errors=True)
            self._remove_created_parents()
        self._release()

    def __enter__(self) -> "RunDirectory":
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if not self._committed:
            self.discard()

    @property
    def is_complete(self) -> bool:
        return is_complete_run(self.path)


def is_complete_run(path: str | os.PathLike) -> bool:
    """True when ``path`` holds a finished run (its ``metrics.json`` exists; it is written last)."""
    return (Path(path) / METRICS_FILE).is_file()


def read_json(path: str | os.PathLike) -> Any:
    """The JSON value in ``path``.

    Raises
    ------
    FileNotFoundError : no such file.
    ValueError : the file is empty or not valid JSON; the message names the file.
    """
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if not text.strip():
        raise ValueError(f"{path} is empty (a damaged or hand-made file?)")
    try:
        return json.loads(text)
    except ValueError as error:
        raise ValueError(f"{path} is not valid JSON ({error})") from None


def run_problems(path: str | os.PathLike) -> list[str]:
    """What is wrong with a finished run in ``path``; empty when it is complete and whole.

    A run is complete when ``metrics.json`` is there and readable; it is whole when every file it
    lists under ``"files"`` has the recorded size and SHA-256, and ``metrics.json`` itself has the
    SHA-256 the run marker recorded. A ``metrics.json`` without its ``"files"`` table does not count
    as whole (it was edited, or written by a sape-geo too old to record checksums).
    """
    path = Path(path)
    metrics_path = path / METRICS_FILE
    if not metrics_path.is_file():
        return [f"unfinished: no {METRICS_FILE} in {path}"]
    try:
        metrics = read_json(metrics_path)
    except (OSError, ValueError) as error:
        return [str(error)]
    if not isinstance(metrics, dict):
        return [f"{metrics_path} does not hold a JSON object"]
    problems = []
    written = _marker_checksums(path).get(METRICS_FILE)
    if written is not None and file_sha256(metrics_path) != written:
        problems.append(f"{metrics_path} changed since the run wrote it (checksum differs)")
    recorded = metrics.get(PRODUCT_CHECKSUMS)
    if recorded is None:
        return [*problems, f"{metrics_path} has no {PRODUCT_CHECKSUMS!r} entry, so the run's files cannot be checked (edited or damaged)"]
    if not isinstance(recorded, dict):
        return [*problems, f"{metrics_path}: its {PRODUCT_CHECKSUMS!r} entry is not a table of checksums"]
    for name, expected in recorded.items():
        file = path / name
        if not file.is_file():
            problems.append(f"{file} is missing")
        elif not isinstance(expected, dict) or file.stat().st_size != expected.get("bytes"):
            problems.append(f"{file} has {file.stat().st_size} bytes, the run wrote {expected.get('bytes') if isinstance(expected, dict) else '?'} (truncated or changed)")
        elif file_sha256(file) != expected.get("sha256"):
            problems.append(f"{file} changed since the run wrote it (checksum differs)")
    return problems


def _marker_checksums(path: Path) -> dict[str, str]:
    """``{name: SHA-256}`` the run marker of ``path`` recorded (empty for markers older than checksums)."""
    marker = read_marker(path) or {}
    checksums = marker.get(MARKER_CHECKSUMS)
    if not isinstance(checksums, dict):
        return {}
    return {name: digest for name, digest in checksums.items() if isinstance(name, str) and isinstance(digest, str)}


def edited_files(path: str | os.PathLike) -> list[str]:
    """Names of the files of the run in ``path`` that are there but differ from what sape-geo wrote.

    The run marker's checksums are the reference (they survive a damaged ``metrics.json``); for runs
    whose marker has none, the ``"files"`` table of ``metrics.json``. A missing file is not an edit.
    """
    path = Path(path)
    checksums = _marker_checksums(path)
    if not checksums:
        try:
            recorded = read_json(path / METRICS_FILE).get(PRODUCT_CHECKSUMS)
            checksums = {name: entry.get("sha256") for name, entry in recorded.items() if isinstance(entry, dict)}
        except (OSError, ValueError, AttributeError):
            return []
    edited = []
    for name, digest in sorted(checksums.items()):
        file = path / name
        if file.is_file() and not file.is_symlink() and file_sha256(file) != digest:
            edited.append(name)
    return edited


def keep_edited_files(path: str | os.PathLike) -> Path | None:
    """Keep the edited files of the run in ``path`` (:func:`edited_files`) in a new folder beside it,
    ``NAME.edited-YYYYmmdd-HHMMSS-XXXX/``, before the run is replaced; returns that folder (None when
    nothing was edited). Files are hard-linked where the file system allows (no copy, and the run
    stays intact until it is replaced), else copied. Warns (:class:`RunEditsKeptWarning`) naming them.
    """
    path = Path(path)
    names = edited_files(path)
    if not names:
        return None
    kept = Path(tempfile.mkdtemp(prefix=f"{path.name}{EDITED_SUFFIX}{time.strftime('%Y%m%d-%H%M%S')}-", dir=path.parent))
    os.chmod(kept, 0o777 & ~current_umask())
    for name in names:
        try:
            os.link(path / name, kept / name)
        except OSError:
            shutil.copy2(path / name, kept / name)
    warnings.warn(
        RunEditsKeptWarning(
            f"{', '.join(names)} in {path} had been changed since sape-geo wrote {'them' if len(names) > 1 else 'it'}; "
            f"the changed version is kept in {kept}"
        ),
        stacklevel=2,
    )
    return kept


def _read_owned_marker(folder: Path) -> dict[str, list[str]]:
    """``{name: [accepted SHA-256, ...]}`` of the files this tool wrote into ``folder`` (empty when none)."""
    try:
        marker = read_json(folder / OWNED_MARKER_FILE)
    except (OSError, ValueError):
        return {}
    if not isinstance(marker, dict) or marker.get("tool") != OWNED_MARKER_TOOL or not isinstance(marker.get("files"), dict):
        return {}
    return {name: [d for d in digests if isinstance(d, str)] for name, digests in marker["files"].items() if isinstance(digests, list)}


def check_owned_files(folder: str | os.PathLike, names: Sequence[str]) -> None:
    """Raise unless every file ``names`` in ``folder`` is absent or was written there by this tool
    (:func:`write_owned_files`) and is unchanged since.

    Raises
    ------
    RunDirectoryExistsError : names the first file that sape-geo did not write or that was edited.
    """
    folder = Path(folder)
    marker = folder / OWNED_MARKER_FILE
    if marker.is_symlink() or (marker.exists() and not marker.is_file()):
        raise RunDirectoryExistsError(f"{marker} is not sape-geo's record of its files (a link or a folder); move it away or choose another --out")
    written = _read_owned_marker(folder)
    for name in names:
        file = folder / name
        if file.is_symlink() or (file.exists() and not file.is_file()):
            raise RunDirectoryExistsError(f"{file} is not a file sape-geo wrote (a link or a folder); move it away or choose another --out")
        if file.is_file() and file_sha256(file) not in written.get(name, []):
            how = "was changed since sape-geo wrote it" if name in written else "was not written by sape-geo"
            raise RunDirectoryExistsError(f"{file} {how}; refusing to replace it: move it away or choose another --out")


def write_owned_files(folder: str | os.PathLike, contents: Mapping[str, str]) -> list[Path]:
    """Write text files into ``folder`` (one that is not a run directory: a batch's summary), each
    atomically, replacing only files this tool wrote there and nobody changed since.

    ``folder/.sape-geo-files`` records the checksum of each file written. It is updated before the
    files (accepting the old and the new content) and after (the new only), so a crash in between
    leaves every file replaceable by the next call.

    Returns
    -------
    The paths written, in the order of ``contents``.

    Raises
    ------
    RunDirectoryExistsError : a file of that name is not sape-geo's, or was edited (nothing is written).
    """
    folder = Path(folder)
    check_owned_files(folder, list(contents))
    written = _read_owned_marker(folder)
    payloads = {name: text.encode("utf-8") for name, text in contents.items()}
    digests = {name: hashlib.sha256(payload).hexdigest() for name, payload in payloads.items()}

    def write_marker(files: dict[str, list[str]]) -> None:
        write_json_atomic(folder / OWNED_MARKER_FILE, {"tool": OWNED_MARKER_TOOL, "files": files})

    write_marker({**written, **{name: sorted({*written.get(name, []), digest}) for name, digest in digests.items()}})
    for name, payload in payloads.items():
        write_bytes_atomic(folder / name, payload)
    write_marker({**written, **{name: [digest] for name, digest in digests.items()}})
    return [folder / name for name in contents]
