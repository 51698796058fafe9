"""A real S3-compatible server on loopback for the fleet tests: moto's standalone server
(``moto_server -H 127.0.0.1 -p PORT``, from PyPI ``moto[server]``), reached through s3fs."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import requests

from .daemon import stop_group
from .dask_cluster import program
from .registry import free_port

# moto accepts any credentials; these only have to be present and consistent.
KEY, SECRET, REGION = "layerlab-test", "layerlab-test-secret", "us-east-1"


def moto_missing() -> str | None:
    if program("moto_server") is None:
        return "needs the `moto_server` command (pip install 'moto[server]', as .[test] does)"
    return None


class S3Server:
    """moto's standalone S3 server on 127.0.0.1; ``storage_options``/``env`` point s3fs at it."""

    def __init__(self, workdir: str | os.PathLike, port: int | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    @property
    def storage_options(self) -> dict:
        """fsspec/s3fs options for this server."""
        return {"key": KEY, "secret": SECRET, "endpoint_url": self.endpoint, "client_kwargs": {"region_name": REGION}}

    @property
    def env(self) -> dict:
        """Environment variables that point the AWS SDK (so s3fs, so the CLI) at this server."""
        return {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_DEFAULT_REGION": REGION}

    def filesystem(self):
        import s3fs

        return s3fs.S3FileSystem(**self.storage_options)

    def start(self, timeout: float = 30.0) -> "S3Server":
        reason = moto_missing()
        if reason:
            raise RuntimeError(reason)
        log = open(self.workdir / "moto.log", "ab")
        self.proc = subprocess.Popen([program("moto_server"), "-H", "127.0.0.1", "-p", str(self.port)], stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                     cwd=self.workdir)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.proc.returncode}; see {self.workdir / 'moto.log'}")
            try:
                requests.get(self.endpoint, timeout=1)
                return self
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto_server did not answer on {self.endpoint} within {timeout}s")
            time.sleep(0.1)

    def make_bucket(self, name: str) -> str:
        # Plain CreateBucket: s3fs's mkdir sends the region as a LocationConstraint, which S3 (and
        # moto) refuse for us-east-1.
        self.filesystem().call_s3("create_bucket", Bucket=name)
        return name

    def upload(self, local: str | os.PathLike, url: str) -> str:
        """Copy a local snapshot folder to ``url`` (``s3://bucket/prefix/name.layerlab``)."""
        fs = self.filesystem()
        target = url.removeprefix("s3://").rstrip("/")
        for f in sorted(Path(local).iterdir()):
            fs.put_file(str(f), f"{target}/{f.name}")
        return url

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc, timeout=10)
            self.proc = None

    def __enter__(self) -> "S3Server":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
