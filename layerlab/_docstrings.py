"""Shared numpydoc pieces for the parameters that plots, widgets and reports have in common.

A function's docstring names a piece as ``{source}`` and is filled in by ``@fill_doc`` (seaborn's
``_docstrings.py`` idea, kept small).
"""

from __future__ import annotations

PIECES = {
    "source": """source : str, path, Inventory or None
        What to read: a Docker data root, a ``.layerlab`` snapshot, ``"sample"`` (the bundled
        sample, also the meaning of None), ``"sample:<driver>"``, or an Inventory already open.""",
    "inv": """inv : Inventory
        What to draw: an opened source (``layerlab.open_source(...)``, ``layerlab.sample()``, ...).
        Charts never open or substitute a source themselves.""",
    "image": """image : str
        An image tag (``app:1``), full image ID or ID prefix.""",
    "ax": """ax : matplotlib Axes, optional
        Axes to draw on; the current Axes (``plt.gca()``) when omitted.""",
    "returns_ax": """Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on (the figure is never shown; the caller or the notebook shows it).""",
    "top": """top : int
        How many of the largest rows to show; the rest are summed into one "other" entry where
        that makes sense.""",
    "label_width": """label_width : int
        Longest label in characters; longer image names are shortened in the middle so the tag
        at the end stays readable.""",
}


def fill_doc(func):
    """Replace ``{name}`` placeholders in ``func.__doc__`` with the shared pieces."""
    if func.__doc__:
        func.__doc__ = func.__doc__.format(**PIECES)
    return func
