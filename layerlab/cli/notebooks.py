"""``layerlab notebooks DIR``: copy the notebooks the package carries into a folder of your own, so a
pip user can open and edit them in JupyterLab (``pip install 'layerlab[lab]'``)."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from ..errors import ReportError
from ..frames.output import prepare_dir


def copy_notebooks(target, force: bool = False) -> list[Path]:
    """Copy the report notebooks and the fleet notebook into ``target`` (created if missing) and
    return the copies.

    Existing notebooks of the same name are kept (a ReportError names them) unless ``force``:
    they may hold the user's edits. ``/``, an empty path and symbolic links among the copies'
    names are refused (OutputError) even with ``force``: nothing is written through a link.
    """
    from ..reports.params import notebooks, notebooks_dir

    # The report's notebooks and the fleet notebook (`layerlab fleet report` renders it), as the README says.
    sources = sorted({*notebooks(), *notebooks_dir().glob("[0-9]*-fleet.ipynb")})
    names = [p.name for p in sources]
    clash = [n for n in names if str(target).strip() and os.path.lexists(Path(target) / n)]
    if clash and not force:
        raise ReportError(
            f"{target} already has {', '.join(clash)}; pass --force to overwrite them, or pick another folder",
            path=str(target),
        )
    # Never into / or an unnamed folder, never through a symbolic link even with --force.
    target = prepare_dir(target, "notebooks", names=names, force=True, option="DIR")
    copies = []
    for p in sources:
        fd = os.open(target / p.name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        with os.fdopen(fd, "wb") as out, open(p, "rb") as src:
            shutil.copyfileobj(src, out)
        copies.append(target / p.name)
    return copies


def cmd_notebooks(args) -> int:
    copied = copy_notebooks(args.dir, force=args.force)
    for path in copied:
        print(path)
    print(f"\n{len(copied)} notebooks in {args.dir}; open them with:  jupyter lab {args.dir}")
    if importlib.util.find_spec("jupyterlab") is None:
        print("(JupyterLab is not installed here: pip install 'layerlab[lab]', or conda install jupyterlab)")
    return 0


def add_parser(sub) -> None:
    """Add ``notebooks`` to the ``layerlab`` command's subparsers."""
    s = sub.add_parser("notebooks", help="copy the bundled notebooks into a folder, to open and edit in JupyterLab")
    s.add_argument("dir", help="folder to copy them into (created if missing)")
    s.add_argument("--force", action="store_true", help="overwrite notebooks of the same name already there")
    s.set_defaults(func=cmd_notebooks)
