"""A CI gate on an image's efficiency, with dive's rules and ``.dive-ci`` files.

The rules are dive's (``dive --ci``): ``lowestEfficiency`` (fail when efficiency is below it),
``highestWastedBytes`` (fail when wasted bytes exceed it) and ``highestUserWastedPercent``
(fail when wasted bytes / bytes above the first layer exceed it; a ratio 0-1). Values may be
``disabled`` (or ``off``, ``false``, empty), numbers, percentages (``"20%"``), or byte sizes
(``"20MB"`` = 20,000,000, ``"20MiB"`` = 20 * 2**20, as dive's go-humanize reads them).
"""

from __future__ import annotations

import math
import os

import pandas as pd

from ...display import human_bytes
from ...errors import FLAG, IMAGE, Expect
from ..hygiene.bloat import RULES_TABLE
from ..rules import DIVE_KEYS, RuleError, configure, judge, load_rules, parse_bytes, parse_ratio
from .gate import evaluate
from ..opening import analysis

__all__ = ["RuleError", "check", "default_rules_file", "load_rules", "parse_bytes", "parse_ratio"]

LIMIT = Expect("a number, a string such as '90%' or '20MB', 'disabled', or None", int, float, str, none=True)
DIVE_RULES = Expect("a .dive-ci file path, a dict of rule keys to values, or None", str, dict, none=True,
                    test=lambda v: hasattr(v, "__fspath__"))


def _efficiency(value, threshold, failed):
    return (f"image efficiency is too low (efficiency={value:.4f} < threshold={threshold:g})" if failed
            else f"efficiency {value:.4f} >= {threshold:g}")


def _wasted(value, threshold, failed):
    sizes = f"{human_bytes(value)} {'>' if failed else '<='} {human_bytes(threshold)}"
    return (f"too many bytes wasted (wasted-bytes={value} > threshold={threshold}; {sizes})" if failed
            else f"wasted bytes {value} <= {threshold} ({sizes})")


def _user_wasted(value, threshold, failed):
    shown = "n/a (one layer)" if math.isnan(value) else f"{value:.4f}"
    return (f"too many bytes wasted, relative to the user bytes added (user-wasted={shown} > threshold={threshold:g})"
            if failed else f"user wasted {shown} <= {threshold:g}")


#: dive's rules: how each reads its limit, when it fails (NaN, a one-layer image, never does, as in
#: dive), and what it says.
DIVE_RULE_CHECKS = {
    "lowestEfficiency": (lambda limit: parse_ratio(limit, "lowestEfficiency"), lambda v, t: t > v, _efficiency),
    "highestWastedBytes": (parse_bytes, lambda v, t: v > t, _wasted),
    "highestUserWastedPercent": (lambda limit: parse_ratio(limit, "highestUserWastedPercent"), lambda v, t: v > t,
                                 _user_wasted),
}


@analysis(image=IMAGE, min_efficiency=LIMIT, max_wasted_bytes=LIMIT, max_wasted_percent=LIMIT, exclude_base=FLAG,
          rules=DIVE_RULES, max_reclaimable_bytes=LIMIT, max_reclaimable_bytes_excluding_base=LIMIT,
          max_bloat_bytes=LIMIT, bloat_rules=RULES_TABLE)
def check(
    source,
    image,
    *,
    min_efficiency=None,
    max_wasted_bytes=None,
    max_wasted_percent=None,
    exclude_base: bool = False,
    rules=None,
    max_reclaimable_bytes=None,
    max_reclaimable_bytes_excluding_base=None,
    max_bloat_bytes=None,
    bloat_rules=None,
) -> pd.DataFrame:
    """Evaluate dive's CI rules on one image, without ``docker save``.

    Parameters
    ----------
    {source}
    image
        Tag, image ID or ID prefix.
    min_efficiency, max_wasted_bytes, max_wasted_percent
        Limits (override the rules file): a ratio or percentage, a byte size, a ratio or
        percentage; ``"disabled"`` switches a rule off.
    exclude_base
        Judge the figures with the image's base squashed into one layer (the
        ``*_excluding_base`` columns of ``efficiency``), so a wasteful base does not fail it.
    rules
        A ``.dive-ci`` file, or a dict of rule keys to values. Without rules or limits, dive's
        defaults apply (efficiency 0.9, user wasted 10 %).
    max_reclaimable_bytes, max_reclaimable_bytes_excluding_base, max_bloat_bytes
        layerlab's rules (``highestReclaimableBytes``, ``highestReclaimableBytesExcludingBase``,
        ``highestBloatBytes``; see ``layerlab.analyses.dive.gate``): byte sizes, off unless given
        here or in the rules. ``max_bloat_bytes`` may be a dict of category (or ``total``) to size.
    bloat_rules
        Extra bloat rules for ``highestBloatBytes`` (see ``analyses.bloat_rules``).

    Returns
    -------
    DataFrame
        One row per rule (dive's three, then layerlab's that are configured): ``rule`` (the
        key; ``highestBloatBytes[<category>]`` for a category's limit), ``limit`` (as given), ``value`` (the image's
        figure), ``status`` (``pass``, ``fail`` or ``disabled``), ``message``; ``attrs`` hold
        ``image_id`` and ``exclude_base``.
    """
    from .waste import efficiency

    configured = configure(rules, {
        "lowestEfficiency": min_efficiency, "highestWastedBytes": max_wasted_bytes,
        "highestUserWastedPercent": max_wasted_percent, "highestReclaimableBytes": max_reclaimable_bytes,
        "highestReclaimableBytesExcludingBase": max_reclaimable_bytes_excluding_base,
        "highestBloatBytes": max_bloat_bytes,
    })
    inv = source
    image_id = inv.image_id(image)
    fig = efficiency(inv, [image_id]).iloc[0]
    suffix = "_excluding_base" if exclude_base else ""
    values = {
        "lowestEfficiency": float(fig["dive_efficiency" + suffix]),
        "highestWastedBytes": int(fig["dive_wasted_bytes" + suffix]),
        "highestUserWastedPercent": float(fig["dive_user_wasted_percent" + suffix]),
    }
    rows = [judge(key, configured[key], values[key], *DIVE_RULE_CHECKS[key]) for key in DIVE_KEYS]
    rows += evaluate(inv, image_id, configured, figures=fig, bloat_rules=bloat_rules)
    out = pd.DataFrame(rows, columns=["rule", "limit", "value", "status", "message"])
    out["value"] = pd.Series([r[2] for r in rows], dtype=object)  # ints stay ints next to ratios
    out.attrs.update(image_id=image_id, exclude_base=exclude_base)
    return out


def default_rules_file() -> str | None:
    """``./.dive-ci`` if it exists, as dive reads it by default."""
    return ".dive-ci" if os.path.isfile(".dive-ci") else None
