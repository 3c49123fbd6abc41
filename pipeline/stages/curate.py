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

The checked records are read, decided, written and profiled `BATCH_ROWS` at a
time. Across batches only the kept copy (row id and text key) of each cluster
with more than one member is held, found first from `row_id` and `cluster_id`
alone, plus the profile's sums (see pipeline.quality.drift).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import executors
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
BATCH_ROWS = 10_000  # checked records read, decided and written at a time
RULE_COLUMNS = (  # what the rules read of a row (and the label column)
    "row_id",
    "cluster_id",
    "text_key",
    "source",
    "qc_chars",
    "qc_alpha_share",
    "qc_repeated_line_share",
    "qc_repeated_ngram_share",
    "qc_tag_share",
    "qc_language",
    "qc_language_score",
    "qc_label_quality",
    "qc_label_issue",
)


class KeptCopy(NamedTuple):
    row_id: str
    text_key: str


@dataclass
class Curation:
    """The rules applied a row at a time in ingest order, and what they carry from one row to the next: the copy
    kept of each cluster with more than one member, and the counts for the stats."""

    settings: CurateConfig
    rare: set[str]
    label_column: str | None
    clusters_with_copies: set[str]
    kept_copies: dict[str, KeptCopy] = field(default_factory=dict)  # cluster_id -> the row kept for that cluster
    by_source: dict[str, Counter[str]] = field(default_factory=dict)
    flagged: Counter[str] = field(default_factory=Counter)

    def keeps(self, row: dict[str, Any], quarantine: Quarantine) -> bool:
        """Whether the row stays on the main path; one that does not goes to the quarantine with its reasons."""
        tally = self.by_source.setdefault(str(row["source"]), Counter(total=0, kept=0))
        tally["total"] += 1
        reasons = own_reasons(row, self.settings, self.rare, self.label_column)
        if reasons:
            detail = "; ".join(detail for _, detail in reasons)
            quarantine.add(row["row_id"], reasons[0][0], detail, source=row["source"])
            tally[reasons[0][0]] += 1
            return False
        kept_copy = self.kept_copies.get(row["cluster_id"])
        if kept_copy is None:
            if row["cluster_id"] in self.clusters_with_copies:
                self.kept_copies[row["cluster_id"]] = KeptCopy(row["row_id"], row["text_key"])
        elif duplicate := duplicate_reason(row, kept_copy, self.settings):
            reason, detail = duplicate
            quarantine.add(row["row_id"], reason, detail, source=row["source"], kept_row_id=kept_copy.row_id)
            tally[reason] += 1
            return False
        tally["kept"] += 1
        self.flagged.update(_flags(row, self.settings, self.rare, self.label_column))
        return True


def run(ctx: StageContext) -> StageResult:
    roles = ctx.config.record_roles()
    checked = executors.open_parquet(ctx.run_dir.path(CHECKED))
    curation = Curation(
        settings=ctx.config.curate,
        rare=set(_rare_classes(ctx)),
        label_column=(roles["label"] or [None])[0],
        clusters_with_copies=clusters_with_copies(checked),
    )
    sums = drift.ProfileSums.start(roles, checked.schema_arrow.names)
    with Quarantine(ctx.run_dir, "curate") as quarantine, atomic_path(ctx.run_dir.path(RECORDS)) as path:
        with pq.ParquetWriter(path, checked.schema_arrow) as writer:
            for batch in checked.iter_batches(batch_size=BATCH_ROWS):
                rows = batch.select(_rule_columns(batch, curation.label_column)).to_pylist()
                keep = [curation.keeps(row, quarantine) for row in rows]
                kept = batch.filter(pa.array(keep, type=pa.bool_()))
                if kept.num_rows:
                    writer.write_batch(kept)
                    sums.add(kept.select(sums.columns).to_pandas())
        by_reason = dict(sorted(quarantine.counts.items()))
    outputs = [RECORDS, quarantine.relative, write_profile(ctx, sums)]
    total = sum(tally["total"] for tally in curation.by_source.values())
    kept_rows = sum(tally["kept"] for tally in curation.by_source.values())
    stats = {
        "total": total,
        "kept": kept_rows,
        "quarantined": total - kept_rows,
        "quarantined_by_reason": by_reason,
        "flagged_kept": dict(sorted(curation.flagged.items())),
        "by_source": {source: dict(tally) for source, tally in sorted(curation.by_source.items())},
    }
    return StageResult(outputs=outputs, stats=stats)


def clusters_with_copies(checked: pq.ParquetFile) -> set[str]:
    """The clusters with more than one member: those a row names that is not their first row (row ids are unique)."""
    found: set[str] = set()
    for batch in checked.iter_batches(batch_size=BATCH_ROWS, columns=["row_id", "cluster_id"]):
        clusters = batch.column("cluster_id")
        found.update(clusters.filter(pc.not_equal(batch.column("row_id"), clusters)).to_pylist())
    return found


def _rule_columns(batch: pa.RecordBatch, label_column: str | None) -> list[str]:
    wanted = {*RULE_COLUMNS, label_column}
    return [name for name in batch.schema.names if name in wanted]


def write_profile(ctx: StageContext, sums: drift.ProfileSums) -> str:
    """The curated records' profile (counts and word digests): what a later run's drift check reads."""
    found = sums.profile(ctx.config.check.drift.vocabulary_min_records)
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


def duplicate_reason(row: dict[str, Any], kept: KeptCopy, settings: CurateConfig) -> tuple[str, str] | None:
    """(reason, detail) when the row duplicates the kept row of its cluster and duplicates of its kind are dropped."""
    first = row["cluster_id"]
    if kept.text_key == row["text_key"]:
        return (EXACT_DUPLICATE, f"same normalised text as {kept.row_id}") if settings.drop_exact_duplicates else None
    if kept.row_id == first:
        detail = f"near-duplicate of {kept.row_id}"
    else:
        detail = f"near-duplicate of {first}, which was quarantined; {kept.row_id} is the copy kept for that cluster"
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
