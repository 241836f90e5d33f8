"""The zoo's model families: one declaration per family, read by the training script and by the model registry.

A family is several models of one architecture that differ only in their seeds (init and data order), which is
what the paper's cross-seed claims need. Untrained controls are the same configs at initialisation.
The zoo lives next to this file: `zoo/<family>/<member>/` are self-contained Hugging Face directories.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

ZOO_DIR = Path(__file__).resolve().parent
TOKENIZER_DIR = ZOO_DIR / "tokenizer"
MEMBER_LETTERS = "abcde"
BASE_FAMILY = "zoo-gpt2-s"


@dataclass(frozen=True)
class FamilySpec:
    """Architecture and training recipe of one zoo family.

    Attributes:
        name: registered family name, e.g. `zoo-gpt2-s`; folder `zoo/<name>/`.
        arch: `gpt2` (LayerNorm, GELU, learned positions, MLP biases) or `neox` (rotary, parallel attention).
        n_layer, d_model, n_head, d_mlp, n_ctx: the shape.
        members: member letters that are trained (each letter has its own init and data-order seed).
        untrained: member letters saved at initialisation as controls.
        tokens: training tokens per member.
        lr, weight_decay, warmup_frac, batch_size: the AdamW recipe (cosine decay to 10 % of lr).
        role: what the family is for in the claim matrix (original setting or a GT1 variant).
    """

    name: str
    arch: str
    n_layer: int
    d_model: int
    n_head: int
    d_mlp: int
    members: str
    untrained: str
    tokens: int
    role: str
    n_ctx: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.1
    warmup_frac: float = 0.03
    batch_size: int = 32
    tie_embeddings: bool = True
    vocab_size: int = 4096
    tokenizer_dir: Path = TOKENIZER_DIR
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        """Where this family's member directories live."""
        return ZOO_DIR / self.name

    def init_seed(self, member: str) -> int:
        """Seed for parameter initialisation (distinct per family and member)."""
        return 1000 * (1 + MEMBER_LETTERS.index(member)) + self.n_layer * 10 + self.d_model % 7

    def data_seed(self, member: str) -> int:
        """Seed for the order in which training contexts are drawn."""
        return 7919 * (1 + MEMBER_LETTERS.index(member)) + 13


# GT1: the same architecture, narrower (d_model 128), four seeds, the base family's tokens and recipe.
NARROW = FamilySpec(
    name="zoo-gpt2-n",
    arch="gpt2",
    n_layer=4,
    d_model=128,
    n_head=4,
    d_mlp=512,
    members="abcd",
    untrained="ab",
    tokens=10_000_000,
    role="gt1-width",
)

FAMILIES: dict[str, FamilySpec] = {
    spec.name: spec
    for spec in (
        # The base family (the paper's GPT-2 small seeds a-e, scaled down). Width 192 won the sweep:
        # 4x the universal neurons per CPU-minute of width 128 at the same token budget (zoo/README.md).
        FamilySpec(
            name=BASE_FAMILY,
            arch="gpt2",
            n_layer=4,
            d_model=192,
            n_head=6,
            d_mlp=768,
            members="abcde",
            untrained="ab",
            tokens=10_000_000,
            role="original",
        ),
        NARROW,
        # The tied-embedding control: zoo-gpt2-n with an untied unembedding and nothing else changed (same seeds,
        # tokens and recipe), so a P-claim that holds on both is not an artefact of W_U = W_E. It is the narrow
        # family's twin, not the base family's, because a base-width member takes ~55 CPU-minutes to train.
        replace(NARROW, name="zoo-gpt2-nu", role="gt1-untied", tie_embeddings=False),
        # GT1: Pythia-style GPT-NeoX (rotary, parallel attention, exact GELU, untied unembedding), four seeds, the
        # base family's tokens and recipe.
        FamilySpec(
            name="zoo-neox-s",
            arch="neox",
            n_layer=4,
            d_model=128,
            n_head=4,
            d_mlp=512,
            members="abcd",
            untrained="ab",
            tokens=10_000_000,
            role="gt1-architecture",
            tie_embeddings=False,
            extra={"rotary_pct": 0.25, "use_parallel_residual": True},
        ),
    )
}
