"""The report's sentences about the privacy audit: the one-run canary audit's power, the membership attacks that
ran, and the baseline row."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.reporting.content import (
    _headline,
    audit_power,
    below_resolution_notes,
    canaries_needed,
    membership_attacks_note,
)

# the canaries of a real small classification run (64 canaries, DP at epsilon 8, delta 2.5e-4)
AUDIT = {
    "method": "one run (Steinke, Nasr and Jagielski 2023), top-k guesses, Bonferroni over k",
    "epsilon_lower_bound": 0.0,
    "max_certifiable_epsilon": 1.0329,
    "confidence": 0.95,
    "canaries": 64,
    "included": 31,
    "guesses": 2,
    "correct": 0,
    "tries": [
        {"guesses": 2, "correct": 0, "epsilon_lower_bound": 0.0},
        {"guesses": 4, "correct": 1, "epsilon_lower_bound": 0.0},
        {"guesses": 8, "correct": 4, "epsilon_lower_bound": 0.0},
        {"guesses": 16, "correct": 8, "epsilon_lower_bound": 0.0},
    ],
    "delta": 0.0002463054187192118,
    "canaries_needed": {"2": 215, "4": None, "8": None},
}
CANARIES = {
    "count": 64,
    "inserted": 31,
    "held_out": 33,
    "copies_each": 1,
    "empirical_epsilon": AUDIT,
    "claimed_epsilon": 7.99105,
    "claimed_epsilon_per_canary": 7.99105,
}


def canaries(**changes: Any) -> dict[str, Any]:
    return CANARIES | changes


def test_the_audit_sentence_states_what_it_could_show_what_it_found_and_what_would_raise_it():
    assert audit_power(CANARIES) == (
        "The one-run canary audit (64 canaries, 31 included by a coin flip, 95% confidence) could have shown "
        "epsilon up to 1.03; it found 0 (0 of its 2 guesses right). WARNING: that power is below the claimed "
        "epsilon per canary 7.99, so the audit cannot tell a model that leaks up to the claim from one that does "
        "not. About 215 canaries would be needed to show 2; no canary count can show 4 or 8 at this delta."
    )


def test_a_bound_found_is_stated_with_the_guesses_that_found_it():
    audit = AUDIT | {"epsilon_lower_bound": 0.71234, "guesses": 16, "correct": 15}
    assert "it found 0.712 (15 of its 16 guesses right)." in audit_power(canaries(empirical_epsilon=audit))


@pytest.mark.parametrize(
    "claimed, per_canary, warned",
    [
        (8.0, 8.0, True),
        (1.0, 1.0, False),  # the audit could show the claim
        (1.0329, 1.0329, False),  # power equal to the claim is enough
        (None, None, False),  # no DP: nothing claimed
        (0.5, 3.0, True),  # 6 copies of each canary under row privacy: the claim per canary is what counts
        (3.0, 1.0, False),
    ],
)
def test_the_warning_compares_the_power_with_the_claimed_epsilon_per_canary(claimed, per_canary, warned):
    text = audit_power(canaries(claimed_epsilon=claimed, claimed_epsilon_per_canary=per_canary))
    assert ("WARNING" in text) is warned
    assert ("canaries would be needed" in text) is warned  # the counts that would raise it come with the warning


def test_an_older_run_without_the_per_canary_claim_is_compared_with_the_claimed_epsilon():
    older = {key: value for key, value in CANARIES.items() if key != "claimed_epsilon_per_canary"}
    assert "WARNING" in audit_power(older | {"claimed_epsilon": 8.0})
    assert "WARNING" not in audit_power(older | {"claimed_epsilon": 1.0})


def test_no_canaries_or_no_bound_give_no_sentence():
    assert audit_power(None) is None
    assert audit_power({}) is None
    no_bound = {"epsilon_lower_bound": None, "max_certifiable_epsilon": None, "reason": "no canaries"}
    assert audit_power(canaries(empirical_epsilon=no_bound)) is None


@pytest.mark.parametrize(
    "needed, text",
    [
        (
            {"2": 215, "4": None, "8": None},
            "About 215 canaries would be needed to show 2; no canary count can show 4 or 8 at this delta.",
        ),
        (
            {"4": 1200, "8": 9000},
            "About 1200 canaries would be needed to show 4; about 9000 canaries would be needed to show 8.",
        ),
        ({"8": None}, "No canary count can show 8 at this delta."),
        ({}, None),
    ],
)
def test_canaries_needed_in_words(needed, text):
    assert canaries_needed(needed) == text


def test_a_warning_without_counts_still_says_more_canaries_raise_the_power():
    text = audit_power(canaries(empirical_epsilon=AUDIT | {"canaries_needed": {}}))
    assert text.endswith("More canaries raise it.")


CLASSIFICATION, CAUSAL_LM = SimpleNamespace(task="classification"), SimpleNamespace(task="causal_lm")
PROBE = "the base encoder with a logistic-regression head fitted on the validation split"


@pytest.mark.parametrize(
    "config, reference, expected",
    [
        (CLASSIFICATION, PROBE, f"whose reference is {PROBE} (the base model has no trained classification head"),
        (CAUSAL_LM, "the base model (the adapter switched off)", "whose reference is the base model (the adapter"),
    ],
)
def test_the_attacks_note_names_both_attacks_and_the_reference(config, reference, expected):
    metrics = {"membership": {"auc": 0.5}, "calibrated_membership": {"auc": 0.5, "reference": reference}}
    note = membership_attacks_note(config, metrics)
    assert note.startswith("Two membership attacks ran: the loss-threshold attack and a calibrated attack")
    assert expected in note
    assert "No shadow models" in note and "lower bounds on leakage" in note
    assert "simple loss-threshold attack" not in note


def test_without_a_reference_the_note_says_only_the_loss_attack_ran():
    note = membership_attacks_note(CLASSIFICATION, {"membership": {"auc": 0.5}, "calibrated_membership": None})
    assert note.startswith("Only the loss-threshold membership attack ran") and "lower bounds on leakage" in note


def attack(nonmembers: int, *below: str) -> dict[str, Any]:
    return {
        "nonmembers": nonmembers,
        "fpr_resolution": round(1 / nonmembers, 6),
        "tpr_at_fpr": {target: {"tpr": 0.0, "below_resolution": target in below} for target in ("0.01", "0.001")},
    }


def test_below_resolution_notes_name_the_attacks_they_hold_for():
    both = {"membership": attack(56, "0.01", "0.001"), "calibrated_membership": attack(56, "0.01", "0.001")}
    assert below_resolution_notes(both) == [
        "TPR at 0.01 and 0.001 FPR (loss-threshold and calibrated attacks) is below the resolution of 56 "
        "non-members (1/56 = 0.017857); treat it as indicative."
    ]
    apart = {"membership": attack(500, "0.001"), "calibrated_membership": attack(400, "0.001")}
    assert [note.split(" is below")[0] for note in below_resolution_notes(apart)] == [
        "TPR at 0.001 FPR (loss-threshold attack)",
        "TPR at 0.001 FPR (calibrated attack)",
    ]
    assert below_resolution_notes({"membership": attack(5000), "calibrated_membership": None}) == []


def test_the_baseline_row_holds_both_membership_aucs():
    metrics = {
        "membership": {"auc": 0.51},
        "calibrated_membership": {"auc": 0.57},
        "canaries": {"attack": {"auc": 0.6}, "empirical_epsilon": {"epsilon_lower_bound": 0.3}},
    }
    row = _headline("this run", {"dp": True, "epsilon_spent": 8.0}, metrics)
    assert (row["membership_auc"], row["calibrated_membership_auc"], row["canary_auc"]) == (0.51, 0.57, 0.6)
    assert row["empirical_epsilon_lower_bound"] == 0.3
    older = _headline("baseline", {"dp": False}, {"membership": {"auc": 0.7}})
    assert older["calibrated_membership_auc"] is None
