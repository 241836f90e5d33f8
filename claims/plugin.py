"""pytest plugin: expands registered claims into parametrised tests and writes reports/summary.json.

Hooks appear in the order pytest calls them. Heavy lifting lives elsewhere: the options (claims/options.py), the
run session that checks them, collects rows and writes the reports (claims/session.py), the fixtures that run a
case (fixtures/plugin.py), the matrix (claims/matrix.py), the run (claims/runner.py), the summary
(claims/report/), baseline gating (claims/baseline.py). Results travel from xdist workers to the controller on
each test report; only the controller writes files.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from claims import baseline as baseline_mod
from claims import report
from claims.matrix import ClaimCase, case_scale, serves
from claims.options import (
    CACHE_INFO_OPTION,
    CACHE_PRUNE_OPTION,
    LIST_OPTION,
    OPTION_DEFAULTS,
    PACKAGES_INI,
    ROW_PROPERTY,
    add_options,
    claim_packages,
)
from claims.registry import load_all
from claims.session import (
    ClaimsSession,
    case_of,
    evidence_key,
    forward_key,
    provenance_key,
    session_of,
    started_key,
)
from claims.verdict import Axis, Verdict, jsonable
from fixtures import plugin as fixture_plugin
from fixtures.plugin import CASE_FIXTURE, FIXTURES_PLUGIN, SESSION_PLUGIN


def pytest_addoption(parser: pytest.Parser) -> None:
    """The `claims` option group."""
    add_options(parser)


def active(config: pytest.Config) -> bool:
    """Whether this run is about claims: its project names claim packages, or a claims option was given.

    `claims_packages` in the pytest configuration names the packages; a claims option without it uses the paper's
    (e.g. when a path argument moved pytest's rootdir off the project, the ini is not read).
    The plugin is an installed entry point, so it is loaded by every pytest run in the environment; elsewhere it
    must not import the claim modules (torch), touch the environment, probe the hub or create `reports/`.
    """
    asked = any(config.getoption(name, default) != default for name, default in OPTION_DEFAULTS.items())
    return bool(config.getini(PACKAGES_INI)) or asked


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """Commands that run no test, then exit like `--markers`.

    `--claims-list` prints one line per registered claim (id, version, axes, title); `--claims-cache-info` and
    `--claims-cache-prune DAYS` show and trim the user cache (fixtures/cache_admin.py).
    """
    if not active(config):
        return None
    if config.getoption(LIST_OPTION, False):
        claims = load_all(claim_packages(config)).values()
        for c in sorted(claims, key=lambda c: c.id):
            axes = ",".join(sorted(a.value for a in c.axes))
            print(f"{c.id:<14} v{c.version}  {axes:<22} {c.title}")
        return 0
    prune_days = config.getoption(CACHE_PRUNE_OPTION, None)
    if config.getoption(CACHE_INFO_OPTION, False) or prune_days is not None:
        from fixtures import cache_admin
        from fixtures.storage import cache_root

        if prune_days is not None and prune_days < 0:
            raise pytest.UsageError(f"{CACHE_PRUNE_OPTION} {prune_days:g}: expected a number of days >= 0")
        days = cache_admin.DEFAULT_MAX_AGE_DAYS if prune_days is None else prune_days
        root = cache_root()
        uses = cache_admin.survey(root, days) if prune_days is None else cache_admin.prune(root, days)
        print(cache_admin.render(root, uses, days, pruned=prune_days is not None))
        return 0
    return None


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Markers, option validation, families, the registry, and the session object (only where claims run)."""
    if not active(config):
        return
    for axis in Axis:
        config.addinivalue_line(
            "markers", f"{axis.value}: claims on the {axis.value} axis of the generalisation matrix"
        )
    config.addinivalue_line("markers", "claim(id): the claim a test checks")
    if config.getoption("help", False):
        return
    session = ClaimsSession(config)
    config.pluginmanager.register(session, SESSION_PLUGIN)
    session.configure()
    config.pluginmanager.register(fixture_plugin, FIXTURES_PLUGIN)  # workbench, claim_result, claim_gate


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise the generic claim test with every case of this run."""
    if CASE_FIXTURE in metafunc.fixturenames and metafunc.config.pluginmanager.has_plugin(SESSION_PLUGIN):
        session = session_of(metafunc.config)
        cases = session.cases
        metafunc.parametrize(CASE_FIXTURE, cases, ids=[c.test_id for c in cases])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Axis and claim markers on each case (`-m gt1` selects an axis, with the original rows it is judged against)."""
    cases = session_of(config).cases if config.pluginmanager.has_plugin(SESSION_PLUGIN) else []
    for item in items:
        case = case_of(item)
        if case is None:
            continue
        item.add_marker(getattr(pytest.mark, case.axis.value))
        for axis in serves(case, cases):
            item.add_marker(getattr(pytest.mark, axis.value))
        item.add_marker(pytest.mark.claim(case.claim_id))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under `-n N` (and `--dist loadgroup`), one worker per (subject, dataset): see claims/scheduling.py."""
    from claims.scheduling import GROUPED_MODES, make_scheduler

    if config.getoption("dist") not in GROUPED_MODES or not config.pluginmanager.has_plugin(SESSION_PLUGIN):
        return None
    return make_scheduler(config, log, session_of(config).cases)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the claim row to the report of the phase that decided it (call, or setup on error)."""
    rep = yield
    case = case_of(item)
    if case is None:
        return rep
    decided = rep.when == "call" or (rep.when == "setup" and rep.outcome != "passed")
    if decided:
        row = _row(item, case, rep, call)
        rep.user_properties.append((ROW_PROPERTY, row))
    return rep


def _row(item: pytest.Item, case: ClaimCase, rep: pytest.TestReport, call: pytest.CallInfo[None]) -> report.ClaimRow:
    from claims.registry import REGISTRY

    claim = REGISTRY.get(case.claim_id)
    evidence = item.stash.get(evidence_key, None)
    started = item.stash.get(started_key, time.time())
    forward = item.stash.get(forward_key, 0)
    if evidence is None:
        message = _error_message(call)
        verdict, reason, key = (
            Verdict.ERROR,
            message,
            {"name": "", "value": None, "criterion": "", "tolerance": claim.key_tolerance},
        )
        measured: dict[str, Any] = {}
        control: dict[str, Any] = {}
        criterion, n_tokens, scale = "", 0, ""
        parts: list[dict[str, Any]] = []
        effect: dict[str, Any] | None = None
        role = "claim"
    else:
        verdict, reason = evidence.verdict, evidence.reason
        key = {
            "name": evidence.key.name,
            "value": evidence.key.value,
            "criterion": evidence.key.criterion,
            "tolerance": evidence.key.tolerance,
        }
        measured, control = evidence.measured, evidence.control
        criterion, n_tokens, scale = evidence.criterion, evidence.n_tokens, evidence.scale
        parts = [dataclasses.asdict(p) for p in evidence.parts]
        effect = evidence.effect.as_dict() if evidence.effect is not None else None
        role = str(evidence.role)
    if evidence is None or evidence.verdict in (Verdict.NOT_RUN, Verdict.NOT_APPLICABLE):
        scale = case_scale(case)  # no model was measured: the subject's own scale, so the right original judges it
    figures = jsonable(evidence.figures) if evidence is not None and evidence.figures else {}
    return jsonable(
        {
            "id": claim.id,
            "version": claim.version,
            "title": claim.title,
            "statement": claim.statement,
            "paper_ref": claim.paper_ref,
            "axis": case.axis.value,
            "axes": [a.value for a in Axis if a in claim.axes],  # in Axis order: a frozenset iterates by hash
            "model": case.subject,
            "dataset": case.dataset_label,
            "verdict": str(verdict),
            "criterion": criterion,
            "thresholds": baseline_mod.criterion_thresholds(claim, scale) if criterion else {},
            "scale": scale,
            "key": key,
            "reason": reason,
            "measured": measured,
            "control": control,
            "n_tokens": n_tokens,
            "seconds": round(time.time() - started, 2),
            "forward_passes": forward,
            "nodeid": item.nodeid,
            "provenance": item.stash.get(provenance_key, {}),
            "parts": parts,
            "effect": effect,
            "role": role,
        }
    ) | ({"figures": figures} if figures else {})


def _error_message(call: pytest.CallInfo[None]) -> str:
    if call.excinfo is None:
        return "the test ended without recording a result"
    exc = call.excinfo.value
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:500]
