"""dive's conventions, which both ways of computing its figures follow (waste.py image by image,
layertree.py every image in one walk): the order dive visits a layer's tree in, and Go's division."""

from __future__ import annotations

import math


def postorder_key(path: str, whiteout: bool):
    # dive visits each layer tree children-first, siblings sorted bytewise; a whiteout node is
    # named ".wh.<name>".
    comps = [c.encode("utf-8", "surrogateescape") for c in path.split("/")[1:]]
    if whiteout and comps:
        comps[-1] = b".wh." + comps[-1]
    return tuple((0, c) for c in comps) + ((1, b""),)


def go_divide(a: float, b: float) -> float:
    # Go's float64 division, as dive does it: x/0 is +Inf, 0/0 is NaN.
    if b == 0:
        return math.nan if a == 0 else math.inf
    return a / b
