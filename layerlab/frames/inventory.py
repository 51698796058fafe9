"""The object every source returns: the contract's frames, metadata, and name lookup.

``open_root`` (a live data root), ``load`` (a snapshot) and ``sample`` all give an Inventory, so
analyses, plots and notebooks never need to know where the frames came from.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from ..errors import ImageNotFound
from . import schema

FRAME_NAMES = ("images", "layers", "image_layers", "history", "containers", "files", "skipped")


class Inventory:
    """Frames of one image store. Frames are computed on first access (``files`` is the costly one).

    Attributes: ``images``, ``layers``, ``image_layers``, ``history``, ``containers``, ``files``,
    ``skipped`` (what could not be read), and ``meta`` (source, driver, image_store, host, scanned_at,
    layerlab_version, ...).
    """

    def __init__(self, meta: dict, frames: dict[str, pd.DataFrame | Callable[[], pd.DataFrame]]):
        self.meta = dict(meta)
        self._frames = dict(frames)

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
        if not hits:
            hexpart = ref.removeprefix("sha256:").lower()
            if len(hexpart) >= 1 and all(c in "0123456789abcdef" for c in hexpart):
                hits = [i for i in images["image_id"] if i.removeprefix("sha256:").startswith(hexpart)]
        hits = sorted(set(hits))
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise ImageNotFound(f"{ref!r} is ambiguous: it matches {len(hits)} images; give more of the ID", ref=ref)
        known = sorted({t for tags in images["tags"] for t in tags})[:10]
        raise ImageNotFound(
            f"no image {ref!r} in {self.source or 'this source'}; give a tag, an ID or an ID prefix"
            + (f" (tags here include: {', '.join(known)})" if known else ""),
            ref=ref,
        )

    def image_files(self, ref: str) -> pd.DataFrame:
        """Rows of ``files`` for the layers of one image, with its ``position`` column (0 = base)."""
        image_id = self.image_id(ref)
        chain = self.image_layers[self.image_layers["image_id"] == image_id][["layer_id", "position"]]
        return self.files.merge(chain, on="layer_id").sort_values(["position"], kind="stable").reset_index(drop=True)

    def save(self, path) -> str:
        """Write this inventory as a ``.layerlab`` snapshot (Parquet files and meta.json)."""
        from .snapshot import save

        return save(self, path)

    def __repr__(self) -> str:
        m = self.meta
        counts = ", ".join(f"{n}={len(v)}" for n, v in self._frames.items() if not callable(v) and n != "skipped")
        return f"<layerlab.Inventory {m.get('source')!r} store={m.get('image_store')} driver={m.get('driver')} {counts}>"
