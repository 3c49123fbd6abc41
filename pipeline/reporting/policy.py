"""Pass/fail of a run against the policy thresholds in `report.policy`.

A check whose figure does not exist for this run (no causal LM, no DP) is
"not_applicable"; one whose threshold is null is left out. Any "fail" makes
the verdict FAIL.
"""

from __future__ import annotations

from typing import Any

from pipeline.config import PolicyConfig


def check(name: str, description: str, threshold: Any, value: Any, passed: bool | None) -> dict[str, Any]:
    status = "not_applicable" if passed is None else "pass" if passed else "fail"
    return {"name": name, "description": description, "threshold": threshold, "value": value, "status": status}


def evaluate_policy(policy: PolicyConfig, ledger: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    checks = []
    epsilon = ledger.get("epsilon_spent")
    if policy.require_dp:
        checks.append(
            check(
                "dp_required",
                "the model was trained with differential privacy",
                True,
                bool(ledger.get("dp")),
                bool(ledger.get("dp")),
            )
        )
    if policy.max_epsilon is not None:
        passed = None if not ledger.get("dp") else epsilon is not None and epsilon <= policy.max_epsilon
        checks.append(
            check(
                "max_epsilon",
                "privacy budget spent (epsilon, from the accountant)",
                policy.max_epsilon,
                epsilon,
                passed,
            )
        )
    accuracy = metrics.get("utility", {}).get("accuracy")
    if policy.min_accuracy is not None:
        checks.append(
            check(
                "min_accuracy",
                "test accuracy",
                policy.min_accuracy,
                accuracy,
                None if accuracy is None else accuracy >= policy.min_accuracy,
            )
        )
    auc = metrics.get("membership", {}).get("auc")
    if policy.max_membership_auc is not None:
        checks.append(
            check(
                "max_membership_auc",
                "membership-inference ROC AUC (loss threshold, train vs test rows)",
                policy.max_membership_auc,
                auc,
                None if auc is None else auc <= policy.max_membership_auc,
            )
        )
    if policy.max_accuracy_gap is not None:
        gaps = [
            entry["accuracy_gap"]
            for entry in (metrics.get("model_bias") or {}).values()
            if entry.get("accuracy_gap") is not None
        ]
        worst_gap = max(gaps) if gaps else None
        checks.append(
            check(
                "max_accuracy_gap",
                "largest test-accuracy gap between the judged groups of a protected attribute",
                policy.max_accuracy_gap,
                worst_gap,
                None if worst_gap is None else worst_gap <= policy.max_accuracy_gap,
            )
        )
    for key, name, label in (
        (
            "demographic_parity_difference",
            "max_demographic_parity_difference",
            "largest demographic parity difference over protected attributes and classes",
        ),
        (
            "equalized_odds_difference",
            "max_equalized_odds_difference",
            "largest equalized odds difference over protected attributes and classes",
        ),
    ):
        threshold = getattr(policy, name)
        if threshold is None:
            continue
        values = [entry[key]["value"] for entry in (metrics.get("model_bias") or {}).values() if entry.get(key)]
        worst = max(values) if values else None
        checks.append(check(name, label, threshold, worst, None if worst is None else worst <= threshold))
    if policy.max_counterfactual_flip_rate is not None:
        rate = (metrics.get("counterfactual") or {}).get("flip_rate")
        checks.append(
            check(
                "max_counterfactual_flip_rate",
                "share of predictions that change when gendered terms are swapped",
                policy.max_counterfactual_flip_rate,
                rate,
                None if rate is None else rate <= policy.max_counterfactual_flip_rate,
            )
        )
    if policy.max_pii_in_generations is not None:
        found = (metrics.get("regurgitation") or {}).get("pii_total")
        checks.append(
            check(
                "max_pii_in_generations",
                "PII entities the analyzer finds in generations from training prompts",
                policy.max_pii_in_generations,
                found,
                None if found is None else found <= policy.max_pii_in_generations,
            )
        )
    if policy.max_contaminated_test_rows is not None:
        rows = (metrics.get("contamination") or {}).get("contaminated_test_rows")
        checks.append(
            check(
                "max_contaminated_test_rows",
                "test rows with an exact or near duplicate in train",
                policy.max_contaminated_test_rows,
                rows,
                None if rows is None else rows <= policy.max_contaminated_test_rows,
            )
        )
    canaries = metrics.get("canaries") or {}
    bound = (canaries.get("empirical_epsilon") or {}).get("epsilon_lower_bound")
    claimed = canaries.get("claimed_epsilon_per_canary", epsilon)  # k copies of a canary: k times epsilon
    if ledger.get("dp") and canaries:
        checks.append(
            check(
                "empirical_epsilon_within_claim",
                "the epsilon lower bound the canary attack proves stays at or below the claimed epsilon "
                "(times the copies of each canary)",
                claimed,
                bound,
                None if bound is None or claimed is None else bound <= claimed,
            )
        )
    verdict = "FAIL" if any(c["status"] == "fail" for c in checks) else "PASS"
    return {"verdict": verdict, "checks": checks}
