"""Live: a real dockerd starts, builds the sample, and the sample shows what it claims to show.

The fixtures come from tests/fixtures_docker.py (imported by conftest.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from harness.daemon import Daemon, dockerd_missing, mount_points
from harness.images import BIG, busybox_rootfs
from harness.tiers import require

pytestmark = pytest.mark.live


def _chain_ids(diff_ids: list[str]) -> list[str]:
    chain = [diff_ids[0]]
    for diff_id in diff_ids[1:]:
        chain.append("sha256:" + hashlib.sha256(f"{chain[-1]} {diff_id}".encode()).hexdigest())
    return chain


def _layer_dirs(daemon: Daemon, ref: str) -> dict[str, Path]:
    """created_by of each non-empty history entry -> that layer's overlay2 diff dir, from the data root."""
    image_id = daemon.docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()
    store = daemon.data_root / "image" / daemon.driver
    config = json.loads((store / "imagedb/content/sha256" / image_id.split(":")[1]).read_bytes())
    history = [h for h in config["history"] if not h.get("empty_layer")]
    chain = _chain_ids(config["rootfs"]["diff_ids"])
    assert len(history) == len(chain)
    dirs = {}
    for entry, chain_id in zip(history, chain):
        cache_id = (store / "layerdb/sha256" / chain_id.split(":")[1] / "cache-id").read_text()
        dirs[entry.get("created_by", "")] = daemon.data_root / "overlay2" / cache_id / "diff"
    return dirs


def _find(dirs: dict[str, Path], needle: str) -> Path:
    matches = [d for created_by, d in dirs.items() if needle in created_by]
    assert len(matches) == 1, f"{needle!r} in {list(dirs)}"
    return matches[0]


def _is_whiteout(path: Path) -> bool:
    st = os.lstat(path)
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_busybox_rootfs_is_deterministic(tmp_path):
    a = busybox_rootfs(tmp_path / "a").read_bytes()
    b = busybox_rootfs(tmp_path / "b").read_bytes()
    assert a == b
    assert len(a) > 1_000_000  # busybox itself is in there


def test_daemon_starts_and_stops_cleanly(tmp_path):
    require(dockerd_missing())
    daemon = Daemon(tmp_path / "d", driver="vfs")
    with daemon:
        assert len(str(daemon.socket_path).encode()) < 108
        assert daemon.info()["Driver"] == "vfs"
        assert daemon.env["DOCKER_BUILDKIT"] == "0"
        pid = daemon.process.pid
        containerd = daemon._containerd_pid
        assert containerd, "dockerd did not start its own containerd"
        failed = daemon.docker("image", "inspect", "no/such:image", check=False)
        assert failed.returncode != 0
    assert not _running(pid) and not _running(containerd)
    assert not [p for p in mount_points() if p.startswith(str(daemon.data_root))]


def test_sample_images_and_containers(overlay2_daemon):
    daemon, built = overlay2_daemon
    roles, images = built["roles"], built["images"]
    assert images[roles["retag"]] == images[roles["child_image"]]
    layers = {ref: daemon.docker_json("image", "inspect", "--format", "{{json .RootFS.Layers}}", ref)
              for ref in (roles["base"], roles["overwrite"], roles["child_image"], roles["opaque_dir"],
                          roles["multi_stage"])}
    base = layers[roles["base"]]
    assert len(base) == 1
    for ref, chain in layers.items():
        assert chain[0] == base[0], f"{ref} does not start with the base layer"
    # base + COPY + COPY over + rm + chmod; LABEL and ENV add none
    assert len(layers[roles["overwrite"]]) == 5
    assert layers[roles["child_image"]][:5] == layers[roles["overwrite"]]
    states = {name: daemon.docker("container", "inspect", "--format", "{{.State.Status}}", name).stdout.strip()
              for name in built["containers"]}
    assert states == {"ll-created": "created", "ll-exited": "exited"}
    assert built["dangling"], "the multi-stage builder stage should be left dangling"

    pulled = daemon.docker_json("image", "inspect", roles["pulled"])[0]
    assert pulled["RepoDigests"] and pulled["Parent"] == ""
    dist = daemon.data_root / "image/overlay2/distribution"
    assert any((dist / "diffid-by-digest/sha256").iterdir())
    v2 = [json.loads(p.read_text()) for p in (dist / "v2metadata-by-diffid/sha256").iterdir()]
    assert any(e["SourceRepository"].startswith(built["registry"]["host"]) for entries in v2 for e in entries)


def test_overlay2_layers_hold_whiteouts_and_opaque_dirs(overlay2_daemon):
    daemon, built = overlay2_daemon
    paths = built["paths"]
    tree = _layer_dirs(daemon, built["roles"]["opaque_dir"])
    opaque = _find(tree, "rm -rf /srv/cache") / paths["opaque_dir"].lstrip("/")
    assert os.getxattr(opaque, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    assert _is_whiteout(_find(tree, "rm -rf /srv/old") / paths["deleted_dir"].lstrip("/"))

    links = _find(tree, "ln data/file.txt")
    original, hardlink = (links / p.lstrip("/") for p in paths["hardlink"])
    assert os.lstat(original).st_ino == os.lstat(hardlink).st_ino
    assert os.readlink(links / "srv/links/relative") == "../data/file.txt"
    sparse = os.lstat(links / paths["sparse"].lstrip("/"))
    # Committing a layer goes through a tar, so the RUN's sparse file is stored dense.
    assert sparse.st_size == 4 << 20 and sparse.st_blocks * 512 >= sparse.st_size
    for name in paths["odd_names"]:
        assert os.path.lexists(os.fsencode(links) + os.fsencode(name))

    bloat = _layer_dirs(daemon, built["roles"]["overwrite"])
    assert _is_whiteout(_find(bloat, "rm /data/scratch.bin") / "data/scratch.bin")
    chmod_copy = os.lstat(_find(bloat, "chmod 0600") / "data/big.bin")
    assert chmod_copy.st_size == BIG and stat.S_IMODE(chmod_copy.st_mode) == 0o600


def test_exited_container_read_write_layer(overlay2_daemon):
    daemon, built = overlay2_daemon
    changes = built["paths"]["exited_container"]
    upper = Path(daemon.docker("container", "inspect", "--format", "{{.GraphDriver.Data.UpperDir}}",
                               "ll-exited").stdout.strip())
    assert upper.is_relative_to(daemon.data_root / "overlay2")
    assert os.lstat(upper / changes["appended"].lstrip("/")).st_size == BIG + 1
    assert _is_whiteout(upper / changes["deleted"].lstrip("/"))
    assert os.getxattr(upper / changes["opaque_dir"].lstrip("/"), "trusted.overlay.opaque") == b"y"
    renamed_from, renamed_to = changes["renamed_dir"]
    assert _is_whiteout(upper / renamed_from.lstrip("/")) and (upper / renamed_to.lstrip("/")).is_dir()
    for new in changes["new_files"]:
        assert (upper / new.lstrip("/")).is_file()
    sparse = os.lstat(upper / changes["sparse"].lstrip("/"))
    assert sparse.st_size == 4 << 20 and sparse.st_blocks * 512 < sparse.st_size
    created_upper = Path(daemon.docker("container", "inspect", "--format", "{{.GraphDriver.Data.UpperDir}}",
                                       "ll-created").stdout.strip())
    assert list(created_upper.iterdir()) == []


def test_vfs_layers_are_full_copies(vfs_daemon):
    daemon, built = vfs_daemon
    roles = built["roles"]
    chain = daemon.docker_json("image", "inspect", "--format", "{{json .RootFS.Layers}}", roles["overwrite"])
    # The overwrite must produce its own layer on vfs too (it diffs by metadata, not content).
    assert len(chain) == 5
    # vfs reports no GraphDriver data: map the container to its layer through layerdb/mounts.
    mounts = daemon.data_root / "image/vfs/layerdb/mounts"
    top = daemon.data_root / "vfs/dir" / (mounts / built["containers"]["ll-exited"] / "mount-id").read_text()
    # vfs stores no whiteouts: deleted paths are simply absent, everything else is copied in full.
    assert not os.path.lexists(top / "data/scratch.bin")
    assert not os.path.lexists(top / "opt/app/logs/old.log")
    assert (top / "bin/busybox").stat().st_size > 1_000_000
    assert os.lstat(top / "data/big.bin").st_size == BIG + 1
