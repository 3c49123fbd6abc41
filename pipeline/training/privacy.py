"""DP-SGD settings checked before training, the one place training is made private, and the ledger written after it."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import DataLoader

from pipeline import distributed
from pipeline.config import TrainConfig
from pipeline.errors import ConfigError
from pipeline.logs import get_logger

log = get_logger("pipeline.train")

# (logits, target, weight) -> the batch's loss
Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(kw_only=True)
class Training:
    """What the Trainer trains with, the same shape with DP or without. This one is plain training: the model
    itself, its optimizer, the sample-weighted loss, and shuffled batches of `train.batch_size`."""

    model: Any
    optimizer: torch.optim.Optimizer
    criterion: Loss
    loader: DataLoader
    sample_rate: float  # 1 / batches per epoch: the ledger's sampling rate (under DP, the Poisson rate)
    noise: float | None = None  # the noise multiplier; None without DP
    _steps: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.optimizer.register_step_post_hook(self._count_step)

    def _count_step(self, *_: Any) -> None:
        self._steps += 1

    @contextlib.contextmanager
    def batches(self) -> Iterator[Iterable[Any]]:
        """One epoch's batches."""
        yield self.loader

    def steps(self) -> int:
        """Optimizer steps taken so far."""
        return self._steps

    def epsilon(self, delta: float) -> float | None:
        """The privacy budget spent so far: none is accounted without DP."""
        return None

    def accountant_state(self) -> dict[str, Any] | None:
        return None


@dataclass(kw_only=True)
class PrivateTraining(Training):
    """DP-SGD: Opacus' GradSampleModule (around DPDDP under torchrun), its DPOptimizer (per-example clipping to
    `train.max_grad_norm`, Gaussian noise of `noise` times that), the per-example mean loss (ghost clipping's
    two-pass loss in that mode; sample weights ignored), the Poisson-sampled loader (sharded over the ranks under
    torchrun) run as physical batches of at most `physical_batch_size`, and the accountant that counts the steps."""

    noise: float
    accountant: Any
    physical_batch_size: int

    def __post_init__(self) -> None:
        pass  # the accountant counts the logical steps

    @contextlib.contextmanager
    def batches(self) -> Iterator[Iterable[Any]]:
        """One epoch's logical batches, split into physical ones; the optimizer steps on the last of each."""
        from opacus.utils.batch_memory_manager import BatchMemoryManager

        with BatchMemoryManager(
            data_loader=self.loader, max_physical_batch_size=self.physical_batch_size, optimizer=self.optimizer
        ) as loader:
            yield loader

    def steps(self) -> int:
        """Logical steps, as the accountant counts them."""
        return sum(steps for _, _, steps in self.accountant.history)

    def epsilon(self, delta: float) -> float:
        return float(self.accountant.get_epsilon(delta=delta))

    def accountant_state(self) -> dict[str, Any]:
        return {"history": [[float(n), float(q), int(s)] for n, q, s in self.accountant.history]}


def prepare(
    settings: TrainConfig,
    *,
    model: Any,
    optimizer: torch.optim.Optimizer,
    criterion: Any,
    loader: DataLoader,
    generator: torch.Generator,
    delta: float,
) -> Training:
    """`Training` for `train.dp: false`, else `PrivateTraining`: the noise multiplier for `train.target_epsilon` is
    computed once (`noise_for`, which refuses an infeasible epsilon) and given to Opacus' `make_private`, so the
    optimizer adds, and the ledger records, exactly the checked value. `criterion` is the per-example mean loss
    (`reduction` "mean"), `loader` the shuffled loader of `train.batch_size`, `generator` its generator (under DP
    also the noise's)."""
    sample_rate = 1 / len(loader)
    if not settings.dp:
        return Training(
            model=model, optimizer=optimizer, criterion=_weighted(criterion), loader=loader, sample_rate=sample_rate
        )
    from opacus import PrivacyEngine

    noise = noise_for(settings, sample_rate, settings.epochs * len(loader), delta)
    engine = PrivacyEngine(accountant=settings.accountant)
    module = model
    if distributed.world_size() > 1:  # Opacus then makes its distributed optimizer: noise on rank 0, gradients summed
        from opacus.distributed import DifferentiallyPrivateDistributedDataParallel

        module = DifferentiallyPrivateDistributedDataParallel(model)
    made = engine.make_private(
        module=module,
        optimizer=optimizer,
        criterion=criterion,
        data_loader=loader,
        noise_multiplier=noise,
        max_grad_norm=settings.max_grad_norm,
        poisson_sampling=True,
        grad_sample_mode=settings.grad_sample_mode,
        noise_generator=generator,
    )
    if settings.grad_sample_mode == "ghost":
        module, optimizer, criterion, loader = made
    else:
        module, optimizer, loader = made
    if distributed.world_size() > 1:
        from pipeline.training.sampling import sharded_loader

        loader = sharded_loader(loader, generator)
    log.info(
        "DP-SGD: noise multiplier %.3f, sampling rate %.4f, delta %.2g, target epsilon %g",
        noise,
        sample_rate,
        delta,
        settings.target_epsilon,
    )
    return PrivateTraining(
        model=module,
        optimizer=optimizer,
        criterion=_unweighted(criterion),
        loader=loader,
        sample_rate=sample_rate,
        noise=noise,
        accountant=engine.accountant,
        physical_batch_size=settings.physical_batch_size,
    )


def _unweighted(criterion: Any) -> Loss:
    """DP: the per-example mean; a sample weight would break the clipping bound, so it is ignored (see the ledger)."""

    def loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return criterion(logits, target)

    return loss


def _weighted(criterion: Any) -> Loss:
    """Plain training: each example's loss times its sample weight, over the batch's total weight."""
    per_example = copy.copy(criterion)
    per_example.reduction = "none"

    def loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return (per_example(logits, target) * weight).sum() / weight.sum()

    return loss


def resolve_delta(settings: TrainConfig, rows: int) -> float:
    """`target_delta`, or 1 / (10 N); it must stay below 1 / N (else one row may leak with that probability)."""
    delta = settings.target_delta if settings.target_delta is not None else 1 / (10 * rows)
    if delta >= 1 / rows:
        raise ConfigError(
            [
                f"train.target_delta: {delta:g} is not below 1/N = {1 / rows:.3g} for the {rows} training rows; use at most {1 / (10 * rows):.3g}"
            ]
        )
    return delta


def noise_for(settings: TrainConfig, sample_rate: float, steps: int, delta: float) -> float:
    """The noise multiplier that spends exactly `target_epsilon`; a clear error when the data is too small for it."""
    from opacus.accountants.utils import get_noise_multiplier

    try:
        noise = get_noise_multiplier(
            target_epsilon=settings.target_epsilon,
            target_delta=delta,
            sample_rate=sample_rate,
            steps=steps,
            accountant=settings.accountant,
        )
    except ValueError:
        noise = float("inf")
    if noise > settings.max_noise_multiplier:
        smallest = epsilon_for(settings, settings.max_noise_multiplier, sample_rate, steps, delta)
        raise ConfigError(
            [
                f"train.target_epsilon: {settings.target_epsilon:g} needs noise multiplier {noise:.3g} for {steps} steps at sampling rate "
                f"{sample_rate:.3g}, above train.max_noise_multiplier {settings.max_noise_multiplier:g} (the model would learn nothing); "
                f"the smallest feasible epsilon with this data and these settings is {smallest:.3g}. Raise target_epsilon, add data, or train fewer epochs"
            ]
        )
    return float(noise)  # Opacus' search may return an int (a bound it doubled)


def epsilon_for(settings: TrainConfig, noise: float, sample_rate: float, steps: int, delta: float) -> float:
    from opacus.accountants import create_accountant

    accountant = create_accountant(mechanism=settings.accountant)
    accountant.history = [(noise, sample_rate, steps)]
    return float(accountant.get_epsilon(delta=delta))


def ledger(
    settings: TrainConfig,
    *,
    rows: int,
    delta: float,
    noise: float | None,
    sample_rate: float,
    steps: int,
    epochs_run: int,
    epsilon: float | None,
    accountant_state: Any,
    weights_ignored: bool,
    early_stopping: bool,
    seed: int,
    processes: int,
) -> dict[str, Any]:
    dp = settings.dp
    return {
        "dp": dp,
        "mechanism": "DP-SGD (Opacus), Poisson sampling, per-example clipping, Gaussian noise"
        if dp
        else "none: trained without differential privacy",
        "epsilon_spent": epsilon,
        "target_epsilon": settings.target_epsilon if dp else None,
        "delta": delta if dp else None,
        "noise_multiplier": noise,
        "max_grad_norm": settings.max_grad_norm if dp else None,
        "sampling_rate": sample_rate,
        "expected_batch_size": settings.batch_size,
        "physical_batch_size": settings.physical_batch_size,
        "processes": processes,  # torchrun processes that trained (DPDDP); the batch sizes above are over all of them, the physical one per process
        "learning_rate": settings.effective_learning_rate,
        "steps": steps,
        "epochs_planned": settings.epochs,
        "epochs_run": epochs_run,
        "training_rows": rows,
        "canaries": {
            "inserted": settings.canaries.count,
            "copies_each": settings.canaries.repeats,
            "held_out": settings.canaries.count,
            "rows": settings.canaries.count * settings.canaries.repeats,
        },
        "accountant": settings.accountant if dp else None,
        "accountant_state": accountant_state,
        "grad_sample_mode": settings.grad_sample_mode if dp else None,
        "secure_rng": False,  # Opacus secure_mode needs torchcsprng; noise comes from torch's seeded generator
        "sample_weights": "ignored under DP: clipping bounds every example's gradient to max_grad_norm, so a weight cannot raise a row's "
        "influence without breaking that bound; use split.mitigation.method: resample with DP"
        if weights_ignored
        else "honoured"
        if not dp
        else "none given",
        "validation_used_for_model_selection": early_stopping,
        "seed": seed,
    }
