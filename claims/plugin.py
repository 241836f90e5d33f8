"""pytest plugin: expands registered claims into parametrised tests and writes reports/summary.json.

Hooks appear in the order pytest calls them. Heavy lifting lives elsewhere: the matrix (claims/matrix.py), the
run (claims/runner.py), the summary (claims/report.py), baseline gating (claims/baseline.py). Results travel
from xdist workers to the controller on each test report; only the controller writes files.
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
from claims.matrix import PUBLISHED_SUBJECT, ClaimCase, case_scale, expand, serves
from claims.profiles import get_profile
from claims.registry import PAPERS_PACKAGE, load_all
from claims.verdict import Axis, Evidence, Verdict, jsonable

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
REPORT_ARTEFACTS = ("summary.md", "report.html", "figures")  # written beside summary.json by claims/render.py

PACKAGES_INI = "claims_packages"
ROW_PROPERTY = "claim_row"
CASE_FIXTURE = "case"
ROOT = Path(__file__).resolve().parent.parent

evidence_key = pytest.StashKey[Evidence]()
started_key = pytest.StashKey[float]()
forward_key = pytest.StashKey[int]()
provenance_key = pytest.StashKey[dict[str, Any]]()


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def pytest_addoption(parser: pytest.Parser) -> None:
    """The `claims` option group."""
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


def active(config: pytest.Config) -> bool:
    """Whether this run is about claims: its project names claim packages, or a claims option was given.

    `claims_packages` in the pytest configuration names the packages; a claims option without it uses the paper's
    (e.g. when a path argument moved pytest's rootdir off the project, the ini is not read).
    The plugin is an installed entry point, so it is loaded by every pytest run in the environment; elsewhere it
    must not import the claim modules (torch), touch the environment, probe the hub or create `reports/`.
    """
    asked = any(config.getoption(name, default) != default for name, default in OPTION_DEFAULTS.items())
    return bool(config.getini(PACKAGES_INI)) or asked


def claim_packages(config: pytest.Config) -> list[str]:
    """The packages whose modules register claims (the paper's when the project names none)."""
    return list(config.getini(PACKAGES_INI)) or [PAPERS_PACKAGE]


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
    config.pluginmanager.register(session, "claims-session")
    session.configure()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise the generic claim test with every case of this run."""
    if CASE_FIXTURE in metafunc.fixturenames and metafunc.config.pluginmanager.has_plugin("claims-session"):
        session = _session(metafunc.config)
        cases = session.cases
        metafunc.parametrize(CASE_FIXTURE, cases, ids=[c.test_id for c in cases])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Axis and claim markers on each case (`-m gt1` selects an axis, with the original rows it is judged against)."""
    cases = _session(config).cases if config.pluginmanager.has_plugin("claims-session") else []
    for item in items:
        case = _case_of(item)
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

    if config.getoption("dist") not in GROUPED_MODES or not config.pluginmanager.has_plugin("claims-session"):
        return None
    return make_scheduler(config, log, _session(config).cases)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the claim row to the report of the phase that decided it (call, or setup on error)."""
    rep = yield
    case = _case_of(item)
    if case is None:
        return rep
    decided = rep.when == "call" or (rep.when == "setup" and rep.outcome != "passed")
    if decided:
        row = _row(item, case, rep, call)
        rep.user_properties.append((ROW_PROPERTY, row))
    return rep


def _case_of(item: pytest.Item) -> ClaimCase | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    case = callspec.params.get(CASE_FIXTURE)
    return case if isinstance(case, ClaimCase) else None


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
            "axes": [a.value for a in claim.axes],
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
                _validate_subject(spec)
            for spec in opt(DATASETS_OPTION) or []:
                _validate_dataset(spec)
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
            from fixtures.models import ModelSpecError, pick_device

            try:
                pick_device(opt(DEVICE_OPTION))
            except ModelSpecError as exc:
                raise pytest.UsageError(str(exc)) from None

    def settings(self) -> Any:
        """RunSettings for this process (device resolved here: workers pin their own GPU)."""
        from fixtures.models import pick_device
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

    # --- collection and results -----------------------------------------------------------------------------

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Remember whether claims will run (only then do reports get written) and plan the forward passes."""
        selected = [c for item in session.items if (c := _case_of(item)) is not None]
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
        from claims import render

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


def forward_plan(cases: list[ClaimCase]) -> dict[tuple[str, str], frozenset[str]]:
    """(model name, dataset) -> every activation product the selected claims need from it (one pass each)."""
    from claims.registry import REGISTRY
    from fixtures.models import ModelSpecError, is_family, resolve_family, resolve_model

    plan: dict[tuple[str, str], set[str]] = {}
    for case in cases:
        claim = REGISTRY.get(case.claim_id)
        if case.dataset is None or not claim.needs.products:
            continue
        try:
            if is_family(case.subject):
                family = resolve_family(case.subject)
                names = [m.name for m in (*family.members, *family.controls)]
            else:
                names = [resolve_model(case.subject).name]
        except (ModelSpecError, ValueError):
            continue  # reported by the test itself
        for name in names:
            plan.setdefault((name, case.dataset), set()).update(claim.needs.products)
    return {k: frozenset(v) for k, v in plan.items()}


def _session(config: pytest.Config) -> ClaimsSession:
    session = config.pluginmanager.get_plugin("claims-session")
    assert isinstance(session, ClaimsSession), "the claims plugin was not configured"
    return session


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _validate_subject(spec: str) -> None:
    """Fail at start-up (seconds, not after model loading) for unknown or unavailable models."""
    from fixtures.models import is_family, resolve_family, resolve_model

    base = spec.split(":", 1)[0]
    if is_family(base) and ":" not in spec:
        resolve_family(spec)
    else:
        resolve_model(spec)


def _validate_dataset(spec: str) -> None:
    """Fail at start-up on a corpus that cannot be had; a hub dataset is only opened (streaming), not read."""
    from fixtures.corpora import CORPORA, CorpusError, hub_spec, load_corpus, open_hub_stream

    if spec in CORPORA:
        return
    try:
        hub = hub_spec(spec)
        if hub is not None:
            open_hub_stream(hub)
        else:
            load_corpus(spec)
    except CorpusError as exc:
        raise ValueError(str(exc)) from None


# --- fixtures --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def workbench(pytestconfig: pytest.Config) -> Any:
    """The session's models/corpora/activations (read-only for claims: mutations leak across the session)."""
    from fixtures.workbench import Workbench

    session = _session(pytestconfig)
    _share_cores(pytestconfig)
    bench = Workbench(session.settings())
    bench.plan = getattr(session, "plan", {})
    bench.progress = _progress(pytestconfig)
    yield bench
    bench.release_all()


def _progress(config: pytest.Config) -> Any:
    """Progress lines on the terminal-owning process, unless -q (workers' output would be captured anyway)."""
    from fixtures.progress import SILENT, Progress

    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or hasattr(config, "workerinput") or config.getoption("verbose", 0) < 0:
        return SILENT
    capture = config.pluginmanager.get_plugin("capturemanager")

    def write(line: str) -> None:
        if capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(line)
        else:
            reporter.write_line(line)

    return Progress(write)


def _share_cores(config: pytest.Config) -> None:
    """One CPU thread per process (xdist workers, or a plain run).

    Measured here: with two OpenMP threads on a 2-core machine that has any other load, tiny-model forwards ran
    10-20x slower (threads spin-wait for each other); the best case for two threads was ~1.6x faster. Scale out
    with `-n` instead. GPUs are unaffected.
    """
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def claim_result(request: pytest.FixtureRequest, workbench: Any) -> Any:
    """Runs the case and returns its Evidence; stashes it for the report (also on FAIL)."""
    from claims.registry import REGISTRY
    from claims.runner import run_case
    from fixtures.activations import FORWARD

    case: ClaimCase = request.getfixturevalue(CASE_FIXTURE)
    request.node.stash[started_key] = time.time()
    before = FORWARD.count
    try:
        evidence = run_case(case, REGISTRY.get(case.claim_id), workbench)
    finally:
        request.node.stash[forward_key] = FORWARD.count - before
    if case.subject != PUBLISHED_SUBJECT:
        request.node.stash[provenance_key] = workbench.provenance(case.subject, case.dataset)
    request.node.stash[evidence_key] = evidence
    return evidence


@pytest.fixture
def claim_gate(pytestconfig: pytest.Config, request: pytest.FixtureRequest) -> Any:
    """Turns Evidence into the test outcome: without a baseline FAIL fails; with one, only regressions do."""
    session = _session(pytestconfig)
    expected = session.expected if not pytestconfig.getoption(UPDATE_BASELINE_OPTION) else None
    case: ClaimCase = request.getfixturevalue(CASE_FIXTURE)

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
                f"{case.claim_id} FAIL: {evidence.key.formatted()}: {evidence.reason}" + (f" [{held}]" if held else ""),
                pytrace=False,
            )
        if evidence.verdict in (Verdict.INCONCLUSIVE, Verdict.NOT_APPLICABLE, Verdict.NOT_RUN):
            pytest.skip(f"{evidence.verdict}: {evidence.reason}")

    return gate
