"""``python -m layerlab.cli``: the ``layerlab`` command without its console script (the tests run it so)."""

from . import run

run()
