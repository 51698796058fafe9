"""What reading must leave alone under a tree: the one state the read-only tests compare
(a plain module: test files must not import conftest)."""

from __future__ import annotations

import hashlib
import os
import stat


def tree_state(root, *, contents: bool = True, atimes: bool = False) -> dict:
    """Every entry under ``root``, root included: type and mode, owner, size, mtime, ctime, device,
    link count and xattrs; with ``contents`` each regular file's sha256.

    ``atimes`` adds each non-directory's atime (listing a directory may move its own under
    relatime). Hashing reads the files, so with both, take the state once before the one compared:
    under relatime only a first read moves an atime, and then only the code under test can.
    """
    root = os.fspath(root)
    state = {}
    for path in _entries(root):
        st = os.lstat(path)
        xattrs = {a: os.getxattr(path, a, follow_symlinks=False) for a in os.listxattr(path, follow_symlinks=False)}
        entry = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_rdev,
                 st.st_nlink, xattrs)
        if atimes and not stat.S_ISDIR(st.st_mode):
            entry += (st.st_atime_ns,)
        if contents and stat.S_ISREG(st.st_mode):
            with open(path, "rb") as f:
                entry += (hashlib.sha256(f.read()).hexdigest(),)
        state[path] = entry
    return state


def _entries(root: str):
    yield root
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            yield os.path.join(dirpath, name)
