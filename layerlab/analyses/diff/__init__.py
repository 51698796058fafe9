"""Two images compared: paths added, removed and changed (diff.py: ``diff_images``, ``diff_layers``,
``layer_changes``), what a diff means for the size (diff_rank.py), content digests across two sources
(pair_hash.py)."""
