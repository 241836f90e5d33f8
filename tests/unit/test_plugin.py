"""End-to-end tests of the claims plugin with toy claims (no models): rows, summary, xdist, baseline gating."""

from __future__ import annotations

import json
import platform
import signal
import textwrap
from pathlib import Path

import pytest

from claims.report import validate_summary

pytest_plugins = ("pytester",)

TOY_CLAIMS = """
from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis

THRESHOLD = {threshold}


def _crit():
    return Criterion(full="value >= {{minimum}}", small="value >= {{minimum}}",
                     thresholds_full={{"minimum": THRESHOLD}}, thresholds_small={{"minimum": THRESHOLD}})


@claim("T1", title="toy pass", statement="a value is large", paper_ref="toy §1", axes=[Axis.ORIGINAL],
       needs=Needs(published=True, text=False), criterion=_crit(), key_tolerance=0.01, version={version})
def toy_pass(ctx):
    value = 0.8
    return ctx.evidence(value >= ctx.threshold("minimum"), key=("value", value), reason=f"value {{value}}",
                        measured={{"value": value}}, control={{"value": 0.1}})


@claim("T2", title="toy fail", statement="another value is large", paper_ref="toy §2", axes=[Axis.ORIGINAL],
       needs=Needs(published=True, text=False), criterion=_crit(), key_tolerance=0.01)
def toy_fail(ctx):
    value = 0.2
    return ctx.evidence(value >= ctx.threshold("minimum"), key=("value", value), reason=f"value {{value}}",
                        measured={{"value": value}}, control={{"value": 0.1}})
"""

BROKEN_CLAIM = """
from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis


@claim("T3", title="toy error", statement="the harness breaks", paper_ref="toy §3", axes=[Axis.ORIGINAL],
       needs=Needs(published=True, text=False), criterion=Criterion(full="x", small="x"))
def toy_error(ctx):
    raise RuntimeError("harness exploded")
"""


@pytest.fixture(scope="session")
def toy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for every toy run of the session: the same toy rows' figures are drawn once, then read back."""
    return tmp_path_factory.mktemp("toy-cache")


@pytest.fixture(autouse=True)
def _lean_nested_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, lean_flags: tuple[str, ...], toy_cache: Path
) -> None:
    """Every toy run here (and its xdist workers) leaves out the venv's unused plugins (tests/conftest.py).

    Set after `pytester` exists: pytester clears PYTEST_ADDOPTS when it is created, so set before it the flags never
    reach a toy run (each run then took about 1.6 s instead of 0.75 s). pytester also points HOME at the test's
    folder, which would give every toy run an empty cache; they share `toy_cache` instead (0.4 s per run).
    """
    monkeypatch.setenv("PYTEST_ADDOPTS", " ".join(lean_flags))
    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(toy_cache))


def _suite(
    pytester: pytest.Pytester, threshold: float = 0.5, version: int = 1, broken: bool = False, changelog: bool = True
) -> None:
    root = Path(__file__).resolve().parents[2]
    pytester.makeconftest('pytest_plugins = ("claims.plugin",)\n')
    pytester.makeini(
        textwrap.dedent(
            f"""
            [pytest]
            claims_packages = toyclaims
            pythonpath = {root}
            """
        )
    )
    pkg = pytester.path / "toyclaims"
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "toy.py").write_text(TOY_CLAIMS.format(threshold=threshold, version=version))
    bullets = "".join(f"- T1 v{v} -> v{v + 1}: stricter threshold\n" for v in range(1, version)) if changelog else ""
    (pkg / "README.md").write_text(f"# Toy claims\n\n## Changelog (claim versions)\n\n{bullets}")
    if broken:
        (pkg / "broken.py").write_text(BROKEN_CLAIM)
    pytester.makepyfile(
        test_claims="""
        def test_claim(case, claim_result, claim_gate):
            claim_gate(claim_result)
        """
    )


def _write_baseline(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """A run of the toy suite that (re)writes base.json."""
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", *args, "--claims-baseline", "base.json", "--claims-update-baseline"
    )


def _summary(pytester: pytest.Pytester, narrowed: bool = False) -> dict:
    folder = pytester.path / "reports" / ("narrowed" if narrowed else "")
    return json.loads((folder / "summary.json").read_text())


def test_summary_has_one_row_per_claim_and_validates(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    summary = _summary(pytester)
    validate_summary(summary)
    assert {r["id"]: r["verdict"] for r in summary["claims"]} == {"T1": "PASS", "T2": "FAIL"}
    assert set(summary["Checklist"]) == {
        "GT1_ModelGeneralization",
        "GT2_DataGeneralization",
        "GT3_MethodGeneralization",
    }
    result.stdout.fnmatch_lines(["*T2*original*paper-tables*FAIL*value = 0.2*"])


def test_a_run_of_published_table_claims_never_imports_torch(pytester: pytest.Pytester) -> None:
    from fixtures.model_loading import cpu_only_torch

    if not cpu_only_torch():
        pytest.skip("this torch is a GPU build: resolving --claims-device auto must ask torch itself")
    _suite(pytester)
    pytester.makeconftest(
        'import sys\npytest_plugins = ("claims.plugin",)\n\n\n'
        "def pytest_unconfigure(config):\n"
        '    print("TORCH IMPORTED" if "torch" in sys.modules else "NO TORCH")\n'
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*NO TORCH*"])


def test_failed_claim_message_quotes_numbers_and_criterion(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*T2 FAIL: value = 0.2*value >= 0.5*"])


def test_harness_exception_is_an_error_row_not_a_verdict(pytester: pytest.Pytester) -> None:
    _suite(pytester, broken=True)
    pytester.runpytest_subprocess("-p", "no:cacheprovider")
    rows = {r["id"]: r for r in _summary(pytester)["claims"]}
    assert rows["T3"]["verdict"] == "ERROR"
    assert "harness exploded" in rows["T3"]["reason"]


def test_xdist_writes_one_summary_with_every_row(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=1, failed=1)
    summary = _summary(pytester)
    assert sorted(r["id"] for r in summary["claims"]) == ["T1", "T2"]
    assert not list((pytester.path / "reports").glob("*.partial"))


def test_xdist_runs_the_cases_of_one_model_and_dataset_on_one_worker(pytester: pytest.Pytester) -> None:
    # T1 and T2 share (subject, dataset): plain load scheduling would deal them to two workers, and on real models
    # the second would wait on the first's cache lock instead of working
    _suite(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "-v")
    workers = {line.split("]")[0] for line in result.outlines if "test_claim[T" in line and line.startswith("[gw")}
    assert len(workers) == 1, result.outlines


def test_baseline_accepts_known_fail_and_reports_no_regression(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    _write_baseline(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--claims-baseline", "base.json")
    result.assert_outcomes(passed=2)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*0 regressions, 0 missing*"])


def test_baseline_fails_on_a_flipped_verdict_naming_the_claim(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    _write_baseline(pytester)
    _suite(pytester, threshold=0.9, version=1)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--claims-baseline", "base.json")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*REGRESSION T1*criterion changed without a version bump*"])


def test_baseline_lists_a_new_claim_version_with_its_old_and_new_criterion_and_verdict(
    pytester: pytest.Pytester,
) -> None:
    _suite(pytester)
    _write_baseline(pytester)
    _suite(pytester, threshold=0.9, version=2)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--claims-baseline", "base.json")
    result.stdout.fnmatch_lines(
        ["*new claim version*T1*v1 -> v2, verdict PASS -> FAIL; criterion was 'value >= 0.5'*now 'value >= 0.9'*"]
    )


def test_a_version_bump_without_a_changelog_entry_is_a_regression(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    _write_baseline(pytester)
    _suite(pytester, threshold=0.9, version=2, changelog=False)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--claims-baseline", "base.json")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*T1*v1 -> v2*no entry in its paper's claim changelog*'T1 v1 -> v2: why'*"])


def test_per_test_gate_and_summary_agree_on_a_criterion_changed_without_a_version_bump(
    pytester: pytest.Pytester,
) -> None:
    _suite(pytester)
    _write_baseline(pytester)
    _suite(pytester, threshold=0.9, version=1)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--claims-baseline", "base.json")
    result.assert_outcomes(failed=2)
    assert len(_summary(pytester)["run"]["baseline"]["regressions"]) == 2


@pytest.mark.parametrize("narrowing", [["-k", "T1"], ["--claims", "T1"]])
def test_update_baseline_in_a_narrowed_run_keeps_every_other_row(
    pytester: pytest.Pytester, narrowing: list[str]
) -> None:
    _suite(pytester)
    _write_baseline(pytester)
    before = {r["key"] for r in json.loads((pytester.path / "base.json").read_text())["rows"]}
    result = _write_baseline(pytester, *narrowing)
    assert result.ret == 0
    after = {r["key"] for r in json.loads((pytester.path / "base.json").read_text())["rows"]}
    assert after == before == {"T1|original|paper-tables|weights", "T2|original|paper-tables|weights"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "*base.json: not a JSON baseline*"),
        ('{"baseline_version": 1, "rows": []}', "*baseline_version 1 is not*"),
    ],
)
def test_a_bad_baseline_is_a_one_line_usage_error_before_any_claim_runs(
    pytester: pytest.Pytester, content: str, message: str
) -> None:
    _suite(pytester)
    (pytester.path / "base.json").write_text(content)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--claims-baseline", "base.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()
    assert not (pytester.path / "reports" / "summary.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--claims-models", ","], "*--claims-models is empty*"),
        (["--claims-datasets", ""], "*--claims-datasets is empty*"),
        (["--claims-family", "f=a,b", "--claims-family", "f=c,d"], "*--claims-family declares f more than once*"),
    ],
)
def test_an_empty_list_or_a_repeated_family_is_a_usage_error(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    _suite(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_baseline_reports_a_missing_claim(pytester: pytest.Pytester, workers: list[str]) -> None:
    _suite(pytester, broken=True)
    _write_baseline(pytester)
    _suite(pytester)
    (pytester.path / "toyclaims" / "broken.py").unlink()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *workers, "--claims-baseline", "base.json")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*missing*T3|original|paper-tables|weights*"])
    assert _summary(pytester)["run"]["baseline"]["missing"] == ["T3|original|paper-tables|weights"]


def test_unknown_model_is_a_usage_error_without_report(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--claims-models", "no-such-model-xyz")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*no-such-model-xyz*not available offline*"])
    assert not (pytester.path / "reports" / "summary.json").exists()


def test_bad_token_count_is_a_usage_error(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--claims-tokens", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--claims-tokens must be a positive number*"])


def test_collect_only_leaves_an_existing_report_untouched(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    pytester.runpytest_subprocess("-p", "no:cacheprovider")
    before = (pytester.path / "reports" / "summary.json").read_text()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--collect-only", "-q")
    assert result.ret == 0
    assert (pytester.path / "reports" / "summary.json").read_text() == before
    assert not (pytester.path / "reports" / "summary.previous.json").exists()


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
@pytest.mark.parametrize("narrowing", [["-k", "T1"], ["--claims", "T1"]])
def test_baseline_does_not_call_rows_deselected_by_k_missing(
    pytester: pytest.Pytester, workers: list[str], narrowing: list[str]
) -> None:
    _suite(pytester)
    _write_baseline(pytester)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", *workers, *narrowing, "--claims-baseline", "base.json"
    )
    assert result.ret == 0
    assert _summary(pytester, narrowed=True)["run"]["baseline"]["missing"] == []


def test_a_narrowed_run_writes_beside_the_full_report_never_over_it(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    pytester.runpytest_subprocess("-p", "no:cacheprovider")
    full = (pytester.path / "reports" / "summary.json").read_text()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "T1")
    result.stdout.fnmatch_lines(["*summary: *reports/narrowed/summary.json*"])
    assert (pytester.path / "reports" / "summary.json").read_text() == full
    narrowed = json.loads((pytester.path / "reports" / "narrowed" / "summary.json").read_text())
    assert [r["id"] for r in narrowed["claims"]] == ["T1"]


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_a_run_stopped_early_writes_no_report_and_retires_every_artefact_of_the_previous_one(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    _suite(pytester)
    pytester.runpytest_subprocess("-p", "no:cacheprovider")
    reports = pytester.path / "reports"
    earlier = {p.name for p in reports.iterdir()}
    _suite(pytester, threshold=0.9)  # both toy claims now FAIL; -x stops after the first
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *workers, "-x")
    result.stdout.fnmatch_lines(["*the run stopped early*no report written*"])
    assert {p.name for p in reports.iterdir()} == {"previous"}
    assert {p.name for p in (reports / "previous").iterdir()} == earlier


CRASHING_CLAIM = """
import os
import signal

from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis


@claim("T0", title="toy crash", statement="the worker dies", paper_ref="toy §0", axes=[Axis.ORIGINAL],
       needs=Needs(published=True, text=False), criterion=Criterion(full="x", small="x"))
def toy_crash(ctx):
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_xdist_worker_ends_the_run_with_an_error_not_a_hang(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    (pytester.path / "toyclaims" / "crash.py").write_text(CRASHING_CLAIM)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", timeout=60)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*crashed*", "*the run stopped early*"])
    result.assert_outcomes(passed=1, failed=2)  # T1 and T2 still ran (T2 FAILs); T0 crashed once, not per restart
    # one crash report, not one per replacement worker (the short summary repeats it only on wide terminals)
    crash_reports = [line for line in result.stdout.lines if line.startswith("worker 'gw") and "crashed while" in line]
    assert len(crash_reports) == 1
    assert not (pytester.path / "reports" / "summary.json").exists()


def test_a_sigkilled_run_leaves_no_complete_looking_report_because_the_previous_one_is_retired_first(
    pytester: pytest.Pytester,
) -> None:
    _suite(pytester)
    pytester.runpytest_subprocess("-p", "no:cacheprovider")
    reports = pytester.path / "reports"
    earlier = {p.name for p in reports.iterdir()}
    (pytester.path / "toyclaims" / "crash.py").write_text(CRASHING_CLAIM)  # T0 SIGKILLs pytest itself (serial)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == -signal.SIGKILL
    assert {p.name for p in reports.iterdir()} == {"previous"}
    assert {p.name for p in (reports / "previous").iterdir()} == earlier


def test_claims_list_prints_every_registered_claim_and_runs_nothing(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--claims-list")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["T1 * v1 * original * toy pass", "T2 * v1 * original * toy fail"])
    assert not (pytester.path / "reports" / "summary.json").exists()


def test_claims_option_runs_the_named_claims_by_exact_id(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--claims", "T1")
    result.assert_outcomes(passed=1)
    assert [r["id"] for r in _summary(pytester, narrowed=True)["claims"]] == ["T1"]


def test_an_unknown_claim_id_is_a_usage_error_naming_the_known_ones(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--claims", "T9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--claims T9: unknown claim id; known: T1, T2*"])


def test_in_a_project_without_claim_packages_the_plugin_does_nothing(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its own `--device` and `--models` options and `case` fixture are the project's; ours are `--claims-*`."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "TOKENIZERS_PARALLELISM"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeconftest(
        """
        import pytest

        def pytest_addoption(parser):
            parser.addoption("--device", default="cpu")
            parser.addoption("--models", default="")

        @pytest.fixture
        def case():
            return "theirs"
        """
    )
    pytester.makepyfile(
        test_theirs="""
        import os
        import sys

        def test_their_own_case_fixture_is_untouched(case):
            assert case == "theirs"

        def test_their_own_options_are_parsed(request):
            assert request.config.getoption("--device") == "tpu"
            assert request.config.getoption("--models") == "mine"

        def test_no_torch_no_transformers_no_environment_change():
            assert "torch" not in sys.modules and "transformers" not in sys.modules
            assert "HF_HUB_OFFLINE" not in os.environ and "TOKENIZERS_PARALLELISM" not in os.environ
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--device", "tpu", "--models=mine")
    result.assert_outcomes(passed=3)
    assert not (pytester.path / "reports").exists()


def test_claims_plan_prints_the_estimate_and_runs_nothing(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--claims-plan")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*subject*dataset*models*tokens/model*route*", "total: disk *", "*nothing was run*"])
    assert "passed" not in result.stdout.str()
    assert not list((pytester.path / "reports").rglob("summary.json"))


def test_claims_plan_under_xdist_is_a_usage_error_naming_the_fix(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--claims-plan", "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--claims-plan plans the run in one process: leave out -n*"])


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only (elsewhere a no-op)"
)
def test_a_claims_run_tells_glibc_to_keep_freed_memory_for_reuse() -> None:
    from fixtures.plugin import _keep_freed_memory

    assert _keep_freed_memory()
