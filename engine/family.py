"""The family pass's statistics: everything U1-U4 need, accumulated batch by batch.

A family pass runs every seed of a family and its untrained controls over the same token batches in lockstep
(`fixtures/stream.py`) and hands each batch's MLP activations here; `family_from_arrays` feeds the same
accumulators from stored activations, so both routes are one computation. Three parts come out:

* members: the reference seed against every other seed (U1-U4's correlations, both rotation baselines);
* controls: the first untrained control against the other controls (the control every universality claim needs);
* rotated: a Haar-rotated copy of the reference against the first other seed (U2's rotation-vs-rotation control).
  It is exact algebra on the first members pair's sums (`CrossCorrelation.rotated_copy`: the pair also keeps
  the reference's within-layer Gram blocks), not a sixth product over the tokens, which cost a family pass of
  the zoo ~7 s per corpus on CPU.

Nothing here grows with the token count: memory is, per streamed comparison pair, a float64 and a float32
[n_a, n_b] matrix (plus the comparison model's within-layer Gram blocks), one set of chunk buffers shared by all
pairs, and at the end one more float64 [n_a, n_b] for the rotated copy. For GPT-2 small (n = 12 x 3072 = 36,864
neurons) a pair is 17.7 GB with its Gram blocks: a 5-seed family streams 4 pairs and finishes with the rotated
copy (10.9 GB), 83 GB (88 GB when the rotated copy was a fifth streamed pair); with 5 untrained controls (4 more
pairs) 154 GB. `docs/streaming.md` says how to split larger ones.

Activations are rounded to `round_to` (float16, as the activation store keeps them) before they enter any
statistic, so a streamed pass and one over stored activations see the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from engine.correlation import haar_orthogonal
from engine.universality import ComparisonRun, Comparisons


@dataclass(frozen=True)
class FamilyRun:
    """The finished statistics of one family pass (see the module docstring for the three parts)."""

    members: ComparisonRun
    controls: ComparisonRun | None
    rotated: ComparisonRun


class FamilyCorrelations:
    """Running sums of one family pass.

    Args:
        member_shapes: (layers, d_mlp) per seed, the reference first (>= 2 seeds).
        control_shapes: the same for the untrained controls (none, or >= 2).
        seed: the run's seed. The members' and the controls' baselines both draw from a generator seeded with it,
            the rotated control's Gaussian baseline too, and the reference's rotation uses `seed + 1`.
        device: where the accumulators live (the GPU of the pass).
        precision: GEMM precision (`engine.correlation.PRECISIONS`).
        round_to: dtype the activations are rounded to before any statistic (None: as given).
    """

    def __init__(
        self,
        member_shapes: Sequence[tuple[int, int]],
        control_shapes: Sequence[tuple[int, int]],
        seed: int,
        *,
        device: str | torch.device = "cpu",
        precision: str = "float32",
        round_to: torch.dtype | None = torch.float16,
    ) -> None:
        if len(member_shapes) < 2:
            raise ValueError(f"a family pass needs >= 2 seeds, got {len(member_shapes)}")
        if len(control_shapes) == 1:
            raise ValueError("untrained controls are compared with each other: give none or >= 2")
        self.device = torch.device(device)
        self.precision = precision
        self.round_to = round_to
        self.n_members, self.n_controls = len(member_shapes), len(control_shapes)
        layers, d = member_shapes[0]
        self.members = Comparisons(
            layers * d, member_shapes[1:], torch.Generator().manual_seed(seed), device=device, precision=precision
        )
        self.controls = None
        if control_shapes:
            c_layers, c_d = control_shapes[0]
            self.controls = Comparisons(
                c_layers * c_d,
                control_shapes[1:],
                torch.Generator().manual_seed(seed),
                device=device,
                precision=precision,
            )
        self.member_shapes = list(member_shapes)
        self.seed = seed
        # the rotated control is derived from the first pair at the end: that pair also keeps A's Gram blocks
        self.members.accs[0].track_gram_a(layers)
        if self.controls is not None:  # every accumulator overwrites the chunk buffers on each update: one set
            for acc in self.controls.accs:
                acc.share_workspace(self.members.accs[0])

    def update(self, members: Sequence[Tensor], controls: Sequence[Tensor] = ()) -> None:
        """Add one batch: the same kept positions of every seed and control, each [positions, layers, d_mlp]."""
        if len(members) != self.n_members or len(controls) != self.n_controls:
            raise ValueError(
                f"expected {self.n_members} seeds and {self.n_controls} controls, got {len(members)} and {len(controls)}"
            )
        flat = [self._flat(x) for x in members]
        if flat[0].shape[0] == 0:
            return
        self.members.update(flat[0], flat[1:])
        if self.controls is not None:
            cflat = [self._flat(x) for x in controls]
            self.controls.update(cflat[0], cflat[1:])

    def _rounded(self, x: Tensor) -> Tensor:
        """On the device, rounded to `round_to` (CrossCorrelation converts into its float32 buffers itself)."""
        x = x.to(self.device)
        return x if self.round_to is None else x.to(self.round_to)

    def _flat(self, x: Tensor) -> Tensor:
        return self._rounded(x).reshape(x.shape[0], -1)

    def finish(self) -> FamilyRun:
        """Max correlations and baselines of all three parts."""
        members = self.members.finish()
        # the controls first: they share the members' chunk buffers, which are freed only when both have finished
        controls = None if self.controls is None else self.controls.finish()
        layers, d = self.member_shapes[0]
        rotated = Comparisons(
            layers * d,
            self.member_shapes[1:2],
            torch.Generator().manual_seed(self.seed),
            baselines=("gaussian",),
            accs=[
                self.members.accs[0].rotated_copy(
                    haar_orthogonal(layers, d, torch.Generator().manual_seed(self.seed + 1))
                )
            ],
        )
        return FamilyRun(members=members, controls=controls, rotated=rotated.finish())

    @property
    def n_tokens(self) -> int:
        """Positions accumulated so far."""
        return self.members.accs[0].n


def family_from_arrays(
    members: Sequence[np.ndarray],
    controls: Sequence[np.ndarray],
    keep: np.ndarray | None,
    seed: int,
    *,
    chunk_positions: int = 16384,
    device: str | torch.device = "cpu",
    precision: str = "float32",
) -> FamilyRun:
    """`FamilyCorrelations` fed from stored activations instead of a live pass: the same sums, read in chunks.

    Args:
        members: [positions, layers, d_mlp] arrays of the seeds, the reference first (the store's float16 maps).
        controls: the same positions of the untrained controls (none, or >= 2).
        keep: [positions] bool, True where a position enters the statistics; None keeps all.
        seed: the run's seed (as `FamilyCorrelations`).
        chunk_positions: positions read per step (memory is O(chunk x neurons)).
        device: where the accumulators live.
        precision: GEMM precision (`engine.correlation.PRECISIONS`).
    """
    n_pos = members[0].shape[0]
    if any(a.shape[0] != n_pos for a in (*members, *controls)):
        raise ValueError("every model's activations must cover the same positions")
    if keep is not None:
        keep = np.asarray(keep, dtype=bool).reshape(-1)
        if keep.shape[0] != n_pos:
            raise ValueError(f"keep has {keep.shape[0]} entries for {n_pos} positions")
    fam = FamilyCorrelations(
        [(m.shape[1], m.shape[2]) for m in members],
        [(c.shape[1], c.shape[2]) for c in controls],
        seed,
        device=device,
        precision=precision,
    )
    for start in range(0, n_pos, chunk_positions):
        rows = None if keep is None else keep[start : start + chunk_positions]

        def block(acts: np.ndarray, start: int = start, rows: np.ndarray | None = rows) -> Tensor:
            # a copy either way: the store maps its files read-only
            part = (
                np.array(acts[start : start + chunk_positions])
                if rows is None
                else acts[start : start + chunk_positions][rows]
            )
            return torch.from_numpy(np.ascontiguousarray(part))

        fam.update([block(m) for m in members], [block(c) for c in controls])
    return fam.finish()
