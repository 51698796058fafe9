"""CI rules, dive's and layerlab's, read once and judged one way.

A rule set comes from a ``.dive-ci``-style file (``rules:`` mapping; dive's camelCase or kebab-case
keys), a dict, and limits given as arguments, over dive's defaults. Each rule is judged the same
way (``judge``): a limit that is ``disabled`` (or ``off``, ``false``, empty, None) switches it off;
otherwise the limit is read as a threshold (a ratio or percentage, or a byte size as dive's
go-humanize reads them: ``"20MB"`` = 20,000,000, ``"20MiB"`` = 20 * 2**20) and the figure passes
or fails. dive's rules are judged by ``dive.check``, layerlab's own by ``dive.gate``.
"""

from __future__ import annotations

import math
import re

from ..errors import PATH, Expect, LayerlabError, LimitExceeded, expects
from ..untrusted import load_yaml, parse_size, read_small_file

BYTES = Expect("a byte count (a number) or a size such as '20MB' (a string)", int, float, str)

#: dive's rules (``dive --ci``), judged on dive's figures.
DIVE_KEYS = ("lowestEfficiency", "highestWastedBytes", "highestUserWastedPercent")
#: layerlab's rules, off unless configured.
GATE_KEYS = ("highestReclaimableBytes", "highestReclaimableBytesExcludingBase", "highestBloatBytes")
#: dive's defaults when a rule is not configured (cmd/dive/cli/internal/options/ci_rules.go).
DIVE_DEFAULTS = {"lowestEfficiency": "0.9", "highestWastedBytes": "disabled", "highestUserWastedPercent": "0.1"}
#: The kebab-case spelling of each rule key.
KEBAB = {
    "lowest-efficiency": "lowestEfficiency",
    "highest-wasted-bytes": "highestWastedBytes",
    "highest-user-wasted-percent": "highestUserWastedPercent",
    "highest-reclaimable-bytes": "highestReclaimableBytes",
    "highest-reclaimable-bytes-excluding-base": "highestReclaimableBytesExcludingBase",
    "highest-bloat-bytes": "highestBloatBytes",
}


class RuleError(LayerlabError, ValueError):
    """A CI rule value or rules file that cannot be understood."""


def disabled(value) -> bool:
    return value is None or str(value).strip().lower() in ("", "disabled", "off", "false")


@expects(value=BYTES)
def parse_bytes(value) -> int:
    """Bytes from ``20MB``, ``1.5GiB``, ``19Mb`` or ``1048576`` (go-humanize's ParseBytes rules, ASCII
    digits only: ``untrusted.parse_size``)."""
    try:
        return parse_size(value, "a byte size")
    except ValueError as e:
        raise RuleError(str(e)) from None


_RATIO = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)%?", re.ASCII)


def parse_ratio(value, what: str) -> float:
    """A ratio 0-1 from ``0.2`` or ``"20%"``."""
    text = str(value).strip()
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            text = repr(float(value)) if math.isfinite(value) else text
            if "e" in text:  # 1e-05: a number given as one, not text
                text = f"{float(value):.12f}"
        if not _RATIO.fullmatch(text):  # ASCII only: float() would take "０.９" and "0_9"
            raise ValueError
        ratio = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise RuleError(f"{what}: cannot read {text!r}; give a ratio between 0 and 1 (0.9) "
                        "or a percentage (90%)") from None
    if not 0 <= ratio <= 1:
        raise RuleError(f"{what}: {text!r} is outside 0-1; give a ratio (0.9) or a percentage with % (90%)")
    return ratio


def rule_key(key: str) -> str:
    """The camelCase key of a rule written either way."""
    return KEBAB.get(key, key)


#: The most a rules file may hold (dive's are a few lines).
RULES_LIMIT = 1 << 20


@expects(path=PATH)
def load_rules(path) -> dict[str, str]:
    """The rules of a ``.dive-ci`` file, over dive's defaults for the rules it does not set."""
    import yaml

    try:
        doc = load_yaml(read_small_file(path, "a rules file").decode("utf-8"), f"rules file {path}") or {}
    except OSError as e:
        raise RuleError(f"cannot read rules file {path}: {e.strerror}", path=str(path)) from None
    except LimitExceeded as e:
        raise RuleError(str(e), path=str(path)) from None
    except yaml.YAMLError as e:
        raise RuleError(f"{path} is not valid YAML: {e}", path=str(path)) from None
    except UnicodeDecodeError:
        raise RuleError(f"{path} is not UTF-8 text; give a .dive-ci YAML file", path=str(path)) from None
    rules = doc.get("rules") if isinstance(doc, dict) else None
    if not isinstance(rules, dict):
        raise RuleError(f"{path} has no 'rules:' mapping; see dive's README for the .dive-ci format", path=str(path))
    out = dict(DIVE_DEFAULTS)
    for key, value in rules.items():
        key = rule_key(key)
        if key not in DIVE_KEYS + GATE_KEYS:
            raise RuleError(f"{path}: unknown rule {key!r}; known rules: {', '.join(DIVE_KEYS + GATE_KEYS)}",
                            path=str(path))
        out[key] = value if isinstance(value, dict) else "false" if value is False else str(value)
    return out


def configure(rules, limits: dict) -> dict:
    """The rules in force: dive's defaults, under ``rules`` (a ``.dive-ci`` path, a dict or None),
    under ``limits`` (rule key -> a limit given as an argument; None leaves the rule as it is)."""
    configured = dict(DIVE_DEFAULTS)
    if isinstance(rules, dict):
        configured.update({rule_key(k): v if isinstance(v, dict) else str(v) for k, v in rules.items()})
    elif rules is not None:
        configured = load_rules(rules)
    for key, value in limits.items():
        if value is not None:
            configured[key] = value if isinstance(value, dict) else str(value)
    return configured


def judge(rule: str, limit, value, threshold_of, fails, message, *, shown=None) -> tuple:
    """One rule's row ``(rule, limit, value, status, message)``: ``disabled`` when ``limit`` switches
    it off; else ``threshold_of(limit)``, ``fail`` when ``fails(value, threshold)``, and
    ``message(value, threshold, failed)``. ``shown``: the limit as the row shows it (default: as given)."""
    if disabled(limit):
        return (rule, "disabled", value, "disabled", "rule disabled")
    threshold = threshold_of(limit)
    failed = fails(value, threshold)
    return (rule, limit if shown is None else shown, value, "fail" if failed else "pass",
            message(value, threshold, failed))
