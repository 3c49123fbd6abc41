"""Curate's rules, table-driven on single rows: which reasons take a row off the main path."""

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.artifacts import RunDir, write_json
from pipeline.config import CurateConfig
from pipeline.layout import CHECKED_RECORDS, CURATED_RECORDS, DATA_PROFILE, FINDINGS
from pipeline.stage import StageContext
from pipeline.stages import curate
from pipeline.stages.curate import KeptCopy, duplicate_reason, own_reasons
from tests.conftest import csv_source

GOOD = {
    "row_id": "s:2",
    "cluster_id": "s:2",
    "text_key": "k2",
    "label": "billing",
    "qc_chars": 400,
    "qc_alpha_share": 0.9,
    "qc_repeated_line_share": 0.0,
    "qc_repeated_ngram_share": 0.01,
    "qc_tag_share": 0.1,
    "qc_language": "en",
    "qc_language_score": 0.99,
    "qc_label_quality": 0.9,
    "qc_label_issue": False,
}
KEPT = KeptCopy("s:1", "k1")  # the kept row of cluster s:1


def reasons(
    settings: CurateConfig = CurateConfig(),  # noqa: B008 (frozen, never mutated)
    rare: frozenset = frozenset(),
    **changes,
) -> list[str]:
    """The row's own reasons, then (when it has none) the duplicate reason against its cluster's kept row s:1."""
    row = {**GOOD, **changes}
    found = [reason for reason, _ in own_reasons(row, settings, set(rare), "label")]
    if not found and row["cluster_id"] != row["row_id"]:
        duplicate = duplicate_reason(row, KEPT, settings)
        found += [duplicate[0]] if duplicate else []
    return found


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({}, []),
        ({"cluster_id": "s:1", "text_key": "k1"}, ["exact_duplicate"]),
        ({"cluster_id": "s:1"}, ["near_duplicate"]),
        ({"qc_chars": 5}, ["too_short"]),
        ({"qc_chars": 200_000}, ["too_long"]),
        ({"qc_alpha_share": 0.1}, ["low_alpha_share"]),
        ({"qc_repeated_line_share": 0.6}, ["repeated_lines"]),
        ({"qc_repeated_ngram_share": 0.9}, ["repeated_ngrams"]),
        ({"qc_tag_share": 0.8}, ["mostly_redaction_tags"]),
        ({"qc_language": "fr", "qc_language_score": 0.99}, ["wrong_language"]),
        ({"qc_language": "fr", "qc_language_score": 0.3}, []),  # not confident: kept
        ({"qc_language": "und", "qc_language_score": 0.0}, []),
        ({"qc_label_issue": True}, []),  # flagged, kept unless configured
        ({"cluster_id": "s:1", "qc_chars": 5}, ["too_short"]),  # its own reason first: a duplicate names a kept row
    ],
)
def test_default_rules(changes, expected):
    assert reasons(**changes) == expected


@pytest.mark.parametrize(
    "settings, changes, expected",
    [
        ({"drop_near_duplicates": False}, {"cluster_id": "s:1"}, []),
        ({"drop_exact_duplicates": False}, {"cluster_id": "s:1", "text_key": "k1"}, []),
        ({"drop_likely_mislabelled": True}, {"qc_label_issue": True}, ["likely_mislabelled"]),
        ({"drop_likely_mislabelled": True}, {"qc_label_issue": None}, []),  # not scored
        ({"languages": []}, {"qc_language": "fr"}, []),
        ({"languages": ["en", "fr"]}, {"qc_language": "fr"}, []),
        ({"min_chars": 0, "min_alpha_share": 0}, {"qc_chars": 3, "qc_alpha_share": 0.0}, []),
    ],
)
def test_configured_rules(settings, changes, expected):
    assert reasons(CurateConfig(**settings), **changes) == expected


def test_rare_classes_are_dropped_only_when_configured():
    assert reasons(rare=frozenset({"billing"})) == []
    assert reasons(CurateConfig(drop_rare_classes=True), rare=frozenset({"billing"})) == ["rare_class"]


def test_details_name_the_setting_and_the_kept_row():
    assert (
        "curate.min_chars 20"
        in dict(own_reasons({**GOOD, "qc_chars": 5}, CurateConfig(), set(), "label"))["too_short"]
    )
    near = {**GOOD, "cluster_id": "s:1"}
    assert duplicate_reason(near, KEPT, CurateConfig()) == ("near_duplicate", "near-duplicate of s:1")
    promoted = duplicate_reason(near, KeptCopy("s:3", "k3"), CurateConfig())
    assert promoted == (
        "near_duplicate",
        "near-duplicate of s:1, which was quarantined; s:3 is the copy kept for that cluster",
    )
    assert (
        duplicate_reason({**GOOD, "cluster_id": "s:1", "text_key": "k3"}, KeptCopy("s:3", "k3"), CurateConfig())[0]
        == "exact_duplicate"
    )


# --- the stage over a checked-records file: a batch at a time gives what one batch gives -------------------

CHECKED_ROWS = 60
# duplicate clusters that cross batches of 7: member row -> the row that heads its cluster
MEMBER_OF = {12: 1, 19: 1, 26: 1, 9: 2, 15: 5, 22: 5, 40: 5, 33: 20, 34: 20, 50: 48, 55: 48}
TOO_SHORT = {1, 33}  # a quarantined head: its cluster keeps row 12 instead
LOW_ALPHA = {13, 44}
FRENCH = {3, 47}


def checked_records() -> pa.Table:
    """Checked records with duplicate clusters across batch boundaries; an even member has its head's text key
    (an exact duplicate), an odd one its own (a near duplicate)."""
    records = []
    for i in range(CHECKED_ROWS):
        head = MEMBER_OF.get(i, i)
        records.append(
            {
                "row_id": f"s:{i}",
                "source": "s" if i % 3 else "t",
                "text": f"ticket {i % 9} about the printer and the invoice " * (1 + i % 5),
                "label": "rare" if i % 10 == 0 else ["billing", "shipping"][i % 2],
                "gender": [None, "f", "m"][i % 3],
                "text_key": f"k{head}" if i % 2 == 0 else f"k{i}",
                "cluster_id": f"s:{head}",
                "qc_chars": 5 if i in TOO_SHORT else 40 + i,
                "qc_alpha_share": 0.2 if i in LOW_ALPHA else 0.9,
                "qc_repeated_line_share": 0.0,
                "qc_repeated_ngram_share": 0.0,
                "qc_tag_share": 0.0,
                "qc_language": "fr" if i in FRENCH else "en",
                "qc_language_score": 0.9,
                "qc_label_quality": 0.5,
                "qc_label_issue": None if i % 7 == 0 else i % 5 == 0,
            }
        )
    return pa.Table.from_pylist(records)


def curate_run(tmp_path: Path, make_config, batch_rows: int, settings: dict, monkeypatch) -> dict[str, Any]:
    """Run the curate stage on `checked_records()` with `batch_rows` rows a batch; what it wrote, as bytes, and its stats."""
    (tmp_path / "tickets.csv").write_text("id,text,label,gender\n1,a ticket,billing,f\n", encoding="utf-8")
    config = make_config({"sources": [csv_source("tickets.csv", name="s")], "curate": settings})
    run_dir = RunDir(tmp_path / f"run-{batch_rows}")
    run_dir.path(CHECKED_RECORDS).parent.mkdir(parents=True)
    pq.write_table(checked_records(), run_dir.path(CHECKED_RECORDS))
    write_json(run_dir.path(FINDINGS), {"labels": {"rare_classes": ["rare"]}})
    monkeypatch.setattr(curate, "BATCH_ROWS", batch_rows)
    result = curate.run(StageContext(config=config, run_dir=run_dir))
    return {
        "stats": result.stats,
        "records": pq.read_table(run_dir.path(CURATED_RECORDS)),
        **{name: run_dir.path(name).read_bytes() for name in ("quarantine/curate.jsonl", DATA_PROFILE)},
    }


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"drop_exact_duplicates": False, "drop_near_duplicates": False},
        {"drop_near_duplicates": False, "drop_rare_classes": True, "drop_likely_mislabelled": True},
    ],
)
def test_batches_of_7_give_what_one_batch_gives(tmp_path, make_config, monkeypatch, settings):
    one_batch = curate_run(tmp_path, make_config, 10_000, settings, monkeypatch)
    batches = curate_run(tmp_path, make_config, 7, settings, monkeypatch)
    assert batches["records"].equals(one_batch["records"], check_metadata=True)
    assert batches == one_batch
    stats = batches["stats"]
    entries = batches["quarantine/curate.jsonl"].decode().splitlines()
    assert stats["total"] == CHECKED_ROWS == stats["kept"] + stats["quarantined"]
    assert stats["kept"] == batches["records"].num_rows and stats["quarantined"] == len(entries)
    assert sum(tally["total"] for tally in stats["by_source"].values()) == CHECKED_ROWS


def test_a_later_member_kept_for_a_quarantined_head_is_named_across_batches(tmp_path, make_config, monkeypatch):
    found = curate_run(tmp_path, make_config, 7, {}, monkeypatch)
    entries = [json.loads(line) for line in found["quarantine/curate.jsonl"].decode().splitlines()]
    kept = set(found["records"].column("row_id").to_pylist())
    duplicates = [e for e in entries if e["reason"] in ("exact_duplicate", "near_duplicate")]
    assert duplicates and all(e["kept_row_id"] in kept for e in duplicates)
    by_row = {e["row_id"]: e for e in entries}
    assert by_row["s:1"]["reason"] == "too_short" and "s:12" in kept
    assert (
        by_row["s:19"]["detail"]
        == "near-duplicate of s:1, which was quarantined; s:12 is the copy kept for that cluster"
    )
    assert (by_row["s:26"]["reason"], by_row["s:26"]["kept_row_id"]) == ("exact_duplicate", "s:12")
    assert by_row["s:40"]["reason"] == "exact_duplicate" and by_row["s:55"]["reason"] == "near_duplicate"
