"""Curate's rules, table-driven on single rows: which reasons take a row off the main path."""

import pytest

from pipeline.config import CurateConfig
from pipeline.stages.curate import duplicate_reason, own_reasons

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
KEYS = {"s:1": "k1", "s:2": "k2"}


def reasons(
    settings: CurateConfig = CurateConfig(),  # noqa: B008 (frozen, never mutated)
    rare: frozenset = frozenset(),
    **changes,
) -> list[str]:
    """The row's own reasons, then (when it has none) the duplicate reason against its cluster's kept row s:1."""
    row = {**GOOD, **changes}
    found = [reason for reason, _ in own_reasons(row, settings, set(rare), "label")]
    if not found and row["cluster_id"] != row["row_id"]:
        duplicate = duplicate_reason(row, row["cluster_id"], KEYS, settings)
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
    assert duplicate_reason(near, "s:1", KEYS, CurateConfig()) == ("near_duplicate", "near-duplicate of s:1")
    promoted = duplicate_reason(near, "s:3", {**KEYS, "s:3": "k3"}, CurateConfig())
    assert promoted == (
        "near_duplicate",
        "near-duplicate of s:1, which was quarantined; s:3 is the copy kept for that cluster",
    )
    assert (
        duplicate_reason(
            {**GOOD, "cluster_id": "s:1", "text_key": "k3"}, "s:3", {**KEYS, "s:3": "k3"}, CurateConfig()
        )[0]
        == "exact_duplicate"
    )
