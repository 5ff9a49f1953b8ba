"""Atomic writes: files get the mode a plain write would (mkstemp's temporaries are 0600),
output paths that cannot be written are one sentence, checked before any work, and a write
the disk is too full for is the system's full-disk error naming the file, the old one kept."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import time
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import torch

import engine.atomic
from engine.atomic import (
    LEFTOVER_SECONDS,
    atomic_path,
    output_file,
    output_folder,
    save_torch,
    write_json,
)
from engine.errors import GANliftError, refused_path
from engine.image_files import image_files
from engine.images import save_image
from engine.mesh import TexturedMesh, save_mesh
from engine.styleganr import ViewCodes, save_view_codes


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_gets_the_umask_default_like_open(tmp_path: Path) -> None:
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"")
    saved = save_image(torch.zeros(3, 4, 4), tmp_path / "image.png")
    assert mode_of(saved) == mode_of(plain)
    assert mode_of(save_torch({"x": torch.ones(1)}, tmp_path / "x.pt")) == mode_of(plain)


def test_overwriting_keeps_the_files_own_mode(tmp_path: Path) -> None:
    path = tmp_path / "latent.pt"
    save_torch({"x": torch.ones(1)}, path)
    os.chmod(path, 0o640)
    save_torch({"x": torch.zeros(1)}, path)
    assert mode_of(path) == 0o640
    assert torch.load(path, weights_only=True)["x"].item() == 0


def test_a_killed_writes_leftover_is_swept_by_a_later_write_once_it_is_old(tmp_path: Path) -> None:
    """SIGKILL skips the cleanup of a write's temporary file: it stayed for good, hidden."""
    path = tmp_path / "model.pt"
    old, recent = tmp_path / ".model.pt.k1ll3d00.pt", tmp_path / ".model.pt.wr1t1ng0.pt"
    others = [tmp_path / ".other.pt.k1ll3d00.pt", tmp_path / ".model.pt.notes"]
    for file in (old, recent, *others):
        file.write_bytes(b"partial")
    long_ago = time.time() - LEFTOVER_SECONDS - 60
    for file in (old, *others):
        os.utime(file, (long_ago, long_ago))
    save_torch({"x": torch.ones(1)}, path)
    assert not old.exists()
    assert recent.exists() and all(file.exists() for file in others)  # a live write; not ours
    assert sorted(entry.name for entry in tmp_path.iterdir()) == sorted(
        [path.name, recent.name, *(file.name for file in others)]
    )


def test_writing_onto_a_folder_is_one_sentence_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "grid.png").mkdir()
    with pytest.raises(GANliftError, match=r"Cannot write '.*grid.png' \(Is a directory\)"):
        save_image(torch.zeros(3, 4, 4), tmp_path / "grid.png")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["grid.png"]


def test_a_file_where_a_folder_should_be_is_named(tmp_path: Path) -> None:
    """`sample --out afile/g.png` said only "(File exists)", naming no file."""
    (tmp_path / "afile").write_text("")
    for target in (tmp_path / "afile" / "g.png", tmp_path / "afile" / "deeper" / "g.png"):
        with pytest.raises(GANliftError) as refused:
            save_image(torch.zeros(3, 4, 4), target)
        assert str(refused.value) == (
            f"Cannot write '{target}': {tmp_path / 'afile'} is a file, not a folder; choose "
            "another path."
        )


def test_output_paths_are_checked_before_work(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    with pytest.raises(GANliftError, match=r"Output folder .*taken is a file; choose a folder"):
        output_folder(tmp_path / "taken")
    with pytest.raises(GANliftError, match=r"Output file .* is a folder; choose a file name"):
        output_file(tmp_path)
    assert output_file(tmp_path / "new" / "w.json").parent.is_dir()


def test_names_the_system_refuses_are_one_sentence(tmp_path: Path) -> None:
    """A name part over 255 bytes raised an OSError traceback."""
    long = tmp_path / ("a" * 300)
    with pytest.raises(GANliftError, match=r"Cannot use .* as the output folder \(File name too"):
        output_folder(long)
    with pytest.raises(GANliftError, match=r"Cannot use .* as the output file \(File name too"):
        output_file(long.with_suffix(".json"))
    with pytest.raises(GANliftError, match=r"as the output folder \(File name too long\)"):
        output_folder(long / "deeper")
    (tmp_path / "file").write_text("")
    with pytest.raises(GANliftError, match=r"Cannot create the output folder .*Not a directory"):
        output_folder(tmp_path / "file" / "x")
    with pytest.raises(GANliftError, match=r"Output folder .*file is a file; choose a folder"):
        output_file(tmp_path / "file" / "x.json")


def test_a_folder_without_write_permission_is_refused(tmp_path: Path, monkeypatch) -> None:
    """As root every folder's permissions allow writing, so the refusal is stubbed."""

    def refuse(**kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("engine.atomic.tempfile.TemporaryFile", refuse)
    expected = r"Cannot write in the output folder .* \(Permission denied\); choose a"
    with pytest.raises(GANliftError, match=expected):
        output_folder(tmp_path / "locked")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_folder_that_holds_no_files_is_refused_before_work() -> None:
    """/proc passed the permission check (as root) and the image failed after the work."""
    with pytest.raises(GANliftError, match=r"Cannot write in the output folder /proc \("):
        output_file("/proc/grid.png")


def test_a_file_system_that_refuses_modes_still_gets_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FAT and exFAT refuse chmod; the write must not fail for it."""

    def refuse(*args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr("engine.atomic.os.chmod", refuse)
    assert save_image(torch.zeros(3, 4, 4), tmp_path / "image.png").is_file()


DiskUsage = namedtuple("DiskUsage", "total used free")


def _write_failing(path: Path, error: Exception) -> None:
    """An atomic write of `path` whose writer fails with `error` after writing a little."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(b"partial")
        raise error


def test_a_write_failing_on_a_full_disk_names_the_file_and_keeps_the_old_one(
    tmp_path: Path, monkeypatch
) -> None:
    """torch.save's "unexpected pos" RuntimeError on a full disk reads as the system's error."""
    path = save_torch({"x": torch.ones(1)}, tmp_path / "state.pt")
    monkeypatch.setattr(engine.atomic.shutil, "disk_usage", lambda _: DiskUsage(10, 10, 0))
    with pytest.raises(OSError) as raised:
        _write_failing(path, RuntimeError("[enforce fail] unexpected pos 704 vs 598"))
    assert raised.value.errno == errno.ENOSPC
    assert refused_path(raised.value) == (
        f"No space left on device ({path}); free some disk space or choose another disk."
    )
    assert torch.load(path, weights_only=True)["x"].item() == 1
    assert sorted(tmp_path.iterdir()) == [path]


def test_a_writers_own_wording_of_a_full_disk_or_quota_is_the_systems_error(
    tmp_path: Path,
) -> None:
    """safetensors words the system's error in its own exception."""
    for code in (errno.ENOSPC, errno.EDQUOT):
        wrapped = RuntimeError(f"I/O error: {os.strerror(code)} (os error {code})")
        with pytest.raises(OSError) as raised:
            _write_failing(tmp_path / "model.safetensors", wrapped)
        assert (raised.value.errno, raised.value.filename) == (
            code,
            str(tmp_path / "model.safetensors"),
        )
    assert list(tmp_path.iterdir()) == []


def test_other_write_errors_pass_through_unchanged(tmp_path: Path, monkeypatch) -> None:
    """A writer's own error stays what it is, on a nearly full disk too (a bug, not the disk)."""
    assert shutil.disk_usage(tmp_path).free >= engine.atomic.FULL_DISK_BYTES
    error = ValueError("unknown file extension: .out")
    with pytest.raises(ValueError) as raised:
        _write_failing(tmp_path / "a.out", error)
    assert raised.value is error
    monkeypatch.setattr(engine.atomic.shutil, "disk_usage", lambda _: DiskUsage(10, 10, 0))
    unpicklable = TypeError("cannot pickle 'generator' object")
    with pytest.raises(TypeError) as raised:
        _write_failing(tmp_path / "a.pt", unpicklable)
    assert raised.value is unpicklable
    unfinished = NotImplementedError("no writer for this layout")  # a RuntimeError's subclass
    with pytest.raises(NotImplementedError) as raised:
        _write_failing(tmp_path / "a.pt", unfinished)
    assert raised.value is unfinished
    with pytest.raises(GANliftError, match="one sentence"):
        _write_failing(tmp_path / "a.out", GANliftError("one sentence"))


def test_a_name_ending_in_a_separator_is_a_folder_not_a_file(tmp_path: Path) -> None:
    """`invert ... --out newlat/` wrote a file called newlat, `styleganr mesh --out m.glb/` a
    mesh called m.glb."""
    mesh = TexturedMesh(np.eye(3, dtype=np.float32), np.array([[0, 1, 2]]))
    for name, write in [
        ("new/", output_file),
        ("new.png/", lambda path: save_image(torch.zeros(3, 4, 4), path)),
        ("new.glb/", lambda path: save_mesh(mesh, path)),
        ("new.pt/", lambda path: save_torch({}, path)),
        ("new.safetensors/", lambda path: save_view_codes(ViewCodes(torch.zeros(2, 1, 4)), path)),
    ]:
        with pytest.raises(GANliftError, match=r"Output file .*/new\S*/ names a folder \(it ends"):
            write(f"{tmp_path}/{name}")
    assert list(tmp_path.iterdir()) == []


def test_a_torch_file_is_not_written_under_a_safetensors_name(tmp_path: Path) -> None:
    """torch.load reads a .safetensors name as safetensors: such a file never loaded again."""
    with pytest.raises(GANliftError, match=r"w\.safetensors would hold a torch file under a"):
        save_torch({"step": 1}, tmp_path / "w.safetensors")
    assert list(tmp_path.iterdir()) == []
    assert torch.load(save_torch({"step": 1}, tmp_path / "w.bin")) == {"step": 1}


def test_a_write_in_progress_is_hidden_from_image_listings(tmp_path: Path) -> None:
    """A training run or a batch lists the images of a folder that may be being written: the
    temporary file is a dotfile with the image's suffix, so no listing takes it for an image."""
    save_image(torch.zeros(1, 3, 4, 4), tmp_path / "done.png")
    with atomic_path(tmp_path / "new.png") as temporary:
        save_image(torch.zeros(1, 3, 4, 4), temporary)
        assert temporary.parent == tmp_path and temporary.suffix == ".png"
        assert image_files(tmp_path) == [tmp_path / "done.png"]
    assert image_files(tmp_path) == [tmp_path / "done.png", tmp_path / "new.png"]


def test_json_files_end_with_one_newline(tmp_path: Path) -> None:
    path = write_json(tmp_path / "a.json", {"a": 1})
    assert path.read_text() == '{\n  "a": 1\n}\n'
