"""Data drift between real runs of the data stages: a reference run, an unshifted copy, another sample of the same
export, and a run whose label mix and text lengths were shifted on purpose. Only the shifted measures are flagged."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pipeline.artifacts import RunDir
from pipeline.config import load_config
from pipeline.errors import InputError
from pipeline.reporting import content
from tests.integration.runs import REDACT, SAMPLE_COLUMNS, run_stages, sample_tickets

UNTIL_CURATE = ["ingest", "redact", "check", "curate"]
ROWS = 300


def config(data: str, reference: str | None = None) -> dict[str, Any]:
    return {
        "run_name": "drift",
        "sources": [{"path": data, "columns": SAMPLE_COLUMNS}],
        "redact": REDACT,
        # every row kept, so the label mix and lengths are the ones written
        "curate": {"languages": [], "drop_exact_duplicates": False, "drop_near_duplicates": False},
        "check": {"reference_run": reference},
    }


def write_tickets(path: Path, rows: list[dict[str, str]]) -> None:
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def shifted(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Most billing tickets relabelled as refund requests (label mix), each description cut to its first sentence
    (text lengths); nothing else changed."""
    out = []
    billing = 0
    for row in rows:
        row = dict(row)
        if row["Category"] == "billing":
            billing += 1
            if billing % 4:
                row["Category"] = "refund_request"
        row["Description"] = row["Description"].split(". ", 1)[0] + "."
        out.append(row)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("drift")
    tickets = sample_tickets(2 * ROWS)
    data = {
        "reference": tickets[:ROWS],
        "copy": tickets[:ROWS],
        "same_export": tickets[ROWS:],
        "shifted": shifted(tickets[ROWS:]),
    }
    dirs = {}
    for name, rows in data.items():
        write_tickets(folder / f"{name}.csv", rows)
        reference = None if name == "reference" else str(folder / "runs" / "reference")
        run_dir = RunDir(folder / "runs" / name)
        run_stages(folder / f"{name}.yaml", config(f"{name}.csv", reference), run_dir, UNTIL_CURATE).finished()
        dirs[name] = folder / f"{name}.yaml"
    return dirs


def drift_of(runs: dict[str, Path], name: str) -> dict[str, Any]:
    path = runs[name]
    return content.compare_with_reference(load_config(path), RunDir(path.parent / "runs" / name))


def test_an_unshifted_copy_flags_nothing(runs):
    found = drift_of(runs, "copy")
    assert found["flagged"] == []
    assert all(measure.get("psi") in (0, None) for measure in found["measures"].values())


def test_another_sample_of_the_same_export_flags_nothing(runs):
    found = drift_of(runs, "same_export")
    assert found["flagged"] == [], json.dumps(found["measures"], indent=1)[:3000]


def test_the_shifted_run_flags_exactly_the_label_mix_and_the_text_lengths(runs):
    found = drift_of(runs, "shifted")
    assert found["flagged"] == ["label_distribution", "text_length"], {
        name: (m.get("psi"), m.get("js_distance"), m.get("share")) for name, m in found["measures"].items()
    }
    lengths = found["measures"]["text_length"]["quantiles"]
    assert lengths["current"]["p50"] < lengths["reference"]["p50"] / 2
    assert found["measures"]["new_labels"]["labels"] == [] and found["measures"]["vanished_labels"]["labels"] == []


def strings(value: Any) -> list[str]:
    """Every key and string value in a JSON document."""
    if isinstance(value, dict):
        return [*value, *(text for item in value.values() for text in strings(item))]
    if isinstance(value, list):
        return [text for item in value for text in strings(item)]
    return [value] if isinstance(value, str) else []


def test_the_profiles_hold_counts_and_digests_but_no_text(runs):
    folder = runs["reference"].parent / "runs" / "reference"
    profile = json.loads((folder / "curate" / "profile.json").read_text(encoding="utf-8"))
    tickets = sample_tickets(ROWS)
    known = {ticket[column] for ticket in tickets for column in ("Category", "Gender", "Age Band")}
    structure = {"version", "rows", "labels", "protected", "languages", "text_length", "edges", "counts", "quantiles"}
    structure |= {"p10", "p50", "p90", "vocabulary", "min_records", "digests", "Gender", "Age Band", "(missing)", "en"}
    unexplained = [
        text for text in strings(profile) if text not in known | structure and not re.fullmatch(r"[0-9a-f]{16}", text)
    ]
    assert unexplained == [], unexplained
    assert len(profile["vocabulary"]["digests"]) > 100


def test_naming_a_reference_run_does_not_rerun_the_data_stages(runs):
    """The drift settings belong to the check section, but no data stage's result depends on the reference run."""
    path = runs["same_export"]
    run_dir = RunDir(path.parent / "runs" / "same_export")
    before = {stage: entry["finished"] for stage, entry in run_dir.read_manifest()["stages"].items()}
    unnamed = {**config("same_export.csv", None), "check": {"drift": {"max_psi": 0.5}}}
    outcome = run_stages(path.with_name("unnamed.yaml"), unnamed, run_dir, UNTIL_CURATE).finished()
    after = {stage: entry["finished"] for stage, entry in outcome.manifest["stages"].items()}
    assert after == before


def test_a_reference_run_without_a_profile_is_named(runs, tmp_path):
    path = runs["copy"]
    data = config("copy.csv", str(tmp_path))
    path.with_name("missing.yaml").write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML
    with pytest.raises(InputError, match="check.reference_run: .* has no curate/profile.json"):
        content.compare_with_reference(
            load_config(path.with_name("missing.yaml")), RunDir(path.parent / "runs" / "copy")
        )
