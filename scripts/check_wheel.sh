#!/usr/bin/env bash
# Install layerlab as a user does and run what the README promises, outside the checkout.
#
# Builds the sdist and the wheel (`python -m build` makes the wheel from the sdist, so both must carry
# the notebooks and the sample), installs the wheel WITHOUT extras into a fresh venv, imports every
# layerlab module (a module importing something the declared dependencies do not provide fails here),
# then from an empty folder runs summary, report (all notebooks), check with a .dive-ci, diff on a
# pair with added, removed and changed paths (text and --json), notebooks, and ll.sample().
#
#   bash scripts/check_wheel.sh            # PYTHON=python3 by default; KEEP=1 keeps the temp folder
#   CONSTRAINTS=.ci/constraints-min.txt bash scripts/check_wheel.sh   # the same on the declared minimums
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
WORK="$(mktemp -d -t layerlab-wheel-XXXXXX)"
CONSTRAINTS="${CONSTRAINTS:+$(realpath "$CONSTRAINTS")}"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT
step() { printf '\n== %s\n' "$*"; }

step "build the sdist and the wheel into $WORK/dist"
"$PYTHON" -m venv "$WORK/build-venv"
"$WORK/build-venv/bin/pip" install --quiet build
"$WORK/build-venv/bin/python" -m build --outdir "$WORK/dist" "$REPO" >"$WORK/build.log" 2>&1 || {
    tail -40 "$WORK/build.log"; exit 1; }
ls -l "$WORK/dist"

step "what the wheel and the sdist carry"
"$WORK/build-venv/bin/python" - "$WORK/dist" <<'EOF'
import sys, tarfile, zipfile
from pathlib import Path

dist = Path(sys.argv[1])
wheel = zipfile.ZipFile(next(dist.glob("*.whl"))).namelist()
sdist = tarfile.open(next(dist.glob("*.tar.gz"))).getnames()
problems = []
for name, files, prefix in (("wheel", wheel, "layerlab/_bundled/"), ("sdist", sdist, "")):
    if name == "sdist":
        files = ["/".join(f.split("/")[1:]) for f in files]  # drop layerlab-<version>/
    notebooks = [f for f in files if f.startswith(f"{prefix}notebooks/") and f.endswith(".ipynb")]
    samples = {f.split("/")[-2] for f in files if f.startswith(f"{prefix}data/sample-") and f.endswith("meta.json")}
    drivers = [f for f in files if f.startswith(f"{prefix}data/drivers/")]
    capture = [f for f in files if f.startswith(f"{prefix}data/capture/")]
    harness = [f for f in files if "harness/" in f and name == "wheel"]
    print(f"{name}: {len(notebooks)} notebooks, samples {sorted(samples)}, {len(drivers)} driver files, "
          f"{len(capture)} capture files, {len(harness)} harness files")
    if len(notebooks) < 6 or len(samples) != 4 or len(drivers) < 2:
        problems.append(f"the {name} lacks notebooks, samples or driver measurements")
    if capture or harness:
        problems.append(f"the {name} carries {capture[:1] or harness[:1]}: data/capture and the test harness stay out")
if problems:
    sys.exit("\n".join(problems))
EOF

step "install the wheel, no extras, into a fresh venv${CONSTRAINTS:+ (constraints: $CONSTRAINTS)}"
"$PYTHON" -m venv "$WORK/venv"
BIN="$WORK/venv/bin"
"$BIN/pip" install --quiet --upgrade pip
"$BIN/pip" install --quiet ${CONSTRAINTS:+-c "$CONSTRAINTS"} "$(ls "$WORK"/dist/*.whl)"
"$BIN/pip" list --format=freeze | grep -iE '^(pandas|pyarrow|numpy|matplotlib|pyyaml)=='

# From here on nothing may come from the checkout: an empty folder, no PYTHONPATH.
mkdir -p "$WORK/user"
cd "$WORK/user"
unset PYTHONPATH LAYERLAB_DATA LAYERLAB_NOTEBOOKS

step "import every layerlab module"
"$BIN/python" - <<'EOF'
import importlib, pkgutil, sys
import layerlab

if "site-packages" not in layerlab.__file__:
    sys.exit(f"layerlab came from {layerlab.__file__}, not the installed wheel")
failed, count = [], 0
for mod in pkgutil.walk_packages(layerlab.__path__, "layerlab.", onerror=lambda name: failed.append((name, sys.exc_info()[1]))):
    if mod.name.endswith(".__main__"):  # runs the command when imported
        continue
    try:
        importlib.import_module(mod.name)
        count += 1
    except Exception as e:  # noqa: BLE001 - report every module that does not import
        failed.append((mod.name, e))
for name, e in failed:
    print(f"FAIL import {name}: {type(e).__name__}: {e}")
print(f"{count} modules imported")
sys.exit(1 if failed else 0)
EOF

step "layerlab summary sample"
"$BIN/layerlab" summary sample

step "python -c 'import layerlab as ll; ll.sample().files'"
"$BIN/python" -c "import layerlab as ll; f = ll.sample().files; assert len(f), 'no files'; print(len(f), 'files')"

step "layerlab check sample layerlab/bloat:1 with a .dive-ci here"
cat >.dive-ci <<'EOF'
rules:
  lowestEfficiency: 0.5
  highestWastedBytes: 20MB
  highestUserWastedPercent: 0.9
EOF
# bloat:1 breaks highestUserWastedPercent on purpose (exit 1); the rules must come from .dive-ci.
set +e
"$BIN/layerlab" check sample layerlab/bloat:1 | tee check.txt
rc=$?
set -e
[ "$rc" -le 1 ] || { echo "check exited $rc"; exit 1; }
grep -q "rules from .dive-ci" check.txt

step "layerlab report sample -o reports (every notebook)"
"$BIN/layerlab" report sample -o reports
want="$("$BIN/python" -c "from layerlab.reports import notebooks; print(len(notebooks()))")"
got="$(find reports -maxdepth 1 -name '[0-9]*.html' | wc -l)"
echo "$got of $want notebooks rendered"
[ "$got" -eq "$want" ] && [ "$want" -ge 6 ]

step "layerlab notebooks mine"
"$BIN/layerlab" notebooks mine
# the report's notebooks and the fleet notebook (`layerlab fleet report` renders it)
[ "$(find mine -name '*.ipynb' | wc -l)" -eq "$((want + 1))" ]

# Last, so a failure here (the pandas-3 diff crash of issue 13) does not hide the steps above.
step "layerlab diff on a pair with added, removed and changed paths"
# layerlab/app:1 against its ancestor with three layers (big.bin and scratch.bin, before the
# overwrite and the delete): /opt/app added, scratch.bin removed, big.bin changed. Picked by the
# images' parent chain, since image IDs change with every capture.
OLD="$("$BIN/python" -c "
import layerlab as ll
images = ll.sample().images.set_index('image_id')
image = next(i for i, tags in images['tags'].items() if 'layerlab/app:1' in list(tags))
while images.loc[image, 'layer_count'] > 3:
    image = images.loc[image, 'parent']
print(image)
")"
"$BIN/layerlab" diff sample "$OLD" layerlab/app:1 | tee diff.txt
for status in added removed changed; do
    grep -qE "^\s+$status\s+[1-9]" diff.txt || { echo "diff has no $status paths"; exit 1; }
done
"$BIN/layerlab" diff sample "$OLD" layerlab/app:1 --json >diff.json
"$BIN/python" -c "
import json
totals = json.load(open('diff.json'))['totals']
print('diff --json totals:', totals)
assert all(totals[s]['paths'] > 0 for s in ('added', 'removed', 'changed')), totals
"

step "the wheel works outside the checkout: all steps passed"
