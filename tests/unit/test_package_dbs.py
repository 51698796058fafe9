"""The package database parsers on databases the package managers themselves wrote: this machine's
dpkg status (checked against dpkg-query), an rpm database made by Debian's rpm, a Go binary built
with go build; and on the same databases cut short or damaged."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from layerlab.analyses import package_dbs as dbs
from layerlab.analyses.packages import version_matches
from harness.tiers import missing, require

STATUS = Path("/var/lib/dpkg/status")


def _dpkg_query() -> set[tuple[str, str, str]]:
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Version}\t${Architecture}\t${db:Status-Abbrev}\n"],
                         capture_output=True, text=True, check=True).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    return {tuple(r[:3]) for r in rows if r[3].startswith(("ii", "iU", "iF"))}


def test_dpkg_status_as_dpkg_query_lists_it():
    require(missing(programs=("dpkg-query",)) or (None if STATUS.is_file() else "no dpkg status here"))
    got = dbs.parse_dpkg_status(STATUS.read_bytes(), str(STATUS))
    assert {(p.name, p.version, p.architecture) for p in got} == _dpkg_query()
    assert all(p.declared_size is None or p.declared_size % 1024 == 0 for p in got)


def test_dpkg_status_cut_short_keeps_whole_stanzas():
    require(None if STATUS.is_file() else "no dpkg status here")
    data = STATUS.read_bytes()
    cut = data[: data.index(b"\nVersion:", len(data) // 2)]  # in the middle of a stanza, before its Version
    with pytest.raises(dbs.BadDatabase, match="cut short") as e:
        dbs.parse_dpkg_status(cut, str(STATUS))
    whole = dbs.parse_dpkg_status(data, str(STATUS))
    assert 0 < len(e.value.partial) < len(whole)
    assert [p.name for p in e.value.partial] == [p.name for p in whole[: len(e.value.partial)]]


def test_dpkg_list_drops_lines_that_climb():
    data = b"/.\n/usr\n/usr/bin/tool\n/../../etc/passwd\n../../etc/shadow\n/usr/../../x\n"
    assert dbs.parse_dpkg_list(data) == ["/usr", "/usr/bin/tool"]


def test_image_paths_never_climb_above_root():
    assert dbs.image_path("/usr/lib/python3/dist-packages", "../../../bin/pip") == "/usr/bin/pip"
    assert dbs.image_path("/usr/lib/python3/dist-packages", "../../../../../outside") is None
    assert dbs.image_path("/site", "/etc/passwd") == "/etc/passwd"  # an image path, looked up in the files frame
    assert dbs.image_path("/site", "a\x00b") is None


@pytest.mark.parametrize("version,spec,expected", [
    ("3.0.11-1~deb12u2", "<3.0.13", True), ("3.0.13-1", "<3.0.13", False), ("3.0.13", "==3.0.13", True),
    ("2.36-9+deb12u4", ">=2.36,<2.37", True), ("2.37", ">=2.36,<2.37", False), ("1.10", ">1.9", True),
    ("1.0", None, True), ("1.0", "!=1.0", False),
])
def test_version_conditions(version, spec, expected):
    assert version_matches(version, spec) is expected


def test_version_condition_that_is_no_condition():
    with pytest.raises(ValueError, match="not like"):
        version_matches("1.0", "<")


def _rpmdb(tmp: Path) -> Path:
    top = tmp / "rpmbuild"
    (top / "SPECS").mkdir(parents=True)
    spec = top / "SPECS" / "t.spec"
    spec.write_text(textwrap.dedent("""\
        Name: layerlab-unit
        Version: 2.0
        Release: 1
        Summary: t
        License: MIT
        BuildArch: noarch
        %description
        t
        %install
        mkdir -p %{buildroot}/opt/t
        head -c 1234 /dev/zero > %{buildroot}/opt/t/data
        %files
        /opt/t
        """))
    subprocess.run(["rpmbuild", "--define", f"_topdir {top}", "-bb", str(spec)], check=True, capture_output=True)
    root = tmp / "root"
    root.mkdir()
    subprocess.run(["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", "--initdb"], check=True,
                   capture_output=True)
    subprocess.run(["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", "-i", "--nodeps", "--nosignature",
                    str(next(top.rglob("*.rpm")))], check=True, capture_output=True)
    return root / "var/lib/rpm/rpmdb.sqlite"


def test_rpm_sqlite_as_rpm_wrote_it_and_damaged(tmp_path):
    require(missing(programs=("rpm", "rpmbuild")))
    data = _rpmdb(tmp_path).read_bytes()
    got = dbs.parse_rpm_sqlite(data, "/var/lib/rpm/rpmdb.sqlite")
    assert [(p.name, p.version, p.architecture, p.declared_size, p.files) for p in got] == [
        ("layerlab-unit", "2.0-1", "noarch", 1234, ["/opt/t", "/opt/t/data"])]
    for bad in (data[: len(data) // 3], b"SQLite format 3\x00" + b"\xff" * 200, b"not sqlite at all"):
        with pytest.raises(dbs.BadDatabase):
            dbs.parse_rpm_sqlite(bad, "/var/lib/rpm/rpmdb.sqlite")


def test_go_build_info_of_a_real_binary(tmp_path):
    require(missing(programs=("go",)))
    src = tmp_path / "src"
    src.mkdir()
    (src / "go.mod").write_text("module example.com/unit/hello\n\ngo 1.19\n")
    (src / "main.go").write_text('package main\n\nfunc main() { println("hi") }\n')
    env = {**os.environ, "GOPATH": str(tmp_path / "gopath"), "GOCACHE": str(tmp_path / "gocache"), "CGO_ENABLED": "0"}
    subprocess.run(["go", "build", "-o", str(tmp_path / "hello"), "."], cwd=src, env=env, check=True,
                   capture_output=True)
    data = (tmp_path / "hello").read_bytes()
    found = dbs.elf_section(data[:64], lambda off, n: data[off:off + n])
    assert found is not None
    got = dbs.parse_go_buildinfo(data[found[0]:found[0] + found[1]], "/hello")
    version = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, env=env).stdout.strip()
    assert {(p.name, p.version) for p in got} == {("example.com/unit/hello", "(devel)"), ("stdlib", version)}
    assert dbs.elf_section(b"\x7fELF" + b"\0" * 60, lambda off, n: b"") is None  # no section table
    with pytest.raises(dbs.BadDatabase, match="cut short"):  # a string length whose bytes end first
        dbs.parse_go_buildinfo(b"\xff Go buildinf:" + b"\x08\x02" + b"\0" * 16 + b"\xff", "/x")


def test_package_json_that_is_not_one():
    with pytest.raises(dbs.BadDatabase):
        dbs.parse_package_json(b"{" * 10, "/app/package.json")
    with pytest.raises(dbs.BadDatabase):
        dbs.parse_package_json(b"[1, 2]", "/app/package.json")
    assert dbs.parse_package_json(b'{"name": "x"}', "/app/package.json") is None
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(dbs.BadDatabase):
        dbs.parse_package_json(deep, "/app/package.json")
