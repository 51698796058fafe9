"""``layerlab.fleet``: many hosts' snapshots as one dataset, computed on a Dask cluster.

The same code runs on a laptop (a LocalCluster started for the fleet) and on a real cluster (a
``dask.distributed.Client`` or a scheduler address): every per-host and per-image step is a task
that reads snapshots itself, so the client only ever holds small per-host and per-image tables.
"""

from __future__ import annotations

import os
from functools import cached_property

import pandas as pd

from ..errors import OPTIONAL_TEXT, PROGRESS, TEXT, Expect, expects, whole_number
from ..frames import schema
from ..frames.inventory import FRAME_NAMES
from ..sources.registry.deadline import network_deadline
from .snapshots import FleetError, find_snapshots, inspect_all
from .tasks import gather, show_progress, wait

FLEET_PATHS = Expect("a folder, glob or URL of snapshots, or a list of them", str, list, tuple,
                     test=lambda v: hasattr(v, "__fspath__"))
CLIENT = Expect("a dask Client, a scheduler address, or None", str, none=True,
                test=lambda v: hasattr(v, "scheduler_info"))
OPTIONS = Expect("a dict of fsspec storage options, or None", dict, none=True)

SKIPPED_COLUMNS = ["snapshot", "reason"]
SUPERSEDED_COLUMNS = ["snapshot", "host", "scanned_at", "kept", "kept_scanned_at"]


def local_cluster(processes: bool = False):
    """The LocalCluster a fleet starts when given no client (its dashboard on 127.0.0.1, any free port).

    By default one worker in this process with a thread per core: the fleet's tasks spend their
    time in pyarrow (Parquet decoding, Arrow compute), which releases the GIL, and their results
    then need no pickling between processes. Measured on a 2-core machine (docs/fleet.md has the runs),
    50–200 hosts' totals and ``find`` took a third of the time of one single-threaded worker process
    per core, and less CPU at 500 hosts. ``processes=True`` gives the latter (memory split evenly).
    """
    import dask
    from distributed import LocalCluster

    cores = os.cpu_count() or 1
    # Workers sample their threads' stacks every 10 ms for the dashboard's profile page: a tenth of
    # the fleet's CPU time on its short tasks (measured); the task stream and progress stay.
    with dask.config.set({"distributed.worker.profile.enabled": False}):
        if processes:
            return LocalCluster(n_workers=cores, threads_per_worker=1, processes=True, host="127.0.0.1",
                                dashboard_address="127.0.0.1:0", worker_dashboard_address="127.0.0.1:0")
        # In-process: the scheduler and worker talk over inproc://, so nothing listens but the dashboard.
        return LocalCluster(n_workers=1, threads_per_worker=cores, processes=False, dashboard_address="127.0.0.1:0",
                            worker_dashboard_address="127.0.0.1:0")


#: What Fleet's methods take, checked before any task is sent to the cluster.
_GROUPS = Expect("a dict or Series (host -> group), a function of the host name, or None", dict, none=True,
                 test=lambda v: callable(v) or hasattr(v, "get"))
_COUNT = Expect("a whole number, 1 or more", test=whole_number(1))
_SIZE = Expect("a whole number of bytes or None", test=whole_number(0), none=True)


def _connect_within(address: str, seconds: float):
    """A dask Client of the scheduler at ``address``, or FleetError within ``seconds`` (and a few more).

    distributed's ``timeout`` bounds the TCP connect only: a server that accepts and never answers
    its handshake holds ``Client()`` for ever. So the client is made in a helper thread joined with
    the deadline; on a silent scheduler that thread is left behind, blocked (a daemon thread)."""
    import threading

    from distributed import Client

    out: dict = {}

    def connect():
        try:
            out["client"] = Client(address, timeout=f"{min(seconds, 10.0):g}s")  # the TCP connect's own bound
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            out["error"] = e

    helper = threading.Thread(target=connect, name="layerlab-dask-connect", daemon=True)
    helper.start()
    helper.join(seconds + 5)
    if helper.is_alive():
        raise FleetError(f"the Dask scheduler at {address} accepted the connection but did not answer within "
                         f"{seconds:g} s; is a `dask scheduler` listening there? (LAYERLAB_NETWORK_DEADLINE "
                         "sets the deadline)")
    error = out.get("error")
    if isinstance(error, (OSError, TimeoutError)):
        raise FleetError(f"cannot reach the Dask scheduler at {address} ({error}); is `dask scheduler` running "
                         "there?") from None
    if error is not None:
        raise error
    return out["client"]


class Fleet:
    """Many hosts' ``.layerlab`` snapshots as one dataset.

    Build one with :func:`fleet`. Frames (``images``, ``layers``, ``image_layers``, ``history``,
    ``containers``, ``files``) are lazy ``dask.dataframe`` objects in the contract's columns and
    dtypes plus a leading ``host`` column, each partition a batch of whole hosts; ``frame("skipped")`` is each
    snapshot's own ``skipped`` frame. ``hosts`` (one row per host kept), ``skipped`` (snapshots that
    could not be used, with the reason) and ``superseded`` (older snapshots of a host, replaced by
    its newest) are pandas DataFrames. Analyses are in :mod:`layerlab.fleet.analyses` and as methods.
    Use as a context manager, or call ``close()``: a LocalCluster the fleet started is stopped then.
    """

    def __init__(self, paths, client=None, *, storage_options: dict | None = None, progress: bool | None = None):
        self.paths = [os.fspath(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
        self.storage_options = storage_options
        self.progress = progress
        listings: dict = {}  # a bucket's flat listing, reused to check the snapshots
        candidates = find_snapshots(self.paths, storage_options, listings)
        self._cluster = None
        self._own_client = False
        self.client = self._connect(client)
        try:
            # A batch of snapshots per task: a 1,000-host fleet is a few tasks, not 1,000.
            from .frames import COARSE, batches

            cut = batches(candidates, self.slots, **COARSE)
            futures = self.client.map(inspect_all, cut, [{s: listings[s] for s in b if s in listings} for b in cut],
                                      storage_options=storage_options, pure=False)
            checked = [c for part in gather(futures, "checking snapshots", progress, [len(b) for b in cut], "snapshot")
                       for c in part]
            self._select(checked)
        except BaseException:
            self.close()
            raise
        self._cache: dict = {}

    # -- cluster ----------------------------------------------------------------------------------

    def _connect(self, client):
        from distributed import Client

        if client is None:
            self._cluster = local_cluster()
            self._own_client = True
            return Client(self._cluster)
        if isinstance(client, str):
            self._own_client = True
            return _connect_within(client, network_deadline())
        return client

    @property
    def slots(self) -> int:
        """Tasks the cluster runs at once (worker threads, summed over workers)."""
        workers = self.client.scheduler_info(n_workers=-1)["workers"].values()
        return sum(w.get("nthreads", 1) for w in workers) or 1

    @property
    def dashboard_link(self) -> str | None:
        """The Dask dashboard's URL, when the cluster serves one (it needs bokeh, which
        ``dask[diagnostics]`` brings); None otherwise, and once the fleet is closed."""
        if self.client is None or self.client.status == "closed":
            return None
        if self._cluster is not None:
            # Our LocalCluster serves it on 127.0.0.1; the link distributed formats names the
            # scheduler's host, which for an in-process cluster is this machine's address.
            from distributed.utils import format_dashboard_link

            port = self._cluster.scheduler_info.get("services", {}).get("dashboard")
            return format_dashboard_link("127.0.0.1", port) if port else None
        try:
            return self.client.dashboard_link or None
        except Exception:
            return None

    def close(self) -> None:
        """Close the client and the LocalCluster this fleet started (a client given is left open)."""
        if self._own_client and getattr(self, "client", None) is not None:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def compute(self, *collections):
        """Compute dask collections on this fleet's cluster; returns their results.

        With progress on, a bar counts the collections' output partitions as the cluster
        finishes them (they are kept on the workers, then joined, as ``compute`` does)."""
        if not show_progress(self.progress):
            return tuple(self.client.gather(self.client.compute(list(collections))))
        from distributed import futures_of

        persisted = self.client.persist(list(collections))
        wait(futures_of(persisted), "computing", True)
        return tuple(self.client.gather(self.client.compute(persisted)))

    # -- which snapshots ----------------------------------------------------------------------------

    def _select(self, checked: list[dict]) -> None:
        skipped = [(c["snapshot"], c["reason"]) for c in checked if c["reason"]]
        good = [c for c in checked if not c["reason"]]
        self.skipped = pd.DataFrame(skipped, columns=SKIPPED_COLUMNS).astype("string")
        rows = []
        for c in good:
            m = c["meta"]
            hostname = m.get("hostname") or m.get("host") or os.path.basename(c["snapshot"]).removesuffix(".layerlab")
            rows.append({
                "snapshot": c["snapshot"],
                "hostname": hostname,
                "host_id": m.get("host_id"),
                # Without a machine ID (format 1), a hostname is all there is to tell hosts apart.
                "identity": m.get("host_id") or f"hostname:{hostname}",
                "scanned_at": m.get("scanned_at"),
                "format_version": m.get("format_version"),
                "layerlab_version": m.get("layerlab_version"),
                "driver": m.get("driver"),
                "image_store": m.get("image_store"),
                **{f"{n}_rows": c["rows"][n] for n in FRAME_NAMES},
            })
        df = pd.DataFrame(rows, columns=["snapshot", "hostname", "host_id", "identity", "scanned_at", "format_version",
                                         "layerlab_version", "driver", "image_store",
                                         *[f"{n}_rows" for n in FRAME_NAMES]])
        # The one time parser of every source (a bad or edited value is NaT, with a warning).
        df["scanned_at"] = schema.time_column(df["scanned_at"])
        # Newest scan of each host wins; ties go to the snapshot named last, so the choice is stable.
        df = df.sort_values(["identity", "scanned_at", "snapshot"], na_position="first", kind="stable")
        newest = df.groupby("identity", sort=False).tail(1)
        old = df[~df.index.isin(newest.index)].merge(
            newest[["identity", "snapshot", "scanned_at"]].rename(columns={"snapshot": "kept",
                                                                           "scanned_at": "kept_scanned_at"}),
            on="identity")
        hosts = newest.copy()
        # The host column: the hostname, made unique with the machine ID when two hosts share it.
        shared = hosts["hostname"].duplicated(keep=False)
        hosts["host"] = hosts["hostname"].where(
            ~shared, hosts["hostname"] + "~"
            + hosts["host_id"].fillna(hosts["snapshot"].map(os.path.basename)).str[:12])
        if hosts["host"].duplicated().any():  # same hostname, no IDs, different folders: name by folder
            dup = hosts["host"].duplicated(keep=False)
            hosts.loc[dup, "host"] = hosts.loc[dup, "hostname"] + "~" + hosts.loc[dup, "snapshot"].map(os.path.basename)
        old = old.merge(hosts[["identity", "host"]], on="identity")
        # Every usable snapshot of every host, oldest first: the time series trend() and changes() read.
        self.timeline = df.merge(hosts[["identity", "host"]], on="identity")[["host", "snapshot", "scanned_at"]] \
            .sort_values(["host", "scanned_at", "snapshot"], na_position="first", kind="stable").reset_index(drop=True)
        self.timeline["host"] = self.timeline["host"].astype(schema.STRING)
        self.superseded = old[SUPERSEDED_COLUMNS].reset_index(drop=True)
        cols = ["host", *[c for c in hosts.columns if c not in ("host", "identity")]]
        self.hosts = hosts[cols].sort_values("host").reset_index(drop=True)
        self.hosts["host"] = self.hosts["host"].astype(schema.STRING)
        if self.hosts.empty:
            raise FleetError(
                f"none of the {len(checked)} snapshot(s) in {', '.join(self.paths)} could be used: "
                + "; ".join(f"{s}: {r}" for s, r in skipped[:5]), path=self.paths[0])

    @property
    def parts(self) -> list[tuple[str, str]]:
        """``(snapshot, host)`` of every host kept, in ``hosts`` order."""
        return list(zip(self.hosts["snapshot"], self.hosts["host"]))

    @cached_property
    def batches(self) -> list[list[tuple[str, str]]]:
        """``parts`` in batches of whole hosts: the partitions of the fleet's frames."""
        from .frames import batches

        return batches(self.parts, self.slots)

    @cached_property
    def coarse_batches(self) -> list[list[tuple[str, str]]]:
        """``parts`` in the coarser batches of the tasks that return small results (the hosts'
        small frames, ``find``'s matches): ``COARSE`` (two per task slot, at most 256 hosts each)."""
        from .frames import COARSE, batches

        return batches(self.parts, self.slots, **COARSE)

    # -- frames -------------------------------------------------------------------------------------

    @expects(name=TEXT)
    def frame(self, name: str):
        """The contract frame ``name`` over the whole fleet (a dask DataFrame with ``host`` first)."""
        if name not in FRAME_NAMES:
            raise FleetError(f"no frame {name!r}; frames: {', '.join(FRAME_NAMES)}")
        key = ("frame", name)
        if key not in self._cache:
            from . import frames as ff

            self._cache[key] = ff.fleet_frame(self.batches, name, self.storage_options)
        return self._cache[key]

    images = property(lambda self: self.frame("images"), doc="Every host's images (dask DataFrame).")
    layers = property(lambda self: self.frame("layers"), doc="Every host's layers (dask DataFrame).")
    image_layers = property(lambda self: self.frame("image_layers"), doc="Every host's image layers (dask DataFrame).")
    history = property(lambda self: self.frame("history"), doc="Every host's image history (dask DataFrame).")
    containers = property(lambda self: self.frame("containers"), doc="Every host's containers (dask DataFrame).")
    files = property(lambda self: self.frame("files"), doc="Every host's files rows (dask DataFrame).")

    @cached_property
    def host_layers(self):
        """Distinct image layers of each host's listed images (``host``, ``layer_id``, ``size``)."""
        from . import frames as ff

        return ff.host_layers_frame(self.batches, self.storage_options)

    # -- analyses (layerlab.fleet.analyses) ---------------------------------------------------------

    def summary(self) -> dict:
        from .analyses import summary

        return summary(self)

    def per_host(self) -> pd.DataFrame:
        from .analyses import per_host

        return per_host(self)

    def images_across(self) -> pd.DataFrame:
        from .analyses import images_across

        return images_across(self)

    @expects(n=_COUNT)
    def top_images(self, n: int = 20) -> pd.DataFrame:
        from .analyses import top_images

        return top_images(self, n)

    def layer_dedup(self) -> pd.DataFrame:
        from .analyses import layer_dedup

        return layer_dedup(self)

    def base_images(self) -> pd.DataFrame:
        from .analyses import base_images

        return base_images(self)

    def fleet_containers(self) -> pd.DataFrame:
        from .analyses import containers

        return containers(self)

    @expects(path=OPTIONAL_TEXT, sha256=OPTIONAL_TEXT, size=_SIZE)
    def find(self, path: str | None = None, *, sha256: str | None = None, size: int | None = None) -> pd.DataFrame:
        from .analyses import find

        return find(self, path, sha256=sha256, size=size)

    @expects(name=TEXT, version_spec=OPTIONAL_TEXT, ecosystem=OPTIONAL_TEXT)
    def find_package(self, name: str, version_spec: str | None = None, *, ecosystem: str | None = None) -> pd.DataFrame:
        """Hosts and images holding package ``name`` at a version meeting ``version_spec``
        (``f.find_package("openssl", "<3.0.13")``), from snapshots scanned with ``--packages``."""
        from .analyses import find_package

        return find_package(self, name, version_spec, ecosystem=ecosystem)

    @expects(groups=_GROUPS)
    def drift(self, groups=None) -> pd.DataFrame:
        from .analyses import drift

        return drift(self, groups)

    @expects(by=TEXT)
    def trend(self, by: str = "host") -> pd.DataFrame:
        from .trend import trend

        return trend(self, by)

    def changes(self, since=None) -> pd.DataFrame:
        from .trend import changes

        return changes(self, since)

    def __repr__(self) -> str:
        return (f"<layerlab.Fleet hosts={len(self.hosts)} skipped={len(self.skipped)} "
                f"superseded={len(self.superseded)} "
                f"scheduler={self.client.scheduler.address if self.client else None}>")


@expects(paths=FLEET_PATHS, client=CLIENT, storage_options=OPTIONS, progress=PROGRESS)
def fleet(paths, client=None, *, storage_options: dict | None = None, progress: bool | None = None) -> Fleet:
    """Many hosts' ``.layerlab`` snapshots as one dataset on Dask.

    Parameters
    ----------
    paths
        One or more snapshot folders, folders (or bucket prefixes) holding snapshots, globs of
        either, or fsspec URLs (``s3://bucket/prefix/``).
    client
        A ``dask.distributed.Client``, or a scheduler address (``tcp://host:8786``). Without one a
        LocalCluster sized to this machine is started, and stopped by ``Fleet.close()``.
    storage_options
        Passed to fsspec for URLs (for S3: ``key``, ``secret``, ``endpoint_url``, ...); the usual
        environment variables (``AWS_*``) work too.
    progress
        Show progress bars (tqdm: on stderr, or widgets in a notebook) while the cluster works;
        default: when stderr is a terminal.

    Returns
    -------
    Fleet
        Bad snapshots are in ``fleet.skipped`` with the reason, older snapshots of a host replaced
        by its newest in ``fleet.superseded``.
    """
    return Fleet(paths, client, storage_options=storage_options, progress=progress)
