"""Registries: an HTTP API v2 client into DataFrames, and a read-only audit of a registry's storage.

    from layerlab.sources.registry import RegistryClient, registry_frames, audit_storage
    with RegistryClient() as client:
        info = client.inspect("docker.io/library/python:3.12")
        frames = registry_frames(["python:3.12", "python:3.11"], client)

Sizes here are compressed: the bytes of the blobs a registry stores and a pull downloads.
"""

from ...oci.manifest import Descriptor
from ...oci.reference import InvalidReference, Reference
from .auth import Credentials, DockerConfig
from .client import Inspection, Manifest, PlatformImage, RateLimit, RegistryClient
from .references import (
    RegistryFrames,
    blob_sharing,
    dedup_ratio,
    inspect_many,
    manifests,
    registry_frames,
    registry_layers,
)
from .storage import StorageAudit, audit_storage

__all__ = [
    "Credentials", "Descriptor", "DockerConfig", "Inspection", "InvalidReference", "Manifest", "PlatformImage",
    "RateLimit", "Reference", "RegistryClient", "RegistryFrames", "StorageAudit", "audit_storage",
    "blob_sharing", "dedup_ratio", "inspect_many", "manifests", "registry_frames", "registry_layers",
]
