"""Tar header edge cases (tests/harness/taredges.py) read by layerlab as docker's own reader, Go's
archive/tar, reads them, compared with GNU tar and Python's tarfile on the same bytes.

For each case the three readers run for real; where all three agree layerlab must say the same,
and where they disagree layerlab follows Go. ``FOLLOWS`` is the table docs/formats.md shows
("Tar headers: whose reading layerlab follows"): the test checks it against what the tools do, so
the docs stay true. Every reading path of layerlab is checked: the C header walk over a file and
over a stream, the Python parser, and a tar-split file of the same bytes.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import io
import json
import tarfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import taredges
from harness.tiers import missing, require
from layerlab.errors import ArchiveError
from layerlab.sources.layerfiles import tarstream
from layerlab.sources.layerfiles.tarheader import BLOCK, EXTENSION_TYPES, clean_path
from layerlab.sources.layerfiles.tarsplit import TARSPLIT_ERRORS, read_tarsplit

#: case -> the readers that read it as Go does (docs/formats.md has the same table)
FOLLOWS = {
    "longname_nul": {"gnu", "python"},
    "pax_twice": {"gnu"},
    "pax_path_nul": set(),
    "pax_mtime_letters": set(),
    "pax_mtime_underscore": set(),
    "pax_mtime_space": set(),
    "pax_mtime_plus": {"python"},
    "pax_mtime_empty": set(),
    "pax_mtime_frac_sign": set(),
    "pax_mtime_no_secs": set(),
    "pax_mtime_negative": {"python"},  # GNU tar reads -1.5 as -1 + 0.5
    "pax_then_end": {"gnu"},
    "pax_then_eof": {"gnu"},
    "longname_and_pax": {"python"},
    "pax_and_longname": set(),
}


@pytest.fixture(scope="module")
def gotar(tmp_path_factory):
    require(missing(programs=("go", "tar")))
    return taredges.build_gotar(tmp_path_factory.mktemp("gotar"))


def _gnu(path) -> tuple[list, bool]:
    """GNU tar's entries as (name, mtime in ns, uid); ok is False when it exits with an error."""
    out = taredges.gnu_tar(path)
    entries = []
    for line in out["lines"]:
        _, owner, _, day, clock, name = line.split(maxsplit=5)
        whole, _, frac = clock.partition(".")
        t = dt.datetime.fromisoformat(f"{day}T{whole}+00:00")
        ns = int(t.timestamp()) * 1_000_000_000 + int((frac + "000000000")[:9])  # the fraction is always added
        entries.append((name, ns, int(owner.split("/")[0])))
    return entries, out["rc"] == 0


def _python(path) -> tuple[list, bool]:
    out = taredges.python_tar(path)
    if "error" in out:
        return [], False
    return [(n, round(m * 1_000_000_000), u) for n, m, u in out["entries"]], True


def _go(exe, path) -> tuple[list, bool]:
    out = taredges.go_tar(exe, path)
    return [(e["name"], e["mtime_ns"], e["uid"]) for e in out["entries"]], "error" not in out


def _go_rows(out: dict) -> tuple[list, bool]:
    """Go's entries as layerlab's rows show them: (path, mtime in µs floored as the files frame keeps it, uid, link)."""
    if "error" in out:
        return [], False
    link = {"2": lambda e: e["linkname"], "1": lambda e: clean_path(e["linkname"])}
    return [(clean_path(e["name"]), e["mtime_ns"] // 1000, e["uid"], link[e["type"]](e) if e["type"] in link else None)
            for e in out["entries"] if e["type"] not in "gxLK" and clean_path(e["name"]) != "/"], True


def _layerlab(data: bytes, how: str, monkeypatch, tmp_path) -> tuple[list, bool]:
    """layerlab's rows (path, mtime µs, uid, link), or ([], False) for an ArchiveError."""
    with monkeypatch.context() as m:
        if how == "python":
            m.setattr(tarstream, "_tarscan", None)
        try:
            if how == "file":
                (tmp_path / "layer.tar").write_bytes(data)
                with open(tmp_path / "layer.tar", "rb") as f:
                    read = tarstream.read_layer_unverified(f, len(data), "L", "edge.tar")
            else:
                read = tarstream.read_layer(io.BytesIO(data).read, "L", "edge.tar")
        except ArchiveError as e:
            assert "docker's reader" in str(e) and "edge.tar" in str(e), e  # says what, and by whose rules
            return [], False
    return list(zip(read.rows.path, read.rows.mtime_us, read.rows.uid, read.rows.link)), True


def _tarsplit(data: bytes, names: list[str], path) -> None:
    """The tar-split file docker would keep for ``data`` (docs/formats.md, "tar-split"): per entry a
    segment of the bytes before its contents (the previous file's padding, its extension headers,
    its header block) and a file entry with its name (``names``: as Go read them, as tar-split's
    disassembler writes them) and size; then what follows the last entry."""
    lines, pos, start = [], 0, 0
    while pos + BLOCK <= len(data) and data[pos:pos + BLOCK].count(0) != BLOCK:
        info = tarfile.TarInfo.frombuf(data[pos:pos + BLOCK], "utf-8", "surrogateescape")
        pos += BLOCK
        if info.type in EXTENSION_TYPES:
            pos += -(-info.size // BLOCK) * BLOCK
            continue
        size = info.size if info.type in tarfile.REGULAR_TYPES else 0
        lines.append({"type": 2, "payload": base64.b64encode(data[start:pos]).decode()})
        lines.append({"type": 1, "name": names.pop(0) if names else info.name, "size": size})
        start, pos = pos + size, pos + -(-size // BLOCK) * BLOCK
    lines.append({"type": 2, "payload": base64.b64encode(data[start:]).decode()})
    with gzip.open(path, "wt") as f:
        f.write("".join(json.dumps(line) + "\n" for line in lines))


def _rooted(entries):
    return [(clean_path(n), m, u) for n, m, u in entries if clean_path(n) != "/"]


@pytest.mark.parametrize("case", list(taredges.CASES))
def test_read_as_go_reads_it(case, gotar, tmp_path, monkeypatch):
    path = tmp_path / f"{case}.tar"
    data = taredges.CASES[case]
    path.write_bytes(data)
    go = _go(gotar, path)
    others = {"gnu": _gnu(path), "python": _python(path)}
    agree = {name for name, got in others.items() if got == go}
    assert agree == FOLLOWS[case], f"{case}: GNU tar {others['gnu']}, tarfile {others['python']}, Go {go}"
    want = _go_rows(taredges.go_tar(gotar, path))
    for how in ("file", "stream", "python"):
        assert _layerlab(data, how, monkeypatch, tmp_path) == want, (case, how)
    # tar-split: the names are Go's (docker wrote them); the headers in its segments are read as Go does
    _tarsplit(data, [n for n, _, _ in go[0]], tmp_path / "tar-split.json.gz")
    try:
        rows = read_tarsplit(tmp_path / "tar-split.json.gz", "L")
    except TARSPLIT_ERRORS as e:
        assert not go[1] and "Go's archive/tar" in str(e), e
    else:
        assert go[1] and list(zip(rows.path, rows.mtime_us, rows.uid, rows.link)) == want[0]


def test_gnu_tar_and_tarfile_disagree_with_go_somewhere():
    """The table is no formality: in most cases one of GNU tar and tarfile reads otherwise than Go."""
    assert sum(FOLLOWS[c] != {"gnu", "python"} for c in FOLLOWS) >= 10
    assert set(FOLLOWS) == set(taredges.CASES)


_record = st.sampled_from([(b"path", b"p1"), (b"path", b""), (b"path", b"a\0b"), (b"path", b"d/./e"),
                           (b"linkpath", b"t2"), (b"linkpath", b""), (b"mtime", b"5"), (b"mtime", b"+7.25"),
                           (b"mtime", b"1_0"), (b"mtime", b"-0.5"), (b"mtime", b"3."), (b"uid", b"7"),
                           (b"uid", b" 7"), (b"size", b"0"), (b"atime", b"x"), (b"ctime", b"1.5"),
                           (b"comment", b"c\0d"), (b"uname", b"u\0")])
_extension = st.one_of(
    st.tuples(st.just(b"L"), st.sampled_from([b"long-a", b"long\0b", b"", b"x/" * 60 + b"y", b"\0"])),
    st.tuples(st.just(b"K"), st.sampled_from([b"klink", b"k\0tail", b""])),
    st.tuples(st.sampled_from([b"x", b"g"]), st.lists(_record, max_size=3)),
)


def _edge_archive(extensions, symlink: bool, end: bool) -> bytes:
    out = b""
    for flag, body in extensions:
        out += taredges.extension(flag, body) if flag in (b"L", b"K") else taredges.pax(*body, flag=flag)
    out += taredges.header(b"sl", b"2", link=b"target") if symlink else taredges.regular(b"hdr")
    return out + taredges.regular(b"after") + (taredges.END if end else b"")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(_extension, max_size=4), st.booleans(), st.booleans())
def test_any_run_of_extension_headers_reads_as_go_reads_it(gotar, tmp_path, monkeypatch, extensions, symlink, end):
    """Runs of GNU long names and links, local and global PAX headers (records good, empty, or ones Go
    refuses) before an entry: every reading path of layerlab gives Go's entries, or an ArchiveError
    where Go refuses the archive."""
    data = _edge_archive(extensions, symlink, end)
    path = tmp_path / "run.tar"
    path.write_bytes(data)
    out = taredges.go_tar(gotar, path)
    want = _go_rows(out)
    for how in ("file", "stream", "python"):
        assert _layerlab(data, how, monkeypatch, tmp_path) == want, (how, out)
