"""The stages of the pipeline are folders, and imports between them point one way.

engine/ (statistics on tensors) is the ground floor: it imports nothing of the project, so it can be read,
tested and reused without models or pytest. fixtures/ (sources: models, corpora, tokens, activations) may use the
engine; claims/ (the framework, the claims and the report) may use both. Nothing below claims/ imports it. A
function-level import counts as much as a module-level one: it is the same dependency, only later.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("engine", "fixtures", "claims")  # each may import the ones before it, never the ones after


def _project_imports(package: str) -> dict[str, set[str]]:
    """{file: top-level project packages it imports} for every .py file under `package`."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[path.relative_to(ROOT).as_posix()] = names & {*STAGES, "zoo", "scripts", "tests"}
    return found


@pytest.mark.parametrize("stage", STAGES)  # the engine case: it imports nothing of the project
def test_a_stage_imports_only_the_stages_before_it(stage: str) -> None:
    allowed = set(STAGES[: STAGES.index(stage) + 1])
    if stage != "engine":
        allowed.add("zoo")  # the zoo's declarations are a model source, read by fixtures/models.py
    wrong = {f: sorted(names - allowed) for f, names in _project_imports(stage).items() if names - allowed}
    assert not wrong, f"imports against the pipeline's direction: {wrong}"


def test_the_pytest_fixtures_of_a_claims_run_live_in_fixtures() -> None:
    def fixtures_in(package: str) -> list[str]:
        found = []
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.FunctionDef) and any("fixture" in ast.unparse(d) for d in node.decorator_list):
                    found.append(f"{path.relative_to(ROOT).as_posix()}::{node.name}")
        return found

    assert not fixtures_in("claims"), "pytest fixtures belong in fixtures/ (the sources stage)"
    assert {"workbench", "claim_result", "claim_gate"} <= {f.split("::")[1] for f in fixtures_in("fixtures")}


def test_the_zoo_modules_that_fixtures_use_do_not_import_fixtures_back() -> None:
    # fixtures/ builds zoo members' untrained copies (zoo/build.py) from their declarations (zoo/families.py);
    # training and cards import fixtures/, so they must not be what fixtures/ imports: that would be a loop
    used = {
        node.module
        for path in sorted((ROOT / "fixtures").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("zoo.")
    }
    assert used <= {"zoo.families", "zoo.build"}, used
    back = {
        m: names for m, names in _project_imports("zoo").items() if m in {f"{u.replace('.', '/')}.py" for u in used}
    }
    assert all(not (names & {"fixtures", "claims"}) for names in back.values()), back
