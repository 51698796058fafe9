"""A host's image store shaped like a real one, small enough for CI: hundreds of images, most tiny and
some untagged (``docker import`` without a name), one image much larger than the rest full of Python
bloat (bytecode, test suites, an apt list deleted a layer later), one with many layers, two tags of one
repository built on it, built by BuildKit and by the classic builder. The report's tests and the
widget benchmark draw on it."""

from __future__ import annotations

import io
import random
import subprocess
import tarfile
import tempfile
from pathlib import Path

from .buildkit import BUILDKIT_CLI, buildkit_missing
from .daemon import Daemon, DaemonError
from .images import BASE, busybox_rootfs

MIB = 1 << 20


def tiny_tar(seed: int) -> bytes:
    """A few small files of random bytes: one `docker import`-ed layer."""
    rng = random.Random(seed)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for j in range(rng.randint(1, 6)):
            data = rng.randbytes(rng.randint(100, 40_000))
            info = tarfile.TarInfo(f"app{seed}/file{j}.bin")
            info.size, info.mtime = len(data), 1704067200
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def python_tree(root: Path, packages: int, seed: int = 0) -> int:
    """site-packages of ``packages`` packages, each with modules, their bytecode and a test suite;
    one large shared library. Returns the number of files written."""
    rng = random.Random(seed)
    site = root / "usr/lib/python3/site-packages"
    n = 0
    for p in range(packages):
        pkg = site / f"pkg{p}"
        for sub in ("", "__pycache__", "tests"):
            (pkg / sub).mkdir(parents=True, exist_ok=True)
        for m in range(8):
            body = rng.randbytes(rng.randint(500, 6000))
            (pkg / f"mod{m}.py").write_bytes(body)
            (pkg / "__pycache__" / f"mod{m}.cpython-311.pyc").write_bytes(body[: len(body) // 2] * 2)
            (pkg / "tests" / f"test_mod{m}.py").write_bytes(body[::2])
            n += 3
    (site / "libbig.so").write_bytes(rng.randbytes(24 * MIB))
    return n + 1


def _build(daemon: Daemon, ref: str, context: Path, *, buildkit: bool) -> None:
    env = dict(daemon.env, DOCKER_BUILDKIT="1" if buildkit else "0")
    proc = subprocess.run([str(BUILDKIT_CLI), "build", "--network", "none", "-q", "-t", ref, str(context)],
                          capture_output=True, text=True, env=env, timeout=900)
    if proc.returncode != 0:
        raise DaemonError(f"`docker build` of {ref} failed with exit {proc.returncode}:\n{proc.stderr.strip()}")


def build_host(daemon: Daemon, *, images: int = 300, layers: int = 60, packages: int = 150) -> dict:
    """Fill ``daemon`` with a host's images (see the module's docstring); return what was made:
    ``tiny`` and ``untagged`` counts, ``big`` (the large image's tag), ``many_layers``, ``versions``."""
    reason = buildkit_missing()
    if reason:
        raise DaemonError(reason)
    tmp = Path(tempfile.mkdtemp(prefix="layerlab-host-"))
    try:
        rootfs = busybox_rootfs(tmp / "rootfs")
        daemon.docker("import", "--message", "busybox-static rootfs", "--change", 'CMD ["/bin/sh"]', str(rootfs), BASE)
        untagged = 0
        for i in range(images):
            # One in ten without a name: untagged images, as a failed build or a re-tag leaves them.
            name = [] if i % 10 == 9 else [f"team{i % 7}/svc{i}:{1 + i % 3}"]
            untagged += not name
            daemon.docker("import", "-", *name, input=tiny_tar(i))
        big = tmp / "big"
        (big / "ctx").mkdir(parents=True)
        files = python_tree(big / "ctx" / "tree", packages)
        (big / "ctx" / "Dockerfile").write_text(
            f"FROM {BASE}\n"
            "RUN mkdir -p /var/lib/apt/lists && head -c 3000000 /dev/zero > /var/lib/apt/lists/deb_dists_main\n"
            "COPY tree/ /\n"
            "RUN rm -rf /var/lib/apt/lists/*\n"
            'CMD ["python3"]\n')
        _build(daemon, "zpy:1", big / "ctx", buildkit=True)
        # Two versions of one repository on it: what page 03 should compare.
        for version in (1, 2):
            ctx = tmp / f"app{version}"
            ctx.mkdir()
            (ctx / "app.py").write_bytes(random.Random(version).randbytes(20_000 * version))
            (ctx / "Dockerfile").write_text("FROM zpy:1\nCOPY app.py /srv/app.py\nRUN echo v > /srv/version\n")
            _build(daemon, f"shop/api:{version}", ctx, buildkit=version == 2)
        # Many small layers, a file rewritten in most of them: hidden bytes spread thin.
        ctx = tmp / "layers"
        ctx.mkdir()
        steps = []
        for k in range(layers):
            (ctx / f"part{k}.bin").write_bytes(random.Random(1000 + k).randbytes(2000 + 100 * k))
            steps.append(f"COPY part{k}.bin /data/{'current.bin' if k % 2 else f'part{k}.bin'}")
        (ctx / "Dockerfile").write_text(f"FROM {BASE}\n" + "\n".join(steps) + "\n")
        _build(daemon, "layered:1", ctx, buildkit=True)
        return {"tiny": images, "untagged": untagged, "big": "zpy:1", "big_files": files, "many_layers": "layered:1",
                "versions": ("shop/api:1", "shop/api:2")}
    finally:
        subprocess.run(["rm", "-rf", "--", str(tmp)], check=False)
