"""Images that carry known bloat and known waste, built from the busybox base on a test daemon.

Every file is written by a RUN step with ``head -c N /dev/urandom``, so each category's bytes and
the layer that holds them are known in advance (``SPEC``), and tests compare layerlab's figures
with these numbers instead of numbers read back from layerlab.

- ``DEBBASE``: a "distribution" base whose one layer keeps apt lists (as debootstrap leaves them).
- ``CATS``: one or more files in every bloat category, over several RUN steps; a hard link in
  /var/log (counted once) and a temporary file deleted in a later step (not visible: not bloat).
- ``APT_BAD``: ``apt-get update``, install and ``rm -rf /var/lib/apt/lists/*`` in separate RUNs.
- ``APT_GOOD``: the same in one RUN (it still deletes the base's lists, which stay in the base).
- ``APT_CHILD``: an image built on ``APT_BAD``: its waste is the same bytes, stored once.
- ``REBUILT``: built twice under one tag; the first build is left dangling.
- ``CERTS_V1``/``CERTS_V2``: one RUN built twice: the same certificates with other mtimes, and
  an apt cache of the same size with new content (what a rebuild changes).
"""

from __future__ import annotations

import posixpath
import shutil
import tempfile
from pathlib import Path

from .daemon import Daemon
from .images import BASE, busybox_rootfs

DEBBASE = "layerlab-test/debbase:1"
CATS = "layerlab-test/cats:1"
APT_BAD = "layerlab-test/apt-bad:1"
APT_GOOD = "layerlab-test/apt-good:1"
APT_CHILD = "layerlab-test/apt-child:1"
REBUILT = "layerlab-test/rebuilt:1"
CERTS_V1 = "layerlab-test/certs:1"
CERTS_V2 = "layerlab-test/certs:2"
CERTS = [f"/etc/ssl/certs/cert{i}.pem" for i in range(6)]
PKGCACHE = ("/var/cache/apt/pkgcache.bin", 30_000)

SITE = "/usr/lib/python3.11/site-packages"
#: The base's apt lists (layer 1 of every image built on DEBBASE).
BASE_LISTS = {"/var/lib/apt/lists/deb_bookworm_main_Packages": 200_000,
              "/var/lib/apt/lists/deb_bookworm_Release": 1_500}
#: CATS: per RUN step (its layer position), path -> (bytes, category or None for a file that is not bloat).
CATS_STEPS = [
    {  # position 2
        "/var/lib/apt/lists/deb_bookworm-updates_Packages": (3_000, "apt-lists"),
        "/var/cache/apt/pkgcache.bin": (30_000, "apt-cache"),
        "/var/cache/apt/archives/tool_1.0_amd64.deb": (40_000, "apt-cache"),
        "/usr/share/doc/tool/changelog.gz": (5_000, "docs"),
        "/usr/share/man/man1/tool.1.gz": (700, "docs"),
        "/usr/share/info/tool.info": (300, "docs"),
        "/var/log/dpkg.log": (900, "logs"),
        "/usr/bin/tool": (12_000, None),
    },
    {  # position 3
        f"{SITE}/pkg/__init__.py": (100, None),
        f"{SITE}/pkg/__pycache__/__init__.cpython-311.pyc": (2_000, "python-bytecode"),
        f"{SITE}/pkg/legacy.pyc": (300, "python-bytecode"),
        f"{SITE}/pkg/tests/test_pkg.py": (4_000, "python-tests"),
        f"{SITE}/pkg/tests/__pycache__/test_pkg.cpython-311.pyc": (500, "python-tests"),
        "/usr/lib/python3/dist-packages/other/test/test_other.py": (600, "python-tests"),
        "/root/.cache/pip/http/a/b/c/0123": (6_000, "pip-cache"),
        "/home/app/.cache/pip/wheels/w/pkg-1.0-py3-none-any.whl": (7_000, "pip-cache"),
    },
    {  # position 4
        "/src/app/.git/objects/ab/cdef": (8_000, "vcs"),
        "/src/app/.git/HEAD": (23, "vcs"),
        "/src/app/main.py": (250, None),
        "/tmp/build.tmp": (9_000, None),  # deleted at position 5: not visible
        "/var/tmp/keep.tmp": (110, "temp"),
        "/var/cache/apk/APKINDEX.abc.tar.gz": (1_100, "apk-cache"),
        "/var/cache/dnf/fedora.solv": (1_200, "dnf-yum-cache"),
        "/var/cache/yum/x86_64/repomd.xml": (1_300, "dnf-yum-cache"),
        "/root/.npm/_cacache/index-v5/aa": (1_400, "npm-cache"),
        "/home/app/.cache/yarn/v6/pkg.tgz": (1_500, "npm-cache"),
    },
]
#: A hard link made in the first CATS step: /var/log/dpkg.log's bytes, shown under two names.
CATS_HARDLINK = ("/var/log/dpkg.log", "/var/log/dpkg.log.1")
CATS_DELETED = "/tmp/build.tmp"
#: APT_BAD's `apt-get update` writes lists over the base's and adds one; `install` adds a program.
UPDATE_LISTS = {"/var/lib/apt/lists/deb_bookworm_main_Packages": 210_000,
                "/var/lib/apt/lists/deb_bookworm-security_Packages": 30_000}
INSTALLED = {"/usr/bin/tool": 12_000}
#: REBUILT's first and second builds.
REBUILT_FIRST = {"/opt/first.bin": 50_000}
REBUILT_SECOND = {"/opt/second.bin": 20_000}


def write_files(files: dict[str, int]) -> str:
    """A shell command writing each path with that many random bytes (directories made first)."""
    dirs = sorted({posixpath.dirname(p) for p in files})
    parts = [f"mkdir -p {' '.join(dirs)}"] if dirs else []
    parts += [f"head -c {n} /dev/urandom > {p}" for p, n in files.items()]
    return " && ".join(parts)


def _build(daemon: Daemon, tag: str, dockerfile: str, workdir: Path) -> str:
    ctx = Path(tempfile.mkdtemp(dir=workdir))
    (ctx / "Dockerfile").write_text(dockerfile)
    daemon.docker("build", "--network", "none", "-q", "-t", tag, str(ctx), timeout=600)
    shutil.rmtree(ctx, ignore_errors=True)
    return daemon.docker("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()


def build_bloat_images(daemon: Daemon, workdir) -> dict:
    """Build the images above on ``daemon``; return ``{"images": tag -> ID, "dangling": ID}``."""
    workdir = Path(workdir)
    rootfs = busybox_rootfs(workdir / "rootfs")
    daemon.docker("import", "--change", 'CMD ["/bin/sh"]', str(rootfs), BASE)
    ids = {BASE: daemon.docker("image", "inspect", "--format", "{{.Id}}", BASE).stdout.strip()}
    ids[DEBBASE] = _build(daemon, DEBBASE, f"FROM {BASE}\nRUN {write_files(BASE_LISTS)}\n", workdir)
    steps = [f"RUN {write_files({p: n for p, (n, _) in CATS_STEPS[0].items()})} && ln {' '.join(CATS_HARDLINK)}"]
    steps += [f"RUN {write_files({p: n for p, (n, _) in step.items()})}" for step in CATS_STEPS[1:]]
    steps.append(f"RUN rm {CATS_DELETED}")
    ids[CATS] = _build(daemon, CATS, f"FROM {DEBBASE}\n" + "\n".join(steps) + "\n", workdir)
    ids[APT_BAD] = _build(daemon, APT_BAD, (
        f"FROM {DEBBASE}\n"
        f"RUN {write_files(UPDATE_LISTS)}\n"
        f"RUN {write_files(INSTALLED)}\n"
        "RUN rm -rf /var/lib/apt/lists/*\n"
    ), workdir)
    ids[APT_GOOD] = _build(daemon, APT_GOOD, (
        f"FROM {DEBBASE}\n"
        f"RUN {write_files(UPDATE_LISTS)} && {write_files(INSTALLED)} && rm -rf /var/lib/apt/lists/*\n"
    ), workdir)
    ids[APT_CHILD] = _build(daemon, APT_CHILD, f"FROM {APT_BAD}\nRUN echo hello > /hello.txt\n", workdir)
    first = _build(daemon, REBUILT, f"FROM {BASE}\nRUN {write_files(REBUILT_FIRST)}\n", workdir)
    ids[REBUILT] = _build(daemon, REBUILT, f"FROM {BASE}\nRUN {write_files(REBUILT_SECOND)}\n", workdir)
    for tag, date in ((CERTS_V1, "2024-01-01 00:00:00"), (CERTS_V2, "2024-06-01 00:00:00")):
        certs = " && ".join(f"echo {posixpath.basename(c)} > {c}" for c in CERTS)
        ids[tag] = _build(daemon, tag, (
            f"FROM {BASE}\n"
            f"RUN mkdir -p /etc/ssl/certs && {certs} && touch -d '{date}' {' '.join(CERTS)} && "
            f"{write_files(dict([PKGCACHE]))}\n"
        ), workdir)
    return {"images": ids, "dangling": first}
