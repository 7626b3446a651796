"""Files written whole: a crash leaves the previous file or nothing, never half a file.

Every file goes to a temporary name in its final folder and is renamed into place
(``os.replace``, atomic on one file system); :func:`swap_folders` replaces a whole folder the same way.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

_ATOMIC_TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]+\.tmp(\.[A-Za-z0-9]+)?$")


def is_atomic_temporary(name: str) -> bool:
    """A leftover of :func:`atomic_path` (``.NAME.RANDOM.tmpSUFFIX``, e.g. ``.result.obj.k2j4_x1a.tmp.obj``)."""
    return _ATOMIC_TEMPORARY.match(name) is not None


def explain_os_error(error: OSError) -> str:
    """Why an ``OSError`` happened, in words (read-only file system, a file in the way, ...)."""
    reasons = {
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.EEXIST: "a part of the path is a file, not a folder",
        errno.ENOSPC: "no space left on the device",
        errno.EDQUOT: "disk quota exceeded",
        errno.ENAMETOOLONG: "the name is too long",
    }
    return reasons.get(error.errno, error.strerror or str(error))


def current_umask() -> int:
    """The process's file-creation mask (``os.umask`` can only be read by setting it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(final_path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``final_path``; on success rename it into place, else delete it.

    For libraries that write to a path themselves (trimesh, PIL, torch.save). The temporary name keeps
    the final suffix so format detection by extension still works.

    Example
    -------
    >>> with atomic_path(run / "result.obj") as tmp:  # doctest: +SKIP
    ...     mesh.export(tmp)
    """
    final_path = Path(final_path)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        prefix=f".{final_path.name}.", suffix=f".tmp{final_path.suffix}", dir=final_path.parent
    )
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        # mkstemp creates 0600; results are meant to be shared like any file the user writes.
        os.chmod(temporary, 0o666 & ~current_umask())
        os.replace(temporary, final_path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):  # a tensor, without importing torch
        return value.detach().cpu().tolist()
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # settings nested in settings
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=_json_default, allow_nan=True) + "\n")


def exchange_folders(first: Path, second: Path) -> bool:
    """Swap two folders in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange) == 0:
        return True
    if ctypes.get_errno() in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), str(second))


def swap_folders(new: Path, final: Path, aside_prefix: str) -> None:
    """Put folder ``new`` in the place of folder ``final``; the old ``final`` ends up at ``new``.

    One atomic exchange where the OS has one (:func:`exchange_folders`). Elsewhere the old folder is
    renamed aside first, into a fresh folder named ``aside_prefix...`` beside ``final``, then ``new``
    is renamed into place; if that fails the old folder is put back, so ``final`` is never lost, only
    missing for the moment between the two renames.
    """
    if exchange_folders(new, final):
        return
    aside = Path(tempfile.mkdtemp(prefix=aside_prefix, dir=final.parent))
    os.rename(final, aside / "old")
    try:
        os.rename(new, final)
    except BaseException:
        os.rename(aside / "old", final)
        aside.rmdir()
        raise
    os.rename(aside / "old", new)
    aside.rmdir()
