"""Successive releases of one app, built by a real dockerd and pushed to a real registry, for the
release-cost tests and the pull benchmark.

Each release changes one thing, as real ones do: the app's source, its dependencies, its base image.
The dependency step writes random bytes (incompressible), so layer sizes are what they seem.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Tags in release order, named so that sorting by name would give another order (the release
#: order is the images' creation time), and what each release changed.
RELEASES = [("z-initial", "first build"), ("b-source", "source change"), ("y-deps", "dependency change"),
            ("a-base", "base image change")]

DOCKERFILE = """FROM {base}
COPY deps.txt /deps.txt
RUN mkdir -p /app/lib && for d in $(cat /deps.txt); do \\
    dd if=/dev/urandom of=/app/lib/$d bs=1k count={dep_kib} 2>/dev/null; done
COPY src/ /app/src/
CMD ["/app/src/main.sh"]
"""


def _write(directory: Path, files: dict[str, bytes | str]) -> Path:
    for name, data in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return directory


def push_releases(daemon, registry, workdir: str | os.PathLike, repository: str = "layerlab/churn",
                  dep_kib: int = 256) -> dict:
    """Build the four releases of ``RELEASES`` on ``daemon`` and push them as ``registry.host/repository:TAG``.
    Returns {"repository": full name, "tags": [tags in release order], "base": [base refs]}."""
    from .images import busybox_rootfs

    work = Path(workdir)
    h = registry.host
    base1, base2 = f"{h}/{repository}-base:1", f"{h}/{repository}-base:2"
    daemon.docker("import", busybox_rootfs(work / "rootfs"), base1)
    _write(work / "base2", {"Dockerfile": f"FROM {base1}\nRUN echo 2 > /etc/base-release\n"})
    daemon.docker("build", "-t", base2, work / "base2")
    for ref in (base1, base2):
        daemon.docker("push", ref)
    src = {"src/main.sh": "#!/bin/sh\necho release 1\n", "src/data.bin": os.urandom(64 << 10)}
    deps = "alpha\nbeta\n"
    steps = {
        "z-initial": (base1, deps, src),
        "b-source": (base1, deps, {**src, "src/main.sh": "#!/bin/sh\necho release 2\n"}),
        "y-deps": (base1, deps + "gamma\n", {**src, "src/main.sh": "#!/bin/sh\necho release 2\n"}),
        "a-base": (base2, deps + "gamma\n", {**src, "src/main.sh": "#!/bin/sh\necho release 2\n"}),
    }
    for tag, _ in RELEASES:
        base, dep_list, files = steps[tag]
        if tag == "a-base":
            # the dependency change's context as it is (same files, same times): its COPY of deps.txt makes
            # the same blob as before, now over another base (containerd has the blob, dockerd not the chain)
            context = work / "app-y-deps"
            (context / "Dockerfile").write_text(DOCKERFILE.format(base=base, dep_kib=dep_kib))
        else:
            context = work / f"app-{tag}"
            _write(context, {"Dockerfile": DOCKERFILE.format(base=base, dep_kib=dep_kib), "deps.txt": dep_list,
                             **files})
        ref = f"{h}/{repository}:{tag}"
        daemon.docker("build", "-t", ref, context)
        daemon.docker("push", ref)
    return {"repository": f"{h}/{repository}", "tags": [t for t, _ in RELEASES], "base": [base1, base2]}


#: The same app two ways: the source copied in before the dependency install (each source change
#: re-runs it) and after it (the classic fix).
ORDERINGS = {
    "source-first": """FROM {base}
COPY src/ /app/src/
RUN mkdir -p /app/lib && dd if=/dev/urandom of=/app/lib/dep bs=1k count={dep_kib} 2>/dev/null
""",
    "deps-first": """FROM {base}
RUN mkdir -p /app/lib && dd if=/dev/urandom of=/app/lib/dep bs=1k count={dep_kib} 2>/dev/null
COPY src/ /app/src/
""",
}


def push_orderings(daemon, registry, workdir: str | os.PathLike, base: str, dep_kib: int = 512) -> dict:
    """For each of ``ORDERINGS``, two releases differing only by a source change, pushed as
    ``layerlab/order-NAME:1`` and ``:2``. Returns {name: repository}."""
    work = Path(workdir)
    out = {}
    for name, dockerfile in ORDERINGS.items():
        repo = f"{registry.host}/layerlab/order-{name}"
        for release in (1, 2):
            context = work / f"{name}-{release}"
            _write(context, {"Dockerfile": dockerfile.format(base=base, dep_kib=dep_kib),
                             "src/main.sh": f"#!/bin/sh\necho release {release}\n"})
            daemon.docker("build", "-t", f"{repo}:{release}", context)
            daemon.docker("push", f"{repo}:{release}")
        out[name] = repo
    return out
