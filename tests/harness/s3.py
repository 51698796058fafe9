"""moto's S3 server (``harness.objectstore.MotoServer``) as the fleet tests reach it: through s3fs,
with the AWS environment as a dict and helpers to make buckets and upload snapshots."""

from __future__ import annotations

import os
from pathlib import Path

# moto_missing: for the tiers
from .objectstore import ACCESS_KEY, REGION, SECRET_KEY, MotoServer, moto_missing  # noqa: F401


class S3Server(MotoServer):
    """moto's standalone S3 server on 127.0.0.1; ``storage_options``/``env`` point s3fs at it."""

    @property
    def endpoint(self) -> str:
        return self.url

    @property
    def storage_options(self) -> dict:
        """fsspec/s3fs options for this server."""
        return {"key": ACCESS_KEY, "secret": SECRET_KEY, "endpoint_url": self.url,
                "client_kwargs": {"region_name": REGION}}

    @property
    def env(self) -> dict:  # a dict here (the fleet tests merge it into os.environ), a method on MotoServer
        """Environment variables that point the AWS SDK (so s3fs, so the CLI) at this server."""
        return MotoServer.env(self)

    def filesystem(self):
        import s3fs

        return s3fs.S3FileSystem(**self.storage_options)

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
