"""The report notebooks, bundled into the wheel as ``layerlab._bundled.notebooks`` (see setup.py)."""
