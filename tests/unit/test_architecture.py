"""The package's shape (docs/architecture.md): imports flow one way through the rooms, no module
imports another module's private names, and the runtime never imports the test harness."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "layerlab"

#: The rooms in the order the data flows; a room may import only rooms before it (and itself).
ORDER = [
    "_version", "_lazy", "_bundled", "errors", "_docstrings", "display",
    "frames", "oci", "sources", "analyses", "collect", "tables", "plots", "widgets", "reports", "fleet", "cli",
]
#: Private modules other rooms may import whole (their public names are the point of them).
SHARED_PRIVATE_MODULES = {"layerlab.sources._reader"}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path):
    """(imported module, names) for every import in the file, at any depth (imports inside functions count)."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [a.name for a in node.names]
            # "from layerlab import plots" imports the module layerlab.plots, not a name of layerlab
            where = PACKAGE.parent / target.replace(".", "/")
            submodules = [n for n in names if (where / n).is_dir() or (where / f"{n}.py").exists()]
            for n in submodules:
                yield f"{target}.{n}", []
            rest = [n for n in names if n not in submodules]
            if rest:
                yield target, rest


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "layerlab" and len(parts) > 1 else ("__init__" if module == "layerlab" else None)


FILES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_room_is_known():
    assert {_room(_module(p)) for p in FILES} - {"__init__"} <= set(ORDER)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_one_way(path):
    here = _room(_module(path))
    if here == "__init__":
        return  # the public API re-exports from every room
    for target, _ in _imports(path):
        there = _room(target)
        if there is None or there == here:
            continue
        assert there != "__init__", f"{path.name} imports the top-level package (import the room instead)"
        assert ORDER.index(there) < ORDER.index(here), f"{_module(path)} ({here}) imports {target} ({there}): against the flow"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_private_names_cross_modules(path):
    for target, names in _imports(path):
        if not target.startswith("layerlab"):
            continue
        private = [n for n in names if n.startswith("_") and not n.startswith("__")
                   and f"{target}.{n}" not in SHARED_PRIVATE_MODULES and not (PACKAGE.parent / f"{target}.{n}".replace(".", "/")).with_suffix(".c").exists()
                   and not (PACKAGE.parent / target.replace(".", "/") / f"{n}.py").exists()]
        assert not private, f"{_module(path)} imports private names {private} from {target}"


def test_runtime_never_imports_the_harness_or_pytest():
    for path in FILES:
        for target, _ in _imports(path):
            assert not target.startswith(("harness", "pytest", "tests")), f"{_module(path)} imports {target}"


def test_the_cli_starts_without_pandas_pyarrow_or_matplotlib():
    # --help and --version answer at once: building the parser imports none of the heavy libraries.
    import subprocess
    import sys

    code = ("import sys, layerlab, layerlab.cli; layerlab.cli.build_parser(); "
            "print(sorted(m for m in ('pandas', 'pyarrow', 'matplotlib', 'numpy', 'dask') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", f"building the CLI parser imports {out}"


def test_a_report_page_worker_imports_no_pandas_or_widgets():
    # Each page of a report renders in a worker process that imports reports.page to run it: its
    # kernel imports what the notebook needs, so the worker itself must stay light.
    import subprocess
    import sys

    code = ("import sys, layerlab.reports.page as page; page.warm(); "
            "print(sorted(m for m in ('pandas', 'pyarrow', 'matplotlib', 'numpy', 'ipywidgets', 'dask', 'rfc3987_syntax') "
            "if sys.modules.get(m)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", f"a report page's worker imports {out}"


def test_notebooks_still_validate_without_the_iri_format_checker(tmp_path):
    import subprocess
    import sys

    from layerlab.reports import notebooks

    code = ("import sys, layerlab.reports.page as page; page.skip_iri_format_checker(); import nbformat; "
            f"nb = nbformat.read({str(notebooks()[0])!r}, as_version=4); nbformat.validate(nb); "
            "nb.cells[0]['cell_type'] = 'nonsense'\n"
            "try:\n nbformat.validate(nb)\nexcept nbformat.ValidationError:\n print('refused')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "refused"  # validation runs: a good notebook passes, a broken one is refused
