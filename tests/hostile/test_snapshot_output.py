"""Writing a snapshot never deletes what is not one, and an interrupted replacement keeps one whole."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import layerlab as ll
from layerlab.cli import main
from layerlab.frames import snapshot


@pytest.fixture(scope="module")
def inv():
    return ll.sample()


def _cli_scan_args(out):
    # ``scan`` refuses a bad -o before it reads anything, so any root will do for these cases
    return ["scan", str(Path(ll.sample_path()).parent), "-o", str(out), "-q"]


def test_a_folder_that_is_not_a_snapshot_is_refused_and_kept(inv, tmp_path):
    thesis = tmp_path / "work.layerlab"
    thesis.mkdir()
    (thesis / "my-thesis.tex").write_text("\\section{Years of work}")
    with pytest.raises(ll.OutputError, match=r"not a layerlab snapshot.*my-thesis\.tex"):
        inv.save(thesis)
    assert (thesis / "my-thesis.tex").read_text() == "\\section{Years of work}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work.layerlab"]  # no temp left behind


def test_a_snapshot_with_a_foreign_file_is_refused(inv, tmp_path):
    path = Path(inv.save(tmp_path / "s.layerlab"))
    (path / "notes.txt").write_text("mine")
    with pytest.raises(ll.OutputError, match="notes.txt"):
        inv.save(path)
    assert (path / "notes.txt").exists()


def test_a_folder_without_meta_is_refused(inv, tmp_path):
    path = tmp_path / "s.layerlab"
    path.mkdir()
    (path / "images.parquet").write_bytes(b"not mine to delete")
    with pytest.raises(ll.OutputError, match="no layerlab meta.json"):
        inv.save(path)
    assert (path / "images.parquet").read_bytes() == b"not mine to delete"


def test_replacing_a_snapshot_and_an_empty_folder_works(inv, tmp_path):
    path = Path(inv.save(tmp_path / "s.layerlab"))
    stamp = (path / "meta.json").stat().st_ino
    assert inv.save(path) == str(path)
    assert (path / "meta.json").stat().st_ino != stamp
    assert len(ll.load(path).images) == len(inv.images)
    empty = tmp_path / "empty.layerlab"
    empty.mkdir()
    assert len(ll.load(inv.save(empty)).layers) == len(inv.layers)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.layerlab", "s.layerlab"]


def test_sigint_right_after_the_old_snapshot_is_dealt_with_keeps_one(inv, tmp_path, monkeypatch):
    """A real SIGINT delivered just after save() removes anything: one whole snapshot must remain."""
    path = Path(inv.save(tmp_path / "s.layerlab"))
    real_rmtree = shutil.rmtree
    fired = []

    def rmtree_then_sigint(p, *a, **kw):
        real_rmtree(p, *a, **kw)
        if not fired:
            fired.append(p)
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(shutil, "rmtree", rmtree_then_sigint)
    try:
        inv.save(path)
    except KeyboardInterrupt:
        pass
    monkeypatch.undo()
    assert fired
    snap = ll.load(path)
    assert len(snap.images) == len(inv.images) and len(snap.files) == len(inv.files)


_CHILD = """
import os, shutil, signal, sys
import layerlab as ll
from layerlab.frames import output
inv = ll.sample()
path = sys.argv[1]
real = {hook}
def hooked(*a, **kw):
    r = real(*a, **kw)
    os.kill(os.getpid(), signal.SIGTERM)  # default action: the process dies here
    return r
{hook} = hooked
inv.save(path)
"""


@pytest.mark.parametrize("hook", ["output._exchange", "shutil.rmtree"])
def test_sigterm_during_a_replacement_leaves_one_whole_snapshot(inv, tmp_path, hook):
    path = Path(inv.save(tmp_path / "s.layerlab"))
    r = subprocess.run([sys.executable, "-c", _CHILD.format(hook=hook), str(path)], timeout=120)
    assert r.returncode == -signal.SIGTERM
    snap = ll.load(path)
    assert len(snap.files) == len(inv.files)


def test_the_fallback_swap_holds_signals(inv, tmp_path, monkeypatch):
    """Where renameat2 cannot swap, two renames run with SIGINT held: still one whole snapshot."""
    import threading
    import time

    from layerlab.frames import output

    path = Path(inv.save(tmp_path / "s.layerlab"))
    monkeypatch.setattr(output, "_exchange", lambda a, b: False)
    # another thread, as tqdm's monitor or a worker pool would be: a signal mask on the main thread
    # alone lets the kernel hand the signal to it, and Python still raises in the main thread
    threading.Thread(target=time.sleep, args=(3,), daemon=True).start()
    real_rename = Path.rename

    def rename_with_sigint(self, target):
        os.kill(os.getpid(), signal.SIGINT)  # held until both renames are done
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename_with_sigint)
    with pytest.raises(KeyboardInterrupt):
        inv.save(path)
    monkeypatch.undo()
    assert len(ll.load(path).files) == len(inv.files)


@pytest.mark.parametrize("where",
                         ["/", ".", "..", "a-file", "a-file.layerlab", "a-file/under.layerlab", "/proc/x.layerlab"])
def test_output_paths_that_cannot_hold_a_snapshot_exit_2(tmp_path, monkeypatch, capsys, where):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("keep")
    (tmp_path / "a-file.layerlab").write_text("keep")
    before = sorted(os.listdir(tmp_path))
    assert main(_cli_scan_args(where)) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerlab: error:") and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == before
    assert (tmp_path / "a-file").read_text() == "keep"


def test_a_read_only_place_is_a_clear_error(inv, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() == 0:
        # root writes through permissions; a read-only bind mount stops it (needs root, which we are)
        subprocess.run(["mount", "--bind", "-o", "ro", str(ro), str(ro)], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=True)
    else:
        ro.chmod(0o555)
    try:
        with pytest.raises(ll.OutputError, match="cannot write a snapshot"):
            inv.save(ro / "s.layerlab")
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(ro)], check=True)
        ro.chmod(0o755)


def test_old_code_path_names_still_get_the_suffix(inv, tmp_path):
    assert snapshot.save(inv, tmp_path / "plain") == str(tmp_path / "plain.layerlab")


@pytest.mark.parametrize("where", ["/", ".", "..", "a-file", "a-file.layerlab", "a-file/under.layerlab"])
def test_save_refuses_the_same_paths_with_output_error(inv, tmp_path, monkeypatch, where):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("keep")
    (tmp_path / "a-file.layerlab").write_text("keep")
    with pytest.raises(ll.OutputError, match=r"-o|not a folder|cannot write"):
        inv.save(where)
    assert sorted(os.listdir(tmp_path)) == ["a-file", "a-file.layerlab"]


@pytest.mark.parametrize("where", ["/", "a-file", "a-file/under", "/proc/sys/reports"])
def test_report_output_that_cannot_hold_pages_exits_2_and_writes_nothing(tmp_path, monkeypatch, capsys, where):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("keep")
    root_before = set(os.listdir("/"))
    assert main(["report", "sample", "-o", where]) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerlab: error:") and "Traceback" not in err
    assert set(os.listdir("/")) == root_before
    assert (tmp_path / "a-file").read_text() == "keep"
