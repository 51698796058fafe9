"""Live tier: a registry image read file by file (docker://) agrees with the data root it was pushed
from and with its `docker save` archive; skopeo inspect's LayersData gives the same compressed blobs;
a skopeo-made OCI layout of it reads the same; the layer cache serves a second read."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

import layerlab as ll
from layerlab.sources.imageset import layer_blobs
from layerlab.sources.registry import RegistryClient
from layerlab.sources.registry.image import LayerCache, open_registry_image
from harness.archives import skopeo
from harness.tiers import missing, require

from sources_support import assert_same_images, reads_before_pandas, rows

pytestmark = pytest.mark.live


def skopeo_layers(registry, ref: str) -> list[tuple[str, int]]:
    """(digest, compressed size) of each layer as skopeo inspect reports them: its LayersData where
    this skopeo has it (1.10+), else its Layers with the sizes of the manifest it fetches (--raw)."""
    def inspect(*extra):
        out = subprocess.run(["skopeo", "inspect", *registry.skopeo_args(), *extra, f"docker://{ref}"], check=True,
                             capture_output=True, text=True).stdout
        return json.loads(out)

    top = inspect()
    if "LayersData" in top:
        return [(l["Digest"], l["Size"]) for l in top["LayersData"]]
    raw = inspect("--raw")
    assert [l["digest"] for l in raw["layers"]] == top["Layers"]
    return [(l["digest"], l["size"]) for l in raw["layers"]]


@pytest.fixture(scope="module")
def pushed(overlay2_daemon, sample_registry):
    daemon, built = overlay2_daemon
    require(missing(programs=("skopeo",)))
    root = ll.open_root(str(daemon.data_root), progress=False)
    return daemon, built, sample_registry, root


def test_registry_image_agrees_with_data_root_and_archive(pushed, tmp_path):
    daemon, built, registry, root = pushed
    refs = built["registry"]["pushed"]
    assert len(refs) >= 4
    for ref in refs:
        with RegistryClient(docker_config=False, cache_dir=tmp_path / "meta") as client:
            inv = open_registry_image(ref, client=client, cache=LayerCache(tmp_path / "layers"), progress=False)
        iid = built["images"][ref]
        assert list(inv.images["image_id"]) == [iid]
        assert inv.images["tags"].iloc[0] == [ref]
        assert_same_images(inv, root, [iid])
        # the same image from its docker save archive
        archive = tmp_path / "one.tar"
        daemon.docker("save", "-o", archive, ref)
        saved = ll.open_source(f"docker-archive:{archive}", progress=False)
        for lid in inv.layers["layer_id"]:
            assert rows(inv, lid) == rows(saved, lid)
        # compressed blobs as skopeo sees them
        theirs = skopeo_layers(registry, ref)
        blobs = layer_blobs(inv)
        order = inv.image_layers.sort_values("position")["layer_id"]
        ours = [tuple(blobs.set_index("layer_id").loc[lid, ["blob_digest", "blob_size"]]) for lid in order]
        assert ours == theirs, ref
        layers = inv.layers.set_index("layer_id")
        assert [layers.loc[lid, "compressed"] for lid in order] == [[d] for d, _ in theirs]


def test_skopeo_layout_reads_as_the_registry_image(pushed, tmp_path):
    daemon, built, registry, root = pushed
    ref = built["registry"]["pushed"][1]
    skopeo("copy", "-q", *registry.skopeo_args(side="src"), f"docker://{ref}", f"oci:{tmp_path / 'layout'}:img")
    layout = ll.open_source(f"oci:{tmp_path / 'layout'}:img", progress=False)
    with RegistryClient(docker_config=False, cache_dir=False) as client:
        remote = open_registry_image(ref, client=client, cache=False, progress=False)
        quick = open_registry_image(ref, client=client, cache=False, progress=False, verify=False)
    assert list(layout.image_layers["layer_id"]) == list(remote.image_layers["layer_id"])
    for lid in remote.layers["layer_id"]:
        assert rows(layout, lid) == rows(remote, lid)
        assert rows(quick, lid) == rows(remote, lid)  # verify=False leaves out the diff ID check only
    assert list(layout.images["size"]) == list(remote.images["size"])
    assert sorted(map(tuple, layout.layers["compressed"])) == sorted(map(tuple, remote.layers["compressed"]))


def test_layer_cache_serves_a_second_read_and_clears(pushed, tmp_path):
    daemon, built, registry, root = pushed
    ref = built["registry"]["pushed"][2]
    cache = LayerCache(tmp_path / "layers")
    counts = []
    for _ in range(2):
        with RegistryClient(docker_config=False, cache_dir=False) as client:
            inv = open_registry_image(ref, client=client, cache=cache, progress=False)
            inv.files
            counts.append(client.request_count)
    n = len(inv.layers)
    assert cache.usage()[0] == n
    assert counts[1] <= counts[0] - n  # no layer downloaded the second time
    # bounded: a cache smaller than the image keeps at most its bound
    small = LayerCache(tmp_path / "small", max_bytes=int(layer_blobs(inv)["blob_size"].max()))
    with RegistryClient(docker_config=False, cache_dir=False) as client:
        open_registry_image(ref, client=client, cache=small, progress=False).files
    assert 0 < small.usage()[1] <= small.max_bytes
    removed = cache.clear()
    assert removed[0] == n and cache.usage() == (0, 0)


def test_diff_an_archive_against_a_registry_image(pushed, saved, capsys):
    """`layerlab diff ARCHIVE A B --against docker://REF` equals the same diff on the data root."""
    from layerlab.cli import main

    daemon, built, registry, root = pushed
    archive = saved[2]
    base = built["roles"]["base"]
    remote = next(r for r in built["registry"]["pushed"] if r.endswith(built["roles"]["overwrite"]))
    assert main(["diff", f"docker-archive:{archive}", base, remote, "--against", f"docker://{remote}", "--json"]) == 0
    across = json.loads(capsys.readouterr().out)
    assert main(["diff", str(root.source), base, remote, "--json"]) == 0
    local = json.loads(capsys.readouterr().out)
    assert across["b"]["image_id"] == local["b"]["image_id"] == built["images"][remote]
    for key in ("shared_layers", "only_a_layers", "only_b_layers", "totals"):
        assert across[key] == local[key], key
    assert across["paths"] == local["paths"]


def test_registry_layers_are_downloaded_while_pandas_is_imported(pushed):
    """docker:// starts downloading (and verifying, inflating, walking) the layers before pandas and
    pyarrow are imported, so the import overlaps the network; the rows are the data root's."""
    daemon, built, registry, root = pushed
    ref = built["registry"]["pushed"][0]
    env = {**os.environ, "LAYERLAB_LAYER_CACHE_BYTES": "0"}
    seen, imported, count, restored = reads_before_pandas(f"docker://{ref}", env=env)
    assert seen == [False] and imported and restored
    iid = built["images"][ref]
    chain = root.image_layers.loc[root.image_layers["image_id"] == iid, "layer_id"]
    assert count == int(root.files["layer_id"].isin(set(chain)).sum())
