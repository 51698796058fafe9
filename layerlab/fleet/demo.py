"""Demo fleets made from real captures: host snapshots cut from the bundled samples.

A fleet needs many hosts that differ. Each host here is a real capture with some of its images and
containers removed, as ``docker rmi``/``docker rm`` and a layer prune would leave it, and a
hostname/machine ID/scan time of its own, re-saved with layerlab's own snapshot code. No row is
invented: every kept row is the capture's, and the columns that count other rows (``container_count``,
``shared_size``/``unique_size``, a layer's ``image_count``) are recounted as the daemon counts them.
The fleet notebook's default fleet, the fleet tests and ``benchmarks/bench_fleet.py`` use it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from ..frames.inventory import Inventory
from ..sources import open_source


def _ancestors(images: pd.DataFrame, ids: set[str]) -> set[str]:
    parent = dict(zip(images["image_id"], images["parent"]))
    out, todo = set(), list(ids)
    while todo:
        p = parent.get(todo.pop())
        if isinstance(p, str) and p in parent and p not in out:
            out.add(p)
            todo.append(p)
    return out


def subset(source, *, images=None, containers=None) -> dict[str, pd.DataFrame]:
    """The frames of ``source`` keeping only the listed ``images`` (tags or IDs; None: all) with
    their build ancestors, and the ``containers`` (names; None: all) whose image is kept."""
    inv = open_source(source)
    im = inv.images
    listed = im[~im["intermediate"]]
    keep_listed = set(listed["image_id"]) if images is None else {inv.image_id(r) for r in images}
    keep = keep_listed | (_ancestors(im, keep_listed) & set(im.loc[im["intermediate"], "image_id"]))
    ctr = inv.containers[inv.containers["image_id"].isin(keep)]
    if containers is not None:
        ctr = ctr[ctr["name"].isin(list(containers))]
    il = inv.image_layers[inv.image_layers["image_id"].isin(keep)]
    hist = inv.history[inv.history["image_id"].isin(keep)]
    img = im[im["image_id"].isin(keep)].copy()
    img["container_count"] = img["image_id"].map(ctr["image_id"].value_counts()).fillna(0).astype("int64")
    # docker system df -v: shared = bytes of layers that another listed image also uses.
    listed_il = il[il["image_id"].isin(img.loc[~img["intermediate"], "image_id"])]
    refs = listed_il.drop_duplicates(["image_id", "layer_id"])["layer_id"].value_counts()
    shared = il[il["layer_id"].map(refs).fillna(0) > 1].groupby("image_id")["size"].sum()
    img["shared_size"] = img["image_id"].map(shared).fillna(0).astype("int64")
    img["unique_size"] = img["size"] - img["shared_size"]
    rw_layers = set(ctr["layer_id"]) | {f"init:{c}" for c in ctr["container_id"]}
    layers = inv.layers
    layers = layers[layers["layer_id"].isin(set(il["layer_id"]) | rw_layers)].copy()
    counts = il.drop_duplicates(["image_id", "layer_id"])["layer_id"].value_counts()
    is_image = layers["kind"] == "image"
    layers.loc[is_image, "image_count"] = layers.loc[is_image, "layer_id"].map(counts).fillna(0).astype("int64")
    files = inv.files[inv.files["layer_id"].isin(set(layers["layer_id"]))]
    frames = {"images": img, "layers": layers, "image_layers": il, "history": hist, "containers": ctr,
              "files": files, "skipped": inv.skipped}
    return {k: v.reset_index(drop=True) for k, v in frames.items()}


def host_id_for(hostname: str) -> str:
    """A machine ID for a made-up host: 32 hex digits derived from its name, stable across runs."""
    return hashlib.sha256(hostname.encode()).hexdigest()[:32]


def host_snapshot(source, out, *, hostname: str, host_id: str | None = "derive", scanned_at=None,
                  images=None, containers=None) -> str:
    """Write a snapshot of ``source`` as host ``hostname`` holding a subset of its images/containers.

    ``host_id`` "derive" (default) derives one from the hostname; None writes none (as a host
    without /etc/machine-id). ``scanned_at`` defaults to the capture's own scan time.
    """
    inv = open_source(source)
    frames = subset(inv, images=images, containers=containers)
    meta = dict(inv.meta)
    meta.pop("snapshot", None)
    meta.update(host=hostname, hostname=hostname, host_id=host_id_for(hostname) if host_id == "derive" else host_id,
                source=f"{inv.meta.get('source')} (a subset made for fleet tests)")
    if scanned_at is not None:
        meta["scanned_at"] = pd.Timestamp(scanned_at).isoformat()
    return Inventory(meta, frames).save(out)


def make_fleet(out, n_hosts: int, *, drivers=("overlay2", "vfs", "btrfs", "containerd"), seed: int = 0,
               prefix: str = "agent") -> list[str]:
    """``n_hosts`` host snapshots in folder ``out``, each from one sample capture (round robin over
    ``drivers``) with a varying subset of its listed images and containers; returns the paths."""
    import random

    from ..sources.sample import sample

    rng = random.Random(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    invs = {d: sample(d) for d in drivers}
    paths = []
    for i in range(n_hosts):
        inv = invs[drivers[i % len(drivers)]]
        listed = inv.images[~inv.images["intermediate"]]
        ids = list(listed["image_id"])
        keep = sorted(rng.sample(ids, rng.randint(max(1, len(ids) // 2), len(ids))))
        names = list(inv.containers["name"])
        ctrs = sorted(n for n in names if rng.random() < 0.7)
        name = f"{prefix}-{i:04d}"
        paths.append(host_snapshot(inv, out / f"{name}.layerlab", hostname=name, images=keep, containers=ctrs))
    return paths


def make_history(out, n_hosts: int, days: int, *, drivers=("overlay2", "vfs", "btrfs", "containerd"), seed: int = 0,
                 prefix: str = "agent", start: str = "2026-11-01T02:17:00+00:00") -> list[str]:
    """``n_hosts`` hosts scanned on ``days`` days, as ``out/HOST/DATE.layerlab``: each host holds
    more of its capture's listed images day by day (images pulled, as a growing host does), the
    last day all it keeps in ``make_fleet``; returns the paths."""
    import random

    from ..sources.sample import sample

    rng = random.Random(seed)
    out = Path(out)
    invs = {d: sample(d) for d in drivers}
    paths = []
    for i in range(n_hosts):
        inv = invs[drivers[i % len(drivers)]]
        ids = list(inv.images.loc[~inv.images["intermediate"], "image_id"])
        rng.shuffle(ids)
        keep = ids[:rng.randint(max(1, len(ids) // 2), len(ids))]
        name = f"{prefix}-{i:04d}"
        for day in range(days):
            when = pd.Timestamp(start) + pd.Timedelta(days=day, minutes=rng.randint(0, 30))
            have = sorted(keep[:max(1, -(-len(keep) * (day + 1) // days))])
            paths.append(host_snapshot(inv, out / name / f"{when.date()}.layerlab", hostname=name, images=have,
                                       scanned_at=when))
    return paths


def demo_fleet(n_hosts: int = 12, out=None, days: int = 1) -> str:
    """A folder of ``n_hosts`` host snapshots cut from the bundled samples (a temporary folder
    unless ``out`` is given); what the fleet notebook shows when it is given no paths. With
    ``days`` > 1, each host's scans of that many days (``HOST/DATE.layerlab``, ``make_history``)."""
    import tempfile

    out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="layerlab-demo-fleet-"))
    if days > 1:
        make_history(out, n_hosts, days, prefix="demo")
    else:
        make_fleet(out, n_hosts, prefix="demo")
    return str(out)
