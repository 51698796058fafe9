"""Packages by image and by layer: read from the package databases in the layers themselves.

For every image, the databases each layer leaves visible (dpkg, rpm, apk, Python dist-info and
egg-info, node_modules package.json, Go build info) are parsed, so each package gets the layer that
installed it, the layer that last changed it, and its files in the merged view with their exact
bytes (beside the size its database declares). Files no package owns form their own group (what
the Dockerfile copied or built). Between one layer and the next, packages are added, removed or
changed version (``package_changes``). See docs/packages.md.
"""

from __future__ import annotations

import posixpath
import re
from collections import defaultdict

import numpy as np
import pandas as pd

from ..errors import IMAGE, OPTIONAL_IMAGE, OPTIONAL_TEXT, Expect, LayerlabError
from ..frames.inventory import OPTIONAL_SOURCE
from ..frames import schema
from ..sources import open_source
from . import package_dbs as dbs
from .layer_contents import GO, Missing, Want, read_layer, readable
from .merged import merged_from_files
from .stacking import chain_files, resolve
from .opening import analysis

ECOSYSTEMS = ("deb", "rpm", "apk", "python", "npm", "go-module")
#: Executables at least this large are looked at for Go build info (a Go binary is over a megabyte).
GO_MIN_SIZE = 256 << 10
_PRESENT_KINDS = ("file", "symlink", "hardlink", "char", "block", "fifo", "socket")


def _identity(p: dbs.Package) -> tuple:
    """What stays the same when a package changes version (a dist-info directory's name does not)."""
    if p.ecosystem in ("deb", "rpm"):
        return (p.ecosystem, p.name, p.architecture)
    if p.ecosystem == "apk":
        return (p.ecosystem, p.name)
    if p.ecosystem == "python":
        return (p.ecosystem, re.sub(r"[-_.]+", "-", p.name).lower(), posixpath.dirname(p.location))
    return (p.ecosystem, p.name, p.location)


class _Reads:
    """Database files' bytes by (layer, path), each read once per Inventory, and what could not be read."""

    def __init__(self, inv):
        self.inv = inv
        self.data: dict[tuple[str, str], bytes | Missing] = inv.cache.setdefault("package_db_bytes", {})

    def fetch(self, wants: dict[str, dict[str, Want]]) -> None:
        for lid, paths in wants.items():
            todo = {p: w for p, w in paths.items() if (lid, p) not in self.data}
            if todo:
                for p, got in read_layer(self.inv, lid, todo).items():
                    self.data[(lid, p)] = got

    def get(self, lid: str, path: str):
        return self.data.get((lid, path))


def _db_rows(files: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``files`` (with position) that are database files, with their ``db`` kind."""
    paths = files["path"].to_numpy(dtype=object)
    hint = np.fromiter(("dpkg" in p or "apk/db" in p or "rpm" in p or ".dist-info/" in p or ".egg-info" in p
                        or p.endswith("/package.json") for p in paths), dtype=bool, count=len(paths))
    cand = files[hint]
    kinds = cand["path"].map(dbs.db_kind)
    out = cand[kinds.notna().to_numpy()].copy()
    out["db"] = kinds[kinds.notna()].to_numpy()
    return out


def _hiders(files: pd.DataFrame, db_paths: set[str]) -> pd.DataFrame:
    """Rows that can hide a database file: whiteouts, opaque dirs and non-directories above one."""
    from .stacking import ancestor_closure

    above = ancestor_closure(db_paths) - db_paths
    kind = files["kind"].astype(object)
    mask = kind.isin(["whiteout", "opaque"]) | (files["path"].isin(above) & kind.isin(list(_PRESENT_KINDS)))
    return files[mask.to_numpy()]


class _ImagePackages:
    """Every package of one image, its per-layer history and its files."""

    def __init__(self, inv, image_id: str, reads: _Reads, skipped: list):
        self.inv, self.image_id, self.reads, self.skipped = inv, image_id, reads, skipped
        self.chain = inv.chain(image_id)
        self.files = chain_files(inv, self.chain)
        self.db = _db_rows(self.files)
        self.merged = merged_from_files(self.files) if len(self.files) else None

    # which files to read -----------------------------------------------------------------------
    def wants(self) -> dict[str, dict[str, Want]]:
        out: dict[str, dict[str, Want]] = defaultdict(dict)
        kinds = self.db["kind"].astype(object)
        odd = ~kinds.isin(["file", "dir", "whiteout", "opaque", "hardlink"]).to_numpy()
        for r in self.db[odd].itertuples(index=False):
            self._skip(r.layer_id, r.path, f"a {r.kind}, not a regular file: not read (never followed or waited on)")
        for r in self.db[(kinds == "file").to_numpy()].itertuples(index=False):
            if r.db == "deblist":
                continue  # the file lists of the top view only, below
            limit = dbs.MANIFEST_LIMIT if r.db in ("python", "npm") else dbs.DB_LIMIT
            out[r.layer_id][r.path] = Want(limit=limit)
        if self.merged is not None:
            m = self.merged
            lists = m[(m["kind"] == "file").to_numpy() & m["path"].str.startswith(dbs.DPKG_INFO).to_numpy()
                      & m["path"].str.endswith(".list").to_numpy()]
            for r in lists.itertuples(index=False):
                out[r.layer_id][r.path] = Want(limit=dbs.DB_LIMIT)
            for r in self._go_candidates().itertuples(index=False):
                out[r.layer_id].setdefault(r.path, Want(GO, limit=512 << 20))
        return out

    def _go_candidates(self) -> pd.DataFrame:
        m = self.merged
        execs = (m["entry_kind"] == "file").to_numpy() & (m["size"].to_numpy() >= GO_MIN_SIZE) \
            & ((m["mode"].to_numpy().astype(np.int64) & 0o111) != 0)
        return m[execs]

    # the packages each layer's view shows ---------------------------------------------------------
    def _parse(self, lid: str, path: str, db: str) -> list[dbs.Package]:
        key = ("parsed", lid, path)
        cache = self.inv.cache.setdefault("package_db_parsed", {})
        if key in cache:
            return cache[key]
        got = self.reads.get(lid, path)
        found: list[dbs.Package] = []
        if isinstance(got, Missing):
            self._skip(lid, path, got.reason)
        elif got is not None:
            try:
                if db == "deb":
                    found = dbs.parse_dpkg_status(got, path)
                elif db == "apk":
                    found = dbs.parse_apk_installed(got, path)
                elif db == "rpm":
                    found = dbs.parse_rpm_sqlite(got, path)
                elif db == "npm":
                    found = [p for p in [dbs.parse_package_json(got, path)] if p]
                elif db == "rpmold":
                    self._skip(lid, path, "rpm's Berkeley DB / ndb database (rpm before 4.16) is not read: no "
                                          "well-kept Python reader of it exists; rpm -qa inside the image lists it")
            except dbs.BadDatabase as e:
                self._skip(lid, path, str(e))
                found = e.partial
            except RecursionError:
                self._skip(lid, path, "nested too deeply to parse")
        cache[key] = found
        return found

    def _python(self, view: dict[str, str]) -> list[dbs.Package]:
        """Python packages of a view {path: providing layer}: one per dist-info/egg-info with metadata."""
        out = []
        for path, lid in view.items():
            if path.endswith(".dist-info/METADATA") or path.endswith(".egg-info/PKG-INFO") or \
                    (path.endswith(".egg-info") and dbs.db_kind(path) == "python"):
                location = path.rsplit("/", 1)[0] if not path.endswith(".egg-info") else path
                record_path = location + ("/RECORD" if location.endswith(".dist-info") else "/installed-files.txt")
                rlid = view.get(record_path)
                key = ("python", lid, path, rlid)
                cache = self.inv.cache.setdefault("package_db_parsed", {})
                if key not in cache:
                    meta = self.reads.get(lid, path)
                    record = self.reads.get(rlid, record_path) if rlid else None
                    cache[key] = None
                    if isinstance(meta, Missing):
                        self._skip(lid, path, meta.reason)
                    elif isinstance(meta, bytes):
                        if isinstance(record, Missing):
                            self._skip(rlid, record_path, record.reason)
                            record = None
                        try:
                            cache[key] = dbs.parse_python(meta, location, record)
                        except dbs.BadDatabase as e:
                            self._skip(lid, path, str(e))
                if cache[key] is not None:
                    out.append(cache[key])
        return out

    def _skip(self, lid, path, reason):
        self.skipped.append({"what": "package database", "id": lid, "path": path, "reason": reason})

    def states(self) -> list[dict[tuple, dbs.Package]]:
        """For each position of the chain, the packages its view shows, by identity."""
        db = self.db
        if db.empty:
            return [{} for _ in self.chain]
        paths = set(db["path"])
        rows = pd.concat([db.drop(columns="db"), _hiders(self.files, paths)], ignore_index=True)
        kinds = dict(zip(db["path"], db["db"]))
        changed = set(db["position"])
        out: list[dict] = []
        current: dict = {}
        for pos in range(len(self.chain)):
            if pos in changed or (rows["position"] == pos).any():
                visible = resolve(rows[rows["position"].to_numpy() <= pos], "oci")
                visible = visible[visible["kind"].astype(object).eq("file").to_numpy()
                                  & visible["path"].isin(paths).to_numpy()]
                view = dict(zip(visible["path"], visible["layer_id"]))
                current = {}
                for path, lid in view.items():
                    kind = kinds.get(path)
                    if kind in ("python", "deblist"):
                        continue
                    for p in self._parse(lid, path, kind):
                        current.setdefault(_identity(p), p)
                for p in self._python(view):
                    current.setdefault(_identity(p), p)
            out.append(current)
        return out

    def go_packages(self) -> list[tuple[dbs.Package, str]]:
        out = []
        if self.merged is None:
            return out
        for r in self._go_candidates().itertuples(index=False):
            got = self.reads.get(r.layer_id, r.path)
            if isinstance(got, bytes) and got:
                try:
                    out += [(p, r.layer_id) for p in dbs.parse_go_buildinfo(got, r.path)]
                except dbs.BadDatabase as e:
                    self._skip(r.layer_id, r.path, str(e))
        return out


#: Packages only a build needs (compilers, build tools, headers): deb, rpm and apk names.
BUILD_TIME = re.compile(
    r"^(build-essential|build-base|gcc|gcc-\d+|g\+\+|g\+\+-\d+|gcc-c\+\+|cpp|cpp-\d+|clang|clang-\d+|make|cmake|"
    r"autoconf|automake|libtool|pkg-config|pkgconf|dpkg-dev|binutils|binutils-.+|kernel-headers|glibc-headers|"
    r"linux-libc-dev|libc-dev-bin|.+-dev|.+-devel|.+-headers)$")


def build_package_files(inv, image_id: str) -> pd.Series:
    """Paths of ``image_id`` owned by build-time packages (``BUILD_TIME``), mapped to the package name."""
    if "package_frames" in inv.cache:
        pf = inv.package_files
    else:  # this image only (bloat looks at one image; the source's frames would stack every image)
        kept = inv.cache.setdefault("package_files_of", {})
        if image_id not in kept:
            kept[image_id] = _compute(inv, [image_id])["package_files"]
        pf = kept[image_id]
    pf = pf.loc[(pf["image_id"] == image_id).to_numpy() & pf["ecosystem"].isin(["deb", "rpm", "apk"]).to_numpy()]
    pf = pf.loc[pf["name"].astype(object).map(lambda n: bool(BUILD_TIME.match(n))).to_numpy(dtype=bool)]
    return pd.Series(pf["name"].to_numpy(dtype=object), index=pf["path"].to_numpy(dtype=object))


def _symlink_resolver(merged: pd.DataFrame):
    """A function giving the path the merged view stores ``path`` at, following symlinked directories
    (``/bin`` -> ``usr/bin``) of the view only (image paths, lexically: nothing outside is looked at)."""
    links = merged[(merged["kind"] == "symlink").to_numpy()]
    targets = dict(zip(links["path"], links["link_target"]))
    kinds = dict(zip(merged["path"], merged["kind"]))

    def resolve_dir(path: str, depth: int = 0) -> str:
        if depth > 40 or path == "/":
            return path
        parent, _, name = path.rpartition("/")
        parent = resolve_dir(parent or "/", depth + 1)
        here = (parent.rstrip("/") + "/" + name)
        target = targets.get(here)
        if target is None:
            return here
        nxt = dbs.image_path(parent if not target.startswith("/") else "/", target)
        return resolve_dir(nxt, depth + 1) if nxt else here

    def canonical(path: str) -> str:
        if path in kinds:
            return path
        parent, _, name = path.rpartition("/")
        return resolve_dir(parent or "/").rstrip("/") + "/" + name

    return canonical


def _package_paths(pkgs: list, merged: pd.DataFrame) -> list[list[int]]:
    """For each package, the rows of the merged view (not directories) it lists, each once."""
    canonical = _symlink_resolver(merged)
    not_dir = (merged["kind"] != "dir").to_numpy()
    row_of = {p: i for i, p in enumerate(merged["path"].to_numpy(dtype=object)) if not_dir[i]}
    order = np.argsort(merged["path"].to_numpy(dtype=object).astype(str), kind="stable")
    sorted_paths = merged["path"].to_numpy(dtype=object).astype(str)[order]
    out = []
    for p, _, _ in pkgs:
        rows = dict.fromkeys(r for f in p.files if (r := row_of.get(canonical(f))) is not None)
        if p.tree:
            lo = np.searchsorted(sorted_paths, p.tree + "/", side="left")
            hi = np.searchsorted(sorted_paths, p.tree + "0", side="left")
            for k in range(lo, hi):
                if "/node_modules/" not in sorted_paths[k][len(p.tree):] and not_dir[order[k]]:
                    rows.setdefault(int(order[k]))
        out.append(list(rows))
    return out


def _installed_and_changed(states, identity, version) -> tuple[int, int]:
    top = len(states) - 1
    installed = changed = top
    for pos in range(top, -1, -1):
        p = states[pos].get(identity)
        if p is None:
            break
        installed = pos
        if p.version == version:
            changed = pos
    return installed, changed


def _compute(inv, image_ids=None) -> dict[str, pd.DataFrame]:
    reads = _Reads(inv)
    skipped: list[dict] = []
    ok, why = readable(inv)
    ids = inv.images["image_id"] if image_ids is None else image_ids
    per_image = [_ImagePackages(inv, iid, reads, skipped) for iid in ids]
    wants: dict[str, dict[str, Want]] = defaultdict(dict)
    for ip in per_image:
        for lid, w in ip.wants().items():
            wants[lid].update(w)
    if not ok and wants:
        skipped.append({"what": "package database", "id": "", "path": inv.source, "reason": why})
    else:
        reads.fetch(wants)
    pkg_rows, file_rows, change_rows = [], [], []
    for ip in per_image:
        if ip.merged is None:
            continue
        if not ok:
            continue
        states = ip.states()
        final = states[-1] if states else {}
        chain = ip.chain
        pkgs: list[tuple[dbs.Package, int, int]] = []
        listed = {}
        for ident, p in final.items():
            installed, changed = _installed_and_changed(states, ident, p.version)
            if p.ecosystem == "deb" and not p.files:
                p = _with_dpkg_files(ip, p, listed)
            pkgs.append((p, installed, changed))
        for p, lid in ip.go_packages():
            pos = chain.index(lid) if lid in chain else len(chain) - 1
            pkgs.append((p, pos, pos))
        m = ip.merged
        pkgs.sort(key=lambda t: ECOSYSTEMS.index(t[0].ecosystem))  # a shared file's owner: the OS package first
        listed = _package_paths(pkgs, m)
        paths = m["path"].to_numpy(dtype=object)
        sizes = m["size"].to_numpy()
        positions = m["position"].to_numpy()
        # A file two databases list (Debian's python3-pip and the pip dist-info it ships) counts in the
        # bytes of both; in package_files it belongs to the first of them.
        own = np.full(len(m), -1, dtype=np.int64)
        for i in range(len(pkgs) - 1, -1, -1):
            own[listed[i]] = i
        counts = [len(rows) for rows in listed]
        total = [int(sizes[rows].sum()) for rows in listed]
        top = [int(positions[rows].max()) if rows else -1 for rows in listed]
        not_dir = (m["kind"] != "dir").to_numpy()
        for i, (p, installed, changed) in enumerate(pkgs):
            changed = max(changed, int(top[i]))
            pkg_rows.append({"image_id": ip.image_id, "ecosystem": p.ecosystem, "name": p.name, "version": p.version,
                             "architecture": p.architecture, "location": p.location,
                             "layer_id": chain[installed], "position": installed,
                             "changed_layer_id": chain[changed], "changed_position": changed,
                             "files": int(counts[i]), "bytes": int(total[i]), "declared_size": p.declared_size})
        sel = not_dir
        owned_pkg = [pkgs[i][0] if i >= 0 else None for i in own[sel]]
        file_rows.append(pd.DataFrame({
            "image_id": ip.image_id, "path": paths[sel], "kind": m["kind"].to_numpy()[sel], "size": sizes[sel],
            "layer_id": m["layer_id"].to_numpy()[sel], "position": positions[sel],
            "ecosystem": [p.ecosystem if p else None for p in owned_pkg],
            "name": [p.name if p else None for p in owned_pkg],
            "version": [p.version if p else None for p in owned_pkg]}))
        change_rows += _changes(ip.image_id, chain, states)
    if skipped:  # once each: images sharing a layer meet its databases again
        inv.note_skipped(list({(r["id"], r["path"], r["reason"]): r for r in skipped}.values()))
    files = pd.concat(file_rows, ignore_index=True) if file_rows else schema.empty("package_files")
    pkg = schema.from_rows("packages", pkg_rows) if pkg_rows else schema.empty("packages")
    if len(pkg):
        pkg = pkg.sort_values(["image_id", "bytes", "ecosystem", "name"], ascending=[True, False, True, True],
                              kind="stable").reset_index(drop=True)
    return {"packages": pkg, "package_files": schema.coerce(files, "package_files") if len(files) else files,
            "package_changes": schema.from_rows("package_changes", change_rows) if change_rows
            else schema.empty("package_changes")}


def _with_dpkg_files(ip: _ImagePackages, p: dbs.Package, listed: dict) -> dbs.Package:
    m = ip.merged
    if not listed:
        lists = m[m["path"].str.startswith(dbs.DPKG_INFO).to_numpy() & m["path"].str.endswith(".list").to_numpy()]
        listed.update(dict(zip(lists["path"], lists["layer_id"])))
        listed["_"] = True
    for name in (f"{p.name}:{p.architecture}.list", f"{p.name}.list"):
        path = dbs.DPKG_INFO + name
        if path in listed:
            got = ip.reads.get(listed[path], path)
            if isinstance(got, bytes):
                p.files = dbs.parse_dpkg_list(got)
            elif isinstance(got, Missing):
                ip._skip(listed[path], path, got.reason)
            break
    return p


def _natural(v: str) -> list:
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.findall(r"\d+|[A-Za-z]+|~", v)]


_SPEC = re.compile(r"^\s*(<=|>=|==|!=|<|>|=)?\s*([0-9A-Za-z][^\s,]*)\s*$")


class VersionSpecError(LayerlabError, ValueError):
    """A version condition that is not one (``find_package``'s ``version_spec``)."""


def version_matches(version: str, spec: str | None) -> bool:
    """Whether ``version`` meets ``spec``: comma-separated conditions such as ``<3.0.13`` or
    ``>=1.2,<2`` (``=`` or none: equal). Versions compare by their runs of digits as numbers, then
    letters (dpkg's and rpm's ``~`` and epochs are compared as text around the numbers)."""
    if spec is None or not spec.strip():
        return True
    for part in spec.split(","):
        m = _SPEC.match(part)
        if not m:
            raise VersionSpecError(f"version condition {part!r} is not like <3.0.13, >=1.2 or ==1.0 "
                                   "(conditions are separated by commas)")
        op, want = m.group(1) or "==", m.group(2)
        a, b = _natural(version), _natural(want)
        ok = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "=": a == b, "!=": a != b}[op]
        if not ok:
            return False
    return True


def _changes(image_id: str, chain: list[str], states: list[dict]) -> list[dict]:
    out = []
    before: dict = {}
    for pos, now in enumerate(states):
        if now is before:
            continue
        for ident in now.keys() | before.keys():
            a, b = before.get(ident), now.get(ident)
            if a is not None and b is not None and a.version == b.version:
                continue
            change = "added" if a is None else "removed" if b is None else \
                ("upgraded" if _natural(b.version) > _natural(a.version) else "downgraded")
            p = b or a
            out.append({"image_id": image_id, "position": pos, "layer_id": chain[pos], "ecosystem": p.ecosystem,
                        "name": p.name, "change": change, "version_before": a.version if a else None,
                        "version_after": b.version if b else None})
        before = now
    return out


def derived(inv, name: str) -> pd.DataFrame:
    """The Inventory's derived frame ``name`` (packages, package_files, package_changes), computed once."""
    if "package_frames" not in inv.cache:
        inv.cache["package_frames"] = _compute(inv)
    return inv.cache["package_frames"][name]


@analysis(image=OPTIONAL_IMAGE, ecosystem=OPTIONAL_TEXT,
          sort=Expect("'bytes' or 'name'", test=lambda v: v in ("bytes", "name")))
def packages(source, image=None, *, ecosystem=None, sort: str = "bytes") -> pd.DataFrame:
    """The packages of ``image`` (default: every image), one row per (image, package).

    Columns as ``layerlab.describe("packages")`` says. ``ecosystem`` keeps one (deb, rpm, apk,
    python, npm, go-module); ``sort`` is ``"bytes"`` (largest first) or ``"name"``.
    """
    inv = source
    df = inv.packages
    if image is not None:
        df = df[df["image_id"] == inv.image_id(image)]
    if ecosystem is not None:
        df = df[df["ecosystem"] == ecosystem]
    by_bytes = (["bytes", "ecosystem", "name"], [False, True, True])
    keys = by_bytes if sort == "bytes" else (["ecosystem", "name"], [True, True])
    return df.sort_values(keys[0], ascending=keys[1], kind="stable").reset_index(drop=True)


@analysis(image=IMAGE)
def package_sizes(source, image) -> pd.DataFrame:
    """Bytes of ``image`` by ecosystem, the files no package owns as ``(no package)``."""
    inv = source
    pf = inv.package_files
    pf = pf[pf["image_id"] == inv.image_id(image)]
    eco = pf["ecosystem"].astype(object).fillna("(no package)")
    out = pf.assign(ecosystem=eco).groupby("ecosystem")["size"].agg(["sum", "count"])
    return out.rename(columns={"sum": "bytes", "count": "files"}).sort_values("bytes", ascending=False).reset_index()


@analysis(image=IMAGE)
def layer_packages(source, image) -> pd.DataFrame:
    """What each layer of ``image`` did to its packages: added, removed, upgraded, downgraded."""
    inv = source
    pc = inv.package_changes
    return pc[pc["image_id"] == inv.image_id(image)].reset_index(drop=True)


@analysis(image=IMAGE)
def layer_package_counts(source, image) -> pd.DataFrame:
    """Per layer of ``image`` (``position``, ``created_by``): how many packages it added, removed,
    upgraded and downgraded, and the names it added (``added_names``)."""
    inv = source
    image_id = inv.image_id(image)
    pc = layer_packages(inv, image_id)
    il = inv.image_layers[inv.image_layers["image_id"] == image_id].sort_values("position")
    out = il[["position", "created_by"]].reset_index(drop=True)
    for change in ("added", "removed", "upgraded", "downgraded"):
        counts = pc[pc["change"] == change].groupby("position").size()
        out[change] = out["position"].map(counts).fillna(0).astype("int64")
    names = pc[pc["change"] == "added"].groupby("position")["name"].agg(lambda s: sorted(s))
    out["added_names"] = [names.get(p, []) for p in out["position"]]
    return out


@analysis(a=IMAGE, b=IMAGE, source_b=OPTIONAL_SOURCE)
def diff_packages(source, a, b, *, source_b=None) -> pd.DataFrame:
    """Packages that differ between images ``a`` and ``b``: status added, removed or changed (version
    or bytes), with versions and bytes on both sides and ``bytes_delta`` (b - a)."""
    inv = source
    inv_b = inv if source_b is None else open_source(source_b)
    ia, ib = inv.image_id(a), inv_b.image_id(b)
    key = ["ecosystem", "name", "architecture", "location"]

    def side(i, iid):
        p = i.packages
        p = p[p["image_id"] == iid][key + ["version", "bytes"]].copy()
        p["location"] = p["location"].map(_location_key)
        return p.astype({"architecture": object}).fillna({"architecture": ""})

    pa_, pb = side(inv, ia), side(inv_b, ib)
    m = pa_.merge(pb, on=key, how="outer", suffixes=("_a", "_b"), indicator=True)
    m["status"] = m["_merge"].map({"left_only": "removed", "right_only": "added", "both": "changed"}).astype(object)
    same = (m["status"] == "changed") & (m["version_a"] == m["version_b"]) & (m["bytes_a"] == m["bytes_b"])
    m = m[~same.to_numpy()].drop(columns="_merge")
    m["bytes_a"] = m["bytes_a"].fillna(0).astype("int64")
    m["bytes_b"] = m["bytes_b"].fillna(0).astype("int64")
    m["bytes_delta"] = m["bytes_b"] - m["bytes_a"]
    cols = ["status", "ecosystem", "name", "version_a", "version_b", "bytes_a", "bytes_b", "bytes_delta"]
    return m[cols].sort_values(["status", "ecosystem", "name"], kind="stable").reset_index(drop=True)


def _location_key(location: str) -> str:
    # a dist-info directory is named by the version: compare packages by the directory holding it
    return posixpath.dirname(location) if location.endswith((".dist-info", ".egg-info")) else location


def packages_json(inv, image_id: str, df: pd.DataFrame) -> dict:
    """The JSON ``layerlab packages --json`` prints."""
    tags = inv.images.set_index("image_id").loc[image_id, "tags"]
    rows = [{"ecosystem": r.ecosystem, "name": r.name, "version": r.version, "layer": r.layer_id,
             "files": int(r.files), "bytes": int(r.bytes),
             "declared_size": None if pd.isna(r.declared_size) else int(r.declared_size)}
            for r in df.itertuples(index=False)]
    return {"image": tags[0] if len(tags) else image_id, "packages": rows}
