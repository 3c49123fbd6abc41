"""Pass/fail of a run against the policy thresholds in `report.policy`.

The checks are a table, `POLICY_CHECKS`: each names the figure of the run it
reads, the threshold it compares it with and how. A check whose figure does
not exist for this run (no causal LM, no DP) is "not_applicable"; one whose
threshold is null is left out. Any "fail" makes the verdict FAIL.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from pipeline.config import PolicyConfig


class Run(NamedTuple):
    """What the checks read: the privacy ledger (train), the metrics (evaluate) and the data drift (curate, only
    with `check.reference_run`)."""

    ledger: dict[str, Any]
    metrics: dict[str, Any]
    drift: dict[str, Any] | None = None


Figure = float | bool | None
Comparison = Literal["max", "min", "require"]
COMPARE: dict[Comparison, Callable[[Any, Any], bool]] = {
    "max": operator.le,  # the threshold is the most the figure may be
    "min": operator.ge,  # the least it may be
    "require": lambda figure, _: bool(figure),  # the threshold is `true`: the figure must hold
}


def _always(_: Run) -> bool:
    return True


@dataclass(frozen=True)
class PolicyCheck:
    """One row of the summary: `figure` of the run against a threshold, compared by `comparison`.

    `threshold` is the `PolicyConfig` field that sets it (null, or false for a "require", leaves the check out),
    or a function of the run for a check against a claim the run makes itself (the claimed epsilon); such a
    check is listed when `listed` says the run makes the claim. A run for which `applies` is false has no such
    figure: the check is "not_applicable". An applicable check whose figure or threshold is missing gets `missing`.
    """

    name: str
    description: str
    figure: Callable[[Run], Figure]
    comparison: Comparison
    threshold: str | Callable[[Run], Figure]
    applies: Callable[[Run], bool] = _always
    listed: Callable[[Run], bool] = _always
    missing: Literal["not_applicable", "fail"] = "not_applicable"

    def evaluate(self, policy: PolicyConfig, run: Run) -> dict[str, Any] | None:
        """The check's row for this run, or None when it is left out."""
        if not self.listed(run):
            return None
        if isinstance(self.threshold, str):
            threshold = getattr(policy, self.threshold)
            if threshold is None or threshold is False:
                return None
        else:
            threshold = self.threshold(run)
        value = self.figure(run)
        if not self.applies(run):
            passed = None
        elif value is None or threshold is None:
            passed = None if self.missing == "not_applicable" else False
        else:
            passed = COMPARE[self.comparison](value, threshold)
        return check(self.name, self.description, threshold, value, passed)


def _section(run: Run, name: str) -> dict[str, Any]:
    return run.metrics.get(name) or {}


def _worst(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return max(present) if present else None


def _worst_bias(key: str) -> Callable[[Run], float | None]:
    """The largest `key` over the protected attributes (each entry holds its largest over classes)."""
    return lambda run: _worst(
        (entry.get(key) or {}).get("value") for entry in _section(run, "model_bias").values() if entry.get(key)
    )


def _dp(run: Run) -> bool:
    return bool(run.ledger.get("dp"))


def _canaries(run: Run) -> dict[str, Any]:
    return _section(run, "canaries")


def _membership_auc(run: Run) -> float | None:
    """The highest AUC among the membership attacks that ran (loss threshold, calibrated)."""
    return _worst(_section(run, name).get("auc") for name in ("membership", "calibrated_membership"))


def _pii_in_generations(run: Run) -> int | None:
    """Identifying PII the fine-tune added to generations that occurs in the training data (regurgitated); an older
    run without that figure: what the fine-tune added, or, before the base-model comparison, all PII."""
    regurgitation = _section(run, "regurgitation")
    for key in ("identifying_added_found_in_training_data", "identifying_added_by_fine_tune"):
        if key in regurgitation:
            return regurgitation[key]
    return regurgitation.get("pii_total")


def drift_flags(drift: dict[str, Any] | None, concept: dict[str, Any] | None) -> list[str]:
    """The drifted measures against the reference run: the data's (curate) and its model's (evaluate)."""
    flagged = list((drift or {}).get("flagged", []))
    if (concept or {}).get("flagged"):
        flagged.append(f"concept_drift:{concept['metric']}")
    return flagged


def _compared(run: Run) -> bool:
    return run.drift is not None


POLICY_CHECKS: tuple[PolicyCheck, ...] = (
    PolicyCheck(
        "dp_required",
        "the model was trained with differential privacy",
        figure=_dp,
        comparison="require",
        threshold="require_dp",
    ),
    PolicyCheck(
        "max_epsilon",
        "privacy budget spent (epsilon, from the accountant)",
        figure=lambda run: run.ledger.get("epsilon_spent"),
        comparison="max",
        threshold="max_epsilon",
        applies=_dp,
        missing="fail",  # a DP run whose accountant reports no epsilon
    ),
    PolicyCheck(
        "min_accuracy",
        "test accuracy",
        figure=lambda run: _section(run, "utility").get("accuracy"),
        comparison="min",
        threshold="min_accuracy",
    ),
    PolicyCheck(
        "max_membership_auc",
        "highest membership-inference ROC AUC among the attacks that ran (loss threshold, and calibrated against "
        "a reference model), train vs test rows",
        figure=_membership_auc,
        comparison="max",
        threshold="max_membership_auc",
    ),
    PolicyCheck(
        "max_accuracy_gap",
        "largest test-accuracy gap between the judged groups of a protected attribute",
        figure=lambda run: _worst(entry.get("accuracy_gap") for entry in _section(run, "model_bias").values()),
        comparison="max",
        threshold="max_accuracy_gap",
    ),
    PolicyCheck(
        "max_demographic_parity_difference",
        "largest demographic parity difference over protected attributes and classes",
        figure=_worst_bias("demographic_parity_difference"),
        comparison="max",
        threshold="max_demographic_parity_difference",
    ),
    PolicyCheck(
        "max_equalized_odds_difference",
        "largest equalized odds difference over protected attributes and classes",
        figure=_worst_bias("equalized_odds_difference"),
        comparison="max",
        threshold="max_equalized_odds_difference",
    ),
    PolicyCheck(
        "max_counterfactual_flip_rate",
        "share of predictions that change when gendered terms are swapped",
        figure=lambda run: _section(run, "counterfactual").get("flip_rate"),
        comparison="max",
        threshold="max_counterfactual_flip_rate",
    ),
    PolicyCheck(
        "max_pii_in_generations",
        "identifying PII entities in generations from training prompts that the base model never generated and "
        "that occur in the training data (regurgitated; dates, places, organisations not counted)",
        figure=_pii_in_generations,
        comparison="max",
        threshold="max_pii_in_generations",
    ),
    PolicyCheck(
        "max_contaminated_test_rows",
        "test rows with an exact or near duplicate in train",
        figure=lambda run: _section(run, "contamination").get("contaminated_test_rows"),
        comparison="max",
        threshold="max_contaminated_test_rows",
    ),
    PolicyCheck(
        "max_forgetting",
        "share of the general-English reference passages the fine-tune made the model forget (a causal LM: loss "
        "rose by more than the margin; a classifier: lost most of its nearest neighbours)",
        figure=lambda run: _section(run, "forgetting").get("score"),
        comparison="max",
        threshold="max_forgetting",
        applies=lambda run: bool(_section(run, "forgetting")),
    ),
    PolicyCheck(
        "max_drift_flags",
        "drifted measures of this run's data and of the reference run's model, against check.reference_run",
        figure=lambda run: len(drift_flags(run.drift, _section(run, "concept_drift"))),
        comparison="max",
        threshold="max_drift_flags",
        applies=_compared,
    ),
    PolicyCheck(
        "empirical_epsilon_within_claim",
        "the one-run audit's epsilon lower bound (from the canaries) stays at or below the claimed epsilon "
        "per canary (times the copies of each canary when rows are the privacy unit)",
        figure=lambda run: (_canaries(run).get("empirical_epsilon") or {}).get("epsilon_lower_bound"),
        comparison="max",
        # k copies of a canary: k times epsilon
        threshold=lambda run: _canaries(run).get("claimed_epsilon_per_canary", run.ledger.get("epsilon_spent")),
        listed=lambda run: _dp(run) and bool(_canaries(run)),
    ),
)


def check(name: str, description: str, threshold: Any, value: Any, passed: bool | None) -> dict[str, Any]:
    status = "not_applicable" if passed is None else "pass" if passed else "fail"
    return {"name": name, "description": description, "threshold": threshold, "value": value, "status": status}


def evaluate_policy(
    policy: PolicyConfig, ledger: dict[str, Any], metrics: dict[str, Any], drift: dict[str, Any] | None = None
) -> dict[str, Any]:
    run = Run(ledger, metrics, drift)
    checks = [row for spec in POLICY_CHECKS if (row := spec.evaluate(policy, run)) is not None]
    verdict = "FAIL" if any(c["status"] == "fail" for c in checks) else "PASS"
    return {"verdict": verdict, "checks": checks}
