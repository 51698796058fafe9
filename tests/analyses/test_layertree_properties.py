"""Property: for generated layer stacks, the one-pass layer tree (``waste.stack_all``) gives every
image the figures of the image stacked on its own (``waste.image_figures``: dive's rules as
``waste.dive_figures`` applies them, and layerlab's reclaimable bytes) and the same hidden rows,
whichever other images are read in the same batch."""

from __future__ import annotations

import math
import warnings

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerlab.analyses.stacking import chain_files
from layerlab.analyses.dive.waste import dive_figures, hidden_of, hidden_stacked, image_figures, stack_all
from layerlab.frames import schema
from layerlab.frames.inventory import Inventory

DIRS = ["/a", "/a/b", "/c", "/l"]  # /l is also made a symlink to /a by some layers
FILES = ["/a/f", "/a/b/g", "/a/b/h", "/c/i", "/top", "/l/x"]
SIZES = st.sampled_from([0, 1, 7, 512, 4096])

op = st.one_of(
    st.tuples(st.just("file"), st.sampled_from(FILES), SIZES),
    st.tuples(st.just("dir"), st.sampled_from(DIRS)),
    st.tuples(st.just("opaque"), st.sampled_from(DIRS)),
    st.tuples(st.just("symlink"), st.sampled_from(["/l", "/c/up", "/top"]), st.sampled_from(["a", "/a/b", "../a"])),
    st.tuples(st.just("hardlink"), st.sampled_from(["/a/hl", "/c/hl", "/top"]), st.sampled_from(FILES)),
    st.tuples(st.just("whiteout"), st.sampled_from(DIRS + FILES + ["/nothing", "/c/up", "/a/hl"])),
    # a symlink to a directory deleted together with the directory (and one of the two only)
    st.tuples(st.just("unlink"), st.sampled_from([("/l", "/a"), ("/c/up", "/a/b"), ("/l",), ("/a",)])),
)
layer = st.lists(op, max_size=6)
# each new image: which earlier image (or none) it is built on, the layers it adds, and whether the
# classic builder's intermediate images (each prefix) are images of the batch too
image = st.tuples(st.integers(0, 8), st.lists(layer, min_size=1, max_size=3), st.booleans())


def _rows(ops) -> dict:
    rows: dict[str, tuple] = {}

    def put(path, kind, size=0, target=None):
        rows.pop(path, None)  # a tar names a path once; the last operation on it is what it holds
        parent = path.rpartition("/")[0]
        while parent and parent not in rows:
            rows[parent] = ("dir", 0, None)  # docker's tars carry the parents of what changed
            parent = parent.rpartition("/")[0]
        rows[path] = (kind, size, target)

    for o in ops:
        if o[0] == "file":
            put(o[1], "file", o[2])
        elif o[0] in ("dir", "opaque"):
            put(o[1], o[0])
        elif o[0] in ("symlink", "hardlink"):
            put(o[1], o[0], 0, o[2])
        elif o[0] == "whiteout":
            put(o[1], "whiteout")
        else:
            for p in o[1]:
                put(p, "whiteout")
    return rows


def _inventory(chains: dict[str, list[str]], layers: dict[str, dict]) -> Inventory:
    files = pd.DataFrame([{"layer_id": lid, "path": p, "kind": k, "size": s, "mode": 0o644, "uid": 0, "gid": 0,
                           "link_target": t} for lid, rows in layers.items() for p, (k, s, t) in rows.items()],
                         columns=["layer_id", "path", "kind", "size", "mode", "uid", "gid", "link_target"])
    il = pd.DataFrame([{"image_id": i, "position": n, "layer_id": lid, "size": 0}
                       for i, chain in chains.items() for n, lid in enumerate(chain)],
                      columns=["image_id", "position", "layer_id", "size"])
    images = pd.DataFrame([{"image_id": i, "tags": [], "digests": [], "layer_count": len(c), "size": 0,
                            "shared_size": 0, "unique_size": 0, "container_count": 0, "intermediate": False}
                           for i, c in chains.items()])
    frames = {name: schema.empty(name) for name in ("layers", "history", "containers", "skipped")}
    for name, df in (("files", files), ("image_layers", il), ("images", images)):
        frames[name] = schema.coerce(df.reindex(columns=schema.columns(name)), name)
    return Inventory({"source": "generated"}, frames)


def _same(a, b) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(image, min_size=1, max_size=6), st.data())
def test_one_pass_equals_per_image_whatever_the_batch(spec, data):
    chains: dict[str, list[str]] = {}
    layers: dict[str, dict] = {}
    built: list[list[str]] = []
    for on, new_layers, intermediates in spec:
        chain = list(built[on % len(built)]) if built and on < 2 * len(built) else []
        for ops in new_layers:
            lid = f"sha256:{len(layers) + 1:064x}"  # a new chain ID: a layer has one parent
            layers[lid] = _rows(ops)
            chain.append(lid)
            if intermediates:
                chains[f"sha256:{len(chains) + 1:064x}"] = list(chain)
        if not intermediates:
            chains[f"sha256:{len(chains) + 1:064x}"] = list(chain)
        built.append(chain)
    ids = list(chains)
    bases = {i: data.draw(st.integers(0, len(chains[i])), label="base layers") for i in ids}
    subset = data.draw(st.lists(st.sampled_from(ids), min_size=1, unique=True), label="other batch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_inv = _inventory(chains, layers)
        ref = {i: image_figures(ref_inv, i, bases[i]) for i in ids}
        hidden_ref = {i: hidden_stacked(chain_files(ref_inv, ref_inv.chain(i))).reset_index(drop=True) for i in ids}
        for i in ids:  # dive's rules, the image alone
            fig, _ = dive_figures(chain_files(ref_inv, ref_inv.chain(i)), len(chains[i]))
            for key, value in fig.items():
                assert _same(ref[i][key], value), (i, key)
        # the whole batch, another batch, and each image of that batch alone
        for batch in [ids, subset, *([i] for i in subset)]:
            inv = _inventory(chains, layers)  # a fresh Inventory: nothing cached from another batch
            got = stack_all(inv, batch, {i: bases[i] for i in batch})
            assert set(got) == set(batch)
            for i in batch:
                assert set(got[i]) == set(ref[i])
                for key, value in ref[i].items():
                    assert _same(got[i][key], value), (i, key, got[i][key], value, batch)
                one = hidden_of(inv, i)
                for col in ("layer_id", "path", "position", "size"):
                    assert list(one[col]) == list(hidden_ref[i][col]), (i, col, batch)


def test_a_phantom_of_one_image_is_not_counted_in_its_sibling():
    """The case the property found: dive counts a whiteout of nothing as a path with -1 bytes (a
    phantom) in the image whose layer holds it; an image on the same base, walked after it, must
    not count it too."""
    base = {"/d": ("dir", 0, None), "/d/f": ("file", 10, None), "/l": ("symlink", 0, "d")}
    layers = {"sha256:" + "1" * 64: base,
              "sha256:" + "2" * 64: {"/l": ("whiteout", 0, None), "/d": ("whiteout", 0, None),
                                     "/nothing": ("whiteout", 0, None)},
              "sha256:" + "3" * 64: {"/y": ("file", 5, None)}}
    ids = list(layers)
    chains = {"sha256:" + "a" * 64: [ids[0], ids[1]], "sha256:" + "b" * 64: [ids[0], ids[2]]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inv = _inventory(chains, layers)
        got = stack_all(inv, list(chains))
        for i in chains:
            assert got[i]["dive_efficiency"] == image_figures(inv, i, 0)["dive_efficiency"]
    assert got["sha256:" + "a" * 64]["dive_efficiency"] < 1.0  # the phantom counts where it is
    assert got["sha256:" + "b" * 64]["dive_efficiency"] == 1.0


def test_a_deep_image_and_its_intermediates_beside_a_phantom_sibling():
    """A 125-layer image (each layer a file, every tenth deleting the one before) with all its
    intermediate images, beside a sibling on the same base whose layer whites out nothing: in one
    batch or alone, every image has its own figures."""
    lid = lambda n: f"sha256:{n:064x}"  # noqa: E731
    layers = {lid(1): {"/bin": ("dir", 0, None), "/bin/sh": ("file", 1000, None)},
              lid(2): {"/ghost": ("whiteout", 0, None), "/x": ("file", 3, None)}}
    chain = [lid(1)]
    for n in range(3, 127):
        rows = {f"/f{n}": ("file", n, None)}
        if n % 10 == 0:
            rows[f"/f{n - 1}"] = ("whiteout", 0, None)
        layers[lid(n)] = rows
        chain.append(lid(n))
    chains = {f"sha256:{999:064x}": [lid(1), lid(2)]}  # first in the batch: walked before the deep one
    chains.update({f"sha256:{1000 + k:064x}": chain[:k] for k in range(1, len(chain) + 1)})
    checked = [f"sha256:{n:064x}" for n in (999, 1001, 1002, 1060, 1000 + len(chain))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inv = _inventory(chains, layers)
        got = stack_all(inv, list(chains))
        for i in checked:  # the reference stacks each image alone: a few of them, not all 126
            ref = image_figures(inv, i, 0)
            for key, value in ref.items():
                assert _same(got[i][key], value), (i, key)
        deep = got[f"sha256:{1000 + len(chain):064x}"]
    assert len(chain) == 125 and deep["dive_wasted_bytes"] > 0
