"""The merged view: every path an image's (or a container's) filesystem shows, and which layer provides it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import CONTAINER, OPTIONAL_IMAGE, ImageNotFound
from .stacking import chain_files, container_chain, container_row, nulls_as_none, resolve
from .opening import analysis


def chain_for(inv, image=None, container=None) -> tuple[str, str | None, list[str]]:
    """(image ID, container ID or None, layer chain) for an image, or for a container of it."""
    if container is None:
        if image is None:
            raise ImageNotFound("give an image (tag, ID or ID prefix) or a container", ref=None)
        image_id = inv.image_id(image)
        return image_id, None, inv.chain(image_id)
    row = container_row(inv, container)
    if image is not None and inv.image_id(image) != row["image_id"]:
        raise ImageNotFound(
            f"container {container!r} runs image {row['image_id'][:19]}, not {image!r}; pass image=None to use the "
            "container's image",
            ref=image,
        )
    return row["image_id"], row["container_id"], container_chain(inv, row["container_id"])


def merged_from_files(files: pd.DataFrame, visible: pd.DataFrame | None = None, by_path: bool = False) -> pd.DataFrame:
    """The merged view of files rows that carry a ``position`` (see ``merged_view``); ``by_path``:
    ``visible`` (the rows ``resolve`` keeps) is sorted by path already (the file tree's stacks are)."""
    if visible is None:
        visible = resolve(files, "oci")
    if not by_path:
        visible = visible.sort_values("path", kind="stable")
    out = visible.reset_index(drop=True)
    entry_kind = out["kind"].astype(object)
    kind = entry_kind.replace({"hardlink": "file", "opaque": "dir"})
    size = out["size"].to_numpy().copy()
    file_size = size.copy()
    links = np.flatnonzero((entry_kind == "hardlink").to_numpy())
    if len(links):
        # A hard link shows its target's size; the target is the first link in the same layer
        # (or, failing that, whatever the merged tree shows at the target path). When that first
        # link is hidden, the inode's bytes are counted once, on the first visible link to it.
        own = files[files["kind"] == "file"].set_index(["layer_id", "path"])["size"]
        own = own[~own.index.duplicated()]
        shown = out.set_index("path")["layer_id"]
        counted = set()
        for i in links:
            layer, target = out.at[i, "layer_id"], out.at[i, "link_target"]
            file_size[i] = own.get((layer, target), 0)
            if (layer, target) not in own.index:
                file_size[i] = out.loc[out["path"] == target, "size"].sum()
            elif shown.get(target) != layer and (layer, target) not in counted:
                size[i] = file_size[i]
                counted.add((layer, target))
    columns = {
            "path": out["path"].astype(object),
            "kind": kind.astype(object),
            "entry_kind": entry_kind,
            "size": pd.Series(size, dtype="int64"),
            "file_size": pd.Series(file_size, dtype="int64"),
            "mode": out["mode"],
            "uid": out["uid"],
            "gid": out["gid"],
            "mtime": out["mtime"],
            "link_target": out["link_target"],
            "layer_id": out["layer_id"],
            "position": out["position"].astype("int64"),
    }
    if "path_raw" in out.columns:
        columns["path_raw"] = out["path_raw"]
    # Python values, None where missing (a categorical's astype(object) gives NaN there)
    return nulls_as_none(pd.DataFrame(columns), [c for c in ("link_target", "path_raw") if c in columns])


@analysis(image=OPTIONAL_IMAGE, container=CONTAINER)
def merged_view(source, image=None, container=None) -> pd.DataFrame:
    """Every path the image's filesystem shows (or a container's: image, init and read-write layers).

    Layers are stacked by the OCI rules: a whiteout hides its path and everything below it in
    lower layers, an opaque directory hides its lower children, and a non-directory hides a lower
    directory's contents.

    Parameters
    ----------
    {source}
    image
        Tag, image ID or ID prefix. May be None when ``container`` is given.
    container
        Container name, ID or ID prefix: show what that container sees (image + init + its
        read-write layer).

    Returns
    -------
    DataFrame
        One row per visible path, sorted by path:

        - ``path``: absolute path.
        - ``kind``: what the filesystem shows: file, dir, symlink, char, block, fifo or socket
          (a hard link is a ``file``, an opaque directory a ``dir``).
        - ``entry_kind``: the providing layer's entry kind (``hardlink``, ``opaque`` kept).
        - ``size``: bytes the providing layer stores for it (0 for a hard link to a file already
          counted, so sums count each inode once).
        - ``file_size``: the size ``stat`` shows (a hard link's target size).
        - ``mode``, ``uid``, ``gid``, ``mtime``, ``link_target``: from the providing entry.
        - ``layer_id``, ``position``: the layer providing the path (0 = base; the init and
          read-write layers follow the image's layers for a container).
        - ``path_raw``: the exact bytes of a path that is not valid UTF-8 (null otherwise), when
          the files frame carries it.
    """
    inv = source
    _, _, chain = chain_for(inv, image, container)
    return merged_from_files(chain_files(inv, chain))
