"""How every command prints: the width it fits, text made safe to print, signed sizes, and the
warnings a command met, gathered by kind (one line each on a terminal, every one with ``--verbose``,
none with ``-q``)."""

from __future__ import annotations

import os
import re
import sys

from ..display import human_bytes, shorten

#: Lines are fitted to this many columns when nothing says otherwise (a pipe, a file).
DEFAULT_WIDTH = 100

#: C0 and C1 control characters, DEL: an ESC sequence in a tag or a registry's message would drive
#: the reader's terminal (move the cursor, retitle the window, hide the lines before it).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def terminal_width(out=None) -> int | None:
    """The columns to fit: ``$COLUMNS`` when set, else the terminal's; None when piped (nothing is cut)."""
    out = out or sys.stdout
    if os.environ.get("COLUMNS", "").isdigit() and int(os.environ["COLUMNS"]) > 0:
        return max(int(os.environ["COLUMNS"]), 40)
    try:
        return max(os.get_terminal_size(out.fileno()).columns, 40) if out.isatty() else None
    except (OSError, ValueError, AttributeError):
        return None


def line_width(out=None) -> int:
    """The width lines are fitted to: the terminal's (or ``$COLUMNS``), else ``DEFAULT_WIDTH``."""
    return terminal_width(out) or DEFAULT_WIDTH


def safe(text) -> str:
    """``text`` with control characters shown as escapes (``\\x1b``), so input can never drive the terminal."""
    text = "" if text is None else str(text)
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def middle(text, width: int) -> str:
    """``text`` made safe and cut in the middle with "…" to ``width`` characters."""
    return shorten(safe(text), max(width, 1))


def path_cut(path, width: int) -> str:
    """A path made safe and fitted to ``width``: its file name is kept, the folders between are cut with "…"."""
    path = safe(path)
    if len(path) <= width:
        return path
    head, _, name = path.rpartition("/")
    if len(name) + 2 >= width:
        return shorten(path, width)
    keep = width - len(name) - 2  # "…/" before the name
    return head[: keep] + "…/" + name


def wrap(text: str, width: int, indent: str = "") -> list[str]:
    """``text`` made safe and wrapped to ``width`` columns, the lines after the first indented."""
    import textwrap

    width = max(width, 20)
    room = width - len(indent)
    # words are kept whole (a path stays one piece to copy); one longer than a line is cut in its middle
    words = [w if len(w) <= room else path_cut(w, room) for w in safe(text).split(" ")]
    return textwrap.wrap(" ".join(words), width=width, subsequent_indent=indent, break_on_hyphens=False,
                         break_long_words=False) or [""]


def echo(text: str = "", *, out=None, indent: str = "") -> None:
    """Print ``text`` (already made safe) wrapped to the output's width."""
    out = out or sys.stdout
    width = line_width(out)
    for line in text.split("\n"):
        if len(line) <= width:
            print(line, file=out)
        else:
            for part in wrap(line, width, indent):
                print(part, file=out)


def signed(n) -> str:
    """``+1.05 MB`` / ``-262 kB`` / ``0 B``."""
    n = int(n)
    return ("+" if n > 0 else "-" if n < 0 else "") + human_bytes(abs(n))


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 image``, ``3 images``, ``12,345 files``: thousands separated, the noun agreeing."""
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"


def sized(n) -> str:
    """A byte count for text: human size, the exact figure kept in JSON."""
    return human_bytes(n)


_SKIPPED = re.compile(r"^layerlab: skipped (?P<what>[\w -]+?) (?P<id>\S+)(?: \([^)]*\))?: (?P<reason>.*?)"
                      r"(?: \((?P<path>[^()]*)\))?$", re.S)


def _plural(noun: str) -> str:
    return noun + ("es" if noun.endswith(("s", "x", "sh", "ch")) else "s")


def notes(caught, inventories=()) -> list[tuple[str, str, str]]:
    """(kind, reason, the whole line) for every warning a command met and every item its sources
    skipped: skipped items from the Inventories' ``skipped`` frames (a snapshot's too), each once;
    other warnings by their text."""
    out = []
    seen = set()
    for inv in inventories:
        try:
            frame = inv.skipped
        except Exception:  # a frame that cannot be read says so itself, when it is used
            continue
        for r in frame.itertuples(index=False):
            key = (r.what, r.id, r.reason)
            if key not in seen:
                seen.add(key)
                where = f" ({r.path})" if isinstance(r.path, str) and r.path else ""
                out.append((f"skipped {r.what}", str(r.reason), f"skipped {r.what} {r.id}: {r.reason}{where}"))
    for w in caught:
        message = str(getattr(w, "message", w)).removeprefix("layerlab: ")
        m = _SKIPPED.match("layerlab: " + message)
        if m:
            if inventories:  # the same item is in a skipped frame above (with its path)
                continue
            out.append((f"skipped {m['what']}", m["reason"], message))
        else:
            out.append((message, "", message))
    return out


def report_warnings(caught, inventories=(), *, quiet: bool = False, verbose: bool = False, out=None) -> None:
    """What a command met, on stderr: one line per kind with a count (``3 layers skipped: REASON;
    --verbose lists each, --json lists them under skipped``), each one with ``verbose``, nothing
    with ``quiet``."""
    if quiet:
        return
    found = notes(caught, inventories)
    if not found:
        return
    out = out or sys.stderr
    width = line_width(out)
    kinds: dict[str, list[tuple[str, str]]] = {}
    for kind, reason, line in found:
        kinds.setdefault(kind, []).append((reason, line))
    for kind, items in kinds.items():
        if verbose:
            lines = [f"warning: {line}" for _, line in items]
        elif kind.startswith("skipped "):
            what = kind[len("skipped "):]
            reasons = list(dict.fromkeys(r for r, _ in items))
            others = len(reasons) - 1
            why = reasons[0] + (f" (and {others} other reason{'s' if others > 1 else ''})" if others else "")
            noun = count(len(items), what, _plural(what))
            lines = [f"warning: {noun} skipped: {why}; --verbose lists each, --json lists them under skipped"]
        else:
            lines = [f"warning: {kind}" + (f" ({len(items)} times)" if len(items) > 1 else "")]
        for text in lines:
            for part in wrap(text, width, "  "):
                print(part, file=out)
