"""Evaluate: utility, model bias and privacy leakage of the trained adapter.

The adapter is loaded as a user would load it (base model +
`PeftModel.from_pretrained`) and scored on the test split. Leakage: a
loss-threshold membership attack (training rows against test rows), the
canaries the train stage planted (attack success, empirical epsilon lower
bound, and for causal LM the exposure of each secret), for causal LM the PII
and verbatim training text in generations, and train/test contamination from
the check stage's duplicate keys. Writes `evaluate/metrics.json` and
`evaluate/predictions.parquet` (row ids, labels, predictions, losses; no text).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import torch

from pipeline.artifacts import write_json
from pipeline.config import Config
from pipeline.errors import InputError
from pipeline.evaluation import fairness, leakage, scoring, utility
from pipeline.layout import ADAPTER, CANARIES, LABELS, METRICS, PREDICTIONS, SPLIT_FILES, STAGES
from pipeline.layout import PRIVACY_LEDGER as LEDGER
from pipeline.logs import get_logger
from pipeline.quality.text import REDACTION_TAG, join_text
from pipeline.stage import Stage, StageContext, StageResult
from pipeline.training import privacy
from pipeline.training.canaries import as_records, canary_texts, random_secret
from pipeline.training.models import load_trained

log = get_logger("pipeline.evaluate")


def run(ctx: StageContext) -> StageResult:
    config = ctx.config
    torch.set_num_threads(config.train.threads or os.cpu_count() or 1)
    train = pd.read_parquet(ctx.run_dir.path(SPLIT_FILES["train"]))
    test = pd.read_parquet(ctx.run_dir.path(SPLIT_FILES["test"]))
    if test.empty:
        raise InputError("the test split is empty, so there is nothing to evaluate on; give split.test a larger share")
    labels = _read(ctx, LABELS)["labels"]
    ledger = _read(ctx, LEDGER)
    model, tokenizer = load_trained(config, ctx.run_dir.path(ADAPTER), num_labels=len(labels) or None)
    canaries = pd.read_parquet(ctx.run_dir.path(CANARIES)) if ctx.run_dir.path(CANARIES).is_file() else None
    evaluator = Evaluator(config, model, tokenizer, labels)
    if config.task == "classification":
        metrics, predictions = evaluator.classification(train, test, canaries, ledger)
    else:
        metrics, predictions = evaluator.causal_lm(train, test, canaries, ledger)
    metrics["contamination"] = leakage.contamination(train, test)
    metrics["privacy_claim"] = {"dp": ledger["dp"], "epsilon": ledger["epsilon_spent"], "delta": ledger["delta"]}
    write_json(ctx.run_dir.path(METRICS), metrics)
    predictions.to_parquet(ctx.run_dir.path(PREDICTIONS), index=False)
    stats = {
        "test_rows": len(test),
        "membership_auc": metrics["membership"]["auc"],
        "contaminated_test_rows": metrics["contamination"]["contaminated_test_rows"],
    }
    if "utility" in metrics:
        stats["accuracy"] = metrics["utility"].get("accuracy")
    return StageResult(outputs=[METRICS, PREDICTIONS], stats=stats)


def _read(ctx: StageContext, relative: str) -> dict[str, Any]:
    path = ctx.run_dir.path(relative)
    if not path.is_file():
        raise InputError(f"{relative} is missing from {ctx.run_dir.root}; run the train stage first")
    return json.loads(path.read_text(encoding="utf-8"))


class Evaluator:
    def __init__(self, config: Config, model: Any, tokenizer: Any, labels: list[str]) -> None:
        self.config = config
        self.settings = config.evaluate
        self.model = model
        self.tokenizer = tokenizer
        self.labels = labels
        self.roles = config.record_roles()
        self.max_length = config.train.max_length

    def _members(self, train: pd.DataFrame) -> pd.DataFrame:
        return train.sample(n=min(len(train), self.settings.membership_rows), random_state=self.config.seed)

    def _nonmembers(self, test: pd.DataFrame) -> pd.DataFrame:
        return test.sample(n=min(len(test), self.settings.membership_rows), random_state=self.config.seed)

    # ------------------------------------------------------------------ classification

    def _classify(self, frame: pd.DataFrame, desc: str) -> tuple[np.ndarray, np.ndarray]:
        ids = {name: i for i, name in enumerate(self.labels)}
        predicted, losses = scoring.classify(
            self.model,
            self.tokenizer,
            frame,
            self.roles["text"],
            self.roles["label"][0],
            ids,
            self.max_length,
            self.settings.batch_size,
            desc,
        )
        return np.asarray(self.labels, dtype=object)[predicted] if len(predicted) else np.array(
            [], dtype=object
        ), losses

    def classification(
        self, train: pd.DataFrame, test: pd.DataFrame, canaries: pd.DataFrame | None, ledger: dict[str, Any]
    ) -> tuple[dict[str, Any], pd.DataFrame]:
        label = self.roles["label"][0]
        truth = test[label].astype(str).to_numpy(dtype=object)
        predicted, test_losses = self._classify(test, "evaluate test")
        known = np.isin(truth, self.labels)
        if not known.all():
            log.warning(
                "%d test row(s) carry labels the model never saw in training; they count as errors",
                int((~known).sum()),
            )
        metrics: dict[str, Any] = {"task": "classification"}
        metrics["utility"] = utility.classification_utility(list(truth), list(predicted), self.labels)
        metrics["utility"]["majority_baseline"] = utility.majority_baseline(
            list(train[label].astype(str)), list(truth)
        )
        metrics["model_bias"] = fairness.model_bias(
            test, truth, predicted, self.roles["protected"], self.labels, min_group_rows=self.settings.min_group_rows
        )
        metrics["counterfactual"] = self._counterfactual(test, predicted)
        members = self._members(train)
        _, member_losses = self._classify(members, "evaluate members")
        nonmembers = test.index.isin(self._nonmembers(test).index)
        metrics["membership"] = leakage.membership_attack(member_losses, test_losses[nonmembers])
        metrics["canaries"] = self._canary_attack(canaries, ledger) if canaries is not None else None
        predictions = pd.concat(
            [
                pd.DataFrame(
                    {
                        "row_id": test["row_id"].to_numpy(),
                        "split": "test",
                        "label": truth,
                        "predicted": predicted,
                        "loss": test_losses,
                    }
                ),
                pd.DataFrame(
                    {
                        "row_id": members["row_id"].to_numpy(),
                        "split": "train",
                        "label": members[label].astype(str).to_numpy(),
                        "predicted": None,
                        "loss": member_losses,
                    }
                ),
            ],
            ignore_index=True,
        )
        return metrics, predictions

    def _counterfactual(self, test: pd.DataFrame, predicted: np.ndarray) -> dict[str, Any] | None:
        if not self.settings.counterfactual:
            return None
        from pipeline.quality.counterfactual import Swapper

        texts = join_text(test, self.roles["text"])
        swapper = Swapper(self.config.redact.spacy_model, self.config.split.mitigation.counterfactual_lexicon)
        swapped = swapper.swap_all(texts)
        changed = [i for i, text in enumerate(swapped) if text is not None and text != texts[i]]
        if not changed:
            return fairness.counterfactual_flips(np.array([]), np.array([]))
        variant = test.iloc[changed].copy()
        first, rest = self.roles["text"][0], self.roles["text"][1:]
        variant[first] = [swapped[i] for i in changed]  # the swapped joined text replaces the text columns
        for column in rest:
            variant[column] = None
        swapped_predictions, _ = self._classify(variant, "evaluate counterfactual")
        return fairness.counterfactual_flips(predicted[changed], swapped_predictions)

    def _canary_attack(self, canaries: pd.DataFrame, ledger: dict[str, Any]) -> dict[str, Any]:
        records = as_records(canaries, self.config, [*self.roles["text"], *self.roles["label"]])
        _, losses = self._classify(records, "evaluate canaries")
        return self._canary_summary(canaries, losses, ledger)

    def _canary_summary(self, canaries: pd.DataFrame, losses: np.ndarray, ledger: dict[str, Any]) -> dict[str, Any]:
        inserted = canaries["inserted"].to_numpy(dtype=bool)
        delta = (
            ledger["delta"]
            if ledger["delta"] is not None
            else privacy.resolve_delta(self.config.train, max(ledger["training_rows"], 1))
        )
        attack = leakage.membership_attack(losses[inserted], losses[~inserted])
        attack.pop("roc")
        return {
            "inserted": int(inserted.sum()),
            "held_out": int((~inserted).sum()),
            "copies_each": self.config.train.canaries.repeats,
            "attack": attack,
            "empirical_epsilon": leakage.empirical_epsilon(
                losses[inserted], losses[~inserted], delta, seed=self.config.seed
            ),
            "claimed_epsilon": ledger["epsilon_spent"],
            # group privacy: a record present k times is protected at k times epsilon
            "claimed_epsilon_per_canary": ledger["epsilon_spent"] * self.config.train.canaries.repeats
            if ledger["epsilon_spent"] is not None
            else None,
            "delta": delta,
        }

    # ------------------------------------------------------------------ causal LM

    def _losses(self, frame: pd.DataFrame, desc: str) -> np.ndarray:
        return scoring.response_losses(
            self.model, self.tokenizer, frame, self.roles["text"], self.max_length, self.settings.batch_size, desc
        )

    def causal_lm(
        self, train: pd.DataFrame, test: pd.DataFrame, canaries: pd.DataFrame | None, ledger: dict[str, Any]
    ) -> tuple[dict[str, Any], pd.DataFrame]:
        metrics: dict[str, Any] = {"task": "causal_lm"}
        test_losses = self._losses(test, "evaluate test")
        metrics["utility"] = utility.language_model_utility(test_losses)
        members = self._members(train)
        member_losses = self._losses(members, "evaluate members")
        nonmembers = test.index.isin(self._nonmembers(test).index)
        metrics["membership"] = leakage.membership_attack(member_losses, test_losses[nonmembers])
        metrics["canaries"] = self._canary_exposure(canaries, ledger) if canaries is not None else None
        metrics["regurgitation"] = self._regurgitation(train)
        predictions = pd.concat(
            [
                pd.DataFrame({"row_id": test["row_id"].to_numpy(), "split": "test", "loss": test_losses}),
                pd.DataFrame({"row_id": members["row_id"].to_numpy(), "split": "train", "loss": member_losses}),
            ],
            ignore_index=True,
        )
        return metrics, predictions

    def _canary_exposure(self, canaries: pd.DataFrame, ledger: dict[str, Any]) -> dict[str, Any]:
        columns = self.roles["text"]
        losses = self._losses(as_records(canaries, self.config, columns), "evaluate canaries")
        summary = self._canary_summary(canaries, losses, ledger)
        rng = np.random.default_rng([self.config.seed, 0x5EC])
        exposures = []
        for index, true_loss in zip(canaries["index"], losses, strict=True):
            candidates = {random_secret(rng) for _ in range(self.settings.exposure_candidates)}
            frame = pd.DataFrame(
                [
                    {"canary_id": f"candidate-{index}-{secret}", "prompt": prompt, "response": response}
                    for secret in sorted(candidates)
                    for prompt, response in [canary_texts(int(index), secret)]
                ]
            )
            candidate_losses = self._losses(as_records(frame, self.config, columns), f"exposure canary {index}")
            exposures.append(leakage.exposure(float(true_loss), candidate_losses))
        inserted = canaries["inserted"].to_numpy(dtype=bool)
        summary["exposure"] = {
            "candidates": self.settings.exposure_candidates,
            "max_possible": round(float(np.log2(self.settings.exposure_candidates + 1)), 5),
            "inserted": [round(float(v), 5) for v in np.asarray(exposures)[inserted]],
            "held_out": [round(float(v), 5) for v in np.asarray(exposures)[~inserted]],
        }
        return summary

    def _regurgitation(self, train: pd.DataFrame) -> dict[str, Any]:
        settings = self.settings
        if settings.regurgitation_prompts == 0:
            return {"prompts": 0}
        from pipeline.pii.engine import PiiDetector

        texts = join_text(train, self.roles["text"])
        sample = train.sample(n=min(len(train), settings.regurgitation_prompts), random_state=self.config.seed).index
        positions = [train.index.get_loc(i) for i in sample]
        prompts = [
            self.tokenizer.decode(
                self.tokenizer(texts[p], add_special_tokens=False)["input_ids"][: settings.prompt_tokens]
            )
            for p in positions
        ]
        prompts = [prompt for prompt in prompts if prompt.strip()]  # a record with no text has nothing to continue
        generations = scoring.generate(self.model, self.tokenizer, prompts, settings.generated_tokens)
        found = PiiDetector(self.config.redact).analyze(generations)
        entities: Counter[str] = Counter()
        for text, spans in zip(generations, found, strict=True):
            tags = [m.span() for m in REDACTION_TAG.finditer(text)]
            for span in spans:
                if not any(start <= span.start and span.end <= end for start, end in tags):
                    entities[span.entity_type] += 1
        seen = leakage.training_ngrams(texts, settings.verbatim_min_words)
        verbatim = sum(1 for text in generations if leakage.word_ngrams(text, settings.verbatim_min_words) & seen)
        return {
            "prompts": len(prompts),
            "prompt_tokens": settings.prompt_tokens,
            "generated_tokens": settings.generated_tokens,
            "pii_entities": dict(sorted(entities.items())),
            "pii_total": sum(entities.values()),
            "verbatim_min_words": settings.verbatim_min_words,
            "generations_with_verbatim_training_text": verbatim,
        }


STAGE = Stage(
    files=STAGES["evaluate"],
    run=run,
    processes_rows=False,
)
