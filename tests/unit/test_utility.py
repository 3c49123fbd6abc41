"""Utility figures on small label lists, checked against sklearn and by hand."""

import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from pipeline.evaluation.utility import classification_utility, language_model_utility, majority_baseline

LABELS = ["billing", "shipping", "refund"]
TRUTH = ["billing", "billing", "billing", "shipping", "shipping", "refund", "refund", "refund", "refund", "billing"]
PREDICTED = [
    "billing",
    "shipping",
    "billing",
    "shipping",
    "billing",
    "refund",
    "refund",
    "shipping",
    "refund",
    "billing",
]


def test_per_class_precision_recall_f1_and_support_match_sklearn():
    result = classification_utility(TRUTH, PREDICTED, LABELS)
    assert result["rows"] == 10
    assert result["accuracy"] == pytest.approx(7 / 10)
    precision = precision_score(TRUTH, PREDICTED, labels=LABELS, average=None, zero_division=0)
    recall = recall_score(TRUTH, PREDICTED, labels=LABELS, average=None, zero_division=0)
    f1 = f1_score(TRUTH, PREDICTED, labels=LABELS, average=None, zero_division=0)
    for i, label in enumerate(LABELS):
        entry = result["per_class"][label]
        assert entry["precision"] == pytest.approx(precision[i], abs=1e-5)
        assert entry["recall"] == pytest.approx(recall[i], abs=1e-5)
        assert entry["f1"] == pytest.approx(f1[i], abs=1e-5)
        assert entry["support"] == TRUTH.count(label)
    # billing by hand: 3 of 4 billing predictions right, 3 of 4 billing rows found
    assert result["per_class"]["billing"] == {"precision": 0.75, "recall": 0.75, "f1": 0.75, "support": 4}
    assert result["macro_f1"] == pytest.approx(f1.mean(), abs=1e-5)
    assert list(result["per_class"]) == LABELS  # in the given order


def test_confusion_matrix_rows_are_true_columns_are_predicted():
    result = classification_utility(TRUTH, PREDICTED, LABELS)
    assert result["confusion_matrix"]["labels"] == LABELS
    assert result["confusion_matrix"]["counts"] == [
        # predicted: billing, shipping, refund
        [3, 1, 0],  # true billing
        [1, 1, 0],  # true shipping
        [0, 1, 3],  # true refund
    ]


def test_confusion_matrix_orientation_is_not_transposed():
    # one refund row predicted as billing, nothing else confused: the 1 sits in row refund, column billing
    counts = classification_utility(["refund", "billing"], ["billing", "billing"], LABELS)["confusion_matrix"][
        "counts"
    ]
    assert counts[2][0] == 1 and counts[0][2] == 0


def test_a_label_never_predicted_gets_precision_zero_without_warnings():
    truth = ["billing", "refund", "shipping", "refund"]
    predicted = ["billing", "billing", "shipping", "shipping"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = classification_utility(truth, predicted, LABELS)
    assert result["per_class"]["refund"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert result["per_class"]["billing"]["precision"] == 0.5


def test_a_label_absent_from_the_test_split_has_zero_support_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = classification_utility(["billing", "shipping"], ["billing", "shipping"], LABELS)
    assert result["per_class"]["refund"]["support"] == 0
    assert result["confusion_matrix"]["counts"][2] == [0, 0, 0]
    assert result["accuracy"] == 1.0


def test_empty_input_gives_no_figures():
    result = classification_utility([], [], LABELS)
    assert result == {
        "rows": 0,
        "accuracy": None,
        "macro_f1": None,
        "per_class": {},
        "confusion_matrix": {"labels": LABELS, "counts": []},
    }


def test_majority_baseline_predicts_the_most_common_training_label():
    train = ["shipping", "billing", "shipping", "refund", "shipping"]
    result = majority_baseline(train, TRUTH)
    assert result["label"] == "shipping"
    assert result["accuracy"] == pytest.approx(2 / 10)


def test_majority_baseline_ties_go_to_the_alphabetically_first_label():
    assert majority_baseline(["shipping", "billing", "billing", "shipping"], ["billing"]) == {
        "label": "billing",
        "accuracy": 1.0,
    }


@pytest.mark.parametrize(("train", "truth"), [([], ["billing"]), (["billing"], [])])
def test_majority_baseline_without_rows(train, truth):
    assert majority_baseline(train, truth) == {"label": None, "accuracy": None}


def test_language_model_perplexity_is_exp_of_the_mean_loss():
    losses = np.array([1.2, 2.5, 0.7, 3.1])
    result = language_model_utility(losses)
    assert result["rows"] == 4
    assert result["loss"] == pytest.approx(losses.mean(), abs=1e-5)
    assert result["perplexity"] == pytest.approx(math.exp(1.875), abs=1e-3)
    assert result["perplexity"] != pytest.approx(
        np.mean(np.exp(losses)), abs=1e-3
    )  # not the mean of per-row perplexities


def test_language_model_utility_without_rows():
    assert language_model_utility(np.array([])) == {"rows": 0, "loss": None, "perplexity": None}
