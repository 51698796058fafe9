"""Charts of image storage, one function per chart, seaborn-style: each takes a source or frames
and an optional ``ax=``, draws on it and returns the Axes (never ``plt.show()``).

Every byte axis names its unit (decimal: kB, MB, GB, as docker prints them) and which size it
shows: apparent, on disk or compressed.
"""

from .bloat import bloat_categories
from ._util import human_bytes, image_names, pick_two, resolve_image, shorten
from .sharing import dedup_ratios, dedup_table, registry_sharing, sharing_matrix
from .storage import compressed_sizes, driver_footprint, file_sizes, size_kinds, treemap
from .waste import copy_ups, image_diff, image_waste, layer_reasons, layer_sizes

__all__ = [
    "bloat_categories", "compressed_sizes", "copy_ups", "image_diff", "image_waste", "layer_reasons", "layer_sizes", "dedup_ratios", "dedup_table", "driver_footprint", "file_sizes", "human_bytes",
    "image_names", "pick_two", "registry_sharing", "resolve_image", "sharing_matrix", "shorten", "size_kinds", "treemap",
]
