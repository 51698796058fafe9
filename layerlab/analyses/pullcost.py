"""Pull and release cost: how long a pull takes, and what each release of an image makes a host download.

    release_cost("localhost:5000/team/app")                 # one row per tag, oldest image first
    pull_cost("localhost:5000/team/app:2", bandwidth="100Mbit", have="localhost:5000/team/app:1")

Sizes are the registry's compressed blob bytes (what a pull downloads), exact integers from the
manifests. The pull model follows dockerd's puller (moby ``distribution/xfer``): downloads run up to
``concurrency`` at a time sharing the link, each after one request's latency, checked by digest as
they stream; a finished download frees its slot at once, and layers are unpacked one after another
in layer order, each as soon as it is downloaded and the layer below it is unpacked. Unpacking takes
the layer's uncompressed bytes at this host's measured inflate speed for its compression
(:func:`inflate_speeds`). dockerd skips a layer whose chain (the layer and every layer below it) is
already present; containerd skips a layer whose blob it already holds, wherever it sits.
"""

from __future__ import annotations

import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from ..errors import (OPTIONAL_TEXT, ArgumentError, Expect, ImageNotFound, LayerlabError, UnsupportedManifest,
                      expects, whole_number)
from ..oci.config import chain_ids, diff_ids, parse_time
from ..oci.manifest import INDEX_TYPES, SCHEMA1, host_platform, platform_matches
from ..oci.reference import Reference, parse_repository
from ..untrusted import load_json
from .opening import analysis

RELEASE_COLUMNS = ["tag", "digest", "platform", "created", "layers", "size", "new_bytes", "new_layers",
                   "first_changed_position", "created_by", "reship_bytes"]
#: The keys of one tag in ``layerlab registry churn --json`` (the stable interface).
RELEASE_JSON_KEYS = ("tag", "digest", "created", "new_bytes", "new_layers", "first_changed_position", "created_by")


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_client(v) -> bool:
    from ..sources.registry import RegistryClient

    return isinstance(v, RegistryClient)


def _is_inventory(v) -> bool:
    from ..frames.inventory import Inventory

    return isinstance(v, Inventory)


def _one_have(v) -> bool:
    return isinstance(v, (str, os.PathLike)) or _is_inventory(v)


_REPOSITORY = Expect("a repository (a string such as 'registry:5000/team/app') or a Reference", str, Reference)
_CLIENT = Expect("a RegistryClient or None", none=True, test=_is_client)
_SOURCE_OR_REF = Expect("a registry reference, or a source (a path, 'sample', an Inventory)", str,
                        test=lambda v: _one_have(v))
_HAVE = Expect("None, an image reference or source (path, Inventory), or a list of them", none=True,
               test=lambda v: _one_have(v) or (isinstance(v, (list, tuple)) and all(_one_have(x) for x in v)))
_RATE_ARG = Expect("a rate such as '100Mbit' or '12.5MB/s', or bytes per second (a number)", str, test=_number)
_LATENCY = Expect("seconds (a number), a time such as '20ms', or None (measured)", str, none=True, test=_number)
_SECONDS = Expect("seconds (a number >= 0)", test=lambda v: _number(v) and v >= 0)
_SPEEDS = Expect("a dict of compression -> bytes per second, or None (measured)", dict, none=True)
_SIZES = Expect("a list of whole numbers (bytes), or None", none=True,
                test=lambda v: isinstance(v, (list, tuple)) and all(whole_number(0)(x) for x in v))
_TAGS = Expect("a list of tag names, or None (every tag)", none=True,
               test=lambda v: isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v))


# -- which image a pull takes ------------------------------------------------------------------------

def pulled_image(client, reference, platform: str | None = None):
    """``(inspection, image)``: the platform image a pull of ``reference`` takes. From an index, the
    entry for ``platform`` (default this host's); a single image is taken whatever its platform, as
    docker pulls it, unless ``platform`` is given and differs. Unknown tag or platform: ImageNotFound."""
    ref = Reference.parse(reference) if isinstance(reference, str) else reference
    info = client.inspect(ref)
    want = platform or host_platform()
    if len(info.images) == 1 and info.media_type not in INDEX_TYPES:
        image = info.images[0]
        if platform and not platform_matches(platform, image.platform):
            raise ImageNotFound(f"{ref} is one image for {image.platform}, not {platform}", ref=str(ref))
        return info, image
    matching = [i for i in info.images if platform_matches(want, i.platform)]
    if not matching:
        raise ImageNotFound(f"{ref} has no image for platform {want}; it has: "
                            f"{', '.join(i.platform for i in info.images) or 'none'} (pass platform=)", ref=str(ref))
    return info, matching[0]


def layer_commands(config: dict, layer_count: int) -> list[str | None]:
    """The Dockerfile line (history ``created_by``) that made each layer, base first; None where the
    history does not say (it must have one non-empty entry per layer)."""
    made = [h for h in config.get("history") or [] if not h.get("empty_layer")]
    if len(made) != layer_count:
        return [None] * layer_count
    return [h.get("created_by") if isinstance(h.get("created_by"), str) else None for h in made]


# -- release cost ----------------------------------------------------------------------------------

def release_steps(images: list[dict]) -> list[dict]:
    """For images in release order (each a dict with ``layers``: [(digest, size)], ``commands``), what a
    host holding the previous one downloads: ``new_bytes``/``new_layers`` (blobs not in the previous
    manifest: containerd's rule, and dockerd's when the layers kept their places), the position of the
    first layer that differs (everything from there re-ships under dockerd, whose layers are chains:
    ``reship_bytes``) and that layer's Dockerfile line. The first image counts whole."""
    out, previous = [], None
    for image in images:
        layers = image["layers"]
        before = [d for d, _ in previous["layers"]] if previous else []
        had = set(before)
        new = {d: s for d, s in layers if d not in had}  # a blob twice in one manifest is fetched once
        first = next((p for p, (d, _) in enumerate(layers) if p >= len(before) or before[p] != d), None)
        out.append({"new_bytes": sum(new.values()), "new_layers": len(new), "first_changed_position": first,
                    "created_by": image["commands"][first] if first is not None else None,
                    "reship_bytes": sum(s for _, s in layers[first:]) if first is not None else 0})
        previous = image
    return out


@expects(repository=_REPOSITORY, client=_CLIENT, platform=OPTIONAL_TEXT, tags=_TAGS,
         hosts=Expect("a whole number of hosts, or None", none=True, test=whole_number(0)))
def release_cost(repository: str, client=None, *, platform: str | None = None, tags=None,
                 hosts: int | None = None) -> pd.DataFrame:
    """One row per tag of ``repository``, in the order of its images' creation time (then tag name):
    ``new_bytes``/``new_layers`` a host holding the previous tag's image must download, the
    ``first_changed_position`` and its ``created_by`` line, and ``reship_bytes`` (what dockerd, whose
    layers are chains, downloads: everything from the first changed position). ``hosts``: adds
    ``fleet_bytes`` = hosts x new_bytes. Tags pointing at one image make one release each (0 new bytes
    after the first). ``client``: a RegistryClient (default: one with the user's docker config)."""
    from ..sources.registry import RegistryClient

    repo = parse_repository(repository) if isinstance(repository, str) else repository
    own = client is None
    client = client or RegistryClient()
    try:
        names = list(tags) if tags is not None else client.tags(repo)

        def one(tag):
            info, image = pulled_image(client, repo.with_tag(tag), platform)
            return {"tag": tag, "digest": info.digest, "platform": image.platform, "created": image.created,
                    "layers": [(d.digest, max(d.size, 0)) for d in image.layers],  # schema1: -1
                    "commands": layer_commands(image.config, len(image.layers))}

        # the client's connection pool serves concurrent requests (as registry_frames uses it)
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(names)))) as pool:
            images = list(pool.map(one, names))
    finally:
        if own:
            client.close()
    def order(image):  # an image without a (valid) creation time first, then by time, then by tag
        created = parse_time(image["created"])
        return (not pd.isna(created), created if not pd.isna(created) else pd.Timestamp(0, tz="UTC"), image["tag"])

    images.sort(key=order)
    rows = [{"tag": i["tag"], "digest": i["digest"], "platform": i["platform"], "created": i["created"],
             "layers": len(i["layers"]), "size": sum(s for _, s in i["layers"]), **step}
            for i, step in zip(images, release_steps(images))]
    df = pd.DataFrame(rows, columns=RELEASE_COLUMNS).astype(
        {"layers": "int64", "size": "int64", "new_bytes": "int64", "new_layers": "int64",
         "first_changed_position": "Int64", "reship_bytes": "int64"})
    df.attrs["repository"] = repo.repository
    if hosts is not None:
        df["fleet_bytes"] = (df["new_bytes"] * hosts).astype("int64")
        df.attrs["hosts"] = hosts
    return df


def release_cost_json(frame: pd.DataFrame) -> dict:
    """``{"repository", "tags": [{tag, digest, created, new_bytes, new_layers, first_changed_position,
    created_by}]}`` with exact integers (and ``hosts``/``fleet_bytes`` when the frame has them)."""
    tags = []
    for row in frame.to_dict("records"):
        item = {k: None if not isinstance(row[k], (list, dict)) and pd.isna(row[k]) else row[k]
                for k in RELEASE_JSON_KEYS}
        for k in ("new_bytes", "new_layers"):
            item[k] = int(item[k])
        pos = item["first_changed_position"]
        item["first_changed_position"] = None if pos is None else int(pos)
        if "fleet_bytes" in row:
            item["fleet_bytes"] = int(row["fleet_bytes"])
        tags.append(item)
    out = {"repository": frame.attrs.get("repository"), "tags": tags}
    if "hosts" in frame.attrs:
        out["hosts"] = frame.attrs["hosts"]
    return out


# -- the host's inflate speed ----------------------------------------------------------------------

_UNITS = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "ki": 1024, "mi": 1024 ** 2, "gi": 1024 ** 3,
          "ti": 1024 ** 4}
_RATE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kmgt]i?)?\s*(bit/s|bits/s|bit|bps|b/s|b|/s)?\s*$", re.I)


def parse_bandwidth(value) -> float:
    """Bytes per second from ``"100Mbit"``, ``"1Gbit"``, ``"100Mbps"`` (bits), ``"12.5MB/s"``,
    ``"10MiB/s"`` (bytes) or a number (bytes per second)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        rate = float(value)
    else:
        m = _RATE.match(str(value))
        if not m:
            raise ArgumentError(f"bandwidth {value!r} is not a rate: write e.g. 100Mbit, 1Gbit, 12.5MB/s or 10MiB/s")
        number, prefix, unit = m.groups()
        scale = _UNITS[(prefix or "").lower()]
        bits = unit is not None and (unit.lower().startswith("bit") or unit.lower() == "bps" or unit == "b")
        rate = float(number) * scale / (8 if bits else 1)
    if not rate > 0:
        raise ArgumentError(f"bandwidth {value!r} must be more than 0")
    return rate


def parse_seconds(value) -> float:
    """Seconds from a number or ``"20ms"``, ``"0.1s"``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        m = re.match(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s|us)?\s*$", str(value))
        if not m:
            raise ArgumentError(f"latency {value!r} is not a time: write e.g. 20ms or 0.1s")
        seconds = float(m.group(1)) * {"ms": 1e-3, "us": 1e-6}.get(m.group(2), 1)
    if seconds < 0:
        raise ArgumentError(f"latency {value!r} must not be negative")
    return seconds


def default_speed_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "layerlab" / "inflate-speed.json"


def _corpus(size: int) -> bytes:
    """What layers hold, from this host: its Python installation's files (sources, bytecode, shared
    libraries), read until ``size`` bytes; deterministic for one installation."""
    import sys

    out, total = [], 0
    for root, dirs, files in os.walk(os.path.dirname(os.__file__)):
        dirs.sort()
        for name in sorted(files):
            try:
                with open(os.path.join(root, name), "rb") as f:
                    data = f.read(size - total)
            except OSError:
                continue
            out.append(data)
            total += len(data)
            if total >= size:
                return b"".join(out)
    out.append(sys.executable.encode() * ((size - total) // 16 + 1))
    return b"".join(out)[:size]


def measure_inflate_speeds(size: int = 24 << 20, repeat: int = 3) -> dict:
    """Uncompressed bytes per second this host inflates, per compression (``gzip`` as docker writes it,
    level 6; ``zstd`` level 3), the best of ``repeat`` runs on a corpus of this host's files."""
    import gzip
    import zlib

    import zstandard

    data = _corpus(size)
    blobs = {"gzip": (gzip.compress(data, compresslevel=6, mtime=0), lambda b: zlib.decompressobj(31).decompress(b)),
             "zstd": (zstandard.ZstdCompressor(level=3).compress(data),
                      lambda b: zstandard.ZstdDecompressor().decompress(b))}
    speeds = {}
    for name, (blob, inflate) in blobs.items():
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            inflate(blob)
            best = min(best, time.perf_counter() - t)
        speeds[name] = len(data) / best
    return {"bytes_per_second": speeds, "corpus_bytes": len(data), "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                             time.gmtime())}


def inflate_speeds(cache: str | os.PathLike | None = None, refresh: bool = False) -> dict:
    """``{"gzip": bytes/s, "zstd": bytes/s}``: this host's inflate speeds, measured once
    (:func:`measure_inflate_speeds`, about a second) and kept in layerlab's cache directory."""
    path = Path(cache) if cache else default_speed_cache()
    if not refresh:
        try:
            data = load_json(path.read_text(), str(path))
            speeds = data["bytes_per_second"]
            if all(isinstance(speeds.get(k), (int, float)) and speeds[k] > 0 for k in ("gzip", "zstd")):
                return dict(speeds)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
    data = measure_inflate_speeds()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home: measured again next time
    return dict(data["bytes_per_second"])


def compression_of_media_type(media_type: str) -> str:
    if "zstd" in media_type:
        return "zstd"
    if "gzip" in media_type:
        return "gzip"
    return "none"


# -- the pull model ----------------------------------------------------------------------------------

PULL_COLUMNS = ["engine", "position", "digest", "compression", "size", "uncompressed", "fetched", "bytes_fetched",
                "unpacked", "download_start", "download_end", "unpack_start", "unpack_end", "created_by"]
ENGINES = ("dockerd", "containerd")
#: A layer whose tar is at most this much larger than its blob did not compress: its blob holds stored
#: blocks (gzip, zstd raw blocks), which inflate at the speed of a copy, not the measured inflate speed.
STORED_RATIO = 1.05


def simulate_pull(layers: list[dict], *, bandwidth: float, concurrency: int, latency: float, speeds: dict,
                  layer_overhead: float = 0.0, start: float = 0.0) -> list[dict]:
    """Times of one pull. ``layers`` base first, each ``size`` (compressed bytes), ``uncompressed``,
    ``compression``, ``fetch`` and ``unpack`` (False: already present). Downloads are queued in layer
    order, at most ``concurrency`` at once; each waits ``latency`` (its request) and then shares
    ``bandwidth`` (bytes/s) equally with the others moving bytes (TCP flows on one bottleneck link).
    A layer unpacks when it is downloaded and the layer below is unpacked: uncompressed bytes at the
    compression's inflate speed (``speeds``), plus the same bytes at ``speeds["write"]`` when given (the
    daemon writing the files), plus ``layer_overhead`` seconds (registering the layer)."""
    # Hand-written: an event loop over a handful of transfers; no library models processor sharing.
    times = [{"download_start": None, "download_end": None, "unpack_start": None, "unpack_end": None}
             for _ in layers]
    queue = [i for i, layer in enumerate(layers) if layer["fetch"]]
    active: dict[int, list[float]] = {}  # index -> [ready at (after its request), bytes left]
    now = start
    while queue or active:
        while queue and len(active) < concurrency:
            i = queue.pop(0)
            times[i]["download_start"] = now
            active[i] = [now + latency, float(layers[i]["size"])]
        moving = [i for i, (ready, _) in active.items() if ready <= now + 1e-12]
        rate = bandwidth / len(moving) if moving else 0.0
        events = [ready for ready, _ in active.values() if ready > now + 1e-12]
        events += [now + active[i][1] / rate for i in moving]
        step = min(events) - now
        for i in moving:
            active[i][1] -= rate * step
        now += step
        for i in [i for i, (ready, left) in active.items() if ready <= now + 1e-12 and left <= 1e-6]:
            times[i]["download_end"] = now
            del active[i]
    below = start
    for i, layer in enumerate(layers):
        if not layer["unpack"]:
            continue
        ready = times[i]["download_end"] if layer["fetch"] else start
        times[i]["unpack_start"] = max(ready, below)
        speed = speeds.get(layer["compression"])
        inflate = layer["uncompressed"] / speed if speed else 0.0
        if layer["uncompressed"] <= layer["size"] * STORED_RATIO:
            inflate = 0.0  # incompressible data is kept in stored blocks: inflating them is a copy
        write = layer["uncompressed"] / speeds["write"] if speeds.get("write") else 0.0
        times[i]["unpack_end"] = below = times[i]["unpack_start"] + inflate + write + layer_overhead
    return times


def _speeds_of(inputs: dict) -> dict:
    """The ``speeds`` a model ran with, from its ``inputs``."""
    speeds = dict(inputs["inflate_bytes_per_second"])
    if inputs.get("write_bytes_per_second"):
        speeds["write"] = inputs["write_bytes_per_second"]
    return speeds


class PullCost:
    """What :func:`pull_cost` found: ``layers`` (one row per engine and layer: bytes fetched, download
    and unpack start and end in seconds from the pull's start), ``total`` (seconds per engine),
    ``bytes`` (bytes fetched per engine) and the model's inputs (``inputs``)."""

    def __init__(self, reference: str, platform: str, layers: pd.DataFrame, inputs: dict):
        self.reference, self.platform, self.layers, self.inputs = reference, platform, layers, inputs
        self.total = {e: float(g[["download_end", "unpack_end"]].max().max()) if g[["download_end", "unpack_end"]]
                      .notna().any().any() else float(inputs["start"]) for e, g in layers.groupby("engine", sort=False)}
        self.bytes = {e: int(g["bytes_fetched"].sum()) for e, g in layers.groupby("engine", sort=False)}

    def __repr__(self) -> str:
        parts = ", ".join(f"{e} {self.total[e]:.2f} s ({self.bytes[e]} bytes)" for e in self.total)
        return f"<PullCost {self.reference} [{self.platform}]: {parts}>"

    def with_link(self, bandwidth=None, concurrency: int | None = None) -> "PullCost":
        """The same pull on another link or with another number of downloads at once (no network)."""
        i = self.inputs
        return model_pull(self.layers, bandwidth=bandwidth or i["bandwidth_bytes_per_second"],
                          concurrency=concurrency or i["concurrency"], latency=i["latency_seconds"],
                          speeds=_speeds_of(i), layer_overhead=i["layer_overhead_seconds"],
                          start=i["start"], reference=self.reference, platform=self.platform)

    def differs(self) -> bool:
        """True when containerd's pull differs from dockerd's (a blob present under another chain)."""
        d = self.layers[self.layers["engine"] == "dockerd"].reset_index(drop=True)
        c = self.layers[self.layers["engine"] == "containerd"].reset_index(drop=True)
        return not d["fetched"].equals(c["fetched"]) or not d["unpacked"].equals(c["unpacked"])

    def to_dict(self) -> dict:
        def num(v):
            return None if pd.isna(v) else round(float(v), 6)

        engines = {}
        for engine, g in self.layers.groupby("engine", sort=False):
            engines[engine] = {"total_seconds": round(self.total[engine], 6), "bytes_fetched": self.bytes[engine],
                               "layers": [{"position": int(r["position"]), "digest": r["digest"],
                                           "compression": r["compression"], "size": int(r["size"]),
                                           "uncompressed": int(r["uncompressed"]), "fetched": bool(r["fetched"]),
                                           "bytes_fetched": int(r["bytes_fetched"]), "unpacked": bool(r["unpacked"]),
                                           **{k: num(r[k]) for k in ("download_start", "download_end",
                                                                     "unpack_start", "unpack_end")}}
                                          for r in g.to_dict("records")]}
        return {"reference": self.reference, "platform": self.platform, "inputs": self.inputs, "engines": engines}


def _is_local(value) -> bool:
    if not isinstance(value, (str, os.PathLike)):
        return True  # an Inventory
    text = os.fspath(value)
    return os.path.exists(text) or text == "sample" or text.startswith(("sample:", "oci:", "oci-archive:",
                                                                        "docker-archive:", "containers-storage:"))


def _present(client, have, platform) -> tuple[set, set]:
    """(chain IDs, blob digests) a host holds: from registry references, or a local source (a data
    root, a snapshot, an archive, an Inventory: its layers and the blobs they were pulled as)."""
    chains, blobs = set(), set()
    items = have if isinstance(have, (list, tuple)) else [have]
    for item in items:
        if item is None:
            continue
        if _is_local(item):
            from ..sources import open_source

            inv = open_source(item)
            il = inv.image_layers.sort_values(["image_id", "position"], kind="stable")
            for _, g in il.groupby("image_id", sort=False):
                chains.update(chain_ids([d for d in g["diff_id"] if isinstance(d, str)]))
            for digests in inv.layers["compressed"]:
                blobs.update(list(digests) if digests is not None else [])
            continue
        text = os.fspath(item)
        _, image = pulled_image(client, text.removeprefix("docker://"), platform)
        chains.update(chain_ids(diff_ids(image.config)))
        blobs.update(layer.digest for layer in image.layers)
    return chains, blobs


def _local_or_remote(source, image: str):
    """(the host's Inventory, the reference to pull): an image the host's store holds is pulled by its
    repo digest (where it came from or went to), anything else is a registry reference."""
    from ..sources import open_source

    inv = open_source(source)
    try:
        image_id = inv.image_id(image)
    except ImageNotFound:
        return inv, image
    row = inv.images[inv.images["image_id"] == image_id].iloc[0]
    digests = list(row["digests"] if row["digests"] is not None else [])
    if not digests:
        raise ImageNotFound(f"{image} is in {source} but has no repo digest (it was never pushed or pulled): give "
                            "the registry reference to pull", ref=image)
    return inv, digests[0]


def uncompressed_sizes(client, reference, platform: str) -> list[int]:
    """Each layer's uncompressed tar size, base first, read from the registry (each blob streamed once,
    checked, and kept in layerlab's layer cache, so a second call reads the cache)."""
    from ..sources.registry.image import LayerCache, registry_image

    cache = LayerCache()
    entry = registry_image(client, reference, platform, cache if cache.max_bytes > 0 else None, verify=False)
    return [blob.read(blob.diff_id).tar_size for blob in entry.layers]


def measure_latency(client, host: str, repeat: int = 3) -> float:
    """Seconds one request to ``host`` takes (the best of ``repeat`` pings of ``/v2/``)."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        client.ping(host)
        best = min(best, time.perf_counter() - t)
    return best


@expects(source_or_ref=_SOURCE_OR_REF, image=OPTIONAL_TEXT, bandwidth=_RATE_ARG,
         concurrency=Expect("a whole number of downloads at once (1 or more)", test=whole_number(1)), have=_HAVE,
         client=_CLIENT, platform=OPTIONAL_TEXT, latency=_LATENCY, layer_overhead=_SECONDS,
         pull_overhead=_SECONDS, speeds=_SPEEDS,
         uncompressed=_SIZES)
def pull_cost(source_or_ref, image: str | None = None, bandwidth="100Mbit", concurrency: int = 3, have=None, *,
              client=None, platform: str | None = None, latency=None, layer_overhead: float = 0.0,
              pull_overhead: float = 0.0,
              speeds: dict | None = None, uncompressed: list[int] | None = None) -> PullCost:
    """How long pulling an image takes, layer by layer, as dockerd and containerd pull it.

    ``pull_cost("localhost:5000/app:2")``: a pull of that reference onto an empty host;
    ``pull_cost(source, "localhost:5000/app:2")``: onto a host holding what ``source`` holds (a data
    root, a snapshot, an archive, an Inventory). ``have``: more that is already present (registry
    references or local sources). ``bandwidth``: ``"100Mbit"``, ``"1Gbit"``, ``"12.5MB/s"`` or bytes/s;
    ``concurrency``: dockerd's ``--max-concurrent-downloads``; ``latency``: seconds (or ``"20ms"``) per
    request, default measured against the registry; ``pull_overhead``: seconds the client and daemon take
    besides the requests and layers (``docker pull``'s own start and end; counted at the start);
    ``layer_overhead``: seconds to register one layer after unpacking it; ``speeds``: inflate bytes/s
    per compression (default this host's, measured once: :func:`inflate_speeds`), and ``"write"``: the
    bytes/s the daemon writes a layer's files at, if known (else not counted); ``uncompressed``: the
    layers' tar sizes, if known (else read from the registry).
    """
    from ..sources.registry import RegistryClient

    rate = parse_bandwidth(bandwidth)
    host_source = None
    if image is None:
        reference = source_or_ref
    else:
        host_source, reference = source_or_ref, image
    if not isinstance(reference, str) or not reference.strip():
        raise ArgumentError(f"pull_cost: give the image to pull as a registry reference, not {reference!r}")
    reference = reference.strip().removeprefix("docker://")
    if host_source is not None:
        host_source, reference = _local_or_remote(host_source, reference)
    ref = Reference.parse(reference)
    own = client is None
    client = client or RegistryClient()
    try:
        info, img = pulled_image(client, ref, platform)
        if img.media_type in SCHEMA1:
            raise UnsupportedManifest(f"{ref} is a schema1 image, whose manifest gives neither layer sizes nor diff "
                                      "IDs; copy it to a schema2 or OCI image (skopeo copy) to model its pull",
                                      ref=str(ref))
        if latency is None:
            latency = measure_latency(client, ref.api_host)
        latency = parse_seconds(latency)
        chains, blobs = _present(client, [host_source, *(have if isinstance(have, (list, tuple)) else [have])],
                                 platform)
        sizes = list(uncompressed) if uncompressed is not None else uncompressed_sizes(client, ref, img.platform)
    finally:
        if own:
            client.close()
    if len(sizes) != len(img.layers):
        raise LayerlabError(f"{ref}: {len(img.layers)} layers but {len(sizes)} uncompressed sizes given")
    speeds = dict(speeds or inflate_speeds())
    ids = chain_ids(diff_ids(img.config))
    if len(ids) != len(img.layers):
        raise LayerlabError(f"{ref}: the config has {len(ids)} diff IDs for {len(img.layers)} layers; the image is "
                            "damaged")
    commands = layer_commands(img.config, len(img.layers))
    # The pull starts with requests one after another: the /v2/ ping, the manifest, the platform's manifest
    # from an index (the config is fetched alongside the layers).
    start = pull_overhead + latency * (3 if info.media_type in INDEX_TYPES else 2)
    rows = []
    for engine in ENGINES:
        for p, desc in enumerate(img.layers):
            have_chain = ids[p] in chains
            fetch = not have_chain if engine == "dockerd" else (not have_chain and desc.digest not in blobs)
            rows.append({"engine": engine, "position": p, "digest": desc.digest,
                         "compression": compression_of_media_type(desc.media_type), "size": desc.size,
                         "uncompressed": sizes[p], "fetched": fetch, "unpacked": not have_chain,
                         "created_by": commands[p]})
    return model_pull(pd.DataFrame(rows), bandwidth=rate, concurrency=concurrency, latency=latency, speeds=speeds,
                      layer_overhead=layer_overhead, start=start, reference=str(ref), platform=img.platform)


def model_pull(layers: pd.DataFrame, *, bandwidth, concurrency: int, latency: float, speeds: dict,
               layer_overhead: float = 0.0, start: float = 0.0, reference: str = "", platform: str = "") -> PullCost:
    """The model run on given layers: one row per engine and layer with ``engine``, ``position``,
    ``digest``, ``compression``, ``size`` (compressed bytes), ``uncompressed``, ``fetched`` and
    ``unpacked`` (False: present on the host), ``created_by``. No network: what :func:`pull_cost`,
    :meth:`PullCost.with_link` and :func:`what_if` share."""
    rate = parse_bandwidth(bandwidth)
    speeds = dict(speeds)
    speeds.setdefault("none", 0)  # an uncompressed layer: nothing to inflate
    frames = []
    for engine, g in layers.groupby("engine", sort=False):
        g = g.sort_values("position").reset_index(drop=True)
        spec = [{"size": int(r["size"]), "uncompressed": int(r["uncompressed"]), "compression": r["compression"],
                 "fetch": bool(r["fetched"]), "unpack": bool(r["unpacked"])} for r in g.to_dict("records")]
        times = pd.DataFrame(simulate_pull(spec, bandwidth=rate, concurrency=concurrency, latency=latency,
                                           speeds=speeds, layer_overhead=layer_overhead, start=start))
        g = g.drop(columns=[c for c in times.columns if c in g.columns])
        g["bytes_fetched"] = g["size"].where(g["fetched"].astype(bool), 0)
        frames.append(pd.concat([g, times], axis=1))
    frame = pd.concat(frames, ignore_index=True)[PULL_COLUMNS].astype(
        {"position": "int64", "size": "int64", "uncompressed": "int64", "bytes_fetched": "int64", "fetched": "bool",
         "unpacked": "bool", "download_start": "float64", "download_end": "float64", "unpack_start": "float64",
         "unpack_end": "float64"})
    inputs = {"bandwidth_bytes_per_second": rate, "concurrency": concurrency, "latency_seconds": latency,
              "layer_overhead_seconds": layer_overhead, "start": start,
              "inflate_bytes_per_second": {k: v for k, v in speeds.items() if k not in ("none", "write")},
              "write_bytes_per_second": speeds.get("write")}
    return PullCost(reference, platform, frame, inputs)


# -- what if -----------------------------------------------------------------------------------------

WHAT_IF_COLUMNS = ["variant", "layers", "pull_bytes", "pull_seconds", "release_bytes", "estimated", "note"]


def _moved_to_top(layers: pd.DataFrame, position: int) -> pd.DataFrame:
    order = [p for p in layers["position"] if p != position] + [position]
    out = layers.set_index("position").loc[order].reset_index()
    out["position"] = range(len(out))
    return out


@expects(changes=Expect("a layer position (a whole number) or None (the first COPY below a RUN)", none=True,
                        test=whole_number(0)),
         reclaimable=Expect("a dict of layer position -> uncompressed bytes, a waste frame, or None", dict,
                            pd.DataFrame, none=True))
def what_if(cost: PullCost, changes: int | None = None, reclaimable=None) -> pd.DataFrame:
    """The image of ``cost`` as it is and changed three ways, each pulled onto an empty host over the
    same link (dockerd's model): ``reordered`` (the layer each release changes, ``changes``, moved to the
    top, as moving ``COPY . .`` after the dependency install does), ``squashed`` (one layer) and
    ``debloated`` (each layer without its ``reclaimable`` bytes: ``analyses.waste`` rows, or
    {position: bytes}). ``release_bytes``: what a release that changes layer ``changes`` makes a host
    download (everything from that layer up re-ships: a rebuild re-runs the steps above it). Sizes of a
    squashed or debloated image are estimates (``estimated``): compressed bytes scale with the
    uncompressed bytes kept."""
    if not isinstance(cost, PullCost):
        raise ArgumentError(f"what_if(): cost must be a PullCost (from pull_cost), not {type(cost).__name__}")
    base = cost.layers[cost.layers["engine"] == "dockerd"].sort_values("position").reset_index(drop=True)
    base = base[["engine", "position", "digest", "compression", "size", "uncompressed", "created_by"]].copy()
    base["fetched"], base["unpacked"] = True, True
    n = len(base)
    if n == 0:
        raise LayerlabError(f"{cost.reference} has no layers: nothing to change")
    if changes is None:
        changes = _release_layer(list(base["created_by"]))
    if changes >= n:
        raise ArgumentError(f"what_if(): changes must be a layer position below {n}, not {changes}")
    i = cost.inputs
    link = {"bandwidth": i["bandwidth_bytes_per_second"], "concurrency": i["concurrency"],
            "latency": i["latency_seconds"], "speeds": _speeds_of(i),
            "layer_overhead": i["layer_overhead_seconds"], "start": i["start"]}

    def row(variant, layers, release, estimated, note):
        pulled = model_pull(layers, **link)
        return {"variant": variant, "layers": len(layers), "pull_bytes": int(layers["size"].sum()),
                "pull_seconds": pulled.total["dockerd"], "release_bytes": int(release), "estimated": estimated,
                "note": note}

    sizes = list(base["size"])
    rows = [row("as is", base, sum(sizes[changes:]), False, f"a release changes layer {changes}")]
    rows.append(row("reordered", _moved_to_top(base, changes), sizes[changes], False,
                    f"layer {changes} moved to the top: a release re-ships it alone"))
    squashed = base.iloc[:1].copy()
    squashed["size"], squashed["uncompressed"] = int(base["size"].sum()), int(base["uncompressed"].sum())
    rows.append(row("squashed", squashed, int(squashed["size"].iloc[0]), True, "one layer: every release re-ships it"))
    hidden = _reclaimable(reclaimable, n)
    if hidden is not None:
        lean = base.copy()
        kept = [max(0.0, 1 - hidden.get(p, 0) / u) if u else 1.0
                for p, u in zip(lean["position"], lean["uncompressed"])]
        lean["size"] = [round(s * k) for s, k in zip(lean["size"], kept)]
        lean["uncompressed"] = [round(u * k) for u, k in zip(lean["uncompressed"], kept)]
        rows.append(row("debloated", lean, int(lean["size"].iloc[changes:].sum()), True,
                        f"{sum(hidden.values())} reclaimable bytes removed"))
    return pd.DataFrame(rows, columns=WHAT_IF_COLUMNS)


def _release_layer(commands: list) -> int:
    """The layer a release changes, when not given: the first ``COPY`` with a ``RUN`` above it (the
    source copied in before the dependency install), else the top layer."""
    for p, command in enumerate(commands):
        if isinstance(command, str) and "COPY" in command and any(_is_run(c) for c in commands[p + 1:]):
            return p
    return len(commands) - 1


def _is_run(command) -> bool:
    """A history line a ``RUN`` made: the classic builder's ``/bin/sh -c ...`` (not ``#(nop)``), BuildKit's ``RUN``."""
    return isinstance(command, str) and "#(nop)" not in command and (
        command.startswith("RUN ") or command.startswith("/bin/sh -c "))


def _reclaimable(reclaimable, n: int) -> dict | None:
    if reclaimable is None:
        return None
    if isinstance(reclaimable, pd.DataFrame):
        rows = reclaimable[reclaimable["reclaimable"].astype(bool)] if "reclaimable" in reclaimable else reclaimable
        return {int(p): int(b) for p, b in rows.groupby("position")["bytes"].sum().items() if p < n}
    return {int(p): int(b) for p, b in reclaimable.items()}


@analysis()
def local_pull_cost(source, image: str, blobs, bandwidth="100Mbit", concurrency: int = 3, have=None, *,
                    latency=0.0, layer_overhead: float = 0.0, speeds: dict | None = None) -> PullCost:
    """:func:`pull_cost` for an image of a local source (a data root, a snapshot, ``"sample"``) without
    asking a registry: compressed sizes from registry data already at hand (``blobs``: a registry's
    frames or a storage audit's blobs, joined by ``analyses.compressed.layer_compressed``'s one rule),
    uncompressed sizes from the source. ``have``: images of the same source already on the host. Layer
    blobs are taken as gzip (what ``docker push`` writes). An unknown compressed size is an error
    saying why."""
    from .drivers.compressed import layer_compressed

    inv = source
    image_id = inv.image_id(image)
    known = layer_compressed(inv, blobs).set_index("layer_id")
    layers = inv.layers.set_index("layer_id")
    chain = inv.chain(image_id)
    present = set()
    for other in ([have] if isinstance(have, str) else list(have or [])):
        present.update(inv.chain(inv.image_id(other)))
    history = inv.image_layers[inv.image_layers["image_id"] == image_id].set_index("position")
    rows = []
    for p, layer_id in enumerate(chain):
        size = known.loc[layer_id, "compressed_size"] if layer_id in known.index else None
        if size is None or pd.isna(size):
            reason = known.loc[layer_id, "unknown_reason"] if layer_id in known.index else "not an image layer"
            raise LayerlabError(f"{image}: layer {p}'s compressed size is unknown ({reason}); give registry data "
                                "that holds its blob, or use pull_cost with the image's registry reference")
        command = history["created_by"].get(p) if "created_by" in history else None
        for engine in ENGINES:  # one source's layers: a blob present is its chain present
            rows.append({"engine": engine, "position": p, "digest": known.loc[layer_id, "compressed_digest"],
                         "compression": "gzip", "size": int(size), "uncompressed": int(layers.loc[layer_id, "size"]),
                         "fetched": layer_id not in present, "unpacked": layer_id not in present,
                         "created_by": None if command is None or pd.isna(command) else command})
    latency = parse_seconds(latency)
    return model_pull(pd.DataFrame(rows), bandwidth=bandwidth, concurrency=concurrency, latency=latency,
                      speeds=speeds or inflate_speeds(), layer_overhead=layer_overhead, start=2 * latency,
                      reference=image, platform=str(inv.meta.get("platform") or ""))


@analysis()
def pullable_images(source, blobs) -> list[str]:
    """Names of the tagged images of ``source`` whose every layer's compressed size ``blobs`` gives (the
    images :func:`local_pull_cost` can model), most layers first."""
    from .drivers.compressed import layer_compressed

    inv = source
    known = layer_compressed(inv, blobs)
    known = set(known.loc[known["compressed_size"].notna(), "layer_id"])
    out = []
    for image_id, tags in zip(inv.images["image_id"], inv.images["tags"]):
        chain = inv.chain(image_id)
        if len(tags) and chain and all(layer in known for layer in chain):
            out.append((len(chain), sorted(tags, key=len)[0]))
    return [name for _, name in sorted(out, key=lambda x: -x[0])]


def first_pull_cost(refs, source, blobs, *, insecure=(), bandwidth="100Mbit", concurrency: int = 3):
    """The pull the registries notebook shows: of ``refs[0]`` from its registry (plain HTTP for
    ``insecure`` hosts) when references are given, else of the source's image with the most layers
    whose compressed sizes ``blobs`` gives (:func:`local_pull_cost`); None when there is neither."""
    refs = [refs] if isinstance(refs, str) else list(refs or [])
    if refs:
        from ..sources.registry import RegistryClient

        with RegistryClient(insecure=list(insecure or [])) as client:
            return pull_cost(refs[0], bandwidth=bandwidth, concurrency=concurrency, client=client)
    names = pullable_images(source, blobs) if blobs is not None else []
    if not names:
        return None
    return local_pull_cost(source, names[0], blobs, bandwidth=bandwidth, concurrency=concurrency)
