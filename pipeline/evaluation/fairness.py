"""Model bias per protected attribute, with fairlearn's MetricFrame.

Multi-class predictions are looked at one class at a time (one-vs-rest):
selection rate per group, demographic parity difference and equalized odds
difference per class; the attribute's figure is the largest over classes.
Groups with fewer than `min_group_rows` test rows are listed but left out of
the differences (their rates are noise).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, count, demographic_parity_difference, selection_rate
from sklearn.metrics import accuracy_score, f1_score

from pipeline.quality.bias import group_values


def model_bias(
    frame: pd.DataFrame,
    truth: np.ndarray,
    predicted: np.ndarray,
    attributes: list[str],
    labels: list[str],
    *,
    min_group_rows: int,
) -> dict[str, Any]:
    return {
        attribute: attribute_bias(
            group_values(frame, [attribute]).to_numpy(), truth, predicted, labels, min_group_rows=min_group_rows
        )
        for attribute in attributes
    }


def attribute_bias(
    groups: np.ndarray, truth: np.ndarray, predicted: np.ndarray, labels: list[str], *, min_group_rows: int
) -> dict[str, Any]:
    groups = np.asarray(groups).astype(str)
    frame = MetricFrame(
        # macro-F1 over the classes a group has (true or predicted), so groups with different class mixes compare
        metrics={
            "rows": count,
            "accuracy": accuracy_score,
            "macro_f1": partial(f1_score, average="macro", zero_division=0),
        },
        y_true=truth,
        y_pred=predicted,
        sensitive_features=pd.Series(groups, name="group"),
    )
    by_group = {
        str(group): {
            "rows": int(row["rows"]),
            "accuracy": _round(row["accuracy"]),
            "macro_f1": _round(row["macro_f1"]),
        }
        for group, row in frame.by_group.iterrows()
    }
    measured = [group for group, row in by_group.items() if row["rows"] >= min_group_rows]
    keep = np.isin(groups, measured)
    per_class: dict[str, Any] = {}
    for label in labels:
        is_true, is_predicted = truth == label, predicted == label
        rates = MetricFrame(
            metrics=selection_rate,
            y_true=is_true,
            y_pred=is_predicted,
            sensitive_features=pd.Series(groups, name="group"),
        ).by_group
        entry: dict[str, Any] = {"selection_rate": {str(g): _round(v) for g, v in rates.items()}}
        if len(measured) >= 2:
            entry["demographic_parity_difference"] = _round(
                demographic_parity_difference(is_true[keep], is_predicted[keep], sensitive_features=groups[keep])
            )
            entry["equalized_odds_difference"] = _round(
                equalized_odds_gap(is_true[keep], is_predicted[keep], groups[keep])
            )
        per_class[label] = entry
    worst = {}
    for key in ("demographic_parity_difference", "equalized_odds_difference"):
        values = {label: entry[key] for label, entry in per_class.items() if entry.get(key) is not None}
        worst[key] = {"value": max(values.values()), "class": max(values, key=values.get)} if values else None
    accuracies = [by_group[g]["accuracy"] for g in measured if by_group[g]["accuracy"] is not None]
    return {
        "groups": by_group,
        "measured_groups": measured,
        "accuracy_gap": _round(max(accuracies) - min(accuracies)) if len(accuracies) >= 2 else None,
        "per_class": per_class,
        "demographic_parity_difference": worst["demographic_parity_difference"],
        "equalized_odds_difference": worst["equalized_odds_difference"],
    }


def equalized_odds_gap(is_true: np.ndarray, is_predicted: np.ndarray, groups: np.ndarray) -> float | None:
    """The larger of the TPR gap and the FPR gap between groups (fairlearn's equalized odds difference), over the
    groups where each rate is defined: a group with no positive (or no negative) rows has no TPR (FPR), where
    fairlearn would count it as 0 and report a gap of 1 for a perfect classifier."""
    gaps = []
    for positives in (True, False):
        rates = [
            float(np.mean(is_predicted[(groups == g) & (is_true == positives)]))
            for g in np.unique(groups)
            if np.any((groups == g) & (is_true == positives))
        ]
        if len(rates) >= 2:
            gaps.append(max(rates) - min(rates))
    return max(gaps) if gaps else None


def counterfactual_flips(original: np.ndarray, swapped: np.ndarray) -> dict[str, Any]:
    """How often the prediction changed when gendered terms in the text were swapped."""
    rows = int(len(original))
    changed = int(np.sum(original != swapped))
    return {
        "swapped_rows": rows,
        "changed_predictions": changed,
        "flip_rate": _round(changed / rows) if rows else None,
    }


def _round(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return round(float(value), 5)
