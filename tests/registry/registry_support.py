"""Helpers the registry tests import (a plain module: test files must not import conftest)."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess

import requests


def skopeo_json(*args: str) -> dict:
    out = subprocess.run(["skopeo", "inspect", *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def eligible(output: str) -> list[str]:
    """The blobs ``docker-registry garbage-collect --dry-run`` says it would delete."""
    return sorted(set(re.findall(r"blob eligible for deletion: (\S+)", output)))


def make_history(daemon, reg, work, refs) -> str:
    """Give a registry's storage work for GC: rebuild and re-push app:1 (its old manifest stays as an
    untagged revision), delete app:2 by digest as an operator would, and upload a blob no manifest
    uses. Returns that orphan blob's digest."""
    (work / "ctx" / "app-v2").mkdir(parents=True)
    (work / "ctx" / "app-v2" / "Dockerfile").write_text(f"FROM {refs['base']}\nRUN echo v2 > /app.txt\n")
    daemon.docker("build", "-t", refs["app"], work / "ctx" / "app-v2")
    daemon.docker("push", refs["app"])
    accept = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
    head = requests.head(f"{reg.url}/v2/layerlab/app/manifests/2", headers=accept)
    digest = head.headers["Docker-Content-Digest"]
    assert requests.delete(f"{reg.url}/v2/layerlab/app/manifests/{digest}").status_code == 202
    orphan = b"nobody references this blob\n"
    orphan_digest = "sha256:" + hashlib.sha256(orphan).hexdigest()
    start = requests.post(f"{reg.url}/v2/layerlab/orphan/blobs/uploads/")
    location = requests.compat.urljoin(reg.url, start.headers["Location"])
    assert requests.put(location, params={"digest": orphan_digest}, data=orphan).status_code == 201
    return orphan_digest
