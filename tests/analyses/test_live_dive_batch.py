"""Live tier: dive's efficiency does not depend on which other images are read.

Images built by a real dockerd (classic builder, so its intermediate images are there too), all on
one shared layer: one deletes a symlink to a directory together with the directory in a later layer,
others keep or replace them, and two hold a whiteout of a path no layer below has (dive counts that
path once with -1 bytes: their efficiency is 0.9999995 while their siblings' stays 1.0; the one-pass
tree once carried that -1 into the siblings walked after them). Every image,
intermediate ones included, is compared with ``dive --json`` and with the image stacked on its own,
read in the batch of listed images and in the batch of all images.
"""

from __future__ import annotations

import json
import subprocess

import pytest

import layerlab as ll
from layerlab.analyses import efficiency
from layerlab.analyses.dive.waste import image_figures
from harness.daemon import Daemon, dockerd_missing
from harness.images import BASE, busybox_rootfs
from harness.tiers import missing, require

pytestmark = pytest.mark.live

MAKE = "RUN mkdir -p /d/sub && echo hi > /d/sub/f && ln -s /d /l && ln -s sub /d/rel"
DOCKERFILES = {
    # the symlink to a directory deleted with the directory
    "layerlab-test/linkdel:1": f"FROM {BASE}\n{MAKE}\nRUN rm -rf /l /d\n",
    # a sibling on the same first layer (the builder's cache gives the same layer)
    "layerlab-test/linkkeep:1": f"FROM {BASE}\n{MAKE}\nRUN echo more > /d/sub/g\n",
    # a sibling whose last layer deletes only the link, then puts a file where the directory was
    "layerlab-test/linkswap:1": f"FROM {BASE}\n{MAKE}\nRUN rm /l && rm -rf /d && echo file > /d\n",
    # siblings whose layer holds a whiteout of a path no layer below has (a file named .wh.<name> in
    # the container is one in the layer's tar): dive counts the path once with -1 bytes. Two of
    # them, so whichever order the images are walked in, one is walked after the other.
    "layerlab-test/ghost-x:1": f"FROM {BASE}\n{MAKE}\nRUN touch /.wh.ghost-x\n",
    "layerlab-test/ghost-y:1": f"FROM {BASE}\n{MAKE}\nRUN rm -rf /l /d && touch /.wh.ghost-y\n",
}


@pytest.fixture(scope="module")
def batch_daemon(tmp_path_factory):
    require(dockerd_missing())
    require(missing(programs=("dive",)))
    work = tmp_path_factory.mktemp("dockerd-batch")
    daemon = Daemon(work, driver="overlay2")
    daemon.start()
    try:
        daemon.docker("import", "--change", 'CMD ["/bin/sh"]', str(busybox_rootfs(work / "rootfs")), BASE)
        for i, (tag, dockerfile) in enumerate(DOCKERFILES.items()):
            ctx = work / f"ctx{i}"
            ctx.mkdir()
            (ctx / "Dockerfile").write_text(dockerfile)
            daemon.docker("build", "--network", "none", "-q", "-t", tag, str(ctx), timeout=600)
    except BaseException:
        daemon.stop()
        raise
    yield daemon
    daemon.stop()


def _dive(daemon, image_id: str, tmp_path) -> dict:
    out = tmp_path / f"{image_id[7:19]}.json"
    subprocess.run(["dive", "--json", str(out), image_id[7:]], env=daemon.env, check=True, capture_output=True,
                   timeout=300)
    return json.loads(out.read_text())["image"]


def test_efficiency_equals_dive_whatever_the_batch(batch_daemon, tmp_path):
    inv = ll.open_root(str(batch_daemon.data_root), progress=False)
    every = efficiency(inv, all=True).set_index("image_id")
    listed = efficiency(ll.open_root(str(batch_daemon.data_root), progress=False)).set_index("image_id")
    assert len(every) > len(listed) >= len(DOCKERFILES)  # intermediate images are in the larger batch
    chains = inv.chains()
    # the three images share their first two layers: one prefix, three branches
    firsts = {tuple(chains[inv.image_id(t)][:2]) for t in DOCKERFILES}
    assert len(firsts) == 1
    for iid, row in every.iterrows():
        theirs = _dive(batch_daemon, iid, tmp_path)
        assert row["dive_efficiency"] == pytest.approx(theirs["efficiencyScore"], rel=1e-12, abs=0), iid
        assert row["dive_wasted_bytes"] == theirs["inefficientBytes"], iid
        assert row["dive_efficiency"] == image_figures(inv, iid, 0)["dive_efficiency"], iid
        if iid in listed.index:
            for key in ("dive_efficiency", "dive_wasted_bytes", "reclaimable_bytes"):
                assert listed.at[iid, key] == row[key], (iid, key)
    deleted = every.loc[inv.image_id("layerlab-test/linkdel:1")]
    assert deleted["reclaimable_bytes"] > 0  # the deleted file's bytes are stored below and hidden
