"""Shared numpydoc pieces for the parameters that plots, widgets and reports have in common.

A function's docstring names a piece as ``{source}`` and is filled in by ``@fill_doc`` (seaborn's
``_docstrings.py`` idea, kept small); the analyses' ``@analysis`` fills ``{source}`` the same way.
"""

from __future__ import annotations

PIECES = {
    "source": """source : str, path or Inventory
        What to read, opened once (an Inventory already open is used as is): a data root (Docker's,
        graphdriver or containerd store, or a containers-storage graph root of podman, buildah or
        CRI-O), a ``.layerlab`` snapshot (a folder or an fsspec URL such as ``s3://bucket/h.layerlab``),
        ``"sample"`` or ``"sample:<driver>"`` (the bundled sample), ``containers-storage:[DRIVER@ROOT]REF``,
        ``docker-archive:PATH`` (``docker save`` output), ``oci:DIR[:REF]`` (an OCI layout),
        ``oci-archive:PATH[:REF]``, ``docker://REF`` (an image in a registry), or a bare path to an
        archive or a layout, recognised by what it holds.""",
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
