"""The run session of a claims run: options checked, the case matrix, rows collected, reports written.

One object per pytest process, registered by the plugin's `pytest_configure` as the plugin "claims-session" (its
methods named `pytest_*` are hooks, called in pytest's order). The fixtures that run a claim (fixtures/plugin.py)
call `run_case` and `gate_for`; the plugin's hooks build rows from what they stash on the test item.

The set-up (`configure`: options checked, families declared, the matrix expanded; `settings`) is in
claims/session_setup.py, which `ClaimsSession` inherits: it runs once before any test exists and reads only the
command line, the profile and the registry, where this module follows the run from collection to the reports.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from claims import baseline as baseline_mod
from claims import report
from claims.matrix import PUBLISHED_SUBJECT, ClaimCase
from claims.options import (
    BASELINE_OPTION,
    CLAIMS_OPTION,
    DATASETS_OPTION,
    FAMILIES_FILE_OPTION,
    FAMILY_OPTION,
    MODELS_OPTION,
    NARROWED_FOLDER,
    NO_FIGURES_OPTION,
    PLAN_OPTION,
    PREVIOUS_FOLDER,
    REPORT_ARTEFACTS,
    REPORT_DEFAULT,
    REPORT_OPTION,
    ROOT,
    ROW_PROPERTY,
    UPDATE_BASELINE_OPTION,
)
from claims.session_setup import SessionSetup
from claims.verdict import Evidence, Verdict
from fixtures.plugin import CASE_FIXTURE, SESSION_PLUGIN

evidence_key = pytest.StashKey[Evidence]()
started_key = pytest.StashKey[float]()
forward_key = pytest.StashKey[int]()
provenance_key = pytest.StashKey[dict[str, Any]]()


def case_of(item: pytest.Item) -> ClaimCase | None:
    """The claim case a test item runs, or None for any other test."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    case = callspec.params.get(CASE_FIXTURE)
    return case if isinstance(case, ClaimCase) else None


class ClaimsSession(SessionSetup):
    """Run-wide state: options, the case list, collected rows; writes the reports on the controller."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.rows: list[report.ClaimRow] = []
        self.figures: list[dict[str, Any]] = []
        self.cases: list[ClaimCase] = []  # the cases this run selects (the chosen claims')
        self.matrix: list[ClaimCase] = []  # every registered claim's cases, what the gate compares against
        self.started = time.time()
        self.is_worker = hasattr(config, "workerinput")
        self.summary: report.Summary | None = None
        self.gate: baseline_mod.GateResult | None = None
        self.collected_claims = False
        self.render_error: str | None = None
        self.plan: dict[tuple[str, str], frozenset[str]] = {}
        self.runs_models = True  # a selected claim reads a model, not only published tables (set after collection)
        self.expected: dict[str, dict[str, Any]] | None = None
        self.selected: int | None = None  # claim tests selected for this run (None: not known on this process)
        self.stopped: str | None = None
        self.retired = False  # the previous report of this run's folder was moved to previous/

    @property
    def report_path(self) -> Path:
        """Where summary.json goes (relative paths are taken from the invocation directory).

        A narrowed run (`-k`, `-m`, `--claims-models`, `--claims-datasets`, a family option, or fewer rows than the matrix) writes
        to `narrowed/` beside the default report, never over a full one; a path given explicitly is used as is.
        """
        path: Path = self.config.getoption(REPORT_OPTION)
        if path == REPORT_DEFAULT and self.narrowed:
            path = path.parent / NARROWED_FOLDER / path.name
        return path if path.is_absolute() else Path(self.config.invocation_params.dir) / path

    @property
    def narrowed(self) -> bool:
        """Whether this run covers less than the whole matrix of its profile."""
        opt = self.config.getoption
        chosen = (MODELS_OPTION, DATASETS_OPTION, FAMILY_OPTION, FAMILIES_FILE_OPTION, CLAIMS_OPTION)
        if opt("markexpr", "") or opt("keyword", "") or any(opt(o) for o in chosen):
            return True
        if self.selected is not None:  # what was selected, not what finished: a stopped full run is still full
            return self.selected < len(self.cases)
        produced = {baseline_mod.summary_row_key(r) for r in self.rows}
        return produced != {baseline_mod.case_key(c) for c in self.cases}

    def retire_previous_report(self) -> None:
        """Move every artefact of the earlier report in this run's folder into `previous/`, together, once.

        summary.json, summary.md, report.html and figures/ go as one, so the folder never mixes two runs. It
        happens as soon as claim tests are known to run (before the first one), so a run that stops early by any
        means, SIGKILL included, leaves nothing in its folder that looks like its complete report.
        """
        if self.retired or self.is_worker:
            return
        self.retired = True
        folder = self.report_path.parent
        artefacts = [folder / self.report_path.name, *(folder / name for name in REPORT_ARTEFACTS)]
        present = [a for a in artefacts if a.exists()]
        if not present:
            return
        previous = folder / PREVIOUS_FOLDER
        shutil.rmtree(previous, ignore_errors=True)
        previous.mkdir(parents=True)
        for artefact in present:
            shutil.move(artefact, previous / artefact.name)

    def stopped_early(self, session: pytest.Session, exitstatus: int) -> str | None:
        """Why the run ended before every selected claim reported (Ctrl-C, -x/--maxfail, a lost worker), or None."""
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            return "interrupted"
        if self.selected is not None and len(self.rows) < self.selected:
            why = session.shouldstop or session.shouldfail or "a test process was lost"
            return f"{why}; {self.selected - len(self.rows)} of {self.selected} selected claim tests did not report"
        return None

    # --- running one case (called by the fixtures in fixtures/plugin.py) -------------------------------------

    def run_case(self, node: pytest.Item, case: ClaimCase, workbench: Any) -> Evidence:
        """Run one case and return its Evidence; stash it (and timing, forward passes) on the item for its row."""
        from claims.registry import REGISTRY
        from claims.runner import run_case
        from fixtures.activations import FORWARD

        node.stash[started_key] = time.time()
        before = FORWARD.count
        try:
            evidence = run_case(case, REGISTRY.get(case.claim_id), workbench, remember=True)
        finally:
            node.stash[forward_key] = FORWARD.count - before
        if case.subject != PUBLISHED_SUBJECT:
            node.stash[provenance_key] = workbench.provenance(case.subject, case.dataset)
        node.stash[evidence_key] = evidence
        return evidence

    def gate_for(self, case: ClaimCase) -> Any:
        """The test outcome of a case's Evidence: without a baseline FAIL fails; with one, only regressions do."""
        expected = self.expected if not self.config.getoption(UPDATE_BASELINE_OPTION) else None

        def gate(evidence: Evidence) -> None:
            __tracebackhide__ = True
            if expected is not None:
                problem = baseline_mod.regression(expected, case, evidence)
                if problem:
                    pytest.fail(problem, pytrace=False)
                return
            if evidence.verdict is Verdict.FAIL:
                held = report.parts_text({"parts": [dataclasses.asdict(p) for p in evidence.parts]})
                pytest.fail(
                    f"{case.claim_id} FAIL: {evidence.key.formatted()}: {evidence.reason}"
                    + (f" [{held}]" if held else ""),
                    pytrace=False,
                )
            if evidence.verdict in (Verdict.INCONCLUSIVE, Verdict.NOT_APPLICABLE, Verdict.NOT_RUN):
                pytest.skip(f"{evidence.verdict}: {evidence.reason}")

        return gate

    # --- collection and results -----------------------------------------------------------------------------

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Remember whether claims will run (only then do reports get written) and plan the forward passes."""
        selected = [c for item in session.items if (c := case_of(item)) is not None]
        from claims.plan import forward_plan
        from claims.registry import REGISTRY

        self.plan = forward_plan(selected)
        self.runs_models = any(not REGISTRY.get(c.claim_id).needs.published for c in selected)
        if self.config.getoption(PLAN_OPTION):
            self._print_plan(selected)
        self.selected = len(selected)
        # --collect-only runs nothing, so it must not retire or replace a real report with NOT_RUN rows
        self.collected_claims = bool(selected) and not self.config.getoption("collectonly")
        if self.collected_claims:
            self.retire_previous_report()

    def _print_plan(self, selected: list[ClaimCase]) -> None:
        """`--claims-plan`: the estimate of the selected run (claims/plan.py), then exit before any work."""
        from claims import plan
        from fixtures.storage import cache_root

        settings = self.settings()
        try:
            groups = plan.estimate(selected, self.plan, settings)
        except (ValueError, OSError) as exc:
            raise pytest.UsageError(str(exc)) from None
        print("\n" + plan.render(groups, settings.device))
        issues = plan.problems(groups, settings.device, cache_root())
        if issues:
            pytest.exit(
                "the plan does not fit this machine: " + "; ".join(issues), returncode=pytest.ExitCode.USAGE_ERROR
            )
        pytest.exit("plan printed; nothing was run", returncode=pytest.ExitCode.OK)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """Under xdist the controller collects nothing: count the claim tests a worker selected."""
        from claims.scheduling import param_id

        test_ids = {c.test_id for c in self.cases}
        count = sum(1 for nodeid in ids if param_id(nodeid) in test_ids)
        self.selected = max(self.selected or 0, count)
        self.collected_claims = self.collected_claims or count > 0
        if self.collected_claims and not self.config.getoption("collectonly"):
            self.retire_previous_report()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect rows on whichever process sees the report (the controller under xdist)."""
        for name, value in report.user_properties:
            if name == ROW_PROPERTY:
                row = dict(value)  # type: ignore[call-overload]  # a ClaimRow dict sent by a worker
                figures = row.pop("figures", None)
                if figures:
                    self.figures.append(
                        {"row": {k: row[k] for k in ("id", "axis", "model", "dataset", "verdict")}, "figures": figures}
                    )
                self.rows.append(row)
                self.collected_claims = True

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Write summary.json (controller only), gate against a baseline, draw figures."""
        if self.is_worker or not self.collected_claims:
            return
        self.stopped = self.stopped_early(session, exitstatus)
        self.retire_previous_report()
        if self.stopped:
            return  # a partial run writes no report and never touches the baseline
        from fixtures.activations import FORWARD

        run = self._run_info(forward_local=FORWARD.count)
        self.summary = report.build_summary(self.rows, run)
        base = self.config.getoption(BASELINE_OPTION)
        if base is not None:
            rows = self.summary["claims"]
            self.gate = baseline_mod.compare(self.expected, rows, self.matrix) if self.expected is not None else None
            if self.config.getoption(UPDATE_BASELINE_OPTION):
                baseline_mod.write(base, baseline_mod.merged(self.expected or {}, rows, self.matrix))
            elif self.gate is not None and self.gate.missing:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        self.summary["run"]["baseline"] = self.gate.as_dict() if self.gate else None
        self.report_path.parent.mkdir(parents=True, exist_ok=True)
        report.write_summary(self.report_path, self.summary)
        if not self.config.getoption(NO_FIGURES_OPTION):
            self._render()

    def _render(self) -> None:
        """Figures, summary.md and report.html; a failure here is reported, never hides summary.json."""
        from claims.report import render

        assert self.summary is not None
        try:
            render.render_all(dict(self.summary), self.figures, self.report_path.parent)
        except Exception as exc:
            self.render_error = f"{type(exc).__name__}: {exc}"

    def _run_info(self, forward_local: int) -> dict[str, Any]:
        opt = self.config.getoption
        forward = sum(int(r.get("forward_passes", 0)) for r in self.rows)
        settings = self.settings()
        return {
            "started": _iso(self.started),
            "finished": _iso(time.time()),
            "git_commit": report.git_commit(ROOT),
            "versions": report.versions(),
            "device": settings.device,
            "profile": self.profile.name,
            "options": {
                "models": opt(MODELS_OPTION),
                "datasets": opt(DATASETS_OPTION),
                "families": opt(FAMILY_OPTION),
                "tokens_small": settings.tokens_small,
                "tokens_full": settings.tokens_full,
                "sample_small": settings.sample_tokens_for("small"),
                "sample_full": settings.sample_tokens_for("full"),
                "probe_small": settings.probe_small,
                "probe_full": settings.probe_full,
                "context_length": settings.context_length,
                "dtype": settings.dtype,
                "gemm_precision": settings.gemm_precision,
                "seed": settings.seed,
                "markexpr": self.config.getoption("markexpr", ""),
                "keyword": self.config.getoption("keyword", ""),
                "xdist_workers": getattr(self.config.option, "numprocesses", None),
            },
            "forward_passes": forward,
            "hub_offline": os.environ.get("HF_HUB_OFFLINE") == "1",
        }

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """The claim table, the Checklist, and the baseline diff."""
        tr = terminalreporter
        if self.stopped:
            tr.write_line(
                f"claims: the run stopped early ({self.stopped}): no report written and the baseline untouched; "
                f"the previous report is in {self.report_path.parent / PREVIOUS_FOLDER}",
                red=True,
            )
            return
        if self.summary is None:
            return
        if self.config.getoption("verbose", 0) >= -1:
            tr.write_sep("=", "claims")
            for line in report.table_lines(self.summary["claims"], width=max(200, tr._tw.fullwidth)):
                tr.write_line(line)
        lines = report.generalisation_lines(self.summary)
        if lines:
            tr.write_sep("-", "generalisation (claim x axis, judged against the original setting)")
            for line in lines:
                tr.write_line(line)
        tr.write_sep("-", "checklist")
        for line in report.checklist_lines(self.summary):
            tr.write_line(line)
        if self.gate is not None:
            tr.write_sep("-", f"baseline {self.config.getoption(BASELINE_OPTION)}")
            for line in self.gate.lines():
                tr.write_line(line)
        if self.render_error:
            tr.write_line(f"figures/HTML not written: {self.render_error}", red=True)
        tr.write_line(f"summary: {self.report_path}  (forward passes: {self.summary['run']['forward_passes']})")


def session_of(config: pytest.Config) -> ClaimsSession:
    """This process's run session (registered by the plugin's pytest_configure)."""
    session = config.pluginmanager.get_plugin(SESSION_PLUGIN)
    assert isinstance(session, ClaimsSession), "the claims plugin was not configured"
    return session


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
