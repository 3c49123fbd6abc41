"""DP-SGD settings checked before training, and the privacy ledger written after it."""

from __future__ import annotations

from typing import Any

from pipeline.config import TrainConfig
from pipeline.errors import ConfigError


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
    return noise


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
