"""The app's private folders: each session's exports, kept for at most `--max-sessions`
sessions, and the process's own Gradio cache (`use_private_gradio_cache`).

Gradio drops the least recently used session state beyond its capacity without calling the
state's delete callback, so folders of dropped sessions would stay in /tmp until the process
exits. This registry keeps its own LRU: a folder is touched on each action of its session, and
creating one beyond the capacity deletes the least recently used. Whatever is left goes when
the process exits. A process killed outright (the OOM killer, `kill -9`) runs no exit hooks:
the folders' names carry their process's id, and the next start removes those whose process is
gone (`remove_orphaned_folders`).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

from engine.errors import GANliftError

GRADIO_CACHE_VARIABLE = "GRADIO_TEMP_DIR"
"""The environment variable Gradio reads, on every use, for the folder it caches files in."""
FOLDER_KINDS = ("gradio", "session")
"""The app's temporary folders are named `ganlift-<kind>-<process id>-<random>`."""
_FOLDER_NAME = re.compile(rf"ganlift-(?:{'|'.join(FOLDER_KINDS)})-(\d+)-")


def private_folder(kind: str) -> Path:
    """A new temporary folder of this process, named after `kind` and the process's id."""
    return Path(tempfile.mkdtemp(prefix=f"ganlift-{kind}-{os.getpid()}-"))


def remove_orphaned_folders(parent: Path | None = None) -> list[Path]:
    """Delete the app's temporary folders in `parent` (the system's temporary folder) that
    belong to this user and to a process that is gone; returns them. Only on POSIX systems,
    where a signal 0 asks whether a process is alive (on Windows `os.kill` ends it)."""
    if os.name != "posix":
        return []
    removed = []
    for folder in Path(parent or tempfile.gettempdir()).glob("ganlift-*-*-*"):
        match = _FOLDER_NAME.match(folder.name)
        try:
            if match is None or folder.lstat().st_uid != os.getuid() or not folder.is_dir():
                continue
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:  # its process is gone
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        except (OSError, OverflowError):  # alive but another user's, or the folder just went
            continue
    return removed


PARTIAL_UPLOAD_SECONDS = 600.0
"""How long a file an upload is writing may go unchanged before it counts as left behind."""


def remove_partial_uploads(older_than: float = PARTIAL_UPLOAD_SECONDS) -> list[Path]:
    """Delete the files uploads left in the Gradio cache (GRADIO_TEMP_DIR) unchanged for
    `older_than` seconds; returns them. Gradio writes an upload to a top-level `tmp*` file and
    moves it into a hash-named folder when it is whole, but leaves it where a client stops
    sending or never closes the body (60 MB each, kept until the process ended)."""
    named = os.environ.get(GRADIO_CACHE_VARIABLE)
    if not named:
        return []
    deadline, removed = time.time() - older_than, []
    for path in Path(named).glob("tmp*"):
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_mtime < deadline:
                path.unlink()
                removed.append(path)
        except OSError:  # gone meanwhile, or moved into place by its upload
            continue
    return removed


def use_private_gradio_cache() -> Path:
    """Give this process a Gradio cache of its own, deleted at exit, unless the environment
    names one. Gradio writes each picture it serves to a path named by the picture's hash,
    rewriting the file in place every time, so two app processes sharing the default
    /tmp/gradio that draw the same picture truncate each other's file mid-download."""
    named = os.environ.get(GRADIO_CACHE_VARIABLE)
    if named:
        if Path(named).exists() and not Path(named).is_dir():
            raise GANliftError(
                f"{GRADIO_CACHE_VARIABLE} names {named}, which is not a folder; point it to a "
                "folder or unset it."
            )
        return Path(named)
    folder = private_folder("gradio")
    os.environ[GRADIO_CACHE_VARIABLE] = str(folder)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


class SessionFolders:
    """Temporary folders by owner (a session object), least recently used first."""

    def __init__(self) -> None:
        self._folders: OrderedDict[int, Path] = OrderedDict()
        self._lock = threading.Lock()
        atexit.register(self.remove_all)

    def create(self, owner: object, capacity: int) -> Path:
        """A new empty folder for ``owner`` (replacing any it had); the least recently used
        folders beyond ``capacity`` are deleted."""
        folder = private_folder("session")
        with self._lock:
            stale = [self._folders.pop(id(owner), None)]
            self._folders[id(owner)] = folder
            while len(self._folders) > max(capacity, 1):
                stale.append(self._folders.popitem(last=False)[1])
        for path in stale:
            if path is not None:
                shutil.rmtree(path, ignore_errors=True)
        return folder

    def touch(self, owner: object) -> None:
        """Mark ``owner``'s folder as just used."""
        with self._lock:
            if id(owner) in self._folders:
                self._folders.move_to_end(id(owner))

    def remove(self, owner: object) -> None:
        """Delete ``owner``'s folder, if it has one."""
        with self._lock:
            folder = self._folders.pop(id(owner), None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def remove_all(self) -> None:
        """Delete every folder (at exit)."""
        with self._lock:
            folders, self._folders = list(self._folders.values()), OrderedDict()
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)

    def __len__(self) -> int:
        return len(self._folders)
