"""Nothing read from metadata makes a scan read outside the data root, hang, or eat memory."""

from __future__ import annotations

import gzip
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

import layerlab as ll
from layerlab.errors import CorruptMetadata
from layerlab.sources._reader import read_bytes


def _layers(root):
    return sorted(p for p in (root / "image/overlay2/layerdb/sha256").iterdir() if len(p.name) == 64)


def _first_layer(root):
    return _layers(root)[0]


def _in_child(code: str, timeout: float = 30):
    """Run ``code`` in a child with 2 GiB of address space: a hang or a memory blow-up fails, in bounded time."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    try:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                              preexec_fn=limit)
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung for {timeout} s")


# -- IDs from metadata that become paths ----------------------------------------------------------


def test_a_cache_id_that_climbs_out_is_skipped_and_nothing_outside_is_read(root_copy):
    outside = root_copy.parent / "outside-of-root" / "diff"
    outside.mkdir(parents=True)
    (outside / "OUTSIDE-THE-DATA-ROOT").write_text("secret")
    layer = _first_layer(root_copy)
    (layer / "cache-id").write_text("../../outside-of-root")
    with pytest.warns(UserWarning, match="cache-id"):
        inv = ll.open_root(str(root_copy), progress=False)
        files = inv.files
    assert not files["path"].str.contains("OUTSIDE").any()
    row = inv.skipped[inv.skipped["id"] == "sha256:" + layer.name]
    assert len(row) == 1 and "not a folder name" in row["reason"].iloc[0]
    assert row["path"].iloc[0].endswith("cache-id")
    assert "sha256:" + layer.name not in set(inv.layers["layer_id"])


#: cache-ids that could leave the driver's folder, or name no folder at all: each is refused.
REFUSED_CACHE_IDS = {
    "two parents up": "../../etc",
    "one parent up": "../x",
    "the parent": "..",
    "the folder itself": ".",
    "a path": "a/b",
    "absolute": "/etc",
    "climbing after a name": "abc/../../..",
    "NUL": "abc\x00def",
    "NUL and parents": "..\x00/../../etc",
    "a newline inside": "abc\ndef",
    "empty": "",
    "only blanks": "  \n",
    "above NAME_MAX": "a" * 256,
    "above NAME_MAX in bytes": "\u00e9" * 128,
}


@pytest.mark.parametrize("case", list(REFUSED_CACHE_IDS))
def test_a_cache_id_that_is_not_one_folder_name_is_refused(root_copy, case):
    outside = root_copy.parent / "etc" / "diff"
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "OUTSIDE-THE-DATA-ROOT").write_text("secret")
    layer = _first_layer(root_copy)
    (layer / "cache-id").write_bytes(REFUSED_CACHE_IDS[case].encode())
    with pytest.warns(UserWarning, match="not a folder name"):
        inv = ll.open_root(str(root_copy), progress=False)
        files = inv.files
    assert not files["path"].str.contains("OUTSIDE").any()
    assert "sha256:" + layer.name not in set(inv.layers["layer_id"])
    reasons = inv.skipped.loc[inv.skipped["id"] == "sha256:" + layer.name, "reason"]
    assert len(reasons) == 1 and "cache-id" in reasons.iloc[0]
    # the images that need the layer are skipped too, saying why
    needing = inv.skipped[(inv.skipped["what"] == "image")]
    assert len(needing) and needing["reason"].str.contains(layer.name[:12] + ".*could not be read").all()


@pytest.mark.parametrize("which", ["layer folder", "diff folder"])
def test_a_layer_folder_that_is_a_symlink_out_of_the_root_is_not_followed(root_copy, which):
    outside = root_copy.parent / "elsewhere"
    (outside / "diff").mkdir(parents=True)
    (outside / "diff" / "OUTSIDE-THE-DATA-ROOT").write_text("secret")
    layer = _first_layer(root_copy)
    folder = root_copy / "overlay2" / (layer / "cache-id").read_text().strip()
    target = folder if which == "layer folder" else folder / "diff"
    target.rename(target.with_name(target.name + ".real"))
    target.symlink_to(outside if which == "layer folder" else outside / "diff")
    with pytest.warns(UserWarning, match="symbolic link"):
        inv = ll.open_root(str(root_copy), progress=False)
        files = inv.files
    assert not files["path"].str.contains("OUTSIDE").any()
    reasons = inv.skipped.loc[inv.skipped["id"] == "sha256:" + layer.name, "reason"]
    assert reasons.str.contains("symbolic link").any()


#: Forms the daemon writes: BuildKit's random IDs (moby/buildkit identity.NewID) and the key its
#: extraction uses ("extract-<id> <chain ID>", cache/refs.go), which the graphdriver adapter registers.
ACCEPTED_CACHE_IDS = {
    "BuildKit": "628teidt5i0qm39l062m2n822",
    "BuildKit extract key": "extract-628teidt5i0qm39l062m2n822 sha256:" + "ab" * 32,
}


@pytest.mark.parametrize("case", list(ACCEPTED_CACHE_IDS))
def test_a_cache_id_in_another_form_the_daemon_writes_is_read(root_copy, case):
    before = ll.open_root(str(root_copy), progress=False)
    layer = _first_layer(root_copy)
    lid = "sha256:" + layer.name
    key = ["path", "kind", "size", "mode", "mtime"]
    expected = before.files[before.files["layer_id"] == lid][key].sort_values("path").reset_index(drop=True)
    old = (layer / "cache-id").read_text().strip()
    new = ACCEPTED_CACHE_IDS[case]
    home = root_copy / "overlay2"
    # move the layer's folder as the daemon would have named it, and its short link with it
    (home / old).rename(home / new)
    link = home / "l" / (home / new / "link").read_text().strip()
    link.unlink()
    link.symlink_to(f"../{new}/diff")
    (layer / "cache-id").write_text(new)
    after = ll.open_root(str(root_copy), progress=False)
    assert after.skipped.empty, after.skipped.to_dict("records")
    assert after.layers.set_index("layer_id").loc[lid, "cache_id"] == new
    assert set(after.images["image_id"]) == set(before.images["image_id"])
    ours = after.files[after.files["layer_id"] == lid][key].sort_values("path").reset_index(drop=True)
    assert len(ours) and ours.equals(expected)


def test_a_diff_that_is_not_a_digest_is_skipped(root_copy):
    layer = _first_layer(root_copy)
    (layer / "diff").write_text("i am not a digest")
    with pytest.warns(UserWarning):
        inv = ll.open_root(str(root_copy), progress=False)
    assert "i am not a digest" not in set(inv.layers["diff_id"].dropna())
    reasons = inv.skipped.loc[inv.skipped["id"] == "sha256:" + layer.name, "reason"]
    assert reasons.str.contains("not a digest").any()


def test_a_mount_id_that_climbs_out_skips_the_container_layer(root_copy):
    mounts = root_copy / "image/overlay2/layerdb/mounts"
    cid = sorted(mounts.iterdir())[0]
    (cid / "mount-id").write_text("../../../../etc")
    with pytest.warns(UserWarning, match="64-hex"):
        inv = ll.open_root(str(root_copy), progress=False)
        files = inv.files
    assert f"container:{cid.name}" not in set(inv.layers["layer_id"])
    assert (inv.skipped["id"] == cid.name).any()
    assert not (files["layer_id"] == f"container:{cid.name}").any()


# -- tar-split names ----------------------------------------------------------------------------


def _rewrite_tarsplit(path: Path, rename: dict[int, str] | None = None, extra: bytes = b""):
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    out, n = [], 0
    for line in lines:
        entry = json.loads(line)
        if entry["type"] == 1 and rename and n in rename:
            entry["name"] = rename[n]
            entry.pop("name_raw", None)
            line = (json.dumps(entry) + "\n").encode()
        if entry["type"] == 1:
            n += 1
        out.append(line)
    path.write_bytes(gzip.compress(b"".join(out) + extra))


def test_a_tarsplit_name_that_climbs_out_is_left_out_and_flagged(root_copy):
    layer = _first_layer(root_copy)
    _rewrite_tarsplit(layer / "tar-split.json.gz", {1: "../../../../OUTSIDE-evil"})
    with pytest.warns(UserWarning, match="climbs above"):
        inv = ll.open_root(str(root_copy), files="tar-split", progress=False)
        files = inv.files
    assert not files["path"].str.contains(r"\.\.|OUTSIDE-evil").any()
    flagged = inv.skipped[inv.skipped["reason"].str.contains("climbs above")]
    assert flagged["id"].tolist() == ["sha256:" + layer.name]
    assert (files["layer_id"] == "sha256:" + layer.name).sum() > 0  # the rest of the layer is kept


def test_a_tarsplit_line_beyond_the_cap_skips_the_layer(root_copy):
    layer = _first_layer(root_copy)
    ts = layer / "tar-split.json.gz"
    ts.write_bytes(gzip.compress(b'{"type":2,"payload":"' + b"A" * (20 << 20)))  # 20 MiB, no newline
    with pytest.warns(UserWarning, match="longer than"):
        inv = ll.open_root(str(root_copy), files="tar-split", progress=False)
        inv.files
    assert inv.skipped["reason"].str.contains("longer than").any()


def test_clean_path_roots_names_as_docker_does():
    from layerlab.sources.layerfiles.tarheader import clean_path, climbs_out

    assert clean_path("../../../../etc/shadow") == "/etc/shadow"
    assert clean_path("./a/../b/") == "/b"
    assert clean_path("/..//x") == "/x"
    assert climbs_out("../../../../etc/shadow") and climbs_out("a/../../b")
    assert not climbs_out("a/../b") and not climbs_out("./etc/") and not climbs_out("a/..")


# -- metadata files that are not regular files --------------------------------------------------


def test_read_bytes_refuses_what_is_not_a_regular_file(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    # no writer: a blocking open would wait forever, so the FIFO is tried in a child, bounded
    r = _in_child("from layerlab.sources._reader import read_bytes\nfrom layerlab.errors import CorruptMetadata\n"
                  f"try:\n    read_bytes({str(fifo)!r})\nexcept CorruptMetadata as e:\n    print('CLEAR', e)\n")
    assert "CLEAR" in r.stdout and "FIFO" in r.stdout, r.stderr[-2000:]
    (tmp_path / "zero").symlink_to("/dev/zero")
    with pytest.raises(CorruptMetadata, match="symbolic link"):
        read_bytes(tmp_path / "zero")
    with pytest.raises(CorruptMetadata, match="not a regular file"):
        read_bytes("/dev/zero")
    with pytest.raises(CorruptMetadata, match="directory"):
        read_bytes(tmp_path)
    (tmp_path / "big").write_bytes(b"x" * 1001)
    with pytest.raises(CorruptMetadata, match="1000 byte limit"):
        read_bytes(tmp_path / "big", limit=1000)
    assert read_bytes(tmp_path / "big", limit=2000) == b"x" * 1001


def test_a_fifo_as_cache_id_is_a_clear_error_not_a_hang(root_copy):
    layer = _first_layer(root_copy)
    (layer / "cache-id").unlink()
    os.mkfifo(layer / "cache-id")
    r = _in_child(f"import layerlab as ll\ntry:\n    ll.open_root({str(root_copy)!r}, progress=False)\n"
                  "except ll.CorruptMetadata as e:\n    print('CLEAR', e)\n")
    assert "CLEAR" in r.stdout and "FIFO" in r.stdout and "cache-id" in r.stdout, r.stderr[-2000:]


def test_a_dev_zero_symlink_as_image_config_is_a_clear_error_not_a_memory_blowup(root_copy):
    config = next((root_copy / "image/overlay2/imagedb/content/sha256").iterdir())
    config.unlink()
    config.symlink_to("/dev/zero")
    r = _in_child(f"import layerlab as ll\ntry:\n    ll.open_root({str(root_copy)!r}, progress=False)\n"
                  "except ll.CorruptMetadata as e:\n    print('CLEAR', e)\n")
    assert "CLEAR" in r.stdout and "symbolic link" in r.stdout, r.stderr[-2000:]


def test_a_fifo_as_tarsplit_skips_the_layer(root_copy):
    layer = _first_layer(root_copy)
    (layer / "tar-split.json.gz").unlink()
    os.mkfifo(layer / "tar-split.json.gz")
    r = _in_child(
        "import warnings, layerlab as ll\nwarnings.simplefilter('ignore')\n"
        f"inv = ll.open_root({str(root_copy)!r}, files='tar-split', progress=False)\ninv.files\n"
        "print('SKIPPED', inv.skipped['reason'].tolist())\n")
    assert "SKIPPED" in r.stdout and "FIFO" in r.stdout, r.stderr[-2000:]


# -- content that is not what its name says -----------------------------------------------------


def test_a_containerd_config_blob_that_no_longer_matches_its_digest_is_refused(containerd_copy):
    blobs = containerd_copy / "containerd/daemon/io.containerd.content.v1.content/blobs/sha256"
    if not blobs.is_dir():
        blobs = next(containerd_copy.rglob("io.containerd.content.v1.content")) / "blobs/sha256"
    config = next(p for p in sorted(blobs.iterdir()) if b'"architecture"' in p.read_bytes()[:1 << 20]
                  and b'"rootfs"' in p.read_bytes()[:1 << 20])
    config.write_bytes(config.read_bytes().replace(b'"architecture":"', b'"architecture":"evil-', 1))
    with pytest.raises(CorruptMetadata, match="does not match its digest"):
        ll.open_root(str(containerd_copy), progress=False)


def test_a_zero_byte_tarsplit_skips_the_layer_with_a_reason(root_copy):
    layer = _first_layer(root_copy)
    (layer / "tar-split.json.gz").write_bytes(b"")
    with pytest.warns(UserWarning, match="empty"):
        inv = ll.open_root(str(root_copy), files="tar-split", progress=False)
        files = inv.files
    assert "sha256:" + layer.name not in set(files["layer_id"])
    assert inv.skipped.loc[inv.skipped["id"] == "sha256:" + layer.name, "reason"].str.contains("empty").any()


def test_scan_hash_does_not_read_sparse_files_to_the_end(root_copy, tmp_path):
    """Two 1 TiB sparse files of one size: hashing them would read 2 TiB of holes."""
    diff = next(p for p in sorted((root_copy / "overlay2").iterdir()) if (p / "diff").is_dir()) / "diff"
    for name in ("huge-a", "huge-b"):
        with open(diff / name, "wb") as f:
            f.truncate(1 << 40)
    out = tmp_path / "s.layerlab"
    r = _in_child("import warnings, layerlab as ll\nwarnings.simplefilter('ignore')\n"
                  f"ll.scan({str(root_copy)!r}, {str(out)!r}, hash=True, progress=False)\n"
                  f"print('META', ll.load({str(out)!r}).meta.get('hash_skipped'))\n", timeout=60)
    assert "META" in r.stdout and "'sparse_files': 2" in r.stdout, r.stderr[-2000:]
