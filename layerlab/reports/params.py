"""Notebook parameters, papermill's contract: each notebook has one cell tagged ``parameters`` with
working defaults; given values go into a cell tagged ``injected-parameters`` right after it."""

from __future__ import annotations

import ast
import os
from pathlib import Path

from .._bundled import bundled
from ..errors import ReportError


def notebooks_dir() -> Path:
    """Where the notebooks are: $LAYERLAB_NOTEBOOKS, else the ones the package carries
    (``layerlab._bundled.notebooks``: the repository's notebooks/ folder)."""
    env = os.environ.get("LAYERLAB_NOTEBOOKS")
    return Path(env) if env else bundled("notebooks")


def notebooks() -> list[Path]:
    """The report notebooks, in reading order (their file names start with a number)."""
    # Fleet notebooks read many hosts' snapshots: `layerlab fleet report` renders them, not this.
    found = sorted(p for p in notebooks_dir().glob("[0-9]*.ipynb") if not p.stem.endswith("-fleet"))
    if not found:
        raise ReportError(f"no notebooks in {notebooks_dir()}; reinstall layerlab (its wheel carries them) or set "
                          "LAYERLAB_NOTEBOOKS")
    return found


# -- parameters ---------------------------------------------------------------------------------

def _parameters_cell(nb) -> int | None:
    for i, cell in enumerate(nb.cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return i
    return None


def parameters(nb) -> dict:
    """The parameters a notebook declares, ``{name: default}``, from its ``parameters`` cell."""
    import nbformat

    if isinstance(nb, (str, os.PathLike)):
        nb = nbformat.read(nb, as_version=4)
    index = _parameters_cell(nb)
    if index is None:
        return {}
    out = {}
    for node in ast.parse(nb.cells[index].source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                out[node.targets[0].id] = None
    return out


def known_parameters(paths=None) -> dict:
    """Every parameter any report notebook declares, with the first default seen."""
    known: dict = {}
    for path in paths or notebooks():
        for name, default in parameters(path).items():
            known.setdefault(name, default)
    return known


def check_parameters(params: dict, known) -> None:
    """Raise ReportError naming the unknown parameters and listing the known ones."""
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ReportError(
            f"unknown report parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"known parameters: {', '.join(sorted(known))}"
        )


def coerce_value(value, default):
    """A ``--param`` string as the type of the notebook's default: ``none`` -> None, numbers, booleans,
    Python literals for lists; text stays text."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.lower() in ("none", "null"):
        return None
    if isinstance(default, bool):
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ReportError(f"expected true or false, got {value!r}")
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        try:
            return type(default)(text)
        except ValueError:
            raise ReportError(f"expected a number, got {value!r}") from None
    if isinstance(default, (list, tuple, dict)):
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return [v.strip() for v in text.split(",") if v.strip()]
    return value


def inject_parameters(nb, params: dict):
    """A copy of ``nb`` with ``params`` in a cell tagged ``injected-parameters`` right after the
    ``parameters`` cell (replacing an earlier injected cell), as papermill does."""
    import nbformat

    nb = nbformat.from_dict(nb)  # a copy
    known = parameters(nb)
    check_parameters(params, known)
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    if not params:
        return nb
    lines = ["# Parameters (injected by layerlab report)"]
    lines += [f"{name} = {coerce_value(value, known.get(name))!r}" for name, value in params.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines), metadata={"tags": ["injected-parameters"]})
    index = _parameters_cell(nb)
    nb.cells.insert(index + 1, cell)
    return nb

