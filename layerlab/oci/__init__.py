"""The OCI image nouns every source shares: references, media types and descriptors (manifest), and
an image config's chain IDs and history (config)."""
