"""Registries: an HTTP API v2 client into DataFrames, and a read-only audit of a registry's storage.

    from layerlab.sources.registry import RegistryClient, registry_frames, audit_storage
    with RegistryClient() as client:
        info = client.inspect("docker.io/library/python:3.12")
        frames = registry_frames(["python:3.12", "python:3.11"], client)

Sizes here are compressed: the bytes of the blobs a registry stores and a pull downloads.
"""

from ..._lazy import attach
from ...oci.manifest import Descriptor
from ...oci.reference import InvalidReference, Reference
from .auth import Credentials, DockerConfig
from .client import Inspection, Manifest, PlatformImage, RateLimit, RegistryClient

# The frames of many references and the storage audit load on first use: reading one image
# (docker://, registry.image) needs neither, and a script's startup counts.
_LAZY = {name: ".references" for name in ("RegistryFrames", "blob_sharing", "dedup_ratio", "inspect_many",
                                          "manifests", "registry_frames", "registry_layers")}
_LAZY.update(StorageAudit=".storage", audit_storage=".storage")
__getattr__, __dir__ = attach(__name__, _LAZY, globals())

__all__ = [
    "Credentials", "Descriptor", "DockerConfig", "Inspection", "InvalidReference", "Manifest", "PlatformImage",
    "RateLimit", "Reference", "RegistryClient", "RegistryFrames", "StorageAudit", "audit_storage",
    "blob_sharing", "dedup_ratio", "inspect_many", "manifests", "registry_frames", "registry_layers",
]
