"""Values computed from files, remembered while the files stay the same: what lets a second
model scan skip every file it read the first time (:mod:`workbench.catalog`).

A value is stored under a key with a *signature* of the files it came from: (size, mtime_ns) of
one file, or every file under a folder as (relative path, size, mtime_ns). Getting it again
stats the files (reads none) and recomputes only when the signature differs.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable

REMEMBERED_MAX = 2048  # entries a process keeps (oldest dropped first)


class Remembered:
    """Values computed from files, kept while the files' (path, size, mtime) stay the same."""

    def __init__(self, limit: int = REMEMBERED_MAX) -> None:
        self.limit, self.values = limit, {}
        self.lock = threading.Lock()  # the lab server scans from worker threads

    def get(self, key, signature, compute: Callable[[], Any]):
        with self.lock:
            hit = self.values.get(key)
        if hit is not None and hit[0] == signature:
            return hit[1]
        value = compute()
        with self.lock:
            self.values.pop(key, None)
            self.values[key] = (signature, value)
            while len(self.values) > self.limit:
                self.values.pop(next(iter(self.values)))
        return value

    def clear(self) -> None:
        with self.lock:
            self.values.clear()


REMEMBERED = Remembered()


def file_signature(path: str | os.PathLike) -> tuple[int, int] | None:
    """(size, mtime_ns) of a file, links followed; None when it is missing."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def folder_signature(folder: str | os.PathLike) -> tuple:
    """Every file under ``folder`` (links followed) as (relative path, size, mtime_ns): any file
    added, removed, rewritten or relinked changes it. Reads no file, only stats them."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            found.append((os.path.relpath(path, folder), file_signature(path)))
    return tuple(found)


def forget_scans() -> None:
    """Drop what earlier scans remembered (the next scan reads every file again)."""
    REMEMBERED.clear()
