"""File names that are bytes, not text: every distinct name keeps its own ``path``.

A real dockerd builds an image whose one RUN step creates, on disk, files named by the byte 0xff
and by the four characters backslash-x-f-f, a backslash before a bad byte, tabs, CR, newlines,
systemd's ``\\x2d`` and more (each file holds its own name's bytes). The layer is then read every
way layerlab reads layers: the data root walked and from its tar-split, and ``docker save``'s
archive streamed. Each reader must give one row per name, ``path`` valid UTF-8 and unique,
``path_raw`` the exact bytes wherever ``path`` is not them, and the merged view must show them all.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import pytest
from harness.daemon import Daemon, dockerd_missing
from harness.images import busybox_rootfs
from harness.tiers import require

import layerlab as ll
from layerlab.analyses import merged_view
from layerlab.sources.layerfiles.rows import escape_name, unescape_name

ODD = "layerlab/odd-names:1"

#: name bytes -> the ``path`` component layerlab must show (docs/frames.md, "File names").
NAMES = {
    b"\xff": "\\xff",
    b"\\xff": "\\\\xff",
    b"\\\xff": "\\\\\\xff",
    b"\\\\xff": "\\\\\\\\xff",
    b"bad\xc3(utf8": "bad\\xc3(utf8",
    b"caf\xc3\xa9": "caf\u00e9",
    b"tab\there": "tab\there",
    b"cr\rhere": "cr\rhere",
    b"new\nline": "new\nline",
    b"dev-disk-by\\x2dlabel.device": "dev-disk-by\\x2dlabel.device",
    b"windows\\style": "windows\\style",
    b"\\": "\\",
    b"trailing\\": "trailing\\",
}


def _octal(name: bytes) -> str:
    return "".join(f"\\{b:03o}" for b in name)


@pytest.fixture(scope="module")
def odd(tmp_path_factory):
    """(data root, image ID, archive path) of a daemon holding the odd-names image."""
    require(dockerd_missing())
    work = tmp_path_factory.mktemp("odd-names")
    daemon = Daemon(work / "daemon")
    daemon.start()
    ctx = Path(tempfile.mkdtemp(prefix="layerlab-odd-"))
    try:
        daemon.docker("import", str(busybox_rootfs(ctx / "rootfs")), "layerlab/odd-base:1")
        # Each name made by printf from octal escapes, so no shell or Dockerfile quoting is involved;
        # each file holds its name's bytes, so every file's content (and sha256) is its own.
        script = "set -e\nmkdir /odd\ncd /odd\n" + "".join(
            f"n=\"$(printf '{_octal(name)}x')\"; n=\"${{n%x}}\"; printf '%s' \"$n\" > \"$n\"\n" for name in NAMES)
        (ctx / "build").mkdir()
        (ctx / "build/make-names.sh").write_text(script)
        (ctx / "build/Dockerfile").write_text("FROM layerlab/odd-base:1\nCOPY make-names.sh /\n"
                                              "RUN sh /make-names.sh && rm /make-names.sh\n")
        daemon.docker("build", "--network", "none", "-q", "-t", ODD, str(ctx / "build"), timeout=600)
        image_id = daemon.docker("image", "inspect", "--format", "{{.Id}}", ODD).stdout.strip()
        archive = work / "odd.tar"
        daemon.docker("save", "-o", str(archive), ODD)
        yield daemon, image_id, archive
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
        daemon.stop()


def _odd_rows(files):
    rows = files[files["path"].str.startswith("/odd/")]
    return rows[rows["kind"] == "file"]


def _check(rows, what):
    """One row per name, each ``path`` as the docs say, ``path_raw`` exact where it differs."""
    assert not rows.duplicated(["layer_id", "path"]).any(), f"{what}: a (layer, path) key repeats"
    got = {}
    for path, raw in zip(rows["path"], rows["path_raw"]):
        path.encode("utf-8")  # valid UTF-8, or Arrow could not hold it
        exact = raw if isinstance(raw, bytes) else path.encode("utf-8")
        assert (raw is None or pd_isna(raw)) == (exact == path.encode("utf-8")), (what, path, raw)
        assert unescape_name(path) == exact, (what, path)
        got[exact] = path
    want = {b"/odd/" + name: "/odd/" + shown for name, shown in NAMES.items()}
    assert got == want, f"{what}: {sorted(set(got) ^ set(want))}"


def pd_isna(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def test_the_escaping_is_what_the_docs_show():
    for name, shown in NAMES.items():
        assert escape_name(os.fsdecode(name)) == shown
        assert unescape_name(shown) == name


@pytest.mark.parametrize("files", ["walk", "tar-split"])
def test_data_root_keeps_every_name_apart(odd, files):
    daemon, image_id, _ = odd
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inv = ll.open_root(str(daemon.data_root), files=files, progress=False)
        rows = _odd_rows(inv.files)
    _check(rows, files)
    assert rows["layer_id"].nunique() == 1
    merged = merged_view(inv, image_id)
    _check(_odd_rows(merged.assign(layer_id="merged")), f"{files}, merged view")


def test_docker_save_archive_keeps_every_name_apart(odd):
    daemon, image_id, archive = odd
    inv = ll.open_source(f"docker-archive:{archive}", progress=False)
    rows = _odd_rows(inv.files)
    _check(rows, "docker-archive")
    root = ll.open_root(str(daemon.data_root), files="walk", progress=False)
    walked = _odd_rows(root.files)
    assert sorted(rows["path"]) == sorted(walked["path"])
    assert sorted(rows["size"]) == sorted(walked["size"])
    merged = merged_view(inv, image_id)
    _check(_odd_rows(merged.assign(layer_id="merged")), "docker-archive, merged view")


def test_oci_layout_keeps_every_name_apart(odd, tmp_path):
    """skopeo's OCI layout of the image (gzip layers, streamed and inflated): the same rows."""
    from harness.archives import daemon_to_layout
    from harness.tiers import missing

    require(missing(programs=("skopeo",)))
    daemon, _, _ = odd
    layout = daemon_to_layout(daemon, [ODD], tmp_path / "layout", compression="gzip")
    inv = ll.open_source(f"oci:{layout}", progress=False)
    _check(_odd_rows(inv.files), "oci layout")
