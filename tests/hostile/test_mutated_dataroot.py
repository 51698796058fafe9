"""Every metadata file of a real data root, damaged every way: a clear error or a skipped row, never a
traceback or a hang.

One copy of the overlay2 capture per module; each case damages one file (truncated, the wrong JSON
type, not UTF-8, empty, a FIFO, a symlink to /dev/zero, a directory, a number beyond int64),
reads the whole root (metadata, files, container sizes), and puts the file back.
"""

from __future__ import annotations

import warnings

import pytest
from harness.captures import unpack_capture
from harness.tiers import require_root
from mutations import (COMMON, CONTAINER_CONFIGS, DATAROOT_ROLES as ROLES, HOSTCONFIGS, bounded, read_container_config,
                       read_damaged_root, write)

import layerlab as ll


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    require_root("tar")
    return unpack_capture("overlay2", tmp_path_factory.mktemp("mutated") / "root")


MUTATIONS = {
    **COMMON,
    "json list": write(b"[1, 2]"),
    "json string": write(b'"text"'),
    "json number": write(b"42"),
    "not utf-8": write(b"\xff\xfe\x00bad"),
    "beyond int64": write(b"99999999999999999999999"),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
@pytest.mark.parametrize("role", list(ROLES))
def test_damaged_metadata_is_a_clear_error_or_skipped(root, role, mutation):
    read_damaged_root(root, ROLES[role](root), MUTATIONS[mutation], f"{role} as {mutation}")


CONFIGS = {
    "a list": b"[1, 2]",
    "a string": b'"config"',
    "history of strings": b'{"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}, '
                          b'"history": ["a", "b"]}',
    "history a dict": b'{"rootfs": {"type": "layers", "diff_ids": []}, "history": {"a": 1}}',
    "rootfs a string": b'{"rootfs": "layers"}',
    "diff_ids of numbers": b'{"rootfs": {"type": "layers", "diff_ids": [1, 2]}}',
    "created a number": b'{"created": 12, "rootfs": {"type": "layers", "diff_ids": []}}',
    "architecture a list": b'{"architecture": ["amd64"], "os": 7, "rootfs": {"type": "layers", "diff_ids": []}}',
}


@pytest.mark.parametrize("body", list(CONFIGS))
def test_a_config_of_the_wrong_shape_under_its_own_digest(root, body):
    """A config the digest check cannot catch (it is named by its own hash): clear error or skipped."""
    import hashlib

    raw = CONFIGS[body]
    path = root / "image/overlay2/imagedb/content/sha256" / hashlib.sha256(raw).hexdigest()
    path.write_bytes(raw)
    try:
        with bounded(30, f"a config that is {body}"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                inv = ll.open_root(str(root), progress=False)
                inv.files, inv.history, inv.images
            assert ("sha256:" + path.name) in set(inv.skipped["id"]) or ("sha256:"
                                                                         + path.name) in set(inv.images["image_id"])
    except ll.LayerlabError as e:
        assert str(path) in str(e) or path.name in str(e), f"the error does not name the file: {e}"
    finally:
        path.unlink()


@pytest.mark.parametrize("case", list(CONTAINER_CONFIGS))
def test_a_container_config_with_fields_of_the_wrong_type(root, case):
    path = sorted(root.glob("containers/*/config.v2.json"))[0]
    read_container_config(root, path, CONTAINER_CONFIGS[case], f"config.v2.json: {case}")


@pytest.mark.parametrize("case", list(HOSTCONFIGS))
def test_a_hostconfig_with_fields_of_the_wrong_type(root, case):
    path = sorted(root.glob("containers/*/hostconfig.json"))[0]
    read_container_config(root, path, HOSTCONFIGS[case], f"hostconfig.json: {case}")
