"""DP-SGD settings checked before training, the one place training is made private, and the ledger written after it."""

from __future__ import annotations

import contextlib
import copy
import math
import statistics
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from pipeline import distributed
from pipeline.config import TrainConfig
from pipeline.errors import ConfigError
from pipeline.logs import get_logger
from pipeline.training.canaries import CANARY_GROUP_PREFIX
from pipeline.training.data import ResponseLoss, collate
from pipeline.training.device import CPU_PHYSICAL_BATCH

log = get_logger("pipeline.train")

# (logits, target, weight) -> the batch's loss
Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Units:
    """What DP-SGD protects: each person (the rows sharing a `group` value) or each row."""

    kind: Literal["group", "row"]
    column: str | None  # the group column, when the config has one
    rows: list[list[int]]  # each unit's row indices in the training set, the canaries' units included
    rows_per_person: list[
        int
    ]  # rows of each group value of the data (canaries left out); empty without a group column

    @property
    def sampled(self) -> int:
        return len(self.rows)

    def describe(self) -> dict[str, Any]:
        """The ledger's account of the unit: how many there are and how many rows each person has."""
        people = self.rows_per_person
        summary: dict[str, Any] = {"unit": self.kind, "group_column": self.column, "units_sampled": self.sampled}
        if people:
            summary |= {
                "people": len(people),
                "rows_per_person": {"min": min(people), "median": statistics.median(people), "max": max(people)},
            }
        return summary


def privacy_units(frame: pd.DataFrame, kind: Literal["group", "row"], column: str | None) -> Units:
    """Units over the training frame: under `group`, the rows sharing a group value (a row without one is a unit
    of its own; the copies of a canary share its group value); under `row`, every row."""
    people: list[int] = []
    if column is not None and column in frame.columns:
        values = frame[column]
        real = values.notna() & ~values.astype(str).str.startswith(CANARY_GROUP_PREFIX)
        people = sorted(values[real].value_counts().tolist())
    if kind == "row":
        return Units(kind, column, [[index] for index in range(len(frame))], people)
    if column is None:
        raise ConfigError(
            ["train.privacy_unit: group needs a group column (sources[i].columns.group); set privacy_unit: row"]
        )
    keys = frame[column].astype("object").where(frame[column].notna(), "row:" + frame["row_id"].astype(str))
    codes, _ = pd.factorize(keys, sort=True)
    rows: list[list[int]] = [[] for _ in range(int(codes.max()) + 1 if len(codes) else 0)]
    for index, code in enumerate(codes):
        rows[code].append(index)
    return Units(kind, column, rows, people)


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
    dataset: Dataset,
    units: Units,
    generator: torch.Generator,
    delta: float,
    device: torch.device | None = None,
) -> Training:
    """`Training` for `train.dp: false` (shuffled batches of `train.batch_size` rows), else `PrivateTraining` over
    Poisson-sampled units (`sampling.unit_loader`: `train.batch_size` units per step in expectation, one row each).
    The noise multiplier for `train.target_epsilon` is computed once (`noise_for`, which refuses an infeasible
    epsilon) and given to Opacus' `make_private`, so the optimizer adds, and the ledger records, exactly the checked
    value. `criterion` is the per-example mean loss (`reduction` "mean"); `generator` draws the batches (and under DP
    the noise; on a GPU the noise comes from a generator there, seeded from it)."""
    settings = resolved_settings(settings, causal=isinstance(criterion, ResponseLoss), device=device)
    if not settings.dp:
        loader = DataLoader(
            dataset, batch_size=settings.batch_size, shuffle=True, generator=generator, collate_fn=collate
        )
        return Training(
            model=model,
            optimizer=optimizer,
            criterion=_weighted(criterion),
            loader=loader,
            sample_rate=1 / len(loader),
        )
    from opacus import PrivacyEngine

    from pipeline.training.sampling import unit_loader

    loader = unit_loader(
        dataset,
        units.rows,
        batch_size=settings.batch_size,
        generator=generator,
        rank=distributed.rank(),
        replicas=distributed.world_size(),
    )
    sample_rate = loader.batch_sampler.sample_rate
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
        poisson_sampling=False,  # the loader already samples units by Poisson sampling
        grad_sample_mode=settings.grad_sample_mode,
        noise_generator=_noise_generator(generator, device),
    )
    if settings.grad_sample_mode == "ghost":
        module, optimizer, criterion, loader = made
    else:
        module, optimizer, loader = made
    # Opacus takes the sampling rate as 1 / steps per epoch and the expected batch (the mean loss's divisor, per
    # process) as rows x rate; here units are sampled at their own rate
    optimizer.attach_step_hook(engine.accountant.get_optimizer_hook_fn(sample_rate=sample_rate))
    optimizer.expected_batch_size = int(units.sampled * sample_rate) / distributed.world_size()
    log.info(
        "DP-SGD per %s: %d units, noise multiplier %.3f, sampling rate %.4f, delta %.2g, target epsilon %g",
        units.kind,
        units.sampled,
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


def resolved_settings(settings: TrainConfig, *, causal: bool, device: torch.device | None) -> TrainConfig:
    """`train` with its automatic choices made for this model and device: ghost clipping for a causal LM on a GPU
    (hooks otherwise); the physical batch size is made by the Trainer, which has to try it."""
    mode = settings.grad_sample_mode
    if mode == "auto":
        mode = "ghost" if causal and device is not None and device.type == "cuda" else "hooks"
    physical = settings.physical_batch_size
    if physical == "auto":
        physical = min(CPU_PHYSICAL_BATCH, settings.batch_size)  # a placeholder until the Trainer tries
    return settings.model_copy(update={"grad_sample_mode": mode, "physical_batch_size": physical})


def _noise_generator(generator: torch.Generator, device: torch.device | None) -> torch.Generator:
    """The noise is drawn where the gradients are: the batch generator itself on CPU, a seeded one on a GPU."""
    if device is None or device.type == "cpu":
        return generator
    return torch.Generator(device=device).manual_seed(generator.initial_seed())


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


def resolve_delta(settings: TrainConfig, units: int, kind: str = "row") -> float:
    """`target_delta`, or 1 / (10 N) for N privacy units; it must stay below 1 / N (else one unit may leak with that
    probability)."""
    delta = settings.target_delta if settings.target_delta is not None else 1 / (10 * units)
    if delta >= 1 / units:
        raise ConfigError(
            [
                f"train.target_delta: {delta:g} is not below 1/N = {1 / units:.3g} for the {units} privacy units ({kind}s) of the "
                f"training set; use at most {1 / (10 * units):.3g}"
            ]
        )
    return delta


def group_privacy(epsilon: float, delta: float, size: int) -> dict[str, float]:
    """The standard group-privacy conversion (Dwork and Roth, The Algorithmic Foundations of Differential Privacy,
    Theorem 2.2 and its (epsilon, delta) form): a row-level (epsilon, delta) guarantee covers a group of k rows at
    (k epsilon, k e^((k-1) epsilon) delta); a delta of 1 or more promises nothing."""
    exponent = (size - 1) * epsilon
    group_delta = size * math.exp(exponent) * delta if exponent < 700 else math.inf
    return {"rows": size, "epsilon": size * epsilon, "delta": min(group_delta, 1.0)}


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
    units: Units,
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
    unit = units.describe()
    if dp and units.kind == "row" and unit.get("rows_per_person", {}).get("max", 1) > 1 and epsilon is not None:
        unit["group_privacy"] = group_privacy(epsilon, delta, unit["rows_per_person"]["max"])
    return {
        "dp": dp,
        "mechanism": f"DP-SGD (Opacus), Poisson sampling of {units.kind}s (one row per sampled {units.kind}), per-example clipping, Gaussian noise"
        if dp
        else "none: trained without differential privacy",
        "privacy_unit": unit if dp else None,
        "epsilon_spent": epsilon,
        "target_epsilon": settings.target_epsilon if dp else None,
        "delta": delta if dp else None,
        "noise_multiplier": noise,
        "max_grad_norm": settings.max_grad_norm if dp else None,
        "sampling_rate": sample_rate,
        "expected_batch_size": settings.batch_size,  # under DP, units per logical step
        "physical_batch_size": settings.physical_batch_size,
        "processes": processes,  # torchrun processes that trained (DPDDP); the batch sizes above are over all of them, the physical one per process
        "learning_rate": settings.effective_learning_rate,
        "steps": steps,
        "epochs_planned": settings.epochs,
        "epochs_run": epochs_run,
        "training_rows": rows,
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
