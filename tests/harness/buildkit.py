"""Images built by BuildKit (Docker's default builder since 23.0) and by the classic builder, from the
same Dockerfiles, on a real daemon.

BuildKit registers its layers under its own cache IDs (25 base-36 characters, not the layer store's
64 hex), keeps no intermediate images and can mount caches into ``RUN``; the classic builder makes
an intermediate image per step. Debian's docker.io (20.10) client has BuildKit built in
(``DOCKER_BUILDKIT=1``), while a newer client on the PATH may ask for buildx, so
``/usr/bin/docker`` is called by path. The daemons of ``harness.daemon`` run without a bridge, so
builds use ``--network none``. Nothing is pulled: the base is busybox-static, imported.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from .daemon import Daemon, DaemonError
from .images import BASE, EPOCH, _dockerfile, _random_bytes, _write_context, busybox_rootfs

#: Debian's docker.io client, which builds with BuildKit without buildx.
BUILDKIT_CLI = Path("/usr/bin/docker")
BUILDERS = ("buildkit", "classic")
#: Dockerfiles the classic builder cannot build (RUN --mount is BuildKit's).
BUILDKIT_ONLY = ("cache-mount",)
#: A cache ID BuildKit gives a layer it made (moby/buildkit identity.NewID).
BUILDKIT_CACHE_ID = re.compile(r"[0-9a-z]{25}")

KIB, MIB = 1 << 10, 1 << 20


def buildkit_missing() -> str | None:
    """Why BuildKit builds cannot run here, or None."""
    if not BUILDKIT_CLI.is_file():
        return f"needs {BUILDKIT_CLI} (Debian's docker.io client, which has BuildKit built in)"
    return None


def _contexts(tmp: Path) -> dict[str, Path]:
    """Build contexts, one per Dockerfile: what each shows is in its LABEL."""
    overwrite = _write_context(tmp / "overwrite", {
        "Dockerfile": _dockerfile(f"""
            FROM {BASE}
            LABEL org.layerlab.role="overwrite, delete, chmod-only copy"
            COPY big.bin scratch.bin /data/
            COPY big-v2.bin /data/big.bin
            RUN rm /data/scratch.bin
            RUN chmod 0600 /data/big.bin
            RUN mkdir -p /var/log/app && head -c 300000 /data/big.bin > /var/log/app/run.log
            RUN rm -rf /var/log/app && echo done > /data/done.txt
            # changes nothing: the classic builder keeps an empty layer, BuildKit marks the step empty
            RUN true
            ENV APP_MODE=demo
        """),
        "big.bin": _random_bytes(11, MIB),
        "big-v2.bin": _random_bytes(12, MIB),
        "scratch.bin": _random_bytes(13, 200 * KIB),
    })
    os.utime(overwrite / "big-v2.bin", (EPOCH + 86400, EPOCH + 86400))
    multi = _write_context(tmp / "multi", {
        "Dockerfile": _dockerfile(f"""
            FROM {BASE} AS builder
            COPY src/ /src/
            RUN mkdir /out && cat /src/*.txt > /out/bundle.txt && cp /src/tool.bin /out/tool.bin
            FROM {BASE}
            COPY --from=builder /out/ /app/
            # the tool again, then deleted: its bytes stay in the layer below
            COPY --from=builder /out/tool.bin /app/tool-copy.bin
            RUN rm /app/tool-copy.bin && echo v2 >> /app/bundle.txt
            LABEL org.layerlab.role="multi-stage build, a copied file deleted, a file appended to"
        """),
        "src/a.txt": "part a\n" * 300,
        "src/b.txt": "part b\n" * 300,
        "src/tool.bin": _random_bytes(14, 96 * KIB),
    })
    # RUN --mount=type=cache: the cache's files are in no layer; only what is copied out of it is.
    cache = _write_context(tmp / "cache-mount", {
        "Dockerfile": _dockerfile(f"""
            FROM {BASE}
            COPY seed.bin /seed.bin
            RUN --mount=type=cache,target=/cache \\
                cp /seed.bin /cache/warm.bin && head -c 50000 /cache/warm.bin > /kept.bin
            RUN --mount=type=cache,target=/cache ls /cache > /cache-listing.txt
            RUN rm /seed.bin
            LABEL org.layerlab.role="RUN --mount=type=cache, a deleted file"
        """),
        "seed.bin": _random_bytes(15, 150 * KIB),
    })
    return {"overwrite": overwrite, "multi": multi, "cache-mount": cache}


def build(daemon: Daemon, ref: str, context: Path, *, buildkit: bool) -> str:
    """Build ``context`` as ``ref`` with BuildKit or the classic builder; return the image ID."""
    reason = buildkit_missing()
    if reason:
        raise DaemonError(reason)
    env = dict(daemon.env, DOCKER_BUILDKIT="1" if buildkit else "0")
    proc = subprocess.run([str(BUILDKIT_CLI), "build", "--network", "none", "-q", "-t", ref, str(context)],
                          capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise DaemonError(f"`docker build` ({'BuildKit' if buildkit else 'classic'}) of {ref} failed with exit "
                          f"{proc.returncode}:\n{proc.stderr.strip() or proc.stdout.strip()}")
    return daemon.docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()


def ref_of(name: str, builder: str) -> str:
    """The tag the image of Dockerfile ``name`` built by ``builder`` gets."""
    return f"layerlab/bk-{name}:{builder}"


def build_both(daemon: Daemon, builders=BUILDERS) -> dict:
    """Import the busybox base and build every Dockerfile with each of ``builders``.

    Returns ``{"base": image ID, "images": {(name, builder): image ID}, "refs": {(name, builder): tag},
    "buildkit_only": BUILDKIT_ONLY}``; the classic builder skips the BuildKit-only Dockerfiles.
    """
    tmp = Path(tempfile.mkdtemp(prefix="layerlab-buildkit-"))
    images, refs = {}, {}
    try:
        rootfs = busybox_rootfs(tmp / "rootfs")
        base = daemon.docker("import", "--message", "busybox-static rootfs", "--change", 'CMD ["/bin/sh"]',
                             str(rootfs), BASE).stdout.strip()
        contexts = _contexts(tmp)
        for builder in builders:
            for name, context in contexts.items():
                if builder == "classic" and name in BUILDKIT_ONLY:
                    continue
                refs[name, builder] = ref_of(name, builder)
                images[name, builder] = build(daemon, refs[name, builder], context, buildkit=builder == "buildkit")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"base": base, "images": images, "refs": refs, "buildkit_only": BUILDKIT_ONLY}
