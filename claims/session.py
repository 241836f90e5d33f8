"""The run session of a claims run: options checked, the case matrix, rows collected, reports written.

One object per pytest process, registered by the plugin's `pytest_configure` as the plugin "claims-session" (its
methods named `pytest_*` are hooks, called in pytest's order). The fixtures that run a claim (fixtures/plugin.py)
call `run_case` and `gate_for`; the plugin's hooks build rows from what they stash on the test item.
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
from claims.matrix import PUBLISHED_SUBJECT, ClaimCase, expand
from claims.options import (
    BASELINE_OPTION,
    CLAIMS_OPTION,
    CONTEXT_OPTION,
    DATASETS_OPTION,
    DEVICE_OPTION,
    DTYPE_OPTION,
    FAMILIES_FILE_OPTION,
    FAMILY_OPTION,
    LIST_OPTION,
    MODELS_OPTION,
    NARROWED_FOLDER,
    NO_FIGURES_OPTION,
    PLAN_OPTION,
    PREVIOUS_FOLDER,
    PROFILE_OPTION,
    REPORT_ARTEFACTS,
    REPORT_DEFAULT,
    REPORT_OPTION,
    ROOT,
    ROW_PROPERTY,
    SAMPLE_OPTION,
    SEED_OPTION,
    TOKENS_OPTION,
    UPDATE_BASELINE_OPTION,
    claim_packages,
)
from claims.profiles import get_profile
from claims.registry import load_all
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


class ClaimsSession:
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
        self.expected: dict[str, dict[str, Any]] | None = None
        self.selected: int | None = None  # claim tests selected for this run (None: not known on this process)
        self.stopped: str | None = None
        self.retired = False  # the previous report of this run's folder was moved to previous/

    # --- set-up ---------------------------------------------------------------------------------------------

    def configure(self) -> None:
        """Validate options and declare families; expand the matrix. Bad input is a UsageError naming the fix."""
        from fixtures.offline import configure_hub_access

        configure_hub_access()  # before anything imports huggingface_hub/transformers (they read it once)
        from fixtures.models import ModelSpecError, declare_family, load_families_file, parse_family_option
        from fixtures.validation import check_dataset, check_subject

        opt = self.config.getoption
        try:
            self.profile = get_profile(opt(PROFILE_OPTION))
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        self._check_numbers()
        if opt(PLAN_OPTION) and getattr(self.config.option, "numprocesses", None):
            raise pytest.UsageError(f"{PLAN_OPTION} plans the run in one process: leave out -n")
        if opt(UPDATE_BASELINE_OPTION) and not opt(BASELINE_OPTION):
            raise pytest.UsageError(f"{UPDATE_BASELINE_OPTION} needs {BASELINE_OPTION} FILE (the file to rewrite)")
        if opt(BASELINE_OPTION) and not opt(UPDATE_BASELINE_OPTION) and not opt(BASELINE_OPTION).is_file():
            raise pytest.UsageError(
                f"{BASELINE_OPTION} {opt(BASELINE_OPTION)}: no such file (create it with {UPDATE_BASELINE_OPTION})"
            )
        self.expected = self._load_baseline()
        self._check_lists()
        if not self.is_worker:
            folder = self.report_path.parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise pytest.UsageError(
                    f"{REPORT_OPTION} {self.report_path}: cannot create the folder {folder} ({exc.strerror}); "
                    "choose a writable path"
                ) from None
        from fixtures.storage import StorageError, cache_dir

        try:
            cache_dir()  # before families and the zoo build anything there: one line, not an INTERNALERROR
        except StorageError as exc:
            raise pytest.UsageError(str(exc)) from None
        try:
            for text in opt(FAMILY_OPTION):
                name, members = parse_family_option(text)
                declare_family(name, members)
            if opt(FAMILIES_FILE_OPTION):
                load_families_file(opt(FAMILIES_FILE_OPTION))
            for spec in opt(MODELS_OPTION) or []:
                check_subject(spec)
            for spec in opt(DATASETS_OPTION) or []:
                check_dataset(spec)
        except (ModelSpecError, ValueError) as exc:
            raise pytest.UsageError(str(exc)) from None
        self.claims = list(load_all(claim_packages(self.config)).values())
        # the gate judges "missing" and merges the baseline against every claim's rows: `--claims U1` narrows the
        # run, not the matrix, so the other claims' baseline rows are neither missing nor dropped on update
        self.matrix = expand(self.claims, self.profile, opt(MODELS_OPTION), opt(DATASETS_OPTION))
        self.cases = self.matrix
        if opt(CLAIMS_OPTION) is not None:
            self.claims = self._chosen_claims(opt(CLAIMS_OPTION))
            chosen = {c.id for c in self.claims}
            self.cases = [case for case in self.matrix if case.claim_id in chosen]

    def _chosen_claims(self, ids: list[str]) -> list[Any]:
        """The claims named by `--claims`, each by its exact id; an unknown id names the known ones."""
        known = {c.id: c for c in self.claims}
        unknown = [i for i in ids if i not in known]
        if not ids or unknown:
            raise pytest.UsageError(
                f"{CLAIMS_OPTION} {','.join(unknown) or '(empty)'}: unknown claim id; known: {', '.join(sorted(known))} "
                f"(see {LIST_OPTION})"
            )
        return [known[i] for i in dict.fromkeys(ids)]

    def _load_baseline(self) -> dict[str, dict[str, Any]] | None:
        """The baseline, read once per process before any claim runs; a bad file is a one-line UsageError."""
        path = self.config.getoption(BASELINE_OPTION)
        if path is None or not path.is_file():
            return None
        try:
            return baseline_mod.load(path)
        except baseline_mod.BaselineError as exc:
            raise pytest.UsageError(f"{BASELINE_OPTION} {exc}") from None

    def _check_lists(self) -> None:
        """An empty list would silently mean "the whole profile"; a repeated family name would silently win."""
        opt = self.config.getoption
        for option in (MODELS_OPTION, DATASETS_OPTION):
            if opt(option) is not None and not opt(option):
                raise pytest.UsageError(
                    f"{option} is empty: name at least one, or leave the option out for the profile's"
                )
        names = [text.partition("=")[0].strip() for text in opt(FAMILY_OPTION)]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise pytest.UsageError(
                f"{FAMILY_OPTION} declares {', '.join(repeated)} more than once: give each family one name"
            )

    def _check_numbers(self) -> None:
        opt = self.config.getoption
        context = opt(CONTEXT_OPTION)
        for name in (TOKENS_OPTION, SAMPLE_OPTION):
            value = opt(name)
            if value is not None and value <= 0:
                raise pytest.UsageError(f"{name} must be a positive number of tokens, got {value}")
        if context is not None and context < 2:
            raise pytest.UsageError(f"{CONTEXT_OPTION} must be >= 2, got {context}")
        if opt(DTYPE_OPTION) not in ("float32", "bfloat16", "float16"):
            raise pytest.UsageError(f"{DTYPE_OPTION} {opt(DTYPE_OPTION)!r}: expected float32, bfloat16 or float16")
        if opt(DEVICE_OPTION) not in ("auto", "cpu", "cuda") and not str(opt(DEVICE_OPTION)).startswith("cuda:"):
            raise pytest.UsageError(f"{DEVICE_OPTION} {opt(DEVICE_OPTION)!r}: expected auto, cpu, cuda or cuda:N")
        if str(opt(DEVICE_OPTION)).startswith("cuda"):
            from fixtures.model_loading import pick_device
            from fixtures.models import ModelSpecError

            try:
                pick_device(opt(DEVICE_OPTION))
            except ModelSpecError as exc:
                raise pytest.UsageError(str(exc)) from None

    def settings(self) -> Any:
        """RunSettings for this process (device resolved here: workers pin their own GPU)."""
        from fixtures.model_loading import pick_device
        from fixtures.workbench import RunSettings

        opt = self.config.getoption
        tokens, sample = opt(TOKENS_OPTION), opt(SAMPLE_OPTION)
        return RunSettings(
            tokens_small=tokens or self.profile.tokens_small,
            tokens_full=tokens or self.profile.tokens_full,
            context_length=opt(CONTEXT_OPTION) or self.profile.context_length,
            device=pick_device(opt(DEVICE_OPTION)),
            dtype=opt(DTYPE_OPTION),
            seed=opt(SEED_OPTION) if opt(SEED_OPTION) is not None else self.profile.seed,
            sample_small=sample or self.profile.sample_small,
            sample_full=sample or self.profile.sample_full,
            probe_small=self.profile.probe_small,
            probe_full=self.profile.probe_full,
        )

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
            evidence = run_case(case, REGISTRY.get(case.claim_id), workbench)
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

        self.plan = forward_plan(selected)
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
