"""Curate: apply the check stage's scores; keep the rows that pass, quarantine the rest with every reason.

Rules, in order:

1. the row's own quality: `too_short`, `too_long`, `low_alpha_share`,
   `repeated_lines`, `repeated_ngrams`, `mostly_redaction_tags`,
   `wrong_language` (a language outside `curate.languages` detected with at
   least `curate.min_language_score`); and, only when configured,
   `rare_class` and `likely_mislabelled` (otherwise such rows are kept and
   counted as flagged). The first reason names the quarantine entry;
   `detail` lists them all.
2. duplicates, among the rows that pass 1: in each duplicate cluster the
   first passing row in ingest order is kept (normally the cluster's first
   row, its `cluster_id`); every other passing member is quarantined as
   `exact_duplicate` (same normalised text as the kept row) or
   `near_duplicate`, with the kept row's id in `kept_row_id`. So the row
   named there is always one that was kept.

Then the kept rows are profiled (`curate/profile.json`: counts and word
digests, no text; pipeline.quality.drift): a later run that names this one in
`check.reference_run` compares its own profile with it, in its report.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.artifacts import Quarantine, atomic_path, write_json
from pipeline.config import CurateConfig
from pipeline.layout import CHECKED_RECORDS as CHECKED
from pipeline.layout import CURATED_RECORDS as RECORDS
from pipeline.layout import DATA_PROFILE, FINDINGS, STAGES
from pipeline.logs import get_logger
from pipeline.quality import drift
from pipeline.stage import Stage, StageContext, StageResult

log = get_logger("pipeline.curate")

EXACT_DUPLICATE = "exact_duplicate"
NEAR_DUPLICATE = "near_duplicate"


def run(ctx: StageContext) -> StageResult:
    settings = ctx.config.curate
    table = pq.read_table(ctx.run_dir.path(CHECKED))
    rows = table.to_pylist()
    rare = set(_rare_classes(ctx))
    label_column = (ctx.config.record_roles()["label"] or [None])[0]
    text_key_of = {row["row_id"]: row["text_key"] for row in rows}
    kept_copy: dict[str, str] = {}  # cluster_id -> the row kept for that cluster
    keep: list[bool] = []
    flagged: Counter[str] = Counter()
    by_source: dict[str, Counter[str]] = {}
    with Quarantine(ctx.run_dir, "curate") as quarantine:
        for row in rows:
            tally = by_source.setdefault(str(row["source"]), Counter(total=0, kept=0))
            tally["total"] += 1
            reasons = own_reasons(row, settings, rare, label_column)
            duplicate = None
            if not reasons and row["cluster_id"] in kept_copy:
                duplicate = duplicate_reason(row, kept_copy[row["cluster_id"]], text_key_of, settings)
            if reasons:
                quarantine.add(
                    row["row_id"], reasons[0][0], "; ".join(detail for _, detail in reasons), source=row["source"]
                )
                tally[reasons[0][0]] += 1
            elif duplicate:
                reason, detail = duplicate
                quarantine.add(
                    row["row_id"], reason, detail, source=row["source"], kept_row_id=kept_copy[row["cluster_id"]]
                )
                tally[reason] += 1
            else:
                kept_copy.setdefault(row["cluster_id"], row["row_id"])
                tally["kept"] += 1
                flagged.update(_flags(row, settings, rare, label_column))
            keep.append(not reasons and not duplicate)
        by_reason = dict(sorted(quarantine.counts.items()))
    curated = table.filter(keep)
    with atomic_path(ctx.run_dir.path(RECORDS)) as path:
        pq.write_table(curated, path)
    outputs = [RECORDS, quarantine.relative, write_profile(ctx, curated)]
    kept = sum(keep)
    stats = {
        "total": len(rows),
        "kept": kept,
        "quarantined": len(rows) - kept,
        "quarantined_by_reason": by_reason,
        "flagged_kept": dict(sorted(flagged.items())),
        "by_source": {source: dict(tally) for source, tally in sorted(by_source.items())},
    }
    return StageResult(outputs=outputs, stats=stats)


def write_profile(ctx: StageContext, curated: pa.Table) -> str:
    """The curated records' profile (counts and word digests): what a later run's drift check reads."""
    settings = ctx.config.check.drift
    found = drift.profile(curated.to_pandas(), ctx.config.record_roles(), settings.vocabulary_min_records)
    write_json(ctx.run_dir.path(DATA_PROFILE), found)
    return DATA_PROFILE


def own_reasons(
    row: dict[str, Any], settings: CurateConfig, rare: set[str], label_column: str | None
) -> list[tuple[str, str]]:
    """Every (reason, detail) in the row itself that takes it off the main path; empty to keep it."""
    reasons = quality_reasons(row, settings)
    label = row.get(label_column) if label_column else None
    if settings.drop_rare_classes and label in rare:
        reasons.append(("rare_class", "label has fewer rows than check.labels.min_class_rows"))
    if settings.drop_likely_mislabelled and row.get("qc_label_issue"):
        reasons.append(
            (
                "likely_mislabelled",
                f"cross-validated label quality {row['qc_label_quality']}; the model suggests another label",
            )
        )
    return reasons


def duplicate_reason(
    row: dict[str, Any], kept_id: str, text_key_of: dict[str, str], settings: CurateConfig
) -> tuple[str, str] | None:
    """(reason, detail) when the row duplicates the kept row of its cluster and duplicates of its kind are dropped."""
    first = row["cluster_id"]
    if text_key_of[kept_id] == row["text_key"]:
        return (EXACT_DUPLICATE, f"same normalised text as {kept_id}") if settings.drop_exact_duplicates else None
    if kept_id == first:
        detail = f"near-duplicate of {kept_id}"
    else:
        detail = f"near-duplicate of {first}, which was quarantined; {kept_id} is the copy kept for that cluster"
    return (NEAR_DUPLICATE, detail) if settings.drop_near_duplicates else None


def quality_reasons(row: dict[str, Any], settings: CurateConfig) -> list[tuple[str, str]]:
    checks = [
        (
            "too_short",
            row["qc_chars"] < settings.min_chars,
            f"{row['qc_chars']} characters < curate.min_chars {settings.min_chars}",
        ),
        (
            "too_long",
            row["qc_chars"] > settings.max_chars,
            f"{row['qc_chars']} characters > curate.max_chars {settings.max_chars}",
        ),
        (
            "low_alpha_share",
            row["qc_alpha_share"] < settings.min_alpha_share,
            f"letters {row['qc_alpha_share']} < curate.min_alpha_share {settings.min_alpha_share}",
        ),
        (
            "repeated_lines",
            row["qc_repeated_line_share"] > settings.max_repeated_line_share,
            f"repeated lines {row['qc_repeated_line_share']} > curate.max_repeated_line_share {settings.max_repeated_line_share}",
        ),
        (
            "repeated_ngrams",
            row["qc_repeated_ngram_share"] > settings.max_repeated_ngram_share,
            f"repeated 3-grams {row['qc_repeated_ngram_share']} > curate.max_repeated_ngram_share {settings.max_repeated_ngram_share}",
        ),
        (
            "mostly_redaction_tags",
            row["qc_tag_share"] > settings.max_tag_share,
            f"redaction tags {row['qc_tag_share']} of words > curate.max_tag_share {settings.max_tag_share}",
        ),
        (
            "wrong_language",
            _wrong_language(row, settings),
            f"language '{row['qc_language']}' (score {row['qc_language_score']}) not in curate.languages {settings.languages}",
        ),
    ]
    return [(reason, detail) for reason, failed, detail in checks if failed]


def _wrong_language(row: dict[str, Any], settings: CurateConfig) -> bool:
    return (
        bool(settings.languages)
        and row["qc_language"] not in settings.languages
        and row["qc_language_score"] >= settings.min_language_score
    )


def _flags(row: dict[str, Any], settings: CurateConfig, rare: set[str], label_column: str | None) -> list[str]:
    flags = []
    if not settings.drop_likely_mislabelled and row.get("qc_label_issue"):
        flags.append("likely_mislabelled")
    if not settings.drop_rare_classes and label_column and row.get(label_column) in rare:
        flags.append("rare_class")
    return flags


def _rare_classes(ctx: StageContext) -> list[str]:
    findings = json.loads(ctx.run_dir.path(FINDINGS).read_text(encoding="utf-8"))
    return findings.get("labels", {}).get("rare_classes", [])


STAGE = Stage(
    files=STAGES["curate"],
    run=run,
    fingerprint_extra=lambda config: {"vocabulary_min_records": config.check.drift.vocabulary_min_records},
)
