"""Image sources named as skopeo names them (``docker-archive:``, ``oci:``, ``oci-archive:``,
``docker://``, ``containers-storage:``), and bare paths recognised by what they hold."""

from __future__ import annotations

import os

from .._files import open_file
from ..errors import NotADataRoot

TRANSPORTS = ("docker-archive:", "oci-archive:", "oci:", "docker://", "containers-storage:")


def is_transport(source: str) -> bool:
    """True when ``source`` starts with one of the transport prefixes layerlab reads."""
    return source.startswith(TRANSPORTS)


def open_transport(source: str, *, platform: str | None = None, progress: bool | None = None, verify: bool = True,
                   hash_files: bool = False, foreign_layers: str = "fetch"):
    """An Inventory of the image(s) a transport-prefixed ``source`` names. ``verify=False`` reads
    uncompressed local layers headers only; registry blobs are still checked against their digests,
    but their uncompressed tars are not hashed (nor checked against the config's diff IDs).
    ``hash_files`` gives every regular file its SHA-256, hashed as its layer streams.
    ``foreign_layers``: "fetch" a foreign layer from its urls (default) or "skip" it (sources/foreign.py)."""
    opts = {"platform": platform, "progress": progress, "hash_files": hash_files, "foreign_layers": foreign_layers}
    from .archive import open_archive
    from .ocilayout import images_from_layout, open_layout, open_oci_archive, split_ref

    if source.startswith("docker-archive:"):
        # a tar of an OCI layout named (or sniffed) as an archive is read as the layout it is
        return open_archive(source[len("docker-archive:"):], verify=verify, read_layout=images_from_layout, **opts)
    if source.startswith("oci-archive:"):
        path, ref = split_ref(source[len("oci-archive:"):])
        return open_oci_archive(path, ref=ref, verify=verify, **opts)
    if source.startswith("oci:"):
        path, ref = split_ref(source[len("oci:"):])
        return open_layout(path, ref=ref, verify=verify, **opts)
    if source.startswith("docker://"):
        from .registry.image import open_registry_image

        return open_registry_image(source[len("docker://"):], verify=verify, **opts)
    if source.startswith("containers-storage:"):
        # A store on this host, read in place as a data root is (configs checked against their IDs).
        from .containers_storage.store import open_location

        return open_location(source, progress=progress)
    raise ValueError(f"not a transport: {source!r}")


def sniff(path: str) -> str | None:
    """What a bare path holds, by content: ``oci`` (a layout directory), ``archive`` (a tar, plain or
    compressed, to be read as `docker save` output or an OCI archive), or None (anything else)."""
    if os.path.isdir(path):
        return "oci" if os.path.isfile(os.path.join(path, "oci-layout")) else None
    try:
        with open_file(path, NotADataRoot, expected="a data root, snapshot, archive or layout",
                       hint="give the path of one (a FIFO or a device is never read)") as f:
            head = f.read(512)
    except OSError:
        return None
    if head[:2] == b"\x1f\x8b" or head[:4] == b"\x28\xb5\x2f\xfd":
        return "archive"
    if len(head) >= 4 and head[0] & 0xF0 == 0x50 and head[1:4] == b"\x2a\x4d\x18":
        return "archive"  # a zstd skippable frame first, as pzstd writes: tarstream.is_zstd
    if len(head) == 512 and head[257:262] == b"ustar":
        return "archive"
    return None
