"""The files frame of a tar layer is built column by column at C speed in the usual case (names that
are valid UTF-8 with no backslash, no disk sizes); names and link targets that need escaping, an
unknown kind and known disk sizes take the general way. Both ways must give the same columns.

The layers are written by GNU tar from files made on disk (odd names as bytes: a byte that is not
UTF-8, backslashes that must be doubled and ones that must not), read by the C header walk, and
compared with tarfile's reading and with the per-row escaping (``exact_paths``) the fast way skips.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
import warnings

import pandas as pd
import pytest

from layerlab.sources.layerfiles import rows as rows_mod
from layerlab.sources.layerfiles import tarstream
from layerlab.sources.layerfiles.rows import FileRows, escape_name, exact_paths

#: name bytes of files made on disk, as in tests/hostile/test_odd_names.py
ODD = [b"\xff", b"\\xff", b"\\\xff", b"dev-disk-by\\x2dlabel.device", b"windows\\style", b"caf\xc3\xa9"]


def _layer(tmp_path, names: list[bytes], links: dict[bytes, bytes]) -> str:
    root = tmp_path / "root"
    root.mkdir()
    broot = os.fsencode(root)
    os.mkdir(broot + b"/dir")
    for i, name in enumerate(names):
        with open(broot + b"/dir/" + name, "wb") as f:
            f.write(b"x" * i)
    for name, target in links.items():
        os.symlink(target, broot + b"/dir/" + name)
    os.link(broot + b"/dir/" + names[0], broot + b"/dir/hard")
    archive = tmp_path / "layer.tar"
    subprocess.run(["tar", "--format=gnu", "-C", str(root), "-cf", str(archive), "."], check=True)
    return str(archive)


def _read(archive: str) -> FileRows:
    with open(archive, "rb") as f:
        return tarstream.read_layer_unverified(f, os.path.getsize(archive), "L", archive).rows


def _expected(archive: str) -> dict[str, tuple[str, bytes | None, str | None]]:
    """path -> (path, path_raw, link_target) as tarfile reads the layer, escaped one name at a time."""
    out = {}
    with tarfile.open(archive, encoding="utf-8", errors="surrogateescape") as tf:
        for m in tf.getmembers():
            name = "/" + m.name.lstrip("./").rstrip("/")
            if name == "/":
                continue
            path = escape_name(name)
            raw = os.fsencode(name) if path != name else None
            link = (escape_name(m.linkname) if m.issym()
                    else escape_name("/" + m.linkname.lstrip("./")) if m.islnk() else None)
            out[path] = (path, raw, link)
    return out


def _got(frame: pd.DataFrame) -> dict[str, tuple[str, bytes | None, str | None]]:
    return {p: (p, None if pd.isna(r) else r, None if pd.isna(t) else t)
            for p, r, t in zip(frame["path"], frame["path_raw"], frame["link_target"])}


@pytest.mark.parametrize("case", ["plain", "backslashes", "not-utf8", "odd-links"])
def test_frame_columns_equal_tarfile_and_per_row_escaping(tmp_path, case):
    names = {"plain": [b"a", b"b c", b"caf\xc3\xa9"],
             "backslashes": [b"a", b"dev-disk-by\\x2dlabel.device", b"\\xff", b"windows\\style"],
             "not-utf8": ODD, "odd-links": [b"a", b"b"]}[case]
    links = {b"sym": b"../a"}
    if case == "odd-links":
        links.update({b"bad-target": b"to\xffx", b"escape-target": b"\\xff", b"systemd-target": b"by\\x2dlabel"})
    archive = _layer(tmp_path, names, links)
    frame = _read(archive).frame()
    assert _got(frame) == _expected(archive)
    # the general way, one row at a time, gives the same columns as the fast way
    rows = _read(archive)
    paths, raw = exact_paths(list(rows.path))
    assert list(frame["path"]) == paths
    assert [None if pd.isna(r) else r for r in frame["path_raw"]] == (raw or [None] * len(paths))
    escaped, _ = exact_paths([t if t is not None else "" for t in rows.link])
    assert [None if pd.isna(t) else t for t in frame["link_target"]] == \
        [e if t is not None else None for e, t in zip(escaped, rows.link)]
    assert list(frame["kind"].astype(str)) == rows.kind
    assert frame["kind"].dtype == rows_mod.kind_dtype()
    assert frame["disk_usage"].isna().all() and str(frame["disk_usage"].dtype) == "Int64"


def test_kinds_and_disk_usage_take_the_general_way_when_they_must():
    r = FileRows("L")
    r.add("/a", "file", 1, 0o644, 0, 0, 0, None, 4096)
    r.add("/b", "dir", 0, 0o755, 0, 0, 0, None, None)
    r.add("/c", "symlink", 0, 0o777, 0, 0, 0, "a", None)
    f = r.frame()
    assert list(f["disk_usage"].astype(object).where(f["disk_usage"].notna(), None)) == [4096, None, None]
    assert list(f["kind"].astype(str)) == ["file", "dir", "symlink"]
    with warnings.catch_warnings():  # pandas 3 warns that such a value will raise one day
        warnings.simplefilter("ignore")
        odd = rows_mod.kind_column(["file", "no-such-kind"])  # outside the contract: null, as pd.Categorical makes it
    assert odd[0] == "file" and pd.isna(odd[1])


def test_whiteouts_among_plain_names_are_translated_in_order():
    r = FileRows("L")
    r.extend(["/a", "/d/.wh.gone", "/d", "/d/.wh..wh..opq", "/e"], ["file", "file", "dir", "file", "file"],
             *[tarstream.array("q", [0] * 5) for _ in range(5)], [None] * 5)
    f = r.frame()
    assert list(f["path"]) == ["/a", "/d/gone", "/d", "/e"]
    assert list(f["kind"].astype(str)) == ["file", "whiteout", "opaque", "file"]


def _tar_of(tmp_path, name: str, make) -> str:
    """A layer tar written by GNU tar from a directory ``make(root)`` fills in (names as bytes)."""
    root = os.fsencode(tmp_path / name)
    os.mkdir(root)
    make(root)
    archive = str(tmp_path / f"{name}.tar")
    subprocess.run(["tar", "--format=gnu", "-C", os.fsdecode(root), "-cf", archive, "."], check=True)
    return archive


def _write(root: bytes, rel: bytes, data: bytes = b"") -> None:
    os.makedirs(os.path.dirname(root + b"/" + rel), exist_ok=True)
    with open(root + b"/" + rel, "wb") as f:
        f.write(data)


def test_layers_framed_together_equal_their_frames_concatenated(tmp_path):
    """frame_layers (small layers of an image framed at once) gives concat_files of a frame per layer:
    the same rows, columns, dtypes and layer categories, whiteouts, opaque markers (with and without
    their directory), odd names, hashes and Docker's sizes; an empty layer has no rows and no category."""
    from layerlab.sources._reader import docker_size, docker_sizes
    from layerlab.sources.layerfiles.rows import concat_files, frame_layers

    def base(root):
        _write(root, b"etc/a", b"a" * 10)
        _write(root, ODD[0], b"odd")
        os.symlink(b"to\xffx", root + b"/bad-target")
        os.symlink(b"etc/a", root + b"/plain-link")

    def deletes(root):
        _write(root, b"etc/.wh.a")
        _write(root, b"srv/.wh..wh..opq")  # a marker with its directory in the layer
        _write(root, b"srv/new", b"n" * 7)

    def lone_marker(root):
        _write(root, b"var/.wh..wh..opq")
        _write(root, b"dev-disk-by\\x2dlabel.device", b"s")

    def empty(root):
        pass

    made = [_tar_of(tmp_path, f"l{i}", make) for i, make in enumerate((base, deletes, empty, lone_marker))]
    made[2] = str(tmp_path / "none.tar")
    subprocess.run(["tar", "-cf", made[2], "-T", "/dev/null"], check=True)

    def read(hash_files):
        out = []
        for i, archive in enumerate(made):
            with open(archive, "rb") as f:
                rows = tarstream.read_layer_unverified(f, os.path.getsize(archive), f"sha256:{i:064x}", archive,
                                                       hash_files=hash_files).rows
            out.append(rows)
        return out

    for hash_files in (False, True):
        one_by_one = [r.frame() for r in read(hash_files)]
        expected = concat_files(one_by_one)
        together = frame_layers(read(hash_files))
        got = concat_files([together])
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
        assert list(got["layer_id"].cat.categories) == list(expected["layer_id"].cat.categories)
        assert len(expected["layer_id"].cat.categories) == 3  # the empty layer has none
        assert "opaque" in set(got["kind"].astype(str)) and "whiteout" in set(got["kind"].astype(str))
        assert got["sha256"].notna().any() == hash_files
        sizes = {f["layer_id"].iloc[0]: docker_size(f) for f in one_by_one if len(f)}
        assert docker_sizes(together) == sizes and sizes[f"sha256:{0:064x}"] > 10
