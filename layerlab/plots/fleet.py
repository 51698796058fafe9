"""Fleet charts that read at fleet scale: distributions over hosts, top-N images, and a hosts ×
images map of the top images. Each takes tables from ``layerlab.fleet`` (pandas) and ``ax=``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..display import short_name, shorten
from ._util import bytes_axis, get_ax, no_data


def _name(tags, image_id: str) -> str:
    # The same tag can name different images on different hosts: the short ID tells them apart.
    return f"{short_name(tags, image_id)} ({image_id[7:15]})" if len(tags) else short_name(tags, image_id)


def host_distribution(per_host: pd.DataFrame, column: str = "physical_size", *, ax=None, bins: int = 30):
    """Histogram over hosts of a byte column of ``Fleet.per_host()`` (apparent bytes)."""
    ax = get_ax(ax)
    values = per_host[column].astype("float64")
    if values.empty:
        return no_data(ax, "no hosts")
    ax.hist(values, bins=min(bins, max(len(values), 1)), color="#4c72b0")
    bytes_axis(ax, "x", "apparent", float(values.max()) or 1.0)
    ax.set_ylabel("hosts")
    ax.set_title(f"{column.replace('_', ' ')} per host ({len(values)} hosts)")
    return ax


def top_images(top: pd.DataFrame, *, ax=None, column: str = "fleet_reclaimable_bytes"):
    """Horizontal bars: the images of ``Fleet.top_images()`` by fleet-wide reclaimable bytes
    (apparent), each bar labelled with the hosts that have the image."""
    ax = get_ax(ax)
    if top.empty:
        return no_data(ax, "no image has reclaimable bytes")
    top = top.iloc[::-1]
    names = [shorten(_name(t, i), 48) for t, i in zip(top["tags"], top["image_id"])]
    ax.barh(names, top[column], color="#dd8452")
    for y, (v, h) in enumerate(zip(top[column], top["hosts"])):
        ax.annotate(f" {h} host{'s' if h != 1 else ''}", (v, y), va="center", fontsize=8)
    bytes_axis(ax, "x", "apparent", float(top[column].max()) or 1.0)
    ax.set_title("Images whose fix saves the most fleet-wide (reclaimable bytes × hosts)")
    return ax


def hosts_images(listed: pd.DataFrame, images: pd.DataFrame, *, ax=None, n: int = 15, max_hosts: int = 60):
    """Hosts × images map for the ``n`` images on most hosts: a cell is filled when the host has
    the image. ``listed`` is (host, image_id) pairs, ``images`` is ``Fleet.images_across()``."""
    ax = get_ax(ax)
    top = images.head(n)
    if top.empty:
        return no_data(ax, "no images")
    hosts = sorted(listed["host"].unique())[:max_hosts]
    have = set(zip(listed["host"], listed["image_id"]))
    grid = np.array([[1.0 if (h, i) in have else 0.0 for h in hosts] for i in top["image_id"]])
    ax.imshow(grid, aspect="auto", cmap="Blues", vmin=0, vmax=1.3, interpolation="nearest")
    ax.set_yticks(range(len(top)), [shorten(_name(t, i), 48) for t, i in zip(top["tags"], top["image_id"])], fontsize=8)
    ax.set_xticks(range(len(hosts)), hosts, rotation=90, fontsize=7)
    more = f" (first {max_hosts} of {listed['host'].nunique()} hosts)" if listed["host"].nunique() > max_hosts else ""
    ax.set_title(f"Which host has which image: the {len(top)} images on most hosts{more}")
    return ax


def stored_vs_distinct(summary: dict, *, ax=None):
    """Bytes the hosts store (each host's distinct layers) against the fleet's distinct layers
    (what one shared layer store would hold), apparent bytes."""
    ax = get_ax(ax)
    labels = ["stored on the hosts", "distinct layers", "reclaimable (waste)"]
    values = [summary["size_bytes"], summary["unique_layer_bytes"], summary["reclaimable_bytes"]]
    ax.bar(labels, values, color=["#4c72b0", "#55a868", "#c44e52"])
    bytes_axis(ax, "y", "apparent", float(max(values)) or 1.0)
    ax.set_title(f"{summary['hosts']} hosts: layer bytes stored vs distinct")
    return ax


def growth(by_date: pd.DataFrame, *, ax=None):
    """The fleet's stored and reclaimable bytes per snapshot date (``Fleet.trend(by="date")``,
    apparent bytes), each day labelled with the hosts counted."""
    ax = get_ax(ax)
    if by_date.empty:
        return no_data(ax, "no dated snapshots")
    days = pd.to_datetime(by_date["date"])
    ax.plot(days, by_date["size_bytes"], marker="o", color="#4c72b0", label="stored (size_bytes)")
    ax.plot(days, by_date["reclaimable_bytes"], marker="o", color="#dd8452", label="reclaimable")
    for x, y, h in zip(days, by_date["size_bytes"], by_date["hosts"]):
        ax.annotate(f"{h}", (x, y), textcoords="offset points", xytext=(0, 5), ha="center", fontsize=7)
    bytes_axis(ax, "y", "apparent", float(by_date["size_bytes"].max()) or 1.0)
    ax.set_xlabel("snapshot date (UTC)")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("The fleet's image bytes per day (numbers: hosts counted)")
    ax.figure.autofmt_xdate()
    return ax
