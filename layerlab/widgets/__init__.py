"""ipywidgets for exploring image storage in JupyterLab.

Each widget keeps its state in traits, its handlers only filter frames and call ``layerlab.plots``
inside an Output, and ``.snapshot()`` returns its current state as static HTML (what an HTML report
shows, since callbacks do not run there): the summary and the top of the table, or the tree.
"""

from .compare import ImageCompare
from .copyups import CopyUpExplorer
from .explorer import LayerExplorer
from .tree import FileTree, file_tree

__all__ = ["CopyUpExplorer", "FileTree", "ImageCompare", "LayerExplorer", "file_tree"]
