"""bench/ and testing/ stand without tests/: they import `testing`, never `tests`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", ["bench", "testing"])
def test_no_module_imports_the_tests(package: str) -> None:
    sources = sorted((ROOT / package).rglob("*.py"))
    assert sources
    offending = {str(p.relative_to(ROOT)): sorted(m for m in imported_modules(p)
                                                 if m.split(".")[0] == "tests")
                 for p in sources}
    assert {p: m for p, m in offending.items() if m} == {}
