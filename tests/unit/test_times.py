"""Times from year 1 to 9999, with nanoseconds: the one parser, the contract's microsecond columns,
tar mtimes (GNU tar's PAX and base-256 headers, compared with GNU tar's own listing), snapshots of
nanoseconds loading into microseconds (one at a time and as a fleet), and a failed save."""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile
import warnings
from datetime import datetime, timedelta, timezone

import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import layerlab as ll
from layerlab.fleet.frames import read_frame
from layerlab.frames import schema
from layerlab.frames.snapshot import FORMAT_VERSION
from layerlab.oci.config import history_rows, parse_time
from layerlab.sources.layerfiles import tarstream

UTC = timezone.utc


def _ts(*args) -> pd.Timestamp:
    """The expected time, built without layerlab's parser (a datetime holds years 1 to 9999)."""
    return pd.Timestamp(datetime(*args, tzinfo=UTC))


@pytest.mark.parametrize("text, expected", [
    ("0001-01-01T00:00:00Z", _ts(1, 1, 1)),
    ("1970-01-01T00:00:00Z", _ts(1970, 1, 1)),
    ("9999-12-31T23:59:59.999999999Z", _ts(9999, 12, 31, 23, 59, 59, 999999)),  # not rounded into year 10000
    ("2023-06-30T23:59:59.999999999Z", _ts(2023, 6, 30, 23, 59, 59, 999999)),  # not rounded into July
    ("2023-05-01T12:00:00.123456789+02:00", _ts(2023, 5, 1, 10, 0, 0, 123456)),
    ("0001-01-01T01:00:00+01:00", _ts(1, 1, 1)),
    ("2024-02-29T08:00:00", _ts(2024, 2, 29, 8)),  # no offset: UTC
])
def test_parse_time_keeps_years_1_to_9999(text, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = parse_time(text)
    assert t == expected and t.unit == "us" and str(t.tz) == "UTC"
    assert schema.parse_time is not None and parse_time(text) == schema.parse_time(text)  # one parser


@pytest.mark.parametrize("value", ["garbage", "2023-13-01T00:00:00Z", "2023-06-30T23:59:60Z",
                                   "0001-01-01T00:00:00+01:00", "10000-01-01T00:00:00Z", 0, 1.5,
                                   "２０２３-01-01T00:00:00Z", ["2023-01-01T00:00:00Z"]])
def test_invalid_times_are_nat_with_a_warning(value):
    with pytest.warns(UserWarning, match="kept as NaT"):
        assert parse_time(value) is pd.NaT


def test_absent_times_are_nat_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert parse_time(None) is pd.NaT and parse_time("") is pd.NaT


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)),
       st.integers(0, 999), st.sampled_from(["Z", "+00:00", "-00:00"]))
def test_any_rfc3339_time_is_truncated_to_the_microsecond(dt, extra_ns, zone):
    text = dt.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0") + f".{dt.microsecond:06d}{extra_ns:03d}{zone}"
    assert parse_time(text) == pd.Timestamp(dt.replace(tzinfo=UTC))


def test_history_rows_and_frames_keep_far_times():
    config = {"history": [{"created": "0001-01-01T00:00:00Z", "created_by": "a"},
                          {"created": "9999-12-31T23:59:59.999999999Z", "created_by": "b", "empty_layer": True}]}
    frame = schema.from_rows("history", history_rows(config, 1, image_id="sha256:x"))
    schema.validate(frame, "history")
    assert str(frame["created"].dtype) == schema.TIME == "datetime64[us, UTC]"
    assert list(frame["created"]) == [_ts(1, 1, 1), _ts(9999, 12, 31, 23, 59, 59, 999999)]


def test_containerd_binary_times_keep_their_span():
    import struct

    from layerlab.sources.containerd.meta import go_time

    def marshal(sec_since_year_1: int, nsec: int) -> bytes:  # Go's time.Time.MarshalBinary, version 1, UTC
        return b"\x01" + struct.pack(">qi", sec_since_year_1, nsec) + b"\xff\xff"

    assert go_time(marshal(0, 0)) is pd.NaT  # Go's zero time: a field never set
    assert go_time(marshal(1, 999_999_999)) == _ts(1, 1, 1, 0, 0, 1, 999999)
    last = (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - datetime(1, 1, 1, tzinfo=UTC)) // timedelta(seconds=1)
    assert go_time(marshal(last, 999_999_999)) == _ts(9999, 12, 31, 23, 59, 59, 999999)
    with pytest.warns(UserWarning, match="outside the years 1 to 9999"):
        assert go_time(marshal(last + 1, 0)) is pd.NaT


def test_time_column_floors_nanoseconds_toward_the_past():
    ns = pd.Series(pd.to_datetime([1_500, -1_500, 1_700_000_000_123_456_789], unit="ns", utc=True))
    us = schema.time_column(ns)
    assert str(us.dtype) == schema.TIME
    assert list(us.astype("int64")) == [1, -2, 1_700_000_000_123_456]
    mixed = schema.time_column(pd.Series(["0001-01-01T00:00:00Z", None, _ts(9999, 1, 1)], dtype=object))
    assert list(mixed.isna()) == [False, True, False] and mixed[0] == _ts(1, 1, 1)


# -- tar mtimes -------------------------------------------------------------------------------------
def _gnu_tar_listing(archive) -> dict[str, pd.Timestamp]:
    """path -> mtime as GNU tar lists it (``--full-time``), truncated to the microsecond."""
    out = subprocess.run(["tar", "--full-time", "-tvf", str(archive)], check=True, capture_output=True,
                         text=True).stdout
    times = {}
    for line in out.splitlines():
        m = re.match(r"\S+ \S+ +\d+ (\d+)-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d+))? (.+)$", line)
        y, mo, d, h, mi, s, frac, name = m.groups()
        times["/" + name.rstrip("/")] = _ts(int(y), int(mo), int(d), int(h), int(mi), int(s),
                                            int((frac or "0")[:6].ljust(6, "0")))
    return times


def _readings(archive, monkeypatch) -> list[pd.DataFrame]:
    """The layer read three ways: streamed, headers in C, headers in Python."""
    with open(archive, "rb") as f:
        streamed = tarstream.read_layer(f.read, "L", "x")
    with open(archive, "rb") as f:
        seeked_c = tarstream.read_layer_unverified(f, archive.stat().st_size, "L", "x")
    with monkeypatch.context() as m:
        m.setattr(tarstream, "_tarscan", None)
        with open(archive, "rb") as f:
            seeked_py = tarstream.read_layer_unverified(f, archive.stat().st_size, "L", "x")
    return [r.rows.frame().sort_values("path").reset_index(drop=True) for r in (streamed, seeked_c, seeked_py)]


@pytest.mark.parametrize("fmt, mtime", [
    ("posix", "@253402300799.999999999"),  # PAX mtime, nanoseconds, year 9999
    ("posix", "@-62135596800"),  # PAX mtime, year 1
    ("posix", "@1700000000.123456789"),
    ("gnu", "@-62135596800"),  # base-256 (negative)
    ("gnu", "@253402300799"),  # base-256 (past 11 octal digits)
])
def test_gnu_tar_mtimes_at_year_1_and_9999_are_kept(tmp_path, monkeypatch, fmt, mtime):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("x")
    archive = tmp_path / "layer.tar"
    subprocess.run(["tar", f"--format={fmt}", f"--mtime={mtime}", "-C", str(tmp_path), "-cf", str(archive), "d"],
                   check=True)
    frames = _readings(archive, monkeypatch)
    for other in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], other)
    got = frames[0].set_index("path")["mtime"]
    listed = _gnu_tar_listing(archive)
    assert set(got.index) == set(listed) and got.notna().all()
    for path, t in listed.items():
        assert got[path] == t, path


def test_tarfile_base256_mtimes(tmp_path, monkeypatch):
    archive = tmp_path / "b.tar"
    entries = {"y1": -62135596800, "y9999": 253402300799, "y10000": 253402300800, "before_1": -62135596801}
    with tarfile.open(archive, "w", format=tarfile.GNU_FORMAT) as t:
        for name, mtime in entries.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = 1, mtime
            t.addfile(info, io.BytesIO(b"x"))
    frames = _readings(archive, monkeypatch)
    for other in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], other)
    got = frames[0].set_index("path")["mtime"]
    with tarfile.open(archive) as t:
        assert {m.name: m.mtime for m in t} == entries  # what tarfile reads
    assert got["/y1"] == _ts(1, 1, 1) and got["/y9999"] == _ts(9999, 12, 31, 23, 59, 59)
    # outside the years the frame holds: unknown, not a crash, not a wrong year
    assert pd.isna(got["/y10000"]) and pd.isna(got["/before_1"])


def test_pax_fractions_floor_alike_in_c_and_python(tmp_path, monkeypatch):
    """A negative PAX time with a fraction is that much before the second (Go's reading):
    -1.0000005 s is 1969-12-31 23:59:58.9999995, floored to ...58.999999."""
    archive = tmp_path / "n.tar"
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as t:
        for name, text in {"neg": "-1.0000005", "pos": "1.0000005", "y1": "-62135596800.5"}.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.pax_headers = 1, 0, {"mtime": text}
            t.addfile(info, io.BytesIO(b"x"))
    frames = _readings(archive, monkeypatch)
    for other in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], other)
    got = frames[0].set_index("path")["mtime"]
    epoch = _ts(1970, 1, 1)
    assert got["/neg"] == epoch - timedelta(microseconds=1_000_001)
    assert got["/pos"] == epoch + timedelta(microseconds=1_000_000)
    assert pd.isna(got["/y1"])  # half a second before year 1


# -- snapshots ----------------------------------------------------------------------------------------
def test_nanosecond_snapshots_load_into_microseconds(tmp_path):
    src = ll.sample_path("overlay2")
    stored = pq.read_table(src / "files.parquet", columns=["layer_id", "path", "mtime"])
    assert stored.schema.field("mtime").type.unit == "ns"  # the sample is a format-1 snapshot
    ns = stored.column("mtime").to_pylist()  # Timestamps with their nanoseconds, or None
    assert any(t is not None and t.nanosecond for t in ns)  # something to truncate
    expected = {(lid, p): None if t is None else t.value // 1000
                for lid, p, t in zip(stored.column("layer_id").to_pylist(), stored.column("path").to_pylist(), ns)}
    inv = ll.load(src)
    for name, frame in inv.frames().items():
        schema.validate(frame, name)
    files = inv.files
    assert str(files["mtime"].dtype) == "datetime64[us, UTC]"
    got = {(lid, p): None if pd.isna(t) else int(t.to_datetime64().astype("int64"))
           for lid, p, t in zip(files["layer_id"], files["path"], files["mtime"])}
    assert got == expected
    assert inv.images["created"].notna().all()
    out = inv.save(tmp_path / "again.layerlab")
    assert json.loads((tmp_path / "again.layerlab" / "meta.json").read_text())["format_version"] == FORMAT_VERSION == 4
    assert pq.read_schema(tmp_path / "again.layerlab" / "files.parquet").field("mtime").type.unit == "us"
    pd.testing.assert_frame_equal(ll.load(out).files.sort_values("path").reset_index(drop=True),
                                  files.sort_values("path").reset_index(drop=True))


def test_fleet_reads_nanosecond_and_microsecond_snapshots_together(tmp_path):
    old = ll.sample_path("overlay2")
    inv = ll.load(old)
    images = inv.images.copy()
    images.loc[0, "created"] = _ts(1, 1, 1)
    images.loc[1, "created"] = _ts(9999, 12, 31, 23, 59, 59, 999999)
    new = ll.Inventory(inv.meta, {**inv.frames(), "images": images}).save(tmp_path / "new.layerlab")
    parts = [(str(old), "old"), (str(new), "new")]
    for frame, column in (("images", "created"), ("files", "mtime")):
        both = read_frame(parts, frame)
        assert str(both[column].dtype) == schema.TIME
        assert list(both["host"].unique()) == ["old", "new"]  # the hosts' order
    both = read_frame(parts, "images")
    assert list(both.loc[both["host"] == "new", "created"]) == list(images["created"])
    assert list(both.loc[both["host"] == "old", "created"]) == list(inv.images["created"])
    files = read_frame(parts, "files", ["host", "path", "mtime"])
    old_files = files[files["host"] == "old"]
    assert dict(zip(old_files["path"], old_files["mtime"])) == dict(zip(inv.files["path"], inv.files["mtime"]))


def test_a_failed_save_leaves_no_tmp_folder(tmp_path):
    inv = ll.load(ll.sample_path("overlay2"))

    def broken():
        raise OSError("the layer vanished")

    frames = {**{n: getattr(inv, n) for n in ("images", "layers", "image_layers", "history", "containers", "skipped")},
              "files": broken}
    with pytest.raises(OSError, match="vanished"):
        ll.Inventory(inv.meta, frames).save(tmp_path / "out" / "host.layerlab")
    leftovers = [p.name for p in tmp_path.rglob("*")]
    assert not [n for n in leftovers if n.endswith(".tmp")], leftovers
    assert not (tmp_path / "out" / "host.layerlab").exists()


def test_walked_mtimes_past_2262_and_before_1970(tmp_path):
    """A layer directory's files dated where nanoseconds cannot reach (ext4 keeps up to 2446): the C
    and Python walks give the same microseconds, floored from what stat says."""
    import os

    from layerlab.sources.layerfiles import walk

    stamps = {"late": 13_000_000_000 * 10**9 + 123_456_789, "early": -(10**9) * 86400 * 365 - 1,
              "now": 1_700_000_000_999_999_999}
    for name, ns in stamps.items():
        (tmp_path / name).write_text(name)
        os.utime(tmp_path / name, ns=(ns, ns))
    kept = {name: os.stat(tmp_path / name).st_mtime_ns for name in stamps}
    if kept["late"] != stamps["late"]:
        pytest.skip(f"this filesystem does not keep an mtime past 2262 ({kept['late']})")
    frames = [walk.walk_layer(tmp_path, "L", "plain", use_c=c) for c in ((True, False) if walk._fastwalk else (False,))]
    for other in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], other)
    got = frames[0].set_index("path")["mtime"]
    for name, ns in kept.items():
        assert got[f"/{name}"] == pd.Timestamp(datetime(1970, 1, 1, tzinfo=UTC)
                                               + timedelta(microseconds=ns // 1000)), name
