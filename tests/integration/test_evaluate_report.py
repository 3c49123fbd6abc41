"""Evaluate and report on a small real run: 600 sample tickets, DP training with canaries, the report in a real browser."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
import yaml
from fairlearn.metrics import demographic_parity_difference
from sklearn.metrics import accuracy_score

from pipeline.__main__ import EXIT_OK, EXIT_POLICY_FAILED, main
from pipeline.artifacts import RunDir
from pipeline.config import DEFAULT_MISSING_VALUES, load_config
from pipeline.stage import run_pipeline
from tests.browser import find_chromium, inspect_report
from tests.integration.runs import DATA_STAGES, SAMPLE_COLUMNS, SMALL_TRAIN, sample_tickets, write_run

SCHEMA = Path(__file__).resolve().parents[2] / "reports" / "report.schema.json"
SECTIONS = [  # a reviewer's order: the verdict, the data, the model; provenance in the appendix
    "summary",
    "accounting",
    "pii",
    "quality",
    "data-bias",
    "splits",
    "training",
    "evaluation",
    "drift",
    "limitations",
    "lineage",
]
POLICY = {
    "max_epsilon": 8.0,
    "require_dp": True,
    "max_membership_auc": 0.75,
    "max_accuracy_gap": None,
    "max_demographic_parity_difference": None,
    "max_contaminated_test_rows": 0,
    "max_forgetting": 1.0,  # listed, so the report carries the figure; a DP classifier moves its encoder a lot
}  # groups of a few dozen test rows: the accuracy gap is noise here
CANARIES = 64


@pytest.fixture(scope="module")
def tickets() -> list[dict[str, str]]:
    return sample_tickets(600)


@pytest.fixture(scope="module")
def finished(tickets, tmp_path_factory) -> tuple[Path, Path, dict]:
    """ingest..report on 600 tickets, with canaries; returns the config path, the run directory and the manifest."""
    folder = tmp_path_factory.mktemp("evaluate")
    columns = SAMPLE_COLUMNS
    path = write_run(
        folder,
        tickets,
        columns,
        {
            "train": {**SMALL_TRAIN, "canaries": {"count": CANARIES}},
            "evaluate": {"min_group_rows": 10},
            "report": {"policy": POLICY},
        },
    )
    manifest = run_pipeline(load_config(path), RunDir(folder / "run"), [*DATA_STAGES, "train", "evaluate", "report"])
    return path, folder / "run", manifest


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "evaluate" / "metrics.json").read_text())


def test_utility_is_what_scikit_learn_computes_from_the_saved_predictions(finished):
    _, run_dir, _ = finished
    found = metrics(run_dir)
    predictions = pd.read_parquet(run_dir / "evaluate" / "predictions.parquet")
    test = pd.read_parquet(run_dir / "split" / "test.parquet")
    scored = predictions[predictions["split"] == "test"]
    assert scored["row_id"].tolist() == test["row_id"].tolist()
    assert scored["label"].tolist() == test["Category"].tolist()
    assert found["utility"]["accuracy"] == pytest.approx(
        accuracy_score(scored["label"], scored["predicted"]), abs=1e-5
    )
    assert found["utility"]["accuracy"] > found["utility"]["majority_baseline"]["accuracy"] + 0.25
    assert sum(map(sum, found["utility"]["confusion_matrix"]["counts"])) == len(test)
    assert set(predictions.columns) == {
        "row_id",
        "split",
        "label",
        "predicted",
        "loss",
        "reference_loss",
    }  # no text leaves the run this way
    assert np.isfinite(predictions["loss"]).all()


def test_model_bias_agrees_with_fairlearn_on_the_predictions(finished):
    _, run_dir, _ = finished
    bias = metrics(run_dir)["model_bias"]["Gender"]
    predictions = pd.read_parquet(run_dir / "evaluate" / "predictions.parquet").query("split == 'test'")
    test = pd.read_parquet(run_dir / "split" / "test.parquet")
    groups = test["Gender"].astype("string").fillna("(missing)").astype(str).to_numpy()
    keep = np.isin(groups, bias["measured_groups"])
    assert len(bias["measured_groups"]) >= 2
    for label, entry in bias["per_class"].items():
        expected = demographic_parity_difference(
            (predictions["label"] == label).to_numpy()[keep],
            (predictions["predicted"] == label).to_numpy()[keep],
            sensitive_features=groups[keep],
        )
        assert entry["demographic_parity_difference"] == pytest.approx(expected, abs=1e-5)
    worst = max(entry["demographic_parity_difference"] for entry in bias["per_class"].values())
    assert bias["demographic_parity_difference"]["value"] == pytest.approx(worst)


def test_membership_attack_and_canaries_stay_within_the_claimed_epsilon(finished):
    _, run_dir, _ = finished
    found = metrics(run_dir)
    ledger = json.loads((run_dir / "train" / "privacy_ledger.json").read_text())
    train = pd.read_parquet(run_dir / "split" / "train.parquet")
    test = pd.read_parquet(run_dir / "split" / "test.parquet")
    membership = found["membership"]
    assert membership["members"] == len(train) and membership["nonmembers"] == len(test)
    assert 0.3 < membership["auc"] < 0.75  # DP at epsilon 8 on a few hundred rows: near chance
    assert membership["roc"]["fpr"][0] == 0 and membership["roc"]["tpr"][-1] == 1
    calibrated = found["calibrated_membership"]
    assert calibrated["members"] == len(train) and calibrated["nonmembers"] == len(test)
    assert 0.3 < calibrated["auc"] < 0.75 and "validation split" in calibrated["reference"]
    assert found["attacks_run"][0] == "loss threshold" and found["attacks_run"][1].startswith("calibrated")
    canaries = found["canaries"]
    planted = pd.read_parquet(run_dir / "train" / "canaries.parquet")
    inserted = int(planted["inserted"].sum())
    assert len(planted) == canaries["count"] == CANARIES and 0 < inserted < CANARIES
    assert (canaries["inserted"], canaries["held_out"]) == (inserted, CANARIES - inserted)
    assert ledger["training_rows"] == len(train) + inserted and ledger["canaries"]["inserted"] == inserted
    audit = canaries["empirical_epsilon"]
    assert audit["canaries"] == CANARIES and audit["included"] == inserted and canaries["audit_score"] == "loss"
    assert 0 <= audit["epsilon_lower_bound"] <= audit["max_certifiable_epsilon"] < ledger["epsilon_spent"]
    assert ledger["epsilon_spent"] == canaries["claimed_epsilon"] == canaries["claimed_epsilon_per_canary"]
    assert not set(planted["canary_id"]) & set(train["row_id"])
    assert found["contamination"] == {"test_rows": len(test), "exact": 0, "near": 0, "contaminated_test_rows": 0}


def test_the_exposed_rows_are_the_training_rows_beyond_the_nonmembers_999th_percentile(finished):
    _, run_dir, _ = finished
    found = metrics(run_dir)
    predictions = pd.read_parquet(run_dir / "evaluate" / "predictions.parquet")
    exposed = pd.read_parquet(run_dir / "evaluate" / "exposed_rows.parquet")
    assert list(exposed.columns) == ["row_id", "calibrated_score", "loss", "reference_loss"]  # no text
    scores = predictions["reference_loss"] - predictions["loss"]
    train_scores, test_scores = scores[predictions["split"] == "train"], scores[predictions["split"] == "test"]
    threshold = float(np.quantile(test_scores.dropna(), 0.999))
    expected = predictions.loc[(predictions["split"] == "train") & (scores > threshold), "row_id"]
    assert sorted(exposed["row_id"]) == sorted(expected)
    assert found["exposed_records"]["count"] == len(exposed)
    assert found["exposed_records"]["scored_training_rows"] == len(train_scores)
    assert found["exposed_records"]["threshold"] == pytest.approx(threshold, abs=1e-5)


def test_report_json_validates_against_the_committed_schema(finished):
    _, run_dir, manifest = finished
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    report = json.loads((run_dir / "report" / "report.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(report)
    assert report["summary"]["verdict"] == manifest["stages"]["report"]["stats"]["verdict"] == "PASS"
    assert {c["name"] for c in report["summary"]["checks"]} >= {
        "dp_required",
        "max_epsilon",
        "max_membership_auc",
        "empirical_epsilon_within_claim",
    }
    accounted = report["row_accounting"]["stages"][0]
    assert accounted["stage"] == "ingest" and accounted["total"] == 600 == accounted["kept"] + accounted["quarantined"]


def test_schema_rejects_a_report_with_a_wrong_verdict_or_quoted_values(finished):
    _, run_dir, _ = finished
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    report = json.loads((run_dir / "report" / "report.json").read_text())
    assert not list(validator.iter_errors(report))
    assert list(validator.iter_errors({**report, "summary": {**report["summary"], "verdict": "OK"}}))
    leaky = json.loads(json.dumps(report))
    leaky["data_quality"]["expectations"][0]["partial_unexpected_list"] = ["a value"]
    assert list(validator.iter_errors(leaky))


@pytest.mark.skipif(
    find_chromium() is None, reason="needs Chromium (Debian: apt-get install chromium; .ci/run installs it)"
)
def test_the_html_report_renders_offline_in_chromium_with_every_section_and_plot(finished, tmp_path):
    _, run_dir, _ = finished
    html = run_dir / "report" / "report.html"
    seen = inspect_report(html, pdf_path=tmp_path / "report.pdf")
    assert seen.problems() == []  # no console errors, no network requests, no broken images
    assert seen.section_ids == SECTIONS
    assert len(seen.headings) == len(SECTIONS)
    assert seen.headings[-1] == "Appendix: data lineage, packages and configuration"
    assert (
        html.read_text().count('<img src="data:image/png;base64,') == 6
    )  # data bias, training curve, confusion, group accuracy, ROC, forgetting
    assert seen.pdf_pages >= 4


def test_the_model_card_is_a_valid_hugging_face_card_beside_the_adapter(finished):
    from huggingface_hub import ModelCard

    _, run_dir, _ = finished
    card = ModelCard.load(run_dir / "train" / "adapter" / "README.md")
    assert card.data.library_name == "peft" and card.data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert "differential-privacy" in card.data.tags
    ledger = json.loads((run_dir / "train" / "privacy_ledger.json").read_text())
    assert f"epsilon {round(ledger['epsilon_spent'], 4)}" in card.text


def test_the_report_holds_no_identifier_value_of_any_row(finished, tickets):
    _, run_dir, _ = finished
    outputs = [run_dir / "report" / name for name in ("report.html", "report.json", "summary.md")] + [
        run_dir / "train" / "adapter" / "README.md"
    ]
    text = "\n".join(path.read_text(encoding="utf-8") for path in outputs).lower()
    missing = {token.lower() for token in DEFAULT_MISSING_VALUES}  # "N/A" in a phone column is not a phone number
    values = {
        row[column].strip().lower()
        for row in tickets
        for column in ("Customer Name", "Customer Email", "Customer Phone", "Customer ID")
        if row[column].strip().lower() not in missing
    }
    names = {part for row in tickets for part in row["Customer Name"].lower().split() if len(part) > 3}
    assert values and not [value for value in values if value in text]
    words = set(text.replace("<", " ").replace(">", " ").split())
    assert not names & words


def test_a_policy_violation_turns_the_verdict_to_fail_and_the_cli_exits_3(finished, tmp_path):
    path, run_dir, _ = finished
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    strict = yaml.safe_load(path.read_text())
    strict["report"]["policy"]["min_accuracy"] = 0.999
    strict_path = path.with_name("strict.yaml")
    strict_path.write_text(yaml.safe_dump(strict))
    assert main(["report", "--run-dir", str(copy), "--config", str(strict_path)]) == EXIT_POLICY_FAILED
    report = json.loads((copy / "report" / "report.json").read_text())
    assert report["summary"]["verdict"] == "FAIL"
    assert [c["name"] for c in report["summary"]["checks"] if c["status"] == "fail"] == ["min_accuracy"]
    assert (copy / "report" / "summary.md").read_text().startswith("# ") and ": FAIL" in (
        copy / "report" / "summary.md"
    ).read_text().splitlines()[0]
    # rebuilt from the manifest's own config (no --config): back to PASS, and the same bytes as the run's report
    assert main(["report", "--run-dir", str(copy)]) == EXIT_OK
    for name in ("report.json", "report.html", "summary.md"):
        assert (copy / "report" / name).read_bytes() == (run_dir / "report" / name).read_bytes(), name


def test_rebuilding_the_report_needs_a_finished_evaluate_stage(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", "--run-dir", str(tmp_path / "empty")]) == 2
    assert "no finished evaluate stage" in capsys.readouterr().err


def test_a_baseline_run_is_shown_side_by_side_and_a_missing_one_is_named(finished, tmp_path):
    path, run_dir, _ = finished
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    config = yaml.safe_load(path.read_text())
    config["report"]["baseline_run_dir"] = str(run_dir)
    with_baseline = path.with_name("with-baseline.yaml")
    with_baseline.write_text(yaml.safe_dump(config))
    assert main(["report", "--run-dir", str(copy), "--config", str(with_baseline)]) == EXIT_OK
    report = json.loads((copy / "report" / "report.json").read_text())
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(report)
    this, baseline = report["baseline"]["rows"]
    assert baseline["accuracy"] == this["accuracy"] == metrics(run_dir)["utility"]["accuracy"]
    assert (
        f"Side by side with the baseline run <code>{run_dir.name}</code>"
        in (copy / "report" / "report.html").read_text()
    )
    config["report"]["baseline_run_dir"] = str(tmp_path / "nowhere")
    with_baseline.write_text(yaml.safe_dump(config))
    assert main(["report", "--run-dir", str(copy), "--config", str(with_baseline)]) == 2


def test_forgetting_compares_the_base_and_the_tuned_encoder_on_the_shipped_passages(finished):
    _, run_dir, _ = finished
    found = metrics(run_dir)["forgetting"]
    assert found["passages"] == 307 == sum(found["histogram"]["counts"])
    assert 0 < found["mean_cosine_similarity"] < 1  # LoRA moved the encoder, but not to another place entirely
    assert found["score"] == round(found["forgotten"] / found["passages"], 5)
    assert found["utility_gain"]["after"] == metrics(run_dir)["utility"]["accuracy"]
    report = json.loads((run_dir / "report" / "report.json").read_text())
    (row,) = [c for c in report["summary"]["checks"] if c["name"] == "max_forgetting"]
    assert (row["value"], row["status"]) == (found["score"], "pass")
    assert report["drift"] is None  # no reference run named


def test_a_reference_run_adds_concept_and_data_drift_without_retraining(finished, tmp_path):
    """The same data against itself: the reference model scores exactly its own accuracy, and no measure drifts."""
    path, run_dir, manifest = finished
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    config = yaml.safe_load(path.read_text())
    config["check"] = {"reference_run": str(run_dir)}
    named = path.with_name("with-reference.yaml")
    named.write_text(yaml.safe_dump(config))
    assert main(["run", "--run-dir", str(copy), "--config", str(named), "--from", "evaluate"]) == EXIT_OK
    again = json.loads((copy / "manifest.json").read_text())
    assert again["stages"]["train"]["finished"] == manifest["stages"]["train"]["finished"]
    report = json.loads((copy / "report" / "report.json").read_text())
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(report)
    concept = report["drift"]["concept"]
    assert concept["own"] == concept["on_this_run"] == metrics(run_dir)["utility"]["accuracy"]
    assert report["drift"]["flagged"] == [] and report["drift"]["data"]["measures"]["label_distribution"]["psi"] == 0
    html = (copy / "report" / "report.html").read_text()
    assert "No measure drifted past its threshold against the reference run" in html
