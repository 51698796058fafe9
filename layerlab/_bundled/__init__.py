"""What the package carries besides code: the report notebooks (``layerlab._bundled.notebooks``) and
the sample snapshots and driver measurements (``layerlab._bundled.data``).

The repository keeps them where people look for them, in its top-level ``notebooks/`` and ``data/``
folders; setup.py maps those folders into this package when it builds a wheel or an editable
install, so there is no second copy in git. Both folders hold an ``__init__.py`` because
setuptools' editable installs only map folders that are regular packages.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def bundled(name: str) -> Path:
    """The folder of the bundled data package ``name`` (``"notebooks"`` or ``"data"``).

    Found through importlib.resources: in an installed wheel it is ``layerlab/_bundled/<name>`` in
    site-packages, in an editable install the repository's ``<name>/`` folder.
    """
    # pip installs wheels unpacked, so the resource folder is a real directory (a Path) that
    # notebooks, glob and pyarrow can open; a zipped install would have to be unpacked first.
    return Path(str(files(f"{__name__}.{name}")))
