"""Package databases as their package managers write them, parsed from bytes into package records.

Each parser takes the bytes of one database file (and the image path it was read at) and returns
``Package`` records, or raises ``BadDatabase`` saying what is wrong with it. Nothing here opens a
file: the bytes come from the layer that holds them (``layer_contents``), and every path a record
names is an image path (normalized, absolute, never above ``/``), looked up in the files frame only.
Ecosystems are named as syft names its package types: deb, rpm, apk, python, npm, go-module.
"""

from __future__ import annotations

import posixpath
import re
import sqlite3
import struct
from ..untrusted import load_json
from dataclasses import dataclass, field

#: Paths (or path patterns) of the databases, by ecosystem. ``DB_FILE`` below tells them apart.
DPKG_STATUS = "/var/lib/dpkg/status"
DPKG_STATUS_D = "/var/lib/dpkg/status.d/"
DPKG_INFO = "/var/lib/dpkg/info/"
APK_INSTALLED = "/lib/apk/db/installed"
RPM_SQLITE = ("/var/lib/rpm/rpmdb.sqlite", "/usr/lib/sysimage/rpm/rpmdb.sqlite")
RPM_OLD = ("/var/lib/rpm/Packages", "/var/lib/rpm/Packages.db", "/usr/lib/sysimage/rpm/Packages",
           "/usr/lib/sysimage/rpm/Packages.db")
#: The largest database file read (a dpkg status of 3,000 packages is about 3 MB).
DB_LIMIT = 256 << 20
#: The largest package.json or METADATA read: real ones are kilobytes; a huge one is not read.
MANIFEST_LIMIT = 4 << 20

_DB_FILE = re.compile(
    r"^(?:"
    r"(?P<deb>/var/lib/dpkg/status|/var/lib/dpkg/status\.d/[^/]+)"
    r"|(?P<deblist>/var/lib/dpkg/info/[^/]+\.list)"
    r"|(?P<apk>/lib/apk/db/installed)"
    r"|(?P<rpm>/var/lib/rpm/rpmdb\.sqlite|/usr/lib/sysimage/rpm/rpmdb\.sqlite)"
    r"|(?P<rpmold>/var/lib/rpm/Packages(?:\.db)?|/usr/lib/sysimage/rpm/Packages(?:\.db)?)"
    r"|(?P<python>.*/[^/]+\.dist-info/(?:METADATA|RECORD)|.*/[^/]+\.egg-info(?:/PKG-INFO|/installed-files\.txt)?)"
    r"|(?P<npm>.*/package\.json)"
    r")$"
)


def db_kind(path: str) -> str | None:
    """Which database file ``path`` is (deb, deblist, apk, rpm, rpmold, python, npm), or None."""
    m = _DB_FILE.match(path)
    return m.lastgroup if m else None


class BadDatabase(ValueError):
    """A database file that cannot be read as what it claims to be (the message says why); ``partial``
    holds the packages read before the damage (a status file cut short keeps its whole stanzas)."""

    def __init__(self, message: str, partial: list | None = None):
        super().__init__(message)
        self.partial = partial or []


@dataclass
class Package:
    ecosystem: str
    name: str
    version: str
    location: str  # the database file (or directory) the record is in
    architecture: str | None = None
    declared_size: int | None = None
    files: list[str] = field(default_factory=list)  # image paths the database says it owns
    tree: str | None = None  # npm: a directory whose files it owns (nested node_modules excluded)

    @property
    def key(self) -> tuple:
        return (self.ecosystem, self.name, self.architecture, self.location)


def image_path(base: str, entry: str) -> str | None:
    """``entry`` (absolute, or relative to the image directory ``base``) as a normalized image path;
    None when it climbs above ``/`` (a hostile ``../../etc/passwd`` names nothing in the image)."""
    if not entry or "\x00" in entry:
        return None
    joined = entry if entry.startswith("/") else posixpath.join(base, entry)
    parts: list[str] = []
    for part in joined.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/" + "/".join(parts)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _stanzas(text: str):
    """RFC 822-style stanzas (dpkg status, apk's key:value blocks use their own reader)."""
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        last = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and last:
                fields[last] += "\n" + line.strip()
            elif ":" in line:
                last, _, value = line.partition(":")
                last = last.strip()
                fields[last] = value.strip()
        if fields:
            yield fields


#: dpkg's "Status: want flag state": the states in which the package's files are on disk.
_DPKG_PRESENT = {"installed", "half-configured", "unpacked", "half-installed", "triggers-awaited", "triggers-pending"}


def parse_dpkg_status(data: bytes, location: str) -> list[Package]:
    text = _text(data)
    if text.strip() and "Package:" not in text:
        raise BadDatabase("no 'Package:' field: not a dpkg status file")
    out = []
    for f in _stanzas(text):
        name, version = f.get("Package"), f.get("Version")
        if not name:
            continue
        status = f.get("Status", "install ok installed").split()
        if status and status[-1] not in _DPKG_PRESENT:
            continue  # removed, its config files left: no files of it are on disk
        if not version:
            raise BadDatabase(f"package {name!r} has no Version: the file is cut short or damaged "
                              f"({len(out)} packages before it read)", out)
        size = f.get("Installed-Size", "")
        out.append(Package("deb", name, version, location, f.get("Architecture") or None,
                           int(size) * 1024 if size.isdigit() else None))
    return out


def parse_dpkg_list(data: bytes) -> list[str]:
    """A dpkg info/<package>.list: one absolute path a line, directories included."""
    out = []
    for line in _text(data).splitlines():
        line = line.rstrip("\n")
        if not line.startswith("/") or "/../" in line + "/" or line == "/.":
            continue  # dpkg writes absolute, normalized paths; anything else is not dpkg's
        path = image_path("/", line)
        if path and path != "/":
            out.append(path)
    return out


def parse_apk_installed(data: bytes, location: str) -> list[Package]:
    text = _text(data)
    if text.strip() and not re.search(r"^P:", text, re.M):
        raise BadDatabase("no 'P:' lines: not apk's installed database")
    out = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        files: list[str] = []
        folder = "/"
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if not sep or len(key) != 1:
                continue
            if key == "F":
                folder = image_path("/", value) or "/"
            elif key == "R":
                path = image_path(folder, value) if "/" not in value else None
                if path:
                    files.append(path)
            else:
                fields.setdefault(key, value)
        if fields.get("P") and fields.get("V"):
            size = fields.get("I", "")
            out.append(Package("apk", fields["P"], fields["V"], location, fields.get("A") or None,
                               int(size) if size.isdigit() else None, files))
    return out


def parse_python(metadata: bytes, location: str, record: bytes | None) -> Package:
    """A dist-info or egg-info: METADATA/PKG-INFO's Name and Version; RECORD (or egg-info's
    installed-files.txt) names its files relative to the directory holding the dist-info."""
    head = _text(metadata).split("\n\n", 1)[0]
    fields = {}
    for line in head.splitlines():
        key, sep, value = line.partition(":")
        if sep and key not in fields:
            fields[key.strip()] = value.strip()
    if not fields.get("Name") or not fields.get("Version"):
        raise BadDatabase("no Name or Version in its metadata")
    files = []
    if record is not None:
        base = posixpath.dirname(location.rstrip("/"))
        egg = location.endswith(".egg-info")
        for line in _text(record).splitlines():
            entry = line.split(",", 1)[0] if not egg else line.strip()
            if entry.startswith('"'):  # a csv-quoted name (a comma in it)
                entry = line[1:].split('",', 1)[0].replace('""', '"')
            path = image_path(location if egg else base, entry)
            if path:
                files.append(path)
    return Package("python", fields["Name"], fields["Version"], location, None, None, files)


def parse_package_json(data: bytes, location: str) -> Package | None:
    try:
        doc = load_json(data, location)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise BadDatabase(f"not valid JSON ({str(e)[:80]})") from None
    if not isinstance(doc, dict):
        raise BadDatabase("not a JSON object")
    name, version = doc.get("name"), doc.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        return None  # a package.json without a name and version is no installed package
    return Package("npm", name, version, location, None, None, tree=posixpath.dirname(location))


# -- rpm: the header blobs of rpmdb.sqlite (rpm >= 4.16) ---------------------------------------
# Hand-written: no well-kept Python reader of rpm headers exists outside rpm's own bindings (a C
# extension tied to the system's librpm); the header format is small and fixed (rpm's tagexts).
_RPM_TAGS = {1000: "name", 1001: "version", 1002: "release", 1003: "epoch", 1009: "size", 1022: "arch",
             1116: "dirindexes", 1117: "basenames", 1118: "dirnames", 5009: "longsize"}


def _rpm_header(blob: bytes) -> dict:
    if len(blob) < 8:
        raise BadDatabase("an rpm header shorter than its counts")
    il, dl = struct.unpack(">II", blob[:8])
    data_at = 8 + 16 * il
    if il > 100_000 or data_at + dl > len(blob):
        raise BadDatabase("an rpm header whose counts exceed its bytes")
    data = blob[data_at:data_at + dl]
    out: dict = {}
    for i in range(il):
        tag, typ, off, count = struct.unpack(">IIII", blob[8 + 16 * i:24 + 16 * i])
        name = _RPM_TAGS.get(tag)
        if name is None or off > dl:
            continue
        if typ == 6:  # STRING
            out[name] = data[off:data.index(b"\0", off)].decode("utf-8", "replace")
        elif typ in (8, 9):  # STRING_ARRAY, I18NSTRING
            items, pos = [], off
            for _ in range(min(count, dl)):
                end = data.index(b"\0", pos)
                items.append(data[pos:end].decode("utf-8", "surrogateescape"))
                pos = end + 1
            out[name] = items if typ == 8 else items[0]
        elif typ == 4:  # INT32
            vals = struct.unpack(f">{count}i", data[off:off + 4 * count])
            out[name] = list(vals) if name == "dirindexes" else vals[0]
        elif typ == 5:  # INT64
            out[name] = struct.unpack(">q", data[off:off + 8])[0]
    return out


def parse_rpm_sqlite(data: bytes, location: str) -> list[Package]:
    if data[:16] == b"SQLite format 3\x00" and data[18:20] == b"\x02\x02":
        # WAL mode (rpm's default) would need the -wal file beside it: read the main file as a rollback db
        data = data[:18] + b"\x01\x01" + data[20:]
    con = sqlite3.connect(":memory:")
    try:
        try:
            con.deserialize(data)
            rows = con.execute("SELECT blob FROM Packages").fetchall()
        except (sqlite3.DatabaseError, ValueError) as e:
            raise BadDatabase(f"not an rpm sqlite database ({e})") from None
    finally:
        con.close()
    out = []
    for (blob,) in rows:
        try:
            h = _rpm_header(bytes(blob))
        except (ValueError, struct.error, IndexError) as e:
            raise BadDatabase(f"a damaged rpm header ({e})") from None
        if not h.get("name") or not h.get("version"):
            continue
        version = f"{h['version']}-{h['release']}" if h.get("release") else h["version"]
        if h.get("epoch"):
            version = f"{h['epoch']}:{version}"
        dirs, idx = h.get("dirnames", []), h.get("dirindexes", [])
        files = [p for b, i in zip(h.get("basenames", []), idx) if 0 <= i < len(dirs)
                 if (p := image_path("/", dirs[i] + b))]
        out.append(Package("rpm", h["name"], version, location, h.get("arch"),
                           h.get("longsize", h.get("size")), files))
    return out


# -- Go binaries: the build info the linker writes in .go.buildinfo (Go >= 1.18) -----------------
# Hand-written: no well-kept Python reader exists; the format is Go's debug/buildinfo (a 32-byte
# header, then the Go version and the module info as varint-prefixed strings).
_BUILDINFO_MAGIC = b"\xff Go buildinf:"
ELF_MAGIC = b"\x7fELF"


def elf_section(head: bytes, read_at) -> tuple[int, int] | None:
    """(offset, size) of ``.go.buildinfo`` in an ELF whose first bytes are ``head``; ``read_at(off, n)``
    reads the file. None when there is no such section."""
    if head[:4] != ELF_MAGIC or len(head) < 64:
        return None
    is64, little = head[4] == 2, head[5] == 1
    e = "<" if little else ">"
    if is64:
        shoff, = struct.unpack(e + "Q", head[0x28:0x30])
        shentsize, shnum, shstrndx = struct.unpack(e + "HHH", head[0x3A:0x40])
    else:
        shoff, = struct.unpack(e + "I", head[0x20:0x24])
        shentsize, shnum, shstrndx = struct.unpack(e + "HHH", head[0x2E:0x34])
    if not shoff or not shnum or shnum > 4096 or shstrndx >= shnum or shentsize < (64 if is64 else 40):
        return None
    table = read_at(shoff, shnum * shentsize)
    if len(table) < shnum * shentsize:
        return None

    def section(i):
        s = table[i * shentsize:(i + 1) * shentsize]
        if is64:
            name, _, _, _, off, size = struct.unpack(e + "IIQQQQ", s[:40])
        else:
            name, _, _, _, off, size = struct.unpack(e + "IIIIII", s[:24])
        return name, off, size

    _, stroff, strsize = section(shstrndx)
    names = read_at(stroff, min(strsize, 1 << 20))
    for i in range(shnum):
        name, off, size = section(i)
        if names[name:name + 14] == b".go.buildinfo\0":
            return off, size
    return None


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data) and shift < 64:
        b = data[pos]
        value |= (b & 0x7F) << shift
        pos += 1
        if not b & 0x80:
            return value, pos
        shift += 7
    raise BadDatabase("a Go build info string length is cut short")


def parse_go_buildinfo(blob: bytes, location: str) -> list[Package]:
    if not blob.startswith(_BUILDINFO_MAGIC):
        return []
    if len(blob) < 32 or not blob[15] & 2:
        raise BadDatabase("a Go binary built before Go 1.18 (its build info is behind pointers, not read)")
    pos = 32
    strings = []
    for _ in range(2):
        n, pos = _uvarint(blob, pos)
        strings.append(blob[pos:pos + n].decode("utf-8", "replace"))
        pos += n
    go_version, modinfo = strings
    if len(modinfo) >= 33:
        modinfo = modinfo[16:-16]  # the sentinels around it
    out = []
    main = None
    for line in modinfo.splitlines():
        parts = line.split("\t")
        if parts[0] == "mod" and len(parts) >= 3:
            main = Package("go-module", parts[1], parts[2], location, None, None, [location])
            out.append(main)
        elif parts[0] == "dep" and len(parts) >= 3:
            out.append(Package("go-module", parts[1], parts[2], location))
        elif parts[0] == "=>" and len(parts) >= 3 and out:
            out[-1].version = parts[2]  # a replaced module: the replacement's version is what is built in
    if go_version:  # the standard library built in, as syft lists it
        out.append(Package("go-module", "stdlib", go_version, location, None, None, [] if main else [location]))
    return out
