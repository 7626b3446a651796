"""Text inputs as any editor writes them: a UTF-8 byte-order mark (BOM) reads as nothing.

Windows tools often start UTF-8 files with the three bytes ``EF BB BF``. Decoded as plain UTF-8 they
become a character ``U+FEFF`` glued onto the first token (an OBJ's first ``v`` is then not a vertex,
and every face points one vertex later). Notepad's "Unicode" files are UTF-16 with their own BOM; the
readers written here read them too. Every text reader of sape-geo goes through this module:
:func:`read_text` / :func:`open_text` for the readers written here, and :func:`without_byte_order_mark`
for libraries that only take a path (open3d's PLY and XYZ readers, trimesh).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")  # Notepad's "Unicode": UTF-16, little or big endian
# Python's codec that drops a leading BOM and reads any other UTF-8 unchanged.
TEXT_ENCODING = "utf-8-sig"


def text_encoding(path: str | os.PathLike) -> str:
    """``"utf-16"`` for a file that starts with a UTF-16 BOM (Python's codec reads the BOM and drops
    it), else :data:`TEXT_ENCODING`."""
    with open(path, "rb") as handle:
        return "utf-16" if handle.read(2) in UTF16_BOMS else TEXT_ENCODING


def read_text(path: str | os.PathLike, errors: str = "replace") -> str:
    """The whole file as text, a leading BOM removed (``errors``: as :func:`open`)."""
    return Path(path).read_text(encoding=text_encoding(path), errors=errors)


def open_text(path: str | os.PathLike, errors: str = "replace") -> IO[str]:
    """The file opened for reading text line by line, a leading BOM removed."""
    return open(path, encoding=text_encoding(path), errors=errors)


def starts_with_byte_order_mark(path: str | os.PathLike) -> bool:
    """Whether the file's first three bytes are a UTF-8 BOM."""
    with open(path, "rb") as handle:
        return handle.read(len(UTF8_BOM)) == UTF8_BOM


@contextmanager
def without_byte_order_mark(path: str | os.PathLike) -> Iterator[Path]:
    """``path`` itself, or, when the file starts with a BOM, a temporary copy without it (same suffix, so
    a reader choosing its format by suffix still does); the copy is removed on exit.

    Example
    -------
    >>> with without_byte_order_mark("scan.xyz") as readable:  # doctest: +SKIP
    ...     cloud = open3d.io.read_point_cloud(str(readable))
    """
    path = Path(path)
    if not starts_with_byte_order_mark(path):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="sape-geo-nobom-") as folder:
        copy = Path(folder) / f"input{path.suffix}"
        with open(path, "rb") as source, open(copy, "wb") as target:
            source.seek(len(UTF8_BOM))
            shutil.copyfileobj(source, target, 1 << 20)
        yield copy
