"""Helpers the sources tests import (a plain module: test files must not import conftest)."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd

from layerlab.analyses import efficiency

KEY = ["path", "kind", "size", "mode", "uid", "gid", "mtime", "link_target"]
FIGURES = ["size", "dive_efficiency", "dive_wasted_bytes", "dive_size_bytes", "dive_user_size_bytes",
           "reclaimable_bytes"]


def rows(inv, layer_id: str) -> list[tuple]:
    """A layer's files rows on the compared columns, mtime to the second, in a stable order."""
    f = inv.files[inv.files["layer_id"] == layer_id][KEY].copy()
    f["mtime"] = f["mtime"].dt.floor("s")
    f["link_target"] = f["link_target"].astype(object).where(f["link_target"].notna(), None)
    return sorted(f.itertuples(index=False, name=None), key=repr)


def assert_same_images(inv, root, pairs):
    """Same chain, same files rows per layer, same Docker size and analysis figures as the data root.

    ``pairs``: (image ID in ``inv``, image ID in ``root``); they differ when a copy rewrote the config
    (skopeo writes an OCI config), never the layers."""
    pairs = [(p, p) if isinstance(p, str) else p for p in pairs]
    ours = efficiency(inv, [a for a, _ in pairs]).set_index("image_id")
    theirs = efficiency(root, [b for _, b in pairs]).set_index("image_id")
    for iid, rid in pairs:
        a = inv.image_layers[inv.image_layers["image_id"] == iid].sort_values("position")
        b = root.image_layers[root.image_layers["image_id"] == rid].sort_values("position")
        assert list(a["layer_id"]) == list(b["layer_id"]), iid
        assert list(a["size"]) == list(b["size"]), iid  # Docker's layerdb size, per layer
        for lid in a["layer_id"]:
            assert rows(inv, lid) == rows(root, lid), (iid, lid)
        size = inv.images.set_index("image_id").loc[iid, "size"]
        assert size == root.images.set_index("image_id").loc[rid, "size"]
        for col in FIGURES:
            x, y = ours.loc[iid, col], theirs.loc[rid, col]
            assert x == y or (pd.isna(x) and pd.isna(y)), (iid, col, x, y)


def by_tag(inv, built, tags):
    """(image ID in ``inv``, image ID in the data root) for each tag."""
    return [(inv.image_id(t), built["images"][t]) for t in tags]


#: Opens argv[1] and prints, as JSON: whether pandas was imported when the layer reads were started,
#: whether it is imported once open_source returned, the number of files rows, and whether the
#: interpreter's garbage collector and switch interval (changed during the import) are as they were.
READS_BEFORE_PANDAS = """
import gc, json, sys
import layerlab as ll
from layerlab.sources import imageset
start, seen = imageset._Reads.__init__, []
def spy(self, *args):
    seen.append("pandas" in sys.modules)
    start(self, *args)
imageset._Reads.__init__ = spy
interval = sys.getswitchinterval()
inv = ll.open_source(sys.argv[1], progress=False)
restored = gc.isenabled() and sys.getswitchinterval() == interval
print(json.dumps([seen, "pandas" in sys.modules, len(inv.files), restored]))
"""


def reads_before_pandas(source: str, env=None) -> list:
    out = subprocess.run([sys.executable, "-c", READS_BEFORE_PANDAS, source], check=True, capture_output=True,
                         text=True, env=env).stdout
    return json.loads(out)
