"""Registry inputs for the registries notebook: a live registry's frames, a storage audit of a
directory or a capture archive. Each returns None when there is nothing to read, so the notebook
says what is missing instead of failing."""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path

from ..errors import LayerlabError
from ..sources.sample import data_dir


def sample_capture() -> Path | None:
    """The sample registry capture (data/capture/registry.tar.xz), if there is one: a checkout (or
    editable install) has it, a wheel leaves the capture archives out, so there this is None."""
    path = data_dir() / "capture" / "registry.tar.xz"
    return path if path.exists() else None


def registry_frames_or_none(refs, insecure=(), progress: bool | None = False):
    """``registry_frames(refs)`` over one client (plain HTTP for ``insecure`` hosts); None without refs."""
    refs = [refs] if isinstance(refs, str) else list(refs or [])
    if not refs:
        return None
    from ..sources.registry import RegistryClient, registry_frames

    with RegistryClient(insecure=list(insecure or [])) as client:
        return registry_frames(refs, client, progress=progress)


def _unpack(archive: Path, target: Path) -> Path:
    """Unpack a capture archive into ``target`` (a temporary directory, never beside the archive)."""
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target


def audit_or_none(capture=None, sample: bool = True):
    """A read-only StorageAudit of ``capture`` (a registry storage directory or a .tar/.tar.xz of
    one); the sample capture when None and present and ``sample`` (a report on another source
    passes False: the sample's registry is not the reader's); None when there is nothing to audit."""
    from ..sources.registry import audit_storage

    path = Path(capture) if capture else (sample_capture() if sample else None)
    if path is None:
        return None
    if not path.is_file():
        return audit_storage(path)
    # The audit reads everything into frames, so the unpacked copy can go right after.
    with tempfile.TemporaryDirectory(prefix="llreport-capture-") as tmp:
        audit = audit_storage(_unpack(path, Path(tmp)))
    return audit


def object_store_audit_or_none(location=None):
    """A read-only StorageAudit of a registry kept in an object store: ``s3://BUCKET/ROOTDIRECTORY``
    (credentials and endpoint from the AWS environment) or the registry's config.yml; None when not given."""
    if not location:
        return None
    from ..sources.registry import audit_storage

    text = str(location)
    if "://" not in text and text.endswith((".yml", ".yaml")):
        return audit_storage(config=text, progress=False)
    return audit_storage(text, progress=False)


def registry_blobs(registry=None, audit=None):
    """The blobs to chart: a live registry's ``registry_blobs`` when inspected, else a storage
    audit's ``blobs``, else None."""
    if registry is not None:
        return registry.blobs
    return audit.blobs if audit is not None else None


def available(sources) -> dict:
    """``{name: Inventory}`` for each source in ``sources`` (a list, or a dict of name -> source) that
    opens; sources that do not are left out with a warning (e.g. a sample driver not captured)."""
    import warnings

    from ..sources import open_source

    items = sources.items() if isinstance(sources, dict) else ((str(s).removeprefix("sample:"), s) for s in sources)
    out = {}
    for name, source in items:
        try:
            out[name] = open_source(source)
        except LayerlabError as e:
            warnings.warn(f"left out {source}: {e}", stacklevel=2)
    return out
