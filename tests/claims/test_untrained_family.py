"""A family of untrained models must never PASS a claim: the control is part of every decision.

Five random initialisations of the base zoo family's config are declared as a family with `--claims-family`, exactly as a
user would declare their own seeds, and every claim runs on them in a nested pytest session. Their "effects"
are what initialisation alone produces, which is what each claim's control measures, so no row may PASS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEEDS = (90_000, 90_001, 90_002, 90_003, 90_004)


@pytest.fixture(scope="module")
def untrained_family(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from zoo.build import build_model, load_tokenizer
    from zoo.families import FAMILIES

    spec = FAMILIES["zoo-gpt2-s"]
    root = tmp_path_factory.mktemp("untrained")
    folders = []
    for seed in SEEDS:
        folder = root / f"init-{seed}"
        build_model(spec, seed).half().save_pretrained(folder)
        load_tokenizer(spec.tokenizer_dir).save_pretrained(folder)
        folders.append(folder)
    return folders


def test_a_family_of_untrained_models_passes_no_claim(
    untrained_family: list[Path], tmp_path: Path, lean_flags: tuple[str, ...]
) -> None:
    report = tmp_path / "summary.json"
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(ROOT / "tests" / "claims" / "test_claims.py"),
        *lean_flags,
        "-q",
        "--claims-no-figures",
        "--claims-family",
        "untrained=" + ",".join(str(f) for f in untrained_family),
        "--claims-models",
        "untrained",
        "--claims-datasets",
        "sotu",
        "-m",
        "not original",  # the zoo's original rows come along as references; only the untrained rows matter here
        "--claims-report",
        str(report),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=dict(os.environ), check=False)
    assert report.is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    rows = [r for r in json.loads(report.read_text())["claims"] if r["model"] == "untrained"]
    assert len(rows) >= 20, f"only {len(rows)} rows ran on the untrained family"
    errors = [f"{r['id']}: {r['reason']}" for r in rows if r["verdict"] == "ERROR"]
    assert not errors, errors
    passed = [
        f"{r['id']}: {r['key']['name']} = {r['key']['value']} ({r['reason'][:200]})"
        for r in rows
        if r["verdict"] == "PASS"
    ]
    assert not passed, "untrained models passed:\n" + "\n".join(passed)
