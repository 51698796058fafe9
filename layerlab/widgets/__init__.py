"""ipywidgets for exploring image storage in JupyterLab.

Each widget keeps its state in traits, its handlers only filter frames and call ``layerlab.plots``
inside an Output, and ``.snapshot()`` returns a static matplotlib Figure of its current state (what
an HTML report shows, since callbacks do not run there).
"""

from .compare import ImageCompare
from .copyups import CopyUpExplorer
from .explorer import LayerExplorer

__all__ = ["CopyUpExplorer", "ImageCompare", "LayerExplorer"]
