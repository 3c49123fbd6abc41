"""Split rules on small frames: folds, units, grouped stratified assignment."""

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import InputError
from pipeline.stages.split import assign_splits, fold_count, split_units


@pytest.mark.parametrize(
    "ratios, folds",
    [
        ((0.8, 0.1, 0.1), 10),
        ((0.7, 0.15, 0.15), 20),
        ((0.6, 0.2, 0.2), 5),
        ((0.5, 0.25, 0.25), 4),
        ((0.9, 0.1, 0.0), 10),
        ((0.98, 0.01, 0.01), 100),
    ],
)
def test_fold_count(ratios, folds):
    assert fold_count(*ratios) == folds


def test_ratios_finer_than_a_hundredth_are_refused():
    with pytest.raises(InputError, match="not multiples of 1/100"):
        fold_count(0.801, 0.099, 0.1)


def test_rows_sharing_a_group_or_a_cluster_form_one_unit():
    records = pd.DataFrame(
        {
            "row_id": ["a", "b", "c", "d", "e"],
            "customer": ["c1", "c1", "c2", None, "c3"],
            "cluster_id": ["a", "b", "b", "d", "d"],
        }
    )
    assert split_units(records, "customer") == [0, 0, 0, 3, 3]  # a-b by customer, b-c by cluster; d-e by cluster
    assert split_units(records, None) == [0, 1, 1, 3, 3]


def test_assignment_is_grouped_stratified_and_deterministic():
    rng = np.random.default_rng(0)
    units = [i // 3 for i in range(3000)]  # 1,000 customers with 3 rows each
    strata = pd.Series(rng.choice(["a", "b", "c"], size=3000, p=[0.6, 0.3, 0.1]))
    splits = assign_splits(strata, units, 10, (0.8, 0.1, 0.1), seed=5)
    assert splits == assign_splits(strata, units, 10, (0.8, 0.1, 0.1), seed=5)
    assert splits != assign_splits(strata, units, 10, (0.8, 0.1, 0.1), seed=6)
    frame = pd.DataFrame({"split": splits, "unit": units, "stratum": strata})
    assert (frame.groupby("unit")["split"].nunique() == 1).all()
    shares = frame["split"].value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.8, abs=0.01) and shares["test"] == pytest.approx(0.1, abs=0.01)
    whole = frame["stratum"].value_counts(normalize=True)
    for _, part in frame.groupby("split"):
        assert (part["stratum"].value_counts(normalize=True) - whole).abs().max() < 0.02


def test_too_few_units_is_a_clear_error():
    with pytest.raises(InputError, match="3 independent unit\\(s\\).*needs at least 10"):
        assign_splits(pd.Series(["a"] * 6), [0, 0, 1, 1, 2, 2], 10, (0.8, 0.1, 0.1), seed=0)


def test_strata_too_fine_for_the_folds_fall_back_to_fewer_columns(caplog):
    from pipeline.stages.split import stratify

    records = pd.DataFrame(
        {"label": ["a", "b"] * 30, "age": [str(i) for i in range(60)], "gender": ["f", "m", "m"] * 20}
    )
    strata, used = stratify(records, "label", ["gender", "age"], folds=10)
    assert used == ["label", "gender"] and strata.value_counts().max() >= 10
    assert "stratifying on label x gender instead" in caplog.text
    strata, used = stratify(records, "label", ["gender"], folds=10)
    assert used == ["label", "gender"]
    tiny = pd.DataFrame({"label": [str(i) for i in range(12)], "gender": ["f"] * 12})
    assert stratify(tiny, "label", ["gender"], folds=10)[1] == []
