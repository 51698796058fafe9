"""Finding a fleet's snapshots (folders, globs, fsspec URLs) and checking each one before use.

A fleet of 1,000 hosts always has a few bad snapshots: a scan cut off mid-upload, one from a newer
layerlab, a folder nobody can read. Each is checked here (meta.json, then each Parquet file's size
(format 3) or footer (formats 1 and 2); no row data read) and either kept or skipped with a reason,
so one bad host never stops the others.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.parquet as pq

from .._files import open_file
from .._network import remote_filesystem
from ..errors import LayerlabError, SnapshotError
from ..frames import schema
from ..frames.inventory import FRAME_NAMES
from ..frames.snapshot import FLEET_INDEX_FILE, SUFFIX, check_meta
from ..untrusted import load_json

GLOB_CHARS = "*?["


class FleetError(LayerlabError, ValueError):
    """A fleet could not be assembled: a path that does not exist or holds no snapshots."""


def filesystem(url: str, storage_options: dict | None = None):
    """``(fs, path)`` for a local path or an fsspec URL."""
    return remote_filesystem(url, storage_options)


def _name(fs, path: str) -> str:
    # Local snapshots are named by their absolute path, remote ones by their full URL, so that a
    # worker on another machine can open them with no other context.
    return os.path.abspath(path) if is_local(fs) else fs.unstrip_protocol(path)


def is_local(fs) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,))


def is_url(snapshot: str) -> bool:
    """Whether a snapshot name (``snapshots.find_snapshots``: an absolute path or a full URL) is a URL."""
    return "://" in snapshot


@contextmanager
def open_parquet(snapshot: str, frame: str, storage_options: dict | None = None, **kwargs):
    """``frame``'s Parquet file of ``snapshot`` as a ``pyarrow.parquet.ParquetFile``.

    ``ParquetFile.read`` rather than ``pq.read_table``: the latter goes through the dataset layer,
    which costs about 7 ms per file against 0.3 ms here; a fleet reads thousands of small files.
    ``kwargs`` go to ``ParquetFile`` (``read_dictionary``).
    """
    try:
        if not is_url(snapshot):
            with pq.ParquetFile(f"{snapshot}/{frame}.parquet", **kwargs) as pf:
                yield pf
            return
        fs, path = filesystem(snapshot, storage_options)
        with fs.open(f"{path}/{frame}.parquet", "rb") as f, pq.ParquetFile(f, **kwargs) as pf:
            yield pf
    except FileNotFoundError:
        raise
    except (OSError, pa.ArrowException) as e:
        # A file damaged in a way its size does not show (format 3 is checked by sizes) is found
        # when read: name it rather than fail from deep inside pyarrow.
        raise FleetError(f"{snapshot}/{frame}.parquet is unreadable ({type(e).__name__}: {str(e)[:200]}); "
                         "rescan that host or remove its snapshot", path=snapshot) from None


def _looks_like_snapshot(fs, path: str) -> bool:
    return path.rstrip("/").endswith(SUFFIX) or fs.isfile(f"{path.rstrip('/')}/meta.json")


def _children(fs, path: str, depth: int = 2) -> list[str]:
    """Snapshot folders among ``path``'s children and, one level down, among the children of a
    folder that is not itself a snapshot: a host's scans over time as ``HOST/DATE.layerlab``."""
    found = []
    for p in sorted(fs.ls(path, detail=False)):
        if not fs.isdir(p):
            continue
        if _looks_like_snapshot(fs, p):
            found.append(p)
        elif depth > 1:
            found.extend(_children(fs, p, depth - 1))
    return found


def find_snapshots(paths, storage_options: dict | None = None, listings: dict | None = None) -> list[str]:
    """Every candidate snapshot the paths name, in a stable order, each once.

    A path is a snapshot folder, a folder (or bucket prefix) whose children are snapshots, or a
    glob of either; local or an fsspec URL (``s3://bucket/prefix/``). Candidates are not checked
    here (see ``inspect``): a folder named ``*.layerlab`` without meta.json is still a candidate,
    so that it is reported as skipped rather than silently ignored. ``listings``, a dict, receives
    what a bucket's listing already says of a snapshot's files (``_flat``), so that checking it
    need not list it again.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise FleetError("no paths given: name snapshot folders, folders of snapshots, globs or s3:// URLs")
    found: dict[str, None] = {}
    for given in paths:
        if not given.strip():
            raise FleetError("an empty path was given: name snapshot folders, folders of snapshots, globs or URLs")
        local = _local_snapshot(given)
        if local is not None:
            found.setdefault(local, None)
            continue
        try:
            hits, fs, listed = _expand(given, storage_options, listings is not None)
        except FleetError:
            raise
        except Exception as e:  # credentials, network, permissions: say which path and why
            raise FleetError(f"cannot list {given} ({type(e).__name__}: {e})", path=given) from None
        for h in hits:
            found.setdefault(_name(fs, h.rstrip("/")), None)
        if listings is not None:
            listings.update({_name(fs, k): v for k, v in listed.items()})
    return list(found)


def _local_snapshot(given: str) -> str | None:
    """``given``'s name when it is plainly a local snapshot folder (no URL, glob or ``~``), else None.
    A shell's ``hosts/*.layerlab`` gives thousands of these: asking fsspec about each cost a quarter
    of a millisecond, more than checking the snapshot later (measured on 10,000)."""
    if "://" in given or given.startswith("~") or any(c in given for c in GLOB_CHARS):
        return None
    path = given.rstrip("/") or "/"
    if not os.path.isdir(path) or not (path.endswith(SUFFIX) or os.path.isfile(f"{path}/meta.json")):
        return None
    return os.path.abspath(path)


def _flat(fs, path: str) -> tuple[list[str], dict]:
    """The snapshots ``_children`` would find under ``path`` on an object store, from one flat
    listing of every object under it (a few requests per thousand objects) instead of a listing per
    folder and per snapshot: ``(snapshot folders, {folder: its files' listing entries})``."""
    base = path.rstrip("/")
    entries = fs.find(base, detail=True)
    files: dict[str, list] = {}
    folders: set[str] = set()
    for name, info in entries.items():
        name = name.rstrip("/")
        if not name.startswith(base + "/"):
            continue
        parent = name.rpartition("/")[0]
        files.setdefault(parent, []).append(info)
        rel = name[len(base) + 1:].split("/")[:-1]  # the folders between base and the object
        for depth in (1, 2):
            if len(rel) >= depth:
                folders.add(base + "/" + "/".join(rel[:depth]))

    def looks_like_snapshot(folder: str) -> bool:
        return folder.endswith(SUFFIX) or any(e["name"].rstrip("/").endswith("/meta.json")
                                              for e in files.get(folder, ()))

    found = []
    for child in sorted(f for f in folders if "/" not in f[len(base) + 1:]):
        if looks_like_snapshot(child):
            found.append(child)
        else:
            found.extend(g for g in sorted(f for f in folders if f.startswith(child + "/")) if looks_like_snapshot(g))
    return found, {f: files.get(f, []) for f in found}


def _expand(given: str, storage_options, flat: bool = False):
    """The snapshot folders one given path names, the filesystem to read them, and (``flat``, on an
    object store) the listing entries of the snapshots found by one flat listing."""
    fs, path = filesystem(given, storage_options)
    if any(c in path for c in GLOB_CHARS):
        matches = sorted(m for m in fs.glob(path) if fs.isdir(m))
        if not matches:
            raise FleetError(f"{given} matches nothing; check the pattern", path=given)
    elif fs.isdir(path):
        matches = [path]
    elif fs.exists(path):
        raise FleetError(f"{given} is a file, not a snapshot folder or a folder of snapshots", path=given)
    else:
        raise FleetError(f"{given} does not exist; give snapshot folders, folders of snapshots, globs or URLs",
                         path=given)
    hits, listed = [], {}
    for m in matches:
        if _looks_like_snapshot(fs, m):
            hits.append(m)
        elif flat and not is_local(fs) and getattr(fs, "async_impl", False):
            found, entries = _flat(fs, m)
            hits.extend(found)
            listed.update(entries)
        else:
            hits.extend(_children(fs, m))
    if not hits:
        raise FleetError(f"{given} holds no .layerlab snapshots (write them with `layerlab scan ROOT -o "
                         "DIR/HOST.layerlab`)", path=given)
    return hits, fs, listed


META_LIMIT = 16 << 20  # bytes of a meta.json read at most


def _read_meta(path: str) -> bytes:
    """A local meta.json's bytes (a regular file of at most ``META_LIMIT`` bytes). Read by its size:
    ``read(limit + 1)`` would allocate the limit's 16 MB for a file of less than 1 kB, a tenth of a
    millisecond a host."""
    with open_file(path, SnapshotError, limit=META_LIMIT, expected="a snapshot's meta.json") as f:
        data = f.read(os.fstat(f.fileno()).st_size + 1)  # one byte more: a file grown since is cut, then invalid
    return data


def inspect(snapshot: str, storage_options: dict | None = None, fetched: tuple | None = None) -> dict:
    """Check one snapshot without reading its rows: meta.json, then each frame's Parquet file, by
    its size (format 3, ``_by_sizes``) or its footer (formats 1 and 2, ``_by_footers``).

    Returns a dict with ``snapshot``, ``reason`` (None when usable) and, when usable, ``meta`` and
    ``rows`` (rows per frame, from the Parquet footers). Runs on a worker.
    """
    out = {"snapshot": snapshot, "reason": None, "meta": None, "rows": None}
    try:
        try:
            if fetched is not None:  # meta.json's bytes (or the error) fetched with the batch's
                if isinstance(fetched[0], BaseException):
                    raise fetched[0]
                meta = load_json(fetched[0])
            elif is_url(snapshot):
                fs, path = filesystem(snapshot, storage_options)
                with fs.open(f"{path}/meta.json", "rb") as f:
                    meta = load_json(f.read())
            else:  # a local folder: plain open, as the Parquet files below (fsspec costs more than the read)
                meta = load_json(_read_meta(f"{snapshot}/meta.json"))
        except FileNotFoundError:
            raise SnapshotError("meta.json missing (an interrupted scan or upload?)") from None
        except SnapshotError:
            raise
        except ValueError as e:
            raise SnapshotError(f"meta.json is not valid JSON ({e})") from None
        check_meta(meta, snapshot)
        sizes = meta.get("bytes")
        rows = _by_sizes(snapshot, meta, sizes, storage_options, fetched) if isinstance(sizes, dict) \
            else _by_footers(snapshot, meta, storage_options)
        out.update(meta=meta, rows=rows)
    except SnapshotError as e:
        out["reason"] = str(e)
    except Exception as e:  # permissions, network, missing credentials: this host only, never the fleet
        out["reason"] = f"unreadable ({type(e).__name__}: {e})"
    return out


def _by_sizes(snapshot: str, meta: dict, sizes: dict, storage_options: dict | None, fetched: tuple | None) -> dict:
    """Rows per frame of a format-3 snapshot, checked by file sizes: meta.json records each Parquet
    file's bytes, so one listing (a stat per file, or one request to a bucket) finds a file missing,
    cut short or replaced without opening it. The rows are meta.json's, written with the files."""
    # fleet_index.parquet too where meta.json records it (what a fleet reads of the small frames)
    checked = (*FRAME_NAMES, FLEET_INDEX_FILE) if FLEET_INDEX_FILE in sizes else FRAME_NAMES
    if is_url(snapshot):
        listing = fetched[1] if fetched is not None else None
        if listing is None:
            fs, path = filesystem(snapshot, storage_options)
            listing = fs.ls(path, detail=True)
        elif isinstance(listing, BaseException):
            raise listing
        found = {os.path.basename(e["name"].rstrip("/")): e.get("size") for e in listing}
    else:
        found = {}
        for name in checked:
            try:
                st = os.stat(f"{snapshot}/{name}.parquet")
            except FileNotFoundError:
                continue
            found[f"{name}.parquet"] = st.st_size
            # one this user may not read (asked only when the mode does not let everyone read it)
            if st.st_mode & 0o444 != 0o444 and not os.access(f"{snapshot}/{name}.parquet", os.R_OK):
                raise SnapshotError(f"{name}.parquet unreadable (permission denied)")
    rows = meta.get("rows") or {}
    for name in checked:
        have, want = found.get(f"{name}.parquet"), sizes.get(name)
        if have is None:
            raise SnapshotError(f"{name}.parquet missing")
        if not isinstance(rows.get(name, 0 if name == FLEET_INDEX_FILE else None), int) or not isinstance(want, int):
            raise SnapshotError(f"meta.json lacks the rows or bytes of {name}.parquet")
        if have != want:
            raise SnapshotError(f"{name}.parquet has {have} bytes, meta.json says {want} (truncated or replaced?)")
    return {name: rows[name] for name in FRAME_NAMES}


def _by_footers(snapshot: str, meta: dict, storage_options: dict | None) -> dict:
    """Rows per frame of a format-1 or -2 snapshot, from each Parquet footer (checked against
    meta.json's rows and the contract's columns)."""
    rows = {}
    for name in FRAME_NAMES:
        try:
            with open_parquet(snapshot, name, storage_options) as pf:
                md, names = pf.metadata, set(pf.schema_arrow.names)
        except FileNotFoundError:
            raise SnapshotError(f"{name}.parquet missing") from None
        except Exception as e:  # pyarrow raises ArrowInvalid/OSError for truncated or garbled files
            raise SnapshotError(f"{name}.parquet unreadable ({type(e).__name__}: {e})") from None
        lacking = [c for c in schema.columns(name) if c not in names]
        if lacking:
            raise SnapshotError(f"{name}.parquet lacks columns {lacking}")
        expected = (meta.get("rows") or {}).get(name)
        if expected is not None and expected != md.num_rows:
            raise SnapshotError(f"{name}.parquet has {md.num_rows} rows, meta.json says {expected} (truncated?)")
        rows[name] = md.num_rows
    return rows


def skip_kind(reason: str) -> str:
    """What a skipped snapshot's reason amounts to: ``unreadable`` (permissions, credentials, the
    network), ``other format`` (a newer or unknown snapshot format) or ``damaged`` (meta.json
    missing or invalid, a Parquet file missing, cut short or replaced)."""
    low = reason.lower()
    if "snapshot format" in low:
        return "other format"
    if low.startswith("unreadable (") or "permission denied" in low:
        return "unreadable"
    return "damaged"


def inspect_all(snapshots: list[str], listings: dict | None = None, storage_options: dict | None = None) -> list[dict]:
    """``inspect`` of each snapshot, in order (one task for a batch of them). A remote batch's
    meta.json files and listings (those ``listings`` lacks: ``find_snapshots``'s) are fetched first,
    concurrently: one after the other, a bucket's latency (three requests a snapshot) had been most
    of the time."""
    fetched = _fetch_remote([s for s in snapshots if is_url(s)], storage_options, listings or {})
    return [inspect(s, storage_options, fetched.get(s)) for s in snapshots]


FETCH_ROUND = 64  # requests in flight at once


def _fetch_remote(snapshots: list[str], storage_options: dict | None, listings: dict) -> dict:
    """``{snapshot: (meta.json bytes or the error, its listing or the error)}`` of remote snapshots,
    fetched with fsspec's concurrent calls (``cat`` of many paths, ``_ls`` gathered) where the
    filesystem is asynchronous (s3fs, gcsfs); others are read one by one in ``inspect``."""
    out: dict = {}
    by_fs: dict = {}
    for snap in snapshots:
        try:
            fs, path = filesystem(snap, storage_options)
        except Exception:  # noqa: BLE001 - inspect says why, for this snapshot
            continue
        if getattr(fs, "async_impl", False):
            by_fs.setdefault(id(fs), (fs, []))[1].append((snap, path.rstrip("/")))
    for fs, items in by_fs.values():
        import asyncio

        from fsspec.asyn import sync

        for i in range(0, len(items), FETCH_ROUND):
            chunk = items[i:i + FETCH_ROUND]
            metas = fs.cat([f"{p}/meta.json" for _, p in chunk], on_error="return")

            async def listed(snaps=chunk):
                async def one(snap, path):
                    return listings[snap] if snap in listings else await fs._ls(path, detail=True)

                return await asyncio.gather(*[one(s, p) for s, p in snaps], return_exceptions=True)

            lists = sync(fs.loop, listed)
            for (snap, path), listing in zip(chunk, lists):
                meta = metas.get(f"{path}/meta.json", FileNotFoundError(f"{path}/meta.json"))
                out[snap] = (meta, listing)
    return out
