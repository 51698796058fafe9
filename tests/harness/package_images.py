"""Images with real package databases, built as people build them, on a test daemon.

- ``DEBIAN``: a Debian 12 base made by debootstrap (``--variant=minbase``) and ``docker import``-ed.
- ``DEB``: apt-get installs on it over three RUNs: curl, then gcc and libc6-dev (build-time packages
  left in the final image), then ``apt-get purge curl`` (a package removed in a later layer).
- ``PY``: python3-pip from apt, then ``pip install`` of real wheels from PyPI (downloaded by the host's pip).
- ``NPM``: ``npm install`` of real packages (on the host, as a build context), copied into the image.
- ``GO``: a Go binary built with golang-go (``go build``), copied into the image.
- ``RPM``: an rpm database made by Debian's rpm (``rpmbuild`` a package, ``rpm --root -i`` it).
- ``HOSTILE`` (on ``PY``): a dpkg .list naming ``../../etc/passwd``, a RECORD with an absolute path
  and one climbing above ``/``, an 8 MB package.json, rpm's database as a FIFO.
- ``TRUNCATED``: the dpkg status file cut in the middle of a stanza.

Builds need the package registries: RUN steps use ``--network=host`` (the test daemon has no bridge).
The debootstrap rootfs is made once per machine (``LAYERLAB_DEBIAN_ROOTFS`` or a cache under /var/tmp).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from .daemon import Daemon, DaemonError

DEBIAN = "layerlab-test/debian:12"
DEB = "layerlab-test/pkg-deb:1"
PY = "layerlab-test/pkg-py:1"
NPM = "layerlab-test/pkg-npm:1"
GO = "layerlab-test/pkg-go:1"
RPM = "layerlab-test/pkg-rpm:1"
HOSTILE = "layerlab-test/pkg-hostile:1"
TRUNCATED = "layerlab-test/pkg-truncated:1"
SITE = "/usr/local/lib/python3.11/dist-packages"

PIP_PACKAGES = ["requests==2.31.0", "six==1.16.0"]
NPM_PACKAGES = ["express@4.18.2"]
MIRROR = "http://deb.debian.org/debian"


def missing() -> str | None:
    """Why these images cannot be built here, or None."""
    absent = [p for p in ("debootstrap", "go", "npm", "rpmbuild", "rpm") if shutil.which(p) is None]
    return f"needs {', '.join(absent)} (Debian packages in .ci/apt-packages.txt)" if absent else None


def debian_rootfs() -> Path:
    """A debootstrapped Debian 12 (minbase), made once and kept (it takes a minute or two)."""
    root = Path(os.environ.get("LAYERLAB_DEBIAN_ROOTFS", "/var/tmp/layerlab-test-cache/debian-bookworm"))
    done = root / ".layerlab-complete"
    if done.exists():
        return root
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(root), MIRROR],
                       capture_output=True, text=True, timeout=1200)
    if r.returncode != 0:
        raise DaemonError(f"debootstrap failed: {r.stderr[-2000:] or r.stdout[-2000:]}")
    done.write_text("ok\n")
    return root


def _build(daemon: Daemon, tag: str, context: Path, dockerfile: str) -> None:
    (context / "Dockerfile").write_text(textwrap.dedent(dockerfile).lstrip())
    daemon.docker("build", "--network=host", "-t", tag, str(context), timeout=1200)


def _go_binary(into: Path) -> Path:
    src = into / "gosrc"
    src.mkdir(parents=True)
    (src / "go.mod").write_text("module example.com/layerlab/hello\n\ngo 1.19\n")
    (src / "main.go").write_text('package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n')
    env = {**os.environ, "GOPATH": str(into / "gopath"), "GOCACHE": str(into / "gocache"), "CGO_ENABLED": "0"}
    subprocess.run(["go", "build", "-o", str(into / "hello"), "."], cwd=src, env=env, check=True,
                   capture_output=True, timeout=600)
    return into / "hello"


def _rpm_root(into: Path) -> Path:
    """A root holding an rpm database with one package installed by rpm itself."""
    top = into / "rpmbuild"
    for d in ("SPECS", "BUILD", "RPMS", "SOURCES", "SRPMS", "BUILDROOT"):
        (top / d).mkdir(parents=True, exist_ok=True)
    spec = top / "SPECS" / "hello.spec"
    spec.write_text(textwrap.dedent("""\
        Name: layerlab-hello
        Version: 1.2
        Release: 3
        Epoch: 1
        Summary: a test package
        License: MIT
        BuildArch: noarch
        %description
        test
        %install
        mkdir -p %{buildroot}/usr/share/layerlab-hello
        head -c 3000 /dev/zero > %{buildroot}/usr/share/layerlab-hello/data.bin
        echo hello > %{buildroot}/usr/share/layerlab-hello/README
        %files
        /usr/share/layerlab-hello
        """))
    subprocess.run(["rpmbuild", "--define", f"_topdir {top}", "-bb", str(spec)], check=True, capture_output=True,
                   timeout=600)
    rpm = next((top / "RPMS").rglob("*.rpm"))
    root = into / "rpmroot"
    root.mkdir()
    subprocess.run(["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", "--initdb"], check=True,
                   capture_output=True)
    subprocess.run(["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", "-i", "--nodeps", "--nosignature",
                    str(rpm)], check=True, capture_output=True)
    return root


def build_package_images(daemon: Daemon, workdir) -> dict[str, str]:
    """Build every image above on ``daemon``; return {tag: image ID}."""
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    rootfs = debian_rootfs()
    subprocess.run(f"tar -C {rootfs} --exclude=./.layerlab-complete -c . | docker -H {daemon.host} import - {DEBIAN}",
                   shell=True, check=True, capture_output=True, timeout=600)
    apt = "apt-get update && apt-get install -y --no-install-recommends"
    ctx = work / "deb"
    ctx.mkdir()
    _build(daemon, DEB, ctx, f"""
        FROM {DEBIAN}
        RUN {apt} curl ca-certificates && rm -rf /var/lib/apt/lists/*
        RUN {apt} gcc libc6-dev && rm -rf /var/lib/apt/lists/*
        RUN apt-get purge -y curl && apt-get autoremove -y
        """)
    ctx = work / "py"
    ctx.mkdir()
    # The wheels come from PyPI through the host's pip (containers here reach no index of their own).
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-cache-dir", "--only-binary=:all:",
                    "--python-version", "3.11", "-d", str(ctx / "wheels"), *PIP_PACKAGES],
                   check=True, capture_output=True, timeout=900)
    _build(daemon, PY, ctx, f"""
        FROM {DEBIAN}
        RUN {apt} python3-pip && rm -rf /var/lib/apt/lists/*
        COPY wheels /tmp/wheels
        RUN pip install --break-system-packages --no-index --find-links /tmp/wheels {' '.join(PIP_PACKAGES)}
        """)
    ctx = work / "hostile"
    ctx.mkdir()
    _build(daemon, HOSTILE, ctx, f"""
        FROM {PY}
        RUN printf '/../../etc/passwd\\n../../../etc/shadow\\n' >> /var/lib/dpkg/info/bash.list
        RUN printf '/etc/passwd,,\\n../../../../../../../../../../outside,,\\n' >> {SITE}/six-1.16.0.dist-info/RECORD
        RUN mkdir -p /app/node_modules/huge \\
            && head -c 8000000 /dev/zero | tr '\\0' ' ' > /app/node_modules/huge/package.json
        RUN mkdir -p /var/lib/rpm && mkfifo /var/lib/rpm/rpmdb.sqlite
        """)
    ctx = work / "truncated"
    ctx.mkdir()
    _build(daemon, TRUNCATED, ctx, f"""
        FROM {DEBIAN}
        RUN head -c 30000 /var/lib/dpkg/status > /tmp/status && cat /tmp/status > /var/lib/dpkg/status && rm /tmp/status
        """)
    ctx = work / "npm"
    (ctx / "app").mkdir(parents=True)
    (ctx / "app" / "package.json").write_text(json.dumps({"name": "layerlab-app", "version": "1.0.0", "private": True}))
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", *NPM_PACKAGES], cwd=ctx / "app", check=True,
                   capture_output=True, timeout=900)
    _build(daemon, NPM, ctx, f"""
        FROM {DEBIAN}
        COPY app /app
        """)
    ctx = work / "go"
    ctx.mkdir()
    _go_binary(ctx)
    _build(daemon, GO, ctx, f"""
        FROM {DEBIAN}
        COPY hello /usr/local/bin/hello
        """)
    ctx = work / "rpm"
    ctx.mkdir()
    root = _rpm_root(ctx)
    subprocess.run(f"tar -C {root} -c . | docker -H {daemon.host} import - {RPM}", shell=True, check=True,
                   capture_output=True, timeout=600)
    return {tag: daemon.docker("image", "inspect", "-f", "{{.Id}}", tag).stdout.strip()
            for tag in (DEBIAN, DEB, PY, NPM, GO, RPM, HOSTILE, TRUNCATED)}
