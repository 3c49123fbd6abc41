"""Poisson sampling spread over the processes of a torchrun launch (Opacus' DPDDP), accounted as in one process.

Each row joins each logical batch independently with the single-process
sample rate q; of W ranks, rank r draws among rows r, r + W, r + 2W, ... So a
logical batch is the union of the ranks' local batches, and the accountant's
sample rate, step count and noise multiplier are those of a single-process
run at the same `train.batch_size`.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from opacus.utils.uniform_sampler import DistributedUniformWithReplacementSampler
from torch.utils.data import DataLoader


class ShardedPoissonSampler(DistributedUniformWithReplacementSampler):
    """Opacus' distributed Poisson sampler, except that it yields a rank's empty draws too.

    Opacus skips them, so that rank would run fewer logical steps than the
    others: its gradient all-reduces would pair with the wrong steps or hang,
    and its accountant would count fewer steps. Here every rank takes part in
    every logical step (`BatchMemoryManager` still splits the local batches).
    """

    def __iter__(self) -> Iterator[list[int]]:
        rows = torch.arange(self.rank, self.total_size, self.num_replicas)
        for _ in range(self.num_batches):
            chosen = torch.rand(self.num_samples, generator=self.generator) < self.sample_rate
            yield rows[chosen].tolist()


def sharded_loader(loader: DataLoader, generator: torch.Generator) -> DataLoader:
    """The DP data loader Opacus made for DPDDP, with `ShardedPoissonSampler` at its sample rate and its empty-batch collate."""
    sampler = ShardedPoissonSampler(
        total_size=len(loader.dataset), sample_rate=loader.sample_rate, shuffle=False, generator=generator
    )
    return DataLoader(loader.dataset, batch_sampler=sampler, collate_fn=loader.collate_fn)
