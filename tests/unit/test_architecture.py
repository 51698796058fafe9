"""The package's shape (docs/architecture.md): imports flow one way through the rooms, no import cycle
(imports inside functions count), every module imports and every import names a module that exists,
no module imports another module's private names, and the runtime never imports the test harness."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "layerlab"


def _script():
    """scripts/architecture.py: the rooms' order and the generated part of docs/architecture.md."""
    spec = importlib.util.spec_from_file_location("architecture", PACKAGE.parent / "scripts" / "architecture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ARCHITECTURE = _script()
#: The rooms in the order the data flows; a room may import only rooms before it (and itself).
ORDER = ARCHITECTURE.ROOMS
#: Private modules other rooms may import whole (their public names are the point of them).
SHARED_PRIVATE_MODULES = {"layerlab.sources._reader"}


#: A file's module name, and what it imports at any depth (imports inside functions count; ``from
#: layerlab import plots`` imports the module layerlab.plots): the script's own reading of imports.
_module = ARCHITECTURE.module_name
_imports = ARCHITECTURE.imported_modules


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "layerlab" and len(parts) > 1 else ("__init__" if module == "layerlab" else None)


FILES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)
MODULES = {_module(p) for p in FILES} | {_module(p.with_suffix(".py")) for p in PACKAGE.rglob("*.c")}


def _graph() -> dict[str, set[str]]:
    """Module -> the layerlab modules it imports, at any depth (a name imported from a package counts
    as importing the package's __init__)."""
    graph = {m: set() for m in MODULES}
    for path in FILES:
        here = _module(path)
        graph[here] |= {t for t, _ in _imports(path) if t in MODULES and t != here}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


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
        assert ORDER.index(there) < ORDER.index(here), (f"{_module(path)} ({here}) imports {target} ({there}): against "
                                                        "the flow")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_private_names_cross_modules(path):
    for target, names in _imports(path):
        if not target.startswith("layerlab"):
            continue
        private = [n for n in names if n.startswith("_") and not n.startswith("__")
                   and f"{target}.{n}" not in SHARED_PRIVATE_MODULES
                   and not (PACKAGE.parent / f"{target}.{n}".replace(".", "/")).with_suffix(".c").exists()
                   and not (PACKAGE.parent / target.replace(".", "/") / f"{n}.py").exists()]
        assert not private, f"{_module(path)} imports private names {private} from {target}"


def test_no_import_cycles():
    graph = _graph()
    cycles = list(_cycles(graph))
    described = ["; ".join(f"{m} -> {', '.join(sorted(graph[m] & set(c)))}" for m in c) for c in cycles]
    assert not cycles, "import cycles (imports inside functions count):\n" + "\n".join(described)


def test_docs_architecture_md_lists_every_module_from_its_docstring():
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert ARCHITECTURE.generated_part(doc) == ARCHITECTURE.markdown(), \
        "regenerate: python scripts/architecture.py --write"
    listed = {line.split("`")[1] for line in ARCHITECTURE.markdown().splitlines() if line.startswith("  - `")}
    in_packages = {p.relative_to(PACKAGE / p.relative_to(PACKAGE).parts[0]).as_posix()
                   for p in ARCHITECTURE.sources() if len(p.relative_to(PACKAGE).parts) > 1}
    assert in_packages <= listed
    assert all(ARCHITECTURE.summary(p) for p in ARCHITECTURE.sources()), "a module without a docstring"


def test_the_image_readers_depend_on_oci_and_the_blob_store_not_on_each_other():
    graph = _graph()
    readers = {"layerlab.sources.archive", "layerlab.sources.ocilayout", "layerlab.sources.registry.image"}
    for reader in readers:
        assert not graph[reader] & readers, f"{reader} imports {sorted(graph[reader] & readers)}"
    assert {"layerlab.sources.blobstore", "layerlab.oci.manifest"} <= graph["layerlab.sources.ocilayout"]


def test_media_types_are_named_only_in_oci():
    # oci/ is the one home of the image nouns: a reader names a media type through oci.manifest.
    for path in FILES:
        if _room(_module(path)) != "oci":
            assert "application/vnd." not in path.read_text(encoding="utf-8"), f"{_module(path)} names a media type"


def test_the_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}, "f": set()}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"x": {"y"}, "y": set()}) == []


def test_every_import_names_a_module_that_exists():
    for path in FILES:
        for target, names in _imports(path):
            if not target.startswith("layerlab"):
                continue
            assert target in MODULES, f"{_module(path)} imports {target}, which is no module"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not m.endswith("__main__")))
def test_every_module_imports(module):
    importlib.import_module(module)


def test_runtime_never_imports_the_harness_or_pytest():
    for path in FILES:
        for target, _ in _imports(path):
            assert not target.startswith(("harness", "pytest", "tests")), f"{_module(path)} imports {target}"


def test_the_packages_are_reached_from_the_root_lazily():
    # ll.analyses.efficiency works after `import layerlab as ll` alone, and the import stays light.
    import subprocess
    import sys

    code = ("import sys, layerlab as ll; light = 'pandas' not in sys.modules; "
            "print(light, callable(ll.analyses.efficiency), callable(ll.plots.image_waste), "
            "callable(ll.tables.readable), callable(ll.widgets.LayerExplorer), sorted({'analyses', 'plots', "
            "'tables', 'widgets'} - set(dir(ll))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "True True True True True []"


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
            "print(sorted(m for m in ('pandas', 'pyarrow', 'matplotlib', 'numpy', 'ipywidgets', 'dask', "
            "'rfc3987_syntax') "
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
