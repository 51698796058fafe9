"""Names a package imports on first use (PEP 562), so importing it stays fast.

Hand-written rather than the ``lazy_loader`` package: this is a dozen lines, and lazy_loader's own
import (``inspect`` among others) would cost ``layerlab --version`` more than it saves.
"""

from __future__ import annotations

import importlib


def attach(package: str, names: dict[str, str], namespace: dict, submodules: tuple[str, ...] = ()):
    """``__getattr__`` and ``__dir__`` for ``package``: each of ``names`` (public name -> the module,
    relative to ``package``, that defines it) is imported when first asked for and then kept in
    ``namespace`` (the package's globals); each of ``submodules`` is the submodule itself."""

    def __getattr__(name: str):
        if name in submodules:
            return importlib.import_module(f".{name}", package)
        if name in names:
            value = getattr(importlib.import_module(names[name], package), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted({*namespace, *names, *submodules})

    return __getattr__, __dir__
