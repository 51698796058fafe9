"""Issue 28's hostile input that is not JSON depth (test_deep_json.py): tracebacks, CPU bombs and
silent wrong results, each now a LayerlabError saying what was wrong and what to do, or a `skipped`
row / a listed problem. Images come from real tools (umoci, skopeo: images_support.py), stores from
the real captures; the hostile bytes are written by the tests, since no tool writes them."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mutations import DATAROOT_ROLES, bounded

import layerlab as ll
from layerlab.cli import main
from layerlab.errors import ArchiveError, LimitExceeded, SnapshotError
from layerlab.untrusted import MAX_SIZE, load_yaml, parse_size

REPO = Path(__file__).resolve().parents[2]
SNAPSHOT = REPO / "data" / "sample-overlay2.layerlab"


def _quiet_read(source: str):
    with bounded(60, source), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inv = ll.open_source(source, progress=False)
        inv.files, inv.skipped
    return inv


def _cli(args: list[str], capsys) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerlab: error:") and "Traceback" not in err, err
    return err


# -- sizes: one parser --------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(st.integers(0, MAX_SIZE))
def test_any_ascii_size_up_to_int64_reads_as_itself(n):
    assert parse_size(str(n)) == parse_size(n) == n
    assert parse_size(f"{n:,}") == n


@settings(max_examples=300, deadline=None)
@given(st.integers(MAX_SIZE + 1, 10 ** 60) | st.integers(max_value=-1))
def test_a_size_past_int64_or_negative_is_refused(n):
    for given_ in (n, str(n)):
        with pytest.raises(ValueError):
            parse_size(given_)


#: Digits of other scripts that int() and float() take and no size is written in.
OTHER_DIGITS = "０１２３４５６７８９٠١٢٣٤٥٦٧٨٩०१२३४५६७८९"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789", min_size=1, max_size=12), st.integers(0, 12), st.sampled_from(OTHER_DIGITS))
def test_a_size_with_a_digit_of_another_script_is_refused(digits, at, other):
    text = digits[:at] + other + digits[at:]
    assert int(text) >= 0  # Python itself would take it
    with pytest.raises(ValueError):
        parse_size(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="0123456789", min_size=1, max_size=4), min_size=2, max_size=5))
def test_a_size_in_pythons_literal_form_is_refused(groups):
    text = "_".join(groups)
    assert int(text) >= 0
    with pytest.raises(ValueError):
        parse_size(text)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), True, "1e3", "", "MB", "-1", "0x10", " ", "1.5.5"])
def test_values_that_are_no_size(value):
    with pytest.raises(ValueError):
        parse_size(value)


@pytest.mark.parametrize("value", ["４１９６５５２", "4_196_552", "9223372036854775808", str(10 ** 30)])
def test_check_rules_take_only_ascii_sizes(value):
    from layerlab.analyses import parse_bytes
    from layerlab.analyses.rules import RuleError

    with pytest.raises(RuleError, match="byte size|largest size"):
        parse_bytes(value)


@pytest.mark.parametrize("value", ["10" + "0" * 30, "４１９６５５２", "4_196_552", "-1", "lots"])
def test_fleet_find_size_is_a_usage_error(capsys, value):
    with pytest.raises(SystemExit) as e:
        main(["fleet", "find", str(SNAPSHOT), "--size", value])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--size" in err and "Traceback" not in err


@pytest.mark.parametrize("value", ["lots", "４ＧＢ", "4_000", "-5", str(10 ** 30)])
def test_a_cache_bound_in_the_environment_that_is_no_size(capsys, monkeypatch, tmp_path, value):
    monkeypatch.setenv("LAYERLAB_LAYER_CACHE_BYTES", value)
    err = _cli(["cache", "--dir", str(tmp_path)], capsys)
    assert "LAYERLAB_LAYER_CACHE_BYTES" in err


def test_a_cache_bound_with_a_unit_is_read(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("LAYERLAB_LAYER_CACHE_BYTES", "2GB")
    assert main(["cache", "--dir", str(tmp_path)]) == 0
    assert "2 GB" in capsys.readouterr().out


@pytest.fixture
def root(root_copy):
    return root_copy


@pytest.mark.parametrize("value", [str((1 << 63) - 1), str((1 << 50) + 1), "４２", "4_2"])
def test_a_layer_size_past_1_pib_or_not_ascii_is_named_not_summed(root, capsys, value):
    path = DATAROOT_ROLES["layerdb size"](root)
    for p in sorted(path.parent.parent.glob("*/size"))[:3]:  # three of them: their sum overflowed int64
        p.write_text(value)
    err = _cli(["summary", "--json", str(root)], capsys)
    assert "/size" in err and "1 PiB" in err


# -- YAML ---------------------------------------------------------------------------------------------

def _laughs(levels: int, width: int) -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "\n".join(lines) + f"\nrules:\n  highestWastedBytes: *l{levels - 1}\n"


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9))
def test_yaml_aliases_read_until_they_expand_past_the_bound(levels, width):
    text = _laughs(levels, width)
    values = sum(width ** k for k in range(1, levels + 1))  # the nodes the last anchor expands to, about
    if values * 2 < 100_000:
        assert load_yaml(text)["rules"]["highestWastedBytes"] is not None
    elif values > 100_000:
        with pytest.raises(LimitExceeded, match="billion laughs"):
            load_yaml(text)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 400))
def test_nested_yaml_reads_up_to_the_bound_and_is_refused_past_it(depth):
    text = "[" * depth + "1" + "]" * depth
    if depth < 100:
        assert load_yaml(text) is not None
    elif depth > 101:
        with pytest.raises(LimitExceeded, match="deep"):
            load_yaml(text)


@pytest.fixture
def bad_yaml(tmp_path):
    files = {
        "billion laughs": _laughs(9, 9),
        "5000-digit number": "rules:\n  highestWastedBytes: " + "9" * 5000 + "\n",
        "5000 digits, registry": "storage:\n  filesystem:\n    rootdirectory: " + "9" * 5000 + "\n",
        "nested 100k": "[" * 100_000 + "]" * 100_000,
        "not utf-8": "rules:\n  x: \udcff\n",
    }
    out = {}
    for name, text in files.items():
        out[name] = tmp_path / name.replace(" ", "-")
        out[name].write_bytes(text.encode("utf-8", "surrogateescape"))
    out["/dev/zero"] = Path("/dev/zero")
    out["a folder"] = tmp_path
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    out["a symlink loop"] = tmp_path / "loop"
    return out


YAML_CASES = ["billion laughs", "5000-digit number", "5000 digits, registry", "nested 100k", "not utf-8", "/dev/zero",
              "a folder", "a symlink loop"]


@pytest.mark.parametrize("case", YAML_CASES)
def test_hostile_rules_files(capsys, bad_yaml, case):
    with bounded(30, case):
        err = _cli(["check", "sample", "layerlab/app:1", "--rules", str(bad_yaml[case])], capsys)
    assert "Exceeds the limit" not in err  # Python's advice to raise its digit limit is not for users


@pytest.mark.parametrize("case", YAML_CASES)
def test_hostile_registry_configs(capsys, bad_yaml, case):
    with bounded(30, case):
        _cli(["registry", "storage", "--config", str(bad_yaml[case])], capsys)


# -- docker-archive -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def images(tmp_path_factory):
    from images_support import make_images

    return make_images(tmp_path_factory.mktemp("hostile-images"))


@pytest.fixture
def unpacked(images, tmp_path):
    from images_support import unpack

    return unpack(images[1], tmp_path / "u")


def test_the_untouched_archive_reads(images):
    inv = _quiet_read(f"docker-archive:{images[1]}")
    assert inv.images["tags"].iloc[0] == ["docker.io/library/app:v1"] and len(inv.skipped) == 0


ENTRY_TYPES = {
    "RepoTags a string": ("RepoTags", "app:v1"),
    "RepoTags of numbers": ("RepoTags", [1, 2]),
    "Layers a string": ("Layers", "layer.tar"),
    "Layers of objects": ("Layers", [{"a": 1}]),
    "Config a list": ("Config", ["x.json"]),
    "Config a number": ("Config", 5),
    "LayerSources a list": ("LayerSources", []),
    "Parent a number": ("Parent", 7),
}


@pytest.mark.parametrize("case", list(ENTRY_TYPES))
def test_a_manifest_entry_of_the_wrong_types_is_refused(unpacked, tmp_path, case):
    from images_support import manifest, repack, set_manifest

    key, value = ENTRY_TYPES[case]
    entries = manifest(unpacked)
    entries[0][key] = value
    set_manifest(unpacked, entries)
    archive = repack(unpacked, tmp_path / "a.tar")
    with pytest.raises(ArchiveError, match=key) as e:
        _quiet_read(f"docker-archive:{archive}")
    assert "manifest.json" in str(e.value)


CONFIG_TYPES = {"a list": [1], "rootfs a string": {"rootfs": "layers"},
                "diff_ids of numbers": {"rootfs": {"diff_ids": [1]}},
                "history an object": {"rootfs": {"diff_ids": []}, "history": {"a": 1}}, "os a number": {"os": 7}}


@pytest.mark.parametrize("case", list(CONFIG_TYPES))
def test_an_archive_config_of_the_wrong_shape_named_by_its_own_digest(unpacked, tmp_path, case):
    import hashlib

    from images_support import manifest, repack, set_manifest

    entries = manifest(unpacked)
    raw = json.dumps(CONFIG_TYPES[case]).encode()
    (unpacked / entries[0]["Config"]).unlink()
    entries[0]["Config"] = hashlib.sha256(raw).hexdigest() + ".json"
    (unpacked / entries[0]["Config"]).write_bytes(raw)
    set_manifest(unpacked, entries)
    archive = repack(unpacked, tmp_path / "a.tar")
    with pytest.raises(ArchiveError, match="config"):
        _quiet_read(f"docker-archive:{archive}")


def test_a_manifest_of_more_images_than_the_bound_is_refused_at_once(unpacked, tmp_path):
    from images_support import manifest, repack, set_manifest
    from layerlab.sources.archive import MAX_IMAGES

    set_manifest(unpacked, manifest(unpacked) * (MAX_IMAGES + 1))
    archive = repack(unpacked, tmp_path / "a.tar")
    with bounded(20, "100k entries"), pytest.raises(ArchiveError, match=f"more than the {MAX_IMAGES}"):
        _quiet_read(f"docker-archive:{archive}")


@pytest.mark.parametrize("transport", ["docker-archive:", "oci-archive:", "oci:", ""])
def test_a_symlink_loop_as_the_archive_path(tmp_path, capsys, transport):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    _cli(["summary", f"{transport}{tmp_path / 'a'}"], capsys)


#: Member names (and hard-link targets) of a layer tar; those climbing above the layer root are
#: ones Docker refuses to extract.
CLIMBING = ["../etc/passwd", "../../etc/shadow", "./a/../../etc/cron.d/x", "a/../../b", "..", "../", "/../etc/x"]


@pytest.mark.parametrize("name", CLIMBING)
def test_a_climbing_member_name_in_an_archive_is_a_skipped_row(unpacked, tmp_path, name):
    from images_support import repack, replace_layer, tar_of

    replace_layer(unpacked, 1, tar_of([("etc/", None, None), ("ok", b"fine", None), (name, b"evil", None),
                                      ("link", None, name)]))
    archive = repack(unpacked, tmp_path / "a.tar")
    inv = _quiet_read(f"docker-archive:{archive}")
    top = inv.image_layers.sort_values("position")["layer_id"].iloc[-1]
    paths = set(inv.files.loc[inv.files["layer_id"] == top, "path"])
    assert paths == {"/etc", "/ok"}, paths  # the climbing file and the link to it are left out
    reasons = list(inv.skipped.loc[inv.skipped["id"] == top, "reason"])
    assert len(reasons) == 2 and all("above the layer root" in r for r in reasons), reasons


_name_parts = st.lists(st.sampled_from(["..", ".", "", "etc", "a", "b c", "x"]), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(st.lists(_name_parts.map("/".join), min_size=1, max_size=6, unique=True))
def test_any_member_names_are_kept_inside_or_said(names):
    """For any names, a layer tar's rows are the names that stay inside (cleaned), and each name that
    climbs out is in `refused` with its reason: never a path mapped to / silently."""
    import io
    import posixpath

    from images_support import tar_of
    from layerlab.sources.layerfiles.tarheader import clean_path, climbs_out
    from layerlab.sources.layerfiles.tarstream import read_layer

    entries = [(n, b"x", None) for n in names if n.strip("/") not in ("", ".")]
    got = read_layer(io.BytesIO(tar_of(entries)).read, "L", "t")
    inside = {clean_path(n) for n, _, _ in entries if not climbs_out(n)} - {"/"}
    assert set(got.rows.frame()["path"]) == inside
    assert sorted(n for n, _ in got.rows.refused) == sorted(n for n, _, _ in entries if climbs_out(n))
    assert all(posixpath.normpath(p) == p for p in inside)


@pytest.mark.parametrize("size", [(1 << 63) - 1, (1 << 50) + 1, 10 ** 30])
def test_a_registry_descriptor_past_1_pib_is_refused(size):
    from layerlab.errors import RegistryError
    from layerlab.oci.manifest import Descriptor

    with pytest.raises(RegistryError, match="descriptor"):
        Descriptor.from_json({"digest": "sha256:" + "a" * 64, "size": size}, "app:1")
    assert Descriptor.from_json({"digest": "sha256:" + "a" * 64, "size": 1 << 50}, "app:1").size == 1 << 50


# -- OCI layouts ----------------------------------------------------------------------------------------

@pytest.fixture
def layout(images, tmp_path):
    out = tmp_path / "layout"
    shutil.copytree(images[0], out)
    return out


def _layout_sources(layout: Path, tmp_path: Path) -> list[str]:
    from harness.wild import tar_layout

    tar = tmp_path / "layout.tar"
    if tar.exists():
        tar.unlink()
    return [f"oci:{layout}", f"oci-archive:{tar_layout(layout, tar)}"]


def test_the_untouched_layout_reads(layout, tmp_path):
    for source in _layout_sources(layout, tmp_path):
        inv = _quiet_read(source)
        assert len(inv.images) == 1 and len(inv.skipped) == 0


DESCRIPTOR_SIZES = {"negative": -5, "one more": "+1", "one less": "-1", "a string": "12", "a bool": True,
                    "a float": 1.5,
                    "null": None, "past int64": 1 << 64}


@pytest.mark.parametrize("which", ["layer", "config"])
@pytest.mark.parametrize("size", list(DESCRIPTOR_SIZES))
def test_a_descriptor_size_that_is_not_the_blobs_is_refused_not_recorded(layout, tmp_path, which, size):
    from images_support import image_manifest, set_manifest_blob

    _, doc = image_manifest(layout)
    desc = doc["layers"][0] if which == "layer" else doc["config"]
    value = DESCRIPTOR_SIZES[size]
    desc["size"] = desc["size"] + int(value) if size in ("one more", "one less") else value
    set_manifest_blob(layout, doc)
    for source in _layout_sources(layout, tmp_path):
        with pytest.raises(ArchiveError, match="size|descriptor"):
            _quiet_read(source)


LAYOUT_FILES = {"missing": None, "version 2.0.0": {"imageLayoutVersion": "2.0.0"},
                "version a number": {"imageLayoutVersion": 1},
                "no version": {}, "version 1": {"imageLayoutVersion": "1"}, "a list": ["1.0.0"]}


@pytest.mark.parametrize("case", list(LAYOUT_FILES))
def test_an_oci_layout_file_missing_or_of_an_unknown_version_is_refused(layout, tmp_path, case):
    if LAYOUT_FILES[case] is None:
        (layout / "oci-layout").unlink()
    else:
        (layout / "oci-layout").write_text(json.dumps(LAYOUT_FILES[case]))
    for source in _layout_sources(layout, tmp_path):
        with pytest.raises(ArchiveError, match="oci-layout"):
            _quiet_read(source)


def test_a_later_1x_layout_version_reads(layout, tmp_path):
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.1.0"}')
    assert len(_quiet_read(f"oci:{layout}").images) == 1


MANIFEST_SHAPES = {
    "a list": lambda m: [m], "layers a string": lambda m: {**m, "layers": "x"},
    "config a list": lambda m: {**m, "config": [1]},
    "a layer a string": lambda m: {**m, "layers": ["x"]}, "annotations a list": lambda m: {**m, "layers": [
        {**m["layers"][0], "annotations": ["a"]}, *m["layers"][1:]]},
    "mediaType a number": lambda m: {**m, "mediaType": 5},
}


@pytest.mark.parametrize("case", list(MANIFEST_SHAPES))
def test_a_manifest_of_the_wrong_shape_is_refused(layout, tmp_path, case):
    from images_support import image_manifest, set_manifest_blob

    _, doc = image_manifest(layout)
    set_manifest_blob(layout, MANIFEST_SHAPES[case](doc))
    for source in _layout_sources(layout, tmp_path):
        with pytest.raises(ArchiveError):
            _quiet_read(source)


@pytest.mark.parametrize("case", list(CONFIG_TYPES))
def test_a_layout_config_of_the_wrong_shape_is_refused(layout, tmp_path, case):
    from images_support import image_manifest, put_blob, set_manifest_blob

    _, doc = image_manifest(layout)
    digest, size = put_blob(layout, json.dumps(CONFIG_TYPES[case]).encode())
    doc["config"].update(digest=digest, size=size)
    set_manifest_blob(layout, doc)
    with pytest.raises(ArchiveError, match="config"):
        _quiet_read(f"oci:{layout}")


@pytest.mark.parametrize("entry", [["x"], [5], [{"digest": 5, "size": 1}], [{"digest": "sha256:" + "a" * 64}],
                                   [{"digest": "sha256:" + "a" * 64, "size": 1, "platform": "linux"}]])
def test_an_index_entry_of_the_wrong_shape_is_refused(layout, entry):
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": entry}))
    with pytest.raises(ArchiveError, match="descriptor"):
        _quiet_read(f"oci:{layout}")


@pytest.mark.parametrize("fan", [300, 120])
def test_an_index_fan_out_is_bounded(layout, fan):
    """An index of N entries, each an index of N, each of N: N^3 visits (300^3 ended in SIGABRT)."""
    from images_support import image_manifest, put_blob
    from layerlab.sources.ocilayout import MAX_MANIFESTS

    entry, _ = image_manifest(layout)
    index_type = "application/vnd.oci.image.index.v1+json"
    child = {"mediaType": index_type, "manifests": [entry] * fan}
    digest, size = put_blob(layout, json.dumps(child).encode())
    middle = {"mediaType": index_type, "manifests": [{"mediaType": index_type, "digest": digest, "size": size}] * fan}
    digest, size = put_blob(layout, json.dumps(middle).encode())
    top = {"schemaVersion": 2, "manifests": [{"mediaType": index_type, "digest": digest, "size": size}] * fan}
    (layout / "index.json").write_text(json.dumps(top))
    with bounded(60, f"fan-out {fan}"), pytest.raises(ArchiveError, match=f"more than {MAX_MANIFESTS}"):
        _quiet_read(f"oci:{layout}")


# -- tar-split: two gzip members, a line bomb -----------------------------------------------------------

def _tarsplit_layer(root: Path) -> Path:
    return DATAROOT_ROLES["layerdb tar-split"](root)


def _read_tarsplit_root(root: Path):
    with bounded(60, "tar-split"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inv = ll.open_root(str(root), files="tar-split", progress=False)
        inv.files
    return inv


def test_a_tarsplit_of_two_gzip_members_skips_its_layer(root):
    path = _tarsplit_layer(root)
    whole = _read_tarsplit_root(root)
    once = path.read_bytes()
    path.write_bytes(once + once)  # gzip and GzipFile read this as the entries twice
    inv = _read_tarsplit_root(root)
    reasons = [r for r in inv.skipped["reason"] if "second gzip stream" in r]
    assert len(reasons) == 1
    assert not inv.files.duplicated(["layer_id", "path"]).any()
    assert len(inv.files) < len(whole.files)


def test_zero_padding_after_the_gzip_member_is_read(root):
    path = _tarsplit_layer(root)
    whole = _read_tarsplit_root(root)
    path.write_bytes(path.read_bytes() + b"\0" * 4096)
    inv = _read_tarsplit_root(root)
    assert len(inv.files) == len(whole.files) and len(inv.skipped) == len(whole.skipped)


def test_a_tarsplit_past_the_line_bound_skips_its_layer(root, monkeypatch):
    import layerlab.sources.layerfiles.tarsplit as tarsplit

    path = _tarsplit_layer(root)
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    monkeypatch.setattr(tarsplit, "MAX_LINES", 1000)
    filler = b'{"type":2,"payload":null}\n' * 2000  # empty segments: a line bomb costs nothing to write
    path.write_bytes(gzip.compress(b"".join(lines[:-1]) + filler + lines[-1]))
    inv = _read_tarsplit_root(root)
    assert [r for r in inv.skipped["reason"] if "more than 1000 lines" in r]


def test_raw_segments_past_their_bound_skip_the_layer(root, monkeypatch):
    import layerlab.sources.layerfiles.tarsplit as tarsplit

    path = _tarsplit_layer(root)
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    monkeypatch.setattr(tarsplit, "PENDING_LIMIT", 4096)
    payload = json.dumps({"type": 2, "payload": "QUFB" * 2000}).encode() + b"\n"
    path.write_bytes(gzip.compress(b"".join(lines[:1]) + payload + b"".join(lines[1:])))
    inv = _read_tarsplit_root(root)
    assert [r for r in inv.skipped["reason"] if "raw segments" in r]


# -- snapshots ------------------------------------------------------------------------------------------

@pytest.fixture
def snap(tmp_path):
    out = tmp_path / "s.layerlab"
    shutil.copytree(SNAPSHOT, out)
    return out


def _load_all(path: Path):
    inv = ll.load(str(path))
    for name in ("images", "layers", "image_layers", "history", "containers", "files", "skipped"):
        getattr(inv, name)
    return inv


def _edit(path: Path, frame: str, column: str, change) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path / f"{frame}.parquet")
    i = table.column_names.index(column)
    values = pa.array(change(table.column(column).to_pylist()), type=table.schema.field(i).type)
    table = table.set_column(i, column, values)
    pq.write_table(table, path / f"{frame}.parquet")


def test_the_untouched_snapshot_reads(snap):
    assert len(_load_all(snap).images) == 17


@pytest.mark.parametrize("version", [True, False, 1.0, "1", [1], None, 0, 5])
def test_a_format_version_of_another_type_is_refused(snap, version):
    meta = json.loads((snap / "meta.json").read_text())
    meta["format_version"] = version
    (snap / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(SnapshotError, match="format"):
        _load_all(snap)


def _integer_columns():
    from layerlab.frames import schema
    from layerlab.frames.schema import FRAME_NAMES

    ints = (schema.INT, schema.NULLABLE_INT)
    return [(f, c.name) for f in FRAME_NAMES for c in schema.FRAMES[f] if c.logical in ints]


@pytest.mark.parametrize("frame, column", _integer_columns())
def test_a_negative_figure_in_any_integer_column_is_refused(snap, frame, column):
    import pyarrow.parquet as pq

    if pq.read_table(snap / f"{frame}.parquet").num_rows == 0:
        pytest.skip(f"the sample's {frame} frame has no rows")
    _edit(snap, frame, column, lambda values: [-7] + values[1:])
    with pytest.raises(SnapshotError, match="negative") as e:
        _load_all(snap)
    assert f"{frame}.parquet" in str(e.value)


@pytest.mark.parametrize("frame, factor", [("layers", 1000), ("images", 1000), ("image_layers", 1000), ("layers", 2)])
def test_sizes_that_disagree_with_the_declared_totals_are_refused(snap, frame, factor):
    _edit(snap, frame, "size", lambda values: [v * factor for v in values])
    with pytest.raises(SnapshotError, match="add up|gives layer"):
        _load_all(snap)


@pytest.mark.parametrize("frame", ["layers", "images", "image_layers", "files", "history"])
def test_a_truncated_frame_file_is_a_snapshot_error(snap, capsys, frame):
    data = (snap / f"{frame}.parquet").read_bytes()
    (snap / f"{frame}.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(SnapshotError, match=f"{frame}.parquet"):
        _load_all(snap)
    # what `summary` reads (a truncated layers.parquet was a traceback there)
    if frame in ("layers", "images", "image_layers"):
        _cli(["summary", str(snap)], capsys)


def test_a_snapshot_declaring_millions_of_rows_in_a_small_file_is_refused_unread(snap, capsys):
    """30 million copies of one row compress to 1.5 MB; reading them would take gigabytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(snap / "files.parquet")
    rows = 30_000_000
    pq.write_table(table.take(pa.array([0] * rows)), snap / "files.parquet", compression="zstd")
    meta = json.loads((snap / "meta.json").read_text())
    meta["rows"]["files"] = rows
    (snap / "meta.json").write_text(json.dumps(meta))
    with bounded(20, "30M rows"), pytest.raises(SnapshotError, match="less than a byte a row"):
        _load_all(snap)


def test_a_declared_row_count_is_checked_before_the_rows_are_read(snap, monkeypatch):
    meta = json.loads((snap / "meta.json").read_text())
    meta["rows"]["files"] += 1
    (snap / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(SnapshotError, match="declares"):
        _load_all(snap)


# -- output ---------------------------------------------------------------------------------------------

def _layerlab(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "layerlab.cli", *args], capture_output=True, text=True, timeout=120,
                          **kwargs)


@pytest.mark.parametrize("args", [["summary", "sample"], ["summary", "--json", "sample"],
                                  ["check", "sample", "layerlab/app:1"]])
def test_writing_to_a_full_disk_is_one_error_line(args):
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "layerlab.cli", *args], stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("layerlab: error: cannot write the output"), done.stderr
    assert "Traceback" not in done.stderr


def test_a_closed_stdout_is_one_error_line():
    done = subprocess.run(f"{sys.executable} -m layerlab.cli summary sample >&-", shell=True, capture_output=False,
                          stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 2 and "standard output is closed" in done.stderr and "Traceback" not in done.stderr


def test_a_pipe_closed_early_is_still_quiet():
    done = subprocess.run(f"{sys.executable} -m layerlab.cli summary sample | head -1", shell=True, capture_output=True,
                          text=True, timeout=120)
    assert "Traceback" not in done.stderr


# A report folder gets no suffix, so 250 bytes is a name it can hold: that case is the snapshot's only.
_NAMES = ("256 bytes", "a path of 6000 bytes", "250 bytes and the suffixes")


@pytest.mark.parametrize(("command", "name"), [(c, n) for c in ("scan", "report") for n in _NAMES
                                              if not (c == "report" and n.startswith("250"))])
def test_an_output_name_the_kernel_cannot_hold(root, tmp_path, capsys, command, name):
    given_ = {"256 bytes": "n" * 256, "a path of 6000 bytes": "/".join(["d" * 200] * 30),
              "250 bytes and the suffixes": "n" * 250}[name]
    err = _cli([command, str(root) if command == "scan" else "sample", "-o", str(tmp_path / given_)], capsys)
    assert "-o" in err and "bytes" in err
    assert not list(tmp_path.iterdir()), "nothing is written before the name is checked"


# -- permissions, object stores, registries -------------------------------------------------------------

@pytest.fixture
def locked_root(root):
    """The capture owned by nobody, mode 0710 (group may enter, others nothing), as many hosts keep
    /var/lib/docker."""
    subprocess.run(["chown", "-R", "nobody:nogroup", str(root)], check=True)
    os.chmod(root, 0o710)
    return root


#: root without the capabilities that pass permission checks: the file modes decide, as for a user.
NO_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


@pytest.mark.parametrize("command", [["summary"], ["summary", "--json"], ["scan", "-o", "/tmp/never.layerlab"]])
def test_a_data_root_the_user_may_not_enter(locked_root, command):
    from harness.tiers import missing, require

    require(missing(programs=("setpriv",)))
    args = [command[0], str(locked_root), *command[1:]]
    done = subprocess.run([*NO_DAC, sys.executable, "-m", "layerlab.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd="/tmp")
    assert done.returncode == 2 and done.stderr.startswith("layerlab: error: permission denied"), done.stderr
    assert str(locked_root) in done.stderr and "sudo layerlab scan" in done.stderr
    assert not os.path.exists("/tmp/never.layerlab")


def test_an_s3_snapshot_without_credentials(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=str(tmp_path), AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    done = _layerlab("summary", "s3://layerlab-nobucket/host.layerlab", env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "AWS_ACCESS_KEY_ID" in done.stderr


@pytest.mark.parametrize("host", ["127.0.0.1:999999", "localhost:0", "[::1]:70000", "example.com:99999999999999999999"])
@pytest.mark.parametrize("command", [["registry", "tags", "{h}/app"], ["registry", "inspect", "{h}/app:1"],
                                     ["summary", "docker://{h}/app:1"], ["registry", "catalog", "{h}"]])
def test_a_registry_port_out_of_range(capsys, host, command):
    err = _cli([a.format(h=host) for a in command], capsys)
    assert "is not a port" in err


# -- simulate_writes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("write", [("append", "/data/big.bin", 10 ** 30), ("append", "/data/big.bin", float("nan")),
                                   ("create", "/new", -1), ("create", "/new", True),
                                   ("chmod", "/data/big.bin", 0o77777),
                                   ("append", "/data/big.bin", "10"), ("rename", "/opt/app/conf", 5),
                                   ("append", "relative", 1), 5, ("append",),
                                   {"op": "append", "path": "/x", "size": 1}])
def test_simulate_writes_refuses_what_it_cannot_model(write):
    from layerlab.analyses.drivers.cow_model import WriteError

    with pytest.raises(WriteError):
        ll.simulate_writes("sample", "layerlab/app:1", [write])


def test_simulate_writes_takes_the_largest_write():
    from layerlab.analyses.drivers.cow_model import MAX_WRITE

    out = ll.simulate_writes("sample", "layerlab/app:1", [("create", "/huge", MAX_WRITE)], driver="overlay2")
    assert int(out["apparent_bytes"].iloc[-1]) == MAX_WRITE


# -- rules CSV -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("rows", [100_000, 2001])
def test_a_rules_csv_past_the_bound_is_refused_at_once(tmp_path, rows):
    from layerlab.analyses.hygiene.bloat import BloatRulesError, bloat_rules

    path = tmp_path / "rules.csv"
    path.write_text("category,pattern,fix\n" + "".join(f"c{i},/x{i}/*,f\n" for i in range(rows)))
    with bounded(20, "rules"), pytest.raises(BloatRulesError, match="more than 2000 rules"):
        bloat_rules(path)


def test_a_rules_csv_at_the_bound_is_read(tmp_path):
    from layerlab.analyses.hygiene.bloat import MAX_RULES, bloat_rules

    path = tmp_path / "rules.csv"
    path.write_text("category,pattern,fix\n" + "".join(f"c{i},/x{i}/*,f\n" for i in range(MAX_RULES)))
    assert len(bloat_rules(path)) >= MAX_RULES


@pytest.mark.parametrize("path", ["/dev/zero", "/proc/self/status"])
def test_a_rules_csv_that_is_no_file(path):
    from layerlab.analyses.hygiene.bloat import BloatRulesError, bloat_rules

    with bounded(20, path), pytest.raises(BloatRulesError):
        bloat_rules(path)


# -- registry storage ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def registry_storage(tmp_path_factory):
    from harness.captures import unpack_capture
    from harness.registry import PROGRAM, Registry
    from harness.tiers import missing, require, require_root

    require_root("tar", "xz")
    require(missing(programs=(PROGRAM,)))
    base = tmp_path_factory.mktemp("regstore")
    storage = unpack_capture("registry", base / "storage")
    return storage, Registry(base / "work", storage=storage)


def _eligible(output: str) -> list[str]:
    import re

    return sorted(set(re.findall(r"blob eligible for deletion: (\S+)", output)))


def _damage_blob(storage: Path, tmp_path: Path, how: str) -> tuple[Path, str]:
    copy = tmp_path / "storage"
    shutil.copytree(storage, copy, symlinks=True)
    data = sorted(copy.rglob("blobs/sha256/*/*/data"))[0]
    data.unlink()
    if how == "FIFO":
        os.mkfifo(data)
    elif how == "symlink":
        data.symlink_to("/etc/passwd")
    return copy, "sha256:" + data.parent.name


@pytest.mark.parametrize("how", ["missing", "FIFO", "symlink"])
def test_blob_data_missing_or_not_a_file_is_a_problem_listed(registry_storage, tmp_path, how):
    from layerlab.sources.registry.storage import audit_storage

    storage, reg = registry_storage
    copy, digest = _damage_blob(storage, tmp_path, how)
    with bounded(60, how):
        audit = audit_storage(copy)
    said = [p for p in audit.problems if digest in p]
    assert len(said) == 1 and (("no data file" in said[0]) if how == "missing" else (how in said[0]))
    assert digest not in set(audit.blobs["digest"])
    # the GC plans still say what distribution's own garbage-collect does (a damaged copy, never the capture)
    assert _eligible(reg.garbage_collect(dry_run=True, storage=copy)) == sorted(audit.gc.blobs)


@pytest.mark.parametrize("content", ["", "\n", "   "])
def test_an_empty_tag_link_stops_delete_untagged_as_gc_does(registry_storage, tmp_path, content):
    from layerlab.sources.registry.storage import audit_storage

    storage, reg = registry_storage
    copy = tmp_path / "storage"
    shutil.copytree(storage, copy, symlinks=True)
    sorted(copy.rglob("_manifests/tags/*/current/link"))[0].write_text(content)
    audit = audit_storage(copy)
    with pytest.raises(RuntimeError, match="invalid checksum digest format"):
        reg.garbage_collect(dry_run=True, delete_untagged=True, storage=copy)
    assert audit.gc_untagged.blobs == [] and "invalid checksum digest format" in audit.gc_untagged.error
    assert any("--delete-untagged" in p for p in audit.problems)
