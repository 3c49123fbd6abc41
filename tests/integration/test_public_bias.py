"""Bias findings and splits on two public exports, as a new user would configure them.

- The IBM HR attrition export (gender, marital status; label Attrition). Its
  only text is the job title, so every row with the same title is a
  duplicate: the user keeps duplicates and lets them split apart.
- The CFPB complaints (support tickets; `Tags` marks older Americans and
  servicemembers; label Product).

The reference is pandas and scipy on the raw CSV, independent of the pipeline.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from scipy.stats import chi2_contingency

from pipeline.artifacts import RunDir
from pipeline.config import load_config
from pipeline.stage import run_pipeline

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "public"
STAGES = ["ingest", "redact", "check", "curate", "split"]
KEEP_EVERY_ROW = {
    "curate": {"drop_exact_duplicates": False, "drop_near_duplicates": False, "min_chars": 1, "languages": []},
    "split": {"keep_duplicates_together": False, "bias": {"min_group_rows": 20}},
    "redact": {"workers": 1, "demo_key_if_unset": True},
}
CASES = {
    "hr": {
        "file": "ibm_hr_attrition.csv",
        "columns": {
            "id": "EmployeeNumber",
            "text": ["JobRole"],
            "label": "Attrition",
            "protected": ["Gender", "MaritalStatus"],
            "passthrough": ["Department"],
        },
        "label": "Attrition",
        "protected": ["Gender", "MaritalStatus"],
    },
    "cfpb": {
        "file": "cfpb_complaints.csv",
        "columns": {
            "id": "Complaint ID",
            "text": ["Issue", "Consumer complaint narrative"],
            "label": "Product",
            "protected": ["Tags"],
        },
        "label": "Product",
        "protected": ["Tags"],
    },
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request, tmp_path_factory):
    spec = CASES[request.param]
    folder = tmp_path_factory.mktemp(request.param)
    config = {
        "run_name": request.param,
        "sources": [{"path": str(FIXTURES / spec["file"]), "columns": spec["columns"]}],
        **KEEP_EVERY_ROW,
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    run_dir = RunDir(folder / "run")
    manifest = run_pipeline(load_config(path), run_dir, STAGES)
    raw = pd.read_csv(FIXTURES / spec["file"], dtype=str, keep_default_na=False)
    for column in spec["protected"]:
        raw[column] = raw[column].replace("", "(missing)")
    # the reference: the raw CSV, restricted to the rows the pipeline kept up to the split
    kept = pd.read_parquet(run_dir.path("curate/records.parquet"))[spec["columns"]["id"]]
    return (
        spec,
        run_dir.root,
        manifest,
        raw[raw[spec["columns"]["id"]].isin(set(kept))].reset_index(drop=True),
        len(raw),
    )


def test_every_row_is_accounted_for_and_nearly_all_reach_the_split(case):
    spec, run_dir, manifest, raw, raw_rows = case
    assert manifest["stages"]["ingest"]["stats"]["total"] == raw_rows
    for stage in STAGES:
        stats = manifest["stages"][stage]["stats"]
        assert stats["total"] == stats["kept"] + stats["quarantined"], stage
    assert len(raw) >= raw_rows - 2


def test_bias_findings_match_pandas_and_scipy(case):
    spec, run_dir, _, raw, _ = case
    findings = json.loads((run_dir / "split" / "bias.json").read_text())["curated"]["groups"]
    label = spec["label"]
    for attribute in spec["protected"]:
        found = findings[attribute]
        counts = raw[attribute].value_counts()
        rates = pd.crosstab(raw[attribute], raw[label], normalize="index")
        assert {g: v["rows"] for g, v in found["groups"].items()} == counts.to_dict()
        for group in counts.index:
            for value in rates.columns:
                assert found["groups"][group]["label_rates"][value] == pytest.approx(rates.loc[group, value], abs=1e-4)
        judged = counts[counts >= 20].index
        assert sorted(found["too_small_to_judge"]) == sorted(set(counts.index) - set(judged))
        if len(judged) >= 2:
            for value in rates.columns:
                column = rates.loc[judged, value]
                assert found["per_label"][value]["largest_gap"] == pytest.approx(column.max() - column.min(), abs=1e-4)
                if column.max() > 0:
                    assert found["per_label"][value]["disparate_impact"] == pytest.approx(
                        column.min() / column.max(), abs=1e-4
                    )
            table = pd.crosstab(raw[attribute], raw[label]).loc[judged]
            table = table.loc[:, table.sum() > 0]
            statistic, p_value, _, _ = chi2_contingency(table.to_numpy(), correction=False)
            assert found["chi_square"]["statistic"] == pytest.approx(statistic, abs=1e-3)
            assert found["chi_square"]["p_value"] == pytest.approx(p_value, rel=1e-3, abs=1e-12)


def test_hr_gender_gap_in_attrition_is_what_pandas_says():
    raw = pd.read_csv(FIXTURES / "ibm_hr_attrition.csv", dtype=str)
    rates = pd.crosstab(raw["Gender"], raw["Attrition"], normalize="index")["Yes"]
    assert 0.0 < abs(rates["Female"] - rates["Male"]) < 0.2  # a real, modest gap for the test above to reproduce


def test_splits_hold_the_proportions_as_far_as_the_set_size_allows(case):
    """Within 2 points (label) and 3 points (groups), or one row of that split where one row is worth more."""
    spec, run_dir, _, raw, _ = case
    for name in ("train", "validation", "test"):
        part = pd.read_parquet(run_dir / "split" / f"{name}.parquet")
        part = part[~part["row_id"].str.contains("~")]
        one_row = 100 / len(part)
        for column, points in [(spec["label"], 2)] + [(c, 3) for c in spec["protected"]]:
            whole = raw[column].value_counts(normalize=True)
            share = part[column].fillna("(missing)").value_counts(normalize=True).reindex(whole.index, fill_value=0)
            assert (share - whole).abs().max() * 100 <= max(points, 1.5 * one_row), (name, column)
