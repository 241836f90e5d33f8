"""The set-up half of the run session: options checked, families declared, the case matrix expanded.

Split from claims/session.py because it runs once, in `pytest_configure`, before any test exists, and reads only
the command line, the profile and the registry; the rest of the session (claims/session.py) runs the cases,
collects rows and writes the reports. `ClaimsSession` inherits `SessionSetup`; bad input is a one-line
`pytest.UsageError` naming the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from claims import baseline as baseline_mod
from claims.matrix import ClaimCase, expand
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
    PLAN_OPTION,
    PROFILE_OPTION,
    REPORT_OPTION,
    SAMPLE_OPTION,
    SEED_OPTION,
    TOKENS_OPTION,
    UPDATE_BASELINE_OPTION,
    claim_packages,
)
from claims.profiles import get_profile
from claims.registry import load_all


class SessionSetup:
    """`configure` and the checks it runs; `settings` builds this process's RunSettings from the options."""

    config: pytest.Config
    is_worker: bool
    expected: dict[str, dict[str, Any]] | None
    matrix: list[ClaimCase]
    cases: list[ClaimCase]

    if TYPE_CHECKING:

        @property
        def report_path(self) -> Path:
            """Where summary.json goes (`ClaimsSession.report_path`)."""

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
