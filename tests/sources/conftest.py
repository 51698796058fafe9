"""Fixtures of the sources tests: the sample saved from the overlay2 sample daemon."""

from __future__ import annotations

import pytest

import layerlab as ll


@pytest.fixture(scope="session")
def saved(overlay2_daemon, tmp_path_factory):
    """(daemon, built, archive of every tagged sample image, the data root's Inventory, work dir)."""
    daemon, built = overlay2_daemon
    work = tmp_path_factory.mktemp("saved")
    archive = work / "all.tar"
    daemon.docker("save", "-o", archive, *sorted(built["images"]))
    root = ll.open_root(str(daemon.data_root), progress=False)
    return daemon, built, archive, root, work
