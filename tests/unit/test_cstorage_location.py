"""Where the containers-storage store is, as podman finds it, and skopeo's transport names."""

from __future__ import annotations

import pytest

from layerlab.errors import NotADataRoot
from layerlab.sources.containers_storage import location
from layerlab.sources.containers_storage.location import default_store, parse_transport
from layerlab.sources._reader import check_id
from layerlab.sources.containers_storage.store import big_data_name


@pytest.fixture
def no_system_conf(monkeypatch, tmp_path):
    monkeypatch.setattr(location, "SYSTEM_CONFS", (str(tmp_path / "absent.conf"),))


def test_root_uses_the_system_store(no_system_conf):
    assert default_store(0, {"HOME": "/root"}) == ("/var/lib/containers/storage", None)


def test_rootless_default_paths(no_system_conf):
    assert default_store(1000, {"HOME": "/home/u"})[0] == "/home/u/.local/share/containers/storage"
    assert default_store(1000, {"HOME": "/home/u", "XDG_DATA_HOME": "/x"})[0] == "/x/containers/storage"


def test_storage_conf_graphroot_and_driver(tmp_path, monkeypatch):
    system = tmp_path / "system.conf"
    system.write_text('[storage]\ndriver = "overlay"\ngraphroot = "/srv/containers"\n'
                      'rootless_storage_path = "/srv/rootless/$UID/storage"\n')
    monkeypatch.setattr(location, "SYSTEM_CONFS", (str(system),))
    assert default_store(0, {"HOME": "/root"}) == ("/srv/containers", "overlay")
    # rootless: the system graphroot is root's; rootless_storage_path is the user's
    assert default_store(1000, {"HOME": "/home/u"}) == ("/srv/rootless/1000/storage", "overlay")
    user = tmp_path / "cfg" / "containers" / "storage.conf"
    user.parent.mkdir(parents=True)
    user.write_text('[storage]\ndriver = "vfs"\ngraphroot = "/home/u/store"\n')
    assert default_store(1000, {"HOME": "/home/u", "XDG_CONFIG_HOME": str(tmp_path / "cfg")}) == ("/home/u/store",
        "vfs")
    chosen = tmp_path / "chosen.conf"
    chosen.write_text('[storage]\ngraphroot = "/elsewhere"\n')
    assert default_store(0, {"CONTAINERS_STORAGE_CONF": str(chosen)})[0] == "/elsewhere"


def test_transport_names():
    where = parse_transport("containers-storage:[overlay@/s/root+/s/run:overlay.mountopt=x]docker.io/library/a:1")
    assert (where.root, where.driver, where.ref) == ("/s/root", "overlay", "docker.io/library/a:1")
    where = parse_transport("containers-storage:[/s/root]")
    assert (where.root, where.driver, where.ref) == ("/s/root", None, None)
    for bad in ("containers-storage:[overlay@]x", "containers-storage:[rel/root]x", "containers-storage:[/x"):
        with pytest.raises(NotADataRoot):
            parse_transport(bad)


def test_ids_and_big_data_names():
    # containers/storage's makeBigDataBaseName: keys of [0-9a-z.] as they are, others base64'd after "="
    assert big_data_name("manifest") == "manifest"
    assert big_data_name("sha256:ab") == "=" + "c2hhMjU2OmFi"
    assert check_id("a" * 64) and not check_id("../" + "a" * 61) and not check_id("A" * 64) and not check_id(None)
