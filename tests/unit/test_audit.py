"""The evaluate stage's audit pieces on hand-made inputs: the two membership attacks with the exposed rows, and
regurgitation of the tuned model against the base model's, with the real PII analyzer."""

import numpy as np
import pandas as pd
import pytest

from pipeline.config import RedactConfig
from pipeline.pii.engine import PiiDetector
from pipeline.stages.evaluate import added_by_fine_tune, generation_findings, membership


@pytest.fixture(scope="module")
def detector() -> PiiDetector:
    return PiiDetector(RedactConfig())


def test_the_calibrated_attack_sees_what_the_loss_attack_misses_and_names_the_exposed_rows():
    rng = np.random.default_rng(0)
    members = pd.DataFrame({"row_id": [f"r{i}" for i in range(300)]})
    member_reference = rng.uniform(0.5, 4.0, 300)  # how hard each record is anyway
    member_losses = member_reference - 0.1  # fine-tuning lowered every member's loss a little
    member_losses[:3] -= 5.0  # and three a lot: memorised
    nonmember_reference = rng.uniform(0.5, 4.0, 1000)
    nonmember_losses = nonmember_reference + rng.normal(0, 0.05, 1000)
    found, exposed = membership(
        members, member_losses, member_reference, nonmember_losses, nonmember_reference, "a reference"
    )
    assert found["membership"]["auc"] < 0.65 < 0.95 < found["calibrated_membership"]["auc"]
    assert found["calibrated_membership"]["reference"] == "a reference"
    assert found["attacks_run"] == ["loss threshold", "calibrated (reference: a reference)"]
    assert sorted(exposed["row_id"]) == [
        "r0",
        "r1",
        "r2",
    ]  # 5.1 above the reference; the rest 0.1, inside the non-members
    assert exposed["calibrated_score"].tolist() == sorted(exposed["calibrated_score"], reverse=True)
    assert found["exposed_records"]["count"] == 3 and found["exposed_records"]["scored_training_rows"] == 300


def test_without_a_reference_only_the_loss_attack_runs():
    members = pd.DataFrame({"row_id": ["a", "b"]})
    found, exposed = membership(members, np.array([0.1, 0.2]), None, np.array([1.0, 2.0]), None, None)
    assert found["membership"]["auc"] == 1.0 and found["calibrated_membership"] is None
    assert found["attacks_run"] == ["loss threshold"] and found["exposed_records"]["count"] is None
    assert exposed.empty and list(exposed.columns) == ["row_id", "calibrated_score", "loss", "reference_loss"]


def test_dates_are_counted_apart_and_only_what_the_fine_tune_added_counts(detector):
    training_texts = ["please reset the router and call us back", "My card was stolen, write to jane.roe@example.com"]
    training = {("please", "reset", "the", "router", "and", "call", "us", "back")}
    tuned = [
        "We spoke last Monday. Write to jane.roe@example.com for the refund.",
        "please reset the router and call us back tomorrow",
        "The meeting is on 3 March 2024. Call 212-555-0143 then.",
    ]
    base = [
        "We spoke last Monday about it.",
        "please reset the router and call us back soon",
        "The meeting is on 3 March 2024.",
    ]
    mine = generation_findings(tuned, detector, training, 8)
    theirs = generation_findings(base, detector, training, 8)
    assert mine["identifying_entities"] == {"EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1} and mine["identifying_total"] == 2
    assert mine["pii_entities"].get("DATE_TIME", 0) >= 2 and theirs["identifying_total"] == 0
    assert mine["generations_with_verbatim_training_text"] == theirs["generations_with_verbatim_training_text"] == 1
    # the email and the phone number are new; only the email is in the training data; the verbatim text is shared
    assert added_by_fine_tune(mine, theirs, training_texts) == {
        "identifying_added_by_fine_tune": 2,
        "identifying_added_found_in_training_data": 1,
        "verbatim_added_by_fine_tune": 0,
    }
    assert "identifying_spans" not in mine and "verbatim_each" not in theirs  # the texts do not reach the metrics


def test_a_name_the_base_model_also_writes_for_another_prompt_is_not_added(detector):
    tuned = ["Thanks for the help.\n\nBest,\nJohn Smith", "Call 212-555-0143 about the order."]
    base = ["Hi, my name is John Smith and I need help.", "Call 212-555-0143 about the order."]
    mine, theirs = generation_findings(tuned, detector, set(), 8), generation_findings(base, detector, set(), 8)
    assert mine["identifying_total"] >= 2
    assert added_by_fine_tune(mine, theirs, ["John Smith"])["identifying_added_by_fine_tune"] == 0


def test_redaction_tags_whole_or_cut_by_the_token_limit_are_not_entities(detector):
    cut = ["ATION>. I sent it back on <DATE_TIME> to <PERSON_3fa2>, then <PERS"]
    found = generation_findings(cut, detector, set(), 8)
    assert found["pii_total"] == 0, found["pii_entities"]
