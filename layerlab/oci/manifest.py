"""The OCI image nouns every source shares: media types, descriptors, platforms, and choosing one
image of an index (formats: docs/formats.md, "Manifests and indexes"). The archive, layout and
registry readers take them from here, so each is named and decided once."""

from __future__ import annotations

import platform as _platform
from dataclasses import dataclass

from ..errors import RegistryError

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
           "application/vnd.docker.distribution.manifest.v1+prettyjws")
INDEX_TYPES = (DOCKER_LIST, OCI_INDEX)
IMAGE_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)
#: An image's config; a manifest whose config is of another type is an artifact (signature, SBOM, ...).
CONFIG_TYPES = ("application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json")
#: Layer media types and the compression of their blobs.
LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar": "none",
    "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd": "zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar": "none",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": "zstd",
    "application/vnd.docker.image.rootfs.diff.tar": "none",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
    "application/vnd.docker.image.rootfs.diff.tar.zstd": "zstd",
}
#: Foreign (non-distributable) layers: a registry may not hold their blobs, which live at their ``urls``.
FOREIGN_TYPES = frozenset({
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
})
#: The media type a schema1 layer blob has once converted (skopeo's convertToManifestSchema2).
SCHEMA1_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
#: The annotations an index entry names its image by (OCI's, and containerd's full name).
REF_NAME = "org.opencontainers.image.ref.name"
IMAGE_NAME = "io.containerd.image.name"
ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST) + SCHEMA1[::-1])

#: ``uname -m`` -> the OCI architecture name.
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x",
                 "i686": "386"}


def host_platform() -> str:
    """This host's platform as an index names it: ``linux/amd64``, ``linux/arm64``, ..."""
    machine = _platform.machine()
    return f"linux/{ARCHITECTURES.get(machine, machine)}"


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor: what a manifest says about a blob or child manifest."""

    media_type: str
    digest: str
    size: int
    platform: str | None = None
    urls: tuple[str, ...] = ()  # where a foreign layer's blob lives (sources/foreign.py)

    @classmethod
    def from_json(cls, d: dict, what: str) -> "Descriptor":
        try:
            digest, size = d["digest"], d["size"]
        except (KeyError, TypeError):
            raise RegistryError(f"{what}: a descriptor lacks digest or size") from None
        # A size is a JSON integer >= 0 (OCI image-spec descriptor); a digest is a string.
        # ... and at most 1 PiB: no blob is larger, and sums of sizes past it would overflow int64
        whole = isinstance(size, int) and not isinstance(size, bool)
        if not whole or not 0 <= size <= 1 << 50 or not isinstance(digest, str):
            raise RegistryError(f"{what}: a descriptor has size {str(size)[:40]!r} and digest {str(digest)[:80]!r}; "
                                "a size is an integer from 0 to 1 PiB and a digest a string — the registry is "
                                "misbehaving")
        platform = d.get("platform")
        if platform is not None and not (isinstance(platform, dict) and all(
                isinstance(platform.get(k), (str, type(None))) for k in ("os", "architecture", "variant"))):
            raise RegistryError(f"{what}: a descriptor's platform is not an object of strings "
                                f"({str(platform)[:80]!r}); the registry is misbehaving")
        urls = d.get("urls") or ()
        urls = tuple(u for u in urls if isinstance(u, str)) if isinstance(urls, list) else ()
        return cls(d.get("mediaType") or "", digest, size, platform_string(platform), urls)


def platform_string(p: dict | None) -> str | None:
    """``os/architecture[/variant]`` from an index entry's or config's platform fields."""
    if not p or not (p.get("os") or p.get("architecture")):
        return None
    parts = [p.get("os") or "unknown", p.get("architecture") or "unknown"]
    if p.get("variant"):
        parts.append(p["variant"])
    return "/".join(parts)


def platform_matches(wanted: str, platform: str | None) -> bool:
    """``linux/arm64`` matches ``linux/arm64/v8``; a given variant must match exactly."""
    if platform is None:
        return False
    want, have = wanted.strip("/").split("/"), platform.split("/")
    return have[:len(want)] == want


def platform_wanted(wanted: str | None, fields: dict | None) -> bool:
    """Whether platform ``fields`` (an index entry's ``platform``, or a config's ``os``,
    ``architecture``, ``variant``) are ``wanted``: always when nothing is wanted or nothing is said."""
    if not wanted or not fields:
        return True
    return platform_matches(wanted, platform_string(fields))


def media_type_of(data: dict, content_type: str | None = None) -> str:
    """The media type of a manifest or index: its ``mediaType``, else the ``Content-Type`` it was served
    with, else what its fields say (schema1, ``manifests``: an index, ``config``: a manifest)."""
    if data.get("mediaType"):
        return data["mediaType"]
    ct = (content_type or "").split(";")[0].strip()
    if ct in INDEX_TYPES + IMAGE_TYPES + SCHEMA1:
        return ct
    if data.get("schemaVersion") == 1:
        return SCHEMA1[0]
    if "manifests" in data:
        return OCI_INDEX
    if "config" in data:
        return OCI_MANIFEST
    return ct or "unknown"


def platform_order(entries: list[dict], wanted: str | None = None) -> list[dict]:
    """An index's ``manifests`` entries in the order to try them: those for ``wanted`` (default: this
    host's platform) first, the rest in index order; attestation manifests (``unknown/unknown``) left out."""
    want = wanted or host_platform()
    entries = [e for e in entries if (e.get("platform") or {}).get("architecture") != "unknown"]
    return sorted(entries, key=lambda e: not platform_matches(want, platform_string(e.get("platform"))))
