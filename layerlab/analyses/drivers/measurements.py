"""The storage-driver measurements (data/drivers, made by scripts/measure_drivers.py on real daemons)
and how ``simulate_writes`` compares with them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ...errors import LayerlabError
from ...untrusted import load_json
from .cow_model import IMAGE, simulate_writes
from ..opening import analysis


def measurements_dir() -> Path:
    """``drivers/`` of the bundled data (``layerlab._bundled.data``, or $LAYERLAB_DATA when set)."""
    from ...sources.sample import data_dir

    return data_dir() / "drivers"


def load_measurements(path=None) -> pd.DataFrame:
    """The measured runs (data/drivers/measurements.csv from scripts/measure_drivers.py), one row per
    driver and layer; ``meta.json`` beside it says how they were made. aufs rows have ``measured`` False."""
    path = Path(path) if path else measurements_dir() / "measurements.csv"
    if path.is_dir():
        path = path / "measurements.csv"
    if not path.exists():
        raise LayerlabError(f"no driver measurements at {path}; run `sudo python scripts/measure_drivers.py`")
    df = pd.read_csv(path)
    for col in ("position", "exclusive_bytes", "shared_bytes", "qgroup_referenced_bytes", "qgroup_exclusive_bytes",
                "peer_size"):
        df[col] = df[col].astype("Int64")
    return df


def containerd_sample():
    """The bundled containerd capture (data/sample-containerd.layerlab) as an Inventory."""
    from ...frames.snapshot_load import load
    from ...sources.sample import data_dir

    return load(data_dir() / "sample-containerd.layerlab")


def measurements_meta(path=None) -> dict:
    path = Path(path) if path else measurements_dir()
    return load_json(((path if path.is_dir() else path.parent) / "meta.json").read_text())


def write_costs(measurements=None) -> pd.DataFrame:
    """What each workload cost per driver, measured: its container layer minus the ``noop`` one.

    Columns: driver, measured, workload, apparent_bytes, disk_bytes, exclusive_bytes (btrfs: data
    extents of its own; elsewhere disk_bytes), entries, and the absolute ``layer_disk_bytes`` of the
    container layer."""
    m = load_measurements() if measurements is None else measurements
    c = m[m["object"] == "container"].copy()
    c["exclusive_bytes"] = c["exclusive_bytes"].where(c["exclusive_bytes"].notna(), c["disk_bytes"]).astype("int64")
    rows = []
    for driver, g in c.groupby("driver", sort=False):
        base = g[g["workload"] == "noop"].iloc[0]
        for r in g.itertuples(index=False):
            if r.workload == "noop":
                continue
            rows.append({"driver": driver, "measured": bool(r.measured), "workload": r.workload,
                         **{k: int(getattr(r, k)) - int(base[k])
                            for k in ("apparent_bytes", "disk_bytes", "exclusive_bytes", "entries")},
                         "layer_disk_bytes": int(r.layer_disk_bytes)})
    return pd.DataFrame(rows)


@analysis()
def compare_model(source="sample", measurements=None) -> pd.DataFrame:
    """Measured write costs next to ``simulate_writes``' predictions, per driver and workload.

    ``source`` gives the image's files (the bundled sample by default); the image and workloads
    are those of the measurements (``cow_model.WORKLOADS``)."""
    measured = write_costs(measurements)
    # Opened once, and each workload simulated once for every driver: the image's merged view is
    # the costly part, and it does not depend on the driver.
    inv = source
    predicted = {}
    for workload, g in measured.groupby("workload", sort=False):
        p = simulate_writes(inv, IMAGE, workload, driver=list(dict.fromkeys(g["driver"])))
        predicted.update({(d, workload): part for d, part in p[p["step"] > 0].groupby("driver", sort=False)})
    rows = []
    for (driver, workload), g in measured.groupby(["driver", "workload"], sort=False):
        pred = predicted[(driver, workload)][["apparent_bytes", "disk_bytes", "exclusive_bytes", "entries"]].sum()
        r = g.iloc[0]
        rows.append({"driver": driver, "measured": r["measured"], "workload": workload,
                     **{f"{k}_measured": int(r[k])
                        for k in ("apparent_bytes", "disk_bytes", "exclusive_bytes", "entries")},
                     **{f"{k}_model": int(pred[k])
                        for k in ("apparent_bytes", "disk_bytes", "exclusive_bytes", "entries")}})
    return pd.DataFrame(rows)



def btrfs_du(measurements=None) -> pd.DataFrame:
    """The measured btrfs layers as ``btrfs filesystem du`` tells them apart: per image layer (and the
    unchanged container), ``du_bytes`` (what ``du`` counts: every extent the subvolume shows, shared
    ones included), ``exclusive_bytes`` (extents no other subvolume uses) and ``shared_bytes``
    (extents shared with other subvolumes). Empty when no btrfs run was measured."""
    m = load_measurements() if measurements is None else measurements
    b = m[(m["driver"] == "btrfs") & ((m["object"] == "image_layer") | (m["workload"] == "noop"))]
    out = pd.DataFrame({
        "layer": [f"layer {int(p)}" if o == "image_layer" else "container (unchanged)"
                  for o, p in zip(b["object"], b["position"])],
        "du_bytes": b["disk_bytes"].astype("int64").to_numpy(),
        "exclusive_bytes": b["exclusive_bytes"].astype("Int64").to_numpy(),
        "shared_bytes": b["shared_bytes"].astype("Int64").to_numpy(),
    })
    return out.reset_index(drop=True)
