"""Waiting file locks: one writer of the warehouse (readers share), one publisher of releases.

DuckDB lets one process write a database file, or several processes read it, never both:
readers take the lock shared, the writer exclusively, so that each waits for the other
instead of failing on DuckDB's own lock.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class LockTimeout(TimeoutError):
    """The lock stayed held by someone else; ``holder`` is what they wrote in the file."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path} est tenu par {holder}")
        self.path, self.holder = path, holder


def _acquire(handle, path: Path, mode: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                handle.seek(0)
                raise LockTimeout(path, handle.read().strip() or "inconnu") from None
            time.sleep(0.2)


@contextmanager
def shared_lock(path: Path, timeout_s: float) -> Iterator[None]:
    """Hold ``path`` shared with other readers (flock), waiting at most ``timeout_s`` seconds
    for an exclusive holder to finish."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        _acquire(handle, path, fcntl.LOCK_SH, timeout_s)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def exclusive_lock(path: Path, timeout_s: float) -> Iterator[None]:
    """Hold ``path`` exclusively (flock), waiting at most ``timeout_s`` seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        _acquire(handle, path, fcntl.LOCK_EX, timeout_s)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
