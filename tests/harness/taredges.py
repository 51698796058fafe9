"""Tar archives with the header edge cases GNU tar, Python's tarfile and Go's archive/tar (docker's
reader) read differently, built block by block (no archiver writes most of them), and the readers
to compare: GNU tar's listing, tarfile's, and Go's through tests/harness/gotar/main.go."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

BLOCK = 512
MTIME = 1_700_000_000  # the header blocks' mtime
GOTAR = Path(__file__).with_name("gotar") / "main.go"


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def header(name: bytes, typeflag: bytes = b"0", size: int = 0, *, mtime: int = MTIME, link: bytes = b"",
           uid: int = 0, gid: int = 0, mode: int = 0o644) -> bytes:
    """One ustar header block (POSIX magic), checksum computed."""
    b = bytearray(BLOCK)
    b[0:100] = name[:100].ljust(100, b"\0")
    b[100:108], b[108:116], b[116:124] = _octal(mode, 8), _octal(uid, 8), _octal(gid, 8)
    b[124:136], b[136:148] = _octal(size, 12), _octal(mtime, 12)
    b[148:156] = b" " * 8
    b[156:157] = typeflag
    b[157:257] = link[:100].ljust(100, b"\0")
    b[257:265] = b"ustar\x0000"
    b[148:156] = b"%06o\0 " % sum(b)
    return bytes(b)


def _padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % BLOCK)


def extension(typeflag: bytes, data: bytes, name: bytes = b"././@LongLink") -> bytes:
    """An extension header (PAX ``x``/``g``, GNU ``L``/``K``) and its data."""
    return header(name, typeflag, len(data)) + _padded(data)


def pax(*records: tuple[bytes, bytes], flag: bytes = b"x") -> bytes:
    """A PAX header (``x``, or ``g`` global) of records, each ``"%d key=value\\n"`` with its own length counted."""
    out = b""
    for key, value in records:
        body = b" " + key + b"=" + value + b"\n"
        n = len(body) + 1
        while len(str(n)) + len(body) != n:
            n += 1
        out += str(n).encode() + body
    return extension(flag, out, name=b"PaxHeaders/x")


def regular(name: bytes, content: bytes = b"", **kw) -> bytes:
    return header(name, b"0", len(content), **kw) + _padded(content)


END = b"\0" * (2 * BLOCK)

#: name -> the archive; every case ends with a plain entry "after" so a reader that stops early shows
CASES = {
    # GNU long name with a NUL in it: the name ends at the NUL (C strings)
    "longname_nul": extension(b"L", b"dir/long-name\0tail\0") + regular(b"short", b"x") + regular(b"after") + END,
    # two PAX headers in a row before one file: the first sets path and mtime, the second uid
    "pax_twice": pax((b"path", b"first"), (b"mtime", b"5")) + pax((b"uid", b"7")) + regular(b"hdr") +
                 regular(b"after") + END,
    # a NUL inside a PAX path
    "pax_path_nul": pax((b"path", b"pa\0th")) + regular(b"hdr") + regular(b"after") + END,
    # PAX mtimes that are no decimal time, or are one only to a lenient parser
    **{f"pax_mtime_{tag}": pax((b"mtime", value)) + regular(b"hdr") + regular(b"after") + END
       for tag, value in (("letters", b"12x"), ("underscore", b"1_000"), ("space", b" 42"), ("plus", b"+42"),
                          ("empty", b""), ("frac_sign", b"1.-5"), ("no_secs", b".5"), ("negative", b"-1.5"))},
    # a PAX header with no entry after it: then the end-of-archive blocks, or nothing at all
    "pax_then_end": regular(b"before") + pax((b"path", b"ghost")) + END,
    "pax_then_eof": regular(b"before") + pax((b"path", b"ghost")),
    # a GNU long name and a PAX path for the same entry
    "longname_and_pax": extension(b"L", b"from-longname\0") + pax((b"path", b"from-pax")) + regular(b"hdr") +
                        regular(b"after") + END,
    "pax_and_longname": pax((b"path", b"from-pax")) + extension(b"L", b"from-longname\0") + regular(b"hdr") +
                        regular(b"after") + END,
}


def write_cases(folder: Path) -> dict[str, Path]:
    out = {}
    for name, data in CASES.items():
        out[name] = folder / f"{name}.tar"
        out[name].write_bytes(data)
    return out


def gnu_tar(path: Path) -> dict:
    """GNU tar's listing: names (``--quoting-style=escape``), its exit status and what it said."""
    p = subprocess.run(["tar", "--full-time", "--numeric-owner", "--quoting-style=escape", "-tvf", str(path)],
                       capture_output=True, text=True, env={**os.environ, "LC_ALL": "C", "TZ": "UTC"})
    return {"lines": p.stdout.splitlines(), "rc": p.returncode, "stderr": p.stderr.strip()}


def python_tar(path: Path) -> dict:
    try:
        with tarfile.open(path, encoding="utf-8", errors="surrogateescape") as tf:
            return {"entries": [(m.name, m.mtime, m.uid) for m in tf.getmembers()]}
    except (tarfile.TarError, ValueError) as e:
        return {"error": repr(e)}


def build_gotar(into: Path) -> Path:
    """Build the Go lister into ``into``: stdlib only, nothing fetched, caches kept in ``into``."""
    exe = into / "gotar"
    env = {**os.environ, "GOPATH": str(into / "gopath"), "GOCACHE": str(into / "gocache"), "GOFLAGS": "-mod=mod",
           "GO111MODULE": "off", "CGO_ENABLED": "0", "GOPROXY": "off", "GOENV": "off"}
    subprocess.run([shutil.which("go") or "go", "build", "-o", str(exe), str(GOTAR)], check=True, env=env, cwd=into,
                   capture_output=True)
    return exe


def go_tar(exe: Path, path: Path) -> dict:
    """Go's reading: {"entries": [...], "end": True} or {"entries": [...], "error": "..."}."""
    p = subprocess.run([str(exe), str(path)], capture_output=True, check=True)
    lines = [json.loads(line) for line in p.stdout.splitlines()]
    result = {"entries": [x for x in lines if "name" in x]}
    last = lines[-1]
    if "error" in last:
        result["error"] = last["error"]
    else:
        result["end"] = True
    return result


if __name__ == "__main__":  # a table of what each reader makes of each case
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        exe = build_gotar(tmp)
        for name, path in write_cases(tmp).items():
            print(f"== {name}")
            print("  gnu   ", gnu_tar(path))
            print("  python", python_tar(path))
            g = go_tar(exe, path)
            print("  go    ", [(e["name"], e["mtime_ns"], e["uid"]) for e in g["entries"]], g.get("error", "end"))
