"""The data contract: a GX suite built from the config, validated with real Great Expectations."""

import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline.config import load_config
from pipeline.errors import InputError
from pipeline.quality.contracts import (
    Uniqueness,
    build_suite,
    combine,
    describe_failure,
    failures,
    suite_for,
    validate,
)
from tests.conftest import csv_source

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path, make_config):
    (tmp_path / "tickets.csv").write_text("id,text,label,gender\n1,hello there,a,f\n", encoding="utf-8")
    return lambda **check: make_config({"sources": [csv_source("tickets.csv")], "check": {"contract": check}})


def records(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "row_id": ["t:1", "t:2", "t:3", "t:4"],
            "source": ["tickets"] * 4,
            "id": ["1", "2", "3", "3"],
            "text": ["my card was charged twice", "parcel is late", "cannot log in", "cannot log in"],
            "label": ["billing", "shipping", "login", "login"],
            "gender": ["f", "m", None, "f"],
        }
    )
    return frame.assign(**overrides)


def by_type(suite: dict) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for expectation in suite["expectations"]:
        grouped.setdefault(expectation["type"], []).append(expectation)
    return grouped


def test_suite_follows_the_column_roles(config):
    suite = by_type(build_suite(config()))
    assert [e["kwargs"]["column"] for e in suite["expect_column_to_exist"]] == ["row_id", "text", "label", "gender"]
    unique = {e["kwargs"]["column"]: e["severity"] for e in suite["expect_column_values_to_be_unique"]}
    assert unique == {"row_id": "critical", "id": "warning"}
    null_checks = {e["kwargs"]["column"]: e["kwargs"] for e in suite["expect_column_values_to_not_be_null"]}
    assert null_checks["label"].get("mostly") is None
    assert null_checks["gender"]["mostly"] == 0.5 and null_checks["gender"]["row_condition"]["parameter"] == "tickets"
    assert "expect_column_values_to_be_in_set" not in suite


def test_contract_settings_and_extra_expectations_reach_the_suite(config):
    extra = {
        "type": "expect_column_values_to_match_regex",
        "kwargs": {"column": "id", "regex": r"^\d+$"},
        "severity": "critical",
    }
    suite = build_suite(
        config(labels=["billing", "shipping"], min_rows=2, max_rows=10, max_null_share=0.1, extra_expectations=[extra])
    )
    grouped = by_type(suite)
    assert grouped["expect_column_values_to_be_in_set"][0]["kwargs"]["value_set"] == ["billing", "shipping"]
    assert grouped["expect_table_row_count_to_be_between"][0]["kwargs"] == {"min_value": 2, "max_value": 10}
    assert suite["expectations"][-1] == {**extra, "meta": {"why": "check.contract.extra_expectations"}}


def test_results_report_counts_and_severity_but_no_values(config):
    extra = {
        "type": "expect_column_values_to_match_regex",
        "kwargs": {"column": "text", "regex": "^zzz"},
        "severity": "info",
    }
    results = validate(
        records(), build_suite(config(labels=["billing", "shipping"], max_null_share=0.1, extra_expectations=[extra]))
    )
    critical = failures(results, "critical")
    assert [r["expectation"] for r in critical] == ["expect_column_values_to_be_in_set"]
    assert critical[0]["unexpected_count"] == 2 and critical[0]["unexpected_percent"] == 50.0
    assert {r["expectation"] for r in failures(results, "warning")} == {
        "expect_column_values_to_be_unique",
        "expect_column_values_to_not_be_null",
    }
    assert [r["expectation"] for r in failures(results, "info")] == ["expect_column_values_to_match_regex"]
    dumped = json.dumps(results)
    for value in ("login", "cannot log in", "my card was charged", "parcel"):
        assert value not in dumped
    assert "2 of 4 rows unexpected (50.00%)" in describe_failure(critical[0])


def test_row_count_observed_value_is_kept(config):
    results = validate(records(), build_suite(config(min_rows=5)))
    row_count = next(r for r in results if r["expectation"] == "expect_table_row_count_to_be_between")
    assert row_count["success"] is False and row_count["observed_value"] == 4


def test_a_missing_column_fails_its_critical_expectation(config):
    results = validate(records().drop(columns=["gender"]), build_suite(config()))
    assert any(
        r["kwargs"].get("column") == "gender" and r["expectation"] == "expect_column_to_exist"
        for r in failures(results, "critical")
    )


def test_an_unknown_expectation_is_a_clear_error(config):
    suite = build_suite(
        config(extra_expectations=[{"type": "expect_column_values_to_be_purple", "kwargs": {"column": "text"}}])
    )
    with pytest.raises(
        InputError, match=r"(?s)GX suite is not valid.*expect_column_values_to_be_purple.*extra_expectations"
    ):
        validate(records(), suite)


def test_a_versioned_suite_file_replaces_the_built_one(config, tmp_path):
    path = tmp_path / "contract.json"
    path.write_text(
        json.dumps(
            {
                "name": "mine",
                "expectations": [{"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}],
            }
        )
    )
    assert suite_for(config(suite_path=str(path)))["name"] == "mine"
    path.write_text("{not json")
    with pytest.raises(InputError, match="cannot read a GX suite"):
        suite_for(config(suite_path=str(path)))


def test_the_committed_sample_suite_is_what_the_sample_config_builds():
    """checks/suites/sample.json is versioned: a change to the contract shows up as a diff (regenerate with `python -m pipeline suite --out ...`)."""
    committed = json.loads((REPO / "checks" / "suites" / "sample.json").read_text(encoding="utf-8"))
    assert committed == build_suite(load_config())


def test_an_incremental_run_expects_a_known_row_status(config, monkeypatch):
    from pipeline.config import Config

    monkeypatch.setattr(Config, "incremental", lambda self: True)
    suite = build_suite(config())
    statuses = [e for e in suite["expectations"] if e["kwargs"].get("column") == "row_status"]
    assert [(e["severity"], e["kwargs"]["value_set"]) for e in statuses] == [("critical", ["changed", "new", "seen"])]
    good = validate(records(row_status=["new", "seen", "changed", "seen"]), suite)
    bad = validate(records(row_status=["new", "seen", "stale", "seen"]), suite)
    assert not [r for r in failures(good, "critical") if r["kwargs"].get("column") == "row_status"]
    assert [r["kwargs"]["column"] for r in failures(bad, "critical")] == ["row_status"]


def test_a_messages_column_is_a_text_column_that_must_hold_canonical_conversations(tmp_path, make_config):
    (tmp_path / "chats.jsonl").write_text(
        '{"id": 1, "chat": [{"role": "user", "content": "hi"}], "label": "a", "gender": "f"}\n', encoding="utf-8"
    )
    columns = {"id": "id", "messages": "chat", "label": "label", "protected": ["gender"]}
    suite = build_suite(make_config({"sources": [{"path": "chats.jsonl", "columns": columns}]}))
    grouped = by_type(suite)
    assert [e["kwargs"]["column"] for e in grouped["expect_column_to_exist"]] == ["row_id", "chat", "label", "gender"]
    assert [e["kwargs"]["column"] for e in grouped["expect_column_value_lengths_to_be_between"]] == ["chat"]
    (regex,) = grouped["expect_column_values_to_match_regex"]
    assert regex["kwargs"]["column"] == "chat" and regex["severity"] == "critical"
    canonical = '[{"role": "user", "content": "my card was charged twice"}]'
    frame = records(chat=[canonical, canonical, '[{"content": "hi", "role": "user"}]', "parcel is late"])
    (failed,) = failures(validate(frame, suite), "critical")
    assert failed["expectation"] == "expect_column_values_to_match_regex" and failed["unexpected_count"] == 2
    assert "charged" not in json.dumps(failed)


def uniqueness_of(column: pd.Series) -> Uniqueness:
    present = column.dropna()
    return Uniqueness(
        rows=len(column), missing=len(column) - len(present), repeated=int(present.duplicated(keep=False).sum())
    )


@pytest.mark.parametrize("cuts", [[2], [1, 3], [3, 4]])
def test_results_combined_over_shards_are_the_results_on_the_whole_set(config, cuts):
    frame = records(
        id=["1", None, "3", "3"],
        text=["my card was charged twice", None, "ok", "cannot log in"],
        label=["billing", "shipping", "unknown", "login"],
    )
    suite = build_suite(
        config(min_rows=3, max_rows=5, labels=["billing", "shipping", "login"], min_text_chars=5, max_null_share=0.3)
    )
    whole = validate(frame, suite)
    bounds = [0, *cuts, len(frame)]
    parts = [validate(frame.iloc[a:b].reset_index(drop=True), suite) for a, b in zip(bounds, bounds[1:], strict=False)]
    combined = combine(parts, {name: uniqueness_of(frame[name]) for name in ("row_id", "id")})
    assert combined == whole
    assert not all(r["success"] for r in whole)  # the comparison covers failures too
    assert [r["success"] for r in combined if r["expectation"] == "expect_table_row_count_to_be_between"] == [True]


def test_an_expectation_without_counts_passes_only_when_every_shard_passes(config):
    suite = build_suite(
        config(
            extra_expectations=[
                {"type": "expect_column_value_lengths_to_equal", "kwargs": {"column": "id", "value": 1}}
            ]
        )
    )
    suite["expectations"].append(
        {
            "type": "expect_column_unique_value_count_to_be_between",
            "kwargs": {"column": "label", "min_value": 2},
            "severity": "warning",
        }
    )
    frame = records()
    parts = [validate(frame.iloc[:2], suite), validate(frame.iloc[2:].reset_index(drop=True), suite)]
    kind = "expect_column_unique_value_count_to_be_between"
    (distinct,) = [result for result in combine(parts, {}) if result["expectation"] == kind]
    assert distinct["success"] is False and "every shard" in distinct["note"]  # one shard holds one label only
    (on_the_whole,) = [result for result in validate(frame, suite) if result["expectation"] == kind]
    assert on_the_whole["success"] is True  # what the whole set says: the cost of judging such expectations per shard
