"""Bloat: files an image's final filesystem shows that an image rarely needs, by category.

Package caches, downloaded package lists, Python bytecode and test suites, documentation, version
control directories, temporary files and logs are visible bytes (not hidden by a later layer, so
``waste`` and dive do not see them), yet deleting them in the RUN that makes them, or not making
them, is usually the largest saving. What counts as bloat is data, not code: the table
``bloat_rules.csv`` beside this module (one row per path pattern: ``category``, ``pattern``,
``fix``, ``see``), which a user file can extend or override (``rules=``, ``--rules``).

Patterns are shell-style globs on absolute paths where ``*`` also matches ``/`` (``fnmatch``), so
``/var/cache/apt/*`` is everything under that directory and ``*/__pycache__/*`` any such directory
anywhere. Each visible path belongs to the first row that matches it, in table order (a user's
rows first), so no byte is counted in two categories.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pandas as pd

from ...errors import IMAGE, Expect, LayerlabError, LimitExceeded, expects
from ..stacking import chain_files, nulls_as_none
from ..merged import merged_from_files
from ..opening import analysis

#: What ``rules`` takes (bloat, bloat_files, bloat_rules, check's bloat_rules).
RULES_TABLE = Expect("None, a CSV file path or a DataFrame (see bloat_rules)", str, pd.DataFrame, none=True,
                     test=lambda v: hasattr(v, "__fspath__"))

RULES_FILE = Path(__file__).with_name("bloat_rules.csv")
RULE_COLUMNS = ["category", "pattern", "fix", "see"]
BLOAT_COLUMNS = ["image_id", "category", "position", "layer_id", "created_by", "bytes", "paths", "examples", "fix",
                 "see"]
#: The category of files that build-time packages (compilers, -dev headers) own, found by package, not path.
BUILD_PACKAGES = "build-packages"
#: Example paths kept per finding (the largest files).
EXAMPLES = 3


class BloatRulesError(LayerlabError, ValueError):
    """A bloat rules file that cannot be read."""


#: The most rules a table may hold: each is matched against every path of every layer, so 100k rules
#: would keep one `bloat` busy for hours (the bundled table has a few dozen).
MAX_RULES = 2_000


def _read_table(path) -> pd.DataFrame:
    import io

    from ...untrusted import read_small_file

    try:
        # a regular file of at most 4 MiB (not /dev/zero, not a FIFO), then one row more than allowed
        data = read_small_file(path, "a bloat rules file", limit=4 << 20)
        table = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, comment=None, skipinitialspace=True,
                            nrows=MAX_RULES + 1)
    except FileNotFoundError:
        raise BloatRulesError(f"bloat rules file {path} not found", path=str(path)) from None
    except LimitExceeded as e:
        raise BloatRulesError(str(e), path=str(path)) from None
    except OSError as e:
        raise BloatRulesError(f"cannot read bloat rules file {path} ({e.strerror or e})", path=str(path)) from None
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise BloatRulesError(f"cannot read bloat rules file {path} as CSV ({e}); columns: category,pattern,fix[,see]",
                              path=str(path)) from None
    if len(table) > MAX_RULES:
        raise BloatRulesError(f"{path} holds more than {MAX_RULES} rules; each is matched against every file of "
                              "every layer, so a table this long is refused (merge patterns with * instead)",
                              path=str(path))
    missing = [c for c in ("category", "pattern") if c not in table.columns]
    if missing:
        raise BloatRulesError(
            f"{path} lacks the column(s) {', '.join(missing)}; a bloat rules file is a CSV with the header "
            "category,pattern,fix,see (see docs/analyses.md)", path=str(path))
    for col in RULE_COLUMNS:
        if col not in table.columns:
            table[col] = ""
    table = table[RULE_COLUMNS].astype(object)
    table["category"] = table["category"].str.strip()
    table["pattern"] = table["pattern"].str.strip()
    bad = table[(table["category"] == "")]
    if len(bad):
        raise BloatRulesError(f"{path}: row {int(bad.index[0]) + 2} has no category", path=str(path))
    relative = table[(table["pattern"] != "") & ~table["pattern"].str.startswith(("/", "*"))]
    if len(relative):
        row = int(relative.index[0])
        raise BloatRulesError(f"{path}: row {row + 2}: pattern {table.at[row, 'pattern']!r} would never match; "
                              "patterns match "
                              "absolute paths, so start them with / (or * for any directory)", path=str(path))
    return table


@expects(rules=RULES_TABLE)
def bloat_rules(rules=None) -> pd.DataFrame:
    """The rule table: the bundled one, extended or overridden by ``rules``.

    Parameters
    ----------
    rules
        None for the bundled table; a CSV file path (columns ``category,pattern,fix,see``), or a
        DataFrame with those columns. A category the user's table names replaces all bundled
        rows of that category; a row with an empty ``pattern`` switches its category off; new
        categories are added. The user's rows are matched first.

    Returns
    -------
    DataFrame
        ``category``, ``pattern``, ``fix``, ``see``: one row per pattern, in matching order.
    """
    table = _read_table(RULES_FILE)
    if rules is None:
        return table.reset_index(drop=True)
    user = rules.copy() if isinstance(rules, pd.DataFrame) else _read_table(rules)
    if len(user) > MAX_RULES:
        raise BloatRulesError(f"the rules table has {len(user)} rows, more than the {MAX_RULES} layerlab matches; "
                              "merge patterns with * instead")
    for col in RULE_COLUMNS:
        if col not in user.columns:
            user[col] = ""
    user = user[RULE_COLUMNS].fillna("")
    named = set(user["category"])
    out = pd.concat([user[user["pattern"] != ""], table[~table["category"].isin(named)]], ignore_index=True)
    return out.reset_index(drop=True)


@analysis(image=IMAGE, rules=RULES_TABLE)
def bloat_files(source, image, *, rules=None) -> pd.DataFrame:
    """Every visible path of ``image`` that a bloat rule matches.

    Returns
    -------
    DataFrame
        One row per path, largest first: ``path``, ``category``, ``rule`` (row of the rule table),
        ``bytes`` (stored bytes; a hard link's bytes count once, on one of its names), ``kind``,
        ``position``, ``layer_id`` (the layer that provides the path).
    """
    inv = source
    image_id = inv.image_id(image)
    table = bloat_rules(rules)
    merged = merged_from_files(chain_files(inv, inv.chain(image_id)))
    merged = merged[merged["kind"] != "dir"].reset_index(drop=True)
    paths = merged["path"].astype(object)
    rule = pd.Series(-1, index=merged.index, dtype="int64")
    if len(table) and len(paths):
        # One regex of every rule as named alternatives, tried in table order: the first that
        # matches closes last, so ``lastgroup`` names it (one match per path, not one per rule).
        big = re.compile("|".join(f"(?P<rule{i}>{fnmatch.translate(p)})" for i, p in enumerate(table["pattern"]) if p))

        def which(path: str) -> int:
            m = big.match(path)
            return int(m.lastgroup[4:]) if m and m.lastgroup else -1

        rule = pd.Series([which(p) for p in paths], index=merged.index, dtype="int64")
    build = table.index[(table["category"] == BUILD_PACKAGES).to_numpy()]
    if len(build) and len(paths):
        # Files of build-time packages (compilers, -dev headers) that no path rule took: counted once.
        from ..packages import build_package_files

        owned = build_package_files(inv, image_id)
        if len(owned):
            free = (rule < 0).to_numpy() & paths.isin(owned.index).to_numpy()
            rule[free] = int(build[0])
    found = merged[rule >= 0]
    out = pd.DataFrame({
        "path": found["path"].astype(object),
        "category": table["category"].to_numpy()[rule[rule >= 0].to_numpy()],
        "rule": rule[rule >= 0].to_numpy(),
        "bytes": found["size"].astype("int64"),
        "kind": found["kind"].astype(object),
        "position": found["position"].astype("int64"),
        "layer_id": found["layer_id"].astype(object),
    })
    out["category"] = out["category"].astype(object)
    out.attrs.update(image_id=image_id)
    return out.sort_values(["bytes", "path"], ascending=[False, True], kind="stable").reset_index(drop=True)


@analysis(image=IMAGE, rules=RULES_TABLE)
def bloat(source, image, *, rules=None) -> pd.DataFrame:
    """Files in ``image``'s final filesystem that an image rarely needs, by category and layer.

    Parameters
    ----------
    {source}
    image
        Tag, image ID or ID prefix.
    rules
        Extra or overriding rules (a CSV file or a DataFrame; see ``bloat_rules``).

    Returns
    -------
    DataFrame
        One row (a finding) per category and layer that holds matching files, largest first:

        - ``image_id``, ``category`` (``apt-lists``, ``apt-cache``, ``pip-cache``, ...).
        - ``position`` (0 = base), ``layer_id``, ``created_by``: the layer that wrote the files
          and the Dockerfile command that made it.
        - ``bytes``: visible bytes (each hard-linked inode once); ``paths``: files matched.
        - ``examples``: up to three of the largest paths.
        - ``fix``: the Dockerfile change that avoids it; ``see``: a linter rule that flags it.

        ``attrs["total_bytes"]`` is the sum of ``bytes``.
    """
    inv = source
    files = bloat_files(inv, image, rules=rules)
    image_id = files.attrs["image_id"]
    table = bloat_rules(rules)
    il = inv.image_layers[inv.image_layers["image_id"] == image_id].set_index("position")
    rows = []
    for (category, position), g in files.groupby(["category", "position"], sort=False):
        # The fix of the rule that matched the most bytes in this finding.
        top_rule = int(g.groupby("rule")["bytes"].sum().idxmax())
        created_by = il["created_by"].get(position)
        rows.append({
            "image_id": image_id,
            "category": category,
            "position": int(position),
            "layer_id": g["layer_id"].iloc[0],
            "created_by": None if created_by is None or pd.isna(created_by) else str(created_by),
            "bytes": int(g["bytes"].sum()),
            "paths": len(g),
            "examples": (_build_examples(inv, image_id, g) if category == BUILD_PACKAGES
                         else list(g["path"].head(EXAMPLES))),
            "fix": table.at[top_rule, "fix"] or None,
            "see": table.at[top_rule, "see"] or None,
        })
    out = pd.DataFrame(rows, columns=BLOAT_COLUMNS)
    out = out.astype({"position": "int64", "bytes": "int64", "paths": "int64"})
    out = nulls_as_none(out, ["category", "layer_id", "created_by", "fix", "see", "image_id", "examples"])
    out = out.sort_values(["bytes", "category", "position"], ascending=[False, True, True],
                          kind="stable").reset_index(drop=True)
    out.attrs.update(image_id=image_id, total_bytes=int(out["bytes"].sum()))
    return out


def _build_examples(inv, image_id: str, g: pd.DataFrame) -> list[str]:
    """The largest build-time packages of a finding, by name."""
    from ..packages import build_package_files

    names = build_package_files(inv, image_id).reindex(g["path"].to_numpy())
    return list(g.assign(name=names.to_numpy()).groupby("name")["bytes"].sum().sort_values(ascending=False)
                .head(EXAMPLES).index)


def by_category(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings summed per category: ``category``, ``bytes``, ``paths``, ``layers``, largest first."""
    g = findings.groupby("category", sort=False).agg(bytes=("bytes", "sum"), paths=("paths", "sum"),
                                                     layers=("position", "nunique"))
    return g.reset_index().sort_values(["bytes", "category"], ascending=[False, True],
                                       kind="stable").reset_index(drop=True)


def bloat_json(findings: pd.DataFrame) -> dict:
    """The JSON shape of ``layerlab bloat --json``: ``image_id``, ``total_bytes``, ``findings``."""
    return {
        "image_id": findings.attrs.get("image_id"),
        "total_bytes": int(findings["bytes"].sum()),
        "by_category": {r.category: int(r.bytes) for r in by_category(findings).itertuples(index=False)},
        "findings": [
            {
                "category": r.category,
                "bytes": int(r.bytes),
                "paths": int(r.paths),
                "examples": list(r.examples),
                "layer": int(r.position),
                "layer_id": r.layer_id,
                "created_by": r.created_by,
                "fix": r.fix,
                "see": r.see,
            }
            for r in findings.itertuples(index=False)
        ],
    }
