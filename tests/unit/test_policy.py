"""The policy table: every check passes at its threshold, fails just past it, and handles a null threshold or a missing figure."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pytest

from pipeline.config import PolicyConfig
from pipeline.reporting.policy import POLICY_CHECKS, PolicyCheck, Run, drift_flags, evaluate_policy

OFF = {name: None for name in PolicyConfig.model_fields} | {"require_dp": False}  # every check left out
LEDGER = {"dp": True, "epsilon_spent": 2.0}


def policy(**thresholds: Any) -> PolicyConfig:
    return PolicyConfig(**{**OFF, **thresholds})


def bias(key: str, value: Any) -> dict[str, Any]:
    """Two protected attributes: `value` and a smaller one, so the check must take the largest (None: neither judged)."""

    def entry(figure: float | None, label: str) -> dict[str, Any]:
        if key == "accuracy_gap" or figure is None:
            return {key: figure}
        return {key: {"value": figure, "class": label}}

    return {"gender": entry(value, "refund"), "age": entry(None if value is None else 0.0, "billing")}


def canaries(bound: Any, claimed: Any) -> dict[str, Any]:
    """Canaries each included by a coin flip, and the one-run audit's bound."""
    audit = {"method": "one run", "epsilon_lower_bound": bound, "max_certifiable_epsilon": 9.0, "confidence": 0.95}
    return {"count": 20, "inserted": 10, "held_out": 10, "copies_each": 1, "empirical_epsilon": audit, **claimed}


def attacks(loss: Any, calibrated: Any) -> dict[str, Any]:
    """The membership section: the loss attack's AUC and the calibrated attack's (None: it did not run)."""
    return {
        "membership": {"auc": loss, "attack": "loss threshold"},
        "calibrated_membership": None if calibrated is None else {"auc": calibrated, "attack": "calibrated"},
    }


def regurgitation(added: Any, dates: int = 40, **older: Any) -> dict[str, Any]:
    """Generations full of dates (not identifying) in which the fine-tune added `added` identifying entities."""
    tuned = {
        "pii_entities": {"DATE_TIME": dates, "PERSON": 3},
        "pii_total": dates + 3,
        "identifying_entities": {"PERSON": 3},
        "identifying_total": 3,
    }
    return {
        "prompts": 20,
        "not_identifying_types": ["DATE_TIME", "NRP"],
        "tuned": tuned,
        "base": {**tuned, "pii_entities": {"PERSON": 3}, "pii_total": 3},  # the base model named the same people
        "identifying_added_by_fine_tune": None if added is None else added + 2,  # 2 made up: not in the training data
        "identifying_added_found_in_training_data": added,
        "pii_entities": tuned["pii_entities"],
        "pii_total": tuned["pii_total"],
        **older,
    }


@dataclass(frozen=True)
class Case:
    threshold: Any  # the boundary: a figure equal to it passes
    past: Any  # just past it: fails
    run: Callable[[Any, Any], Run]  # a run whose figure is the first argument; the second is the claimed threshold
    absent: Run  # a run without the figure at all
    missing: str  # the status of a missing figure
    null: Literal["left out", "not_applicable"] = "left out"  # a null threshold (false for "require")


def up(value: float) -> float:
    return math.nextafter(value, math.inf)


def down(value: float) -> float:
    return math.nextafter(value, -math.inf)


CASES = {
    "dp_required": Case(
        True,
        False,
        lambda value, _: Run({"dp": value}, {}),
        absent=Run({}, {}),
        missing="fail",  # no "dp" in the ledger: not trained with DP
    ),
    "max_epsilon": Case(
        8.0,
        up(8.0),
        lambda value, _: Run({"dp": True, "epsilon_spent": value}, {}),
        absent=Run({"dp": True}, {}),
        missing="fail",  # a DP run whose accountant reports no epsilon
    ),
    "min_accuracy": Case(
        0.8,
        down(0.8),
        lambda value, _: Run(LEDGER, {"utility": {"accuracy": value, "macro_f1": 0.1}}),
        absent=Run(LEDGER, {"utility": {"loss": 1.5, "perplexity": 4.5}}),  # causal LM
        missing="not_applicable",
    ),
    "max_membership_auc": Case(
        0.6,
        up(0.6),
        # the calibrated attack holds the figure, the loss attack a lower AUC: the check must take the highest
        lambda value, _: Run(LEDGER, attacks(None if value is None else 0.5, value)),
        absent=Run(LEDGER, {}),
        missing="not_applicable",
    ),
    "max_accuracy_gap": Case(
        0.1,
        up(0.1),
        lambda value, _: Run(LEDGER, {"model_bias": bias("accuracy_gap", value)}),
        absent=Run(LEDGER, {"model_bias": None}),
        missing="not_applicable",
    ),
    "max_demographic_parity_difference": Case(
        0.2,
        up(0.2),
        lambda value, _: Run(LEDGER, {"model_bias": bias("demographic_parity_difference", value)}),
        absent=Run(LEDGER, {"model_bias": {"gender": {"demographic_parity_difference": None}}}),
        missing="not_applicable",
    ),
    "max_equalized_odds_difference": Case(
        0.2,
        up(0.2),
        lambda value, _: Run(LEDGER, {"model_bias": bias("equalized_odds_difference", value)}),
        absent=Run(LEDGER, {"model_bias": {}}),
        missing="not_applicable",
    ),
    "max_counterfactual_flip_rate": Case(
        0.05,
        up(0.05),
        lambda value, _: Run(LEDGER, {"counterfactual": {"swapped_rows": 40, "flip_rate": value}}),
        absent=Run(LEDGER, {"counterfactual": None}),
        missing="not_applicable",
    ),
    "max_pii_in_generations": Case(
        0,
        1,
        # 40 dates and 3 names in the generations, but only `value` identifying entities the base model lacked
        lambda value, _: Run(LEDGER, {"regurgitation": regurgitation(value)}),
        absent=Run(LEDGER, {"regurgitation": None}),  # classification
        missing="not_applicable",
    ),
    "max_contaminated_test_rows": Case(
        2,
        3,
        lambda value, _: Run(LEDGER, {"contamination": {"contaminated_test_rows": value}}),
        absent=Run(LEDGER, {}),
        missing="not_applicable",
    ),
    "max_forgetting": Case(
        0.5,
        up(0.5),
        lambda value, _: Run(LEDGER, {"forgetting": {"passages": 300, "score": value}}),
        absent=Run(LEDGER, {"forgetting": None}),  # evaluate.forgetting_passages is 0
        missing="not_applicable",
    ),
    "max_drift_flags": Case(
        1,
        2,
        # the data's drifted measures; a null figure: no reference run was compared
        lambda value, _: Run(LEDGER, {}, None if value is None else {"flagged": [f"m{i}" for i in range(value)]}),
        absent=Run(LEDGER, {}, None),
        missing="not_applicable",
    ),
    "empirical_epsilon_within_claim": Case(
        6.0,
        up(6.0),
        lambda value, claimed: Run(LEDGER, {"canaries": canaries(value, {"claimed_epsilon_per_canary": claimed})}),
        absent=Run(LEDGER, {"canaries": {"count": 20, "inserted": 10, "claimed_epsilon_per_canary": 6.0}}),
        missing="not_applicable",
        null="not_applicable",  # the claim is the run's own: a DP run with canaries lists the check
    ),
}


def evaluate(spec: PolicyCheck, figure: Any, threshold: Any) -> tuple[str, dict[str, Any] | None]:
    """The verdict and the check's row when the figure is `figure` and its threshold `threshold`."""
    if isinstance(spec.threshold, str):
        result = evaluate_policy(policy(**{spec.threshold: threshold}), *CASES[spec.name].run(figure, None))
    else:
        result = evaluate_policy(policy(), *CASES[spec.name].run(figure, threshold))
    rows = [row for row in result["checks"] if row["name"] == spec.name]
    assert len(rows) <= 1
    return result["verdict"], rows[0] if rows else None


def test_every_check_has_a_case():
    assert [spec.name for spec in POLICY_CHECKS] == list(CASES)


def test_every_policy_threshold_sets_exactly_one_check():
    fields = [spec.threshold for spec in POLICY_CHECKS if isinstance(spec.threshold, str)]
    assert sorted(fields) == sorted(PolicyConfig.model_fields)


@pytest.mark.parametrize("spec", POLICY_CHECKS, ids=lambda spec: spec.name)
def test_a_figure_at_the_threshold_passes(spec):
    case = CASES[spec.name]
    verdict, row = evaluate(spec, case.threshold, case.threshold)
    assert row == {
        "name": spec.name,
        "description": spec.description,
        "threshold": case.threshold,
        "value": case.threshold,
        "status": "pass",
    }
    assert verdict == "PASS"


@pytest.mark.parametrize("spec", POLICY_CHECKS, ids=lambda spec: spec.name)
def test_a_figure_just_past_the_threshold_fails(spec):
    case = CASES[spec.name]
    verdict, row = evaluate(spec, case.past, case.threshold)
    assert row is not None and row["status"] == "fail" and row["value"] == case.past
    assert verdict == "FAIL"


@pytest.mark.parametrize("spec", POLICY_CHECKS, ids=lambda spec: spec.name)
def test_a_null_threshold_leaves_the_check_out(spec):
    case = CASES[spec.name]
    verdict, row = evaluate(spec, case.past, False if spec.comparison == "require" else None)
    if case.null == "left out":
        assert row is None
    else:
        assert row is not None and row["status"] == "not_applicable" and row["threshold"] is None
    assert verdict == "PASS"


@pytest.mark.parametrize("spec", POLICY_CHECKS, ids=lambda spec: spec.name)
@pytest.mark.parametrize("how", ["null figure", "no figure"])
def test_a_missing_figure(spec, how):
    case = CASES[spec.name]
    run = case.run(None, case.threshold) if how == "null figure" else case.absent
    thresholds = {spec.threshold: case.threshold} if isinstance(spec.threshold, str) else {}
    result = evaluate_policy(policy(**thresholds), *run)
    (row,) = [row for row in result["checks"] if row["name"] == spec.name]
    assert row["status"] == case.missing
    assert row["value"] in (None, False)  # "require" reads a missing flag as false
    assert result["verdict"] == ("FAIL" if case.missing == "fail" else "PASS")


def test_epsilon_is_not_applicable_without_dp():
    result = evaluate_policy(policy(max_epsilon=8.0), {"dp": False, "epsilon_spent": 50.0}, {})
    assert result == {
        "verdict": "PASS",
        "checks": [
            {
                "name": "max_epsilon",
                "description": "privacy budget spent (epsilon, from the accountant)",
                "threshold": 8.0,
                "value": 50.0,
                "status": "not_applicable",
            }
        ],
    }


@pytest.mark.parametrize(
    "ledger, planted",
    [({"dp": False, "epsilon_spent": None}, canaries(0.5, {})), (LEDGER, None), (LEDGER, {})],
    ids=["no DP", "no canaries", "empty canaries"],
)
def test_the_canary_check_is_listed_only_for_a_dp_run_with_canaries(ledger, planted):
    assert evaluate_policy(policy(), ledger, {"canaries": planted}) == {"verdict": "PASS", "checks": []}


def test_the_claimed_epsilon_defaults_to_the_spent_one():
    (row,) = evaluate_policy(policy(), LEDGER, {"canaries": canaries(2.5, {})})["checks"]
    assert (row["threshold"], row["value"], row["status"]) == (2.0, 2.5, "fail")


def test_the_default_policy_lists_its_checks_in_table_order():
    ledger, metrics, _ = CASES["empirical_epsilon_within_claim"].run(1.0, 6.0)
    metrics = {**metrics, **attacks(0.52, 0.55), "contamination": {"contaminated_test_rows": 0}}
    result = evaluate_policy(PolicyConfig(), ledger, metrics)
    assert [(row["name"], row["status"]) for row in result["checks"]] == [
        ("dp_required", "pass"),
        ("max_epsilon", "pass"),
        ("max_membership_auc", "pass"),
        ("max_accuracy_gap", "not_applicable"),
        ("max_pii_in_generations", "not_applicable"),
        ("max_contaminated_test_rows", "pass"),
        ("empirical_epsilon_within_claim", "pass"),
    ]
    assert result["verdict"] == "PASS"


def test_any_failed_check_fails_the_verdict():
    metrics = {"membership": {"auc": 0.9}, "contamination": {"contaminated_test_rows": 0}}
    result = evaluate_policy(PolicyConfig(), LEDGER, metrics)
    assert [row["name"] for row in result["checks"] if row["status"] == "fail"] == ["max_membership_auc"]
    assert result["verdict"] == "FAIL"


@pytest.mark.parametrize(
    "loss, calibrated, value, status",
    [
        (0.55, 0.61, 0.61, "fail"),  # only the calibrated attack is over the threshold
        (0.61, 0.55, 0.61, "fail"),  # only the loss attack is
        (0.61, None, 0.61, "fail"),  # no reference: the loss attack alone
        (0.58, 0.6, 0.6, "pass"),
        (None, 0.55, 0.55, "pass"),  # a loss attack with no figure does not hide the calibrated one
    ],
)
def test_the_membership_check_gates_on_the_highest_auc_of_the_attacks_that_ran(loss, calibrated, value, status):
    (row,) = evaluate_policy(policy(max_membership_auc=0.6), LEDGER, attacks(loss, calibrated))["checks"]
    assert (row["value"], row["status"]) == (value, status)


@pytest.mark.parametrize(
    "found, value, status",
    [
        (regurgitation(0, dates=500), 0, "pass"),  # many dates, names the base model said too: nothing added
        (regurgitation(1, dates=0), 1, "fail"),
        ({"prompts": 20, "identifying_added_by_fine_tune": 2, "pii_total": 9}, 2, "fail"),  # before the data check
        ({"prompts": 20, "pii_entities": {"DATE_TIME": 2}, "pii_total": 2}, 2, "fail"),  # an older run: all PII
        ({"prompts": 20, "pii_entities": {}, "pii_total": 0}, 0, "pass"),
        ({"prompts": 0}, None, "not_applicable"),  # no generations
    ],
    ids=["dates only", "one added", "added, older run", "older run", "older run, none", "no prompts"],
)
def test_the_pii_check_counts_identifying_entities_the_fine_tune_added(found, value, status):
    (row,) = evaluate_policy(policy(max_pii_in_generations=0), LEDGER, {"regurgitation": found})["checks"]
    assert (row["value"], row["status"]) == (value, status)


def test_the_drift_check_counts_the_reference_models_concept_drift_too():
    data = {"flagged": ["label_distribution"]}
    concept = {"metric": "accuracy", "own": 0.9, "on_this_run": 0.7, "change": 0.2, "flagged": True}
    assert drift_flags(data, concept) == ["label_distribution", "concept_drift:accuracy"]
    (row,) = evaluate_policy(policy(max_drift_flags=1), LEDGER, {"concept_drift": concept}, data)["checks"]
    assert (row["value"], row["status"]) == (2, "fail")
    assert drift_flags({"flagged": []}, {**concept, "flagged": False}) == []
