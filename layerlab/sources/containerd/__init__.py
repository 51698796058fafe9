"""containerd's image store (Docker 29's default): the read-only bbolt reader, containerd's
metadata (meta) and the store read into the contract's frames (store)."""
