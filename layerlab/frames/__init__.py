"""The contract's frames: their columns and dtypes (schema), the Inventory every source returns
(inventory), and .layerlab snapshots (snapshot)."""

#: Frames an Inventory derives from its frames and its layers' contents (``inv.packages``), computed on
#: first use by the analysis layerlab/__init__.py wires in here (frames never import analyses).
DERIVED: dict = {}
