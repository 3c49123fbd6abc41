"""Privacy leakage: membership inference, canary exposure, empirical epsilon, regurgitation, contamination.

Scores are "how member-like": the negative per-example loss (a model fits
what it trained on better). Inputs are losses and keys, never texts, so
nothing here can put a record into the report.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from sklearn.metrics import roc_auc_score, roc_curve

ROC_POINTS = 200
LOW_FPRS = (0.01, 0.001)
WORD = re.compile(r"\w+")


def membership_attack(member_losses: np.ndarray, nonmember_losses: np.ndarray) -> dict[str, Any]:
    """The loss-threshold attack: ROC AUC, TPR at low FPRs (with the FPR resolution the non-members allow), and the ROC curve."""
    members, nonmembers = _finite(member_losses), _finite(nonmember_losses)
    if len(members) == 0 or len(nonmembers) == 0:
        return {
            "members": len(members),
            "nonmembers": len(nonmembers),
            "auc": None,
            "tpr_at_fpr": {},
            "roc": {"fpr": [], "tpr": []},
        }
    truth = np.concatenate([np.ones(len(members)), np.zeros(len(nonmembers))])
    scores = -np.concatenate([members, nonmembers])
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
        "mean_loss": {"members": round(float(members.mean()), 5), "nonmembers": round(float(nonmembers.mean()), 5)},
        "roc": {"fpr": [round(float(v), 5) for v in fpr[keep]], "tpr": [round(float(v), 5) for v in tpr[keep]]},
    }


def empirical_epsilon(
    member_losses: np.ndarray, nonmember_losses: np.ndarray, delta: float, *, seed: int, confidence: float = 0.95
) -> dict[str, Any]:
    """A lower bound on epsilon from the attack's error rates (Jagielski et al. 2020), at the given confidence.

    Half of each set picks the loss threshold (the best TPR - FPR); the other
    half measures FPR and FNR, bounded above with (two-sided, so conservative)
    Clopper-Pearson intervals, and
    epsilon >= max(log((1 - delta - FNR) / FPR), log((1 - delta - FPR) / FNR)).
    Choosing the threshold on held-out halves keeps the bound honest; with few
    canaries it is necessarily small.
    """
    rng = np.random.default_rng([seed, 0xE95])
    members, nonmembers = rng.permutation(_finite(member_losses)), rng.permutation(_finite(nonmember_losses))
    m_pick, m_test = members[: len(members) // 2], members[len(members) // 2 :]
    n_pick, n_test = nonmembers[: len(nonmembers) // 2], nonmembers[len(nonmembers) // 2 :]
    if min(len(m_pick), len(m_test), len(n_pick), len(n_test)) == 0:
        return {
            "epsilon_lower_bound": None,
            "max_certifiable_epsilon": None,
            "reason": "too few canaries (need at least 2 inserted and 2 held out)",
        }
    candidates = np.unique(np.concatenate([m_pick, n_pick]))
    gains = [np.mean(m_pick <= t) - np.mean(n_pick <= t) for t in candidates]
    best = int(np.argmax(gains))
    # halfway to the next observed loss, so a held-out member just above the picking half's largest is not cut off
    threshold = (
        float((candidates[best] + candidates[best + 1]) / 2) if best + 1 < len(candidates) else float(candidates[best])
    )
    false_negatives = int(np.sum(m_test > threshold))
    false_positives = int(np.sum(n_test <= threshold))
    return {
        "epsilon_lower_bound": round(
            _bound(false_negatives, len(m_test), false_positives, len(n_test), delta, confidence), 5
        ),
        # the audit's power: the bound had every evaluated canary been told apart, whatever the model
        "max_certifiable_epsilon": round(_bound(0, len(m_test), 0, len(n_test), delta, confidence), 5),
        "confidence": confidence,
        "threshold_loss": round(threshold, 5),
        "evaluated_members": len(m_test),
        "evaluated_nonmembers": len(n_test),
        "true_positive_rate": round(1 - false_negatives / len(m_test), 5),
        "false_positive_rate": round(false_positives / len(n_test), 5),
    }


def _bound(
    false_negatives: int, members: int, false_positives: int, nonmembers: int, delta: float, confidence: float
) -> float:
    """Jagielski et al.'s bound from the error counts, with their exact (Clopper-Pearson) upper confidence limits."""
    fnr_high = binomtest(false_negatives, members).proportion_ci(confidence_level=confidence, method="exact").high
    fpr_high = binomtest(false_positives, nonmembers).proportion_ci(confidence_level=confidence, method="exact").high
    return max(0.0, _log_ratio(1 - delta - fnr_high, fpr_high), _log_ratio(1 - delta - fpr_high, fnr_high))


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


def _log_ratio(numerator: float, denominator: float) -> float:
    if numerator <= 0:
        return 0.0
    return math.log(numerator / max(denominator, 1e-12))
