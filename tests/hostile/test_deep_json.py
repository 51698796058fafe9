"""JSON nested 100k deep (and just past the bound) wherever layerlab reads JSON from input: a clear
LayerlabError naming the file, or a skipped row, never a RecursionError (issue 28 found it in 18
places). Every reader goes through ``layerlab.untrusted.load_json``; the Hypothesis properties hold
the loader itself, the cases below hold that each reader uses it.

The stores are the real captures and images real tools made (umoci, skopeo); the deep documents are
written by the test, since no tool writes them."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
import warnings
from pathlib import Path

import pytest
from harness.scripted import Scripted
from hypothesis import given, settings
from hypothesis import strategies as st
from mutations import DATAROOT_ROLES, bounded, read_damaged_root, write

import layerlab as ll
from layerlab.errors import LayerlabError, LimitExceeded
from layerlab.untrusted import MAX_DEPTH, json_depth, load_json

DEEP = 100_000


def nested(depth: int, kind: str = "array") -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


#: The deep documents every reader is given: 100k deep arrays, objects, and one just past the bound.
BODIES = {"arrays 100k deep": nested(DEEP), "objects 100k deep": nested(DEEP, "object"),
          f"arrays {MAX_DEPTH + 1} deep": nested(MAX_DEPTH + 1)}


# -- the loader: properties ---------------------------------------------------------------------------

def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=40)


@settings(max_examples=300, deadline=None)
@given(_values)
def test_json_depth_is_the_depth_of_any_document(value):
    # strings holding brackets, quotes and escapes ("[", "\"]") do not count
    text = json.dumps(value)
    assert json_depth(text) == json_depth(text.encode()) == _depth(value)
    assert load_json(text) == value or value != value


@settings(max_examples=300, deadline=None)
@given(depth=st.integers(0, 3 * MAX_DEPTH), kinds=st.lists(st.sampled_from(["[", '{"k":']), min_size=1),
       leaf=st.text(alphabet='[]{}"\\,:x', max_size=12))
def test_any_nesting_reads_up_to_the_bound_and_is_refused_past_it(depth, kinds, leaf):
    opens = [kinds[i % len(kinds)] for i in range(depth)]
    closes = "".join("]" if o == "[" else "}" for o in reversed(opens))
    text = "".join(opens) + json.dumps(leaf) + closes
    if depth <= MAX_DEPTH:
        assert load_json(text) == json.loads(text)
    else:
        with pytest.raises(LimitExceeded, match=f"more than {MAX_DEPTH} deep"):
            load_json(text)


@pytest.mark.parametrize("body", list(BODIES))
def test_the_loader_refuses_deep_documents_as_bytes_and_text_even_deep_in_the_stack(body):
    data = BODIES[body]
    for given_ in (data, data.decode()):
        with pytest.raises(LimitExceeded) as e:
            load_json(given_, "the test's document")
        assert isinstance(e.value, ValueError) and "the test's document" in str(e.value)

    def recurse(n):  # called near the interpreter's recursion limit: still a clear error
        return recurse(n - 1) if n else load_json(nested(MAX_DEPTH))

    with pytest.raises(LimitExceeded):
        recurse(sys.getrecursionlimit() - 120)


def test_the_loader_refuses_a_document_past_its_size_bound():
    with pytest.raises(LimitExceeded, match="byte limit"):
        load_json(b"[" + b"1," * 100 + b"1]", limit=50)


# -- a data root --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def root(tmp_path_factory):
    from harness.captures import unpack_capture
    from harness.tiers import require_root

    require_root("tar")
    return unpack_capture("overlay2", tmp_path_factory.mktemp("deep") / "root")


@pytest.mark.parametrize("body", list(BODIES))
@pytest.mark.parametrize("role", [r for r in DATAROOT_ROLES if r != "layerdb tar-split"])
def test_deep_json_in_a_data_root(root, role, body):
    read_damaged_root(root, DATAROOT_ROLES[role](root), write(BODIES[body]), f"{role} as {body}")


@pytest.mark.parametrize("body", list(BODIES))
def test_a_deep_tarsplit_line_skips_its_layer(root, body):
    from mutations import damaged

    path = DATAROOT_ROLES["layerdb tar-split"](root)
    good = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    deep = gzip.compress(b"".join(good[:1] + [BODIES[body] + b"\n"] + good[1:]))
    with damaged(path, write(deep)), bounded(30, body), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inv = ll.open_root(str(root), files="tar-split", progress=False)
        inv.files
        reasons = [r for r in inv.skipped["reason"] if "tar-split" in r]
    assert len(reasons) == 1 and "deep" in reasons[0], list(inv.skipped["reason"])


# -- a snapshot and a fleet ---------------------------------------------------------------------------

@pytest.mark.parametrize("body", list(BODIES))
def test_deep_json_as_a_snapshots_meta(tmp_path, body):
    import shutil

    snap = tmp_path / "s.layerlab"
    shutil.copytree(Path(ll.__file__).parent.parent / "data" / "sample-overlay2.layerlab", snap)
    (snap / "meta.json").write_bytes(BODIES[body])
    with pytest.raises(ll.LayerlabError, match="meta.json"):
        ll.load(str(snap))
    from layerlab.cli import main

    assert main(["summary", str(snap)]) == 2


@pytest.mark.parametrize("body", list(BODIES))
def test_deep_json_as_a_fleet_snapshots_meta(tmp_path, body):
    import shutil

    from layerlab.fleet.snapshots import inspect as inspect_snapshot

    snap = tmp_path / "s.layerlab"
    shutil.copytree(Path(ll.__file__).parent.parent / "data" / "sample-overlay2.layerlab", snap)
    (snap / "meta.json").write_bytes(BODIES[body])
    got = inspect_snapshot(str(snap))
    assert got["meta"] is None and "deep" in got["reason"]


@pytest.fixture(scope="module")
def containerd_root(tmp_path_factory):
    from harness.captures import unpack_capture
    from harness.tiers import require_root

    require_root("tar", "xz")
    return unpack_capture("containerd", tmp_path_factory.mktemp("deep-ctrd") / "root")


@pytest.mark.parametrize("body", list(BODIES))
@pytest.mark.parametrize("role", ["manifest blob", "config blob"])
def test_deep_json_in_a_containerd_store(containerd_root, role, body):
    from test_mutated_containerd import ROLES

    path = ROLES[role](containerd_root)
    read_damaged_root(containerd_root, path, write(BODIES[body]), f"{role} as {body}", names=(path.name,))


# -- images read from archives and layouts ----------------------------------------------------------

@pytest.fixture(scope="module")
def images(tmp_path_factory):
    from images_support import make_images

    return make_images(tmp_path_factory.mktemp("deep-images"))


def _read(source: str):
    with bounded(60, source), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inv = ll.open_source(source, progress=False)
        inv.files


@pytest.mark.parametrize("body", list(BODIES))
@pytest.mark.parametrize("member", ["manifest.json", "config"])
def test_deep_json_in_a_docker_archive(images, tmp_path, member, body):
    from images_support import manifest, repack, set_manifest, unpack

    folder = unpack(images[1], tmp_path / "u")
    if member == "manifest.json":
        (folder / "manifest.json").write_bytes(BODIES[body])
    else:  # a config named by its own digest, so only its content can refuse it
        entries = manifest(folder)
        (folder / entries[0]["Config"]).unlink()
        entries[0]["Config"] = hashlib.sha256(BODIES[body]).hexdigest() + ".json"
        (folder / entries[0]["Config"]).write_bytes(BODIES[body])
        set_manifest(folder, entries)
    archive = repack(folder, tmp_path / "deep.tar")
    with pytest.raises(LayerlabError, match="deep") as e:
        _read(f"docker-archive:{archive}")
    assert str(archive) in str(e.value)


@pytest.mark.parametrize("body", list(BODIES))
@pytest.mark.parametrize("member", ["index.json", "oci-layout", "manifest", "config"])
def test_deep_json_in_an_oci_layout(images, tmp_path, member, body):
    import shutil

    from images_support import image_manifest, put_blob, set_manifest_blob

    layout = tmp_path / "layout"
    shutil.copytree(images[0], layout)
    if member in ("index.json", "oci-layout"):
        (layout / member).write_bytes(BODIES[body])
    elif member == "manifest":
        digest, size = put_blob(layout, BODIES[body])
        index = json.loads((layout / "index.json").read_text())
        index["manifests"][0].update(digest=digest, size=size)
        (layout / "index.json").write_text(json.dumps(index))
    else:
        _, doc = image_manifest(layout)
        digest, size = put_blob(layout, BODIES[body])
        doc["config"].update(digest=digest, size=size)
        set_manifest_blob(layout, doc)
    for source in (f"oci:{layout}", f"oci-archive:{_tar(layout, tmp_path / 'l.tar')}"):
        with pytest.raises(LayerlabError, match="deep"):
            _read(source)


def _tar(layout: Path, out: Path) -> Path:
    from harness.wild import tar_layout

    if out.exists():
        out.unlink()
    return tar_layout(layout, out)


# -- registries, docker's config.json, credential helpers --------------------------------------------

def _client():
    from layerlab.sources.registry import RegistryClient

    return RegistryClient(docker_config=False, cache_dir=False, retries=0, timeout=5, deadline=20)


JSON = {"Content-Type": "application/json"}
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.mark.parametrize("body", list(BODIES))
@pytest.mark.parametrize("answer", ["tags", "catalog", "manifest", "token", "error body"])
def test_deep_json_from_a_registry(body, answer):
    data = BODIES[body]
    with Scripted("127.0.0.1") as s:
        if answer == "tags":
            s.route(r"/tags/list", lambda srv, h: (200, JSON, data))
        elif answer == "catalog":
            s.route(r"/_catalog", lambda srv, h: (200, JSON, data))
        elif answer == "manifest":
            s.route(r"/manifests/", lambda srv, h: (200, {"Content-Type": MANIFEST}, data))
        elif answer == "token":
            s.route(r"^/token", lambda srv, h: (200, JSON, data))
            s.route(r"^/v2/", lambda srv, h: (401, {"WWW-Authenticate": f'Bearer realm="{srv.url}/token"'}, b"{}"))
        else:
            s.route(r"/tags/list", lambda srv, h: (400, JSON, data[:60_000]))
        with _client() as c, bounded(30, answer), pytest.raises(LayerlabError) as e:
            if answer == "catalog":
                c.catalog(s.host)
            elif answer == "manifest":
                c.get_manifest(f"{s.host}/app:1")
            else:
                c.tags(f"{s.host}/app")
    assert "Recursion" not in repr(e.value)


@pytest.mark.parametrize("body", list(BODIES))
def test_deep_json_as_dockers_config_json(tmp_path, body):
    from layerlab.errors import AuthError
    from layerlab.sources.registry.auth import DockerConfig

    (tmp_path / "config.json").write_bytes(BODIES[body])
    with pytest.raises(AuthError, match="config.json"):
        DockerConfig(tmp_path / "config.json").credentials("h")


@pytest.mark.parametrize("body", list(BODIES))
def test_deep_json_from_a_credential_helper(tmp_path, monkeypatch, body):
    from layerlab.errors import AuthError
    from layerlab.sources.registry.auth import DockerConfig

    (tmp_path / "answer.json").write_bytes(BODIES[body])
    helper = tmp_path / "bin" / "docker-credential-deep"
    helper.parent.mkdir()
    helper.write_text(f"#!/bin/sh\ncat >/dev/null\ncat {tmp_path / 'answer.json'}\n")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}:{os.environ['PATH']}")
    (tmp_path / "config.json").write_text('{"credsStore": "deep"}')
    with pytest.raises(AuthError, match="not JSON"):
        DockerConfig(tmp_path / "config.json").credentials("h")
