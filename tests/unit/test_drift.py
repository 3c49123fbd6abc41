"""Drift measures on profiles of small frames: a shifted measure is flagged, the others are not."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipeline.config import DriftConfig
from pipeline.quality import drift

ROLES = {"text": ["body"], "label": ["category"], "protected": ["gender"]}
WORDS = "printer invoice refund password login delivery parcel screen account charge order laptop".split()


def frame(rows: int, seed: int, *, billing_share: float = 0.5, words: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "body": [" ".join(rng.choice(WORDS, size=words)) for _ in range(rows)],
            "category": np.where(rng.random(rows) < billing_share, "billing", "technical"),
            "gender": rng.choice(["female", "male"], size=rows),
            "qc_language": "en",
        }
    )


def profile(data: pd.DataFrame, vocabulary_min_records: int = 5, batch_rows: int | None = None) -> dict:
    """The profile of `data`, added in batches of `batch_rows` (all at once by default)."""
    sums = drift.ProfileSums.start(ROLES, list(data.columns))
    step = batch_rows or max(len(data), 1)
    for start in range(0, len(data), step):
        sums.add(data.iloc[start : start + step])
    return sums.profile(vocabulary_min_records)


def compared(current: pd.DataFrame, reference: pd.DataFrame) -> dict:
    profiles = [profile(data) for data in (current, reference)]
    return drift.compare(*profiles, DriftConfig())


def test_an_identical_copy_flags_nothing_and_measures_zero():
    data = frame(400, seed=1)
    found = compared(data.copy(), data)
    assert found["flagged"] == []
    assert found["measures"]["label_distribution"]["psi"] == 0
    assert found["measures"]["text_length"]["js_distance"] == 0
    assert found["measures"]["new_vocabulary"]["share"] == 0


def test_another_sample_of_the_same_distribution_flags_nothing():
    assert compared(frame(400, seed=2), frame(400, seed=3))["flagged"] == []


def test_a_shifted_label_mix_flags_the_labels_only():
    found = compared(frame(400, seed=2, billing_share=0.85), frame(400, seed=3))
    assert found["flagged"] == ["label_distribution"]
    assert found["measures"]["label_distribution"]["psi"] > 0.2


def test_longer_texts_flag_the_text_length_only():
    found = compared(frame(400, seed=2, words=30), frame(400, seed=3))
    assert found["flagged"] == ["text_length"]
    quantiles = found["measures"]["text_length"]["quantiles"]
    assert quantiles["current"]["p50"] > 2 * quantiles["reference"]["p50"]


def test_new_words_new_and_vanished_labels_are_flagged():
    current = frame(200, seed=2)
    current["body"] = current["body"] + " warranty firmware warranty"
    current.loc[:20, "category"] = "returns"
    reference = frame(200, seed=3)
    reference.loc[:20, "category"] = "shipping"
    found = compared(current, reference)
    assert found["measures"]["new_labels"] == {"labels": ["returns"], "flagged": True}
    assert found["measures"]["vanished_labels"] == {"labels": ["shipping"], "flagged": True}
    assert found["measures"]["new_vocabulary"]["new_words"] == 2
    assert found["measures"]["new_vocabulary"]["flagged"]


def test_psi_and_js_agree_with_their_formulas():
    current, reference = {"a": 30, "b": 70}, {"a": 50, "b": 50}
    p, q = np.array([0.3, 0.7]), np.array([0.5, 0.5])
    assert drift.psi(current, reference) == pytest.approx(np.sum((p - q) * np.log(p / q)), abs=1e-5)
    m = (p + q) / 2
    kl = lambda x, y: np.sum(x * np.log2(x / y))  # noqa: E731
    assert drift.js_distance(current, reference) == pytest.approx(np.sqrt((kl(p, m) + kl(q, m)) / 2), abs=1e-5)


def test_the_profile_holds_no_word_of_the_text():
    data = frame(50, seed=4)
    text = json.dumps(profile(data, vocabulary_min_records=2))
    assert not any(word in text for word in WORDS)


def test_a_profile_summed_in_batches_is_the_profile_of_all_the_rows():
    data = frame(101, seed=5)
    data.loc[[3, 50, 99], "gender"] = None
    data.loc[40:, "qc_language"] = "de"
    data.loc[7, "body"] = "<PERSON> wrote: " + data.loc[7, "body"] * 40  # a length past the other rows' bins
    whole = profile(data, vocabulary_min_records=3)
    assert json.dumps(profile(data, vocabulary_min_records=3, batch_rows=7)) == json.dumps(whole)
    assert sum(whole["text_length"]["counts"]) == whole["rows"] == 101
    assert whole["protected"]["gender"]["(missing)"] == 3


def test_the_profile_of_no_rows_has_every_section_and_no_figures():
    empty = profile(frame(0, seed=6))
    assert empty["rows"] == 0 and empty["labels"] == {} and empty["protected"] == {"gender": {}}
    assert empty["text_length"]["quantiles"] == {"p10": None, "p50": None, "p90": None}
    assert empty["vocabulary"]["digests"] == {}


def test_a_model_that_lost_accuracy_on_the_new_data_is_concept_drift():
    thresholds = DriftConfig()
    assert drift.concept_drift(0.9, 0.8, "accuracy", thresholds)["flagged"]
    assert not drift.concept_drift(0.9, 0.88, "accuracy", thresholds)["flagged"]
    assert drift.concept_drift(1.2, 1.5, "loss", thresholds)["change"] == pytest.approx(0.3)
