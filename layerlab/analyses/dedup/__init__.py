"""What images share: layers (sharing.py: ``sharing``, ``layer_dedup``, ``sharing_matrix``), identical file
contents (dedup.py: ``content_dedup``, ``dedup_levels``), and each image's base image (base.py)."""
