"""The tests' own map (tests/README.md): a file whose tests all start real components is marked live
at module level and says live in its name, and a file that says live is marked so."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
FILES = sorted(p for p in TESTS.rglob("test_*.py") if "harness" not in p.parts)


def _marked_live(path: Path) -> bool:
    """Whether the module sets ``pytestmark`` to (or with) ``pytest.mark.live``."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in node.targets):
            return "mark.live" in ast.unparse(node.value)
    return False


def test_live_files_say_live_and_are_marked_live():
    named = {p.relative_to(TESTS).as_posix() for p in FILES if "live" in p.stem}
    marked = {p.relative_to(TESTS).as_posix() for p in FILES if _marked_live(p)}
    assert named, "no live test files found: the search is broken"
    assert marked - named == set(), "marked live at module level, but the name does not say live"
    assert named - marked == set(), "named live, but not marked live at module level"


def test_the_readme_names_every_folder_and_marker():
    readme = (TESTS / "README.md").read_text(encoding="utf-8")
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))}
    assert {f for f in folders if f"`{f}/`" not in readme} == set()
    pyproject = (TESTS.parent / "pyproject.toml").read_text(encoding="utf-8")
    markers = [line.split('"')[1].split(":")[0] for line in pyproject.split("markers = [", 1)[1].split("]", 1)[0]
               .splitlines() if '"' in line]
    assert markers and all(f"`{m}`" in readme for m in markers)
