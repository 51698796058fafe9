"""Snapshot formats 2 and 3: the host's identity in meta.json; format 1 (the bundled samples) still loads
(format 3's layout: tests/fleet/test_fleet_formats.py)."""

import hashlib
import json
from pathlib import Path

import pytest

import layerlab as ll
from layerlab.analyses.summary import summary_dict
from layerlab.frames import snapshot
from layerlab.frames.host import identity, machine_id
from harness.fleetdata import set_meta


def _tree_digest(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize("driver", ["overlay2", "containerd"])
def test_format1_sample_loads_and_resaves_as_the_current_format(tmp_path, driver):
    src = ll.sample_path(driver)
    before = _tree_digest(src)
    assert json.loads((src / "meta.json").read_text())["format_version"] == 1
    inv = ll.load(src)
    assert inv.meta["hostname"] == inv.meta["host"] and inv.meta["host_id"] is None
    out = inv.save(tmp_path / "copy.layerlab")
    meta = json.loads((Path(out) / "meta.json").read_text())
    assert meta["format_version"] == snapshot.FORMAT_VERSION == 4
    assert meta["hostname"] == inv.meta["host"] and "host_id" in meta and "snapshot" not in meta
    assert meta["scanned_at"] == inv.meta["scanned_at"] and meta["layerlab_version"]
    again = ll.load(out)
    assert summary_dict(again)["totals"] == summary_dict(inv)["totals"]
    assert len(again.files) == len(inv.files)
    assert _tree_digest(src) == before  # the bundled sample is read, never rewritten


def test_future_format_is_a_clear_error(tmp_path):
    out = ll.sample().save(tmp_path / "h.layerlab")
    set_meta(out, format_version=snapshot.FORMAT_VERSION + 1)
    with pytest.raises(ll.SnapshotError, match="upgrade layerlab"):
        ll.load(out)


def test_identity_reads_machine_id():
    ident = identity()
    assert ident["hostname"]
    on_disk = None
    for name in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            on_disk = Path(name).read_text().strip()
            break
        except OSError:
            continue
    assert ident["host_id"] == machine_id() == (on_disk if on_disk and len(on_disk) == 32 else None)
