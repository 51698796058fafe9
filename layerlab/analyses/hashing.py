"""Content hashes of files in layer directories of a live data root, read once and only when needed.

Callers pass candidates that already share a size (a file whose size is unique is never read).
Each candidate is read once: its first block is hashed, and only files whose first block matches
another candidate's are read on to the end (the SHA-256 state carries over, nothing is re-read).
A snapshot whose data root is gone cannot be hashed: ``hash_source`` says why, and analyses fall
back to size-level grouping.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from tqdm.auto import tqdm

from ..sources.drivers import DRIVERS
from ._core import cache

FIRST_BLOCK = 4096  # like jdupes' partial hash: most different files differ in their first 4 KiB
CHUNK = 1 << 20
_NOATIME = getattr(os, "O_NOATIME", 0)


def hash_source(inv) -> tuple[bool, str]:
    """Whether files of ``inv`` can be read for hashing, and if not, why (for warnings and docs)."""
    c = cache(inv)
    if "hash_source" in c:
        return c["hash_source"]
    root = inv.meta.get("source") or ""
    driver = DRIVERS.get(inv.meta.get("driver") or "")
    if driver is None:
        answer = (False, f"files of a {inv.meta.get('driver')!r} store cannot be read for hashing")
    elif not root or not os.path.isdir(os.path.join(root, driver.name)):
        answer = (False, f"the data root {root or '(unknown)'} is not here; a snapshot without its root allows size-level grouping only")
    elif not os.access(os.path.join(root, driver.name), os.R_OK | os.X_OK):
        answer = (False, f"no permission to read {os.path.join(root, driver.name)}; run as root for content hashes")
    else:
        answer = (True, "")
    c["hash_source"] = answer
    return answer


def content_dirs(inv) -> dict[str, bytes]:
    """For each layer, the directory in which ``<dir><path>`` holds that layer's version of a file."""
    c = cache(inv)
    if "content_dirs" in c:
        return c["content_dirs"]
    out: dict[str, bytes] = {}
    ok, _ = hash_source(inv)
    if ok:
        root = inv.meta["source"]
        driver = DRIVERS[inv.meta["driver"]]
        for r in inv.layers.itertuples(index=False):
            d = driver.diff_dir(root, r.cache_id, container=r.kind != "image") or driver.full_dir(root, r.cache_id)
            if d is not None and os.path.isdir(d):
                out[r.layer_id] = os.fsencode(d)
    c["content_dirs"] = out
    return out


def _open(path: bytes) -> int:
    try:
        return os.open(path, os.O_RDONLY | _NOATIME)
    except PermissionError:  # O_NOATIME needs ownership or CAP_FOWNER
        return os.open(path, os.O_RDONLY)


def _first(path: bytes, size: int):
    """(state after the first block, whether the whole file was read), or None if unreadable."""
    try:
        fd = _open(path)
    except OSError:
        return None
    try:
        data = os.read(fd, FIRST_BLOCK)
    except OSError:
        return None
    finally:
        os.close(fd)
    h = hashlib.sha256(data)
    return h, len(data) >= size or len(data) < FIRST_BLOCK


def _rest(path: bytes, h):
    try:
        fd = _open(path)
    except OSError:
        return None
    try:
        os.lseek(fd, FIRST_BLOCK, os.SEEK_SET)
        while True:
            data = os.read(fd, CHUNK)
            if not data:
                break
            h.update(data)
    except OSError:
        return None
    finally:
        os.close(fd)
    return h


def identical_groups(inv, candidates, *, progress: bool | None = None, desc: str = "hashing") -> dict[tuple[str, str], str]:
    """SHA-256 of the candidates that may have an identical twin among the candidates.

    ``candidates`` is an iterable of ``(layer_id, path, size)`` for regular files. Only files that
    share their size with another candidate are read; a file whose first block matches no other
    candidate's is not read further and gets no entry (it has no twin). Returns
    ``{(layer_id, path): sha256 hex}``: group it by digest for the identical sets. Files that could
    not be read get no entry either. Digests are cached on the inventory.
    """
    dirs = content_dirs(inv)
    known: dict = cache(inv).setdefault("sha256", {})
    by_size: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for layer_id, path, size in candidates:
        if size > 0 and layer_id in dirs:
            by_size[int(size)].append((layer_id, path))
    todo = [(key, size) for size, keys in by_size.items() if len(keys) > 1 for key in keys]
    fresh = [(k, s) for k, s in todo if k not in known]
    total = sum(min(s, FIRST_BLOCK) for _, s in fresh)
    bar = tqdm(total=total, unit="B", unit_scale=True, desc=desc, leave=False, disable=progress is False or not fresh)

    def fs_path(key):
        return dirs[key[0]] + os.fsencode(key[1])

    states: dict = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        for (key, size), res in zip(fresh, pool.map(lambda ks: _first(fs_path(ks[0]), ks[1]), fresh, chunksize=64)):
            bar.update(min(size, FIRST_BLOCK))
            if res is None:
                continue
            h, complete = res
            if complete:
                known[key] = h.hexdigest()
            else:
                states[key] = h
        # Second pass: only files whose size and first block match another candidate's.
        groups: dict[tuple, list] = defaultdict(list)
        for key, size in todo:
            if key in known:
                continue
            h = states.get(key)
            if h is not None:
                groups[(size, h.copy().digest())].append(key)
        more = [(key, size) for (size, _), keys in groups.items() if len(keys) > 1 for key in keys]
        bar.total = total + sum(s - FIRST_BLOCK for _, s in more)
        bar.refresh()

        def finish(ks):
            return _rest(fs_path(ks[0]), states[ks[0]])

        for (key, size), h in zip(more, pool.map(finish, more)):
            bar.update(size - FIRST_BLOCK)
            if h is not None:
                known[key] = h.hexdigest()
    bar.close()
    return {key: known[key] for key, _ in todo if key in known}
