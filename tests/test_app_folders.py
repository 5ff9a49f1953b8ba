"""Session export folders: no more are kept than Gradio keeps sessions, the least recently
used go first, and a session whose folder went gets a fresh one when it needs it. The app's
Gradio cache is its own unless the environment names one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from app.folders import (
    FOLDER_KINDS,
    GRADIO_CACHE_VARIABLE,
    SessionFolders,
    private_folder,
    remove_orphaned_folders,
    remove_partial_uploads,
    use_private_gradio_cache,
)
from app.models import ModelStore
from app.session import AppContext, Session
from app.settings import AppSettings
from app.viewer import TorchViewer
from engine.limits import DEFAULT_LIMITS


class Owner:
    """Anything with an identity owns a folder."""


def test_the_least_recently_used_folder_goes_beyond_the_capacity() -> None:
    folders = SessionFolders()
    first, second, third = Owner(), Owner(), Owner()
    a = folders.create(first, capacity=2)
    b = folders.create(second, capacity=2)
    folders.touch(first)
    c = folders.create(third, capacity=2)
    assert a.is_dir() and c.is_dir() and not b.exists()
    assert len(folders) == 2
    folders.remove_all()
    assert not a.exists() and not c.exists() and len(folders) == 0


def test_a_new_folder_for_the_same_owner_replaces_the_old_one_and_remove_deletes() -> None:
    folders, owner = SessionFolders(), Owner()
    old = folders.create(owner, capacity=4)
    new = folders.create(owner, capacity=4)
    assert not old.exists() and new.is_dir() and len(folders) == 1
    folders.remove(owner)
    assert not new.exists() and len(folders) == 0
    folders.remove(owner)  # nothing left: no error


def test_sessions_over_the_cap_lose_their_files_and_get_fresh_folders() -> None:
    settings = AppSettings(limits=replace(DEFAULT_LIMITS, sessions=1))
    context = AppContext(settings, ModelStore(torch.device("cpu")), TorchViewer())
    first, second = Session(context), Session(context)
    (first.work_dir / "mesh.glb").write_bytes(b"glb")
    kept = second.work_dir
    assert not (first._work_dir / "mesh.glb").exists() and kept.is_dir()
    assert first.work_dir.is_dir() and not kept.exists()  # first is back, second went
    first.close()
    assert len(context.folders) == 0


def test_each_app_process_caches_in_its_own_folder_unless_one_is_named(
    monkeypatch, tmp_path: Path
) -> None:
    """A full test run failed once on a truncated download: two app servers drew the same
    picture into the shared /tmp/gradio, where Gradio rewrites each hash-named file in place."""
    monkeypatch.delenv(GRADIO_CACHE_VARIABLE, raising=False)
    first = use_private_gradio_cache()
    assert first.is_dir() and first.name.startswith(f"ganlift-gradio-{os.getpid()}-")
    assert os.environ[GRADIO_CACHE_VARIABLE] == str(first)
    assert use_private_gradio_cache() == first  # named now: kept, no second folder
    monkeypatch.setenv(GRADIO_CACHE_VARIABLE, str(tmp_path))
    assert use_private_gradio_cache() == tmp_path
    monkeypatch.setenv(GRADIO_CACHE_VARIABLE, str(tmp_path / "made-by-gradio"))  # not there yet
    assert use_private_gradio_cache() == tmp_path / "made-by-gradio"
    first.rmdir()


def test_folders_of_killed_app_processes_go_at_the_next_start(tmp_path: Path) -> None:
    """A process killed outright (the OOM killer, kill -9) runs no exit hook: its uploads and
    meshes stayed in /tmp for good, and restarts never removed them."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    orphans = [tmp_path / f"ganlift-{kind}-{gone.pid}-x1" for kind in FOLDER_KINDS]
    kept = [
        tmp_path / f"ganlift-session-{os.getpid()}-x2",  # a running process's
        tmp_path / f"ganlift-gradio-{gone.pid}",  # not named as the app names its folders
        tmp_path / f"other-session-{gone.pid}-x3",
        tmp_path / f"ganlift-session-{10**20}-x4",  # no process id at all (crashed the start)
    ]
    for folder in orphans + kept:
        (folder / "sub").mkdir(parents=True)
    assert sorted(remove_orphaned_folders(tmp_path)) == sorted(orphans)
    assert all(folder.is_dir() for folder in kept) and not any(f.exists() for f in orphans)
    plain = tmp_path / f"ganlift-gradio-{gone.pid}-file"  # a file of the name: not a folder
    plain.write_text("")
    assert remove_orphaned_folders(tmp_path) == [] and plain.exists()
    for made in (private_folder("session"), SessionFolders().create(object(), 1)):
        assert made.name.startswith(f"ganlift-session-{os.getpid()}-")
        made.rmdir()


def test_another_user_s_folders_are_left_alone(tmp_path: Path, monkeypatch) -> None:
    """On a shared server the sweep removes only this user's folders of dead processes."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / f"ganlift-session-{gone.pid}-x").mkdir()
    monkeypatch.setattr(os, "getuid", lambda: os.stat(tmp_path).st_uid + 1)
    assert remove_orphaned_folders(tmp_path) == []


def test_files_of_uploads_cut_off_long_ago_are_removed(monkeypatch, tmp_path: Path) -> None:
    """An upload whose client stopped sending, or never closed its body, left its part in the
    cache for the life of the process (60 MB each)."""
    monkeypatch.setenv(GRADIO_CACHE_VARIABLE, str(tmp_path))
    stale, fresh = tmp_path / "tmpa1b2c3", tmp_path / "tmpd4e5f6"
    slow = tmp_path / "tmpslow01"  # a slow connection's part, a minute without a new byte
    stored = tmp_path / "0123abcd" / "tmp_holiday.png"  # a finished upload, in its folder
    stored.parent.mkdir()
    for path in (stale, fresh, slow, stored):
        path.write_bytes(b"part")
    link = tmp_path / "tmplink"  # not a file Gradio writes
    link.symlink_to(stored)
    hour_ago, minute_ago = time.time() - 3600, time.time() - 60
    os.utime(stale, (hour_ago, hour_ago))
    os.utime(stored, (hour_ago, hour_ago))
    os.utime(slow, (minute_ago, minute_ago))
    assert remove_partial_uploads() == [stale]
    assert fresh.exists() and slow.exists() and stored.exists() and link.is_symlink()
    monkeypatch.delenv(GRADIO_CACHE_VARIABLE)
    assert remove_partial_uploads(older_than=0) == []  # Gradio's shared folder is not ours
