"""The object every source returns: the contract's frames, metadata, and name lookup.

``open_root`` (a live data root), ``load`` (a snapshot) and ``sample`` all give an Inventory, so
analyses, plots and notebooks never need to know where the frames came from.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ..errors import Expect, ImageNotFound, check_argument
from . import DERIVED, schema
from .schema import FRAME_NAMES



class Inventory:
    """Frames of one image store. Frames are computed on first access (``files`` is the costly one).

    Attributes: ``images``, ``layers``, ``image_layers``, ``history``, ``containers``, ``files``,
    ``skipped`` (what could not be read), and ``meta`` (source, driver, image_store, host, scanned_at,
    layerlab_version, ...). The views every consumer needs (``tagged``, ``listed``, ``chain``,
    ``files_of``, choosing images) are here, computed once; ``cache`` keeps costlier results.
    """

    def __init__(self, meta: dict, frames: dict[str, pd.DataFrame | Callable[[], pd.DataFrame]]):
        self.meta = dict(meta)
        self._frames = dict(frames)
        #: Results costly to recompute (analyses, lookups), living as long as this Inventory: its
        #: frames never change once read.
        self.cache: dict = {}

    def _get(self, name: str) -> pd.DataFrame:
        value = self._frames[name]
        if callable(value):
            value = schema.validate(value(), name)
            self._frames[name] = value
        return value

    images = property(lambda self: self._get("images"), doc="One row per image (see schema.describe('images')).")
    layers = property(lambda self: self._get("layers"), doc="One row per image, init or container layer.")
    image_layers = property(lambda self: self._get("image_layers"), doc="One row per (image, position).")
    history = property(lambda self: self._get("history"), doc="One row per (image, history entry).")
    containers = property(lambda self: self._get("containers"), doc="One row per container.")
    files = property(lambda self: self._get("files"), doc="One row per (layer, path).")
    skipped = property(lambda self: self._get("skipped"), doc="What could not be read, and why.")

    def _derived(self, name: str) -> pd.DataFrame:
        return schema.validate(DERIVED[name](self, name), name)

    packages = property(lambda self: self._derived("packages"),
                        doc="One row per (image, package), from the package databases in its layers "
                            "(docs/packages.md).")
    package_files = property(lambda self: self._derived("package_files"),
                             doc="One row per (image, non-directory path of its merged view) and the package "
                                 "owning it.")
    package_changes = property(lambda self: self._derived("package_changes"),
                               doc="Per image and layer: packages added, removed, upgraded or downgraded.")

    def note_skipped(self, rows: list[dict]) -> None:
        """Add what an analysis of layer contents could not read (package databases) to ``skipped``."""
        more = schema.from_rows("skipped", rows)
        both = pd.concat([self._get("skipped"), more], ignore_index=True)
        self._frames["skipped"] = both.drop_duplicates(ignore_index=True)

    @property
    def source(self) -> str:
        return self.meta.get("source", "")

    def frames(self) -> dict[str, pd.DataFrame]:
        """All frames, computing any not yet computed."""
        return {name: self._get(name) for name in FRAME_NAMES}

    def image_id(self, ref: str) -> str:
        """The image ID for a tag (``app:1``, ``app`` meaning ``app:latest``), full ID or ID prefix."""
        images = self.images
        ref = ref.strip()
        hits = [i for i, tags in zip(images["image_id"], images["tags"]) if ref in tags]
        if not hits and ":" not in ref.rsplit("/", 1)[-1] and "@" not in ref:
            hits = [i for i, tags in zip(images["image_id"], images["tags"]) if f"{ref}:latest" in tags]
        if not hits and "@" in ref:
            hits = [i for i, d in zip(images["image_id"], images["digests"]) if ref in d]
        if not hits and self.meta.get("image_store") == "containers-storage":
            # podman's names are full (localhost/app:1); a short name matches their end, as podman resolves it
            want = {ref} if ":" in ref.rsplit("/", 1)[-1] or "@" in ref else {ref, f"{ref}:latest"}
            hits = [i for i, tags in zip(images["image_id"], images["tags"])
                    if any(t.endswith("/" + w) for t in tags for w in want)]
        if not hits:
            hexpart = ref.removeprefix("sha256:").lower()
            if len(hexpart) >= 1 and all(c in "0123456789abcdef" for c in hexpart):
                hits = [i for i in images["image_id"] if i.removeprefix("sha256:").startswith(hexpart)]
        hits = sorted(set(hits))
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise ImageNotFound(f"{ref!r} is ambiguous: it matches {len(hits)} images; give more of the ID", ref=ref)
        skipped = self._skipped_named(ref)
        if skipped:
            shown = "; ".join(f"{iid[:19]}" + (f" ({', '.join(names[:5])})" if names else "") + f": {reason}"
                              for iid, names, reason in skipped[:3])
            raise ImageNotFound(
                f"no image {ref!r} in {self.source or 'this source'}: {'an image' if len(skipped) == 1 else 'images'} "
                f"of that name {'was' if len(skipped) == 1 else 'were'} skipped as unreadable: {shown}. What was "
                "skipped, and why, is in the `skipped` frame (`layerlab summary --json`: \"skipped\")",
                ref=ref,
            )
        known = sorted({t for tags in images["tags"] for t in tags})[:10]
        raise ImageNotFound(
            f"no image {ref!r} in {self.source or 'this source'}; give a tag, an ID or an ID prefix"
            + (f" (tags here include: {', '.join(known)})" if known else ""),
            ref=ref,
        )

    def skipped_images(self) -> list[tuple[str, list[str], str]]:
        """(image ID, names, reason) of the images the source skipped as unreadable, known without
        reading any layer (meta ``skipped_images``; a snapshot's meta is checked, not trusted)."""
        found = self.meta.get("skipped_images")
        if not isinstance(found, dict):
            return []
        out = []
        for iid, rec in found.items():
            rec = rec if isinstance(rec, dict) else {}
            names, reason = rec.get("names"), rec.get("reason")
            names = [n for n in names if isinstance(n, str)] if isinstance(names, list) else []
            out.append((str(iid), names, reason if isinstance(reason, str) else "unreadable"))
        return sorted(out)

    def _skipped_named(self, ref: str) -> list[tuple[str, list[str], str]]:
        # The same rules as image_id: a name, name:latest, a digest reference, an ID or ID prefix.
        hexpart = ref.removeprefix("sha256:").lower()
        by_id = len(hexpart) >= 1 and all(c in "0123456789abcdef" for c in hexpart)
        bare = ":" not in ref.rsplit("/", 1)[-1] and "@" not in ref
        want = {ref, f"{ref}:latest"} if bare else {ref}
        short = self.meta.get("image_store") == "containers-storage"  # podman's short names, as image_id takes them
        return [(iid, names, reason) for iid, names, reason in self.skipped_images()
                if any(n in want or (short and any(n.endswith("/" + w) for w in want)) for n in names)
                or (by_id and iid.removeprefix("sha256:").startswith(hexpart))]

    def image_files(self, ref: str) -> pd.DataFrame:
        """Rows of ``files`` for the layers of one image, with its ``position`` column (0 = base)."""
        image_id = self.image_id(ref)
        chain = self.image_layers[self.image_layers["image_id"] == image_id][["layer_id", "position"]]
        return self.files.merge(chain, on="layer_id").sort_values(["position"], kind="stable").reset_index(drop=True)

    # -- views -------------------------------------------------------------------------------

    @property
    def tagged(self) -> pd.DataFrame:
        """The images that have at least one tag (``docker images`` without ``<none>`` rows)."""
        if "tagged" not in self.cache:
            self.cache["tagged"] = self.images[self.images["tags"].map(len) > 0]
        return self.cache["tagged"]

    @property
    def listed(self) -> pd.DataFrame:
        """The images ``docker images`` lists: all but the classic builder's intermediate images."""
        if "listed" not in self.cache:
            self.cache["listed"] = self.images[~self.images["intermediate"]]
        return self.cache["listed"]

    def image_counts(self) -> dict:
        """The image counts every output names the same way: ``images`` (what ``docker images`` lists),
        ``tagged_images`` (with at least one tag) and ``all_images`` (``docker images -a``: the classic
        builder's intermediate images too)."""
        return {"images": len(self.listed), "tagged_images": len(self.tagged), "all_images": len(self.images)}

    def chains(self) -> dict[str, list[str]]:
        """Every image's layer IDs, base (position 0) first."""
        if "chains" not in self.cache:
            il = self.image_layers.sort_values(["image_id", "position"], kind="stable")
            self.cache["chains"] = {iid: list(g) for iid, g in il.groupby("image_id", sort=False)["layer_id"]}
        return self.cache["chains"]

    def chain(self, image_id: str) -> list[str]:
        """The layer IDs of image ``image_id`` (a full ID), base first; empty for an unknown ID."""
        return list(self.chains().get(image_id, []))

    def files_of(self, layer_ids) -> pd.DataFrame:
        """The ``files`` rows of the given layers, in the order the layers are given."""
        if "files_by_layer" not in self.cache:
            self.cache["files_by_layer"] = self.files.groupby("layer_id", observed=True, sort=False).indices
        parts = [self.cache["files_by_layer"].get(lid) for lid in layer_ids]
        parts = [p for p in parts if p is not None]
        if not parts:
            return self.files.iloc[0:0]
        return self.files.iloc[np.concatenate(parts)]

    def resolve_image(self, image=None) -> str:
        """The image ID ``image`` names (tag, ID or ID prefix), or for None the tagged image with the
        most layers, then bytes (the most to look at)."""
        if image is not None and str(image).strip():
            return self.image_id(str(image))
        pool = self.tagged if len(self.tagged) else self.images
        if pool.empty:
            skipped = self.skipped_images()
            raise ImageNotFound(f"{self.source or 'this source'} holds no images" + (
                f" that could be read: {len(skipped)} were skipped ({skipped[0][0][:19]}: {skipped[0][2]}); see the "
                "`skipped` frame (`layerlab summary --json`: \"skipped\")" if skipped else ""), ref=None)
        best = pool.sort_values(["layer_count", "size", "image_id"], ascending=[False, False, True]).iloc[0]
        return best["image_id"]

    def pick_two(self, a=None, b=None) -> tuple[str, str]:
        """Two image IDs to compare: ``a`` and ``b`` when given, else the two largest tagged images."""
        ids = list(self.tagged.sort_values(["size", "image_id"],
                                           ascending=[False, True])["image_id"]) or list(self.images["image_id"])
        first = self.image_id(a) if a else (ids[0] if ids else None)
        if first is None:
            raise ImageNotFound(f"{self.source or 'this source'} holds no images to compare", ref=None)
        rest = [i for i in ids if i != first]
        second = self.image_id(b) if b else (rest[0] if rest else first)
        return first, second

    def save(self, path) -> str:
        """Write this inventory as a ``.layerlab`` snapshot (Parquet files and meta.json)."""
        from .snapshot import save

        return save(self, path)

    def __repr__(self) -> str:
        m = self.meta
        counts = ", ".join(f"{n}={len(v)}" for n, v in self._frames.items() if not callable(v) and n != "skipped")
        return (f"<layerlab.Inventory {m.get('source')!r} store={m.get('image_store')} driver={m.get('driver')} "
                f"{counts}>")


def require_inventory(data, what: str = "this function", name: str = "inv") -> Inventory:
    """``data`` if it is an Inventory, else an ArgumentError naming ``name`` of ``what``: charts and
    widgets draw what they are given and never open (or substitute) a source themselves."""
    check_argument(what, name, data, INVENTORY)
    return data


#: What a public function's ``source`` takes (layerlab.errors.expects), and what takes an Inventory only.
SOURCE = Expect("an Inventory, a data root or .layerlab snapshot path, 'sample', or an image such as "
                "'docker-archive:PATH' or 'docker://REF'", str, Inventory, test=lambda v: hasattr(v, "__fspath__"))
INVENTORY = Expect("an Inventory: open the source first, inv = layerlab.open_source(...) (a data root, a "
                   ".layerlab snapshot, or 'sample')", Inventory)
OPTIONAL_SOURCE = Expect(SOURCE.what + ", or None", str, Inventory, none=True, test=SOURCE.test)
