"""``python -m layerlab.cli``: the ``layerlab`` command without its console script (the tests run it so)."""

import sys

from . import main

sys.exit(main())
