"""The production packages stand alone: test fakes and benchmarks live under tests/."""

from __future__ import annotations

import ast

from tests.conftest import ROOT


def imported_modules(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_nothing_in_buddy_or_matching_imports_from_tests():
    files = sorted([*(ROOT / "buddy").rglob("*.py"), *(ROOT / "matching").rglob("*.py")])
    assert len(files) > 50
    offenders = {str(path.relative_to(ROOT)): sorted(
        name for name in imported_modules(path) if name == "tests" or name.startswith("tests."))
        for path in files}
    assert {path: names for path, names in offenders.items() if names} == {}
    assert not (ROOT / "buddy" / "messaging" / "fakes.py").exists()
