"""Analyses: pure functions from a source's frames to long-form DataFrames (no plotting).

Every function takes ``source`` first: anything ``layerlab.open_source`` takes (an Inventory, a data
root, a ``.layerlab`` snapshot, ``"sample"``, an image such as ``docker-archive:PATH`` or ``docker://REF``),
opened once by ``@analysis`` (opening.py); images are named by tag, ID or ID prefix, containers by
name, ID or ID prefix. The shared steps are flat here (stacking, merged, hashing, rules, summary);
the analyses are grouped in families: dive/, dedup/, diff/, hygiene/, drivers/.
"""

from __future__ import annotations

from .dedup.base import base_images
from .hygiene.bloat import bloat, bloat_files, bloat_rules
from .dive.check import check, load_rules, parse_bytes
from .drivers.copyups import copy_ups
from .dedup.dedup import content_dedup, dedup_levels
from .diff.diff import diff_images, diff_layers, layer_changes
from .fix_first import fix_first, pick_image, pick_pair
from .merged import merged_view
from .packages import diff_packages, layer_package_counts, layer_packages, package_sizes, packages
from .dedup.sharing import layer_dedup, sharing, sharing_matrix
from .dive.waste import dive_analysis, efficiency, layer_reasons, waste

__all__ = [
    "base_images",
    "bloat",
    "bloat_files",
    "bloat_rules",
    "check",
    "content_dedup",
    "dedup_levels",
    "copy_ups",
    "diff_packages",
    "diff_images",
    "diff_layers",
    "dive_analysis",
    "efficiency",
    "fix_first",
    "layer_changes",
    "layer_dedup",
    "layer_package_counts",
    "layer_packages",
    "layer_reasons",
    "load_rules",
    "merged_view",
    "package_sizes",
    "packages",
    "parse_bytes",
    "pick_image",
    "pick_pair",
    "sharing",
    "sharing_matrix",
    "waste",
]
