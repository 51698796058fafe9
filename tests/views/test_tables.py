"""Report tables read as text: booleans, measured layers per driver, a containerd store's two copies."""

from __future__ import annotations

from layerlab import tables
from layerlab.analyses import measurements, store_usage
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
