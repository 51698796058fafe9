"""FileTree (the dive-like file tree) driven through its traits: markers against the layers' own
entries and against diff_images, expand/collapse, filters, permissions and owners, the report's tree."""

from __future__ import annotations

import re
import stat

import pytest

import layerlab as ll
from harness.captures import unpack_capture
from harness.tiers import require_root
from layerlab import analyses
from layerlab.analyses.stacking import chain_files, resolve
from layerlab.widgets import FileTree
from layerlab.widgets.tree import Tree


def expected_marks(inv, image_id: str, position: int) -> dict[str, str]:
    """What layer ``position`` does to each path, worked out from the files frame alone: its own
    entries against the entries the layers below show (stacked by the OCI rules)."""
    chain = inv.chain(image_id)
    below = resolve(chain_files(inv, chain[:position]), "oci")
    shown_below = dict(zip(below["path"], below["kind"]))
    layer = inv.files_of([chain[position]])
    marks = {}
    for path, kind in zip(layer["path"], layer["kind"]):
        if kind == "whiteout":
            # the path and everything under it, as far as the layers below show them
            for p in shown_below:
                if p == path or p.startswith(path + "/"):
                    marks[p] = "removed"
        elif kind == "opaque":
            for p in shown_below:
                if p.startswith(path + "/"):
                    marks.setdefault(p, "removed")
            if path not in shown_below:
                marks[path] = "added"
        elif path not in shown_below:
            marks[path] = "added"
        elif kind not in ("dir",) and shown_below[path] == "dir":
            for p in shown_below:  # a file over a directory hides what the directory held
                if p.startswith(path + "/"):
                    marks.setdefault(p, "removed")
    # whatever the layer adds again below a path it deleted is added, not removed
    for path, kind in zip(layer["path"], layer["kind"]):
        if kind not in ("whiteout", "opaque") and marks.get(path) == "removed":
            marks.pop(path)
    return marks


def check_tree_against_files(inv, image_id: str, position: int):
    tree = Tree(analyses.layer_changes(inv, image_id, position, unchanged=True))
    status = dict(zip(tree.paths, tree.status))
    expected = expected_marks(inv, image_id, position)
    layer_paths = set(inv.files_of([inv.chain(image_id)[position]])["path"])
    for path, mark in expected.items():
        got = status.get(path)
        if mark == "removed":
            assert got == "removed", (image_id[:19], position, path, got)
        else:
            assert got == "added", (image_id[:19], position, path, got)
    for path, got in status.items():
        if got == "added" or got == "removed":
            assert expected.get(path) == got, (image_id[:19], position, path, got)
        elif got == "changed":
            assert path in layer_paths, (image_id[:19], position, path, "changed but not in the layer")
        # an unchanged path is either not in the layer or the same entry again (a directory re-listed)
    return tree


def check_every_layer(inv) -> int:
    """``check_tree_against_files`` at every layer of every tagged image; the number checked."""
    checked = 0
    for image_id in inv.tagged["image_id"]:
        for position in range(len(inv.chain(image_id))):
            check_tree_against_files(inv, image_id, position)
            checked += 1
    return checked


def test_tree_markers_follow_each_layers_own_entries(sample):
    assert check_every_layer(sample) > 15


def test_tree_markers_equal_diff_images_between_build_steps(sample):
    """A build step's image holds the chain below a layer: diff_images between it and the next step
    must mark exactly what the tree marks for that layer."""
    chains = {i: tuple(sample.chain(i)) for i in sample.images["image_id"]}
    by_chain = {c: i for i, c in chains.items()}
    pairs = [(by_chain[c[:-1]], i) for i, c in chains.items() if len(c) > 1 and c[:-1] in by_chain]
    assert len(pairs) >= 5, "the sample's build steps give pairs of images one layer apart"
    for parent, child in pairs:
        ft = FileTree(sample, child)
        assert ft.position == len(chains[child]) - 1
        tree = ft.tree()
        marked = {p: s for p, s in zip(tree.paths, tree.status) if s != "unchanged"}
        diff = analyses.diff_images(sample, parent, child, hash=False)
        assert marked == dict(zip(diff["path"], diff["status"])), (parent[:19], child[:19])
    # aggregated: everything the layers above the base changed, as diff_images from the base image
    aggregated = [(by_chain[c[:1]], i) for i, c in chains.items() if len(c) > 2 and c[:1] in by_chain]
    assert aggregated
    for base, image in aggregated:
        tree = FileTree(sample, image, view="aggregated").tree()
        marked = {p: s for p, s in zip(tree.paths, tree.status) if s != "unchanged"}
        diff = analyses.diff_images(sample, base, image, hash=False)
        assert marked == dict(zip(diff["path"], diff["status"]))


def test_tree_expands_and_collapses_directories(sample):
    ft = FileTree(sample, "layerlab/tree:1")  # its top layer deletes /srv/old
    rows = ft.rows()
    assert rows.loc[rows["path"] == "/srv", "open"].item()  # a directory holding a change starts open
    assert rows.set_index("path").at["/srv/old", "status"] == "removed"
    assert rows.set_index("path").at["/srv/old", "marker"] == "-"
    ft.toggle("/srv")
    assert not ft.rows()["path"].str.startswith("/srv/").any()
    # a click on the listing does what a person does: select it, and open or close a directory
    ft.listing.click("/srv")
    assert ft.selected == "/srv" and "/srv/old" in set(ft.rows()["path"])
    assert "<code>/srv</code>" in ft.details.value
    ft.listing.click("/srv")  # a second click closes it again
    assert "/srv/old" not in set(ft.rows()["path"])
    ft.listing.click("/etc")
    etc = ft.rows()
    children = etc[etc["path"].str.startswith("/etc/")]
    assert len(children) and (children["depth"] == 2).all()
    assert any("▾" in label and label.endswith("etc/") for label in ft.listing.lines())


def test_tree_shows_permissions_owner_and_sizes(sample):
    ft = FileTree(sample, "layerlab/app:1")
    ft.expanded = sorted(p for p in ft.tree().paths if ft.tree().is_dir[ft.tree().index[p]])  # open all
    rows = ft.rows().set_index("path")
    merged = analyses.merged_view(sample, "layerlab/app:1").set_index("path")
    assert len(rows) == len(merged) - ("/" in merged.index)
    for path in rows.index[:200]:
        m = merged.loc[path]
        kind = {"dir": stat.S_IFDIR, "symlink": stat.S_IFLNK}.get(m["kind"], stat.S_IFREG)
        if m["kind"] in ("file", "dir", "symlink"):
            assert rows.at[path, "permissions"] == stat.filemode(kind | int(m["mode"])), path
        assert rows.at[path, "owner"] == f"{m['uid']}:{m['gid']}", path
        if m["kind"] == "file":
            assert rows.at[path, "size"] == m["file_size"], path
    # a directory's size is the bytes of the files under it
    under = merged[merged.index.str.startswith("/data/") & (merged["kind"] == "file")]["file_size"].sum()
    assert rows.at["/data", "size"] == under


def test_tree_filter_and_changes_only(sample):
    ft = FileTree(sample, "layerlab/tree:1", view="aggregated")
    ft.path_filter = "links"
    rows = ft.rows()
    hits = rows[rows["path"].str.contains("links")]
    assert len(hits) >= 3
    # every row is a match or a directory leading to one, and those directories are open
    for path, is_dir, is_open in zip(rows["path"], rows["dir"], rows["open"]):
        assert "links" in path or any(h.startswith(path + "/") for h in hits["path"]), path
        assert not is_dir or is_open
    ft.path_filter = ""
    ft.changes_only = True
    rows = ft.rows()
    changed = rows[rows["status"] != ""]
    assert len(changed) and (changed["status"] == "added").all()
    for path in rows.loc[rows["status"] == "", "path"]:
        assert any(c.startswith(path + "/") for c in changed["path"]), path


def test_tree_follows_the_image_layer_and_view(sample):
    ft = FileTree(sample, "layerlab/bloat:1", position=4)
    assert "~ 1 modified" in ft.summary.value  # the chmod copies big.bin again
    assert ft.rows().set_index("path").at["/data/big.bin", "status"] == "modified"
    ft.position = 3
    assert ft.rows().set_index("path").at["/data/scratch.bin", "status"] == "removed"
    ft.view = "aggregated"
    assert ft.rows().set_index("path").at["/data/big.bin", "status"] == "added"
    ft.image = "layerlab/base:1"
    assert ft.position == 0 and ft.image_select.value == sample.image_id("layerlab/base:1")
    assert set(ft.rows()["status"]) == {""}  # the base layer changed nothing since the base layer
    ft.view = "layer"
    assert set(ft.rows()["status"]) == {"added"}  # ... and added everything to an empty filesystem
    assert not any(name.startswith("<none>") for name, _ in ft.image_select.options)
    ft.show_untagged = True
    assert len(ft.image_select.options) == len(sample.images)


def test_tree_snapshot_is_a_static_tree_for_reports(sample, monkeypatch):
    ft = FileTree(sample, "layerlab/tree:1", position=4)
    ft.toggle("/srv/data")  # opened in the widget: open in the report too
    html = ft.snapshot(open_depth=1).html
    assert "<img" not in html
    assert re.search(r'<span class="ll-removed">- drwxr-xr-x +0:0 .*old/</span>', html)
    opened = re.findall(r'<details( open)?><summary>.*? {2}((?:  )*)<span '
                        r'class="ll-arrow"></span>([^<]+)/</span></summary>', html)
    assert len(opened) > 5, html[:500]
    tree = ft.tree()
    changed_top = {tree.name[i] for i in tree.children["/"] if tree.changes_under(i)}
    assert changed_top == {"srv"}
    open_in_widget = {p.rsplit("/", 1)[-1] for p in ft.expanded}
    assert {"srv", "old", "data"} <= open_in_widget  # what holds the layer's change, and what was opened
    for is_open, indent, name in opened:
        depth = len(indent) // 2 + 1
        assert bool(is_open) == ((depth <= 1 and name in changed_top) or name in open_in_widget), (name, depth, is_open)
    assert any(name == "data" and is_open for is_open, _, name in opened)
    small = ft.snapshot(max_entries=5).html
    assert "the first 5 of" in small and "live widget" not in small
    monkeypatch.setenv("LAYERLAB_REPORT", "1")
    assert ft._repr_mimebundle_()["text/html"] == ft.snapshot().html
    assert isinstance(ll.file_tree(sample, "layerlab/app:1"), FileTree)


@pytest.fixture(scope="module", params=["overlay2", "containerd"])
def capture(request, tmp_path_factory):
    """A real capture's inventory, unpacked once for the tests that read it."""
    require_root("tar")
    root = unpack_capture(request.param, tmp_path_factory.mktemp(request.param) / "root")
    return ll.open_source(str(root), driver=None if request.param == "containerd" else request.param)


def test_tree_markers_on_the_real_captures(capture):
    inv = capture
    assert check_every_layer(inv) > 10
    ft = FileTree(inv)
    assert ft.rows()["permissions"].str.match(r"^[-dlcbps][-rwxsStT?]{9}$").all()


def test_tree_names_stay_on_their_line(sample):
    ft = FileTree(sample, "layerlab/tree:1")
    ft.path_filter = "/srv/odd"
    labels = ft.listing.lines()
    assert any(label.endswith("new\\nline.txt") for label in labels), labels
    assert not any("\n" in label for label in labels)
    html = ft.snapshot().html
    tree_part = html.split('class="layerlab-tree-static">')[1]
    assert "new\\nline.txt" in tree_part and "new\nline" not in tree_part


def test_tree_sorts_by_size_and_sizes_what_the_filter_keeps(sample):
    from layerlab.widgets import FileTree

    tree = FileTree(sample, "layerlab/app:1")
    top = tree.rows()
    top = top[top["depth"] == 1]
    assert list(top["path"]) == sorted(top["path"])  # by name first
    tree.sort = "size"
    by_size = tree.rows()
    by_size = by_size[by_size["depth"] == 1]
    assert list(by_size["size"]) == sorted(by_size["size"], reverse=True)
    assert sorted(by_size["path"]) == sorted(top["path"])
    whole = dict(zip(tree.rows()["path"], tree.rows()["size"]))
    tree.path_filter = "x.dat"
    rows = tree.rows()
    files = rows[~rows["dir"]]
    assert len(files) and all("x.dat" in p for p in files["path"])
    app = rows.set_index("path").loc["/opt/app"]
    # The directory counts the matching files under it, not all of them.
    assert app["size"] == files[files["path"].str.startswith("/opt/app/")]["size"].sum() < whole["/opt/app"]
    assert f"{len(files)} of " in tree.summary.value and "containing <code>x.dat</code>" in tree.summary.value


def test_tree_shows_the_layers_and_the_image_details_as_dive_does(sample):
    from layerlab import analyses
    from layerlab.display import human_bytes
    from layerlab.widgets import FileTree

    tree = FileTree(sample, "layerlab/bloat:1", position=2)
    layers = tree.layers_pane.value
    assert layers.count("<tr") == 1 + len(sample.chain(sample.image_id("layerlab/bloat:1")))
    assert "chmod 0600 /data/big.bin" in layers and "background" in layers.split("<tr")[4]  # layer 2 marked
    eff = analyses.efficiency(sample).set_index("image_id").loc[sample.image_id("layerlab/bloat:1")]
    details = tree.image_pane.value
    assert f"potential wasted space {human_bytes(eff['dive_wasted_bytes'])}" in details
    assert f"efficiency score {eff['dive_efficiency']:.1%}" in details
    assert f"reclaimable {human_bytes(eff['reclaimable_bytes'])}" in details
    assert "/data/big.bin" in details  # dive's inefficient files
    tree.position = 4
    assert "background" in tree.layers_pane.value.split("<tr")[6]


def check_stacks_equal_resolve(inv) -> int:
    """``Stacks.prefix(k)`` against ``resolve`` of ``chain_files(chain[:k])``, every prefix of every image."""
    import pandas as pd

    from layerlab.analyses.merged import merged_from_files
    from layerlab.widgets.tree import Stacks

    checked = hid = split = 0
    for image_id in inv.images["image_id"]:
        chain = inv.chain(image_id)
        stacks = Stacks(inv, chain)
        for k in range(1, len(chain) + 1):
            files, visible = stacks.prefix(k)
            want_files = chain_files(inv, chain[:k])
            assert files.equals(want_files), (image_id[:19], k)
            want = resolve(want_files, "oci")
            assert sorted(visible.index) == sorted(want.index), (image_id[:19], k)
            # the merged view the tree hands layer_changes (its rows sorted by the stacks) is merged_view's
            stacks.keep(inv, k)
            pd.testing.assert_frame_equal(stacks._merged[k][0], merged_from_files(want_files), check_exact=True)
            checked += 1
            hid += len(want) < want_files.loc[want_files["kind"] != "whiteout", "path"].nunique()
            # a tree built on the chain's paths split once is the tree built on its own, in both views
            for stacked, aggregated in (((k - 1, k), False), ((1, k), True)):
                changes = analyses.layer_changes(inv, image_id, k - 1, aggregated=aggregated, unchanged=True)
                alone, shared = Tree(changes), Tree(changes, stacks, stacked)
                assert stacks.split(alone.paths, stacked) is not None or len(alone.paths) > len(changes) - 1, \
                    (image_id[:19], k)  # split by number, unless the tree had to add unlisted directories
                for name in ("paths", "parent", "name", "depth", "parent_row", "sizes", "changed_under"):
                    assert list(getattr(alone, name)) == list(getattr(shared, name)), (image_id[:19], k, name)
                assert alone.children == shared.children
                split += stacks.split(alone.paths, stacked) is not None
    assert hid, "some prefix hides a path (a whiteout, an opaque directory or a file over a directory)"
    assert split > checked, "most trees take the chain's paths split once"
    return checked


def test_stacking_every_prefix_at_once_equals_resolve(sample):
    assert check_stacks_equal_resolve(sample) > 20


def test_stacking_every_prefix_at_once_on_the_real_captures(capture):
    assert check_stacks_equal_resolve(capture) > 10


def check_all_added_equals_the_merge(inv) -> int:
    """``_compare`` of an empty filesystem (what a base layer is compared with) with each image's base
    layer: the shortcut that skips the merge returns the merge's frame, value for value and type for type."""
    import pandas as pd

    from layerlab.analyses.diff import diff

    checked = 0
    for image_id in inv.images["image_id"]:
        base = inv.chain(image_id)[:1]
        for entries in (True, False):
            args = dict(unchanged=True, hash=False, progress=None, entries=entries)
            fast = diff._compare(inv, inv, [], base, **args)
            merged = diff._compare(inv, inv, [], base, shortcut=False, **args)
            pd.testing.assert_frame_equal(fast, merged, check_exact=True)
            for col in fast.columns:
                assert [type(v) for v in fast[col]] == [type(v) for v in merged[col]], (image_id[:19], col)
            checked += len(fast) > 0
    return checked


def test_a_base_layer_against_nothing_skips_the_merge_and_equals_it(sample):
    assert check_all_added_equals_the_merge(sample) > 10


def test_a_base_layer_against_nothing_on_the_real_captures(capture):
    assert check_all_added_equals_the_merge(capture) > 2
