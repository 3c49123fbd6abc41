"""Model bias on a tiny hand-made example: every figure is also worked out by hand or with plain numpy / sklearn."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score

from pipeline.evaluation.fairness import attribute_bias, counterfactual_flips, model_bias

LABELS = ["a", "b", "c"]


def _block(group: str, pairs: list[tuple[str, str, int]]) -> list[tuple[str, str, str]]:
    return [(group, true, predicted) for true, predicted, times in pairs for _ in range(times)]


@pytest.fixture
def example() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = [
        # f: 40 rows; truth 20 a / 10 b / 10 c
        *_block("f", [("a", "a", 18), ("a", "b", 2), ("b", "b", 10), ("c", "c", 5), ("c", "a", 5)]),
        # m: 40 rows; truth 10 a / 20 b / 10 c
        *_block("m", [("a", "a", 10), ("b", "b", 14), ("b", "c", 6), ("c", "c", 10)]),
        # x: 5 rows, all wrong; its rates are extreme and must not enter the differences
        *_block("x", [("a", "b", 2), ("b", "b", 0), ("b", "a", 1), ("c", "b", 1), ("c", "a", 1)]),
    ]
    order = np.random.default_rng(0).permutation(len(rows))  # interleave the groups: nothing may depend on row order
    table = np.array(rows, dtype=object)[order]
    return table[:, 0].astype(str), table[:, 1].astype(str), table[:, 2].astype(str)


def test_per_group_rows_accuracy_and_macro_f1(example):
    groups, truth, predicted = example
    result = attribute_bias(groups, truth, predicted, LABELS, min_group_rows=30)
    assert {g: v["rows"] for g, v in result["groups"].items()} == {"f": 40, "m": 40, "x": 5}
    assert result["groups"]["f"]["accuracy"] == pytest.approx(33 / 40)
    assert result["groups"]["m"]["accuracy"] == pytest.approx(34 / 40)
    assert result["groups"]["x"]["accuracy"] == 0.0
    for group in ("f", "m", "x"):
        mask = groups == group
        assert result["groups"][group]["accuracy"] == pytest.approx(
            accuracy_score(truth[mask], predicted[mask]), abs=1e-5
        )
        expected_f1 = f1_score(truth[mask], predicted[mask], average="macro", zero_division=0)
        assert result["groups"][group]["macro_f1"] == pytest.approx(expected_f1, abs=1e-5)
    # f by hand: F1(a) = 2*18/(2*18+2+5), F1(b) = 2*10/(2*10+2), F1(c) = 2*5/(2*5+5)
    assert result["groups"]["f"]["macro_f1"] == pytest.approx((36 / 43 + 20 / 22 + 10 / 15) / 3, abs=1e-5)
    assert result["measured_groups"] == ["f", "m"]
    assert result["accuracy_gap"] == pytest.approx(34 / 40 - 33 / 40, abs=1e-5)  # x (accuracy 0) is not measured


def test_selection_rates_per_class_include_every_group(example):
    groups, truth, predicted = example
    per_class = attribute_bias(groups, truth, predicted, LABELS, min_group_rows=30)["per_class"]
    expected = {  # predictions of the class / rows of the group, counted from the fixture
        "a": {"f": 23 / 40, "m": 10 / 40, "x": 2 / 5},
        "b": {"f": 12 / 40, "m": 14 / 40, "x": 3 / 5},
        "c": {"f": 5 / 40, "m": 16 / 40, "x": 0.0},
    }
    for label in LABELS:
        assert per_class[label]["selection_rate"] == pytest.approx(expected[label], abs=1e-5)
        for group in ("f", "m", "x"):
            mask = groups == group
            assert per_class[label]["selection_rate"][group] == pytest.approx(
                np.mean(predicted[mask] == label), abs=1e-5
            )


def test_demographic_parity_uses_only_the_measured_groups(example):
    groups, truth, predicted = example
    result = attribute_bias(groups, truth, predicted, LABELS, min_group_rows=30)
    assert "x" in result["groups"] and "x" not in result["measured_groups"]
    for label in LABELS:
        rates = [np.mean(predicted[groups == g] == label) for g in ("f", "m")]
        assert result["per_class"][label]["demographic_parity_difference"] == pytest.approx(
            max(rates) - min(rates), abs=1e-5
        )
    assert result["per_class"]["a"]["demographic_parity_difference"] == pytest.approx(13 / 40, abs=1e-5)
    assert result["per_class"]["b"]["demographic_parity_difference"] == pytest.approx(2 / 40, abs=1e-5)  # 0.25 with x
    assert result["per_class"]["c"]["demographic_parity_difference"] == pytest.approx(11 / 40, abs=1e-5)
    assert result["demographic_parity_difference"] == {"value": pytest.approx(13 / 40, abs=1e-5), "class": "a"}


def test_the_small_group_counts_once_it_is_large_enough(example):
    groups, truth, predicted = example
    result = attribute_bias(groups, truth, predicted, LABELS, min_group_rows=5)
    assert result["measured_groups"] == ["f", "m", "x"]
    assert result["per_class"]["b"]["demographic_parity_difference"] == pytest.approx(3 / 5 - 12 / 40, abs=1e-5)
    assert result["accuracy_gap"] == pytest.approx(34 / 40, abs=1e-5)


def _rates(truth, predicted, label):
    positives, negatives = truth == label, truth != label
    return np.mean(predicted[positives] == label), np.mean(predicted[negatives] == label)


def test_equalized_odds_is_the_larger_of_the_tpr_and_fpr_gaps(example):
    groups, truth, predicted = example
    result = attribute_bias(groups, truth, predicted, LABELS, min_group_rows=30)
    by_hand = {  # (TPR gap, FPR gap) between f and m, from the fixture's counts
        "a": (abs(18 / 20 - 10 / 10), abs(5 / 20 - 0 / 30)),
        "b": (abs(10 / 10 - 14 / 20), abs(2 / 30 - 0 / 20)),
        "c": (abs(5 / 10 - 10 / 10), abs(0 / 30 - 6 / 30)),
    }
    for label in LABELS:
        (tpr_f, fpr_f), (tpr_m, fpr_m) = (
            _rates(truth[groups == g], predicted[groups == g], label) for g in ("f", "m")
        )
        assert by_hand[label] == pytest.approx((abs(tpr_f - tpr_m), abs(fpr_f - fpr_m)))
        assert result["per_class"][label]["equalized_odds_difference"] == pytest.approx(max(by_hand[label]), abs=1e-5)
    # the worst class differs from demographic parity's
    assert result["equalized_odds_difference"] == {"value": pytest.approx(0.5, abs=1e-5), "class": "c"}


def test_fewer_than_two_measured_groups_give_no_differences(example):
    groups, truth, predicted = example
    result = attribute_bias(groups, truth, predicted, LABELS, min_group_rows=41)
    assert result["measured_groups"] == []
    assert result["accuracy_gap"] is None
    assert result["demographic_parity_difference"] is None and result["equalized_odds_difference"] is None
    assert all("demographic_parity_difference" not in entry for entry in result["per_class"].values())
    assert set(result["per_class"]["a"]["selection_rate"]) == {"f", "m", "x"}


def test_model_bias_puts_missing_attribute_values_in_their_own_group():
    frame = pd.DataFrame(
        {
            "gender": ["f", "f", None, "m", np.nan, "m"],
            "age": ["18-34", "18-34", "35+", "35+", "35+", None],
        }
    )
    truth = np.array(["a", "b", "a", "b", "a", "b"])
    predicted = np.array(["a", "a", "a", "b", "b", "b"])
    result = model_bias(frame, truth, predicted, ["gender", "age"], ["a", "b"], min_group_rows=2)
    assert set(result) == {"gender", "age"}
    gender = result["gender"]
    assert gender["groups"] == {
        "(missing)": {"rows": 2, "accuracy": 0.5, "macro_f1": pytest.approx(1 / 3, abs=1e-5)},
        "f": {"rows": 2, "accuracy": 0.5, "macro_f1": pytest.approx(1 / 3, abs=1e-5)},
        # all correct, so macro-F1 1.0: only the classes the group has count (class a never occurs in m)
        "m": {"rows": 2, "accuracy": 1.0, "macro_f1": 1.0},
    }
    assert sorted(gender["measured_groups"]) == ["(missing)", "f", "m"]
    assert gender["per_class"]["a"]["selection_rate"] == {"(missing)": 0.5, "f": 1.0, "m": 0.0}
    assert result["age"]["groups"]["(missing)"]["rows"] == 1
    assert "(missing)" not in result["age"]["measured_groups"]


def test_counterfactual_flips_counts_changed_predictions():
    result = counterfactual_flips(np.array(["a", "b", "c", "a"]), np.array(["a", "c", "c", "b"]))
    assert result == {"swapped_rows": 4, "changed_predictions": 2, "flip_rate": 0.5}
    result = counterfactual_flips(np.array([0, 1, 2]), np.array([0, 1, 1]))
    assert result == {"swapped_rows": 3, "changed_predictions": 1, "flip_rate": pytest.approx(1 / 3, abs=1e-5)}


def test_counterfactual_flips_with_nothing_swapped():
    assert counterfactual_flips(np.array([]), np.array([])) == {
        "swapped_rows": 0,
        "changed_predictions": 0,
        "flip_rate": None,
    }


def test_a_class_missing_from_a_group_does_not_make_a_perfect_classifier_look_unfair():
    # fairlearn counts an undefined rate (no positives, or no negatives, in a group) as 0 and reports a gap of 1 here
    groups = np.array(["f"] * 40 + ["m"] * 40)
    truth = np.array(["a"] * 40 + ["b"] * 40)
    result = attribute_bias(groups, truth, truth.copy(), ["a", "b"], min_group_rows=30)
    assert all(entry["equalized_odds_difference"] is None for entry in result["per_class"].values())
    assert result["equalized_odds_difference"] is None
    mixed = np.array(["a", "b"] * 40)  # both classes in both groups, still perfect: gap 0
    assert (
        attribute_bias(groups, mixed, mixed.copy(), ["a", "b"], min_group_rows=30)["equalized_odds_difference"][
            "value"
        ]
        == 0.0
    )
