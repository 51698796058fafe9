"""Fleets over time: every snapshot of every host (``HOST/DATE.layerlab`` written by a nightly cron or
a DaemonSet) read as a time series, and what changed on each host since a date.

The figures of one snapshot are counted as the fleet's ``summary`` counts a host's (and as its own
``layerlab summary --json`` does): ``images`` are the images ``docker images`` lists, ``size_bytes``
the bytes of their distinct layers (``totals.physical_size``), ``reclaimable_bytes`` the bytes they
store but do not show, each (layer, path) once (computed once per distinct image, by the
single-host code, on a worker), ``dangling_images`` those ``docker image prune`` removes (no tag,
no child image, no container). Each snapshot is one key of the tables: the per-host machinery of
``analyses`` runs unchanged with the snapshot's name in the ``host`` column.
"""

from __future__ import annotations

import pandas as pd

from .analyses import CONTAINERS, reclaimable_per_host, batch_tables, image_facts
from .snapshots import FleetError
from .tasks import gather
from .frames import COARSE, HOST, batches, listed_layers, read_frames

TREND_COLUMNS = ["host", "time", "snapshot", "images", "size_bytes", "reclaimable_bytes", "dangling_images"]
FLEET_TREND_COLUMNS = ["date", "hosts", "hosts_scanned", "images", "image_instances", "size_bytes",
                       "reclaimable_bytes", "dangling_images"]
CHANGE_COLUMNS = ["host", "kind", "id", "name", "change", "size_before", "size_after", "growth"]


def _snapshot_tables(fleet) -> dict:
    """Every snapshot's listed images and image-layer rows, keyed by the snapshot's name (in the
    ``host`` column), read on the cluster a coarse batch of snapshots per task."""
    if "snapshot_tables" in fleet._cache:
        return fleet._cache["snapshot_tables"]
    parts = [(s, s) for s in fleet.timeline["snapshot"]]
    futures = fleet.client.map(batch_tables, batches(parts, fleet.slots, **COARSE),
                               storage_options=fleet.storage_options, pure=False)
    got = gather(futures, "reading snapshots", fleet.progress)
    listed = pd.concat([g["listed"] for g in got], ignore_index=True)
    il = pd.concat([g["image_layers"] for g in got], ignore_index=True)
    layers = listed_layers(listed.assign(intermediate=False), il)
    fleet._cache["snapshot_tables"] = t = {"listed": listed, "layers": layers, "hidden": _hidden(fleet, listed)}
    return t


def _hidden(fleet, listed: pd.DataFrame) -> pd.DataFrame:
    """The hidden rows (``layer_id``, ``path``, ``size``, ``image_id``) of every distinct image of
    ``listed``: those the fleet's own tables already hold are reused, the others computed once each,
    on the newest snapshot that has the image (one task per snapshot chosen)."""
    known = fleet._cache.get("tables", {}).get("hidden")
    have = set(known["image_id"]) if known is not None else set()
    todo = listed[~listed["image_id"].isin(have)]
    # the newest snapshot that has the image: the one the fleet's other analyses read too
    oldest_first = fleet.timeline.sort_values("scanned_at", na_position="first", kind="stable")["snapshot"]
    recency = {s: i for i, s in enumerate(oldest_first)}
    given: dict[str, list[str]] = {}
    for iid, snaps in todo.groupby("image_id", observed=True)[HOST]:
        given.setdefault(max(snaps, key=recency.__getitem__), []).append(iid)
    futures = [fleet.client.submit(image_facts, (s, s), ids, fleet.storage_options, pure=False)
               for s, ids in given.items()]
    parts = [r[1] for r in gather(futures, "per-image figures", fleet.progress) if len(r[1])]
    if known is not None and len(known):
        parts.append(known[known["image_id"].isin(set(listed["image_id"]))])
    if not parts:
        return pd.DataFrame(columns=["layer_id", "path", "size", "image_id"])
    return pd.concat(parts, ignore_index=True)


def snapshot_figures(fleet) -> pd.DataFrame:
    """One row per snapshot (every usable scan of every host, superseded ones included):
    ``host``, ``time`` (``scanned_at``), ``snapshot``, ``images``, ``size_bytes``,
    ``reclaimable_bytes``, ``dangling_images``, oldest first within each host."""
    t = _snapshot_tables(fleet)
    listed = t["listed"]
    out = fleet.timeline.rename(columns={"scanned_at": "time"}).set_index("snapshot")
    g = listed.groupby(HOST, observed=True)
    out["images"] = g.size()
    out["size_bytes"] = t["layers"].groupby(HOST, observed=True)["size"].sum()
    out["reclaimable_bytes"] = reclaimable_per_host(listed, t["hidden"]) if len(listed) else 0
    dangling = (listed["tags"].map(len) == 0) & (listed["container_count"] == 0)
    out["dangling_images"] = dangling.groupby(listed[HOST], observed=True).sum()
    for col in ("images", "size_bytes", "reclaimable_bytes", "dangling_images"):
        out[col] = out[col].fillna(0).astype("int64")
    return out.reset_index()[TREND_COLUMNS]


def fleet_by_date(fleet) -> pd.DataFrame:
    """Fleet-wide figures per snapshot date (UTC calendar day): each host counts with its newest
    snapshot taken that day or before (a host not scanned that day counts with its last scan), as
    ``summary`` counts a fleet: ``images`` distinct image IDs, ``image_instances`` (host, image)
    pairs, ``size_bytes``, ``reclaimable_bytes`` and ``dangling_images`` summed over hosts.
    ``hosts`` counts the hosts counted, ``hosts_scanned`` those with a snapshot that day."""
    per = snapshot_figures(fleet)
    per = per[per["time"].notna()]
    if per.empty:
        return pd.DataFrame(columns=FLEET_TREND_COLUMNS)
    listed = _snapshot_tables(fleet)["listed"]
    ids = listed.groupby(HOST, observed=True)["image_id"].apply(set)
    per = per.assign(date=per["time"].dt.tz_convert("UTC").dt.normalize())
    rows = []
    for day in sorted(per["date"].unique()):
        upto = per[per["date"] <= day]
        latest = upto.groupby("host", observed=True).tail(1)  # per is oldest first within a host
        images = set().union(*[ids.get(s, set()) for s in latest["snapshot"]])
        rows.append({
            "date": day, "hosts": len(latest), "hosts_scanned": int(upto.loc[upto["date"] == day, "host"].nunique()),
            "images": len(images), "image_instances": int(latest["images"].sum()),
            "size_bytes": int(latest["size_bytes"].sum()), "reclaimable_bytes": int(latest["reclaimable_bytes"].sum()),
            "dangling_images": int(latest["dangling_images"].sum()),
        })
    return pd.DataFrame(rows, columns=FLEET_TREND_COLUMNS)


def trend(fleet, by: str = "host") -> pd.DataFrame:
    """The fleet over time: ``by="host"`` one row per snapshot (``snapshot_figures``), ``by="date"``
    the fleet-wide figures per snapshot date (``fleet_by_date``)."""
    if by == "host":
        return snapshot_figures(fleet)
    if by == "date":
        return fleet_by_date(fleet)
    raise FleetError(f"trend(by={by!r}): by is 'host' (one row per snapshot) or 'date' (fleet-wide per day)")


# -- what changed on each host ---------------------------------------------------------------------------


def _name(tags, image_id: str) -> str:
    return min(tags, key=len) if len(tags) else image_id[:19]


def _state(part, storage_options: dict | None) -> dict:
    """One snapshot's listed images, their distinct layers and its containers."""
    got = read_frames([part], {"images": [HOST, "image_id", "tags", "size", "intermediate"],
                               "image_layers": [HOST, "image_id", "layer_id", "size"], "containers": CONTAINERS},
                      storage_options)
    images = got["images"][~got["images"]["intermediate"]]
    return {"images": images, "layers": listed_layers(images, got["image_layers"]), "containers": got["containers"]}


def _empty_state() -> dict:
    return {"images": pd.DataFrame(columns=["image_id", "tags", "size"]),
            "layers": pd.DataFrame(columns=["layer_id", "size"]),
            "containers": pd.DataFrame(columns=["container_id", "name", "rw_size"])}


def host_changes(pairs: list[tuple[str, str | None, str]], storage_options: dict | None = None) -> pd.DataFrame:
    """For each ``(host, before, after)`` (snapshot names; ``before`` None: the host is new), the
    images, tags, layers and containers' read-write layers that appeared, went away, grew or
    shrank. One task for a batch of hosts: only the two snapshots' small frames are read."""
    rows = []
    for host, before, after in pairs:
        old = _state((before, host), storage_options) if before else _empty_state()
        new = _state((after, host), storage_options)
        rows += _diff(host, old, new)
    return pd.DataFrame(rows, columns=CHANGE_COLUMNS)


def _diff(host: str, old: dict, new: dict) -> list[dict]:
    rows = []

    def add(kind, id_, name, change, before, after):
        b = None if before is None or pd.isna(before) else int(before)
        a = None if after is None or pd.isna(after) else int(after)
        rows.append({"host": host, "kind": kind, "id": id_, "name": name, "change": change,
                     "size_before": b, "size_after": a, "growth": (a or 0) - (b or 0)})

    oi = old["images"].drop_duplicates("image_id").set_index("image_id")
    ni = new["images"].drop_duplicates("image_id").set_index("image_id")
    for iid in ni.index.difference(oi.index):
        add("image", iid, _name(ni.at[iid, "tags"], iid), "appeared", None, ni.at[iid, "size"])
    for iid in oi.index.difference(ni.index):
        add("image", iid, _name(oi.at[iid, "tags"], iid), "went away", oi.at[iid, "size"], None)
    # A tag that now names another image (myapp:latest rebuilt): how much bigger or smaller it got.
    old_tags = {t: iid for iid, tags in zip(oi.index, oi["tags"]) for t in tags}
    for iid, tags in zip(ni.index, ni["tags"]):
        for tag in tags:
            was = old_tags.get(tag)
            if was is not None and was != iid:
                a, b = int(ni.at[iid, "size"]), int(oi.at[was, "size"])
                add("tag", iid, tag, "grew" if a > b else "shrank" if a < b else "replaced", b, a)
    ol = old["layers"].drop_duplicates("layer_id").set_index("layer_id")["size"]
    nl = new["layers"].drop_duplicates("layer_id").set_index("layer_id")["size"]
    for lid in nl.index.difference(ol.index):
        add("layer", lid, lid[:19], "appeared", None, nl[lid])
    for lid in ol.index.difference(nl.index):
        add("layer", lid, lid[:19], "went away", ol[lid], None)
    # Containers' read-write layers grow in place as the containers write.
    oc = old["containers"].set_index("container_id")
    nc = new["containers"].set_index("container_id")
    for cid in nc.index.difference(oc.index):
        add("container", f"container:{cid}", nc.at[cid, "name"], "appeared", None, nc.at[cid, "rw_size"])
    for cid in oc.index.difference(nc.index):
        add("container", f"container:{cid}", oc.at[cid, "name"], "went away", oc.at[cid, "rw_size"], None)
    for cid in nc.index.intersection(oc.index):
        b, a = oc.at[cid, "rw_size"], nc.at[cid, "rw_size"]
        if pd.notna(a) and pd.notna(b) and a != b:
            add("container", f"container:{cid}", nc.at[cid, "name"], "grew" if a > b else "shrank", b, a)
    return rows


def _since(since) -> pd.Timestamp | None:
    if since is None:
        return None
    try:
        t = pd.Timestamp(since)
    except (ValueError, TypeError):
        raise FleetError(f"changes(since={since!r}): give a date or time such as '2026-11-30' or "
                         "'2026-11-30T02:00Z'") from None
    if pd.isna(t):
        raise FleetError(f"changes(since={since!r}): give a date or time, not an empty one")
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def changes(fleet, since=None) -> pd.DataFrame:
    """What changed on each host: its newest snapshot against its newest taken at or before
    ``since`` (a date or time; a bare date is its midnight UTC), or, without ``since``, against its
    previous snapshot.

    One row per change: ``host``, ``kind`` (``image``, ``tag``: a tag now naming another image,
    ``layer``: a distinct layer of the listed images, ``container``: a read-write layer), ``id``,
    ``name`` (shortest tag, layer ID start, container name), ``change`` (``appeared``,
    ``went away``, ``grew``, ``shrank``, ``replaced``), ``size_before``, ``size_after``, ``growth``
    (bytes, after minus before), the largest growth first within each host. A host first scanned
    after ``since`` shows everything as appeared; a host with no earlier snapshot is listed in
    ``attrs["not_compared"]``.
    """
    cut = _since(since)
    tl = fleet.timeline
    pairs, not_compared = [], []
    for host, g in tl.groupby("host", observed=True, sort=True):
        after = g.iloc[-1]
        earlier = g.iloc[:-1]
        if cut is not None:
            earlier = earlier[earlier["scanned_at"].notna() & (earlier["scanned_at"] <= cut)]
            pairs.append((host, earlier["snapshot"].iloc[-1] if len(earlier) else None, after["snapshot"]))
        elif len(earlier):
            pairs.append((host, earlier["snapshot"].iloc[-1], after["snapshot"]))
        else:
            not_compared.append(host)
    futures = fleet.client.map(host_changes, batches(pairs, fleet.slots, **COARSE),
                               storage_options=fleet.storage_options, pure=False) if pairs else []
    parts = [p for p in gather(futures, "changes", fleet.progress) if len(p)]
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=CHANGE_COLUMNS)
    out = out.astype({"size_before": "Int64", "size_after": "Int64", "growth": "int64"})
    out = out.sort_values(["host", "growth", "kind", "id"], ascending=[True, False, True, True], ignore_index=True)
    out.attrs["not_compared"] = not_compared
    return out


def host_growth(fleet) -> pd.DataFrame:
    """Per host, its first and newest snapshot's ``size_bytes`` and ``reclaimable_bytes`` and the
    growth between them, the hosts that grew most first."""
    t = snapshot_figures(fleet)
    g = t.groupby("host", observed=True, sort=False)
    out = pd.DataFrame({
        "snapshots": g.size(), "first": g["time"].first(), "last": g["time"].last(),
        "size_first": g["size_bytes"].first(), "size_last": g["size_bytes"].last(),
        "reclaimable_first": g["reclaimable_bytes"].first(), "reclaimable_last": g["reclaimable_bytes"].last(),
    })
    out["growth"] = out["size_last"] - out["size_first"]
    return out.reset_index().sort_values(["growth", "host"], ascending=[False, True], ignore_index=True)


def image_growth(changes_frame: pd.DataFrame) -> pd.DataFrame:
    """From ``changes``: per image name (its shortest tag), on how many hosts it appeared or grew
    (a tag naming a bigger image) and the bytes that added, the images that grew most first."""
    c = changes_frame[changes_frame["kind"].isin(["image", "tag"]) & (changes_frame["growth"] > 0)]
    # an image that appeared under a tag that also moved would count twice: a tag row wins
    c = c.sort_values("kind", key=lambda k: k != "tag", kind="stable").drop_duplicates(["host", "id"])
    out = c.groupby("name").agg(hosts=("host", "nunique"), growth=("growth", "sum")).reset_index()
    return out.sort_values(["growth", "name"], ascending=[False, True], ignore_index=True)


__all__ = ["trend", "changes", "snapshot_figures", "fleet_by_date", "host_growth", "image_growth"]
