"""Where a source came from, as the summary header, the report's about line and the hashing warning
say it: an OCI layout (umoci's) has no storage driver, and none is printed as 'None'."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from harness import wild
from harness.tiers import missing, require

import layerlab as ll
from layerlab.analyses.hashing import hash_source
from layerlab.reports.index import about_html


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    require(missing(programs=("umoci", "tar")))
    work = tmp_path_factory.mktemp("labels")
    return wild.umoci_image(work / "layout", "v1", work)


def test_a_source_without_a_driver_is_not_labelled_none(layout):
    out = subprocess.run([str(Path(sys.executable).with_name("layerlab")), "summary", f"oci:{layout}"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == f"oci:{layout}  (oci)"
    inv = ll.open_source(f"oci:{layout}", progress=False)
    assert "(oci), scanned on host" in about_html(inv) and "None" not in about_html(inv)
    can, why = hash_source(inv)
    assert not can and "'oci' store" in why and "None" not in why
