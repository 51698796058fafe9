"""The file tree's listing (widgets/_rows.py, an anywidget) driven as its front end drives it: a click
arrives as the custom message the browser sends, the scroll position as a state update; checked: the
traits after a click, the scroll place kept across updates, rows coloured by status."""

from __future__ import annotations

import re

from layerlab.display import human_bytes
from layerlab.widgets import FileTree
from layerlab.widgets._rows import STATUS_CLASS, RowList


def front_end_click(rows: RowList, path: str):
    """What the browser sends on a click on a row (model.send in the front end)."""
    rows._handle_custom_msg({"event": "click", "path": path}, [])


def test_a_click_is_one_message_that_selects_and_opens(sample):
    ft = FileTree(sample, "layerlab/tree:1")
    ft.toggle("/srv")  # closed, so the click opens it
    assert "/srv/old" not in ft.listing.paths()
    front_end_click(ft.listing, "/srv")
    assert ft.selected == "/srv" and ft.listing.selected == "/srv"  # highlighted in the front end
    assert "/srv/old" in ft.listing.paths()
    assert "<code>/srv</code>" in ft.details.value
    front_end_click(ft.listing, "/srv")  # a second click closes it, the selection stays
    assert "/srv/old" not in ft.listing.paths() and ft.listing.selected == "/srv"
    front_end_click(ft.listing, "/etc")
    file = next(p for p, line in zip(ft.listing.paths(), ft.listing.lines()) if p.startswith("/etc/")
                and not line.endswith("/"))
    front_end_click(ft.listing, file)
    assert ft.listing.selected == file and f"<code>{file}</code>" in ft.details.value
    # what a front end may send that is no click changes nothing
    rows = list(ft.listing.rows)
    ft.listing._handle_custom_msg({"event": "hover", "path": "/etc"}, [])
    ft.listing._handle_custom_msg("nonsense", [])
    assert ft.listing.rows == rows and ft.selected == file


def test_the_scroll_place_is_kept_across_updates(sample):
    ft = FileTree(sample, "layerlab/bloat:1", position=4)
    ft.listing.set_state({"scroll_top": 480})  # the front end reports where the reader scrolled to
    before = ft.listing.rows
    ft.position = 3
    assert ft.listing.rows != before
    ft.toggle("/data")
    ft.path_filter = "bin"
    ft.sort = "size"
    assert ft.listing.scroll_top == 480


def test_rows_are_coloured_by_status(sample):
    ft = FileTree(sample, "layerlab/tree:1")
    classes = ft.listing.classes()
    rows = ft.rows().set_index("path")
    assert classes["/srv/old"] == "ll-removed" and rows.at["/srv/old", "status"] == "removed"
    for path, status in rows["status"].items():
        assert classes[path] == STATUS_CLASS[status], path
    assert set(classes.values()) >= {"ll-removed", ""}
    ft = FileTree(sample, "layerlab/bloat:1", position=4)  # the chmod copies big.bin again
    assert ft.listing.classes()["/data/big.bin"] == "ll-modified"
    ft.view = "aggregated"
    assert ft.listing.classes()["/data/big.bin"] == "ll-added"
    # each row's text keeps dive's columns: marker, permissions, uid:gid, size, then the name
    line = dict(zip(ft.listing.paths(), ft.listing.lines()))["/data/big.bin"]
    row = ft.rows().set_index("path").loc["/data/big.bin"]
    columns = rf"\+ {row['permissions']} +{row['owner']} +{human_bytes(row['size'])}"
    assert re.fullmatch(columns + r" {6}big\.bin", line), line  # two spaces, the indent, no arrow


def test_a_long_listing_says_what_it_left_out(sample, monkeypatch):
    from layerlab.widgets import tree

    monkeypatch.setattr(tree, "MAX_ROWS", 5)
    ft = FileTree(sample, "layerlab/app:1")
    ft.expanded = [p for p, d in zip(ft.tree().paths, ft.tree().is_dir) if d]
    assert len(ft.listing.rows) == 5
    assert ft.listing.more.startswith(f"… {len(ft.tree().paths) - 5:,} more entries")


def test_the_busy_line_covers_the_stacking_of_a_layer_switch(sample, monkeypatch):
    from layerlab.widgets import _base
    from layerlab.widgets import tree as tree_module

    ft = FileTree(sample, "layerlab/bloat:1", position=4)
    monkeypatch.setattr(_base.Busy, "AFTER", 0.05)
    slow = tree_module.Stacks.keep
    seen = []

    def keep(self, inv, k):  # a stacking that takes a while, as on a 150k-file image
        import time

        time.sleep(0.1)
        seen.append(ft.busy.label.value)
        return slow(self, inv, k)

    monkeypatch.setattr(tree_module.Stacks, "keep", keep)
    ft.position = 2
    assert ft.busy.shown == 1 and "reading layer 2" in seen[-1]  # shown while the tree was being stacked
    assert ft.busy.label.value == ""
    ft.view = "aggregated"
    assert ft.busy.shown == 2


def test_a_name_that_is_not_utf8_gets_a_key_a_message_can_carry():
    import json

    from layerlab.widgets._rows import row_key

    raw = b"/srv/caf\xe9.txt".decode("utf-8", "surrogateescape")  # how the frames keep such a name
    key = row_key(raw)
    assert json.dumps(key, ensure_ascii=False).encode("utf-8") and key == "/srv/caf\\xe9.txt"
    assert row_key("/srv/new\nline.txt") == "/srv/new\nline.txt"  # valid UTF-8 stays as it is
