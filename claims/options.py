"""The claims plugin's command-line options and ini keys: names, defaults, help, and where reports go.

One home for every option name, so the plugin's hooks, the run session and the tests spell them the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from claims.registry import PAPERS_PACKAGE

PROFILE_OPTION = "--claims-profile"
MODELS_OPTION = "--claims-models"
DATASETS_OPTION = "--claims-datasets"
FAMILY_OPTION = "--claims-family"
FAMILIES_FILE_OPTION = "--claims-families-file"
TOKENS_OPTION = "--claims-tokens"
SAMPLE_OPTION = "--claims-sample-tokens"
CONTEXT_OPTION = "--claims-context-length"
DEVICE_OPTION = "--claims-device"
DTYPE_OPTION = "--claims-dtype"
SEED_OPTION = "--claims-seed"
REPORT_OPTION = "--claims-report"
BASELINE_OPTION = "--claims-baseline"
UPDATE_BASELINE_OPTION = "--claims-update-baseline"
NO_FIGURES_OPTION = "--claims-no-figures"
CLAIMS_OPTION = "--claims"
LIST_OPTION = "--claims-list"
PLAN_OPTION = "--claims-plan"
CACHE_INFO_OPTION = "--claims-cache-info"
CACHE_PRUNE_OPTION = "--claims-cache-prune"

REPORT_DEFAULT = Path("reports/summary.json")
OPTION_DEFAULTS: dict[str, Any] = {}  # option name -> default, filled by pytest_addoption (see `active`)
NARROWED_FOLDER = "narrowed"  # a narrowed run's report, beside the full one
PREVIOUS_FOLDER = "previous"  # the earlier report of a folder, retired as a whole
REPORT_ARTEFACTS = ("summary.md", "report.html", "figures")  # written beside summary.json by claims/report/render.py

PACKAGES_INI = "claims_packages"
ROW_PROPERTY = "claim_row"
ROOT = Path(__file__).resolve().parent.parent


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def add_options(parser: pytest.Parser) -> None:
    """The `claims` option group (called from the plugin's `pytest_addoption`)."""
    group = parser.getgroup("claims", "paper-claim replication (neuron-claims)")
    group.addoption(
        PROFILE_OPTION,
        default="default",
        metavar="NAME",
        help="run profile (default, smoke, paper). Default: %(default)r",
    )
    group.addoption(
        MODELS_OPTION,
        type=_csv,
        default=None,
        metavar="SPEC,...",
        help="models or families to run on, replacing the profile's (registered names, local dirs, hub ids)",
    )
    group.addoption(
        DATASETS_OPTION,
        type=_csv,
        default=None,
        metavar="SPEC,...",
        help="corpora to run on, replacing the profile's (registered names, .txt files/folders, hf:<id>)",
    )
    group.addoption(
        FAMILY_OPTION,
        action="append",
        default=[],
        metavar="NAME=SPEC,SPEC,...",
        help="declare a model family (>= 2 seeds); repeatable",
    )
    group.addoption(
        FAMILIES_FILE_OPTION,
        type=Path,
        default=None,
        metavar="TOML",
        help="declare families from a TOML file ([families.NAME] members = [...])",
    )
    group.addoption(
        TOKENS_OPTION, type=int, default=None, metavar="N", help="tokens per (model, dataset), overriding the profile"
    )
    group.addoption(
        SAMPLE_OPTION,
        type=int,
        default=None,
        metavar="N",
        help="most tokens per (model, dataset) kept as per-token activations (the rest is only streamed), "
        "overriding the profile",
    )
    group.addoption(
        CONTEXT_OPTION, type=int, default=None, metavar="N", help="tokens per context (capped by the model's n_ctx)"
    )
    group.addoption(
        DEVICE_OPTION,
        default="auto",
        metavar="auto|cpu|cuda",
        help="where models run (auto: a GPU when present; xdist workers are pinned one GPU each). Default: %(default)r",
    )
    group.addoption(
        DTYPE_OPTION,
        default="float32",
        metavar="DTYPE",
        help="model compute dtype (float32, bfloat16, float16). Default: %(default)r",
    )
    group.addoption(
        SEED_OPTION, type=int, default=None, metavar="N", help="sampling/baseline seed (default: the profile's)"
    )
    group.addoption(
        REPORT_OPTION,
        type=Path,
        default=REPORT_DEFAULT,
        metavar="PATH",
        help="where the summary JSON goes. Default: %(default)s",
    )
    group.addoption(
        BASELINE_OPTION,
        type=Path,
        default=None,
        metavar="FILE",
        help="gate on a committed baseline: only regressions fail",
    )
    group.addoption(
        UPDATE_BASELINE_OPTION,
        action="store_true",
        default=False,
        help="rewrite the --claims-baseline file from this run",
    )
    group.addoption(
        CLAIMS_OPTION,
        type=_csv,
        default=None,
        metavar="ID,...",
        help="run only these claims, by exact id (-k U1 would also match U1-published)",
    )
    group.addoption(LIST_OPTION, action="store_true", default=False, help="list the registered claims and exit")
    group.addoption(
        PLAN_OPTION,
        action="store_true",
        default=False,
        help="print the selected run's models, tokens, disk, memory and estimated time, then exit (refused, exit "
        "status 4, when it does not fit this machine); runs nothing",
    )
    group.addoption(NO_FIGURES_OPTION, action="store_true", default=False, help="skip figures and the HTML report")
    group.addoption(
        CACHE_INFO_OPTION,
        action="store_true",
        default=False,
        help="print the size of each cache folder and what is stale (unused for 30 days, or unreadable), then exit",
    )
    group.addoption(
        CACHE_PRUNE_OPTION,
        type=float,
        default=None,
        metavar="DAYS",
        help="remove cache entries unused for DAYS days and leftovers no run reads (entries in use are skipped), "
        "then exit",
    )
    for argument in group.options:
        OPTION_DEFAULTS[argument.names()[0]] = argument.attrs().get("default")
    parser.addini(
        PACKAGES_INI,
        type="linelist",
        default=[],
        help="packages whose modules register claims; in a project that names none the plugin does nothing",
    )


def claim_packages(config: pytest.Config) -> list[str]:
    """The packages whose modules register claims (the paper's when the project names none)."""
    return list(config.getini(PACKAGES_INI)) or [PAPERS_PACKAGE]
