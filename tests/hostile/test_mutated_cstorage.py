"""Every kind of metadata of a real podman/buildah store damaged every way, and each record's fields
given other JSON types: a clear error or a skipped row, never a traceback or a hang (the data-root
twin is test_mutated_dataroot.py)."""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path

import pytest
from harness import podman as hp
from harness.tiers import missing, require
from mutations import bounded, damaged, write
from test_mutated_dataroot import MUTATIONS

import layerlab as ll
from layerlab.analyses.summary import summary_dict


@pytest.fixture(scope="module", params=["overlay", "vfs"])
def root(request, tmp_path_factory):
    require(missing(root=True, programs=hp.PROGRAMS))
    tmp = tmp_path_factory.mktemp(f"mutated-cstorage-{request.param}")
    store = hp.build_images(hp.make_store(tmp / "made", request.param), tmp / "ctx")
    store.stop()
    copy = tmp / "root"
    subprocess.run(["cp", "-a", str(store.root), str(copy)], check=True)
    return copy, request.param


def _config(root: Path, driver: str, key: str) -> Path:
    images = json.loads((root / f"{driver}-images" / "images.json").read_text())
    image = next(i for i in images if "localhost/app:1" in i.get("names", []))
    from layerlab.sources.containers_storage.store import big_data_name

    return root / f"{driver}-images" / image["id"] / big_data_name(key.format(id=image["id"]))


ROLES = {
    "layers.json": lambda root, d: root / f"{d}-layers" / "layers.json",
    "images.json": lambda root, d: root / f"{d}-images" / "images.json",
    "containers.json": lambda root, d: root / f"{d}-containers" / "containers.json",
    "image config": lambda root, d: _config(root, d, "sha256:{id}"),
    "image manifest": lambda root, d: _config(root, d, "manifest"),
    "podman's state db": lambda root, d: root / "libpod" / "bolt_state.db",
    "a tar-split": lambda root, d: sorted((root / f"{d}-layers").glob("*.tar-split.gz"))[-1],
}


def _read(root: Path, path: Path, mutate, what: str) -> None:
    with damaged(path, mutate), bounded(30, what), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            inv = ll.open_source(str(root), progress=False)
            for name in ("tar-split", "walk"):  # every layer both ways: a damaged tar-split is read either way
                from layerlab.sources.containers_storage.store import open_containers_storage

                other = open_containers_storage(str(root), files=name, progress=False)
                other.files, other.skipped
            inv.files, inv.containers, inv.skipped
            summary_dict(inv)
        except ll.LayerlabError as e:
            assert str(path) in str(e) or str(path.parent) in str(e), f"the error does not name the file: {e}"


@pytest.mark.parametrize("mutation", list(MUTATIONS))
@pytest.mark.parametrize("role", list(ROLES))
def test_damaged_store_metadata_is_a_clear_error_or_skipped(root, role, mutation):
    root, driver = root
    _read(root, ROLES[role](root, driver), MUTATIONS[mutation], f"{role} as {mutation}")


#: One field of the first record of each JSON list, of another JSON type than containers/storage writes.
FIELDS = {
    "layers.json": ["id", "parent", "diff-digest", "diff-size", "compressed-diff-digest", "created", "flags", "names"],
    "images.json": ["id", "names", "digest", "layer", "big-data-names", "big-data-sizes", "created", "metadata"],
    "containers.json": ["id", "names", "image", "layer", "created", "metadata"],
}
ODD = {"a number": 5, "a list": [1, "x"], "an object": {"a": 1}, "null": None, "a string": "../x"}


@pytest.mark.parametrize("odd", list(ODD))
@pytest.mark.parametrize("file", list(FIELDS))
def test_record_fields_of_other_types_are_skipped_or_read(root, file, odd):
    root, driver = root
    path = ROLES[file](root, driver)
    for field in FIELDS[file]:
        records = json.loads(path.read_text())
        for rec in records:  # every record: the top layer, the base, the images and containers alike
            rec[field] = ODD[odd]
        _read(root, path, write(json.dumps(records).encode()), f"{file} {field} as {odd}")
