"""The contract's frames: their columns and dtypes (schema), the Inventory every source returns
(inventory), and .layerlab snapshots (snapshot)."""
