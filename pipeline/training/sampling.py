"""Poisson sampling of privacy units, the rows of one person (a `group` value) or single rows, in one process or spread
over the processes of a torchrun launch (Opacus' DPDDP), accounted as in one process.

Each logical step, every unit joins the batch independently with rate
q = 1 / ceil(units / `train.batch_size`), and a sampled unit brings one of its
rows, drawn at random with the seeded generator. An epoch is
ceil(rows / `train.batch_size`) steps, as many as plain DP-SGD takes over the
rows, so training sees as many examples per epoch whatever the unit (a person
with more rows than the average is drawn less than once per row). Per-example clipping then bounds what a unit
adds to any step by `train.max_grad_norm`, however many rows it has, so the
accountant's unit is the unit (user-level DP). The alternative, the clipped sum
of all of a unit's gradients, would need per-unit gradient sums that Opacus
does not compute and memory that grows with a unit's row count; dp-transformers'
author-level DP samples one example per author too. The cost: the rows of a
unit with many of them are each seen less often.

Of W ranks, rank r draws among units r, r + W, r + 2W, ...; a logical batch is
the union of the ranks' local batches. Every rank yields every step, an empty
draw too: a rank that skipped one would pair its gradient all-reduces with the
wrong steps, and its accountant would count fewer steps.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from opacus.data_loader import wrap_collate_with_empty
from torch.utils.data import DataLoader, Dataset, Sampler

from pipeline.training.data import collate


class UnitPoissonSampler(Sampler[list[int]]):
    """`steps` logical batches: each of this rank's units joins with probability `sample_rate` and brings one row."""

    def __init__(
        self,
        units: Sequence[Sequence[int]],
        *,
        sample_rate: float,
        steps: int,
        generator: torch.Generator,
        rank: int = 0,
        replicas: int = 1,
    ) -> None:
        self.units = [list(rows) for rows in units[rank::replicas]]
        self.sample_rate = sample_rate
        self.steps = steps
        self.generator = generator

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[list[int]]:
        for _ in range(self.steps):
            chosen = torch.rand(len(self.units), generator=self.generator) < self.sample_rate
            yield [self._one_row(self.units[index]) for index in chosen.nonzero().flatten().tolist()]

    def _one_row(self, rows: list[int]) -> int:
        if len(rows) == 1:
            return rows[0]
        return rows[int(torch.randint(len(rows), (1,), generator=self.generator))]


def sample_rate(units: int, batch_size: int) -> float:
    """Each unit's chance to join a step: `batch_size` units per step on average (1 / steps to draw each once)."""
    return 1 / math.ceil(units / batch_size)


def unit_loader(
    dataset: Dataset,
    units: Sequence[Sequence[int]],
    *,
    batch_size: int,
    generator: torch.Generator,
    rank: int = 0,
    replicas: int = 1,
) -> DataLoader:
    """One epoch of Poisson-sampled logical batches over `units` (row indices of `dataset` per unit): ceil(rows /
    batch_size) steps at rate `sample_rate(units, batch_size)`; an empty draw collates to tensors with no rows, as
    Opacus' own DP loader does; a drawn batch is trimmed to its longest example (`data.collate`)."""
    first = dataset[0]
    sampler = UnitPoissonSampler(
        units,
        sample_rate=sample_rate(len(units), batch_size),
        steps=math.ceil(len(dataset) / batch_size),
        generator=generator,
        rank=rank,
        replicas=replicas,
    )
    with_empty = wrap_collate_with_empty(
        collate_fn=collate,
        sample_empty_shapes=[(0, *value.shape) for value in first],
        dtypes=[value.dtype for value in first],
    )
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=with_empty)
