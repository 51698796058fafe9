"""Hidden bytes and dive's figures: ``waste``, ``efficiency``, ``dive_analysis`` (waste.py), every image
stacked in one walk (layertree.py), waste by Dockerfile line (attribution.py), totals that count a byte
once and dangling images (totals.py), and the CI gates on them (check.py: dive's rules, gate.py: layerlab's)."""
