"""The decorator every public analysis wears: its arguments checked, its source opened once.

``@analysis(image=IMAGE, ...)`` checks each named argument (``errors.expects``; ``source`` always),
then hands the function an Inventory: an Inventory passes as is (an analysis calling another passes
the one it holds, so nothing is opened twice), anything else goes through ``open_source`` once.
The ``{source}`` placeholder of the docstring becomes the one description of what a source may be
(``_docstrings.PIECES["source"]``).
"""

from __future__ import annotations

import functools
import inspect

from .._docstrings import PIECES
from ..errors import expects
from ..frames.inventory import SOURCE, Inventory
from ..sources import open_source


def analysis(**specs):
    """Decorate a public analysis whose parameter ``source`` is what to read (see the module)."""
    def decorate(fn):
        if fn.__doc__:
            fn.__doc__ = fn.__doc__.replace("{source}", PIECES["source"])
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def opening(*args, **kwargs):
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError:  # a missing or unknown argument: Python's own message says it best
                return fn(*args, **kwargs)
            bound.apply_defaults()
            if not isinstance(bound.arguments["source"], Inventory):
                bound.arguments["source"] = open_source(bound.arguments["source"])
            return fn(*bound.args, **bound.kwargs)

        return expects(source=SOURCE, **specs)(opening)
    return decorate
