"""Content hashes of files in layer directories of a live data root, read once and only when needed.

Callers pass candidates that already share a size (a file whose size is unique is never read).
Each candidate is read once: its first 16 KiB are read and CRC-32-checked against the other files
of its size; only files whose first block matches another's are SHA-256-hashed, and only those
are read on to the end (the SHA-256 state carries over, nothing is re-read).
A snapshot whose data root is gone cannot be hashed: ``hash_source`` says why, and analyses fall
back to size-level grouping.
"""

from __future__ import annotations

import hashlib
import os
import warnings
import zlib
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from ..frames import schema
from ..sources._reader import open_noatime
from ..sources.containers_storage.store import content_dir as cs_content_dir
from ..sources.docker.layouts import DRIVERS

try:  # layerlab/analyses/_firstblocks.c, built when the package is installed
    from . import _firstblocks
except ImportError:  # no compiler at install time: the same reads in Python, slower
    _firstblocks = None

FIRST_BLOCK = 16384  # most different files differ early; most small files are read whole at once
TWINS_BUFFER = 64 << 20  # first blocks a size group may hold in memory at once in the C reader
WORKERS = max(1, min(4, (os.cpu_count() or 2) - 1))  # beside the main thread; more only contend for the GIL
CHUNK = 1 << 20


def _containerd_snapshots(inv) -> str | None:
    """The snapshotter's snapshots/ directory of a containerd store, else None."""
    if inv.meta.get("image_store") != "containerd":
        return None
    return os.path.join(inv.meta.get("source") or "", f"io.containerd.snapshotter.v1.{inv.meta.get('driver')}",
                        "snapshots")


def hash_source(inv) -> tuple[bool, str]:
    """Whether files of ``inv`` can be read for hashing, and if not, why (for warnings and docs)."""
    c = inv.cache
    if "hash_source" in c:
        return c["hash_source"]
    root = inv.meta.get("source") or ""
    snapshots = _containerd_snapshots(inv)
    driver = DRIVERS.get(inv.meta.get("driver") or "")
    home = snapshots or (os.path.join(root, driver.name) if driver else None)
    if inv.meta.get("image_store") == "containers-storage":
        root = inv.meta.get("graph_root") or ""
        home = os.path.join(root, inv.meta.get("driver") or "")
    if home is None:
        kind = inv.meta.get("driver") or inv.meta.get("image_store")  # archives and layouts have no driver
        where = f"a {kind!r} store" if kind else (inv.meta.get("source") or "this source")
        answer = (False, f"files of {where} cannot be read again for hashing (open it with hash_files=True to hash "
                         "them as its layers stream)")
    elif not root or not os.path.isdir(home):
        answer = (False,
                  f"the data root {root or '(unknown)'} is not here; a snapshot without its root allows size-level "
                  "grouping only")
    elif not os.access(home, os.R_OK | os.X_OK):
        answer = (False, f"no permission to read {home}; run as root for content hashes")
    else:
        answer = (True, "")
    c["hash_source"] = answer
    return answer


def recorded(inv) -> bool:
    """Whether the snapshot was scanned with ``--hash``: every file with an identical twin then has
    its sha256 in the files frame, so twins can be found without the data root."""
    return inv.meta.get("hashed") is not None


def content_dirs(inv) -> dict[str, bytes]:
    """For each layer, the directory in which ``<dir><path>`` holds that layer's version of a file."""
    c = inv.cache
    if "content_dirs" in c:
        return c["content_dirs"]
    out: dict[str, bytes] = {}
    ok, _ = hash_source(inv)
    if ok:
        root = inv.meta["source"]
        snapshots = _containerd_snapshots(inv)
        driver = DRIVERS.get(inv.meta["driver"])
        for r in inv.layers.itertuples(index=False):
            if inv.meta.get("image_store") == "containers-storage":
                d = cs_content_dir(inv.meta.get("graph_root") or "", inv.meta["driver"], r.cache_id)
            elif snapshots:  # containerd: snapshots/<id>/fs (overlayfs) or snapshots/<id> (native)
                d = os.path.join(snapshots, str(r.cache_id), "fs" if inv.meta["driver"] == "overlayfs" else "")
            else:
                d = driver.diff_dir(root, r.cache_id, container=r.kind != "image") or driver.full_dir(root, r.cache_id)
            if d is not None and os.path.isdir(d):
                out[r.layer_id] = os.fsencode(d.rstrip("/"))
    c["content_dirs"] = out
    return out


def _open(path: bytes) -> int:
    return open_noatime(path)


def _read_first(path: bytes) -> bytes | None:
    try:
        fd = _open(path)
    except OSError:
        return None
    try:
        return os.read(fd, FIRST_BLOCK)
    except OSError:
        return None
    finally:
        os.close(fd)


def _rest(path: bytes, h, bar=None):
    """Hash the rest of ``path`` after its first block into ``h`` (None if it cannot be read);
    ``bar`` (a tqdm, thread-safe) counts the bytes as they are read."""
    try:
        fd = _open(path)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_size >= SPARSE_MIN and st.st_blocks * 512 * SPARSE_RATIO < st.st_size:
            return None  # mostly holes: see SPARSE_MIN (no digest, as for a file that cannot be read)
        os.lseek(fd, FIRST_BLOCK, os.SEEK_SET)
        while True:
            data = os.read(fd, CHUNK)
            if not data:
                break
            h.update(data)
            if bar is not None:
                bar.update(len(data))
    except OSError:
        return None
    finally:
        os.close(fd)
    return h


def _first_pass(groups, dirs: dict[str, bytes]):
    """First blocks of same-size files, a group at a time: files whose first block matches another's
    in the group are hashed (SHA-256 of the whole file if it fit, else the state to continue).
    ``groups`` holds (size, [(layer_id, path)]); ``dirs`` each layer's directory."""
    done, partial = [], []
    for size, keys in groups:
        paths = [dirs[layer_id] + path.encode("utf-8", "surrogateescape") for layer_id, path in keys]
        length = min(size, FIRST_BLOCK)
        by_crc = defaultdict(list)
        if _firstblocks is not None and length * len(paths) <= TWINS_BUFFER:
            # read, CRC and match first blocks in C, in one call per size group, the GIL released
            for i, crc, data in _firstblocks.twins(paths, length):
                by_crc[crc].append((keys[i], paths[i], data))
        else:
            for key, path in zip(keys, paths):
                data = _read_first(path)
                if data is not None:
                    by_crc[zlib.crc32(data)].append((key, path, data))
        for same in by_crc.values():
            if len(same) < 2:
                continue  # unique first block: no twin, and no SHA-256 spent on it
            for key, path, data in same:
                h = hashlib.sha256(data)
                if len(data) >= size or len(data) < FIRST_BLOCK:
                    done.append((key, h.hexdigest()))
                else:
                    partial.append((key, path, size, h))
    return done, partial


def _rest_batch(batch, bar=None):
    return [_rest(path, h, bar) for path, h in batch]


def _batches(items, n: int = 256):
    return [items[i:i + n] for i in range(0, len(items), n)]


def _group_batches(groups, n: int = 256):
    """Size groups packed into batches of about ``n`` files (a group is never split)."""
    out, current, count = [], [], 0
    for g in groups:
        current.append(g)
        count += len(g[1])
        if count >= n:
            out.append(current)
            current, count = [], 0
    if current:
        out.append(current)
    return out


def identical_groups(inv, candidates, *, progress: bool | None = None, desc: str = "hashing") -> dict[tuple[str, str],
    str]:
    """SHA-256 of the candidates that may have an identical twin among the candidates.

    ``candidates`` is an iterable of ``(layer_id, path, size)`` for regular files. Only files that
    share their size with another candidate are read; a file whose first block matches no other
    same-size candidate's is not read further and gets no entry (it has no twin). Returns
    ``{(layer_id, path): sha256 hex}``: group it by digest for the identical sets. Files that could
    not be read get no entry either. Digests are cached on the inventory.
    """
    dirs = content_dirs(inv)
    known: dict = inv.cache.setdefault("sha256", {})
    by_size: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for layer_id, path, size in candidates:
        if size > 0 and layer_id in dirs:
            by_size[int(size)].append((layer_id, path))
    todo = [key for keys in by_size.values() if len(keys) > 1 for key in keys]
    groups = [(size, keys) for size, keys in by_size.items() if len(keys) > 1 and any(k not in known for k in keys)]
    # Progress counts the bytes read: every first block, and each rest once it is known to be read
    # (its bytes join the total then, and count as they are read).
    total = sum(min(size, FIRST_BLOCK) * len(m) for size, m in groups)
    from ..display import progress_bar

    bar = progress_bar(total=total, unit="B", unit_scale=True, desc=desc, leave=False, progress=progress,
                       skip=not groups)
    # Each file is read once: its first block, and the rest only if that block has a twin. First
    # passes run size group by size group on worker threads (with the C reader their I/O runs
    # without the GIL, so two overlap); the rests of matching large files are hashed meanwhile by
    # other workers (hashlib releases the GIL on large updates).
    batches = _group_batches(groups)
    first_workers = 2 if _firstblocks is not None else 1
    with ThreadPoolExecutor(max_workers=WORKERS) as pool, ThreadPoolExecutor(max_workers=first_workers) as firsts:
        pending = []
        for batch, (done, part) in zip(batches, firsts.map(_first_pass, batches, [dirs] * len(batches))):
            known.update(done)
            bar.update(sum(min(size, FIRST_BLOCK) * len(m) for size, m in batch))
            matches: dict[tuple, list] = defaultdict(list)
            for key, path, size, h in part:  # a size group never spans two batches
                matches[(size, h.copy().digest())].append((key, path, h))
            more = [m for ms in matches.values() if len(ms) > 1 for m in ms]
            if more:
                bar.total += sum(size - FIRST_BLOCK for (size, _), ms in matches.items() if len(ms) > 1 for _ in ms)
                bar.refresh()
            for chunk in _batches(more, 16):
                pending.append((chunk, pool.submit(_rest_batch, [(path, h) for _, path, h in chunk], bar)))
        for chunk, future in pending:
            for (key, _, _), h in zip(chunk, future.result()):
                if h is not None:
                    known[key] = h.hexdigest()
    bar.close()
    return {key: known[key] for key in todo if key in known}


#: A file this large whose allocated blocks are under 1/SPARSE_RATIO of its size is mostly holes
#: (a 1 TiB sparse file allocates almost nothing): hashing it would read its holes as zeros to the end.
SPARSE_MIN = 64 << 20
SPARSE_RATIO = 8


def _sparse(files: pd.DataFrame) -> pd.Series:
    """Which rows are large files mostly made of holes (``disk_usage`` known and far below ``size``)."""
    usage = files["disk_usage"]
    return (files["size"] >= SPARSE_MIN) & usage.notna() & (usage.fillna(0) * SPARSE_RATIO < files["size"])


def fill_sha256(inv, *, progress: bool | None = None) -> int | None:
    """Fill the files frame's ``sha256`` for every regular file that has an identical twin
    (``identical_groups`` over all files sharing a size), so a snapshot keeps content identity for
    analyses made without the data root. Returns how many rows got a digest, or None (with a
    warning) when the files cannot be read."""
    ok, why = hash_source(inv)
    if not ok:
        warnings.warn(f"layerlab: no content hashes recorded: {why}", stacklevel=2)
        return None
    files = inv.files
    regular = files[(files["kind"] == "file") & (files["size"] > 0)]
    sparse = _sparse(regular)
    if sparse.any():
        n, apparent = int(sparse.sum()), int(regular.loc[sparse, "size"].sum())
        inv.meta["hash_skipped"] = {"sparse_files": n, "apparent_bytes": apparent}
        warnings.warn(f"layerlab: {n} sparse files ({apparent:,} apparent bytes, mostly holes) are not hashed: "
                      "reading their holes would take long and tell little; they get no sha256", stacklevel=2)
        regular = regular[~sparse]
    shared = regular[regular["size"].duplicated(keep=False)]
    digests = identical_groups(inv, zip(shared["layer_id"], shared["path"], shared["size"]), progress=progress)
    if not digests:
        return 0
    keys = pd.MultiIndex.from_frame(files[["layer_id", "path"]])
    found = pd.Series(digests, dtype="string")
    found.index = pd.MultiIndex.from_tuples(found.index)
    column = pd.Series(found.reindex(keys).to_numpy(), index=files.index)
    files["sha256"] = schema.coerce_column(column, schema.column("files", "sha256"), "files")
    return len(digests)


def digest_lookup(inv, rows: pd.DataFrame, hashing: bool, progress, desc: str) -> dict:
    """sha256 per (layer_id, path) for ``rows``: from the frame's sha256 column, else read from the root."""
    out = {}
    if "sha256" in rows.columns:
        have = rows[rows["sha256"].notna()]
        out.update({(l, p): h for l, p, h in zip(have["layer_id"], have["path"], have["sha256"])})
    todo = rows[[(l, p) not in out for l, p in zip(rows["layer_id"], rows["path"])]] if out else rows
    if hashing and len(todo):
        raw = todo["path_raw"] if "path_raw" in todo.columns else pd.Series([None] * len(todo), index=todo.index)
        cands = [(l, r.decode("utf-8", "surrogateescape") if isinstance(r, bytes) else p, s)
                 for l, p, r, s in zip(todo["layer_id"], todo["path"], raw, todo["size"])]
        digests = identical_groups(inv, cands, progress=progress, desc=desc)
        for (l, p, r), (l2, fsname, _) in zip(zip(todo["layer_id"], todo["path"], raw), cands):
            if (l2, fsname) in digests:
                out[(l, p)] = digests[(l2, fsname)]
    return out


def can_hash(inv, hash) -> bool:
    """Whether contents may be compared by hashing (``hash``: "auto", True or False); "auto" warns
    once when they cannot and comparisons fall back to sizes; True raises."""
    if hash is False:
        return False
    ok, why = hash_source(inv)
    if not ok and hash is True:
        from ..errors import LayerlabError

        raise LayerlabError(f"cannot hash file contents: {why}", path=inv.meta.get("source"))
    if not ok and not recorded(inv):  # a --hash snapshot carries the digests that matter
        flagged = inv.cache
        if not flagged.get("warned_hash"):
            warnings.warn(f"layerlab: {why}; content comparisons fall back to sizes", stacklevel=3)
            flagged["warned_hash"] = True
    return ok
