"""A folder on the way to what a reader reads, replaced by a symbolic link out of the root it was
given, is never followed: the read refuses it saying so (a `skipped` row or a LayerlabError), for
every kind of store and every level the issue-28 run found followed.

Each case moves a real folder (or file) of a real store out of the root and links it back, so the
content at the other end is exactly what the store held: a reader that followed the link would read
it as if nothing had happened, which is what the assertions rule out.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import layerlab as ll
from layerlab.errors import LayerlabError
from layerlab.frames.inventory import Inventory


def _link_out(path: Path, outside: Path) -> Path:
    """Move ``path`` to ``outside`` (beside the root) and leave a symbolic link to it in its place."""
    outside.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), str(outside))
    path.symlink_to(outside)
    return outside


def _outcome(read) -> tuple[str, object]:
    """What a read said about the store: the error's text, or every skipped reason (files read)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            got = read()
            if isinstance(got, Inventory):
                got.files  # noqa: B018 - layer contents are read on first use
                return " | ".join(got.skipped["reason"].astype(str)), got
            return json.dumps(got.to_dict(), default=str), got
        except LayerlabError as e:
            return str(e), None


def _first_layer(root: Path) -> Path:
    return sorted(p for p in (root / "image/overlay2/layerdb/sha256").iterdir() if len(p.name) == 64)[0]


# -- graphdriver data roots ----------------------------------------------------------------------

DATAROOT_CASES = {
    "overlay2/<cache-id>": lambda r: r / "overlay2" / (_first_layer(r) / "cache-id").read_text().strip(),
    "overlay2/<cache-id>/diff": lambda r: r / "overlay2" / (_first_layer(r) / "cache-id").read_text().strip() / "diff",
    "layerdb/sha256/<chain>": _first_layer,
    "image/overlay2": lambda r: r / "image" / "overlay2",
    "image/overlay2/imagedb": lambda r: r / "image" / "overlay2" / "imagedb",
    "containers/": lambda r: r / "containers",
    "containers/<id>": lambda r: sorted((r / "containers").iterdir())[0],
}


def test_the_untouched_overlay2_capture_has_no_symlink_reason(root_copy):
    text, inv = _outcome(lambda: ll.open_root(str(root_copy), progress=False))
    assert inv is not None and "symbolic link" not in text
    assert len(inv.layers) and len(inv.files)


@pytest.mark.parametrize("case", list(DATAROOT_CASES))
def test_a_symlinked_folder_of_a_data_root_is_not_followed(root_copy, public_tmp, case):
    before = _outcome(lambda: ll.open_root(str(root_copy), progress=False))[1]
    folder = DATAROOT_CASES[case](root_copy)
    _link_out(folder, public_tmp / "outside" / folder.name)
    text, inv = _outcome(lambda: ll.open_root(str(root_copy), progress=False))
    assert "symbolic link" in text, text[:500]
    if inv is not None:  # read on without what is outside: fewer layers, images or containers
        assert (len(inv.files), len(inv.images), len(inv.containers)) != (
            len(before.files), len(before.images), len(before.containers))


def test_the_driver_home_itself_may_be_placed_elsewhere(root_copy, public_tmp):
    """``overlay2/`` as a link (the host put it on another disk) is the host's choice: read as before."""
    before = _outcome(lambda: ll.open_root(str(root_copy), progress=False))[1]
    _link_out(root_copy / "overlay2", public_tmp / "fast-disk" / "overlay2")
    text, inv = _outcome(lambda: ll.open_root(str(root_copy), progress=False))
    assert inv is not None and "symbolic link" not in text
    assert len(inv.files) == len(before.files)


@pytest.fixture
def vfs_copy(public_tmp):
    from harness.captures import unpack_capture
    from harness.tiers import require_root

    require_root("tar", "xz")
    return unpack_capture("vfs", public_tmp / "vfs")


@pytest.fixture
def btrfs_copy(public_tmp):
    from harness.captures import unpack_capture
    from harness.tiers import require_root

    require_root("tar", "xz")
    return unpack_capture("btrfs", public_tmp / "btrfs")


def _a_layer_dir(home: Path) -> Path:
    return sorted(p for p in home.iterdir() if not p.name.endswith("-init"))[0]


def test_a_symlinked_vfs_layer_dir_is_not_followed(vfs_copy, public_tmp):
    folder = _a_layer_dir(vfs_copy / "vfs" / "dir")
    _link_out(folder, public_tmp / "outside" / folder.name)
    text, _ = _outcome(lambda: ll.open_root(str(vfs_copy), progress=False))
    assert "symbolic link" in text, text[:500]


def test_a_symlinked_btrfs_subvolume_is_not_followed(btrfs_copy, public_tmp):
    folder = _a_layer_dir(btrfs_copy / "btrfs" / "subvolumes")
    _link_out(folder, public_tmp / "outside" / folder.name)
    text, _ = _outcome(lambda: ll.open_root(str(btrfs_copy), progress=False))
    assert "symbolic link" in text, text[:500]


# -- containerd ----------------------------------------------------------------------------------

SNAPSHOTS = "io.containerd.snapshotter.v1.overlayfs/snapshots"
CONTAINERD_CASES = {
    "snapshots/<n>": lambda r: r / SNAPSHOTS / "1",
    "snapshots/<n>/fs": lambda r: r / SNAPSHOTS / "1" / "fs",
    "content/blobs/sha256": lambda r: r / "io.containerd.content.v1.content" / "blobs" / "sha256",
    "content/blobs": lambda r: r / "io.containerd.content.v1.content" / "blobs",
}


@pytest.mark.parametrize("case", list(CONTAINERD_CASES))
def test_a_symlinked_folder_of_a_containerd_store_is_not_followed(containerd_copy, public_tmp, case):
    folder = CONTAINERD_CASES[case](containerd_copy)
    _link_out(folder, public_tmp / "outside" / folder.name)
    text, _ = _outcome(lambda: ll.open_source(str(containerd_copy), progress=False))
    assert "symbolic link" in text, text[:500]


# -- registry storage ----------------------------------------------------------------------------

@pytest.fixture
def registry_copy(public_tmp):
    from harness.captures import unpack_capture
    from harness.tiers import require_root

    require_root("tar", "xz")
    return unpack_capture("registry", public_tmp / "registry")


V2 = "docker/registry/v2"


@pytest.mark.parametrize("case", ["blobs", "blobs/sha256", "repositories"])
def test_a_symlinked_folder_of_registry_storage_is_not_followed(registry_copy, public_tmp, case):
    from layerlab.sources.registry.storage import audit_storage

    before = _outcome(lambda: audit_storage(registry_copy, progress=False))
    assert "symbolic link" not in before[0] and before[1] is not None
    folder = registry_copy / V2 / case
    _link_out(folder, public_tmp / "outside" / folder.name)
    text, _ = _outcome(lambda: audit_storage(registry_copy, progress=False))
    assert "symbolic link" in text, text[:500]


# -- OCI layouts (made by umoci) -----------------------------------------------------------------

@pytest.fixture
def layout(public_tmp):
    from harness.tiers import missing, require

    require(missing(programs=("umoci",)))
    lay, bundle = public_tmp / "layout", public_tmp / "bundle"
    for args in (["init", "--layout", str(lay)], ["new", "--image", f"{lay}:t"],
                 ["unpack", "--image", f"{lay}:t", str(bundle)]):
        subprocess.run(["umoci", *args], check=True, capture_output=True)
    (bundle / "rootfs" / "opt").mkdir(parents=True)
    (bundle / "rootfs" / "opt" / "hello.txt").write_text("hello\n")
    # repack, not insert: umoci 0.4's insert writes a layer tar without its end blocks (truncated)
    subprocess.run(["umoci", "repack", "--image", f"{lay}:t", str(bundle)], check=True, capture_output=True)
    return lay


def _layer_blob(lay: Path) -> Path:
    index = json.loads((lay / "index.json").read_text())
    manifest = json.loads((lay / "blobs" / "sha256" / index["manifests"][0]["digest"].split(":")[1]).read_text())
    return lay / "blobs" / "sha256" / manifest["layers"][-1]["digest"].split(":")[1]


LAYOUT_CASES = {
    "index.json": lambda lay: lay / "index.json",
    "blobs/": lambda lay: lay / "blobs",
    "blobs/sha256": lambda lay: lay / "blobs" / "sha256",
    "a layer blob": _layer_blob,
}


def test_the_untouched_layout_reads(layout):
    text, inv = _outcome(lambda: ll.open_source(f"oci:{layout}", progress=False))
    assert inv is not None and "/opt/hello.txt" in set(inv.files["path"])


@pytest.mark.parametrize("case", list(LAYOUT_CASES))
def test_a_symlinked_part_of_an_oci_layout_is_not_followed(layout, public_tmp, case):
    target = LAYOUT_CASES[case](layout)
    _link_out(target, public_tmp / "outside" / target.name)
    text, inv = _outcome(lambda: ll.open_source(f"oci:{layout}", progress=False))
    assert "symbolic link" in text, text[:500]
    assert inv is None or "/opt/hello.txt" not in set(inv.files["path"])


# -- snapshots -----------------------------------------------------------------------------------

@pytest.mark.parametrize("frame", ["files", "images", "layers", "image_layers"])
def test_a_snapshot_frame_that_is_a_symlink_out_of_it_is_refused(tmp_path, frame):
    mine = Path(ll.open_source("sample").save(tmp_path / "mine.layerlab"))
    other = tmp_path / "elsewhere"
    shutil.copytree(mine, other)
    (mine / f"{frame}.parquet").unlink()
    (mine / f"{frame}.parquet").symlink_to(other / f"{frame}.parquet")
    with pytest.raises(LayerlabError, match=f"{frame}.parquet.*(not a regular file|symbolic link)"):
        inv = ll.open_source(str(mine))
        inv.files  # noqa: B018
        inv.images  # noqa: B018
        inv.layers  # noqa: B018
        inv.image_layers  # noqa: B018


# -- the check itself, for a symbolic link at any level --------------------------------------------

_NAMES = st.text(alphabet="abcxyz0-_.", min_size=1, max_size=8).filter(lambda n: n not in (".", ".."))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(_NAMES, min_size=1, max_size=5, unique=True), level=st.integers(0, 4),
       leaves=st.booleans())
def test_a_symlink_at_any_level_is_refused_exactly_when_it_leaves_the_root(parts, level, leaves):
    """A folder ``level`` deep below a registered root replaced by a link: to a copy outside the root,
    ``check_inside`` refuses every path below it (naming the link); to a folder inside, it allows it.
    Paths above the link, and paths under no registered root, are never refused."""
    import tempfile

    from layerlab.sources._reader import LeftTheRoot, check_inside, confine, outside_root

    level = min(level, len(parts) - 1)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        root = base / "root"
        deep = root.joinpath(*parts)
        deep.mkdir(parents=True)
        (deep / "meta.json").write_text("{}")
        (root / "inside-copy").mkdir()
        confine(root)
        linked = root.joinpath(*parts[: level + 1])
        target = (base / "outside") if leaves else (root / "inside-copy" / "t")
        shutil.move(str(linked), str(target))
        linked.symlink_to(target)
        below = deep / "meta.json"
        if leaves:
            with pytest.raises(LeftTheRoot, match="symbolic link"):
                check_inside(below)
            assert str(linked) in outside_root(deep)
        else:
            check_inside(below)
        check_inside(linked.parent)  # above the link: inside
        assert outside_root(base / "outside") is None  # under no registered root
