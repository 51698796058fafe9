"""Live tier: podman/buildah stores (overlay and vfs) read directly, compared with podman and dive."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys

import pandas as pd
import pytest

import layerlab as ll
from harness import podman as hp
from harness.tiers import missing, require
from layerlab.analyses import dive_analysis, efficiency
from layerlab.errors import ImageNotFound, NotADataRoot, UnsupportedStore
from readonly_support import tree_state

pytestmark = pytest.mark.live


def _need():
    require(missing(root=True, programs=hp.PROGRAMS))


def _tool(name: str) -> str:
    """A program from PATH, else the one installed beside this Python (the venv's dive, layerlab)."""
    found = shutil.which(name) or shutil.which(name, path=os.path.dirname(sys.executable))
    require(None if found else f"needs {name} installed (.ci/run installs it)")
    return found


@pytest.fixture(scope="module", params=["overlay", "vfs"])
def store(request, tmp_path_factory):
    _need()
    tmp = tmp_path_factory.mktemp(f"cstorage-{request.param}")
    s = hp.build_images(hp.make_store(tmp / "store", request.param), tmp / "ctx")
    yield s
    s.stop()


def _inspect(store, ref, fmt):
    return store.podman("image", "inspect", "--format", fmt, ref).strip()


def test_images_equal_podman(store):
    inv = ll.open_source(str(store.root))
    assert inv.meta["image_store"] == "containers-storage" and inv.meta["driver"] == store.driver
    assert inv.skipped.empty
    every = store.podman("images", "-a", "--no-trunc", "--format", "{{.ID}}").split()
    listed = store.podman("images", "--no-trunc", "--format", "{{.ID}}").split()
    assert sorted(inv.images["image_id"]) == sorted(set(every))
    assert sorted(inv.listed["image_id"]) == sorted(set(listed))  # intermediate images left out as podman does
    images = inv.images.set_index("image_id")
    for ref, iid in store.images.items():
        row = images.loc["sha256:" + iid]
        assert ref in row["tags"]
        assert row["size"] == int(_inspect(store, ref, "{{.Size}}"))
        assert _inspect(store, ref, "{{.Digest}}") in {d.split("@", 1)[1] for d in row["digests"]}
        created = pd.Timestamp(int(_inspect(store, ref, "{{.Created.UnixNano}}")), unit="ns", tz="UTC")
        assert abs(row["created"] - created) < pd.Timedelta(microseconds=1)
        assert row["layer_count"] == len(json.loads(_inspect(store, ref, "{{json .RootFS.Layers}}")))
    # every image's size and split as `podman system df -v` prints them (rounded by podman)
    df = hp.system_df(store)
    assert len(df) == len(inv.images)
    for r in inv.images.itertuples(index=False):
        printed = df[r.image_id[7:19]]
        assert (hp.podman_human(r.size), hp.podman_human(r.shared_size), hp.podman_human(r.unique_size)) == \
            (printed["size"], printed["shared"], printed["unique"]), r.tags
        assert r.container_count == printed["containers"]
    # the podman parent chain: app's parent is an intermediate image of its own build
    app = images.loc["sha256:" + store.images["localhost/app:1"]]
    assert app["parent"] in set(images.index) and images.loc[app["parent"], "intermediate"]


def test_layers_and_history(store):
    inv = ll.open_source(store.transport + "localhost/app:1")
    assert list(inv.images["tags"].iloc[0]) == ["localhost/app:1"]
    chain = inv.image_layers.sort_values("position")
    diff_ids = json.loads(_inspect(store, "localhost/app:1", "{{json .RootFS.Layers}}"))
    assert list(chain["diff_id"]) == diff_ids
    assert chain["layer_id"].iloc[0] == diff_ids[0]  # chain IDs, as every layerlab source keys layers
    layers = inv.layers.set_index("layer_id")
    assert (layers.loc[chain["layer_id"], "cache_id"].str.len() == 64).all()
    # history from the config: one entry per Dockerfile step after the base's
    history = inv.history
    assert history["created_by"].str.contains("rm -rf /opq").any()
    assert history["empty_layer"].any()  # ENV X=1
    files = inv.files
    if store.driver == "overlay":  # buildah commits the upper dir: the rebuilt /opq is opaque
        assert ((files["kind"] == "opaque") & (files["path"] == "/opq")).any()
    else:  # vfs commits a naive diff of two copies: each entry that went is whited out
        assert ((files["kind"] == "whiteout") & files["path"].isin(["/opq/a", "/opq/sub"])).sum() == 2
    assert ((files["kind"] == "whiteout") & (files["path"] == "/data/big.bin")).any()
    assert ((files["kind"] == "whiteout") & (files["path"] == "/home")).any()


def test_containers_equal_podman(store):
    inv = ll.open_source(str(store.root))
    containers = inv.containers.set_index("container_id")
    assert set(containers.index) == set(store.containers.values())
    sizes = hp.container_sizes(store)
    c1 = store.containers["c1"]
    assert containers.loc[c1, "rw_size"] == sizes[c1] == 5006
    assert containers.loc[c1, "name"] == "c1"
    podman_state = {r["Id"]: r["State"] for r in json.loads(store.podman("ps", "-a", "--format", "json"))}
    assert containers.loc[c1, "state"] == podman_state[c1] == "created"  # from podman's own database
    assert containers.loc[c1, "image_id"] == "sha256:" + store.images["localhost/app:1"]
    files = inv.files[inv.files["layer_id"] == f"container:{c1}"]
    assert {"/data/new.txt", "/opq/b"} <= set(files.loc[files["kind"] == "file", "path"])
    assert "/bin/ls" in set(files.loc[files["kind"] == "whiteout", "path"])
    work = [cid for name, cid in store.containers.items() if name != "c1"][0]
    files = inv.files[inv.files["layer_id"] == f"container:{work}"]
    assert "/small.txt" in set(files.loc[files["kind"] == "whiteout", "path"])
    assert containers.loc[work, "rw_size"] == 7000
    assert containers.loc[work, "state"] == "unknown"  # buildah keeps no state


def _dive(archive, out):
    subprocess.run([_tool("dive"), "--json", str(out), "--source", "docker-archive", str(archive)], check=True,
                   capture_output=True, timeout=300)
    return json.loads(out.read_text())


def test_waste_equals_dive_on_podman_save(store, tmp_path):
    inv = ll.open_source(str(store.root))
    for ref in ("localhost/app:1", "localhost/small:1", "localhost/busybox:base"):
        iid = "sha256:" + store.images[ref]
        name = ref.rsplit("/", 1)[-1].replace(":", "-")
        d = _dive(store.save(ref, tmp_path / f"{name}.tar"), tmp_path / f"{name}.json")
        r = efficiency(inv, [iid]).iloc[0]
        image = d["image"]
        assert r.dive_efficiency == pytest.approx(image["efficiencyScore"], rel=1e-12, abs=0), ref
        assert r.dive_wasted_bytes == image["inefficientBytes"], ref
        assert r.dive_size_bytes == image["sizeBytes"], ref
        theirs = sorted((f["file"], f["count"], f["sizeBytes"]) for f in image["fileReference"])
        table = dive_analysis(inv, iid)
        assert sorted(zip(table["path"], table["count"].astype(int), table["size_bytes"].astype(int))) == theirs, ref
    assert efficiency(inv, ["sha256:" + store.images["localhost/app:1"]]).iloc[0].dive_wasted_bytes > 300_000


def test_walk_gives_the_files_tar_split_gives(store):
    from layerlab.sources.containers_storage.store import open_containers_storage

    a = open_containers_storage(str(store.root), files="tar-split")
    b = open_containers_storage(str(store.root), files="walk")
    key = ["layer_id", "path", "kind", "size", "link_target"]
    images = set(a.layers.loc[a.layers["kind"] == "image", "layer_id"])

    def rows(inv):
        f = inv.files[inv.files["layer_id"].isin(images)]
        if store.driver == "vfs":  # a full-copy diff also lists the directories above a change
            f = f[f["kind"] != "dir"]
        return sorted(map(tuple, f[key].astype(str).to_numpy()))

    assert rows(a) == rows(b)
    assert len(rows(a)) > 250


def test_transport_forms(store):
    app = store.images["localhost/app:1"]
    for ref in ("localhost/app:1", "app:1", app[:12], "sha256:" + app):
        inv = ll.open_source(store.transport + ref)
        assert list(inv.images["image_id"]) == ["sha256:" + app], ref
        assert set(inv.containers["container_id"]) == {store.containers["c1"]}
    for ref in ("nosuch:1", "app"):  # app means app:latest, which is not there
        with pytest.raises(ImageNotFound, match="localhost/app:1"):
            ll.open_source(store.transport + ref)
    with pytest.raises(NotADataRoot, match="absolute"):
        ll.open_source("containers-storage:[overlay@relative/root]x")
    other = "vfs" if store.driver == "overlay" else "overlay"
    with pytest.raises(NotADataRoot, match=f"no {other} store"):
        ll.open_source(f"containers-storage:[{other}@{store.root}]")
    # a driver layerlab cannot read, asked of a store that does not have it: the store is not said to use it
    with pytest.raises(NotADataRoot, match=f"has no btrfs store .*; present: {store.driver}$"):
        ll.open_source(f"containers-storage:[btrfs@{store.root}]")
    # the CLI takes it like any source
    out = subprocess.run([_tool("layerlab"), "summary", "--json", store.transport + "small:1"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [im["tags"] for im in data["images"]] == [["localhost/small:1"]]
    assert data["image_store"] == "containers-storage"
    # dangling images are pruned with podman's command, not docker's
    out = subprocess.run([_tool("layerlab"), "summary", str(store.root)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "`podman image prune` would free" in " ".join(out.stdout.split()), out.stdout[-2000:]
    # a source of one image needs no image argument, in bloat as in check
    for cmd in ("bloat", "check"):
        out = subprocess.run([_tool("layerlab"), cmd, store.transport + "app:1"], capture_output=True, text=True,
                             timeout=300)
        assert out.returncode in (0, 1) and out.stdout.startswith(f"localhost/app:1 ({app[:12]})"), (cmd,
            out.stderr[-2000:])
    # every command takes podman's short names, as podman does
    inv = ll.open_source(str(store.root))
    assert inv.image_id("app:1") == inv.image_id("localhost/app:1") == "sha256:" + app
    out = subprocess.run([_tool("layerlab"), "check", str(store.root), "small:1", "--min-efficiency", "0"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and f"small:1 ({store.images['localhost/small:1'][:12]})" in out.stdout, out.stdout


def test_skopeo_id_forms_name_the_image_skopeo_names(store):
    """skopeo's containers-storage references by ID: @ID, @ID-prefix and NAME@ID (the name one of the
    image's names, or its repository); a NAME@ID whose name belongs to another image is refused."""
    require(missing(programs=("skopeo",)))
    app, small = store.images["localhost/app:1"], store.images["localhost/small:1"]

    def skopeo_accepts(ref: str) -> bool:
        return subprocess.run(["skopeo", "inspect", "--raw", store.transport + ref], capture_output=True,
                              timeout=120).returncode == 0

    for ref in ("@" + app, "@" + app[:12], "localhost/app:1@" + app, "localhost/app@" + app):
        assert skopeo_accepts(ref), ref
        inv = ll.open_source(store.transport + ref)
        assert list(inv.images["image_id"]) == ["sha256:" + app], ref
    assert list(ll.open_source(store.transport + "@" + small).images["image_id"]) == ["sha256:" + small]
    assert not skopeo_accepts("localhost/small:1@" + app)
    with pytest.raises(ImageNotFound, match="localhost/app:1"):
        ll.open_source(store.transport + "localhost/small:1@" + app)


def _atimes(root):
    # readlink moves a symlink's own atime (no O_NOATIME for it: docs/security.md): those are left out
    return {p: e for p, e in tree_state(root, contents=False, atimes=True).items() if not stat.S_ISLNK(e[0])}


def test_snapshot_round_trip_and_read_only(store, tmp_path):
    before = tree_state(store.root)
    inv = ll.open_source(str(store.root))
    files = inv.files
    path = ll.scan(str(store.root), tmp_path / "host.layerlab", hash=True)
    assert tree_state(store.root) == before
    back = ll.open_source(str(path))
    assert back.meta["image_store"] == "containers-storage"
    assert len(back.files) == len(files)
    assert back.images["size"].tolist() == inv.images["size"].tolist()
    # twins hashed in place (their layers' directories): the same content in two layers
    twins = back.files[back.files["path"].isin(["/small.txt", "/small-copy.txt"]) & (back.files["kind"] == "file")]
    assert len(twins) == 2 and twins["sha256"].notna().all() and twins["sha256"].nunique() == 1
    assert back.meta["hashed"] >= 2


# -- hostile stores -------------------------------------------------------------------------------


@pytest.fixture
def copy(store, tmp_path):
    dst = tmp_path / "root"
    subprocess.run(["cp", "-a", str(store.root), str(dst)], check=True)
    return dst, store


def _edit_json(path, fn):
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


def test_a_store_of_a_driver_layerlab_cannot_read_says_so(copy):
    root, store = copy
    for kind in ("layers", "images", "containers"):  # the store's records, as a btrfs store keeps them
        (root / f"{store.driver}-{kind}").rename(root / f"btrfs-{kind}")
    for source in (str(root), f"containers-storage:[btrfs@{root}]"):
        with pytest.raises(UnsupportedStore, match="uses the btrfs driver"):
            ll.open_source(source)


def test_layer_ids_that_would_leave_the_store_are_refused(copy):
    root, store = copy
    drv = store.driver
    outside = root.parent / "outside"
    (outside / "diff").mkdir(parents=True)
    (outside / "diff" / "MARKER").write_text("secret")
    images = json.loads((root / f"{drv}-images" / "images.json").read_text())
    small_top = next(i["layer"] for i in images if "localhost/small:1" in i.get("names", []))

    def poison(layers):
        for rec in layers:
            if rec["id"] == small_top:
                rec["id"] = "../../outside"
        layers.append({"id": "a/b", "diff-digest": "sha256:" + "0" * 64})
    _edit_json(root / f"{drv}-layers" / "layers.json", poison)
    with pytest.warns(UserWarning):
        inv = ll.open_source(str(root))
        files = inv.files
    skipped = inv.skipped
    assert {"../../outside", "a/b"} <= set(skipped["id"])
    assert skipped["reason"].str.contains("not a 64-hex ID").any()
    assert "sha256:" + store.images["localhost/small:1"] in set(skipped["id"])  # its top layer is gone
    assert "sha256:" + store.images["localhost/app:1"] in set(inv.images["image_id"])  # the others still read
    assert "/MARKER" not in set(files["path"])


def test_a_symlinked_layer_directory_is_not_followed(copy):
    root, store = copy
    drv = store.driver
    outside = root.parent / "outside"
    (outside / "diff").mkdir(parents=True)
    (outside / "diff" / "MARKER").write_text("secret")
    c1 = store.containers["c1"]
    rec = next(c for c in json.loads((root / f"{drv}-containers" / "containers.json").read_text()) if c["id"] == c1)
    layer_dir = root / "overlay" / rec["layer"] if drv == "overlay" else root / "vfs" / "dir" / rec["layer"]
    shutil.rmtree(layer_dir)
    os.symlink(outside if drv == "overlay" else outside / "diff", layer_dir)
    with pytest.warns(UserWarning, match="symbolic link"):
        inv = ll.open_source(str(root))
        files = inv.files
    assert "/MARKER" not in set(files["path"])
    row = inv.skipped[inv.skipped["id"] == f"container:{c1}"]
    assert len(row) == 1 and "symbolic link" in row["reason"].iloc[0]
    assert pd.isna(inv.containers.set_index("container_id").loc[c1, "rw_size"])
    if drv == "overlay":  # image layers are walked too: a diff/ that is a symlink is not followed either
        images = json.loads((root / "overlay-images" / "images.json").read_text())
        top = next(i["layer"] for i in images if "localhost/small:1" in i.get("names", []))
        diff = root / "overlay" / top / "diff"
        shutil.rmtree(diff)
        os.symlink(outside / "diff", diff)
        with pytest.warns(UserWarning, match="symbolic link"):
            inv = ll.open_source(str(root))
            files = inv.files
        assert "/MARKER" not in set(files["path"])
        lid = inv.layers.loc[inv.layers["cache_id"] == top, "layer_id"].iloc[0]
        assert "symbolic link" in inv.skipped.loc[inv.skipped["id"] == lid, "reason"].iloc[0]


def test_an_image_id_with_a_slash_is_skipped(copy):
    root, store = copy
    drv = store.driver

    def poison(images):
        images[0]["id"] = "../" + images[0]["id"][3:]
    _edit_json(root / f"{drv}-images" / "images.json", poison)
    with pytest.warns(UserWarning, match="not a 64-hex ID"):
        inv = ll.open_source(str(root))
    assert len(inv.images) == len(store.podman("images", "-a", "-q").split()) - 1


# -- the rootless store ---------------------------------------------------------------------------


def test_rootless_store_is_found_and_read_as_podman_sees_it(public_tmp):
    """A user's own store, made by rootless podman and buildah, found where `podman info` finds it."""
    from layerlab.sources.containers_storage.location import default_store

    require(missing(root=True, programs=(*hp.PROGRAMS, "runuser", "useradd", "unshare")))
    require(hp.userns_problem())
    name = "llrootless"
    uid, gid = hp.rootless_user(name)
    home = public_tmp / "home"
    home.mkdir()
    rootfs = hp.busybox_rootfs(public_tmp / "base")
    ctx = public_tmp / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM localhost/busybox:base\nCOPY a.txt /a.txt\nRUN rm /etc/os-release\n")
    (ctx / "a.txt").write_text("a\n")
    for p in (home, public_tmp / "base", rootfs, ctx, ctx / "Dockerfile", ctx / "a.txt"):
        os.chown(p, uid, gid)
    try:
        graphroot = hp.as_user(name, home, "podman", "info", "--format", "{{.Store.GraphRoot}}").strip()
        assert graphroot == str(home / ".local/share/containers/storage")
        assert default_store(uid, {"HOME": str(home), "USER": name})[0] == graphroot
        hp.as_user(name, home, "podman", "import", str(rootfs), "localhost/busybox:base")
        hp.as_user(name, home, "buildah", "bud", "--layers", "--pull=never", "--isolation", "chroot",
                   "-t", "localhost/mine:1", str(ctx))
        size = int(hp.as_user(name, home, "podman", "image", "inspect", "--format", "{{.Size}}", "localhost/mine:1"))
        listed = hp.as_user(name, home, "podman", "images", "--no-trunc", "--format", "{{.ID}}").split()
        inv = ll.open_source(f"containers-storage:[{graphroot}]")  # read by root, as `sudo layerlab` would
        assert sorted(inv.listed["image_id"]) == sorted(set(listed))
        mine = inv.images[inv.images["tags"].map(lambda t: "localhost/mine:1" in t)].iloc[0]
        assert mine["size"] == size
        assert inv.skipped.empty
        files = inv.image_files("localhost/mine:1")
        assert {"/a.txt", "/etc/os-release"} <= set(files["path"])
        assert ((files["path"] == "/etc/os-release") & (files["kind"] == "whiteout")).any()
        # and as the user, `containers-storage:` is that store
        as_user = _as_user_in_process(uid, gid, home, name)
        assert as_user["source"] == graphroot
        assert sorted(as_user["images"]) == sorted(inv.images["image_id"]) and as_user["skipped"] == []
        assert as_user["files"] == len(inv.files)
    finally:
        subprocess.run(["runuser", "-u", name, "--", "env", "-i", f"HOME={home}", "PATH=/usr/bin:/bin",
                        "podman", "system", "reset", "--force"], capture_output=True, timeout=300)


def test_reading_moves_no_access_time(copy):
    """Every file and folder is opened O_NOATIME: with each atime set before its mtime, relatime
    would move it on any other read (a plain read below shows that it does)."""
    root, store = copy
    for path, entry in tree_state(root, contents=False).items():
        if not stat.S_ISLNK(entry[0]):
            os.utime(path, ns=(entry[4] - 10**9, entry[4]), follow_symlinks=False)
    atimes = _atimes(root)
    inv = ll.open_source(str(root))
    assert len(inv.files) and inv.containers["rw_size"].notna().all()
    assert _atimes(root) == atimes
    probe = next(p for p, e in atimes.items() if stat.S_ISREG(e[0]) and e[3] > 0)
    with open(probe, "rb") as f:
        f.read(1)
    assert os.lstat(probe).st_atime_ns != atimes[probe][-1]  # a plain read does move it here


def _as_user_in_process(uid: int, gid: int, home, name: str) -> dict:
    """``open_source("containers-storage:")`` in a forked child that became the user (this Python lives
    under /root, which the user cannot run): what it found, as a dict."""
    from layerlab.analyses.summary import summary_dict

    summary_dict(ll.open_source("sample", progress=False))  # import what the child will need first
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        os.close(r)
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            os.environ.update(HOME=str(home), USER=name)
            os.environ.pop("XDG_DATA_HOME", None)
            os.environ.pop("XDG_CONFIG_HOME", None)
            inv = ll.open_source("containers-storage:", progress=False)
            summary_dict(inv)
            out = {"source": inv.source, "images": list(inv.images["image_id"]), "files": len(inv.files),
                   "skipped": inv.skipped.to_dict("records")}
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            out = {"error": repr(e)}
        os.write(w, json.dumps(out, default=str).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 1 << 16):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    out = json.loads(data)
    assert "error" not in out, out
    return out


def _directory_size(path) -> int:
    """containers/storage's directory.Size: every entry but directories, each inode once."""
    seen, total = set(), 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if st.st_ino in seen:
                continue
            seen.add(st.st_ino)
            if not stat.S_ISDIR(st.st_mode):
                total += st.st_size
    return total


def test_layers_without_a_recorded_size_are_sized_from_their_files(copy):
    """A layer record whose diff-size is -1 (unknown): podman 4.3 then calls the image corrupted
    ("size for layer ... is unknown") and gives no size; layerlab sizes the layer as the overlay
    driver's DiffSize does (directory.Size of its diff) and the image as ImageSize adds it up."""
    root, store = copy
    path = root / f"{store.driver}-layers" / "layers.json"
    records = json.loads(path.read_text())
    first = ll.open_source(str(root))
    before = first.images.set_index("image_id")
    for rec in records:
        rec["diff-size"] = -1
    path.write_text(json.dumps(records))
    inv = ll.open_source(str(root))
    images = inv.images.set_index("image_id")
    assert (images["size"] > 0).all()
    layers = inv.layers[inv.layers["kind"] == "image"].set_index("layer_id")
    if store.driver == "overlay":
        for lid, r in layers.iterrows():
            assert r["size"] == _directory_size(root / "overlay" / r["cache_id"] / "diff"), lid
    app = "sha256:" + store.images["localhost/app:1"]
    chain = inv.image_layers[inv.image_layers["image_id"] == app]["layer_id"]
    big_data = before.loc[app,
                          "size"] - int(first.image_layers.loc[first.image_layers["image_id"] == app, "size"].sum())
    assert images.loc[app, "size"] == int(layers.loc[chain, "size"].sum()) + big_data
    assert images.loc[app, "size"] != before.loc[app, "size"]  # file bytes, not the tars' lengths


# One driver is enough: the report reads the frames, which the other tests hold equal on both.
@pytest.mark.parametrize("store", ["overlay"], indirect=True)
def test_report_of_a_store(store, tmp_path):
    """`layerlab report` renders every page of a podman store, as of any source."""
    out = subprocess.run([_tool("layerlab"), "report", store.transport, "-o", str(tmp_path / "report")],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    index = (tmp_path / "report" / "index.html").read_text()
    assert "containers-storage" in index
    assert "podman image prune frees" in index and "docker image prune" not in index
    assert "as podman images lists them" in index and "as docker images" not in index
    assert len(list((tmp_path / "report").glob("*.html"))) > 2


def test_a_symlinked_big_data_folder_is_not_followed(copy):
    """An image's big-data folder (its config, manifests) that is a symlink, even to a faithful copy
    outside the store, is not read: the image is skipped naming the link."""
    root, store = copy
    folder = root / f"{store.driver}-images" / store.images["localhost/small:1"]
    outside = root.parent / "outside-big-data"
    shutil.copytree(folder, outside)
    shutil.rmtree(folder)
    os.symlink(outside, folder)
    with pytest.warns(UserWarning, match="symbolic link"):
        inv = ll.open_source(str(root))
    assert "sha256:" + store.images["localhost/small:1"] not in set(inv.images["image_id"])
    assert "sha256:" + store.images["localhost/app:1"] in set(inv.images["image_id"])
    row = inv.skipped[inv.skipped["id"] == "sha256:" + store.images["localhost/small:1"]]
    assert "symbolic link" in row["reason"].iloc[0]


def test_a_skipped_image_is_named_where_it_is_asked_for(copy):
    """An image whose config is damaged is skipped with its names (summary --json "skipped"), and asking
    for it by any name podman takes (full, short, @ID) says that image was skipped and why."""
    from layerlab.analyses.summary import summary_dict
    from layerlab.sources.containers_storage.store import big_data_name

    root, store = copy
    app = store.images["localhost/app:1"]
    (root / f"{store.driver}-images" / app / big_data_name("sha256:" + app)).write_text("{}")
    with pytest.warns(UserWarning, match="does not hash"):
        inv = ll.open_source(str(root))
    [entry] = [s for s in summary_dict(inv)["skipped"] if s["id"] == "sha256:" + app]
    assert entry["names"] == ["localhost/app:1"] and "does not hash" in entry["reason"]
    for ref in ("localhost/app:1", "app:1", app[:12]):
        with pytest.raises(ImageNotFound,
                           match=r"skipped as unreadable: sha256:\w+ \(localhost/app:1\): its config does not hash"):
            inv.image_id(ref)
    for ref in ("app:1", "@" + app, "localhost/app@" + app):
        with pytest.warns(UserWarning), pytest.raises(
                ImageNotFound,
                match=r"an image of that name was skipped as unreadable: sha256:\w+ \(localhost/app:1\)"):
            ll.open_source(f"containers-storage:[{store.driver}@{root}]{ref}")
    # another name: the skipped image is only counted
    with pytest.warns(UserWarning), pytest.raises(ImageNotFound) as e:
        ll.open_source(f"containers-storage:[{store.driver}@{root}]nosuch:1")
    assert "of that name" not in str(e.value) and "1 image(s) were skipped" in str(e.value)
