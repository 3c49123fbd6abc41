"""Privacy leakage: membership inference, canary exposure, empirical epsilon, regurgitation, contamination.

Scores are "how member-like": the negative per-example loss (a model fits
what it trained on better). Inputs are losses and keys, never texts, so
nothing here can put a record into the report.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit
from scipy.stats import binom
from sklearn.metrics import roc_auc_score, roc_curve

ROC_POINTS = 200
LOW_FPRS = (0.01, 0.001)
EXPOSED_QUANTILE = 0.999  # a member scoring above this share of non-members counts as exposed
AUDIT_CONFIDENCE = 0.95
MAX_AUDITED_EPSILON = 50.0
NEEDED_FOR = (2.0, 4.0, 8.0)  # the stage says how many canaries would certify these
WORD = re.compile(r"\w+")


def membership_attack(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> dict[str, Any]:
    """A threshold attack on scores where higher means "more member-like": ROC AUC, TPR at low FPRs (with the FPR
    resolution the non-members allow), and the ROC curve. The loss attack passes -loss; the calibrated attack
    passes `calibrated_scores`."""
    members, nonmembers = _finite(member_scores), _finite(nonmember_scores)
    if len(members) == 0 or len(nonmembers) == 0:
        return {
            "members": len(members),
            "nonmembers": len(nonmembers),
            "auc": None,
            "tpr_at_fpr": {},
            "roc": {"fpr": [], "tpr": []},
        }
    truth = np.concatenate([np.ones(len(members)), np.zeros(len(nonmembers))])
    scores = np.concatenate([members, nonmembers])
    fpr, tpr, _ = roc_curve(truth, scores)
    resolution = 1 / len(nonmembers)
    at = {
        f"{target:g}": {"tpr": round(float(tpr[fpr <= target].max()), 5), "below_resolution": target < resolution}
        for target in LOW_FPRS
    }
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), ROC_POINTS)).round().astype(int))
    return {
        "members": len(members),
        "nonmembers": len(nonmembers),
        "auc": round(float(roc_auc_score(truth, scores)), 5),
        "fpr_resolution": round(resolution, 6),
        "tpr_at_fpr": at,
        "mean_score": {"members": round(float(members.mean()), 5), "nonmembers": round(float(nonmembers.mean()), 5)},
        "roc": {"fpr": [round(float(v), 5) for v in fpr[keep]], "tpr": [round(float(v), 5) for v in tpr[keep]]},
    }


def calibrated_scores(reference_losses: np.ndarray, tuned_losses: np.ndarray) -> np.ndarray:
    """How much fine-tuning lowered each record's loss (reference minus tuned): the reference model's loss stands for
    how hard the record is anyway, so a record that is merely easy no longer looks like a member (Carlini et al.,
    "Membership Inference Attacks From First Principles", 2022; Watson et al., "On the Importance of Difficulty
    Calibration in Membership Inference Attacks", 2022)."""
    return np.asarray(reference_losses, dtype=float) - np.asarray(tuned_losses, dtype=float)


def exposed_records(
    member_scores: np.ndarray, nonmember_scores: np.ndarray, quantile: float = EXPOSED_QUANTILE
) -> tuple[np.ndarray, float | None]:
    """Members whose score is beyond the non-members' `quantile`: a mask over the members, and the threshold."""
    nonmembers = _finite(nonmember_scores)
    if len(nonmembers) == 0:
        return np.zeros(len(member_scores), dtype=bool), None
    threshold = float(np.quantile(nonmembers, quantile))
    return np.nan_to_num(np.asarray(member_scores, dtype=float), nan=-np.inf) > threshold, threshold


# --- the one-run epsilon audit ----------------------------------------------------------------------------------------
#
# Steinke, Nasr and Jagielski, "Privacy Auditing with One (1) Training Run", NeurIPS 2023 (arXiv:2305.08846),
# Theorem 3.1 and Proposition 5.2 with its p-value algorithm (their appendix). m canaries are each included in
# training independently with probability 1/2; the auditor guesses "included" for the k best-scored, "left out"
# for the k worst-scored, and abstains on the rest: r = 2k guesses, v of them right. Under (epsilon, delta)-DP,
#
#     P[v or more right] <= P[Binomial(r, q) >= v] + 2 m delta * alpha,    q = e^epsilon / (1 + e^epsilon),
#     alpha = max over i in 1..v of P[v - i <= Binomial(r, q) < v] / i,
#
# so epsilon is ruled out at confidence 1 - beta when that p-value is below beta; the lower bound is the largest
# epsilon ruled out. The auditor tries each k of a grid fixed before any score is seen, at beta / (grid size) each
# (Bonferroni), so the best of them holds at the stated confidence.

GUESS_FRACTIONS = (1 / 32, 1 / 16, 1 / 8, 1 / 4)  # the auditor's k on each side, as shares of the canaries


def one_run_p_value(m: int, r: int, v: int, epsilon: float, delta: float) -> float:
    """The probability of v or more right guesses out of r, among m canaries, under (epsilon, delta)-DP."""
    if not 0 <= v <= r <= m:
        raise ValueError(f"need 0 <= v <= r <= m, got v={v}, r={r}, m={m}")
    q = float(expit(epsilon))  # the accuracy of epsilon-DP randomised response
    tail = float(binom.sf(v - 1, r, q))
    below = binom.pmf(np.arange(v - 1, -1, -1), r, q)  # P[Binomial = v - i] for i = 1..v
    alpha = float(np.max(np.cumsum(below) / np.arange(1, v + 1))) if v else 0.0
    return min(1.0, tail + alpha * delta * 2 * m)


def one_run_lower_bound(m: int, r: int, v: int, delta: float, beta: float) -> float:
    """The largest epsilon the audit rules out at confidence 1 - beta (0 when it rules out none)."""
    if r == 0 or v == 0 or one_run_p_value(m, r, v, 0.0, delta) >= beta:
        return 0.0
    high = MAX_AUDITED_EPSILON
    if one_run_p_value(m, r, v, high, delta) < beta:
        return high
    return float(brentq(lambda eps: one_run_p_value(m, r, v, eps, delta) - beta, 0.0, high, xtol=1e-6))


def guess_counts(m: int) -> list[int]:
    return sorted({max(1, round(m * share)) for share in GUESS_FRACTIONS}) if m else []


@functools.lru_cache(maxsize=256)
def max_certifiable_epsilon(m: int, delta: float, confidence: float = AUDIT_CONFIDENCE) -> float:
    """The audit's power: its bound had every guess been right, whatever the model."""
    counts = guess_counts(m)
    if not counts:
        return 0.0
    beta = (1 - confidence) / len(counts)
    return max(one_run_lower_bound(m, 2 * k, 2 * k, delta, beta) for k in counts)


def canaries_needed(
    targets: Iterable[float], delta: float, confidence: float = AUDIT_CONFIDENCE
) -> dict[str, int | None]:
    """For each target epsilon, the fewest canaries (on a grid rising by about a third) whose audit could certify it;
    None when no count can at this delta: the 2 m delta term grows with m and eventually swamps the test."""
    grid = _power_grid(delta, confidence)
    return {f"{target:g}": next((m for m, power in grid if power >= target), None) for target in targets}


@functools.lru_cache(maxsize=32)
def _power_grid(delta: float, confidence: float) -> tuple[tuple[int, float], ...]:
    counts = [int(c) for c in np.unique(np.geomspace(16, 1 << 16, 33).round())]
    return tuple((m, max_certifiable_epsilon(m, delta, confidence)) for m in counts)


def one_run_audit(
    scores: np.ndarray, included: np.ndarray, delta: float, confidence: float = AUDIT_CONFIDENCE
) -> dict[str, Any]:
    """The one-run audit of the canaries: scores (higher: more member-like; NaN: abstain) and the recorded inclusion
    draw. For each k of the grid: "included" for the k highest scores, "left out" for the k lowest."""
    scores = np.asarray(scores, dtype=float)
    included = np.asarray(included, dtype=bool)
    m = len(scores)
    counts = guess_counts(m)
    if not counts:
        return {"epsilon_lower_bound": None, "max_certifiable_epsilon": None, "reason": "no canaries"}
    beta = (1 - confidence) / len(counts)
    scored = np.flatnonzero(np.isfinite(scores))
    order = scored[np.argsort(-scores[scored], kind="stable")]
    tries = []
    for k in counts:
        top, bottom = order[:k], order[max(k, len(order) - k) :]
        right = int(included[top].sum() + (~included[bottom]).sum())
        guesses = len(top) + len(bottom)
        tries.append(
            {
                "guesses": guesses,
                "correct": right,
                "epsilon_lower_bound": round(one_run_lower_bound(m, guesses, right, delta, beta), 5),
            }
        )
    best = max(tries, key=lambda t: t["epsilon_lower_bound"])
    power = max_certifiable_epsilon(m, delta, confidence)
    return {
        "method": "one run (Steinke, Nasr and Jagielski 2023): k top-scored guessed in, k lowest out, Bonferroni over k",
        "epsilon_lower_bound": best["epsilon_lower_bound"],
        "max_certifiable_epsilon": round(power, 5),
        "confidence": confidence,
        "canaries": m,
        "included": int(included.sum()),
        "guesses": best["guesses"],
        "correct": best["correct"],
        "tries": tries,
        "delta": delta,
        "canaries_needed": canaries_needed([t for t in NEEDED_FOR if t > power], delta, confidence),
    }


def exposure(true_loss: float, candidate_losses: np.ndarray) -> float:
    """The Secret Sharer's exposure, estimated from sampled candidates: log2(candidates + 1) - log2(rank of the true secret)."""
    rank = 1 + int(np.sum(candidate_losses < true_loss))
    return round(math.log2(len(candidate_losses) + 1) - math.log2(rank), 5)


def word_ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = WORD.findall(text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def training_ngrams(texts: Iterable[str], n: int) -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    for text in texts:
        found |= word_ngrams(text, n)
    return found


def contamination(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, Any]:
    """Test rows whose normalised text (exact) or duplicate cluster (near) also occurs in train, from the check stage's keys."""
    result: dict[str, Any] = {"test_rows": len(test)}
    contaminated = pd.Series(False, index=test.index)
    measured = False
    for name, column in (("exact", "text_key"), ("near", "cluster_id")):
        if column in train.columns and column in test.columns:
            shared = test[column].isin(set(train[column].dropna()))
            result[name] = int(shared.sum())
            contaminated |= shared
            measured = True
        else:
            result[name] = None
    result["contaminated_test_rows"] = int(contaminated.sum()) if measured else None
    return result


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]
