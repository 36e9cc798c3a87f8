"""Folder saves that cannot half-happen: a save replaces its folder as a whole, or not at all.

Every ``save_pretrained`` (model, config, generation config, tokenizer, processor, pipeline,
``Trainer.save_model``) writes through :func:`staged_save`::

    with staged_save(folder, owns=["adapter_config.json", "adapter_model.*"]) as stage:
        write_the_files_into(stage)          # ``stage`` is a str: a hidden folder beside ``folder``
    # leaving the block without an exception publishes the save; an exception discards it

How it works::

    parent/
      NAME/                      the live folder: readers see the old save...
      .NAME.wb-save-1a2b3c4d/    ...while the new one is written here (same filesystem)

1. The new files go into the hidden staging folder.
2. At the end, entries of the old folder that the save does not own are hard-linked into the
   staging folder (subfolders recursively; copied where links are impossible): the Trainer's
   ``checkpoint-*`` folders, ``runs/``, a README.md, the model files beside a tokenizer save...
   A save owns the files it writes plus the stale files of its kind, matched by the ``owns`` glob
   patterns on the folder's top-level names (old shards for weights, say), which are dropped.
3. The staging folder and the live one are swapped in one step: ``renameat2(RENAME_EXCHANGE)`` on
   Linux. Elsewhere (or on a filesystem without it) two renames do it, and a crash between them
   leaves no ``NAME`` but ``.NAME.wb-old-*``, which the next save renames back. A folder that does
   not exist yet is created by one rename.
4. The old folder, now at the staging path, is deleted.

A crash at any point leaves the live folder wholly old or wholly new, and never loses a file that is
not the save's own. What a crash leaves behind (staging folders, the old folder, ``.*.tmp`` files of
per-file writes) holds only links and new files, and is deleted by the next save into that folder;
a save still running in another process is recognised by its lock (``flock``) and left alone.

Nested saves (a model save calls ``config.save_pretrained`` and the generation config's on the
folder it was handed) write into the one staging folder: while a staged save of a folder runs in
this context, ``staged_save`` of that folder or of its staging folder yields the same staging
folder and adds its ``owns`` patterns to the outer save's. ``with direct_save(folder):`` makes saves
into a folder that is still private (a Trainer checkpoint before its rename) write into it directly.

When the folder cannot be replaced as a whole (it is a mount point, or its parent is not writable),
the save is staged inside the folder and its entries are moved in one by one: each file still
appears whole, but a crash between moves can leave a mix (a warning says so).

Side effects of replacing the folder: a process (a shell) whose working directory is the folder
keeps the deleted old one (this process is moved to the new one); a folder that was a symbolic link
is resolved and the folder it points to is replaced; the new folder belongs to the saving user.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import errno
import fnmatch
import logging
import os
import re
import secrets
import shutil
import stat
import sys
from dataclasses import dataclass, field
from typing import Iterable, Iterator

logger = logging.getLogger("workbench")

STAGE_MARK = ".wb-save-"  # .NAME.wb-save-XXXXXXXX beside the folder (in-place saves: .wb-save-XXXXXXXX inside it)
OLD_MARK = ".wb-old-"  # the old folder between the two renames of the fallback swap
# per-file temporaries of workbench.io.atomic_path (mkstemp) and tokenization.saving._write
_TEMPORARY_FILE = re.compile(r"\..+\.[A-Za-z0-9_]{8}\.tmp")


@dataclass
class _Save:
    folder: str  # as the caller named it, for messages
    target: str  # its real path: the folder that is replaced
    stage: str
    in_place: bool
    owns: list[str] = field(default_factory=list)
    lock: int | None = None  # an open descriptor on the staging folder, flock'ed while the save runs


_ACTIVE: contextvars.ContextVar[tuple[_Save, ...]] = contextvars.ContextVar("workbench_staged_saves", default=())


@contextlib.contextmanager
def staged_save(folder: str | os.PathLike, owns: Iterable[str] = ()) -> Iterator[str]:
    """Yield a folder to write a save of ``folder`` into; on success it replaces ``folder`` as a whole.

    ``owns``: glob patterns of top-level names of the old ``folder`` that this kind of save replaces
    (``["model*.safetensors", "model.safetensors.index.json"]``); the files written are owned anyway.
    Everything else in the old folder is kept. Raises ``ValueError`` when ``folder`` is a file and
    ``PermissionError`` when it cannot be written, before anything is written.
    """
    active = _active_save(folder)
    if active is not None:  # a nested save: the outer one publishes
        active.owns.extend(owns)
        yield active.stage
        return
    save = _begin(folder, list(owns))
    token = _ACTIVE.set((*_ACTIVE.get(), save))
    try:
        yield save.stage
    except BaseException:
        _ACTIVE.reset(token)
        _discard(save)
        raise
    _ACTIVE.reset(token)
    try:
        _commit(save)
    finally:
        _discard(save)


@contextlib.contextmanager
def direct_save(folder: str | os.PathLike) -> Iterator[str]:
    """Within the block, saves into ``folder`` write straight into it, with no staging: for a folder
    that is private until its caller publishes it (a Trainer checkpoint, renamed into place when
    complete; a temporary folder to upload)."""
    real = os.path.realpath(os.fspath(folder))
    token = _ACTIVE.set((*_ACTIVE.get(), _Save(os.fspath(folder), real, real, in_place=True)))
    try:
        yield os.fspath(folder)
    finally:
        _ACTIVE.reset(token)


def paths_in(folder: str | os.PathLike, stage: str, paths: Iterable[str]) -> list[str]:
    """The paths of files written into ``stage``, as they are named once published in ``folder``."""
    return [os.path.join(str(folder), os.path.relpath(path, stage)) for path in paths]


def _active_save(folder: str | os.PathLike) -> _Save | None:
    real = os.path.realpath(os.fspath(folder))
    return next((save for save in reversed(_ACTIVE.get()) if real in (save.target, save.stage)), None)


# --- starting: checks, leftovers, the staging folder ---------------------------------------------

def _begin(folder: str | os.PathLike, owns: list[str]) -> _Save:
    shown = os.fspath(folder)
    target = os.path.realpath(shown)  # a symlinked folder: replace the folder it points to
    parent, name = os.path.split(target)
    if os.path.lexists(target) and not os.path.isdir(target):
        raise ValueError(f"save_pretrained needs a folder, but {shown} is a file: pass a folder path, or move "
                         "the file away first.")
    if os.path.isdir(target) and not os.access(target, os.W_OK | os.X_OK):
        raise PermissionError(f"Cannot save into {shown}: this process may not write to that folder. Make it "
                              f"writable (chmod u+w {shown}) or save to another folder.")
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as error:
        raise PermissionError(f"Cannot create the folder {parent} to save {shown} in ({error.strerror}): save to "
                              "a folder you can write to.") from error
    _recover_fallback_swap(parent, name, target)
    _remove_leftovers(parent, name, target)
    in_place = os.path.isdir(target) and (os.path.ismount(target) or not os.access(parent, os.W_OK | os.X_OK))
    if not in_place and not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"Cannot save into {shown}: it does not exist yet and this process may not write to "
                              f"{parent} to create it. Make {parent} writable or save to another folder.")
    if in_place:
        logger.warning(f"{shown} cannot be replaced as a whole (a mount point, or its parent {parent} is not "
                       "writable): its files are replaced one by one, so a crash mid-save can leave a mix.")
    stage = _make_stage(target if in_place else parent, STAGE_MARK if in_place else f".{name}{STAGE_MARK}")
    save = _Save(shown, target, stage, in_place, owns)
    save.lock = _lock(stage)
    if os.path.isdir(target) and not in_place:
        shutil.copymode(target, stage)
    return save


def _make_stage(where: str, prefix: str) -> str:
    while True:
        path = os.path.join(where, prefix + secrets.token_hex(4))
        try:
            os.mkdir(path)  # not mkdtemp: its 0o700 would become the folder's mode; this follows the umask
            return os.path.realpath(path)
        except FileExistsError:
            continue


def _lock(path: str) -> int | None:
    try:
        import fcntl
    except ImportError:  # Windows: no locks; a leftover is any staging folder
        return None
    descriptor = os.open(path, os.O_RDONLY)
    with contextlib.suppress(OSError):  # a filesystem without locks (some NFS): the save runs unlocked
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return descriptor


def _unlocked(path: str) -> bool:
    """True when no running save holds ``path`` (a staging folder); a crashed one's lock died with it."""
    try:
        import fcntl
    except ImportError:
        return True
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return True
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)


def _recover_fallback_swap(parent: str, name: str, target: str) -> None:
    """A crash between the two renames of the fallback swap left ``.NAME.wb-old-*`` and no NAME: put it back."""
    if os.path.lexists(target):
        return
    olds = sorted(entry for entry in os.listdir(parent) if entry.startswith(f".{name}{OLD_MARK}"))
    if olds:
        logger.warning(f"{target} was missing after a crashed save; restoring the previous save from {olds[-1]}.")
        os.rename(os.path.join(parent, olds[-1]), target)


def _remove_leftovers(parent: str, name: str, target: str) -> None:
    """Staging and old folders of crashed saves beside the folder, and temporaries inside it."""
    for entry in os.listdir(parent):
        if entry.startswith((f".{name}{STAGE_MARK}", f".{name}{OLD_MARK}")):
            _remove_if_unlocked(os.path.join(parent, entry))
    if os.path.isdir(target):
        for entry in os.listdir(target):
            if entry.startswith(STAGE_MARK):
                _remove_if_unlocked(os.path.join(target, entry))
            elif _TEMPORARY_FILE.fullmatch(entry) and os.path.isfile(os.path.join(target, entry)):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(target, entry))


def _remove_if_unlocked(path: str) -> None:
    """Best effort: a leftover that cannot be removed now (no permission) is tried again next time."""
    if os.path.isdir(path) and not os.path.islink(path):
        if _unlocked(path):
            shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.unlink(path)


# --- finishing -------------------------------------------------------------------------------------

class _CannotReplace(Exception):
    """The folder cannot be swapped as a whole (a mount point in it or at it): replace its files instead."""


def _commit(save: _Save) -> None:
    written = set(os.listdir(save.stage))
    _fsync_tree(save.stage)  # the data is on disk before the folder that names it is published
    owned = [*save.owns, *written]
    old = set(os.listdir(save.target)) if os.path.isdir(save.target) else set()
    dropped = {entry for entry in old if _owned(entry, owned) or _is_leftover(entry)}
    stale = dropped - written - {os.path.basename(save.stage)}
    if save.in_place:
        _move_entries(save, written, stale)
        return
    cwd = _cwd()
    try:
        for entry in sorted(old - dropped):
            _link_tree(os.path.join(save.target, entry), os.path.join(save.stage, entry), os.lstat(save.target).st_dev)
        if not os.path.isdir(save.target):
            os.rename(save.stage, save.target)
        elif not _exchange(save.stage, save.target):
            _swap_by_renames(save)
    except (_CannotReplace, OSError) as error:
        if isinstance(error, OSError) and error.errno not in (errno.EBUSY, errno.EXDEV):
            raise
        logger.warning(f"{save.folder} cannot be replaced as a whole ({error}): its files are replaced one by one, "
                       "so a crash mid-save can leave a mix.")
        _move_entries(save, written, stale)
        return
    _fsync_dir(os.path.dirname(save.target))
    if cwd is not None and (cwd == save.target or cwd.startswith(save.target + os.sep)):
        with contextlib.suppress(OSError):  # our working directory was the old folder: move to the new one
            os.chdir(cwd)


def _discard(save: _Save) -> None:
    """Delete the staging folder: after a failure the unpublished save, after success the old folder."""
    if os.path.isdir(save.stage):
        shutil.rmtree(save.stage, ignore_errors=True)
    if save.lock is not None:
        os.close(save.lock)
        save.lock = None


def _owned(entry: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(entry, pattern) for pattern in patterns)


def _is_leftover(entry: str) -> bool:
    return entry.startswith(STAGE_MARK) or bool(_TEMPORARY_FILE.fullmatch(entry))


def _link_tree(source: str, destination: str, device: int) -> None:
    """Hard-link ``source`` (a file, or a folder recursively) to ``destination``; copy where links fail."""
    info = os.lstat(source)
    if stat.S_ISLNK(info.st_mode):
        os.symlink(os.readlink(source), destination)
    elif stat.S_ISDIR(info.st_mode):
        if info.st_dev != device:  # another filesystem mounted here: it cannot move with the folder
            raise _CannotReplace(f"{source} is a mount point")
        os.mkdir(destination)
        for entry in os.listdir(source):
            _link_tree(os.path.join(source, entry), os.path.join(destination, entry), device)
        shutil.copystat(source, destination)
    elif stat.S_ISREG(info.st_mode):
        try:
            os.link(source, destination)
        except OSError:  # a filesystem without hard links, or protected_hardlinks on another user's file
            shutil.copy2(source, destination)
    else:
        logger.warning(f"Not keeping {source} in the new save: it is not a file, folder or link.")


def _exchange(first: str, second: str) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):  # a C library older than glibc 2.28
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # the filesystem cannot exchange
        return False
    raise OSError(code, f"Could not swap the new save {first} into place: {os.strerror(code)}", second)


def _swap_by_renames(save: _Save) -> None:
    """Two renames: a crash between them leaves ``.NAME.wb-old-*`` and no NAME (restored by the next save)."""
    parent, name = os.path.split(save.target)
    old = os.path.join(parent, f".{name}{OLD_MARK}{secrets.token_hex(4)}")
    os.rename(save.target, old)
    try:
        os.rename(save.stage, save.target)
    except BaseException:
        os.rename(old, save.target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _move_entries(save: _Save, written: set[str], stale: set[str]) -> None:
    """The commit in place: each new entry replaces its old one by rename (by copy and rename across
    filesystems), then the stale ones go."""
    for entry in sorted(written):
        source, destination = os.path.join(save.stage, entry), os.path.join(save.target, entry)
        if os.path.isdir(destination) and not os.path.islink(destination):
            shutil.rmtree(destination)
        try:
            os.replace(source, destination)
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise
            temporary = os.path.join(save.target, f".{entry}.{secrets.token_hex(4)}.tmp")  # a leftover pattern
            shutil.copytree(source, temporary) if os.path.isdir(source) else shutil.copy2(source, temporary)
            os.replace(temporary, destination)
    for entry in stale:
        path = os.path.join(save.target, entry)
        shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
    _fsync_dir(save.target)


def _fsync_tree(folder: str) -> None:
    for root, _, files in os.walk(folder):
        for name in files:
            descriptor = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        _fsync_dir(root)


def _fsync_dir(folder: str) -> None:
    if os.name != "posix":  # Windows cannot open folders
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:
        return None
