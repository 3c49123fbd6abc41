"""The DP wrapper on a tiny classifier: the noise multiplier computed once is the one Opacus adds and the ledger records,
for both clipping modes; plain training has the same shape; a person with many rows weighs on a step like anyone else."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from opacus import PrivacyEngine
from opacus.accountants.utils import get_noise_multiplier
from torch.utils.data import TensorDataset

from pipeline.config import TrainConfig
from pipeline.errors import ConfigError
from pipeline.reporting.content import privacy_scope
from pipeline.training import privacy

ROWS, BATCH, CLASSES = 40, 8, 3


class Tiny(torch.nn.Module):
    """Called as the Trainer calls a model: input ids and attention mask in, `.logits` out."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(20, 4)
        self.head = torch.nn.Linear(4, CLASSES)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> SimpleNamespace:
        hidden = (self.embed(input_ids) * attention_mask.unsqueeze(-1)).mean(1)
        return SimpleNamespace(logits=self.head(hidden))


def _prepare(settings: TrainConfig, units: privacy.Units | None = None) -> tuple[privacy.Training, float]:
    units = units or privacy.privacy_units(pd.DataFrame({"row_id": range(ROWS)}), "row", None)
    rows = sum(len(unit) for unit in units.rows)
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = Tiny()
    data = TensorDataset(
        torch.randint(0, 20, (rows, 5)),
        torch.ones(rows, 5),
        torch.randint(0, CLASSES, (rows,)),
        torch.arange(rows) + 1.0,  # sample weights (ignored under DP), which tell a batch's rows apart: row + 1
    )
    delta = privacy.resolve_delta(settings, units.sampled)
    training = privacy.prepare(
        settings,
        model=model,
        optimizer=torch.optim.AdamW(model.parameters(), lr=0.01),
        criterion=torch.nn.CrossEntropyLoss(),
        dataset=data,
        units=units,
        generator=generator,
        delta=delta,
    )
    return training, delta


def _one_heavy_customer(kind: str) -> privacy.Units:
    """Customer `big` wrote 50 rows, 30 others one each; canary copies share their canary's group value."""
    customers = ["big"] * 50 + [f"c{i}" for i in range(30)] + ["canary:k1", "canary:k1", None]
    frame = pd.DataFrame({"row_id": [f"r{i}" for i in range(len(customers))], "customer_id": customers})
    return privacy.privacy_units(frame, kind, "customer_id")


def _epoch(training: privacy.Training) -> None:
    with training.batches() as batches:
        for input_ids, attention, target, weight in batches:
            training.optimizer.zero_grad()
            if len(target) == 0:
                continue
            loss = training.criterion(
                training.model(input_ids=input_ids, attention_mask=attention).logits, target, weight
            )
            loss.backward()
            training.optimizer.step()


def test_the_checked_epsilon_is_what_make_private_with_epsilon_computed():
    """`noise_for` with epochs x batches steps: the same search, the same value, as Opacus' own epsilon path."""
    settings = TrainConfig(epochs=3, target_epsilon=8.0)
    for accountant in ("prv", "rdp"):
        settings = settings.model_copy(update={"accountant": accountant})
        ours = privacy.noise_for(settings, 1 / 5, 3 * 5, 1e-4)
        opacus = get_noise_multiplier(
            target_epsilon=8.0, target_delta=1e-4, sample_rate=1 / 5, epochs=3, accountant=accountant
        )
        assert ours == opacus and isinstance(ours, float)


@pytest.mark.parametrize("mode", ["hooks", "ghost"])
def test_dp_uses_the_noise_computed_once_and_the_accountant_counts_the_steps(mode, monkeypatch):
    def refused(*args, **kwargs):
        raise AssertionError("make_private_with_epsilon computes the noise multiplier a second time")

    monkeypatch.setattr(PrivacyEngine, "make_private_with_epsilon", refused)
    settings = TrainConfig(dp=True, epochs=2, batch_size=BATCH, physical_batch_size=4, grad_sample_mode=mode)
    training, delta = _prepare(settings)
    assert isinstance(training, privacy.PrivateTraining)
    checked = privacy.noise_for(settings, BATCH / ROWS, settings.epochs * ROWS // BATCH, delta)
    assert training.noise == checked == training.optimizer.noise_multiplier
    assert training.sample_rate == BATCH / ROWS and training.steps() == 0
    for _ in range(settings.epochs):
        _epoch(training)
    assert training.steps() == settings.epochs * ROWS // BATCH  # logical steps, not physical batches
    assert training.accountant_state() == {"history": [[checked, BATCH / ROWS, training.steps()]]}
    assert 0 < training.epsilon(delta) <= settings.target_epsilon


def test_plain_training_has_the_same_shape_with_weighted_loss_and_no_budget():
    settings = TrainConfig(dp=False, epochs=1, batch_size=BATCH)
    training, delta = _prepare(settings)
    assert type(training) is privacy.Training and training.noise is None
    logits, target, weight = torch.randn(4, CLASSES), torch.tensor([0, 1, 2, 1]), torch.tensor([1.0, 2.0, 1.0, 0.5])
    per_example = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    assert training.criterion(logits, target, weight) == pytest.approx(
        float((per_example * weight).sum() / weight.sum())
    )
    _epoch(training)
    assert training.steps() == ROWS // BATCH  # one optimizer step per batch
    assert training.epsilon(delta) is None and training.accountant_state() is None


def test_an_infeasible_epsilon_is_refused_before_opacus_wraps_anything(monkeypatch):
    monkeypatch.setattr(PrivacyEngine, "make_private", lambda *a, **k: pytest.fail("wrapped an infeasible run"))
    with pytest.raises(ConfigError, match="train.target_epsilon: 0.01 needs noise multiplier"):
        _prepare(TrainConfig(dp=True, epochs=2, batch_size=BATCH, target_epsilon=0.01))


def test_under_group_units_a_customer_with_50_rows_is_one_unit_and_the_canary_copies_another():
    units = _one_heavy_customer("group")
    assert units.sampled == 1 + 30 + 1 + 1  # big, the others, the canary (two copies), the row without a group
    assert sorted(len(rows) for rows in units.rows)[-2:] == [2, 50]
    assert units.describe() == {
        "unit": "group",
        "group_column": "customer_id",
        "units_sampled": 33,
        "people": 31,
        "rows_per_person": {"min": 1, "median": 1, "max": 50},
    }
    assert privacy.privacy_units(pd.DataFrame({"row_id": ["a"]}), "row", None).describe()["units_sampled"] == 1
    with pytest.raises(ConfigError, match="privacy_unit: group needs a group column"):
        privacy.privacy_units(pd.DataFrame({"row_id": ["a"]}), "group", None)


@pytest.mark.parametrize("kind", ["group", "row"])
def test_a_customer_with_50_rows_adds_at_most_the_clip_norm_to_any_step_under_group_units(kind):
    """Every logical step of three epochs, with per-example gradients clipped as Opacus clips them: the heavy
    customer's summed clipped contribution stays within max_grad_norm under `group`, and exceeds it under `row`."""
    units = _one_heavy_customer(kind)
    heavy = set(max(units.rows, key=len)) if kind == "group" else set(range(50))
    settings = TrainConfig(dp=True, epochs=3, batch_size=16, physical_batch_size=64, max_grad_norm=1.0)
    training, _ = _prepare(settings, units)
    params = [p for p in training.model.parameters() if p.requires_grad]
    largest = 0.0
    for _ in range(settings.epochs):
        with training.batches() as batches:
            for input_ids, attention, target, weight in batches:
                training.optimizer.zero_grad()
                if len(target) == 0:
                    continue
                loss = training.criterion(
                    training.model(input_ids=input_ids, attention_mask=attention).logits, target, weight
                )
                loss.backward()
                rows = (weight - 1).long().tolist()
                per_example = torch.cat([p.grad_sample.flatten(1) for p in params], dim=1)
                clipped = per_example * (
                    settings.max_grad_norm / (per_example.norm(dim=1, keepdim=True) + 1e-6)
                ).clamp(max=1.0)
                mine = [position for position, row in enumerate(rows) if row in heavy]
                largest = max(largest, float(clipped[mine].sum(0).norm()) if mine else 0.0)
                training.optimizer.step()
    if kind == "group":
        assert 0 < largest <= settings.max_grad_norm + 1e-5
    else:
        assert largest > settings.max_grad_norm  # several of its rows in one step: k times the bound


def test_the_ledger_states_the_unit_and_under_row_units_the_group_privacy_of_the_largest_customer():
    settings = TrainConfig(dp=True, epochs=1, batch_size=16, physical_batch_size=64)
    for kind in ("group", "row"):
        units = _one_heavy_customer(kind)
        training, delta = _prepare(settings, units)
        _epoch(training)
        epsilon = training.epsilon(delta)
        entry = privacy.ledger(
            settings,
            units=units,
            rows=83,
            delta=delta,
            noise=training.noise,
            sample_rate=training.sample_rate,
            steps=training.steps(),
            epochs_run=1,
            epsilon=epsilon,
            accountant_state=training.accountant_state(),
            weights_ignored=False,
            early_stopping=False,
            seed=0,
            processes=1,
        )
        assert entry["privacy_unit"]["unit"] == kind
        assert training.sample_rate == 1 / -(-units.sampled // 16)  # 1 / steps per epoch, over units
        if kind == "group":
            assert "group_privacy" not in entry["privacy_unit"]
        else:
            group = entry["privacy_unit"]["group_privacy"]
            assert group["rows"] == 50 and group["epsilon"] == pytest.approx(50 * epsilon) and group["delta"] == 1.0
        scope = privacy_scope(entry)
        assert "31 people in training, 1 to 50 rows each" in scope
        if kind == "group":
            assert scope.startswith("The guarantee covers each person") and "WARNING" not in scope
        else:  # the report's warning names the factor and the epsilon it leaves the heaviest customer
            assert (
                scope.startswith("WARNING")
                and f"A person with 50 rows is protected only at epsilon {50 * epsilon:.4g}" in scope
            )
            assert "50 x epsilon by group privacy, with no guarantee at all" in scope
