"""Reading text layerlab did not write: JSON and YAML with bounds on depth, size and expansion, and
byte sizes written by people. Every reader of input goes through these, so one hostile file (JSON
nested 100k deep, a YAML "billion laughs", a 5000-digit number) ends in a clear error, never in a
RecursionError, an exhausted memory or a traceback.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from itertools import accumulate

from ._files import read_file
from .errors import LimitExceeded

#: No Docker or OCI document nests deeper than a few levels; past this it is damage or an attack
#: (Python's own parser would hit its recursion limit near 1000, at a depth that depends on the caller).
MAX_DEPTH = 100
#: The most a JSON document read into memory may hold.
JSON_LIMIT = 64 << 20
#: The most a YAML file (a .dive-ci, a registry's config.yml) may hold, and the most nodes it may
#: expand to once its aliases are followed (a "billion laughs" has few nodes but expands past any memory).
YAML_LIMIT = 1 << 20
YAML_NODES = 100_000
#: The largest byte count layerlab takes: the int64 the frames hold.
MAX_SIZE = (1 << 63) - 1

_STRING_B = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET_B = re.compile(rb"[^\[\]{}]+")


def json_depth(data: bytes | str) -> int:
    """How deep the arrays and objects of a JSON text nest (0 for a scalar), without parsing it."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    brackets = _NOT_BRACKET_B.sub(b"", _STRING_B.sub(b"", data))
    return max(accumulate(1 if c in b"[{" else -1 for c in brackets), default=0)


def load_json(data: bytes | bytearray | str, what: str = "the JSON document", *, limit: int | None = JSON_LIMIT,
              max_depth: int = MAX_DEPTH):
    """``json.loads(data)`` with bounds: more than ``limit`` bytes or nesting deeper than
    ``max_depth`` is a :class:`LimitExceeded` (a ValueError) naming ``what``. Invalid JSON raises
    json's own ValueError, so callers keep their ``except ValueError`` that names the file."""
    if limit is not None and len(data) > limit:
        raise LimitExceeded(f"{what} holds {len(data)} bytes, above the {limit} byte limit for a JSON document; "
                            "it is damaged or not what it should be")
    # Counting brackets is cheap (C speed); the exact depth is computed only when there are many.
    opens = data.count("[") + data.count("{") if isinstance(data, str) else data.count(b"[") + data.count(b"{")
    if opens > max_depth and json_depth(data) > max_depth:
        raise LimitExceeded(f"{what} nests arrays or objects more than {max_depth} deep; no image metadata does: "
                            "it is damaged or hostile, and is not read")
    try:
        return json.loads(data)
    except RecursionError:  # a depth under the bound, called from deep in the stack
        raise LimitExceeded(f"{what} nests too deep to read here; it is damaged or hostile") from None


# -- YAML --------------------------------------------------------------------------------------------

def read_small_file(path, what: str, limit: int = YAML_LIMIT) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit``: a device (/dev/zero), a FIFO or a
    folder is refused before it is read (LimitExceeded naming it), never read for ever or waited on;
    OSError (missing, permission) as ``open`` raises it."""
    try:
        return read_file(path, LimitExceeded, limit=limit, expected=what)
    except IsADirectoryError:
        raise LimitExceeded(f"{path} is a folder; {what} must be a regular file", path=os.fsdecode(path)) from None


def load_yaml(text: str | bytes, what: str = "the YAML document", *, max_nodes: int = YAML_NODES):
    """``yaml.safe_load`` with bounds: a document whose aliases expand to more than ``max_nodes``
    nodes, nests deeper than MAX_DEPTH, or holds an integer past Python's digit limit is a
    :class:`LimitExceeded` (ValueError); invalid YAML raises ``yaml.YAMLError``."""
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node, what, max_nodes)
        try:
            return loader.construct_document(node)
        except ValueError as e:  # int("5000 digits") past sys.get_int_max_str_digits()
            if "digits" in str(e):
                raise LimitExceeded(f"{what} holds a number of more than {sys.get_int_max_str_digits()} digits; "
                                    "no setting takes one (the file is damaged or hostile)") from None
            raise LimitExceeded(f"{what} holds a value layerlab cannot read ({e})") from None
        except RecursionError:
            raise LimitExceeded(f"{what} nests too deep to read; it is damaged or hostile") from None
    except RecursionError:  # composing a deeply nested document
        raise LimitExceeded(f"{what} nests more than {MAX_DEPTH} deep; it is damaged or hostile") from None
    finally:
        loader.dispose()


def _check_nodes(root, what: str, max_nodes: int) -> None:
    """Count the nodes ``root`` expands to (an alias counts its whole target each time it is used),
    without expanding it: each node's expanded count is computed once (iteratively, no recursion)."""
    import yaml

    counts: dict[int, int] = {}
    stack = [(root, 0, False)]
    while stack:
        node, depth, done = stack.pop()
        if depth > MAX_DEPTH:
            raise LimitExceeded(f"{what} nests more than {MAX_DEPTH} deep; it is damaged or hostile")
        if id(node) in counts:
            continue
        children = ([c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode)
                    else node.value if isinstance(node, yaml.SequenceNode) else [])
        if done or not children:
            total = 1 + sum(counts.get(id(c), 0) for c in children)
            if total > max_nodes:
                raise LimitExceeded(f"{what} expands to more than {max_nodes} values (its aliases repeat "
                                    "others: a 'billion laughs'); it is not read")
            counts[id(node)] = total
            continue
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in children if id(c) not in counts)


# -- sizes -------------------------------------------------------------------------------------------

#: A byte size as people write it: ASCII digits (commas between groups allowed, as go-humanize
#: reads them), an optional fraction, an optional unit. ``\d`` would take any Unicode digit
#: (fullwidth ４, Arabic-Indic ٤), which no size is written in.
_SIZE = re.compile(r"([0-9][0-9,]*(?:\.[0-9]+)?|\.[0-9]+)\s*([A-Za-z]*)", re.ASCII)
UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "ki": 1 << 10, "kib": 1 << 10,
    "m": 1000**2, "mb": 1000**2, "mi": 1 << 20, "mib": 1 << 20,
    "g": 1000**3, "gb": 1000**3, "gi": 1 << 30, "gib": 1 << 30,
    "t": 1000**4, "tb": 1000**4, "ti": 1 << 40, "tib": 1 << 40,
    "p": 1000**5, "pb": 1000**5, "pi": 1 << 50, "pib": 1 << 50,
    "e": 1000**6, "eb": 1000**6, "ei": 1 << 60, "eib": 1 << 60,
}


def parse_size(value, what: str = "a size", *, units: bool = True) -> int:
    """A byte count from a whole number, or text such as ``20MB``, ``1.5GiB``, ``1,048,576`` (with
    ``units``; else ASCII digits only). Refused with a ValueError naming ``what``: negative, NaN,
    infinite, past int64, a bool, fullwidth or other non-ASCII digits, ``4_196_552`` (Python's
    literal form, which ``int()`` would silently accept)."""
    example = "e.g. 20MB, 1.5GiB or 1048576" if units else "a whole number of bytes in ASCII digits, e.g. 1048576"
    if isinstance(value, bool):
        raise ValueError(f"{what}: {value!r} is not a byte size; give {example}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{what}: {value!r} is not a byte size; give {example}")
        number = value
    else:
        text = str(value).strip()
        m = _SIZE.fullmatch(text) if len(text) <= 64 else None
        unit = m.group(2).lower() if m else None
        if not m or unit not in UNITS or (unit and not units) or (not units and not text.isdigit()):
            raise ValueError(f"{what}: cannot read {text[:64]!r} as a byte size; give {example}")
        digits = m.group(1).replace(",", "")
        number = float(digits) * UNITS[unit] if "." in digits else int(digits) * UNITS[unit]
    if number < 0:
        raise ValueError(f"{what}: {value!r} is negative; give {example}")
    if number > MAX_SIZE:
        raise ValueError(f"{what}: {str(value)[:64]} is past the largest size layerlab takes (2^63-1 bytes, 8 EiB)")
    return int(number)
