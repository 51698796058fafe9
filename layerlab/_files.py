"""Opening a file someone named (a source, an archive, a rules or config file, a store's metadata)
so that nothing can make layerlab wait or read for ever: a FIFO would block ``open`` until a writer
came, a device such as /dev/zero never ends. The file is opened ``O_NONBLOCK`` (which makes opening a
FIFO return at once) and checked with ``fstat`` before a byte is read; anything but a regular file
is refused with the caller's error class, saying what it is and what was expected.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat

_NOATIME = getattr(os, "O_NOATIME", 0)


def kind_of(mode: int) -> str:
    """What a file of ``mode`` is, for messages: "a FIFO", "a character device", ..."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def open_file(path, error: type, *, expected: str = "a regular file", hint: str = "", limit: int | None = None,
              follow: bool = True, noatime: bool = False):
    """``path`` opened for reading in binary, only if it is a regular file; ``error(message, path=)``
    (a LayerlabError class) if it is a FIFO, a device, a socket, or larger than ``limit`` bytes.

    A directory raises IsADirectoryError (callers say what to give instead); OSErrors of ``open``
    (missing, permission) are the caller's to word. ``follow=False`` adds ``O_NOFOLLOW`` (a symbolic
    link raises OSError ELOOP); ``noatime`` leaves the access time alone where the kernel allows.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    fd = None
    if noatime and _NOATIME:
        try:
            fd = os.open(path, flags | _NOATIME)
        except PermissionError:  # not the owner: open without it
            fd = None
    if fd is None:
        fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), os.fsdecode(path))
        if not stat.S_ISREG(st.st_mode):
            what = kind_of(st.st_mode)
            what = what if what == "not a regular file" else f"{what}, not a regular file,"
            raise error(f"{os.fsdecode(path)} is {what} where {expected} should be"
                        f"{'; ' + hint if hint else ''}", path=os.fsdecode(path))
        if limit is not None and st.st_size > limit:
            raise error(f"{os.fsdecode(path)} holds {st.st_size} bytes, above the {limit} byte limit for "
                        f"{expected}{'; ' + hint if hint else ''}", path=os.fsdecode(path))
        # A regular file: back to blocking reads (no difference for a file, but callers may pass it on).
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_sized(f, limit: int | None) -> bytes:
    """What is left of the open file ``f`` (at most ``limit`` + 1 bytes, to tell a file that grew),
    asked for by its size: ``read(limit + 1)`` of a 64 MiB limit had the allocator map and unmap 64
    MiB for each small metadata file, a third of the time of reading a store of many small layers."""
    size = os.fstat(f.fileno()).st_size
    want = size + 1 if limit is None else min(size, limit) + 1
    data = f.read(want)
    if len(data) == want:  # grew since fstat: the rest, up to the limit
        data += f.read() if limit is None else f.read(limit + 1 - len(data))
    return data


def read_file(path, error: type, *, limit: int, **kwargs) -> bytes:
    """The bytes of the regular file ``path`` (see :func:`open_file`), at most ``limit`` of them."""
    with open_file(path, error, limit=limit, **kwargs) as f:
        data = read_sized(f, limit)
    if len(data) > limit:  # grew while read
        raise error(f"{os.fsdecode(path)} is above the {limit} byte limit", path=os.fsdecode(path))
    return data
