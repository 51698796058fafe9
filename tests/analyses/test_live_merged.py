"""Live tier: the merged view against real unpackers (umoci for images, docker export for containers)."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile

import pytest

from layerlab.analyses import merged_view

from analyses_support import fs_name, unpack_with_umoci

pytestmark = pytest.mark.live

KIND = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink", stat.S_IFCHR: "char",
        stat.S_IFBLK: "block", stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket"}


def _walk(root) -> dict[bytes, tuple[str, int]]:
    root_b = os.fsencode(root)
    out = {}
    for d, dirs, files in os.walk(root_b):
        for name in dirs + files:
            full = os.path.join(d, name)
            st = os.lstat(full)
            kind = KIND[stat.S_IFMT(st.st_mode)]
            out[full[len(root_b):]] = (kind, st.st_size if kind == "file" else 0)
    return out


def _ours(view) -> dict[bytes, tuple[str, int]]:
    raw = view["path_raw"] if "path_raw" in view.columns else [None] * len(view)
    return {fs_name(p, r): (k, int(s)) for p, r, k, s in zip(view["path"], raw, view["kind"], view["file_size"])}


def _check_images(daemon, inv, refs, tmp_path):
    for ref in refs:
        rootfs = unpack_with_umoci(daemon, ref, tmp_path / ref.replace("/", "_").replace(":", "_"))
        real = _walk(rootfs)
        ours = _ours(merged_view(inv, ref))
        assert set(ours) == set(real), (ref, sorted(set(ours) ^ set(real))[:10])
        differ = {p: (ours[p], real[p]) for p in ours if ours[p] != real[p]}
        assert not differ, (ref, list(differ.items())[:10])


def test_sample_images_equal_umoci_unpack(overlay2_daemon, tmp_path):
    import layerlab as ll

    daemon, built = overlay2_daemon
    inv = ll.open_root(str(daemon.data_root), progress=False)
    refs = sorted({built["roles"][r] for r in ("base", "overwrite", "child_image", "opaque_dir", "multi_stage")})
    _check_images(daemon, inv, refs, tmp_path)


def test_edge_images_equal_umoci_unpack(edge_live, tmp_path):
    daemon, refs, inv = edge_live
    _check_images(daemon, inv, [refs["edge"], refs["child"]], tmp_path)
    view = merged_view(inv, refs["edge"]).set_index("path")
    # /h/a was deleted but its hard link /h/b shows the bytes
    assert "/h/a" not in view.index
    assert view.loc["/h/b", "file_size"] == 96 << 10
    # a directory replaced by a file hides everything below it
    assert view.loc["/tree/sub", "kind"] == "file"
    assert not any(p.startswith("/tree/sub/") for p in view.index)


def _export(daemon, container) -> dict[bytes, tuple[str, int]]:
    """Paths, kinds and sizes of ``docker export CONTAINER`` (hard links resolved to their target)."""
    data = subprocess.run(["docker", "export", container], env=daemon.env, capture_output=True, check=True).stdout
    out = {}
    links = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for m in tar.getmembers():
            name = b"/" + os.fsencode(m.name).rstrip(b"/")
            if name == b"/":
                continue
            if m.islnk():
                links[name] = b"/" + os.fsencode(m.linkname)
                continue
            kind = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir",
                    tarfile.SYMTYPE: "symlink",
                    tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo"}[m.type]
            out[name] = (kind, m.size if kind == "file" else 0)
    for name, target in links.items():
        out[name] = out[target]
    return out


@pytest.mark.parametrize("daemon_fixture", ["overlay2_daemon", "vfs_daemon"])
def test_containers_equal_docker_export(request, daemon_fixture):
    import layerlab as ll

    daemon, built = request.getfixturevalue(daemon_fixture)
    inv = ll.open_root(str(daemon.data_root), progress=False)
    for name in ("ll-created", "ll-exited"):
        real = _export(daemon, name)
        ours = _ours(merged_view(inv, container=name))
        assert set(ours) == set(real), (name, sorted(set(ours) ^ set(real))[:10])
        differ = {p: (ours[p], real[p]) for p in ours if ours[p] != real[p]}
        assert not differ, (name, list(differ.items())[:10])
    view = merged_view(inv, container="ll-exited").set_index("path")
    assert view.loc["/data/big.bin", "file_size"] == (1 << 20) + 1  # appended one byte in the container
    assert "/opt/app/logs/old.log" not in view.index
    assert view.loc["/opt/app/cache/new.txt", "layer_id"].startswith("container:")
