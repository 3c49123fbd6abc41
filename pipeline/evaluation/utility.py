"""How well the model does its job on the test split."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support


def classification_utility(truth: list[str], predicted: list[str], labels: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix (rows: true, columns: predicted)."""
    if not truth:
        return {
            "rows": 0,
            "accuracy": None,
            "macro_f1": None,
            "per_class": {},
            "confusion_matrix": {"labels": labels, "counts": []},
        }
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=labels, zero_division=0)
    return {
        "rows": len(truth),
        "accuracy": round(float(accuracy_score(truth, predicted)), 5),
        "macro_f1": round(float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)), 5),
        "per_class": {
            label: {
                "precision": round(float(p), 5),
                "recall": round(float(r), 5),
                "f1": round(float(f), 5),
                "support": int(s),
            }
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": {"labels": labels, "counts": confusion_matrix(truth, predicted, labels=labels).tolist()},
    }


def majority_baseline(train_labels: list[str], truth: list[str]) -> dict[str, Any]:
    """The accuracy of predicting the training split's most common label for every row."""
    if not train_labels or not truth:
        return {"label": None, "accuracy": None}
    values, counts = np.unique(np.asarray(train_labels), return_counts=True)
    majority = str(values[counts.argmax()])
    return {"label": majority, "accuracy": round(float(np.mean(np.asarray(truth) == majority)), 5)}


def language_model_utility(losses: np.ndarray) -> dict[str, Any]:
    """Mean response-token loss over the rows with a finite loss (a row with no response token has none), and its perplexity."""
    finite = np.asarray(losses, dtype=float)
    finite = finite[np.isfinite(finite)]
    if len(finite) == 0:
        return {"rows": 0, "loss": None, "perplexity": None}
    loss = float(np.mean(finite))
    return {"rows": int(len(finite)), "loss": round(loss, 5), "perplexity": round(math.exp(min(loss, 50)), 3)}
