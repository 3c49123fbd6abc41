"""The DP wrapper on a tiny classifier: the noise multiplier computed once is the one Opacus adds and the ledger records,
for both clipping modes; plain training has the same shape."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from opacus import PrivacyEngine
from opacus.accountants.utils import get_noise_multiplier
from torch.utils.data import DataLoader, TensorDataset

from pipeline.config import TrainConfig
from pipeline.errors import ConfigError
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


def _prepare(settings: TrainConfig) -> tuple[privacy.Training, float]:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = Tiny()
    data = TensorDataset(
        torch.randint(0, 20, (ROWS, 5)),
        torch.ones(ROWS, 5),
        torch.randint(0, CLASSES, (ROWS,)),
        torch.linspace(0.5, 1.5, ROWS),
    )
    delta = privacy.resolve_delta(settings, ROWS)
    training = privacy.prepare(
        settings,
        model=model,
        optimizer=torch.optim.AdamW(model.parameters(), lr=0.01),
        criterion=torch.nn.CrossEntropyLoss(),
        loader=DataLoader(data, batch_size=settings.batch_size, shuffle=True, generator=generator),
        generator=generator,
        delta=delta,
    )
    return training, delta


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
