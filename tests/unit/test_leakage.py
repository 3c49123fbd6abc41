"""Privacy leakage figures on small hand-made losses, checked against sklearn / scipy where they apply."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta
from sklearn.metrics import roc_auc_score

from pipeline.evaluation.leakage import (
    ROC_POINTS,
    contamination,
    empirical_epsilon,
    exposure,
    membership_attack,
    training_ngrams,
    word_ngrams,
)

DELTA = 1e-5


# --- membership_attack ---------------------------------------------------------------------------------------------


def test_perfectly_separated_losses_give_auc_one_and_full_tpr_at_low_fpr():
    rng = np.random.default_rng(0)
    members = rng.uniform(0.0, 1.0, 300)  # members fit better: lower loss
    nonmembers = rng.uniform(2.0, 3.0, 300)
    result = membership_attack(members, nonmembers)
    assert result["auc"] == 1.0
    assert result["tpr_at_fpr"]["0.01"]["tpr"] == 1.0
    assert result["tpr_at_fpr"]["0.001"]["tpr"] == 1.0
    assert result["members"] == 300 and result["nonmembers"] == 300
    assert result["mean_loss"]["members"] == pytest.approx(members.mean(), abs=1e-5)
    assert result["mean_loss"]["nonmembers"] == pytest.approx(nonmembers.mean(), abs=1e-5)


def test_identical_losses_give_auc_one_half():
    values = np.array([0.3, 0.7, 1.1, 1.5, 2.0])
    assert membership_attack(values, values.copy())["auc"] == 0.5


def test_members_with_higher_loss_give_auc_below_one_half():
    rng = np.random.default_rng(1)
    result = membership_attack(rng.normal(2.0, 1.0, 200), rng.normal(0.0, 1.0, 200))
    assert result["auc"] < 0.5
    assert result["tpr_at_fpr"]["0.01"]["tpr"] < 0.1


def test_auc_matches_sklearn_with_scores_as_negative_losses():
    rng = np.random.default_rng(2)
    members, nonmembers = rng.normal(0.8, 1.0, 137), rng.normal(1.0, 1.0, 251)
    expected = roc_auc_score(np.r_[np.ones(137), np.zeros(251)], -np.r_[members, nonmembers])
    assert membership_attack(members, nonmembers)["auc"] == pytest.approx(expected, abs=1e-5)


def test_tpr_at_low_fpr_matches_a_direct_threshold_count():
    rng = np.random.default_rng(3)
    members, nonmembers = rng.normal(0.0, 1.0, 500), rng.normal(1.0, 1.0, 1000)
    result = membership_attack(members, nonmembers)
    # at FPR <= 1% the loosest threshold admits the 10 lowest-loss non-members (ties are impossible with floats)
    threshold = np.sort(nonmembers)[10]  # strictly below the 11th lowest non-member loss
    expected = np.mean(members < threshold)
    assert result["tpr_at_fpr"]["0.01"]["tpr"] == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize(
    ("nonmembers", "below_1pct", "below_01pct"),
    [(50, True, True), (100, False, True), (500, False, True), (1000, False, False), (2000, False, False)],
)
def test_below_resolution_when_one_nonmember_is_more_than_the_target_fpr(nonmembers, below_1pct, below_01pct):
    rng = np.random.default_rng(4)
    result = membership_attack(rng.normal(size=20), rng.normal(size=nonmembers))
    assert result["fpr_resolution"] == pytest.approx(1 / nonmembers, abs=1e-6)
    assert result["tpr_at_fpr"]["0.01"]["below_resolution"] is below_1pct
    assert result["tpr_at_fpr"]["0.001"]["below_resolution"] is below_01pct


def test_nan_and_infinite_losses_are_dropped():
    members = np.array([0.1, np.nan, 0.2, np.inf, 0.3])
    nonmembers = np.array([np.nan, 1.0, 2.0, -np.inf])
    result = membership_attack(members, nonmembers)
    assert result["members"] == 3 and result["nonmembers"] == 2
    assert result["auc"] == 1.0
    assert result["mean_loss"] == {"members": 0.2, "nonmembers": 1.5}


@pytest.mark.parametrize(("members", "nonmembers"), [([], []), ([0.1, 0.2], []), ([], [0.1]), ([np.nan], [1.0, 2.0])])
def test_empty_input_gives_no_auc(members, nonmembers):
    result = membership_attack(np.array(members, dtype=float), np.array(nonmembers, dtype=float))
    assert result["auc"] is None
    assert result["tpr_at_fpr"] == {}
    assert result["roc"] == {"fpr": [], "tpr": []}


@pytest.mark.parametrize("size", [5, 150, 3000])
def test_roc_is_thinned_to_at_most_200_points_from_0_0_to_1_1(size):
    rng = np.random.default_rng(5)
    roc = membership_attack(rng.normal(0.0, 1.0, size), rng.normal(0.3, 1.0, size))["roc"]
    assert 2 <= len(roc["fpr"]) == len(roc["tpr"]) <= ROC_POINTS == 200
    assert (roc["fpr"][0], roc["tpr"][0]) == (0.0, 0.0)
    assert (roc["fpr"][-1], roc["tpr"][-1]) == (1.0, 1.0)
    assert np.all(np.diff(roc["fpr"]) >= 0) and np.all(np.diff(roc["tpr"]) >= 0)
    if size == 3000:
        assert len(roc["fpr"]) > 150  # thinned, not collapsed


# --- empirical_epsilon ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_indistinguishable_losses_give_a_small_bound(seed):
    rng = np.random.default_rng(100 + seed)
    result = empirical_epsilon(rng.normal(size=500), rng.normal(size=500), DELTA, seed=seed)
    assert result["epsilon_lower_bound"] is not None
    assert 0.0 <= result["epsilon_lower_bound"] < 0.5
    assert result["evaluated_members"] == 250 and result["evaluated_nonmembers"] == 250


def test_separated_losses_give_the_clopper_pearson_closed_form():
    # every member has loss 0 and every non-member loss 1: on the evaluated halves (100 each) no errors at all
    result = empirical_epsilon(np.zeros(200), np.ones(200), DELTA, seed=0, confidence=0.95)
    assert result["evaluated_members"] == 100 and result["evaluated_nonmembers"] == 100
    assert result["true_positive_rate"] == 1.0 and result["false_positive_rate"] == 0.0
    assert result["threshold_loss"] == 0.5  # halfway between the picking halves' member loss 0 and non-member loss 1
    # the exact (two-sided, 95%) interval for 0 successes out of 100: upper end = Beta(1, 100) quantile at 0.975
    upper = beta.ppf(0.975, 1, 100)
    expected = math.log((1 - DELTA - upper) / upper)
    assert result["epsilon_lower_bound"] == pytest.approx(expected, abs=1e-5)
    assert 3.2 < result["epsilon_lower_bound"] < 3.4  # log(~0.9637 / 0.0362): a sanity anchor for the formula


def test_higher_confidence_gives_a_smaller_bound():
    low = empirical_epsilon(np.zeros(200), np.ones(200), DELTA, seed=0, confidence=0.9)["epsilon_lower_bound"]
    high = empirical_epsilon(np.zeros(200), np.ones(200), DELTA, seed=0, confidence=0.99)["epsilon_lower_bound"]
    upper = beta.ppf(0.995, 1, 100)
    assert high == pytest.approx(math.log((1 - DELTA - upper) / upper), abs=1e-5)
    assert low > high > 0


def test_bound_is_finite_non_negative_and_larger_when_separated():
    rng = np.random.default_rng(7)
    separated = empirical_epsilon(rng.uniform(0, 1, 200), rng.uniform(2, 3, 200), DELTA, seed=1)["epsilon_lower_bound"]
    shifted = empirical_epsilon(rng.normal(0, 1, 1000), rng.normal(2, 1, 1000), DELTA, seed=1)["epsilon_lower_bound"]
    overlapping = empirical_epsilon(rng.normal(0, 1, 1000), rng.normal(0.2, 1, 1000), DELTA, seed=1)[
        "epsilon_lower_bound"
    ]
    for value in (separated, shifted, overlapping):
        assert value is not None and math.isfinite(value) and value >= 0
    assert separated > shifted > overlapping
    # no split of 200 + 200 can beat the zero-error bound on 100 + 100 evaluated values
    upper = beta.ppf(0.975, 1, 100)
    assert separated <= math.log((1 - DELTA - upper) / upper) + 1e-5  # the bound is rounded to 5 decimals


def test_bound_is_deterministic_for_a_seed():
    rng = np.random.default_rng(8)
    members, nonmembers = rng.normal(0, 1, 300), rng.normal(1, 1, 300)
    assert empirical_epsilon(members, nonmembers, DELTA, seed=3) == empirical_epsilon(
        members, nonmembers, DELTA, seed=3
    )


def test_nan_losses_are_dropped_before_splitting():
    members = np.r_[np.zeros(200), np.full(50, np.nan)]
    result = empirical_epsilon(members, np.ones(200), DELTA, seed=0)
    assert result["evaluated_members"] == 100


@pytest.mark.parametrize(("members", "nonmembers"), [([0.1], [1.0, 2.0, 3.0]), ([0.1, 0.2, 0.3], [1.0]), ([], [])])
def test_too_few_values_give_no_bound_and_a_reason(members, nonmembers):
    result = empirical_epsilon(np.array(members, dtype=float), np.array(nonmembers, dtype=float), DELTA, seed=0)
    assert result["epsilon_lower_bound"] is None
    assert "too few" in result["reason"]


# --- exposure ------------------------------------------------------------------------------------------------------


def test_secret_ranked_first_among_1023_candidates_has_exposure_10():
    candidates = np.linspace(1.0, 5.0, 1023)
    assert exposure(0.5, candidates) == 10.0


def test_secret_ranked_last_has_exposure_about_zero():
    candidates = np.linspace(1.0, 5.0, 1023)
    assert exposure(6.0, candidates) == pytest.approx(0.0, abs=1e-5)


def test_secret_in_the_middle_has_exposure_one():
    candidates = np.arange(1023, dtype=float)
    assert exposure(510.5, candidates) == pytest.approx(1.0, abs=1e-5)  # 511 lower: rank 512 of 1024, log2(1024 / 512)
    assert exposure(511.5, candidates) == pytest.approx(math.log2(1024 / 513), abs=1e-5)


def test_only_strictly_lower_candidates_count_against_the_secret():
    # ties with the true secret's loss do not lower its rank: 3 lower + 4 equal -> rank 4 of 8
    candidates = np.array([1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0])
    assert exposure(2.0, candidates) == pytest.approx(math.log2(8) - math.log2(4), abs=1e-5)
    assert exposure(2.0, np.full(7, 2.0)) == pytest.approx(3.0, abs=1e-5)


# --- word n-grams --------------------------------------------------------------------------------------------------


def test_word_ngrams_ignore_case_and_punctuation():
    assert word_ngrams("Hello, World! hello   WORLD.", 2) == {("hello", "world"), ("world", "hello")}
    assert word_ngrams("The cat; the CAT", 1) == {("the",), ("cat",)}
    assert word_ngrams("one two three", 3) == {("one", "two", "three")}


def test_text_shorter_than_n_words_gives_no_ngrams():
    assert word_ngrams("only three words", 4) == set()
    assert word_ngrams("", 1) == set()
    assert word_ngrams("... !!! ,,,", 1) == set()


def test_training_ngrams_is_the_union_over_texts():
    texts = ["Alpha beta gamma", "BETA gamma, delta", "x"]
    assert training_ngrams(texts, 2) == {("alpha", "beta"), ("beta", "gamma"), ("gamma", "delta")}
    assert training_ngrams([], 2) == set()


# --- contamination -------------------------------------------------------------------------------------------------


def test_contamination_counts_exact_and_near_matches():
    train = pd.DataFrame({"text_key": ["k1", "k2", "k3"], "cluster_id": ["c1", "c2", None]})
    test = pd.DataFrame({"text_key": ["k1", "k9", "k8", "k7"], "cluster_id": ["c1x", "c2", "c7", None]})
    result = contamination(train, test)
    assert result["test_rows"] == 4
    assert result["exact"] == 1  # k1
    assert result["near"] == 1  # c2; the missing cluster ids match nothing
    assert result["contaminated_test_rows"] == 2  # the union: k1's row and c2's row are different test rows


def test_near_counts_every_test_row_in_a_training_cluster():
    train = pd.DataFrame({"text_key": ["k1"], "cluster_id": ["c1"]})
    test = pd.DataFrame({"text_key": ["k1", "k2", "k3", "k4"], "cluster_id": ["c1", "c1", "c1", "c4"]})
    result = contamination(train, test)
    assert (result["exact"], result["near"], result["contaminated_test_rows"]) == (1, 3, 3)


def test_missing_columns_give_none():
    only_keys = pd.DataFrame({"text_key": ["k1", "k2"]})
    with_both = pd.DataFrame({"text_key": ["k1", "k3"], "cluster_id": ["c1", "c3"]})
    result = contamination(only_keys, with_both)
    assert result["exact"] == 1 and result["near"] is None and result["contaminated_test_rows"] == 1
    result = contamination(pd.DataFrame({"x": [1]}), pd.DataFrame({"y": [1, 2]}))
    assert result == {"test_rows": 2, "exact": None, "near": None, "contaminated_test_rows": None}


def test_the_audit_states_its_power_the_bound_had_every_canary_been_told_apart():
    upper = beta.ppf(0.975, 1, 25)
    power = math.log((1 - DELTA - upper) / upper)  # 25 evaluated of each: at most about 1.8, whatever the model
    rng = np.random.default_rng(3)
    for members, nonmembers in ((np.zeros(50), np.ones(50)), (rng.normal(0, 1, 50), rng.normal(0, 1, 50))):
        result = empirical_epsilon(members, nonmembers, DELTA, seed=0)
        assert result["max_certifiable_epsilon"] == pytest.approx(power, abs=1e-5)
        assert result["epsilon_lower_bound"] <= result["max_certifiable_epsilon"]
    assert empirical_epsilon(np.zeros(1), np.ones(1), DELTA, seed=0)["max_certifiable_epsilon"] is None


def test_the_report_warns_when_the_audits_power_is_below_the_claim():
    from pipeline.reporting.content import audit_power

    audit = empirical_epsilon(np.zeros(50), np.ones(50), DELTA, seed=0)
    canaries = {"inserted": 50, "held_out": 50, "empirical_epsilon": audit}
    weak = audit_power(canaries | {"claimed_epsilon": 8.0})
    assert f"could have shown epsilon up to {audit['max_certifiable_epsilon']:.3g}" in weak
    assert f"it found {audit['epsilon_lower_bound']:.3g}" in weak and "WARNING" in weak and "8" in weak
    assert "WARNING" not in audit_power(canaries | {"claimed_epsilon": 1.0})
    assert "WARNING" not in audit_power(canaries | {"claimed_epsilon": None})  # no DP: nothing claimed
    assert audit_power(None) is None
