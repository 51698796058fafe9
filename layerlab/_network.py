"""How long layerlab waits on the network: one deadline for every call (``$LAYERLAB_NETWORK_DEADLINE``
seconds, 45 by default), and the filesystem of a remote snapshot (``s3://...``) held to it, so a
silent object store fails within a minute instead of after botocore's and s3fs's retries.
"""

from __future__ import annotations

import os

from .errors import LayerlabError

#: Seconds a network exchange may go without an answer (a registry request in all, a blob without
#: 64 KiB arriving, an object store call, a Dask scheduler connecting): short enough for a person at
#: a terminal. ``LAYERLAB_NETWORK_DEADLINE`` overrides it.
DEFAULT_DEADLINE = 45.0
DEADLINE_ENV = "LAYERLAB_NETWORK_DEADLINE"


def network_deadline() -> float:
    """The deadline in seconds: ``$LAYERLAB_NETWORK_DEADLINE`` if set, else DEFAULT_DEADLINE."""
    text = os.environ.get(DEADLINE_ENV, "").strip()
    if not text:
        return DEFAULT_DEADLINE
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86400:  # NaN fails this too
        raise LayerlabError(f"{DEADLINE_ENV}={text[:40]!r} is not a number of seconds between 0 and 86400; "
                            "set it to one (e.g. 120) or unset it for the default of "
                            f"{DEFAULT_DEADLINE:g} s")
    return value


def remote_filesystem(url: str, storage_options: dict | None = None):
    """``fsspec.core.url_to_fs(url, **storage_options)``; for ``s3://`` with botocore's connect and
    read timeouts at half the deadline and one attempt (s3fs's own retry loop included), unless the
    options say otherwise."""
    import fsspec

    options = dict(storage_options or {})
    s3 = url.startswith(("s3://", "s3a://"))
    if s3:
        # s3fs asks a silent store twice about one file (HEAD, then a listing), so each call gets
        # half the deadline: the first question about a snapshot fails within it.
        seconds = network_deadline() / 2
        config = dict(options.pop("config_kwargs", None) or {})
        config.setdefault("connect_timeout", seconds)
        config.setdefault("read_timeout", seconds)
        config.setdefault("retries", {"max_attempts": 1, "mode": "standard"})
        options["config_kwargs"] = config
    fs, path = fsspec.core.url_to_fs(url, **options)
    if s3 and "retries" not in (storage_options or {}):
        fs.retries = 1  # s3fs retries timeouts itself (5 times by default): the deadline would multiply
    return fs, path
