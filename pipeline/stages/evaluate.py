"""Evaluate: utility, model bias and privacy leakage of the trained adapter.

The adapter is loaded as a user would load it (base model +
`PeftModel.from_pretrained`) and scored on the test split. Leakage, with the
base model as a free reference (the adapter switched off):

- membership inference, training rows against test rows: the plain loss
  attack and the calibrated one (how much fine-tuning lowered a record's
  loss). A classifier's base model has no trained head, so its reference is
  the base encoder with a logistic-regression head fitted on the validation
  split (records the adapter never saw);
- the records the model remembers most: training rows whose calibrated score
  is beyond the non-members' 99.9th percentile (`evaluate/exposed_rows.parquet`,
  row ids and scores, no text);
- the one-run epsilon audit of the canaries the train stage planted, each
  included by a coin flip, and for causal LM each secret's exposure;
- for causal LM, the identifying PII and verbatim training text in
  generations from training prompts, for the tuned and the base model, and
  what the fine-tune added;
- train/test contamination from the check stage's duplicate keys.

And what fine-tuning cost and what changed since:

- forgetting: the base against the fine-tuned model on general text outside
  the task (pipeline.evaluation.forgetting), beside the utility gained;
- concept drift, with `check.reference_run`: that run's model on this run's
  test split against its own test score.

Writes `evaluate/metrics.json`, `evaluate/predictions.parquet` (row ids,
labels, predictions, losses; no text) and `evaluate/exposed_rows.parquet`.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch

from pipeline.artifacts import sha256_file, write_json
from pipeline.config import Config
from pipeline.errors import InputError
from pipeline.evaluation import fairness, forgetting, leakage, scoring, utility
from pipeline.layout import (
    ADAPTER,
    CANARIES,
    EXPOSED_ROWS,
    LABELS,
    METRICS,
    PREDICTIONS,
    SPLIT_FILES,
    STAGES,
)
from pipeline.layout import PRIVACY_LEDGER as LEDGER
from pipeline.logs import get_logger
from pipeline.quality import drift
from pipeline.quality.text import REDACTION_TAG, join_text
from pipeline.stage import Stage, StageContext, StageResult
from pipeline.training import privacy
from pipeline.training.canaries import as_records, canary_texts, random_secret
from pipeline.training.models import load_trained, model_source

log = get_logger("pipeline.evaluate")

# entity types that say when, where or what kind, not who: every language model names days, places and companies
# ("last week", "London", "the bank"); a street address found as LOCATION is not counted either (see the docs)
NOT_IDENTIFYING = frozenset({"DATE_TIME", "NRP", "LOCATION", "ORGANIZATION"})
# a redaction tag cut by the prompt's or the generation's token limit: "...on <DATE_" + "TIME> and"
TAG_TAIL = re.compile(r"<[A-Z][A-Z0-9_]*$")
TAG_HEAD = re.compile(r"^[A-Z0-9_]*[a-f0-9]*>")
BASE_REFERENCE = "the base model (the adapter switched off)"
PROBE_REFERENCE = "the base encoder with a logistic-regression head fitted on the validation split"


def run(ctx: StageContext) -> StageResult:
    config = ctx.config
    torch.set_num_threads(config.train.threads or os.cpu_count() or 1)
    splits = {name: pd.read_parquet(ctx.run_dir.path(SPLIT_FILES[name])) for name in ("train", "validation", "test")}
    if splits["test"].empty:
        raise InputError("the test split is empty, so there is nothing to evaluate on; give split.test a larger share")
    labels = _read(ctx, LABELS)["labels"]
    ledger = _read(ctx, LEDGER)
    model, tokenizer = load_trained(config, ctx.run_dir.path(ADAPTER), num_labels=len(labels) or None)
    canaries = pd.read_parquet(ctx.run_dir.path(CANARIES)) if ctx.run_dir.path(CANARIES).is_file() else None
    evaluator = Evaluator(config, model, tokenizer, labels)
    if config.task == "classification":
        metrics, predictions, exposed = evaluator.classification(splits, canaries, ledger)
    else:
        metrics, predictions, exposed = evaluator.causal_lm(splits, canaries, ledger)
    metrics["forgetting"] = evaluator.forgetting(metrics)
    metrics["contamination"] = leakage.contamination(splits["train"], splits["test"])
    del model, evaluator  # the reference run's model is loaded next
    metrics["concept_drift"] = concept_drift(config, splits["test"], labels)
    metrics["privacy_claim"] = {"dp": ledger["dp"], "epsilon": ledger["epsilon_spent"], "delta": ledger["delta"]}
    write_json(ctx.run_dir.path(METRICS), metrics)
    predictions.to_parquet(ctx.run_dir.path(PREDICTIONS), index=False)
    exposed.to_parquet(ctx.run_dir.path(EXPOSED_ROWS), index=False)
    stats = {
        "test_rows": len(splits["test"]),
        "membership_auc": metrics["membership"]["auc"],
        "calibrated_membership_auc": (metrics["calibrated_membership"] or {}).get("auc"),
        "exposed_records": metrics["exposed_records"]["count"],
        "contaminated_test_rows": metrics["contamination"]["contaminated_test_rows"],
    }
    if "utility" in metrics:
        stats["accuracy"] = metrics["utility"].get("accuracy")
    if metrics["forgetting"]:
        stats["forgetting_score"] = metrics["forgetting"]["score"]
    return StageResult(outputs=[METRICS, PREDICTIONS, EXPOSED_ROWS], stats=stats)


def concept_drift(config: Config, test: pd.DataFrame, labels: list[str]) -> dict[str, Any] | None:
    """The reference run's model (`check.reference_run`) on this run's test split, against its own test score: the
    drift a deployed model meets. None without a reference run; a reason when its model cannot be compared."""
    reference_dir = config.reference_run_dir()
    if reference_dir is None:
        return None
    found: dict[str, Any] = {"reference_run": reference_dir.name}
    facts_path, metrics_path = reference_dir / LABELS, reference_dir / METRICS
    if not (reference_dir / ADAPTER / "adapter_config.json").is_file() or not metrics_path.is_file():
        return {**found, "reason": "the reference run has no evaluated adapter (train and evaluate did not finish)"}
    facts = json.loads(facts_path.read_text(encoding="utf-8"))
    if facts.get("task") != config.task or facts.get("base_model") != model_source(config).description:
        return {**found, "reason": "the reference run trained another task or base model"}
    own = json.loads(metrics_path.read_text(encoding="utf-8"))["utility"]
    model, tokenizer = load_trained(config, reference_dir / ADAPTER, num_labels=len(facts["labels"]) or None)
    settings, roles = config.evaluate, config.record_roles()
    if config.task == "classification":
        label = roles["label"][0]
        names = facts["labels"]
        predicted, _ = scoring.classify(
            model,
            tokenizer,
            test,
            roles["text"],
            label,
            {name: i for i, name in enumerate(names)},
            config.train.max_length,
            settings.batch_size,
            "reference model on this test split",
        )
        truth = test[label].astype(str).to_numpy()
        on_this_run = float(np.mean(np.asarray(names, dtype=object)[predicted] == truth)) if len(truth) else None
        result = drift.concept_drift(own.get("accuracy"), on_this_run, "accuracy", config.check.drift)
        result["labels_new_to_the_reference_model"] = sorted(set(labels) - set(names))
    else:
        losses = scoring.response_losses(
            model,
            tokenizer,
            test,
            roles["text"],
            config.train.max_length,
            settings.batch_size,
            "reference model on this test split",
            system_prompt=config.train.system_prompt,
        )
        on_this_run = utility.language_model_utility(losses)["loss"]
        result = drift.concept_drift(own.get("loss"), on_this_run, "loss", config.check.drift)
    if result["flagged"]:
        log.warning(
            "concept drift: the reference run's model scores %s on this test split against %s on its own",
            result["on_this_run"],
            result["own"],
        )
    return {**found, **result}


def reference_fingerprint(config: Config) -> dict[str, Any]:
    """The reference run's adapter and scores, which `concept_drift` reads, and its thresholds."""
    reference_dir = config.reference_run_dir()
    if reference_dir is None:
        return {}
    files = [reference_dir / ADAPTER / "adapter_model.safetensors", reference_dir / METRICS]
    return {
        "reference_run": str(reference_dir),
        "files": [sha256_file(path) if path.is_file() else None for path in files],
        "drift": config.check.drift.model_dump(mode="json"),
    }


def _read(ctx: StageContext, relative: str) -> dict[str, Any]:
    path = ctx.run_dir.path(relative)
    if not path.is_file():
        raise InputError(f"{relative} is missing from {ctx.run_dir.root}; run the train stage first")
    return json.loads(path.read_text(encoding="utf-8"))


def membership(
    members: pd.DataFrame,
    member_losses: np.ndarray,
    member_reference: np.ndarray | None,
    nonmember_losses: np.ndarray,
    nonmember_reference: np.ndarray | None,
    reference: str | None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The loss and calibrated attacks (training rows against test rows), and the most exposed training rows."""
    found: dict[str, Any] = {"membership": leakage.membership_attack(-member_losses, -nonmember_losses)}
    found["membership"]["attack"] = "loss threshold"
    exposed = pd.DataFrame(
        {
            "row_id": pd.Series(dtype="object"),
            "calibrated_score": pd.Series(dtype="float64"),
            "loss": pd.Series(dtype="float64"),
            "reference_loss": pd.Series(dtype="float64"),
        }
    )
    if member_reference is None or nonmember_reference is None:
        found["calibrated_membership"] = None
        found["exposed_records"] = {"count": None, "reason": "no reference model (the calibrated attack did not run)"}
        found["attacks_run"] = ["loss threshold"]
        return found, exposed
    member_scores = leakage.calibrated_scores(member_reference, member_losses)
    nonmember_scores = leakage.calibrated_scores(nonmember_reference, nonmember_losses)
    calibrated = leakage.membership_attack(member_scores, nonmember_scores)
    calibrated["attack"] = "calibrated: reference loss minus tuned loss"
    calibrated["reference"] = reference
    found["calibrated_membership"] = calibrated
    beyond, threshold = leakage.exposed_records(member_scores, nonmember_scores)
    found["exposed_records"] = {
        "count": int(beyond.sum()),
        "scored_training_rows": len(members),
        "nonmembers": int(np.isfinite(nonmember_scores).sum()),
        "quantile": leakage.EXPOSED_QUANTILE,
        "threshold": None if threshold is None else round(threshold, 5),
    }
    found["attacks_run"] = ["loss threshold", f"calibrated (reference: {reference})"]
    order = np.argsort(-np.nan_to_num(member_scores[beyond], nan=-np.inf), kind="stable")
    exposed = pd.DataFrame(
        {
            "row_id": members["row_id"].to_numpy()[beyond][order],
            "calibrated_score": member_scores[beyond][order],
            "loss": member_losses[beyond][order],
            "reference_loss": member_reference[beyond][order],
        }
    )
    return found, exposed


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

    def _nonmembers(self, test: pd.DataFrame) -> np.ndarray:
        """A mask over the test rows: the non-members of the membership attack."""
        return test.index.isin(
            test.sample(n=min(len(test), self.settings.membership_rows), random_state=self.config.seed).index
        )

    # ------------------------------------------------------------------ forgetting

    def forgetting(self, metrics: dict[str, Any]) -> dict[str, Any] | None:
        """The base against the fine-tuned model on the reference passages, beside the utility the fine-tune gained."""
        if self.settings.forgetting_passages == 0:
            return None
        passages, source = forgetting.reference_passages(
            self.config.local_path(self.settings.reference_texts), self.settings.forgetting_passages
        )
        frame = pd.DataFrame({"text": passages})
        if self.config.task == "classification":
            found = forgetting.encoder_forgetting(
                *self._base_and_tuned(scoring.embed, frame), self.settings.forgetting_neighbours
            )
            found["utility_gain"] = {
                "metric": "test accuracy",
                "before": metrics["utility"]["majority_baseline"]["accuracy"],
                "before_is": "the majority-class baseline (the base model has no trained head)",
                "after": metrics["utility"]["accuracy"],
            }
        else:
            found = forgetting.language_model_forgetting(
                *self._base_and_tuned(functools.partial(scoring.response_losses, chat=False), frame),
                self.settings.forgetting_margin,
            )
            found["utility_gain"] = {
                "metric": "test perplexity (lower is better)",
                "before": (metrics["utility"].get("base_model") or {}).get("perplexity"),
                "before_is": "the base model (the adapter switched off)",
                "after": metrics["utility"]["perplexity"],
            }
        found["reference_texts"] = source
        log.info(
            "forgetting: %d of %d reference passages (%s)",
            found["forgotten"],
            found["passages"],
            found["criterion"],
        )
        return found

    def _base_and_tuned(self, score: Callable[..., np.ndarray], frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """`score` (a `scoring` function) of the passages in `frame` by the base model and by the tuned one."""
        given = (self.model, self.tokenizer, frame, ["text"], self.max_length, self.settings.batch_size)
        with self.model.disable_adapter():
            base = score(*given, "forgetting (base model)")
        return base, score(*given, "forgetting (tuned model)")

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

    def _embed_base(self, frame: pd.DataFrame, desc: str) -> np.ndarray:
        with self.model.disable_adapter():
            return scoring.embed(
                self.model, self.tokenizer, frame, self.roles["text"], self.max_length, self.settings.batch_size, desc
            )

    def _probe(self, validation: pd.DataFrame) -> Callable[[pd.DataFrame, str], np.ndarray] | None:
        """The classifier's reference: a logistic-regression head on the base encoder, fitted on the validation
        split; returns each row's reference loss (NaN for a label the probe never saw), or None without the data."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        label = self.roles["label"][0]
        targets = validation[label].astype(str)
        if validation.empty or targets.nunique() < 2:
            log.warning("the validation split has fewer than 2 labels, so the calibrated attack does not run")
            return None
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        probe.fit(self._embed_base(validation, "reference probe"), targets.to_numpy())
        column = {name: i for i, name in enumerate(probe.classes_)}

        def reference_losses(frame: pd.DataFrame, desc: str) -> np.ndarray:
            if frame.empty:
                return np.array([], dtype=float)
            probabilities = probe.predict_proba(self._embed_base(frame, desc))
            truth = frame[label].astype(str).map(column)
            known = truth.notna().to_numpy()
            picked = probabilities[np.arange(len(frame)), truth.fillna(0).astype(int).to_numpy()]
            return np.where(known, -np.log(np.clip(picked, 1e-12, 1.0)), np.nan)

        return reference_losses

    def classification(
        self, splits: dict[str, pd.DataFrame], canaries: pd.DataFrame | None, ledger: dict[str, Any]
    ) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
        train, test = splits["train"], splits["test"]
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
        nonmembers = self._nonmembers(test)
        reference = self._probe(splits["validation"])
        member_reference = reference(members, "reference members") if reference else None
        test_reference = reference(test[nonmembers], "reference test") if reference else None
        found, exposed = membership(
            members,
            member_losses,
            member_reference,
            test_losses[nonmembers],
            test_reference,
            PROBE_REFERENCE if reference else None,
        )
        metrics.update(found)
        if canaries is not None:
            records = as_records(canaries, self.config, [*self.roles["text"], *self.roles["label"]])
            _, canary_losses = self._classify(records, "evaluate canaries")
            canary_reference = reference(records, "reference canaries") if reference else None
            metrics["canaries"] = self._canary_audit(canaries, canary_losses, canary_reference, ledger)
        else:
            metrics["canaries"] = None
        predictions = pd.concat(
            [
                pd.DataFrame(
                    {
                        "row_id": test["row_id"].to_numpy(),
                        "split": "test",
                        "label": truth,
                        "predicted": predicted,
                        "loss": test_losses,
                        "reference_loss": _placed(test_reference, nonmembers),
                    }
                ),
                pd.DataFrame(
                    {
                        "row_id": members["row_id"].to_numpy(),
                        "split": "train",
                        "label": members[label].astype(str).to_numpy(),
                        "predicted": None,
                        "loss": member_losses,
                        "reference_loss": _placed(member_reference, np.ones(len(members), dtype=bool)),
                    }
                ),
            ],
            ignore_index=True,
        )
        return metrics, predictions, exposed

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

    # ------------------------------------------------------------------ canaries

    def _canary_audit(
        self,
        canaries: pd.DataFrame,
        losses: np.ndarray,
        reference_losses: np.ndarray | None,
        ledger: dict[str, Any],
    ) -> dict[str, Any]:
        """Both attacks on the canaries, and the one-run audit, which ranks them by their loss. A reference's loss
        on random words (a canary's secret) is noise to the fine-tuned model's: on the non-DP runs of
        bench/leakage.py the canaries' loss attack beat the calibrated one for both tasks (AUC 0.97 against 0.62
        for the classifier, 0.78 against 0.68 and 0.62 against 0.50 for the causal LM; bench/README.md)."""
        inserted = canaries["inserted"].to_numpy(dtype=bool)
        repeats = self.config.train.canaries.repeats
        epsilon = ledger["epsilon_spent"]
        delta = (
            ledger["delta"]
            if ledger["delta"] is not None
            else privacy.resolve_delta(self.config.train, max(ledger["training_rows"], 1))
        )
        # copies of a canary share a privacy unit under `group`; under `row`, k copies are protected at group privacy
        copies_count = repeats if (ledger.get("privacy_unit") or {}).get("unit") != "group" else 1
        per_canary = (
            privacy.group_privacy(epsilon, delta, copies_count)
            if epsilon is not None
            else {"epsilon": None, "delta": delta}
        )
        attack = leakage.membership_attack(-losses[inserted], -losses[~inserted])
        attack.pop("roc")
        calibrated = None
        if reference_losses is not None:
            calibrated_scores = leakage.calibrated_scores(reference_losses, losses)
            calibrated = leakage.membership_attack(calibrated_scores[inserted], calibrated_scores[~inserted])
            calibrated.pop("roc")
        audit = leakage.one_run_audit(-losses, inserted, per_canary["delta"])
        needed = ", ".join(
            f"{count} would show {target}" if count else f"none can show {target}"
            for target, count in audit.get("canaries_needed", {}).items()
        )
        log.info(
            "one-run audit of %d canaries: epsilon >= %s; with every guess right it could show %s%s",
            len(canaries),
            audit["epsilon_lower_bound"],
            audit["max_certifiable_epsilon"],
            f" (canaries: {needed})" if needed else "",
        )
        return {
            "count": len(canaries),
            "inserted": int(inserted.sum()),
            "held_out": int((~inserted).sum()),
            "copies_each": repeats,
            "attack": attack,
            "calibrated_attack": calibrated,
            "audit_score": "loss",
            "empirical_epsilon": audit,
            "claimed_epsilon": epsilon,
            "claimed_epsilon_per_canary": per_canary["epsilon"],
            "delta": delta,
        }

    # ------------------------------------------------------------------ causal LM

    def _losses(self, frame: pd.DataFrame, desc: str) -> np.ndarray:
        return scoring.response_losses(
            self.model,
            self.tokenizer,
            frame,
            self.roles["text"],
            self.max_length,
            self.settings.batch_size,
            desc,
            system_prompt=self.config.train.system_prompt,
        )

    def _base_losses(self, frame: pd.DataFrame, desc: str) -> np.ndarray:
        with self.model.disable_adapter():
            return self._losses(frame, desc)

    def causal_lm(
        self, splits: dict[str, pd.DataFrame], canaries: pd.DataFrame | None, ledger: dict[str, Any]
    ) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
        train, test = splits["train"], splits["test"]
        metrics: dict[str, Any] = {"task": "causal_lm"}
        test_losses = self._losses(test, "evaluate test")
        metrics["utility"] = utility.language_model_utility(test_losses)
        members = self._members(train)
        member_losses = self._losses(members, "evaluate members")
        member_reference = self._base_losses(members, "base model members")
        nonmembers = self._nonmembers(test)
        test_reference = self._base_losses(test[nonmembers], "base model test")
        metrics["utility"]["base_model"] = utility.language_model_utility(test_reference)
        found, exposed = membership(
            members, member_losses, member_reference, test_losses[nonmembers], test_reference, BASE_REFERENCE
        )
        metrics.update(found)
        metrics["canaries"] = self._causal_canaries(canaries, ledger) if canaries is not None else None
        metrics["regurgitation"] = self._regurgitation(train)
        predictions = pd.concat(
            [
                pd.DataFrame(
                    {
                        "row_id": test["row_id"].to_numpy(),
                        "split": "test",
                        "loss": test_losses,
                        "reference_loss": _placed(test_reference, nonmembers),
                    }
                ),
                pd.DataFrame(
                    {
                        "row_id": members["row_id"].to_numpy(),
                        "split": "train",
                        "loss": member_losses,
                        "reference_loss": member_reference,
                    }
                ),
            ],
            ignore_index=True,
        )
        return metrics, predictions, exposed

    def _causal_canaries(self, canaries: pd.DataFrame, ledger: dict[str, Any]) -> dict[str, Any]:
        records = as_records(canaries, self.config, self.roles["text"])
        losses = self._losses(records, "evaluate canaries")
        reference = self._base_losses(records, "base model canaries")
        summary = self._canary_audit(canaries, losses, reference, ledger)
        summary["exposure"] = self._exposure(canaries, losses)
        return summary

    def _exposure(self, canaries: pd.DataFrame, losses: np.ndarray) -> dict[str, Any]:
        """The Secret Sharer's exposure of the first `evaluate.exposure_canaries` canaries, all candidates scored in
        one pass."""
        chosen = canaries.head(self.settings.exposure_canaries)
        rng = np.random.default_rng([self.config.seed, 0x5EC])
        rows = []
        for index in chosen["index"]:
            candidates = {random_secret(rng) for _ in range(self.settings.exposure_candidates)}
            for secret in sorted(candidates):
                prompt, response = canary_texts(int(index), secret)
                rows.append({"canary_id": f"candidate-{index}-{secret}", "prompt": prompt, "response": response})
        frame = pd.DataFrame(rows)
        candidate_losses = self._losses(as_records(frame, self.config, self.roles["text"]), "exposure candidates")
        owner = np.array([int(row["canary_id"].split("-")[1]) for row in rows])
        exposures = [
            leakage.exposure(float(true_loss), candidate_losses[owner == index])
            for index, true_loss in zip(chosen["index"], losses[: len(chosen)], strict=True)
        ]
        inserted = chosen["inserted"].to_numpy(dtype=bool)
        return {
            "canaries": len(chosen),
            "candidates": self.settings.exposure_candidates,
            "max_possible": round(float(np.log2(self.settings.exposure_candidates + 1)), 5),
            "inserted": [round(float(v), 5) for v in np.asarray(exposures)[inserted]],
            "held_out": [round(float(v), 5) for v in np.asarray(exposures)[~inserted]],
        }

    def _regurgitation(self, train: pd.DataFrame) -> dict[str, Any]:
        """Generations from training prompts, by the tuned and by the base model: identifying PII and verbatim
        training text in each, and what the tuned model said that the base model did not for the same prompt."""
        settings = self.settings
        if settings.regurgitation_prompts == 0:
            return {"prompts": 0}
        from pipeline.pii.engine import PiiDetector

        texts = join_text(train, self.roles["text"])
        sample = train.sample(n=min(len(train), settings.regurgitation_prompts), random_state=self.config.seed).index
        positions = [train.index.get_loc(i) for i in sample]
        prompts = [
            TAG_TAIL.sub(
                "",
                self.tokenizer.decode(
                    self.tokenizer(texts[p], add_special_tokens=False)["input_ids"][: settings.prompt_tokens]
                ),
            )
            for p in positions
        ]
        prompts = [prompt for prompt in prompts if prompt.strip()]  # a record with no text has nothing to continue
        tuned = scoring.generate(self.model, self.tokenizer, prompts, settings.generated_tokens, settings.batch_size)
        with self.model.disable_adapter():
            base = scoring.generate(
                self.model, self.tokenizer, prompts, settings.generated_tokens, settings.batch_size
            )
        detector = PiiDetector(self.config.redact)
        seen = leakage.training_ngrams(texts, settings.verbatim_min_words)
        found = {
            name: generation_findings(generations, detector, seen, settings.verbatim_min_words)
            for name, generations in (("tuned", tuned), ("base", base))
        }
        added = added_by_fine_tune(found["tuned"], found["base"], texts)
        return {
            "prompts": len(prompts),
            "prompt_tokens": settings.prompt_tokens,
            "generated_tokens": settings.generated_tokens,
            "verbatim_min_words": settings.verbatim_min_words,
            "not_identifying_types": sorted(NOT_IDENTIFYING),
            "tuned": found["tuned"],
            "base": found["base"],
            **added,
            # the tuned model's figures under the names earlier reports used
            "pii_entities": found["tuned"]["pii_entities"],
            "pii_total": found["tuned"]["pii_total"],
            "generations_with_verbatim_training_text": found["tuned"]["generations_with_verbatim_training_text"],
        }


def generation_findings(
    generations: list[str], detector: Any, seen: set[tuple[str, ...]], min_words: int
) -> dict[str, Any]:
    """PII entity counts by type (identifying and not), verbatim training text, and per generation the set of
    identifying (type, text) pairs, which stays in memory only, for the comparison with the base model."""
    entities: Counter[str] = Counter()
    identifying_spans: list[set[tuple[str, str]]] = []
    for text, spans in zip(generations, detector.analyze(generations), strict=True):
        tags = [m.span() for m in REDACTION_TAG.finditer(text)]
        tags += [m.span() for pattern in (TAG_HEAD, TAG_TAIL) if (m := pattern.search(text))]
        mine: set[tuple[str, str]] = set()
        outer = [(span.start, span.end) for span in spans]
        for span in spans:
            if any(start <= span.start and span.end <= end for start, end in tags):
                continue
            if any(
                start <= span.start and span.end <= end and end - start > span.end - span.start for start, end in outer
            ):
                continue  # inside a longer finding: the domain of an email address is not a second entity
            entities[span.entity_type] += 1
            if span.entity_type not in NOT_IDENTIFYING:
                mine.add((span.entity_type, text[span.start : span.end].casefold()))
        identifying_spans.append(mine)
    verbatim_each = [bool(leakage.word_ngrams(text, min_words) & seen) for text in generations]
    identifying = {name: n for name, n in entities.items() if name not in NOT_IDENTIFYING}
    return {
        "pii_entities": dict(sorted(entities.items())),
        "pii_total": sum(entities.values()),
        "identifying_entities": dict(sorted(identifying.items())),
        "identifying_total": sum(identifying.values()),
        "generations_with_verbatim_training_text": sum(verbatim_each),
        "identifying_spans": identifying_spans,
        "verbatim_each": verbatim_each,
    }


def added_by_fine_tune(tuned: dict[str, Any], base: dict[str, Any], training_texts: list[str]) -> dict[str, int]:
    """What the fine-tune added to the generations, and drops the per-generation details (texts stay in memory):

    - identifying entities in tuned generations whose text the base model produced for none of the prompts (a name
      any model says, such as a letter's "Thanks, Alex", is not the fine-tune's doing);
    - of those, the ones whose text occurs in the training texts, as a whole word: the regurgitated ones;
    - tuned generations with verbatim training text where the base model's generation for the same prompt has none.
    """
    base_values = set().union(*base.pop("identifying_spans"))
    added = [value for spans in tuned.pop("identifying_spans") for value in spans if value not in base_values]
    corpus = "\n".join(training_texts).casefold()
    in_training = sum(1 for _, text in added if re.search(rf"(?<!\w){re.escape(text)}(?!\w)", corpus))
    verbatim = sum(
        1
        for mine, theirs in zip(tuned.pop("verbatim_each"), base.pop("verbatim_each"), strict=True)
        if mine and not theirs
    )
    return {
        "identifying_added_by_fine_tune": len(added),
        "identifying_added_found_in_training_data": in_training,
        "verbatim_added_by_fine_tune": verbatim,
    }


def _placed(values: np.ndarray | None, mask: np.ndarray) -> np.ndarray:
    """Values computed for the rows under `mask`, spread over all rows (NaN elsewhere)."""
    placed = np.full(len(mask), np.nan)
    if values is not None:
        placed[mask] = values
    return placed


STAGE = Stage(
    files=STAGES["evaluate"],
    run=run,
    processes_rows=False,
    fingerprint_extra=reference_fingerprint,
)
