"""Inspecting images pushed by a real daemon to a real registry; skopeo is the peer for every figure."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from registry_support import skopeo_json
from layerlab.errors import ImageNotFound, ManifestNotFound
from layerlab.frames.schema import validate
from layerlab.sources.registry import registry_frames
from layerlab.oci.manifest import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST

pytestmark = pytest.mark.live


def skopeo_image(ref: str, arch: str | None = None) -> tuple[str, list[tuple[str, int, str]]]:
    """(manifest digest, [(layer digest, size, media type)]) for ref as skopeo resolves it."""
    extra = [f"--override-arch={arch}"] if arch else []
    top = skopeo_json("--tls-verify=false", *extra, f"docker://{ref}")
    raw = skopeo_json("--tls-verify=false", "--raw", f"docker://{ref}")
    if "manifests" in raw:
        child = next(m for m in raw["manifests"] if m["platform"]["architecture"] == (arch or "amd64"))
        repo = ref.rsplit(":", 1)[0]
        raw = skopeo_json("--tls-verify=false", "--raw", f"docker://{repo}@{child['digest']}")
        digest = child["digest"]
    else:
        digest = top["Digest"]
    layers = [(l["digest"], l["size"], l["mediaType"]) for l in raw["layers"]]
    assert [l[0] for l in layers] == top["Layers"]
    return top["Digest"], digest, layers


@pytest.mark.parametrize("key, media_type", [
    ("base", DOCKER_MANIFEST), ("app", DOCKER_MANIFEST), ("app_oci", OCI_MANIFEST),
    ("multi", DOCKER_LIST), ("multi_oci", OCI_INDEX),
])
def test_inspect_agrees_with_skopeo(live, client, key, media_type):
    _, refs = live
    info = client.inspect(refs[key])
    assert info.media_type == media_type
    arches = ["amd64", "arm64"] if key.startswith("multi") else ["amd64"]
    assert sorted(i.platform for i in info.images) == sorted(f"linux/{a}" for a in arches)
    for arch in arches:
        top_digest, manifest_digest, layers = skopeo_image(refs[key], arch)
        assert info.digest == top_digest
        image = next(i for i in info.images if i.platform == f"linux/{arch}")
        assert image.digest == manifest_digest
        assert [(l.digest, l.size, l.media_type) for l in image.layers] == layers
        assert image.size == sum(l[1] for l in layers)
        config = skopeo_json("--tls-verify=false", "--config", f"--override-arch={arch}", f"docker://{refs[key]}")
        assert image.history == config.get("history", [])


def test_inspect_by_digest_and_platform(live, client):
    _, refs = live
    info = client.inspect(refs["multi"], platform="linux/arm64")
    assert [i.platform for i in info.images] == ["linux/arm64"]
    by_digest = client.inspect(refs["multi"].rsplit(":", 1)[0] + "@" + info.images[0].digest)
    assert by_digest.digest == info.images[0].digest
    assert by_digest.images[0].layers == info.images[0].layers
    with pytest.raises(ImageNotFound, match="linux/amd64, linux/arm64"):
        client.inspect(refs["multi"], platform="linux/s390x")
    with pytest.raises(ManifestNotFound, match="not found"):
        client.inspect(refs["app"].rsplit(":", 1)[0] + ":no-such-tag")


def test_cli_inspect_json(live):
    _, refs = live
    out = subprocess.run([sys.executable, "-m", "layerlab.cli", "registry", "inspect", refs["multi_oci"], "--json",
                          "--no-cache"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"reference", "digest", "media_type", "manifests"}
    assert data["digest"] == skopeo_json("--tls-verify=false", f"docker://{refs['multi_oci']}")["Digest"]
    for m in data["manifests"]:
        assert set(m) == {"platform", "digest", "media_type", "config_digest", "size", "layers"}
        assert m["size"] == sum(l["size"] for l in m["layers"])
    missing = subprocess.run([sys.executable, "-m", "layerlab.cli", "registry", "inspect",
                              refs["app"] + "-nope", "--no-cache"], capture_output=True, text=True)
    assert missing.returncode == 2 and "not found" in missing.stderr and "Traceback" not in missing.stderr


def test_tags_and_catalog(live, client):
    reg, refs = live
    expected = subprocess.run(["skopeo", "list-tags", "--tls-verify=false", f"docker://{refs['many']}"],
                              capture_output=True, text=True, check=True)
    assert sorted(client.tags(refs["many"])) == sorted(json.loads(expected.stdout)["Tags"])
    assert len(client.tags(refs["many"])) == 12
    # distribution paginates the catalog with Link headers; three per page forces several pages.
    before = client.request_count
    repos = client.catalog(reg.host, page_size=3)
    assert client.request_count - before >= 3
    assert repos == sorted(repos) and len(repos) == len(set(repos))
    assert {"layerlab/app", "layerlab/multi", "team/app", "layerlab/many"} <= set(repos)
    out = subprocess.run([sys.executable, "-m", "layerlab.cli", "registry", "tags", refs["many"], "--json"],
                         capture_output=True, text=True)
    assert sorted(json.loads(out.stdout)["tags"]) == sorted(json.loads(expected.stdout)["Tags"])


def test_frames_and_sharing(live, client):
    _, refs = live
    asked = [refs[k] for k in ("base", "app", "app2", "team_app", "multi", "app_oci")] + [refs["app"] + "-gone"]
    frames = registry_frames(asked, client, progress=False)
    for df, kind in ((frames.manifests, "manifests"), (frames.layers, "registry_layers"),
                     (frames.history, "registry_history"), (frames.blobs, "registry_blobs"),
                     (frames.skipped, "skipped")):
        validate(df, kind)
    assert list(frames.skipped["id"]) == [refs["app"] + "-gone"]
    assert len(frames.manifests) == 7  # the list has two platforms
    # Figures from skopeo, independently: per-image sizes and the distinct blobs.
    per_image, distinct = 0, {}
    for ref in asked[:-1]:
        for arch in (["amd64", "arm64"] if ref == refs["multi"] else ["amd64"]):
            _, _, layers = skopeo_image(ref, arch)
            per_image += sum(size for _, size, _ in layers)
            distinct.update({d: size for d, size, _ in layers})
    assert int(frames.manifests["size"].sum()) == per_image
    assert frames.dedup_ratio == pytest.approx(per_image / sum(distinct.values()))
    base_layer = frames.layers[frames.layers["reference"] == refs["base"]]
    shared = frames.blobs.set_index("digest").loc[base_layer["digest"].iloc[0]]
    # The base layer is in base, app:1, app:2, team/app:1 and app-oci:1: four repositories.
    assert shared["reference_count"] == 5 and shared["repository_count"] == 4
    hist = frames.history[frames.history["reference"] == refs["app"]]
    assert hist["position"].dropna().tolist() == list(range(len(skopeo_image(refs["app"])[2])))


def test_cache_serves_content_addressed_bodies(live, tmp_path):
    from layerlab.sources.registry import RegistryClient

    _, refs = live
    with RegistryClient(docker_config=False, cache_dir=tmp_path) as c:
        first = c.inspect(refs["multi"])
        cold = c.request_count
        again = c.inspect(refs["multi"])
        # Only the tag is asked again; child manifests and configs come from the cache.
        assert c.request_count - cold == 1
        assert again.to_dict() == first.to_dict()


def test_local_sizes_join_through_distribution_metadata(live, daemon, client):
    from layerlab import open_root
    from layerlab.analyses.drivers.compressed import local_sizes

    _, refs = live
    inventory = open_root(str(daemon.data_root))
    df = local_sizes(inventory, refs["app"], client)
    _, _, layers = skopeo_image(refs["app"])
    assert list(df["compressed_digest"]) == [d for d, _, _ in layers]
    assert list(df["compressed_size"]) == [s for _, s, _ in layers]
    inspect = daemon.docker_json("image", "inspect", refs["app"])[0]
    assert int(df["size"].sum()) == inspect["Size"]
    assert list(df["diff_id"]) == inspect["RootFS"]["Layers"]
    assert (df["size"] > df["compressed_size"]).iloc[0]  # the busybox base compresses
