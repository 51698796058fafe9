"""The sample snapshots and driver measurements, bundled into the wheel as ``layerlab._bundled.data``
(see setup.py; capture/ stays out)."""
