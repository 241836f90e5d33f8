"""docs/reliability.md names every reliability test, so the table of bad inputs and faults cannot rot."""

from __future__ import annotations

import ast
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOC = HERE.parents[2] / "docs" / "reliability.md"


def _test_functions() -> set[str]:
    names = set()
    for path in sorted(HERE.glob("test_*.py")):
        tree = ast.parse(path.read_text())
        names |= {
            f"{path.name}::{node.name}"
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
        }
    return names


def test_reliability_doc_lists_every_reliability_test() -> None:
    doc = DOC.read_text()
    missing = sorted(name for name in _test_functions() if name not in doc)
    assert not missing, f"add these tests to {DOC.name}: {missing}"
    assert len(_test_functions()) > 30
