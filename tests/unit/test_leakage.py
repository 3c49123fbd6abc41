"""Privacy leakage figures on small hand-made losses, checked against sklearn / scipy where they apply."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom
from sklearn.metrics import roc_auc_score

from pipeline.evaluation.leakage import (
    ROC_POINTS,
    calibrated_scores,
    canaries_needed,
    contamination,
    exposed_records,
    exposure,
    guess_counts,
    max_certifiable_epsilon,
    membership_attack,
    one_run_audit,
    one_run_lower_bound,
    one_run_p_value,
    training_ngrams,
    word_ngrams,
)

DELTA = 1e-5


# --- membership_attack ---------------------------------------------------------------------------------------------


def loss_attack(member_losses, nonmember_losses):
    """The loss attack as the evaluate stage runs it: the score is the negative loss."""
    return membership_attack(-np.asarray(member_losses, dtype=float), -np.asarray(nonmember_losses, dtype=float))


def test_perfectly_separated_losses_give_auc_one_and_full_tpr_at_low_fpr():
    rng = np.random.default_rng(0)
    members = rng.uniform(0.0, 1.0, 300)  # members fit better: lower loss
    nonmembers = rng.uniform(2.0, 3.0, 300)
    result = loss_attack(members, nonmembers)
    assert result["auc"] == 1.0
    assert result["tpr_at_fpr"]["0.01"]["tpr"] == 1.0
    assert result["tpr_at_fpr"]["0.001"]["tpr"] == 1.0
    assert result["members"] == 300 and result["nonmembers"] == 300
    assert result["mean_score"]["members"] == pytest.approx(-members.mean(), abs=1e-5)
    assert result["mean_score"]["nonmembers"] == pytest.approx(-nonmembers.mean(), abs=1e-5)


def test_identical_losses_give_auc_one_half():
    values = np.array([0.3, 0.7, 1.1, 1.5, 2.0])
    assert loss_attack(values, values.copy())["auc"] == 0.5


def test_members_with_higher_loss_give_auc_below_one_half():
    rng = np.random.default_rng(1)
    result = loss_attack(rng.normal(2.0, 1.0, 200), rng.normal(0.0, 1.0, 200))
    assert result["auc"] < 0.5
    assert result["tpr_at_fpr"]["0.01"]["tpr"] < 0.1


def test_auc_matches_sklearn_with_scores_as_negative_losses():
    rng = np.random.default_rng(2)
    members, nonmembers = rng.normal(0.8, 1.0, 137), rng.normal(1.0, 1.0, 251)
    expected = roc_auc_score(np.r_[np.ones(137), np.zeros(251)], -np.r_[members, nonmembers])
    assert loss_attack(members, nonmembers)["auc"] == pytest.approx(expected, abs=1e-5)


def test_tpr_at_low_fpr_matches_a_direct_threshold_count():
    rng = np.random.default_rng(3)
    members, nonmembers = rng.normal(0.0, 1.0, 500), rng.normal(1.0, 1.0, 1000)
    result = loss_attack(members, nonmembers)
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
    result = loss_attack(rng.normal(size=20), rng.normal(size=nonmembers))
    assert result["fpr_resolution"] == pytest.approx(1 / nonmembers, abs=1e-6)
    assert result["tpr_at_fpr"]["0.01"]["below_resolution"] is below_1pct
    assert result["tpr_at_fpr"]["0.001"]["below_resolution"] is below_01pct


def test_nan_and_infinite_losses_are_dropped():
    members = np.array([0.1, np.nan, 0.2, np.inf, 0.3])
    nonmembers = np.array([np.nan, 1.0, 2.0, -np.inf])
    result = loss_attack(members, nonmembers)
    assert result["members"] == 3 and result["nonmembers"] == 2
    assert result["auc"] == 1.0
    assert result["mean_score"] == {"members": -0.2, "nonmembers": -1.5}


@pytest.mark.parametrize(("members", "nonmembers"), [([], []), ([0.1, 0.2], []), ([], [0.1]), ([np.nan], [1.0, 2.0])])
def test_empty_input_gives_no_auc(members, nonmembers):
    result = loss_attack(np.array(members, dtype=float), np.array(nonmembers, dtype=float))
    assert result["auc"] is None
    assert result["tpr_at_fpr"] == {}
    assert result["roc"] == {"fpr": [], "tpr": []}


@pytest.mark.parametrize("size", [5, 150, 3000])
def test_roc_is_thinned_to_at_most_200_points_from_0_0_to_1_1(size):
    rng = np.random.default_rng(5)
    roc = loss_attack(rng.normal(0.0, 1.0, size), rng.normal(0.3, 1.0, size))["roc"]
    assert 2 <= len(roc["fpr"]) == len(roc["tpr"]) <= ROC_POINTS == 200
    assert (roc["fpr"][0], roc["tpr"][0]) == (0.0, 0.0)
    assert (roc["fpr"][-1], roc["tpr"][-1]) == (1.0, 1.0)
    assert np.all(np.diff(roc["fpr"]) >= 0) and np.all(np.diff(roc["tpr"]) >= 0)
    if size == 3000:
        assert len(roc["fpr"]) > 150  # thinned, not collapsed


# --- the one-run audit (Steinke, Nasr and Jagielski 2023) ---------------------------------------------------------


def test_without_delta_the_p_value_is_the_binomial_tail():
    for m, r, v, eps in ((1000, 100, 70, 0.5), (200, 50, 50, 2.0), (64, 16, 3, 0.0)):
        q = math.exp(eps) / (1 + math.exp(eps))
        assert one_run_p_value(m, r, v, eps, 0.0) == pytest.approx(binom.sf(v - 1, r, q), rel=1e-12)


def test_the_delta_term_by_hand():
    # m=10, r=2, v=2, eps=0: q=1/2, tail P[B>=2]=1/4; alpha=max(P[B=1]/1, (P[B=1]+P[B=0])/2)=max(1/2, 3/8)=1/2;
    # p = 1/4 + 1/2 * 0.01 * 2 * 10 = 0.35
    assert one_run_p_value(10, 2, 2, 0.0, 0.01) == pytest.approx(0.35, abs=1e-12)
    assert one_run_p_value(1000, 10, 10, 0.0, 0.01) == 1.0  # capped: 2 m delta alone exceeds 1


def test_all_guesses_right_without_delta_has_a_closed_form():
    # P[B(r, q) >= r] = q^r = beta  =>  q = beta^(1/r), eps = log(q / (1 - q))
    for r, beta_ in ((100, 0.05), (32, 0.0125), (1, 0.05)):
        q = beta_ ** (1 / r)
        expected = math.log(q / (1 - q)) if q > 0.5 else 0.0
        assert one_run_lower_bound(1000, r, r, 0.0, beta_) == pytest.approx(expected, abs=1e-5)
    assert one_run_lower_bound(1000, 100, 100, 0.0, 0.05) == pytest.approx(3.49297, abs=1e-4)


@pytest.mark.parametrize(("r", "v"), [(0, 0), (10, 0), (50, 0)])
def test_no_guesses_or_no_right_guess_proves_nothing(r, v):
    assert one_run_lower_bound(100, r, v, 1e-5, 0.05) == 0.0


def test_chance_level_guessing_proves_nothing_and_more_right_guesses_prove_more():
    assert one_run_lower_bound(1000, 100, 50, 1e-5, 0.05) == 0.0
    bounds = [one_run_lower_bound(1000, 100, v, 1e-5, 0.05) for v in (60, 70, 80, 90, 100)]
    assert bounds == sorted(bounds) and bounds[0] < bounds[-1]


def test_a_large_delta_swamps_the_test():
    assert one_run_lower_bound(1000, 100, 100, 0.05, 0.05) == 0.0  # 2 m delta = 100


def test_the_audit_holds_its_confidence_against_randomised_response():
    """A mechanism that is exactly eps-DP (randomised response on each canary's inclusion): the audit may not prove
    more than eps in more than about 5% of runs, and with many canaries it proves a good share of it."""
    epsilon, m = 1.0, 4000
    rng = np.random.default_rng(11)
    over, found = 0, []
    for _ in range(40):
        included = rng.random(m) < 0.5
        truthful = rng.random(m) < math.exp(epsilon) / (1 + math.exp(epsilon))
        scores = np.where(truthful, included, ~included) + rng.random(m) * 1e-3  # ties broken at random
        bound = one_run_audit(scores, included, 0.0)["epsilon_lower_bound"]
        over += bound > epsilon
        found.append(bound)
    assert over <= 2
    assert np.median(found) > 0.5


def test_the_audit_guesses_the_top_k_in_and_the_bottom_k_out_and_reports_its_power():
    m = 128
    included = np.arange(m) % 2 == 0
    perfect = one_run_audit(included.astype(float), included, 0.0)
    assert guess_counts(m) == [4, 8, 16, 32]  # k on each side
    assert [t["guesses"] for t in perfect["tries"]] == [8, 16, 32, 64]
    assert all(t["correct"] == t["guesses"] for t in perfect["tries"])
    beta_ = 0.05 / 4  # Bonferroni over the four k
    q = beta_ ** (1 / 64)
    assert perfect["max_certifiable_epsilon"] == pytest.approx(math.log(q / (1 - q)), abs=1e-4)
    assert perfect["epsilon_lower_bound"] == perfect["max_certifiable_epsilon"]  # every guess right: the power
    assert (perfect["canaries"], perfect["included"], perfect["guesses"]) == (128, 64, 64)
    backwards = one_run_audit(-included.astype(float), included, 0.0)
    assert backwards["epsilon_lower_bound"] == 0.0 and backwards["correct"] == 0
    assert backwards["max_certifiable_epsilon"] == perfect["max_certifiable_epsilon"]  # power does not see the model


def test_each_side_of_the_ranking_counts_by_hand():
    # 16 canaries, k = 1, 2, 4 on each side; the scores rank canary i at place i; the top 4 are 3 in and 1 out,
    # the bottom 4 are 2 in and 2 out
    included = np.array([1, 1, 0, 1] + [1, 0] * 4 + [1, 0, 1, 0], dtype=bool)
    scores = -np.arange(16, dtype=float)
    tries = one_run_audit(scores, included, 0.0)["tries"]
    # k=1: 0 in, 15 out (2 right); k=2: 0, 1 in, 14 out wrongly, 15 out (3); k=4: 3 of 0-3 in, 13 and 15 out (5)
    assert [(t["guesses"], t["correct"]) for t in tries] == [(2, 2), (4, 3), (8, 5)]


def test_no_canaries_no_audit():
    result = one_run_audit(np.array([]), np.array([], dtype=bool), 1e-5)
    assert result["epsilon_lower_bound"] is None and result["max_certifiable_epsilon"] is None


def test_nan_scores_are_abstained_on():
    included = np.array([True, False] * 32)
    scores = np.where(included, np.nan, np.arange(64.0))  # the members' scores are missing: never guessed
    result = one_run_audit(scores, included, 0.0)
    assert result["epsilon_lower_bound"] == 0.0
    assert all(t["guesses"] <= 32 for t in result["tries"])  # 32 scored canaries at most


def test_power_grows_with_canaries_and_canaries_needed_finds_the_first_count_that_reaches_a_target():
    powers = [max_certifiable_epsilon(m, 1e-5) for m in (64, 256, 1024)]
    assert powers == sorted(powers) and powers[0] < 2 < powers[1]
    needed = canaries_needed([2.0, 100.0], 1e-5)
    assert needed["100"] is None
    assert max_certifiable_epsilon(needed["2"], 1e-5) >= 2 > max_certifiable_epsilon(round(needed["2"] * 0.75), 1e-5)


def test_the_default_canary_count_gives_the_audit_a_power_of_at_least_2():
    from pipeline.config import DEFAULT_CANARIES

    for delta in (1e-6, 1e-5, 1e-4):
        assert max_certifiable_epsilon(DEFAULT_CANARIES, delta) >= 2


# --- calibrated scores and exposed records ----------------------------------------------------------------------------


def test_calibration_removes_how_hard_a_record_is_anyway():
    """Records vary in difficulty far more than fine-tuning lowers a member's loss: the plain loss attack is near
    chance, the calibrated one (with the difficulty as the reference loss) separates members perfectly."""
    rng = np.random.default_rng(5)
    difficulty = rng.uniform(0.5, 5.0, 400)
    member = np.arange(400) < 200
    tuned = difficulty - np.where(member, 0.3, 0.0)
    loss_attack = membership_attack(-tuned[member], -tuned[~member])
    calibrated = calibrated_scores(difficulty, tuned)
    calibrated_attack = membership_attack(calibrated[member], calibrated[~member])
    assert loss_attack["auc"] < 0.6 and calibrated_attack["auc"] == 1.0


def test_exposed_records_are_the_members_beyond_the_nonmembers_quantile():
    nonmembers = np.arange(1000, dtype=float)  # the 99.9th percentile is 998.001
    members = np.array([5.0, 998.0, 998.5, 2000.0, np.nan])
    beyond, threshold = exposed_records(members, nonmembers)
    assert threshold == pytest.approx(np.quantile(nonmembers, 0.999))
    assert beyond.tolist() == [False, False, True, True, False]
    assert exposed_records(members, np.array([]))[1] is None


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
