"""Property-based, over whole tar-split files (sequences of entries, not single header blocks).

A tar is written by Python's ``tarfile`` from generated entries (files, directories, symlinks, hard
links, devices, FIFOs; names long, non-UTF-8, climbing out; USTAR, GNU and PAX headers) and turned
into the tar-split stream Docker keeps beside a layer: for each entry a segment of the raw bytes
before its contents (the previous file's padding, extension headers, its header block) and a file
entry with its name and size, then the end-of-archive segment. Then:

- the untouched stream reads to exactly the entries ``tarfile`` reads from the reassembled tar
  (rooted, cleaned names; entries that climb out refused; kinds, sizes, modes, owners, links);
- the stream damaged (lines dropped, repeated, swapped, cut, a size or a payload changed, a line
  that is no JSON object) reads or raises one of ``TARSPLIT_ERRORS``, which the data-root reader
  turns into a skipped layer — never anything else.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import tarfile
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import pytest

from layerlab.sources.layerfiles.tarheader import BLOCK, clean_path, climbs_out
from layerlab.sources.layerfiles.tarsplit import TARSPLIT_ERRORS, read_tarsplit

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_piece = st.sampled_from(["a", "etc", "usr", "bin", "..", ".", "x" * 60, "caf\u00e9", os.fsdecode(b"bad\xff"),
                          "\\xff", "new\nline", "sp ace", "deep"])
names = st.lists(_piece, min_size=1, max_size=5).map("/".join)
entry = st.fixed_dictionaries({
    "name": names,
    "type": st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE,
                             tarfile.FIFOTYPE]),
    "size": st.integers(0, 1500),
    "mode": st.integers(0, 0o7777),
    "uid": st.integers(0, 70000),
    "gid": st.integers(0, 70000),
    "link": names,
    # PAX records may carry numbers of any size (applied with the PAX format only)
    "pax": st.dictionaries(st.sampled_from(["uid", "gid", "mtime"]), st.integers(-(1 << 66), 1 << 66), max_size=2),
})
archives = st.tuples(st.lists(entry, max_size=12), st.sampled_from([tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT,
                                                                    tarfile.PAX_FORMAT]))


def _tar(entries, fmt) -> bytes | None:
    """The tar tarfile writes for ``entries`` (None when the format cannot hold them, as tarfile says)."""
    out = io.BytesIO()
    try:
        with tarfile.open(fileobj=out, mode="w", format=fmt, encoding="utf-8", errors="surrogateescape") as tar:
            for e in entries:
                info = tarfile.TarInfo(e["name"])
                info.type, info.mode, info.mtime = e["type"], e["mode"], 1704067200
                info.uid, info.gid = e["uid"], e["gid"]
                if fmt == tarfile.PAX_FORMAT:
                    info.pax_headers = {k: str(v) for k, v in e["pax"].items()}
                data = None
                if e["type"] == tarfile.REGTYPE:
                    info.size = e["size"]
                    data = io.BytesIO(bytes([len(e["name"]) % 251]) * e["size"])
                elif e["type"] in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                    info.linkname = e["link"]
                tar.addfile(info, data)
    except ValueError:  # a name too long for USTAR, a uid too large for the format
        return None
    return out.getvalue()


def _tarsplit(tar: bytes) -> list[dict]:
    """The tar-split entries of ``tar``, as tar-split's disassembler writes them."""
    lines, end = [], 0
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:", encoding="utf-8", errors="surrogateescape") as tf:
        for m in tf.getmembers():
            lines.append({"type": 2, "payload": base64.b64encode(tar[end:m.offset_data]).decode()})
            raw = m.name.encode("utf-8", "surrogateescape")
            item = {"type": 1, "name": raw.decode("utf-8", "replace"), "size": m.size if m.isreg() else 0}
            if raw != item["name"].encode("utf-8"):
                item["name_raw"] = base64.b64encode(raw).decode()
            lines.append(item)
            end = m.offset_data + (m.size if m.isreg() else 0)
    lines.append({"type": 2, "payload": base64.b64encode(tar[end:]).decode()})
    return lines


def _write(lines, path, *, raw_lines=None) -> None:
    body = b"".join(json.dumps(x).encode() + b"\n" for x in lines) if raw_lines is None else raw_lines
    with gzip.open(path, "wb") as f:
        f.write(body)


def _expected(tar: bytes):
    """What tarfile reads from the tar, as rows of the files frame would show it."""
    kind = {tarfile.REGTYPE: "file", tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink",
            tarfile.CHRTYPE: "char", tarfile.FIFOTYPE: "fifo"}
    out, refused = [], 0
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:", encoding="utf-8", errors="surrogateescape") as tf:
        for m in tf.getmembers():
            if climbs_out(m.name) or (m.type == tarfile.LNKTYPE and climbs_out(m.linkname)):
                refused += 1
                continue
            path = clean_path(m.name)
            if path == "/":
                continue
            link = m.linkname if m.issym() else clean_path(m.linkname) if m.islnk() else None
            out.append((path, kind[m.type], m.size if m.isreg() else 0, m.mode, m.uid, m.gid, link))
    return out, refused


def _read(path):
    refused: list = []
    rows = read_tarsplit(path, "sha256:" + "0" * 64, refused)
    got = list(zip(rows.path, rows.kind, rows.size, rows.mode, rows.uid, rows.gid, rows.link))
    return got, len(refused), rows


@SETTINGS
@given(archives)
def test_a_whole_tarsplit_reads_as_tarfile_reads_the_tar(archive):
    entries, fmt = archive
    tar = _tar(entries, fmt)
    if tar is None:
        return
    assert len(tar) % BLOCK == 0
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "tar-split.json.gz")
        _write(_tarsplit(tar), path)
        if not _in_range(entries, fmt):  # tarfile reads it; the files frame cannot hold it: a clear error
            with pytest.raises(ValueError, match="out of range"):
                _read(path)
            return
        got, refused, rows = _read(path)
        rows.frame()  # the rows become a frame (valid UTF-8 paths) without error
    want, want_refused = _expected(tar)
    assert got == want
    assert refused == want_refused


def _in_range(entries, fmt) -> bool:
    """Whether the files frame holds every PAX number: int64 sizes and mtime seconds (as Go reads them;
    a time past the years 1 to 9999 is NaT), uint32 uid and gid."""
    def fits(k, v):
        return 0 <= v < (1 << 32) if k in ("uid", "gid") else -(1 << 63) <= v < (1 << 63)
    return fmt != tarfile.PAX_FORMAT or all(fits(k, v) for e in entries for k, v in e["pax"].items())


def _damage(lines: list[dict], how: str, i: int, value: int) -> tuple[list[dict] | None, bytes | None]:
    lines = [dict(x) for x in lines]
    i %= len(lines)
    if how == "drop":
        del lines[i]
    elif how == "repeat":
        lines.insert(i, dict(lines[i]))
    elif how == "swap":
        j = (i + 1) % len(lines)
        lines[i], lines[j] = lines[j], lines[i]
    elif how == "size":
        lines[i]["size"] = value - (1 << 40) if lines[i]["type"] == 1 else value
    elif how == "payload":
        lines[i]["payload"] = base64.b64encode(os.urandom(value % 1100)).decode()
    elif how == "type":
        lines[i]["type"] = value % 4
    elif how == "not an object":
        body = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
        return None, body.replace(b"\n", b"\n[1, 2]\n", 1) if value % 2 else body.replace(b"{", b"[", 1)
    elif how == "cut":
        body = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
        return None, body[: value % max(1, len(body))]
    elif how == "field":
        key, junk = value
        lines[i][key] = junk
    return lines, None


@SETTINGS
@given(archives, st.sampled_from(["drop", "repeat", "swap", "size", "payload", "type", "not an object", "cut"]),
       st.integers(0, 1000), st.integers(0, 1 << 45))
def test_a_damaged_tarsplit_reads_or_gives_a_clear_error(archive, how, i, value):
    _read_damaged(archive, how, i, value)


_json = st.one_of(st.none(), st.booleans(), st.integers(-(1 << 70), 1 << 70), st.text(max_size=8),
                  st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=1))


@SETTINGS
@given(archives, st.integers(0, 1000), st.sampled_from(["type", "size", "name", "name_raw", "payload"]), _json)
def test_a_tarsplit_entry_with_a_field_of_any_type_reads_or_gives_a_clear_error(archive, i, key, junk):
    _read_damaged(archive, "field", i, (key, junk))


def _read_damaged(archive, how, i, value):
    entries, fmt = archive
    tar = _tar(entries, fmt)
    if tar is None:
        return
    lines, raw = _damage(_tarsplit(tar), how, i, value)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "tar-split.json.gz")
        _write(lines, path, raw_lines=raw)
        try:
            _, _, rows = _read(path)
            rows.frame()
        except TARSPLIT_ERRORS:
            pass
