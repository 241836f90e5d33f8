"""Run profiles: which models and data each axis runs on, and how many tokens — one screen of knobs.

`--claims-profile NAME` picks one; `--claims-models` / `--claims-datasets` replace its subjects / datasets (the axis of each
row is then derived from what is new relative to the paper, see `axis_of`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from claims.verdict import Axis


@dataclass(frozen=True)
class Cell:
    """Subjects (models or families) crossed with datasets for one axis."""

    subjects: tuple[str, ...]
    datasets: tuple[str, ...]


@dataclass(frozen=True)
class Profile:
    """A named run size.

    Attributes:
        name, description: for `--claims-profile` and the report.
        cells: per axis, the default subjects x datasets.
        tokens_small: tokens per (model, dataset) for the zoo's tiny models: what the streamed statistics (cross-seed
            correlations, per-neuron moments) see. Memory and disk do not depend on it (docs/streaming.md).
        tokens_full: the same for real-size models.
        sample_small, sample_full: the most tokens of the token-level sample that claims needing per-token
            activations read (variance reduction, position information, AUROCs, interventions). These are stored
            raw, so this cap, not the token budget, sets the disk; `--claims-sample-tokens` replaces both.
        probe_small, probe_full: tokens of the claims' model-running probes (E1/E2 run one forward pass per
            intervention over them; A1 measures value norms on them), from the start of the token-level sample.
        context_length: tokens per context (capped by the model's own n_ctx).
        seed: sampling and baseline seed.
    """

    name: str
    description: str
    cells: Mapping[Axis, Cell]
    tokens_small: int
    tokens_full: int
    context_length: int
    sample_small: int
    sample_full: int
    seed: int = 0
    probe_small: int = 8_192
    probe_full: int = 2_048
    notes: dict[str, str] = field(default_factory=dict)

    def tokens_for(self, scale: str) -> int:
        """Token budget for a model of this scale."""
        return self.tokens_small if scale == "small" else self.tokens_full


GT2_CORPORA = ("code", "news", "wiki", "shakespeare", "spanish")
DEFAULT_CELLS: Mapping[Axis, Cell] = {
    Axis.ORIGINAL: Cell(("zoo-gpt2-s",), ("sotu",)),
    Axis.GT1: Cell(("zoo-gpt2-n", "zoo-gpt2-nu", "zoo-neox-s", "smollm2-135m-instruct-q4"), ("sotu",)),
    Axis.GT2: Cell(("zoo-gpt2-s", "smollm2-135m-instruct-q4"), GT2_CORPORA),
    Axis.GT3: Cell(("zoo-gpt2-s", "smollm2-135m-instruct-q4"), ("sotu",)),
}

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            name="default",
            description="embedded and offline: the zoo families and SmolLM2-135M on the packaged corpora (2 CPU cores)",
            cells=DEFAULT_CELLS,
            tokens_small=32_768,  # 256 contexts of 128: correlation noise ~0.006; cold default run ~14 min (README)
            tokens_full=8_192,  # SmolLM2 runs ~400 tokens/s on 2 cores: ~20 s per corpus
            context_length=128,  # the zoo's n_ctx
            sample_small=32_768,  # the whole budget: 200 MB of float16 per zoo model and corpus
            sample_full=8_192,
        ),
        Profile(
            name="resample",
            description="the default run on a second, independent token sample (seed 1): compare key numbers with "
            "a default run to see the sampling spread of each claim's numbers",
            cells=DEFAULT_CELLS,
            tokens_small=32_768,
            tokens_full=8_192,
            context_length=128,
            sample_small=32_768,
            sample_full=8_192,
            seed=1,
        ),
        Profile(
            name="smoke",
            description="seconds, not minutes: the base zoo family and SmolLM2 on sotu with few tokens (harness checks)",
            cells={
                Axis.ORIGINAL: Cell(("zoo-gpt2-s",), ("sotu",)),
                Axis.GT1: Cell(("zoo-neox-s",), ("sotu",)),
                Axis.GT2: Cell(("zoo-gpt2-s",), ("code",)),
                Axis.GT3: Cell(("zoo-gpt2-s",), ("sotu",)),
            },
            tokens_small=8_192,
            tokens_full=2_048,
            context_length=128,
            sample_small=8_192,
            sample_full=2_048,
        ),
        Profile(
            name="paper",
            description="the paper's own models from the hub on Pile text, for GPU machines with hub access",
            cells={
                Axis.ORIGINAL: Cell(
                    ("stanford-gpt2-small", "stanford-gpt2-medium", "pythia-160m"), ("hf:monology/pile-uncopyrighted",)
                ),
                # a 5-seed family the paper did not use, so every cross-seed claim has a GT1 row
                Axis.GT1: Cell(("pythia-410m", "gpt2-xl"), ("hf:monology/pile-uncopyrighted",)),
                Axis.GT2: Cell(("stanford-gpt2-small",), ("hf:ag_news", "code")),
                Axis.GT3: Cell(("stanford-gpt2-small",), ("hf:monology/pile-uncopyrighted",)),
            },
            tokens_small=1_048_576,
            tokens_full=1_048_576,
            context_length=512,
            # 65,536 tokens x 36,864 neurons x 2 bytes = 4.8 GB per GPT-2-small model, whatever the budget
            sample_small=65_536,
            sample_full=65_536,
        ),
    )
}

# What the paper itself used, for deriving the axis of a row when the user chooses models and data.
ORIGINAL_SUBJECTS = frozenset({"zoo-gpt2-s", "stanford-gpt2-small", "stanford-gpt2-medium", "pythia-160m"})
ORIGINAL_DATASETS = frozenset({"sotu", "hf:monology/pile-uncopyrighted", "monology/pile-uncopyrighted"})


def axis_of(subject: str, dataset: str | None, method_axis: bool) -> Axis:
    """The generalisation axis of a (subject, dataset) row: new method > new data > new model > original."""
    if method_axis:
        return Axis.GT3
    if dataset is not None and dataset not in ORIGINAL_DATASETS:
        return Axis.GT2
    family = subject.split(":", 1)[0]
    return Axis.ORIGINAL if family in ORIGINAL_SUBJECTS else Axis.GT1


def get_profile(name: str) -> Profile:
    """The profile called `name`, or a ValueError listing the choices."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(sorted(PROFILES))}") from None
