"""Charts of image storage, one function per chart, seaborn-style: each takes what it draws first (an
Inventory, or the analysis frame it shows) and an optional ``ax=``, draws on it and returns the Axes
(never ``plt.show()``). A chart never opens a source or substitutes the sample.

Every byte axis names its unit (decimal: kB, MB, GB, as docker prints them) and which size it
shows: apparent, on disk or compressed.
"""

from .bloat import bloat_categories
from .packages import package_bars
from .sharing import dedup_ratios, registry_sharing, sharing_matrix
from .sizes import compressed_sizes, driver_footprint, file_sizes, size_kinds, treemap
from .waste import copy_ups, image_diff, image_waste, layer_sizes

__all__ = [
    "bloat_categories", "compressed_sizes", "copy_ups", "dedup_ratios", "driver_footprint", "file_sizes", "image_diff",
    "image_waste", "layer_sizes", "package_bars", "registry_sharing", "sharing_matrix", "size_kinds", "treemap",
]
