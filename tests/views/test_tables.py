"""Report tables read as text: booleans, measured layers per driver, a containerd store's two copies."""

from __future__ import annotations

from layerlab import tables
from layerlab.analyses.drivers import measurements, store_usage
from layerlab.display import human_bytes


def test_readable_shows_booleans_as_yes_and_no(sample):
    t = tables.readable(tables.distribution_table(sample))
    assert set(t["known to a registry"]) <= {"yes", "no"}
    assert "yes" in set(t["known to a registry"])  # the sample's pushed layers


def test_measured_layers_table_names_driver_and_how():
    m = measurements.load_measurements()
    t = tables.measured_layers_table(m)
    assert list(t.columns) == ["driver", "how", "layers measured"]
    assert t["layers measured"].sum() == len(m)
    assert set(t["driver"]) == set(m["driver"])


def test_store_images_table_names_images_and_sizes():
    raw = store_usage.image_sizes(measurements.containerd_sample())
    t = tables.store_images_table(raw)
    assert len(t) == len(raw)
    assert all(len(i) == 12 for i in t["id"])
    assert list(t["blobs (compressed)"]) == [human_bytes(v) for v in raw["content_size"]]
    assert "layerlab/app:1, layerlab/app:stable" in set(t["image"])


def test_one_rule_decides_compressed_sizes_for_tables_and_charts(sample):
    import matplotlib.pyplot as plt
    import numpy as np

    from layerlab import plots
    from layerlab.analyses.drivers.compressed import UNKNOWN_REASONS, layer_compressed
    from layerlab.reports import audit_or_none

    audit = audit_or_none()
    layers = sample.layers[sample.layers["kind"] == "image"].set_index("layer_id")
    has_digest = layers["compressed"].map(lambda v: v is not None and len(v) > 0)

    none_given = layer_compressed(sample).set_index("layer_id")
    assert none_given["compressed_size"].isna().all()
    assert (none_given.loc[has_digest[has_digest].index, "unknown_reason"] == UNKNOWN_REASONS["no_registry_data"]).all()
    assert (none_given.loc[has_digest[~has_digest].index, "unknown_reason"] == UNKNOWN_REASONS["no_digest"]).all()

    rule = layer_compressed(sample, audit.blobs).set_index("layer_id")
    sizes = dict(zip(audit.blobs["digest"], audit.blobs["size"]))
    known = rule[rule["compressed_size"].notna()]
    assert len(known) and all(sizes[d] == n for d, n in zip(known["compressed_digest"], known["compressed_size"]))
    assert rule["unknown_reason"].isna().equals(rule["compressed_size"].notna())

    # The registries page's table says the same per layer...
    table = tables.distribution_table(sample, audit.blobs).set_index("layer")
    for layer_id, r in rule.iterrows():
        shown = table.loc[layer_id.removeprefix("sha256:")[:12], "compressed size"]
        assert shown == (human_bytes(r["compressed_size"]) if r["unknown_reason"] is None
                         else f"unknown: {r['unknown_reason']}")
    assert "compressed size" not in tables.distribution_table(sample).columns
    # ...and so does the chart: an image's compressed bar only when all its layers are known.
    fig, ax = plt.subplots()
    plots.size_kinds(sample, compressed=audit.blobs, ax=ax)
    orange = [b for b in ax.patches if np.allclose(b.get_facecolor()[:3], (0xf5 / 255, 0x85 / 255, 0x18 / 255))]
    il = sample.image_layers[sample.image_layers["image_id"].isin(sample.tagged["image_id"])]
    complete = il.groupby("image_id")["layer_id"].apply(lambda ids: rule.loc[list(ids),
                                                                             "compressed_size"].notna().all())
    assert len(orange) == int(complete.sum())
    assert ("compressed size unknown" in ax.get_title()) == (not complete.all())
    plt.close(fig)


def test_btrfs_du_tells_exclusive_from_shared():
    m = measurements.load_measurements()
    du = measurements.btrfs_du(m)
    btrfs = m[(m["driver"] == "btrfs") & (m["object"] == "image_layer")]
    assert len(du) == len(btrfs) + 1 and du["layer"].iloc[-1] == "container (unchanged)"
    # du counts the shared extents in every layer: each layer's du is at least its shared bytes,
    # and the layers' du adds up to far more than what they own alone.
    assert (du["du_bytes"] >= du["shared_bytes"]).all()
    assert du["du_bytes"].sum() > 5 * du["exclusive_bytes"].sum()
    # Layer 1's /data/big.bin, replaced by layer 2, is the one thing a layer owns alone.
    assert du.loc[du["layer"] == "layer 1", "exclusive_bytes"].item() >= 1_048_576
    t = tables.btrfs_du_table(du)
    assert list(t["exclusive (owned alone)"]) == [human_bytes(v) for v in du["exclusive_bytes"]]
