"""The streaming family pass's statistics: everything U1-U4 need, accumulated batch by batch.

A family pass runs every seed of a family and its untrained controls over the same token batches in lockstep
(`fixtures/stream.py`) and hands each batch's MLP activations here. Three `Comparisons` accumulators take them:

* members: the reference seed against every other seed (U1-U4's correlations, both rotation baselines);
* controls: the first untrained control against the other controls (the control every universality claim needs);
* rotated: a Haar-rotated copy of the reference against the first other seed (U2's rotation-vs-rotation control).

Nothing here grows with the token count: memory is, per comparison pair, a float64 and a float32 [n_a, n_b]
matrix (plus the comparison model's within-layer Gram blocks), and one set of chunk buffers shared by all pairs.
For GPT-2 small (n = 12 x 3072 = 36,864 neurons) that is 16.3 GB per pair: a 5-seed family has 5 pairs (4 seeds
and the rotated control), 82 GB, and fits one 141 GB GPU; with 5 untrained controls (4 more pairs, 147 GB) it
does not. `docs/streaming.md` says how to split larger ones.

Activations are rounded to `round_to` (float16, as the activation store keeps them) before they enter any
statistic, so a streamed pass and one over stored activations see the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from engine.correlation import haar_orthogonal, tf32
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
        self.rotated = Comparisons(
            layers * d,
            member_shapes[1:2],
            torch.Generator().manual_seed(seed),
            baselines=("gaussian",),
            device=device,
            precision=precision,
        )
        # every accumulator overwrites the chunk buffers on each update: one set serves them all
        for part in (self.rotated, self.controls):
            if part is not None:
                for acc in part.accs:
                    acc.share_workspace(self.members.accs[0])
        rotation = haar_orthogonal(layers, d, torch.Generator().manual_seed(seed + 1))
        self.rotation = rotation.to(device=self.device, dtype=torch.float32)

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
        with tf32(self.precision != "float32"):  # the rotated copy is rounded to `round_to` right after
            rotated = torch.einsum("tld,lkd->tlk", self._rounded(members[0]).float(), self.rotation)
        self.rotated.update(self._flat(rotated), flat[1:2])

    def _rounded(self, x: Tensor) -> Tensor:
        """On the device, rounded to `round_to` (CrossCorrelation converts into its float32 buffers itself)."""
        x = x.to(self.device)
        return x if self.round_to is None else x.to(self.round_to)

    def _flat(self, x: Tensor) -> Tensor:
        return self._rounded(x).reshape(x.shape[0], -1)

    def finish(self) -> FamilyRun:
        """Max correlations and baselines of all three parts."""
        return FamilyRun(
            members=self.members.finish(),
            controls=None if self.controls is None else self.controls.finish(),
            rotated=self.rotated.finish(),
        )

    @property
    def n_tokens(self) -> int:
        """Positions accumulated so far."""
        return self.members.accs[0].n
