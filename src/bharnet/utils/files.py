"""Files that are either wholly written or not there: the one atomic writer every module uses.

A reader (or a resumed job) must never find half a checkpoint, store manifest, score file or hand file: each is
written to a temporary file in the same folder, flushed to disk, and renamed onto its name, which on POSIX and
Windows replaces the old file in one step. A failure (or Ctrl-C) removes the temporary file and leaves any
previous file untouched.
"""
from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "write_bytes_atomic", "write_text_atomic"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; when the block ends without an error the file is synced
    (``fsync``) and renamed onto ``path``. The parent folder is created. Code that validates what it wrote can
    raise inside the block: the file then never takes the name.

        with atomic_path(out) as tmp:
            np.savez(tmp, ...)       # or open(tmp, "wb"), torch.save(obj, tmp), ...
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # pid + random: two processes (or two threads of one) writing the same name never share a temporary file
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"{path}: nothing was written to its temporary file {tmp.name}")
        if fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike, data: bytes | bytearray | memoryview, *, fsync: bool = True) -> Path:
    """``data`` to ``path`` atomically (:func:`atomic_path`)."""
    with atomic_path(path, fsync=fsync) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str, *, fsync: bool = True) -> Path:
    """``text`` (UTF-8) to ``path`` atomically (:func:`atomic_path`)."""
    with atomic_path(path, fsync=fsync) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
