"""A read-only audit of a registry's filesystem storage (distribution's layout, docs/formats.md "Registry storage").

What an operator wants to know before running ``registry garbage-collect``: repositories, tags and
their history, manifests (tagged or not), layer links, blobs with sizes, and exactly which blobs
``garbage-collect`` would delete with and without ``--delete-untagged``. The mark-and-sweep here
follows distribution 2.8 (Debian's docker-registry and the ``registry:2`` image): a manifest marks
its direct references only, so with ``--delete-untagged`` the layers of an untagged child of a
tagged index are swept. Nothing is written, locked or created under the storage root.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from ...errors import DataRootPermissionError, NotADataRoot
from ...frames.schema import coerce, empty
from ...oci.manifest import INDEX_TYPES, SCHEMA1, media_type_of
from .._reader import is_digest, read_bytes, read_text, scandir

MANIFEST_LIMIT = 4 << 20


def find_v2(root: str | os.PathLike) -> Path:
    """The ``docker/registry/v2`` directory of a storage root (or the v2 directory itself)."""
    root = Path(root)
    for candidate in (root / "docker" / "registry" / "v2", root / "registry" / "v2", root):
        if (candidate / "blobs").is_dir() or (candidate / "repositories").is_dir():
            return candidate
    raise NotADataRoot(f"{root} is not a registry storage root: no docker/registry/v2 with blobs/ or "
                       "repositories/ below it; give the filesystem driver's rootdirectory "
                       "(e.g. /var/lib/registry)", path=str(root))


def _read_link(path: Path) -> str | None:
    try:
        text = read_text(path).strip()
    except FileNotFoundError:
        return None
    except PermissionError:
        raise DataRootPermissionError(f"cannot read {path}; run as a user who can read the registry storage",
                                      path=str(path)) from None
    return text or None


class _Dir(NamedTuple):
    name: str
    path: str


def _sorted_dirs(path: Path) -> list[_Dir]:
    # Listed through an O_NOATIME descriptor: an audit must not move the storage's access times.
    try:
        with scandir(path) as it:
            return sorted((_Dir(e.name, os.path.join(path, e.name)) for e in it if e.is_dir(follow_symlinks=False)),
                          key=lambda e: e.name)
    except FileNotFoundError:
        return []
    except PermissionError:
        raise DataRootPermissionError(f"cannot list {path}; run as a user who can read the registry storage",
                                      path=str(path)) from None


def _links(directory: Path) -> list[tuple[str, str]]:
    """(path-named digest, link content) for every ``<alg>/<hex>/link`` under ``directory``."""
    out = []
    for alg in _sorted_dirs(directory):
        for entry in _sorted_dirs(Path(alg.path)):
            content = _read_link(Path(entry.path) / "link")
            if content is not None:
                out.append((f"{alg.name}:{entry.name}", content))
    return out


@dataclass
class GcPlan:
    """What one garbage-collect mode would delete."""

    blobs: list[str]
    bytes: int
    manifests: list[tuple[str, str]] = field(default_factory=list)  # (repository, digest)
    layer_links: list[tuple[str, str]] = field(default_factory=list)
    #: why garbage-collect in this mode would stop before deleting anything (then the lists are empty)
    error: str | None = None

    def to_dict(self) -> dict:
        return {"blobs": self.blobs, "bytes": self.bytes, "error": self.error,
                "manifests": [{"repository": r, "digest": d} for r, d in self.manifests],
                "layer_links": [{"repository": r, "digest": d} for r, d in self.layer_links]}


@dataclass
class StorageAudit:
    """The audit of one storage root: frames, the two GC plans, and problems found on the way."""

    root: Path
    repositories: pd.DataFrame
    tags: pd.DataFrame
    manifests: pd.DataFrame
    layer_links: pd.DataFrame
    blobs: pd.DataFrame
    gc: GcPlan
    gc_untagged: GcPlan
    problems: list[str]

    @property
    def blob_bytes(self) -> int:
        return int(self.blobs["size"].sum())

    def to_dict(self) -> dict:
        repos = []
        for row in self.repositories.itertuples(index=False):
            t = self.tags[(self.tags["repository"] == row.repository) & self.tags["current"]]
            repos.append({"repository": row.repository, "tags": dict(zip(t["tag"], t["digest"])),
                          "manifests": int(row.manifest_count), "untagged": int(row.untagged_count),
                          "layer_links": int(row.layer_link_count), "uploads": int(row.upload_count)})
        unreferenced = self.blobs[self.blobs["kind"] == "unreferenced"]
        untagged = self.manifests[~self.manifests["tags"].map(bool) & ~self.manifests["referenced_by"].map(bool)]
        return {"root": str(self.root), "repositories": repos, "blobs": len(self.blobs),
                "blob_bytes": self.blob_bytes,
                "untagged_manifests": [{"repository": r, "digest": d}
                                       for r, d in zip(untagged["repository"], untagged["digest"])],
                "unreferenced_blobs": list(unreferenced["digest"]),
                "gc": self.gc.to_dict(), "gc_untagged": self.gc_untagged.to_dict(), "problems": self.problems}


def _repositories(repos_dir: Path, prefix: str = "") -> list[tuple[str, Path]]:
    """Repositories in distribution's walk order: directories holding ``_manifests``/``_layers``/``_uploads``."""
    out = []
    for entry in _sorted_dirs(repos_dir):
        if entry.name.startswith("_"):
            continue
        path = Path(entry.path)
        name = prefix + entry.name
        if any((path / d).is_dir() for d in ("_manifests", "_layers", "_uploads")):
            out.append((name, path))
        out.extend(_repositories(path, name + "/"))
    return out


def audit_storage(root: str | os.PathLike) -> StorageAudit:
    """Audit the storage under ``root`` (the filesystem driver's rootdirectory), read-only."""
    v2 = find_v2(root)
    problems: list[str] = []

    # Blobs: distribution enumerates data files under blobs/<alg>/<xx>/<hex>/data.
    blob_sizes: dict[str, int] = {}
    for alg in _sorted_dirs(v2 / "blobs"):
        for shard in _sorted_dirs(Path(alg.path)):
            for entry in _sorted_dirs(Path(shard.path)):
                try:
                    blob_sizes[f"{alg.name}:{entry.name}"] = os.stat(Path(entry.path) / "data").st_size
                except FileNotFoundError:
                    pass
                except PermissionError:
                    raise DataRootPermissionError(f"cannot stat {entry.path}/data; run as a user who can read "
                                                  "the registry storage", path=entry.path) from None

    parsed: dict[str, dict | None] = {}

    def manifest(digest: str) -> dict | None:
        if digest not in parsed:
            path = v2 / "blobs" / digest.split(":")[0] / digest.split(":")[1][:2] / digest.split(":")[1] / "data"
            data = None
            try:
                raw = json.loads(read_bytes(path, MANIFEST_LIMIT))
                data = raw if isinstance(raw, dict) else None
            except (OSError, ValueError):  # CorruptMetadata (too large, not a regular file) included
                data = None
            if data is None:
                problems.append(f"manifest {digest} cannot be read as JSON; garbage-collect would stop here")
            parsed[digest] = data
        return parsed[digest]

    def references(data: dict) -> tuple[str, list[str], str | None]:
        """(media type, digests it references — distribution 2.8's References(), config digest)."""
        media_type = media_type_of(data)
        if media_type in SCHEMA1:
            return media_type, [l.get("blobSum") for l in data.get("fsLayers") or []], None
        if media_type in INDEX_TYPES:
            return media_type, [m.get("digest") for m in data.get("manifests") or []], None
        config = (data.get("config") or {}).get("digest")
        return media_type, ([config] if config else []) + [l.get("digest") for l in data.get("layers") or []], config

    repo_rows, tag_rows, manifest_rows, link_rows = [], [], [], []
    kinds: dict[str, str] = {}
    linked_by: dict[str, set[str]] = {}
    marks = {False: set(), True: set()}  # delete_untagged -> mark set
    gc_untagged_error = None
    manifest_deletes = {False: [], True: []}
    link_deletes = {False: [], True: []}

    for repo, path in _repositories(v2 / "repositories"):
        mdir = path / "_manifests"
        # Tags and their history.
        current: dict[str, str] = {}
        for tag in _sorted_dirs(mdir / "tags"):
            digest = _read_link(Path(tag.path) / "current" / "link")
            if digest and not is_digest(digest):
                # distribution's tag lookup parses every tag link: --delete-untagged stops at this one
                # (plain garbage-collect never reads tags)
                message = (f"failed to retrieve tags for digest of {repo}: tag {tag.name}'s link holds "
                           f"{digest[:80]!r}: invalid checksum digest format")
                gc_untagged_error = gc_untagged_error or message
                problems.append(f"{message}; `garbage-collect --delete-untagged` stops here and deletes nothing")
                digest = None
            if digest:
                current[tag.name] = digest
                tag_rows.append({"repository": repo, "tag": tag.name, "digest": digest, "current": True})
            for d, _ in _links(Path(tag.path) / "index"):
                if d != digest:
                    tag_rows.append({"repository": repo, "tag": tag.name, "digest": d, "current": False})
        tags_of: dict[str, list[str]] = {}
        for tag, digest in current.items():
            tags_of.setdefault(digest, []).append(tag)

        # Manifest revisions: the link's content names the blob; a missing blob is skipped, as by GC.
        revisions = [content for _, content in _links(mdir / "revisions")]
        present = [d for d in revisions if d in blob_sizes]
        for d in revisions:
            if d not in blob_sizes:
                problems.append(f"{repo}: revision {d} links to a blob that does not exist")
        info = {}
        for d in present:
            data = manifest(d)
            info[d] = references(data) if data is not None else (None, [], None)
            linked_by.setdefault(d, set()).add(repo)
        referenced_by: dict[str, list[str]] = {}
        for d, (mt, refs, _) in info.items():
            if mt in INDEX_TYPES:
                for child in refs:
                    referenced_by.setdefault(child, []).append(d)

        for untagged_mode in (False, True):
            mark = marks[untagged_mode]
            for d in present:
                if untagged_mode and d not in tags_of:
                    manifest_deletes[True].append((repo, d))
                    continue
                mark.add(d)
                mark.update(r for r in info[d][1] if r)

        # Layer links, judged against the mark set as it stands after this repository (GC's order).
        has_manifests = mdir.is_dir()
        layer_links = _links(path / "_layers")
        for _, content in layer_links:
            linked_by.setdefault(content, set()).add(repo)
            exists = content in blob_sizes
            row = {"repository": repo, "digest": content, "blob_exists": exists}
            for untagged_mode, column in ((False, "gc"), (True, "gc_untagged")):
                doomed = has_manifests and exists and content not in marks[untagged_mode]
                row[column] = doomed
                if doomed:
                    link_deletes[untagged_mode].append((repo, content))
            link_rows.append(row)

        doomed_manifests = set(manifest_deletes[True])
        for d in revisions:
            mt, refs, config = info.get(d, (None, [], None))
            for r in refs:
                if r and r not in kinds:
                    kinds[r] = "config" if r == config else ("manifest" if mt in INDEX_TYPES else "layer")
            manifest_rows.append({
                "repository": repo, "digest": d, "media_type": mt, "size": blob_sizes.get(d),
                "tags": sorted(tags_of.get(d, [])), "referenced_by": sorted(referenced_by.get(d, [])),
                "config_digest": config, "layer_count": len(refs) - (1 if config else 0) if mt else None,
                "gc_untagged": (repo, d) in doomed_manifests,
            })
        uploads = len(_sorted_dirs(path / "_uploads"))
        repo_rows.append({"repository": repo, "tag_count": len(current), "manifest_count": len(revisions),
                          "untagged_count": sum(1 for d in revisions if d not in tags_of),
                          "layer_link_count": len(layer_links), "upload_count": uploads})

    revision_types = {}
    for row in manifest_rows:
        if row["media_type"]:
            revision_types[row["digest"]] = "index" if row["media_type"] in INDEX_TYPES else "manifest"
    blob_rows = []
    plans = {}
    for untagged_mode in (False, True):
        doomed = [d for d in blob_sizes if d not in marks[untagged_mode]]
        plans[untagged_mode] = GcPlan(sorted(doomed), sum(blob_sizes[d] for d in doomed),
                                      manifest_deletes[untagged_mode], link_deletes[untagged_mode])
    if gc_untagged_error:  # GC fails in its mark phase: its sweep never runs
        plans[True] = GcPlan([], 0, error=gc_untagged_error)
        for row in manifest_rows + link_rows:
            row["gc_untagged"] = False
    gc_set, gcu_set = set(plans[False].blobs), set(plans[True].blobs)
    for d, size in blob_sizes.items():
        kind = revision_types.get(d) or kinds.get(d) or "unreferenced"
        blob_rows.append({"digest": d, "size": size, "kind": kind, "repositories": sorted(linked_by.get(d, ())),
                          "gc": d in gc_set, "gc_untagged": d in gcu_set})

    def frame(rows, kind):
        return coerce(pd.DataFrame(rows), kind) if rows else empty(kind)

    return StorageAudit(
        root=v2, repositories=frame(repo_rows, "storage_repositories"), tags=frame(tag_rows, "storage_tags"),
        manifests=frame(manifest_rows, "storage_manifests"), layer_links=frame(link_rows, "storage_layer_links"),
        blobs=frame(blob_rows, "storage_blobs"), gc=plans[False], gc_untagged=plans[True], problems=problems,
    )
