"""Live tier: sharing equals docker's /system/df; the layer matrix and layer-level dedup."""

from __future__ import annotations

import http.client
import json
import socket

import pytest

from layerlab.analyses import layer_dedup, sharing, sharing_matrix

pytestmark = pytest.mark.live


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("docker")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def _system_df(daemon) -> dict:
    conn = _UnixHTTP(str(daemon.socket_path))
    conn.request("GET", "/system/df")
    return json.loads(conn.getresponse().read())


def test_sharing_equals_docker_system_df(sample_live):
    daemon, built, inv = sample_live
    df = {i["Id"]: i for i in _system_df(daemon)["Images"]}
    ours = sharing(inv).set_index("image_id")
    assert set(ours.index) == set(df)
    for image_id, docker in df.items():
        assert ours.loc[image_id, "size"] == docker["Size"]
        assert ours.loc[image_id, "shared_size"] == docker["SharedSize"]
        assert ours.loc[image_id, "unique_size"] == docker["Size"] - docker["SharedSize"]


def test_sharing_matrix_and_layer_dedup(sample_live):
    daemon, built, inv = sample_live
    wide = sharing_matrix(inv)
    long = sharing_matrix(inv, long=True)
    assert wide.values.sum() == len(long)
    base_layer = inv.image_layers.set_index(["image_id", "position"]).loc[(built["images"][built["roles"]["base"]], 0),
                                                                          "layer_id"]
    assert wide[base_layer].all()  # every sample image is built on the base
    assert long.loc[long["layer_id"] == base_layer, "image_count"].iloc[0] == len(wide)
    d = layer_dedup(inv).iloc[0]
    assert d["logical_size"] == sharing(inv)["size"].sum()
    assert d["physical_size"] == long.drop_duplicates("layer_id")["size"].sum()
    assert d["saved_bytes"] == d["logical_size"] - d["physical_size"] > 0
