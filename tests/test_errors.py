"""Bad input: clear errors naming the path, partial results that say what they miss."""

from __future__ import annotations

import os
import pickle
import shutil
import warnings

import pytest

import layerlab as ll
from layerlab.cli import main


def test_missing_path(tmp_path):
    with pytest.raises(ll.NotADataRoot, match="does not exist"):
        ll.open_root(str(tmp_path / "missing"))


def test_not_a_directory(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ll.NotADataRoot, match="is not a directory"):
        ll.open_root(str(tmp_path / "file"))


def test_a_directory_that_is_not_a_data_root(tmp_path):
    with pytest.raises(ll.NotADataRoot, match=r"not a Docker data root.*--data-root"):
        ll.open_root(str(tmp_path))


def test_cli_reports_errors_without_traceback(tmp_path, capsys):
    assert main(["summary", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerlab: error:") and "Traceback" not in err


def test_missing_snapshot(tmp_path):
    with pytest.raises(ll.SnapshotError, match="layerlab scan"):
        ll.load(tmp_path / "nothing.layerlab")


def test_incomplete_snapshot(tmp_path):
    path = ll.sample().save(tmp_path / "x.layerlab")
    os.remove(os.path.join(path, "files.parquet"))
    with pytest.raises(ll.SnapshotError, match="incomplete: files missing"):
        ll.load(path)


def test_unknown_image_lists_tags():
    with pytest.raises(ll.ImageNotFound, match="tags here include") as e:
        ll.sample().image_id("no-such-image:1")
    assert isinstance(e.value, LookupError)


# -- on copies of a real data root (root tier) -------------------------------------------------


def _first_layer(root):
    return next(p for p in sorted((root / "image/overlay2/layerdb/sha256").iterdir()) if len(p.name) == 64)


def test_corrupt_size_file_names_the_file(root_copy):
    size = _first_layer(root_copy) / "size"
    size.write_text("twelve")
    with pytest.raises(ll.CorruptMetadata, match=rf"{size}.*decimal byte count.*'twelve'"):
        ll.open_root(str(root_copy))


def test_corrupt_repositories_json_names_the_file(root_copy):
    repos = root_copy / "image/overlay2/repositories.json"
    repos.write_text('{"Repositories": {')
    with pytest.raises(ll.CorruptMetadata, match=rf"{repos} is not valid JSON"):
        ll.open_root(str(root_copy))


def test_config_that_does_not_match_its_digest(root_copy):
    config = next((root_copy / "image/overlay2/imagedb/content/sha256").iterdir())
    config.write_bytes(config.read_bytes() + b" ")
    with pytest.raises(ll.CorruptMetadata, match="does not match its digest"):
        ll.open_root(str(root_copy))


def test_layer_vanishing_mid_scan_is_skipped_and_recorded(root_copy, tmp_path):
    full = ll.open_root(str(root_copy), progress=False).files
    inv = ll.open_root(str(root_copy), progress=False)  # metadata read; layer contents not yet
    victim = inv.image_layers["layer_id"].iloc[0]
    cache_id = (root_copy / "image/overlay2/layerdb" / victim.replace(":", "/") / "cache-id").read_text()
    shutil.rmtree(root_copy / "overlay2" / cache_id / "diff")
    with pytest.warns(UserWarning, match="vanished"):
        files = inv.files
    assert victim not in set(files["layer_id"])
    assert len(files) == len(full) - (full["layer_id"] == victim).sum()  # the rest is kept
    snap = ll.load(inv.save(tmp_path / "partial.layerlab"))
    assert snap.skipped["id"].tolist() == [victim]
    assert "vanished" in snap.skipped["reason"].iloc[0]


def _as_nobody(fn, *args):
    """Run fn(*args) in a forked child that has dropped to uid/gid 65534; return its result or error."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = ("ok", fn(*args))
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            result = ("error", type(e).__name__, str(e))
        os.write(w, pickle.dumps(result))
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    return pickle.loads(data)


@pytest.mark.parametrize("private", ["root", "image"])
def test_permission_denied_says_to_scan_as_root(root_copy, private):
    os.chmod(root_copy, 0o755)
    target = root_copy if private == "root" else root_copy / "image"
    os.chmod(target, 0o710)  # as Docker makes /var/lib/docker
    result = _as_nobody(lambda p: ll.open_root(p), str(root_copy))
    assert result[:2] == ("error", "DataRootPermissionError"), result
    assert "permission denied" in result[2] and "sudo layerlab scan" in result[2] and str(target) in result[2]


def test_snapshot_analysis_needs_neither_root_nor_the_data_root(root_copy, public_tmp):
    path = ll.scan(str(root_copy), str(public_tmp / "host.layerlab"), progress=False)
    shutil.rmtree(root_copy)

    def analyse(p):
        inv = ll.load(p)
        return len(inv.files), int(inv.images["size"].sum())

    result = _as_nobody(analyse, path)
    assert result[0] == "ok", result
    assert result[1][0] > 100
