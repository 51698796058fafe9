"""What storage costs under each driver: container copy-ups (copyups.py), the copy-on-write models
(cow_model.py: ``simulate_writes``) and the measurements that test them (measurements.py), a containerd
store's two copies (store_usage.py), a layer's three sizes: uncompressed, on disk, compressed (compressed.py)."""
