"""moto's S3 server with a generated registry storage already in a bucket: loaded in-process, not over HTTP.

    python benchmarks/s3_storage_server.py ROOT --port PORT [--bucket registry] [--prefix bench]

Copying the full-size storage (949,861 files) into moto's standalone server with PutObject over HTTP
takes about 3 hours; here moto's S3 backend is filled directly (``put_object`` in this process, the
bytes of every file under ``ROOT/docker``, under the key ``PREFIX/docker/...`` that distribution's s3
driver uses), in a few minutes, and then the same moto serves it on 127.0.0.1:PORT
(``moto.server.ThreadedMotoServer``) until the process is killed. Its access log (werkzeug's, one
line per request) goes to stderr, as moto_server's does, so ``harness.objectstore.MotoServer``'s
request counting reads it the same way.

moto answers every listing by scanning and sorting every key of the bucket (and a listing's every
page does it again), which makes a LIST cost seconds at a million keys where S3's costs milliseconds.
The listings here are answered from a sorted index of the key names instead (bisect to the prefix and
the continuation point, skip each common prefix's keys at once); the answers are moto's (the same keys,
common prefixes, truncation and continuation tokens), only not O(bucket) per request. The index is
rebuilt when the bucket's key count changes: the bucket is meant to be read (audits, ``garbage-collect
--dry-run``), not written.
"""

from __future__ import annotations

import argparse
import bisect
import os
import signal
import sys
import threading
import time
from pathlib import Path


def _install_indexed_listings() -> None:
    from moto.s3.models import FakeDeleteMarker, S3Backend

    indexes: dict[int, tuple[int, list[str]]] = {}
    lock = threading.Lock()

    def names_of(bucket) -> list[str]:
        with lock:
            held = indexes.get(id(bucket))
            if held is None or held[0] != len(bucket.keys):
                held = (len(bucket.keys), sorted(bucket.keys.keys()))
                indexes[id(bucket)] = held
            return held[1]

    def scan(bucket, prefix: str, delimiter: str | None, after: str | None):
        """(key or common prefix, is a key) in name order, from the first name after ``after``."""
        names = names_of(bucket)
        i = bisect.bisect_left(names, prefix)
        if after is not None:
            i = max(i, bisect.bisect_right(names, after))
        while i < len(names) and names[i].startswith(prefix):
            name = names[i]
            rest = name[len(prefix):]
            if delimiter and delimiter in rest:
                folder = prefix + rest.split(delimiter)[0] + delimiter
                if after is None or folder > after:
                    yield folder, False
                # every key below this common prefix sorts before folder[:-len(delimiter)] + next char
                i = bisect.bisect_left(names, folder[:-1] + chr(ord(folder[-1]) + 1), i + 1)
                continue
            key = bucket.keys[name]
            if not isinstance(key, FakeDeleteMarker):
                yield key, True
            i += 1

    original_v1 = S3Backend.list_objects

    def list_objects(self, bucket, prefix, delimiter, marker, max_keys):
        if not hasattr(bucket, "keys") or not isinstance(getattr(bucket, "keys"), dict):
            return original_v1(self, bucket, prefix, delimiter, marker, max_keys)
        keys, folders = [], []
        for item, is_key in scan(bucket, prefix or "", delimiter, None):
            (keys if is_key else folders).append(item)
        if marker:  # moto's v1 pages the keys only, and answers every common prefix on every page
            limit = self._pagination_tokens.get(marker) or marker
            keys = self._get_results_from_token(keys, limit)
        if max_keys is not None:
            keys, truncated, next_marker = self._truncate_result(keys, max_keys)
        else:
            truncated, next_marker = False, None
        return keys, folders, truncated, next_marker

    original_v2 = S3Backend.list_objects_v2

    def list_objects_v2(self, bucket, prefix, delimiter, continuation_token, start_after, max_keys):
        if not hasattr(bucket, "keys") or not isinstance(getattr(bucket, "keys"), dict):
            return original_v2(self, bucket, prefix, delimiter, continuation_token, start_after, max_keys)
        after = None
        if continuation_token or start_after:
            after = self._pagination_tokens.get(continuation_token) if continuation_token else start_after
        out = []
        for item, _ in scan(bucket, prefix or "", delimiter, after):
            out.append(item)
            if len(out) > max_keys:  # one more than a page: enough to know it is truncated
                break
        return self._truncate_result(out, max_keys)

    S3Backend.list_objects = list_objects
    S3Backend.list_objects_v2 = list_objects_v2


def load(root: Path, bucket: str, prefix: str, progress=None) -> int:
    """Put every file under ``root/docker`` into moto's in-process S3 backend; the objects written."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    backend.create_bucket(bucket, "us-east-1")
    n = 0
    top = root / "docker"
    cut = len(str(root)) + 1
    for folder, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                data = f.read()
            key = "/".join(p for p in (prefix.strip("/"), path[cut:]) if p)
            backend.put_object(bucket, key, data, disable_notification=True)
            n += 1
            if progress is not None and n % 10000 == 0:
                progress(n)
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", type=Path, help="a storage root made by tests/harness/storagegen.py (holds docker/)")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--bucket", default="registry")
    ap.add_argument("--prefix", default="bench", help="distribution's rootdirectory in the bucket")
    args = ap.parse_args()
    if not (args.root / "docker" / "registry" / "v2").is_dir():
        print(f"{args.root} holds no docker/registry/v2; give a storage made by tests/harness/storagegen.py",
              file=sys.stderr)
        return 2
    from moto.server import ThreadedMotoServer

    _install_indexed_listings()
    t0 = time.perf_counter()
    n = load(args.root, args.bucket, args.prefix,
             progress=lambda i: print(f"loaded {i} objects", file=sys.stderr, flush=True))
    print(f"loaded {n} objects into s3://{args.bucket}/{args.prefix} in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr, flush=True)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    print(f"serving on http://127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    os._exit(0)  # the bucket lives in this process only: nothing to save, no connection to wait for


if __name__ == "__main__":
    sys.exit(main())
