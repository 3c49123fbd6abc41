"""Reweighing and resampling make the label independent of the protected group."""

import numpy as np
import pandas as pd
import pytest

from pipeline.quality.mitigation import resample, reweigh


@pytest.fixture
def data() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    gender = rng.choice(["f", "m", "x"], size=2000, p=[0.5, 0.45, 0.05])
    age = rng.choice(["young", "old"], size=2000)
    p_billing = np.where(gender == "f", 0.65, 0.35) + np.where(age == "old", 0.1, 0.0)
    label = np.where(rng.random(2000) < p_billing, "billing", rng.choice(["shipping", "refund"], size=2000))
    return pd.DataFrame({"label": label, "gender": gender, "age": age})


def weighted_rates(frame: pd.DataFrame, group: str, weights) -> pd.DataFrame:
    table = frame.assign(w=weights).pivot_table(index=group, columns="label", values="w", aggfunc="sum", fill_value=0)
    return table.div(table.sum(axis=1), axis=0)


def test_one_attribute_reweighing_is_kamiran_calders(data):
    weights = reweigh(data["label"], [data["gender"]])
    n = len(data)
    expected = (
        data.groupby("gender")["label"].transform("size")
        * data.groupby("label")["gender"].transform("size")
        / (n * data.groupby(["gender", "label"])["label"].transform("size"))
    )
    assert np.allclose(weights, expected, atol=1e-6)


def test_after_reweighing_the_weighted_label_rate_is_the_same_in_every_group(data):
    weights = reweigh(data["label"], [data["gender"], data["age"]])
    overall = data["label"].value_counts(normalize=True)
    for attribute in ("gender", "age"):
        before = pd.crosstab(data[attribute], data["label"], normalize="index")
        after = weighted_rates(data, attribute, weights)
        assert (before.max() - before.min()).max() > 0.05
        assert (after - overall).abs().to_numpy().max() < 0.01  # under 1 point
    assert (
        data.assign(w=weights).groupby("gender")["w"].sum().round(3).to_dict()
        == data["gender"].value_counts().to_dict()
    )


def test_resampling_fills_each_cell_to_its_target_and_is_deterministic(data):
    groups = (data["gender"] + "&" + data["age"]).tolist()
    result = resample(data["label"].tolist(), groups, seed=3)
    assert result == resample(data["label"].tolist(), groups, seed=3)
    assert result != resample(data["label"].tolist(), groups, seed=4)
    drawn = data.iloc[result.positions].assign(group=[groups[i] for i in result.positions])
    counts = drawn.groupby(["group", "label"]).size()
    for (group, label), target in result.targets.items():
        assert abs(counts.get((group, label), 0) - target) <= max(1, 0.05 * target)
    assert len(result.positions) - result.copies + len(result.dropped) == len(data)
    rates = pd.crosstab(drawn["gender"], drawn["label"], normalize="index")
    assert (rates.max() - rates.min()).max() < 0.03


def test_a_cell_without_rows_is_reported_not_invented():
    result = resample(["a", "a", "b", "b", "a", "a"], ["x", "x", "x", "x", "y", "y"], seed=0)
    assert result.unfillable == [("y", "b")]
