"""Train: LoRA on the base model, under DP-SGD (Opacus) unless `train.dp: false`.

Reads the splits; writes the adapter in PEFT format with the tokenizer
(`train/adapter/`), the label names, the privacy ledger and the training
curve. Only the LoRA matrices (and, for classification, the head) train.
Guards: the LoRA weights must have moved (some opacus/peft combinations
silently drop LoRA updates), and the epsilon spent must not exceed the target.

Under `torchrun` (DP only) every process trains with Opacus' DPDDP: each
draws its share of every logical batch, rank 0 adds the noise, gradients are
summed across processes, and the accounting is that of one process at the
same `train.batch_size`. Rank 0 alone writes the outputs.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from pipeline import distributed
from pipeline.artifacts import sha256_file, write_json
from pipeline.config import Config
from pipeline.errors import ConfigError, InputError, StageError
from pipeline.layout import ADAPTER, CANARIES, CURVE, LABELS, SPLIT_FILES, STAGES
from pipeline.layout import PRIVACY_LEDGER as LEDGER
from pipeline.logs import get_logger
from pipeline.quality.labels import require_two_classes
from pipeline.stage import Stage, StageContext, StageResult
from pipeline.training import device as devices
from pipeline.training import privacy
from pipeline.training.budget import BudgetStore, Mechanism, Spend, default_store_url
from pipeline.training.canaries import inserted_copies, make_canaries
from pipeline.training.canaries import summary as canary_summary
from pipeline.training.data import Encoded, ResponseLoss, collate, encode_causal, encode_classification
from pipeline.training.models import (
    add_lora,
    continue_lora,
    load_model,
    load_tokenizer,
    model_source,
    prepare_for_device,
)

log = get_logger("pipeline.train")


def run(ctx: StageContext) -> StageResult:
    if distributed.world_size() > 1 and not ctx.config.train.dp:
        raise ConfigError(
            [
                "train.dp: false under torchrun: distributed training (Opacus' DPDDP) is for differentially private training only; "
                "set train.dp: true, or run `python -m pipeline stage train` without torchrun"
            ]
        )
    device = devices.resolve_device(ctx.config.train)
    if device.type == "cuda":
        torch.cuda.set_device(device)  # under torchrun: this process's GPU (LOCAL_RANK)
    with warnings.catch_warnings(), distributed.process_group("nccl" if device.type == "cuda" else "gloo"):
        # Opacus' own notices: its hooks on frozen inputs, the RNG not being cryptographically secure (recorded in the ledger), RDP's alpha range
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        warnings.filterwarnings("ignore", message="Secure RNG turned off")
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        return _train(ctx)


def _train(ctx: StageContext) -> StageResult:
    config = ctx.config
    settings = config.train
    torch.set_num_threads(settings.threads or max(1, (os.cpu_count() or 1) // distributed.world_size()))
    torch.manual_seed(config.seed)
    train_frame = pd.read_parquet(ctx.run_dir.path(SPLIT_FILES["train"]))
    validation_frame = pd.read_parquet(ctx.run_dir.path(SPLIT_FILES["validation"]))
    if train_frame.empty:
        raise InputError("the training split is empty; see split/report.json")
    source = model_source(config)
    tokenizer = load_tokenizer(source)
    real_frame = train_frame
    canaries = None
    if settings.canaries.count:
        canaries = make_canaries(config, tokenizer, _label_names(config, train_frame))
        train_frame = pd.concat(
            [train_frame, inserted_copies(canaries, config, list(train_frame.columns))], ignore_index=True
        )
        log.info(
            "inserted %d of %d canaries (%d copies each) into the training set, each by a seeded coin flip",
            int(canaries["inserted"].sum()),
            settings.canaries.count,
            settings.canaries.repeats,
        )
    label_names, train_data, validation_data = _encode(config, tokenizer, train_frame, validation_frame)
    device = devices.resolve_device(settings)
    precision = devices.resolve_precision(settings, device)
    model = load_model(source, config.task, num_labels=len(label_names) if label_names else None, dtype=precision)
    if label_names:
        model.config.id2label = dict(enumerate(label_names))
        model.config.label2id = {name: i for i, name in enumerate(label_names)}
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    earlier = config.init_adapter_dir()
    model = continue_lora(model, config, earlier, label_names) if earlier else add_lora(model, config)
    model = prepare_for_device(model, device)
    if settings.gradient_checkpointing:
        _enable_gradient_checkpointing(model, settings.dp)
    log.info(
        "training on %s (%s), frozen base in %s",
        device,
        devices.describe(device)["name"],
        devices.precision_name(precision),
    )
    trainable = {
        name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad and "lora_" in name
    }
    roles = config.record_roles()
    units = privacy.privacy_units(train_frame, config.privacy_unit(), roles["group"][0] if roles["group"] else None)
    trainer = Trainer(config, model, train_data, validation_data, units, device)
    with lifetime_budget(ctx, trainer.planned(), _budget_keys(config, real_frame)) as spend:
        curve = trainer.fit()
        _check_lora_moved(trainer.peft_model(), trainable)
        ledger = trainer.ledger()
        ledger["canaries"] = canary_summary(canaries, settings.canaries.repeats)
        if settings.dp and ledger["epsilon_spent"] > settings.target_epsilon + 1e-6:
            raise StageError(
                f"epsilon spent {ledger['epsilon_spent']:.4f} exceeds train.target_epsilon {settings.target_epsilon}; nothing was saved"
            )
        if spend is not None:  # recorded, and committed with the check, as the block ends
            spend.actual = replace(spend.planned, steps=ledger["steps"])
    if spend is not None:
        ledger["lifetime_budget"] = spend.summary()
    ledger["initial_adapter"] = _adapter_identity(earlier) if earlier else None
    if not distributed.is_main_process():
        return StageResult(outputs=[])  # rank 0 writes the outputs
    adapter = ctx.run_dir.path(ADAPTER)
    _save_adapter(trainer.peft_model(), adapter)
    tokenizer.save_pretrained(str(adapter))
    (adapter / "README.md").unlink(missing_ok=True)  # peft's placeholder card; the report stage writes the real one
    write_json(
        ctx.run_dir.path(LABELS), {"task": config.task, "labels": label_names, "base_model": source.description}
    )
    write_json(ctx.run_dir.path(LEDGER), ledger)
    write_json(ctx.run_dir.path(CURVE), curve)
    outputs = sorted(str(p.relative_to(ctx.run_dir.root)) for p in adapter.rglob("*") if p.is_file())
    outputs += [LABELS, LEDGER, CURVE]
    if canaries is not None:
        canaries.to_parquet(ctx.run_dir.path(CANARIES), index=False)
        outputs.append(CANARIES)
    stats = {
        "rows": {"train": train_data.rows, "validation": validation_data.rows},
        "dp": settings.dp,
        "epsilon_spent": ledger["epsilon_spent"],
        "delta": ledger["delta"],
        "steps": ledger["steps"],
        "validation": curve["epochs"][-1]["validation"] if curve["epochs"] else None,
        "device": ledger["device"],
        "precision": ledger["precision"],
    }
    return StageResult(outputs=outputs, stats=stats)


def _enable_gradient_checkpointing(model: Any, dp: bool) -> None:
    """Activations recomputed in the backward pass instead of kept: less memory, about a third more compute."""
    if dp:
        raise ConfigError(
            [
                "train.gradient_checkpointing: not with DP. Opacus' per-example clipping (hooks and ghost alike) reads "
                "each layer's activations from its forward hooks, and a recomputed forward pass records them again; "
                "use train.grad_sample_mode: ghost and a smaller train.physical_batch_size to save memory instead"
            ]
        )
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()  # the frozen embeddings' output must carry gradients into the checkpoints


def _adapter_identity(adapter: Path) -> dict[str, str]:
    """Which earlier adapter this training continued: its folder and the hash of its weights."""
    weights = adapter / "adapter_model.safetensors"
    return {"path": str(adapter), "sha256": sha256_file(weights) if weights.is_file() else ""}


def _budget_keys(config: Config, train: pd.DataFrame) -> list[str]:
    """Who this training spends privacy on, as the budget store knows them: each person's key-hashed group value,
    and `source:<name>` for the rows of a source that have none (or, under row units, for every row)."""
    roles = config.record_roles()
    group = roles["group"][0] if roles["group"] and config.privacy_unit() == "group" else None
    people = set(train[group].dropna().astype(str)) if group else set()
    anonymous = train["source"][train[group].isna()] if group else train["source"]
    return sorted(people | {f"source:{name}" for name in anonymous.astype(str)})


@contextlib.contextmanager
def lifetime_budget(ctx: StageContext, planned: Mechanism | None, keys: list[str]) -> Iterator[Spend | None]:
    """Under DP, the budget store's transaction around training (`BudgetStore.spend`): a run that would take
    anyone past `privacy.lifetime_epsilon` is refused before its first step, and the spend is recorded as the
    block ends. Under torchrun rank 0 alone holds the store and tells the other ranks whether to go on."""
    if planned is None:
        yield None
        return
    if not distributed.is_main_process():
        if distributed.main_process_decides(False):
            raise ConfigError(["privacy.lifetime_epsilon: the budget store refused this run (rank 0 says why)"])
        yield None
        return
    settings = ctx.config.privacy
    store = BudgetStore(settings.budget_store or default_store_url(ctx.run_dir.root))
    try:
        with contextlib.ExitStack() as stack:
            try:
                spend = stack.enter_context(
                    store.spend(
                        ctx.run_dir.root.name,
                        keys,
                        planned,
                        lifetime_epsilon=settings.lifetime_epsilon,
                        lock_timeout_s=settings.lock_timeout_s,
                    )
                )
            except BaseException:
                distributed.main_process_decides(True)
                raise
            distributed.main_process_decides(False)
            log.info(
                "lifetime privacy budget (%s): %d units, %d new; epsilon spent before up to %.3g, after this run up to %.3g",
                store.name,
                spend.units,
                spend.new_units,
                spend.before.max,
                spend.after.max,
            )
            yield spend
    finally:
        store.close()


def _encode(
    config: Config, tokenizer: Any, train: pd.DataFrame, validation: pd.DataFrame
) -> tuple[list[str], Encoded, Encoded]:
    roles = config.record_roles()
    max_length = config.train.max_length
    if config.task == "causal_lm":
        system_prompt = config.train.system_prompt
        return (
            [],
            encode_causal(train, roles["text"], tokenizer, max_length, system_prompt=system_prompt),
            encode_causal(validation, roles["text"], tokenizer, max_length, system_prompt=system_prompt),
        )
    label = roles["label"][0]
    names = _label_names(config, train)
    unseen = sorted(set(validation[label].astype(str)) - set(names))
    if unseen:
        log.warning("validation labels %s do not occur in train; those rows are left out of validation", unseen)
        validation = validation[validation[label].astype(str).isin(names)]
    ids = {name: i for i, name in enumerate(names)}
    return (
        names,
        encode_classification(train, roles["text"], label, ids, tokenizer, max_length),
        encode_classification(validation, roles["text"], label, ids, tokenizer, max_length),
    )


def _label_names(config: Config, train: pd.DataFrame) -> list[str]:
    if config.task == "causal_lm":
        return []
    label = config.record_roles()["label"][0]
    require_two_classes(train[label].tolist(), label, "in the training split")
    return sorted(train[label].astype(str).unique())


def _save_adapter(peft_model: Any, adapter: Path) -> None:
    """PEFT's format, byte for byte the same for the same training in every process."""
    for adapter_config in peft_model.peft_config.values():
        # a set, which peft writes in string-hash order (it changes per process): sorted, adapter_config.json is stable
        if isinstance(adapter_config.target_modules, set):
            adapter_config.target_modules = sorted(adapter_config.target_modules)
    peft_model.save_pretrained(str(adapter), safe_serialization=True)


def _check_lora_moved(model: Any, before: dict[str, torch.Tensor]) -> None:
    after = dict(model.named_parameters())
    moved = [name for name, value in before.items() if not torch.equal(value, after[name].detach())]
    if not before or not moved:
        raise StageError(
            "the LoRA weights did not change during training: the optimizer never updated them (a known failure of some opacus/peft "
            "version pairs). Nothing was saved; check the installed versions of opacus and peft"
        )
    log.info("LoRA weights moved in %d of %d tensors", len(moved), len(before))


class Trainer:
    """One training run on `privacy.prepare`'s `Training`: the same loop with DP (Opacus' wrappers) or without."""

    def __init__(
        self,
        config: Config,
        model: Any,
        train: Encoded,
        validation: Encoded,
        units: privacy.Units,
        device: torch.device | None = None,
    ) -> None:
        self.config = config
        self.device = device or torch.device("cpu")
        self.classification = config.task == "classification"
        self.settings = privacy.resolved_settings(config.train, causal=not self.classification, device=self.device)
        self.train = train
        self.validation = validation
        self.units = units
        self._peft = model  # under DP, training runs on Opacus' wrapper around it
        self.delta = privacy.resolve_delta(self.settings, units.sampled, units.kind)
        self.steps = 0
        self.epochs_run = 0
        weights = train.dataset.tensors[3]
        self.weights_ignored = self.settings.dp and not torch.allclose(weights, torch.ones_like(weights))
        if self.weights_ignored:
            log.warning(
                "sample_weight is ignored under DP (per-example clipping bounds every row's influence); use split.mitigation.method: resample for DP runs"
            )
        generator = torch.Generator().manual_seed(distributed.rank_seed(config.seed))
        self.training = privacy.prepare(
            self.settings,
            model=model,
            optimizer=torch.optim.AdamW(
                [p for p in model.parameters() if p.requires_grad], lr=self.settings.effective_learning_rate
            ),
            criterion=torch.nn.CrossEntropyLoss() if self.classification else ResponseLoss(),
            dataset=train.dataset,
            units=units,
            generator=generator,
            delta=self.delta,
            device=self.device,
        )
        if isinstance(self.training, privacy.PrivateTraining) and config.train.physical_batch_size == "auto":
            self.training.physical_batch_size = self._largest_fitting_batch()

    @property
    def model(self) -> Any:
        """What training calls: Opacus' wrapper under DP, else the PEFT model."""
        return self.training.model

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self.training.optimizer

    def peft_model(self) -> Any:
        return self._peft

    def fit(self) -> dict[str, Any]:
        epochs: list[dict[str, Any]] = []
        best: tuple[float, int, dict[str, torch.Tensor]] | None = None  # score, epoch, trainable weights
        patience = self.settings.early_stopping_patience
        for epoch in range(1, self.settings.epochs + 1):
            train_loss = self._epoch(epoch)
            score = self.evaluate()
            self.epochs_run = epoch
            entry = {"epoch": epoch, "steps": self.steps, "train_loss": round(train_loss, 5), "validation": score}
            epsilon = self.training.epsilon(self.delta)
            if epsilon is not None:  # DP: the budget spent so far
                entry["epsilon"] = round(epsilon, 5)
            epochs.append(entry)
            log.info("epoch %d: train loss %.4f, validation %s", epoch, train_loss, score)
            if patience is None:
                continue
            key = score["accuracy"] if self.classification else -score["loss"]
            if best is None or key > best[0]:
                best = (
                    key,
                    epoch,
                    {n: p.detach().clone() for n, p in self.peft_model().named_parameters() if p.requires_grad},
                )
            if distributed.main_process_decides(epoch - best[1] >= patience):  # every rank calls it: all stop together
                log.info("early stopping after epoch %d: no better validation score since epoch %d", epoch, best[1])
                break
        if best is not None:
            parameters = dict(self.peft_model().named_parameters())
            with torch.no_grad():
                for name, value in best[2].items():
                    parameters[name].copy_(value)
        return {
            "task": self.config.task,
            "metric": "accuracy and macro-F1" if self.classification else "response-token loss and perplexity",
            "epochs": epochs,
        }

    def _epoch(self, epoch: int) -> float:
        self.model.train()
        total, count = 0.0, 0
        with self._batches() as batches:
            progress = None if distributed.is_main_process() else True
            for input_ids, attention, target, weight in tqdm(
                batches, desc=f"train epoch {epoch}", unit=" batches", disable=progress, leave=False
            ):
                self.optimizer.zero_grad()
                if len(target) == 0:  # Poisson sampling can draw an empty batch, which the model cannot run
                    self._empty_step()
                    continue
                input_ids, attention, target, weight = devices.moved(
                    (input_ids, attention, target, weight), self.device
                )
                logits = self.model(input_ids=input_ids, attention_mask=attention).logits
                loss = self._loss(logits, target, weight)
                loss.backward()
                self.optimizer.step()
                total += float(loss.detach()) * len(target)
                count += len(target)
        self.steps = self.training.steps()  # under DP, logical steps, as the accountant counts them
        total_loss, rows = distributed.summed([total, count])  # under torchrun, over every rank's share of the batches
        return total_loss / max(rows, 1)

    def _empty_step(self) -> None:
        """DP-SGD's step on an empty batch: zero gradients plus noise. It counts as a step, and under torchrun
        every rank must take it (the gradient all-reduce), whatever its share of the logical batch."""
        for parameter in self.optimizer.params:
            parameter.grad_sample = parameter.new_zeros((0, *parameter.shape))  # what "hooks" clips
            parameter.grad = torch.zeros_like(parameter)  # what "ghost" accumulates
        self.optimizer.step()

    def _batches(self) -> contextlib.AbstractContextManager[Iterable[Any]]:
        return self.training.batches()

    def _loss(self, logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return self.training.criterion(logits, target, weight)  # weights ignored under DP (see the ledger)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        from sklearn.metrics import accuracy_score, f1_score

        self.model.eval()
        model = self.peft_model()
        predictions, truths, losses = [], [], []
        for batch in DataLoader(self.validation.dataset, batch_size=64, collate_fn=collate):
            input_ids, attention, target, _ = devices.moved(batch, self.device)
            logits = model(input_ids=input_ids, attention_mask=attention).logits
            if self.classification:
                predictions += logits.argmax(-1).tolist()
                truths += target.tolist()
            else:
                losses += ResponseLoss(reduction="none")(logits, target).tolist()
        if self.classification:
            if not truths:
                return {"accuracy": float("nan"), "macro_f1": float("nan")}
            return {
                "accuracy": round(accuracy_score(truths, predictions), 5),
                "macro_f1": round(f1_score(truths, predictions, average="macro"), 5),
            }
        loss = sum(losses) / max(len(losses), 1)
        return {"loss": round(loss, 5), "perplexity": round(math.exp(min(loss, 50)), 3)}

    def planned(self) -> Mechanism | None:
        """What this training will spend on each unit under DP, for the lifetime budget; None without DP."""
        if self.training.noise is None:
            return None
        return Mechanism(
            accountant=self.settings.accountant,
            noise_multiplier=self.training.noise,
            sample_rate=self.training.sample_rate,
            steps=self.settings.epochs * len(self.training.loader),
            delta=self.delta,
        )

    def ledger(self) -> dict[str, Any]:
        epsilon = self.training.epsilon(self.delta)
        return privacy.ledger(
            self.settings,
            units=self.units,
            rows=self.train.rows,
            delta=self.delta,
            noise=self.training.noise,
            sample_rate=self.training.sample_rate,
            steps=self.steps,
            epochs_run=self.epochs_run,
            epsilon=round(epsilon, 5) if epsilon is not None else None,
            accountant_state=self.training.accountant_state(),
            weights_ignored=self.weights_ignored,
            early_stopping=self.settings.early_stopping_patience is not None,
            seed=self.config.seed,
            processes=distributed.world_size(),
        ) | {
            "device": devices.describe(self.device),
            "precision": devices.precision_name(next(self.peft_model().base_model.parameters()).dtype),
            "physical_batch_size": self.training.physical_batch_size
            if isinstance(self.training, privacy.PrivateTraining)
            else self.settings.batch_size,
        }

    def _largest_fitting_batch(self) -> int:
        """`physical_batch_size: auto`: on a GPU, the largest size from `train.batch_size` down (halving) for which a
        forward and backward pass over the run's longest examples fits; on CPU, 32. No step is taken."""
        if self.device.type != "cuda":
            return min(devices.CPU_PHYSICAL_BATCH, self.settings.batch_size)
        dataset = self.train.dataset
        lengths = dataset.tensors[1].sum(dim=1)
        longest = lengths.argsort(descending=True).tolist()

        def try_size(size: int) -> None:
            rows = [dataset[longest[i % len(longest)]] for i in range(size)]
            input_ids, attention, target, weight = devices.moved(collate(rows), self.device)
            self.model.train()
            try:
                logits = self.model(input_ids=input_ids, attention_mask=attention).logits
                self._loss(logits, target, weight).backward()
            finally:
                self.optimizer.zero_grad(set_to_none=True)

        size = devices.largest_fitting_batch(try_size, self.settings.batch_size)
        log.info("physical batch size: %d (the largest that fits in GPU memory)", size)
        return size


STAGE = Stage(
    files=STAGES["train"],
    run=run,
    processes_rows=False,
)
