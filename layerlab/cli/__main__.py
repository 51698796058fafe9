"""``python -m layerlab.cli`` runs the ``layerlab`` command."""

import sys

from . import main

sys.exit(main())
