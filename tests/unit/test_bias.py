"""Data-level bias figures, checked against an independent pandas / scipy computation."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency
from scipy.stats.contingency import association

from pipeline.quality.bias import MISSING, group_values, identity_terms, load_lexicon, measure, measure_all


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    gender = rng.choice(["female", "male", "nonbinary"], size=600, p=[0.5, 0.45, 0.05])
    # billing more likely for women: a known, planted gap
    label = np.where(rng.random(600) < np.where(gender == "female", 0.6, 0.4), "billing", "shipping")
    age = rng.choice(["18-34", "35+", None], size=600, p=[0.5, 0.45, 0.05])
    return pd.DataFrame({"label": label, "gender": gender, "age": age})


def test_rates_gaps_and_disparate_impact_match_pandas(frame):
    result = measure(frame["label"], frame["gender"], min_group_rows=40)
    rates = pd.crosstab(frame["gender"], frame["label"], normalize="index")
    counts = frame["gender"].value_counts()
    judged = counts[counts >= 40].index
    assert result["too_small_to_judge"] == ["nonbinary"]
    for group in counts.index:
        assert result["groups"][group]["rows"] == counts[group]
        assert result["groups"][group]["label_rates"]["billing"] == pytest.approx(
            rates.loc[group, "billing"], abs=1e-4
        )
    billing = rates.loc[judged, "billing"]
    assert result["per_label"]["billing"]["largest_gap"] == pytest.approx(billing.max() - billing.min(), abs=1e-4)
    assert result["per_label"]["billing"]["disparate_impact"] == pytest.approx(billing.min() / billing.max(), abs=1e-4)
    assert result["per_label"]["billing"]["highest"] == "female"


def test_chi_square_and_cramers_v_match_scipy(frame):
    result = measure(frame["label"], frame["gender"], min_group_rows=1)
    table = pd.crosstab(frame["gender"], frame["label"]).to_numpy()
    statistic, p_value, dof, _ = chi2_contingency(table, correction=False)
    assert result["chi_square"]["statistic"] == pytest.approx(statistic, abs=1e-3)
    assert result["chi_square"]["p_value"] == pytest.approx(p_value, rel=1e-3)
    assert result["chi_square"]["dof"] == dof
    assert result["chi_square"]["cramers_v"] == pytest.approx(association(table, method="cramer"), abs=1e-4)


def test_weights_weight_every_count():
    labels, groups = ["a", "b", "a", "b"], ["x", "x", "y", "y"]
    result = measure(labels, groups, min_group_rows=1, weights=[3.0, 1.0, 1.0, 1.0])
    assert result["groups"]["x"]["label_rates"]["a"] == 0.75 and result["groups"]["x"]["share"] == pytest.approx(
        4 / 6, abs=1e-4
    )
    assert result["chi_square"]["on"] == "counts"  # whole-number weights
    assert measure(labels, groups, min_group_rows=1, weights=[1.5, 1, 1, 1])["chi_square"]["on"] == "weighted counts"


@pytest.mark.parametrize(
    "groups, note",
    [
        (["only"] * 6, "1 group(s)"),
        (["a", "b", "c", "d", "e", "f"], "0 group(s)"),
    ],
)
def test_nothing_to_compare_is_said(groups, note):
    result = measure(["x", "y"] * 3, groups, min_group_rows=2)
    assert note in result["note"] and result["per_label"] == {} and result["largest_gap"] is None


def test_missing_values_are_a_group_and_intersections_are_measured(frame):
    assert (group_values(frame, ["age"]) == MISSING).sum() == frame["age"].isna().sum()
    result = measure_all(frame, "label", ["gender", "age"], min_group_rows=10)
    assert list(result) == ["gender", "age", "gender & age"]
    assert "female & 18-34" in result["gender & age"]["groups"]
    assert sum(g["rows"] for g in result["gender & age"]["groups"].values()) == len(frame)


def test_identity_terms_are_counted_per_group_of_terms():
    texts = ["My husband called", "She said her order was late", "nothing here", "Ask Mr Smith"]
    result = identity_terms(texts, ["a", "b", "a", "b"], load_lexicon("gender", base_dir=None))
    assert result["male"]["rows"] == 2 and result["female"]["rows"] == 1 and result["female"]["mentions"] == 2
    assert result["female"]["label_rates"] == {"a": 0.0, "b": 1.0}
    assert result["female_names"]["rows"] == 0
    assert math.isclose(result["male"]["row_share"], 0.5)
