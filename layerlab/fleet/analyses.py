"""Fleet analyses: per-host totals, images and layers across hosts, savings, bases, find, drift.

What depends only on an image (its reclaimable bytes, dive's figures) is computed once per
distinct image ID, by the single-host code (``layerlab.analyses``) on one host that has it, then
joined to every host that has it: image IDs are content hashes, so the image's layers and files
are the same on every host. What depends on a host's whole image set (its base images, its
wasted bytes counted once when images share layers) is computed per host, or once per distinct
image set. The client only holds per-host and per-image tables, never a fleet-wide files frame.
"""

from __future__ import annotations

import math
import re

import pandas as pd

from ..analyses.dedup.base import base_images as host_base_images
from ..analyses.dive.waste import hidden_of, stack_all
from ..frames.inventory import FRAME_NAMES, Inventory
from .snapshots import FleetError
from .tasks import gather
from .frames import HOST, find_rows, glob_prefix, read_frame, read_frames

IMAGE_FIGURES = ["dive_efficiency", "dive_wasted_bytes", "dive_user_wasted_percent", "reclaimable_bytes"]


def open_inventory(part: tuple[str, str], storage_options: dict | None = None) -> Inventory:
    """One host's snapshot as a single-host Inventory (frames read on first use), on a worker."""
    snapshot, host = part
    return Inventory(
        {"source": snapshot, "snapshot": snapshot, "host": host},
        {n: (lambda n=n: read_frame(part, n, storage_options=storage_options).drop(columns=HOST)) for n in FRAME_NAMES},
    )


# -- tasks run on the workers ------------------------------------------------------------------------


def image_facts(part: tuple[str, str], image_ids: list[str], storage_options: dict | None = None):
    """For images of one snapshot: their figures (``image_figures``, as ``efficiency`` gives them)
    and their hidden rows (``layer_id``, ``path``, ``size``: what ``reclaimable_bytes`` sums)."""
    inv = open_inventory(part, storage_options)
    figures, hidden = [], []
    walked = stack_all(inv, image_ids)  # the images of the snapshot stacked in one pass
    for iid in image_ids:
        fig = walked[iid]
        figures.append({"image_id": iid, **{k: fig[k] for k in IMAGE_FIGURES}})
        hidden.append(hidden_of(inv, iid)[["layer_id", "path", "size"]].assign(image_id=iid))
    hid = pd.concat(hidden,
                    ignore_index=True) if hidden else pd.DataFrame(columns=["layer_id", "path", "size", "image_id"])
    return pd.DataFrame(figures), hid


def host_bases(parts: list[tuple[str, str]], storage_options: dict | None = None) -> pd.DataFrame:
    """``layerlab.analyses.base_images`` of each host in ``parts`` (its listed images), with ``host``."""
    return pd.concat([host_base_images(open_inventory(p, storage_options), all=False).assign(host=p[1]) for p in parts],
                     ignore_index=True)


# -- the shared tables ---------------------------------------------------------------------------------


def _tables(fleet) -> dict:
    """The small tables every analysis starts from, computed once per fleet."""
    if "tables" not in fleet._cache:
        t = dict(_frame_tables(fleet))
        t["figures"], t["hidden"] = _image_tables(fleet, t["listed"])
        fleet._cache["tables"] = t
    return fleet._cache["tables"]


def _host_totals(hl: pd.DataFrame) -> pd.DataFrame:
    return hl.groupby(HOST, observed=True).agg(layers=("layer_id", "count"), physical_size=("size", "sum"))


LISTED = [HOST, "image_id", "tags", "size", "container_count"]
CONTAINERS = [HOST, "container_id", "name", "image_id", "state", "rw_size"]


def batch_tables(parts: list[tuple[str, str]], storage_options: dict | None = None) -> dict:
    """A batch of hosts' listed-image rows and their image-layer rows, in one task (each file read
    once, the batch turned into pandas once): what the relational totals are computed from."""
    got = read_frames(parts, {"images": [*LISTED, "intermediate"],
                              "image_layers": [HOST, "image_id", "layer_id", "size"]}, storage_options)
    images, il = got["images"], got["image_layers"]
    listed = images.loc[~images["intermediate"].to_numpy(dtype=bool), LISTED].reset_index(drop=True)
    # Only the listed images' rows, joined here rather than on the client: a batch's join is small,
    # the whole fleet's (150,000 rows at 10,000 hosts) a second of the client's time.
    return {"listed": listed, "image_layers": il.merge(listed[[HOST, "image_id"]], on=[HOST, "image_id"])}


def _frame_tables(fleet) -> dict:
    """The relational part: listed images per host, which listed image holds which layer, each
    host's layer totals and the distinct layers. One task per batch of hosts reads what it needs of
    each host's images and image_layers; the client joins and groups these per-host rows once.
    Batches here are coarser than the files frame's (``fleet.coarse_batches``): the files are small,
    and per-task pandas work, not reading, had been most of the time. (Through dask.dataframe the
    same took one graph per frame and read images twice.)"""
    if "frame_tables" in fleet._cache:
        return fleet._cache["frame_tables"]
    futures = fleet.client.map(batch_tables, fleet.coarse_batches, storage_options=fleet.storage_options, pure=False)
    parts = gather(futures, "reading hosts", fleet.progress, [len(b) for b in fleet.coarse_batches], "host")
    listed = pd.concat([p["listed"] for p in parts], ignore_index=True)
    il = pd.concat([p["image_layers"] for p in parts], ignore_index=True)  # of listed images only
    hl = il.drop_duplicates([HOST, "layer_id"])[[HOST, "layer_id", "size"]].reset_index(drop=True)
    t = {
        "listed": listed,
        # which listed image holds which layer, for naming find's matches
        "listed_layers": il[[HOST, "image_id", "layer_id"]],
        "host_layers": _host_totals(hl),
        # A layer's apparent bytes are counted by each host's storage driver, and drivers differ by a
        # few kB on the same layer (overlay2 vs vfs): a distinct layer counts its largest recorded size.
        "distinct_layers": hl.groupby("layer_id").agg(size=("size", "max"), hosts=(HOST, "count"),
                                                      fleet_bytes=("size", "sum")).reset_index(),
    }
    fleet._cache["frame_tables"] = t
    return t


def batch_containers(parts: list[tuple[str, str]], storage_options: dict | None = None) -> pd.DataFrame:
    """A batch of hosts' containers (one task)."""
    return read_frame(parts, "containers", CONTAINERS, storage_options)


def _containers(fleet) -> pd.DataFrame:
    """Every host's containers, read only when an analysis needs them (not for the totals or find)."""
    if "containers" not in fleet._cache:
        futures = fleet.client.map(batch_containers, fleet.coarse_batches, storage_options=fleet.storage_options,
                                   pure=False)
        fleet._cache["containers"] = pd.concat(gather(futures, "containers", fleet.progress,
                                                      [len(b) for b in fleet.coarse_batches], "host"),
                                               ignore_index=True)
    return fleet._cache["containers"]


def frame_totals(fleet) -> dict:
    """The summary's figures that need no per-image analysis (what a SQL engine could also answer):
    hosts, images, image_instances, layers, files, size_bytes, unique_layer_bytes."""
    t = _frame_tables(fleet)
    return {
        "hosts": len(fleet.hosts),
        "images": int(t["listed"]["image_id"].nunique()),
        "image_instances": len(t["listed"]),
        "layers": len(t["distinct_layers"]),
        "files": int(fleet.hosts["files_rows"].sum()),
        "size_bytes": int(t["host_layers"]["physical_size"].sum()),
        "unique_layer_bytes": int(t["distinct_layers"]["size"].sum()),
    }


def _image_tables(fleet, listed: pd.DataFrame):
    # Each distinct image once, on one host that has it: largest images first, each on the holder
    # given the fewest so far, so that the work spreads over tasks (one task per chosen host).
    holders = listed.groupby("image_id", observed=True)[HOST].apply(sorted)
    sizes = listed.drop_duplicates("image_id").set_index("image_id")["size"]
    given: dict[str, list[str]] = {}
    for iid in sorted(holders.index, key=lambda i: (-int(sizes[i]), i)):
        host = min(holders[iid], key=lambda h: (len(given.get(h, [])), h))
        given.setdefault(host, []).append(iid)
    snap = dict(zip(fleet.hosts["host"], fleet.hosts["snapshot"]))
    futures = [fleet.client.submit(image_facts, (snap[h], h), ids, fleet.storage_options, pure=False)
               for h, ids in given.items()]
    results = gather(futures, "per-image figures", fleet.progress, [len(ids) for ids in given.values()], "image")
    figs = [r[0] for r in results if len(r[0])]
    hid = [r[1] for r in results if len(r[1])]
    figures = pd.concat(figs, ignore_index=True) if figs else pd.DataFrame(columns=["image_id", *IMAGE_FIGURES])
    hidden = pd.concat(hid,
                       ignore_index=True) if hid else pd.DataFrame(columns=["layer_id", "path", "size", "image_id"])
    return figures, hidden


def reclaimable_per_host(listed: pd.DataFrame, hidden: pd.DataFrame) -> pd.Series:
    """Per host: bytes its listed images store but do not show, each (layer, path) once even when
    several of its images share the layer. Computed once per distinct image set."""
    sets = listed.groupby(HOST, observed=True)["image_id"].apply(frozenset)
    answers = {}
    for s in set(sets):
        rows = hidden[hidden["image_id"].isin(s)].drop_duplicates(["layer_id", "path"])
        answers[s] = int(rows["size"].sum())
    return sets.map(answers).astype("int64")


# -- analyses ---------------------------------------------------------------------------------------------


def per_host(fleet) -> pd.DataFrame:
    """One row per host: ``layerlab summary --json``'s totals and more.

    Columns: ``host``, ``hostname``, ``host_id``, ``scanned_at``, ``snapshot``, ``images`` (listed
    images), ``layers`` (their distinct layers), ``logical_size`` (sum of image sizes),
    ``physical_size`` (bytes of the distinct layers: what ``docker system df`` counts for images),
    ``dedup_ratio``, ``reclaimable_bytes`` (bytes stored that no image shows, each once),
    ``containers``, ``rw_bytes`` (containers' read-write bytes), ``files`` (rows of its files frame).
    """
    t = _tables(fleet)
    listed = t["listed"]
    out = fleet.hosts[["host", "hostname", "host_id", "scanned_at", "snapshot", "files_rows"]].set_index("host")
    g = listed.groupby(HOST, observed=True)
    out["images"] = g.size()
    out["logical_size"] = g["size"].sum()
    out = out.join(t["host_layers"])
    out["reclaimable_bytes"] = reclaimable_per_host(listed, t["hidden"])
    c = _containers(fleet).groupby(HOST, observed=True)
    out["containers"] = c.size()
    out["rw_bytes"] = c["rw_size"].sum()
    for col in ("images", "logical_size", "layers", "physical_size", "reclaimable_bytes", "containers", "rw_bytes"):
        out[col] = out[col].fillna(0).astype("int64")
    out["dedup_ratio"] = (out["logical_size"] / out["physical_size"].where(out["physical_size"] > 0)).round(4)
    out = out.rename(columns={"files_rows": "files"}).reset_index()
    return out[["host", "hostname", "host_id", "scanned_at", "snapshot", "images", "layers", "logical_size",
                "physical_size", "dedup_ratio", "reclaimable_bytes", "containers", "rw_bytes", "files"]]


def images_across(fleet) -> pd.DataFrame:
    """One row per distinct image ID: hosts that have it, bytes stored fleet-wide, its waste.

    ``fleet_size`` = size × hosts; ``fleet_reclaimable_bytes`` = reclaimable_bytes × hosts (what
    fixing the image saves across the fleet); ``containers`` counts its containers on all hosts.
    """
    t = _tables(fleet)
    listed = t["listed"]
    g = listed.groupby("image_id", observed=True)
    out = pd.DataFrame({
        "tags": g["tags"].agg(lambda s: sorted({x for tags in s for x in tags})),
        "hosts": g[HOST].nunique(),
        "size": g["size"].first(),
        "containers": g["container_count"].sum(),
    })
    out = out.join(t["figures"].set_index("image_id"))
    out["fleet_size"] = out["size"] * out["hosts"]
    out["fleet_reclaimable_bytes"] = out["reclaimable_bytes"].astype("int64") * out["hosts"]
    return out.reset_index().sort_values(["hosts", "fleet_size", "image_id"], ascending=[False, False, True],
                                         ignore_index=True)


def top_images(fleet, n: int = 20) -> pd.DataFrame:
    """The ``n`` images whose fix saves the most fleet-wide (``fleet_reclaimable_bytes``)."""
    out = images_across(fleet)
    out = out[out["fleet_reclaimable_bytes"] > 0]
    return out.sort_values(["fleet_reclaimable_bytes", "image_id"],
                           ascending=[False, True]).head(n).reset_index(drop=True)


def layer_dedup(fleet) -> pd.DataFrame:
    """One row per distinct image layer: its bytes, hosts storing it, and bytes stored fleet-wide.

    ``size`` is the largest size a host records for the layer (drivers count a few kB apart),
    ``fleet_bytes`` the sum of every host's own. ``fleet_bytes.sum()`` is the fleet's ``size_bytes``,
    ``size.sum()`` its ``unique_layer_bytes``: the difference is what a shared layer store (a registry
    cache or pull-through mirror) dedups.
    """
    d = _tables(fleet)["distinct_layers"].copy()
    return d.sort_values(["fleet_bytes", "layer_id"], ascending=[False, True], ignore_index=True)


def containers(fleet) -> pd.DataFrame:
    """Every host's containers with their image's tags and read-write bytes, largest first."""
    t = _tables(fleet)
    tags = t["listed"].drop_duplicates("image_id").set_index("image_id")["tags"]
    out = _containers(fleet).copy()
    out["image_tags"] = [list(tags.get(i, [])) for i in out["image_id"]]
    return out.sort_values(["rw_size", HOST], ascending=[False, True], na_position="last", ignore_index=True)


def base_images(fleet) -> pd.DataFrame:
    """Base images across hosts: one row per (base image, host) pair is summed to one row per base.

    Columns: ``base_image``, ``base_tags``, ``repository`` (the base's repository, for comparing
    its versions), ``hosts`` (hosts with an image built on it), ``images`` (distinct images built
    on it), ``image_instances`` ((host, image) pairs). Bases are found per host by
    ``layerlab.analyses.base_images`` (a base is another image on the same host).
    """
    rows = host_base_rows(fleet)
    rows = rows[rows["base_kind"] == "image"]
    if rows.empty:
        return pd.DataFrame(columns=["base_image", "base_tags", "repository", "hosts", "images", "image_instances"])
    g = rows.groupby("base_image")
    out = pd.DataFrame({
        "base_tags": g["base_tags"].agg(lambda s: sorted({x for tags in s for x in tags})),
        "hosts": g["host"].nunique(),
        "images": g["image_id"].nunique(),
        "image_instances": g.size(),
    }).reset_index()
    out.insert(2, "repository", [t[0].rsplit(":", 1)[0] if t else None for t in out["base_tags"]])
    return out.sort_values(["hosts", "base_image"], ascending=[False, True], ignore_index=True)


def host_base_rows(fleet) -> pd.DataFrame:
    """``layerlab.analyses.base_images`` of every host, with a ``host`` column."""
    if "bases" not in fleet._cache:
        futures = fleet.client.map(host_bases, fleet.batches, storage_options=fleet.storage_options, pure=False)
        fleet._cache["bases"] = pd.concat(gather(futures, "base images", fleet.progress), ignore_index=True)
    return fleet._cache["bases"]


def _glob_regex(pattern: str) -> str:
    """A shell glob as an anchored RE2 regex (Arrow's regex engine): ``*`` any run of characters
    (``/`` included, so ``*/libssl.so*`` matches at any depth), ``?`` one, ``[...]`` a class.
    Written here because fnmatch.translate's output uses Python-only syntax (``\\Z``)."""
    import re

    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[" and "]" in pattern[i + 2:]:  # a class holds one character at least
            j = pattern.index("]", i + 2)
            body = pattern[i + 1:j]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    return "^" + "".join(out) + "$"


def find(fleet, path: str | None = None, *, sha256: str | None = None, size: int | None = None) -> pd.DataFrame:
    """Hosts carrying a path (exact, or a glob such as ``*/libssl.so*``), a content hash (from
    ``scan --hash`` snapshots) or a file size, over every host's files, on the cluster.

    Returns one row per (host, layer, path): ``host``, ``path``, ``kind``, ``size``, ``sha256``,
    ``layer_id``, and ``images``: the shortest tag (or the ID) of each of the host's images whose
    layers hold it (empty for a container's read-write layer, ``container:<id>``).
    """
    if path is None and sha256 is None and size is None:
        raise FleetError("find needs a path, a sha256 or a size")
    if size is not None:
        from ..untrusted import parse_size

        try:  # a size past int64 cannot match the int64 column: refused, not an OverflowError there
            size = parse_size(size, "find's size", units=False)
        except ValueError as e:
            raise FleetError(str(e)) from None
    regex = _glob_regex(path) if path is not None and any(c in path for c in "*?[") else None
    exact = path if regex is None else None
    # One task per batch of hosts, matching on Arrow columns (only matches become pandas); the
    # images holding each match come from the shared tables (which summary and the others use too).
    futures = fleet.client.map(find_rows, fleet.coarse_batches, path=exact, regex=regex, sha256=sha256, size=size,
                               prefix=glob_prefix(path) if regex is not None else "",
                               storage_options=fleet.storage_options, pure=False)
    t = _frame_tables(fleet)
    parts = [r for r in gather(futures, "find", fleet.progress, [len(b) for b in fleet.coarse_batches], "host")
             if len(r)]
    hits = pd.concat(parts, ignore_index=True) if parts else find_rows([])
    if hits.empty:
        return hits.assign(images=pd.Series(dtype=object)).reset_index(drop=True)
    # Each match's images named in pandas: a loop over the matching layers' (host, image) rows cost
    # more than the find itself at 10,000 hosts (260,000 rows for a file of a shared base layer).
    il = t["listed_layers"]
    il = il[il["layer_id"].isin(set(hits["layer_id"]))].merge(_listed_names(t), on=[HOST, "image_id"])
    il = il.drop_duplicates([HOST, "layer_id", "name"]).sort_values("name", kind="stable")
    named = il.groupby([HOST, "layer_id"], observed=True, sort=False)["name"].agg(list).rename("images").reset_index()
    hits = hits.merge(named, on=[HOST, "layer_id"], how="left")
    hits["images"] = [v if isinstance(v, list) else [] for v in hits["images"]]
    return hits.sort_values([HOST, "path", "layer_id"], ignore_index=True)


def _listed_names(t: dict) -> pd.DataFrame:
    """``host``, ``image_id`` and ``name`` (the shortest tag, or the ID, as ``display.short_name``
    gives it) of each listed image, named once per distinct image and tags."""
    if "listed_names" not in t:
        from ..display import short_name

        listed = t["listed"]
        named: dict = {}
        names = []
        for iid, tags in zip(listed["image_id"], listed["tags"]):
            key = (iid, tuple(tags))
            if key not in named:
                named[key] = short_name(tags, iid)
            names.append(named[key])
        t["listed_names"] = pd.DataFrame({HOST: listed[HOST], "image_id": listed["image_id"],
                                          "name": pd.Series(names, dtype=object, index=listed.index)})
    return t["listed_names"]


def default_group(host: str) -> str:
    """A host's group when none is given: its name without a trailing number (``ci-agent-17`` ->
    ``ci-agent``)."""
    return re.sub(r"[-_.]?\d+$", "", host) or host


def drift(fleet, groups=None) -> pd.DataFrame:
    """Hosts whose image set differs from the rest of their group.

    Tagged images are compared by name (shortest tag), so one tag stored under another driver's
    ID is the same image; untagged ones (dangling build leftovers) are left out. A group's usual
    set is the images on more than half of its hosts; each host's ``missing``
    (usual images it lacks) and ``extra`` (images it has that are not usual), named by their
    shortest tag (or ID). ``groups`` maps host -> group (a dict, or a function); by default a host's name
    without its trailing number. Groups of one host are not compared (``drifted`` is False).
    """
    t = _tables(fleet)
    listed = t["listed"]
    name = {i: (min(tags, key=len) if len(tags) else i[:19]) for i, tags in zip(listed["image_id"], listed["tags"])}
    # Images are compared by name: the same tag built or pulled on each host has a different ID
    # on a host of another storage driver or image store, and that is not drift.
    # Untagged images (dangling build leftovers) are not part of what a host runs: left out.
    tagged = listed[listed["tags"].map(len) > 0]
    sets = tagged.assign(name=tagged["image_id"].map(name)).groupby(HOST, observed=True)["name"].apply(set)
    sets = sets.reindex(fleet.hosts["host"]).map(lambda s: s if isinstance(s, set) else set())
    if groups is None:
        group_of = default_group
    elif callable(groups):
        group_of = groups
    else:
        group_of = lambda h: groups.get(h, h)  # noqa: E731
    by_group: dict[str, list[str]] = {}
    for h in sets.index:
        by_group.setdefault(str(group_of(h)), []).append(h)
    rows = []
    for g, members in by_group.items():
        counts = pd.Series([i for h in members for i in sets[h]], dtype=object).value_counts()
        usual = set(counts[counts > len(members) / 2].index)
        for h in members:
            missing = sorted(usual - sets[h]) if len(members) > 1 else []
            extra = sorted(sets[h] - usual) if len(members) > 1 else []
            rows.append({"host": h, "group": g, "group_hosts": len(members), "images": len(sets[h]),
                         "missing": missing, "extra": extra, "drifted": bool(missing or extra)})
    return pd.DataFrame(rows, columns=["host", "group", "group_hosts", "images", "missing", "extra", "drifted"])


def summary(fleet) -> dict:
    """The fleet's totals: the stable interface of ``layerlab fleet summary --json``.

    ``hosts``; ``images`` (distinct listed image IDs); ``image_instances`` ((host, image) pairs);
    ``layers`` (distinct layer IDs of those images); ``files`` (files rows over all hosts);
    ``size_bytes`` (sum over hosts of each host's ``totals.physical_size``); ``unique_layer_bytes``
    (bytes of the fleet's distinct layers, each at the largest size a host records for it);
    ``reclaimable_bytes`` (sum over hosts); ``per_host`` (one dict per host); ``skipped`` and ``superseded`` snapshots.
    """
    t = _tables(fleet)
    ph = per_host(fleet)
    d = t["distinct_layers"]

    def clean(v):
        if isinstance(v, pd.Timestamp):
            return v.isoformat()
        if v is None or (isinstance(v, float) and not math.isfinite(v)) or v is pd.NA or v is pd.NaT:
            return None
        if hasattr(v, "item"):
            return v.item()
        return v

    per = [{k: clean(v) for k, v in r.items()} for r in ph.to_dict("records")]
    return {
        "hosts": len(ph),
        "images": int(t["listed"]["image_id"].nunique()),
        "image_instances": len(t["listed"]),
        "layers": len(d),
        "files": int(ph["files"].sum()),
        "size_bytes": int(ph["physical_size"].sum()),
        "unique_layer_bytes": int(d["size"].sum()),
        "reclaimable_bytes": int(ph["reclaimable_bytes"].sum()),
        "per_host": per,
        "skipped": [{k: clean(v) for k, v in r.items()} for r in fleet.skipped.to_dict("records")],
        "superseded": [{k: clean(v) for k, v in r.items()} for r in fleet.superseded.to_dict("records")],
    }


def find_package(fleet, name: str, version_spec: str | None = None, *, ecosystem: str | None = None) -> pd.DataFrame:
    """Every host and image holding package ``name`` (a glob such as ``libssl*`` too) at a version
    meeting ``version_spec`` (``"<3.0.13"``, ``">=1.2,<2"``), from the packages the hosts' snapshots
    keep (``layerlab scan --packages``). One row per (host, image, package): ``host``, ``image``
    (shortest tag, or the ID), ``image_id``, ``ecosystem``, ``name``, ``version``, ``layer_id``,
    ``bytes``. ``attrs["hosts_without_packages"]`` lists the hosts scanned without ``--packages``."""
    import fnmatch

    from ..analyses.packages import version_matches

    rows, missing = [], []
    for part in fleet.parts:
        try:
            pk = read_frame(part, "packages", storage_options=fleet.storage_options)
        except (OSError, ValueError):  # no packages.parquet: scanned without --packages
            missing.append(part[1])
            continue
        hit = pk[pk["name"].map(lambda n: fnmatch.fnmatchcase(n, name)).to_numpy(dtype=bool)]
        if ecosystem is not None:
            hit = hit[(hit["ecosystem"] == ecosystem).to_numpy()]
        hit = hit[hit["version"].map(lambda v: version_matches(v, version_spec)).to_numpy(dtype=bool)]
        rows.append(hit)
    cols = [HOST, "image", "image_id", "ecosystem", "name", "version", "layer_id", "bytes"]
    found = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=[c for c in cols if c != "image"])
    if len(found):
        listed = _frame_tables(fleet)["listed"]
        names = {(h, i): (min(t, key=len) if len(t) else i)
                 for h, i, t in zip(listed[HOST], listed["image_id"], listed["tags"])}
        found["image"] = [names.get((h, i), i) for h, i in zip(found[HOST], found["image_id"])]
    else:
        found["image"] = pd.Series(dtype=object)
    out = found[cols].sort_values([HOST, "image", "name"], kind="stable").reset_index(drop=True)
    out.attrs["hosts_without_packages"] = sorted(set(missing))
    return out
