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
import re

import pandas as pd

from ...display import human_bytes
from ...errors import FLAG, IMAGE, PATH, Expect, LayerlabError, expects
from ...frames.inventory import SOURCE
from ...sources import open_source
from ..hygiene.bloat import RULES_TABLE

LIMIT = Expect("a number, a string such as '90%' or '20MB', 'disabled', or None", int, float, str, none=True)
DIVE_RULES = Expect("a .dive-ci file path, a dict of rule keys to values, or None", str, dict, none=True,
                    test=lambda v: hasattr(v, "__fspath__"))
BYTES = Expect("a byte count (a number) or a size such as '20MB' (a string)", int, float, str)

RULE_KEYS = ("lowestEfficiency", "highestWastedBytes", "highestUserWastedPercent")
#: dive's defaults when a rule is not configured (cmd/dive/cli/internal/options/ci_rules.go).
DIVE_DEFAULTS = {"lowestEfficiency": "0.9", "highestWastedBytes": "disabled", "highestUserWastedPercent": "0.1"}
_KEBAB = {"lowest-efficiency": "lowestEfficiency", "highest-wasted-bytes": "highestWastedBytes",
          "highest-user-wasted-percent": "highestUserWastedPercent"}
_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "ki": 1 << 10, "kib": 1 << 10,
    "m": 1000**2, "mb": 1000**2, "mi": 1 << 20, "mib": 1 << 20,
    "g": 1000**3, "gb": 1000**3, "gi": 1 << 30, "gib": 1 << 30,
    "t": 1000**4, "tb": 1000**4, "ti": 1 << 40, "tib": 1 << 40,
    "p": 1000**5, "pb": 1000**5, "pi": 1 << 50, "pib": 1 << 50,
    "e": 1000**6, "eb": 1000**6, "ei": 1 << 60, "eib": 1 << 60,
}


class RuleError(LayerlabError, ValueError):
    """A CI rule value or rules file that cannot be understood."""


def disabled(value) -> bool:
    return value is None or str(value).strip().lower() in ("", "disabled", "off", "false")


@expects(value=BYTES)
def parse_bytes(value) -> int:
    """Bytes from ``20MB``, ``1.5GiB``, ``19Mb`` or ``1048576`` (go-humanize's ParseBytes rules)."""
    text = str(value).strip()
    m = re.fullmatch(r"([\d.,]+)\s*([A-Za-z]*)", text)
    unit = m.group(2).lower() if m else None
    if not m or unit not in _UNITS:
        raise RuleError(f"cannot read {text!r} as a byte size; write e.g. 20MB, 1.5GiB or 1048576")
    try:
        number = float(m.group(1).replace(",", ""))
    except ValueError:
        raise RuleError(f"cannot read {text!r} as a byte size; write e.g. 20MB, 1.5GiB or 1048576") from None
    return int(number * _UNITS[unit])


def parse_ratio(value, what: str) -> float:
    """A ratio 0-1 from ``0.2`` or ``"20%"``."""
    text = str(value).strip()
    try:
        ratio = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise RuleError(f"{what}: cannot read {text!r}; give a ratio between 0 and 1 (0.9) or a percentage (90%)") from None
    if not 0 <= ratio <= 1:
        raise RuleError(f"{what}: {text!r} is outside 0-1; give a ratio (0.9) or a percentage with % (90%)")
    return ratio


@expects(path=PATH)
def load_rules(path) -> dict[str, str]:
    """The rules of a ``.dive-ci`` file, over dive's defaults for the rules it does not set."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f) or {}
    except OSError as e:
        raise RuleError(f"cannot read rules file {path}: {e.strerror}", path=str(path)) from None
    except yaml.YAMLError as e:
        raise RuleError(f"{path} is not valid YAML: {e}", path=str(path)) from None
    except UnicodeDecodeError:
        raise RuleError(f"{path} is not UTF-8 text; give a .dive-ci YAML file", path=str(path)) from None
    rules = doc.get("rules") if isinstance(doc, dict) else None
    if not isinstance(rules, dict):
        raise RuleError(f"{path} has no 'rules:' mapping; see dive's README for the .dive-ci format", path=str(path))
    from .gate import GATE_KEYS, KEBAB

    out = dict(DIVE_DEFAULTS)
    for key, value in rules.items():
        key = _KEBAB.get(key, KEBAB.get(key, key))
        if key not in RULE_KEYS + GATE_KEYS:
            raise RuleError(f"{path}: unknown rule {key!r}; known rules: {', '.join(RULE_KEYS + GATE_KEYS)}", path=str(path))
        out[key] = value if isinstance(value, dict) else "false" if value is False else str(value)
    return out


@expects(source=SOURCE, image=IMAGE, min_efficiency=LIMIT, max_wasted_bytes=LIMIT, max_wasted_percent=LIMIT, exclude_base=FLAG, rules=DIVE_RULES, max_reclaimable_bytes=LIMIT, max_reclaimable_bytes_excluding_base=LIMIT, max_bloat_bytes=LIMIT, bloat_rules=RULES_TABLE)
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
    source
        An Inventory, a data root, a ``.layerlab`` snapshot, or ``"sample"``.
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

    from .gate import KEBAB, evaluate

    configured = dict(DIVE_DEFAULTS)
    if isinstance(rules, dict):
        configured.update({_KEBAB.get(k, KEBAB.get(k, k)): v if isinstance(v, dict) else str(v) for k, v in rules.items()})
    elif rules is not None:
        configured = load_rules(rules)
    for key, value in zip(RULE_KEYS, (min_efficiency, max_wasted_bytes, max_wasted_percent)):
        if value is not None:
            configured[key] = str(value)
    for key, value in zip(("highestReclaimableBytes", "highestReclaimableBytesExcludingBase", "highestBloatBytes"),
                          (max_reclaimable_bytes, max_reclaimable_bytes_excluding_base, max_bloat_bytes)):
        if value is not None:
            configured[key] = value if isinstance(value, dict) else str(value)
    inv = open_source(source)
    image_id = inv.image_id(image)
    fig = efficiency(inv, [image_id]).iloc[0]
    suffix = "_excluding_base" if exclude_base else ""
    values = {
        "lowestEfficiency": float(fig["dive_efficiency" + suffix]),
        "highestWastedBytes": int(fig["dive_wasted_bytes" + suffix]),
        "highestUserWastedPercent": float(fig["dive_user_wasted_percent" + suffix]),
    }
    rows = []
    for key in RULE_KEYS:
        limit, value = configured[key], values[key]
        if disabled(limit):
            rows.append((key, "disabled", value, "disabled", "rule disabled"))
            continue
        if key == "lowestEfficiency":
            threshold = parse_ratio(limit, key)
            failed = threshold > value
            msg = f"image efficiency is too low (efficiency={value:.4f} < threshold={threshold:g})" if failed else f"efficiency {value:.4f} >= {threshold:g}"
        elif key == "highestWastedBytes":
            threshold = parse_bytes(limit)
            failed = value > threshold
            sizes = f"{human_bytes(value)} {'>' if failed else '<='} {human_bytes(threshold)}"
            msg = (f"too many bytes wasted (wasted-bytes={value} > threshold={threshold}; {sizes})" if failed
                   else f"wasted bytes {value} <= {threshold} ({sizes})")
        else:
            threshold = parse_ratio(limit, key)
            failed = value > threshold  # NaN (a single-layer image) never fails, as in dive
            shown = "n/a (one layer)" if math.isnan(value) else f"{value:.4f}"
            msg = (f"too many bytes wasted, relative to the user bytes added (user-wasted={shown} > threshold={threshold:g})"
                   if failed else f"user wasted {shown} <= {threshold:g}")
        rows.append((key, limit, value, "fail" if failed else "pass", msg))
    rows += evaluate(inv, image_id, configured, figures=fig, bloat_rules=bloat_rules)
    out = pd.DataFrame(rows, columns=["rule", "limit", "value", "status", "message"])
    out["value"] = pd.Series([r[2] for r in rows], dtype=object)  # ints stay ints next to ratios
    out.attrs.update(image_id=image_id, exclude_base=exclude_base)
    return out


def default_rules_file() -> str | None:
    """``./.dive-ci`` if it exists, as dive reads it by default."""
    return ".dive-ci" if os.path.isfile(".dive-ci") else None
