"""Docker data roots with the graphdriver image store: the reader (dataroot) and where each storage
driver keeps a layer (layouts)."""
