"""Check: data contract (Great Expectations), duplicates, text quality and label checks on the redacted records.

This stage scores and decides nothing: every row goes on, with its scores as
columns, and the curate stage turns scores into quarantine reasons. The one
exception is the data contract: a failed `critical` expectation stops the run.

Columns added to every row:
- `text_key`: hash of the row's normalised text (its text columns joined);
- `cluster_id`: the `row_id` of the first row (in ingest order: sources in
  config order, rows in file order) that this row duplicates, exactly or
  nearly; a row that duplicates nothing is its own cluster;
- `qc_chars`, `qc_alpha_share`, `qc_repeated_line_share`,
  `qc_repeated_ngram_share`, `qc_tag_share`, `qc_language`,
  `qc_language_score`: text-quality scores (pipeline.quality.text);
- `qc_label_quality`, `qc_label_issue`, `qc_suggested_label`: the
  cross-validated probability of the given label, whether confident learning
  thinks it is wrong, and the model's label (null where not scored).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from pipeline.artifacts import atomic_path, write_json
from pipeline.config import Config
from pipeline.errors import InputError
from pipeline.layout import CHECKED_RECORDS as RECORDS
from pipeline.layout import FINDINGS, GX_RESULTS, STAGES, SUITE
from pipeline.layout import REDACTED_RECORDS as REDACTED
from pipeline.logs import get_logger
from pipeline.quality import contracts
from pipeline.quality.dedup import DedupSettings, find_clusters, normalise, signatures
from pipeline.quality.labels import check_labels
from pipeline.quality.text import join_text, score
from pipeline.stage import Stage, StageContext, StageResult

log = get_logger("pipeline.check")

QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)


def run(ctx: StageContext) -> StageResult:
    config = ctx.config
    records = pd.read_parquet(ctx.run_dir.path(REDACTED))
    contract = _check_contract(ctx, records)
    roles = config.record_roles()
    texts = join_text(records, roles["text"])
    records = pd.concat([records, _duplicate_columns(records, texts, config), _quality_columns(texts)], axis=1)
    label_columns, label_findings = _label_columns(records, texts, config)
    records = pd.concat([records, label_columns], axis=1)
    label_column = (roles["label"] or [None])[0]
    with atomic_path(ctx.run_dir.path(RECORDS)) as path:
        pq.write_table(pa.Table.from_pandas(records, preserve_index=False), path)
    findings = {
        "rows": len(records),
        "contract": contract,
        "duplicates": _duplicate_findings(records, label_column),
        "text_quality": _quality_findings(records),
        "labels": label_findings,
    }
    write_json(ctx.run_dir.path(FINDINGS), findings)
    stats = {
        "total": len(records),
        "kept": len(records),
        "quarantined": 0,
        "contract_failed": contract["failed"],
        "duplicate_rows": findings["duplicates"]["exact_duplicate_rows"]
        + findings["duplicates"]["near_duplicate_rows"],
        "cross_source_clusters": findings["duplicates"]["cross_source_clusters"],
        "likely_mislabelled": label_findings.get("likely_mislabelled", 0),
    }
    return StageResult(outputs=[RECORDS, SUITE, GX_RESULTS, FINDINGS], stats=stats)


def _check_contract(ctx: StageContext, records: pd.DataFrame) -> dict[str, Any]:
    suite = contracts.suite_for(ctx.config)
    write_json(ctx.run_dir.path(SUITE), suite)
    results = contracts.validate(records, suite)
    write_json(
        ctx.run_dir.path(GX_RESULTS),
        {"suite": suite["name"], "summary": contracts.contract_summary(results), "results": results},
    )
    for failure in contracts.failures(results, "warning"):
        log.warning("data contract (warning): %s", contracts.describe_failure(failure))
    critical = contracts.failures(results, "critical")
    if critical:
        listing = "\n".join(f"  - {contracts.describe_failure(f)}" for f in critical)
        raise InputError(
            f"the redacted records break {len(critical)} critical expectation(s) of the data contract:\n{listing}\n"
            f"details: {ctx.run_dir.path(GX_RESULTS)}; fix the input or the contract (check.contract in the config)"
        )
    return contracts.contract_summary(results)


def _duplicate_columns(records: pd.DataFrame, texts: list[str], config: Config) -> pd.DataFrame:
    settings = DedupSettings(**config.check.dedup.model_dump(), seed=config.seed)
    normalised = [normalise(text) for text in texts]
    clusters = find_clusters(normalised, settings, signatures(normalised, settings))
    row_ids = records["row_id"].tolist()
    return pd.DataFrame(
        {"text_key": clusters.text_keys, "cluster_id": [row_ids[first] for first in clusters.cluster_of]}
    )


def _quality_columns(texts: list[str]) -> pd.DataFrame:
    scores = [
        asdict(score(text)) for text in tqdm(texts, desc="text quality", unit=" rows", disable=None, leave=False)
    ]
    frame = pd.DataFrame(
        scores,
        columns=[
            "chars",
            "alpha_share",
            "repeated_line_share",
            "repeated_ngram_share",
            "tag_share",
            "language",
            "language_score",
        ],
    )
    return frame.add_prefix("qc_")


def _label_columns(records: pd.DataFrame, texts: list[str], config: Config) -> tuple[pd.DataFrame, dict[str, Any]]:
    label_columns = config.record_roles()["label"]
    empty = pd.DataFrame(
        {
            "qc_label_quality": pd.Series([None] * len(records), dtype="float64"),
            "qc_label_issue": pd.Series([None] * len(records), dtype="boolean"),
            "qc_suggested_label": pd.Series([None] * len(records), dtype="string"),
        }
    )
    if not label_columns:
        return empty, {"skipped": "no label column"}
    settings = config.check.labels
    labels = records[label_columns[0]].astype(str).tolist()
    findings = check_labels(
        texts,
        labels,
        records["cluster_id"].tolist(),
        min_class_rows=settings.min_class_rows,
        folds=settings.folds,
        seed=config.seed,
    )
    columns = pd.DataFrame(
        {
            "qc_label_quality": pd.Series(findings.quality, dtype="float64"),
            "qc_label_issue": pd.Series(findings.issue, dtype="boolean"),
            "qc_suggested_label": pd.Series(findings.suggested, dtype="string"),
        }
    )
    if len(findings.class_counts) < 2:
        log.warning(
            "label '%s' has %d class(es); a classifier needs at least two, so the split stage will stop",
            label_columns[0],
            len(findings.class_counts),
        )
    for label in findings.rare_classes:
        log.warning(
            "label '%s' has %d rows, fewer than check.labels.min_class_rows (%d)",
            label,
            findings.class_counts[label],
            settings.min_class_rows,
        )
    return columns, {
        "column": label_columns[0],
        "class_counts": findings.class_counts,
        "rare_classes": findings.rare_classes,
        "min_class_rows": settings.min_class_rows,
        "skipped": findings.skipped,
        "scored_classes": findings.scored_classes,
        "method": "out-of-fold probabilities of TF-IDF + logistic regression, StratifiedGroupKFold by cluster_id; cleanlab find_label_issues (prune_by_noise_rate)",
        "folds": settings.folds,
        "likely_mislabelled": int(columns["qc_label_issue"].fillna(False).sum()),
        "likely_mislabelled_by_label": {
            str(k): int(v)
            for k, v in sorted(
                Counter(label for label, issue in zip(labels, findings.issue, strict=True) if issue).items()
            )
        },
    }


def _duplicate_findings(records: pd.DataFrame, label_column: str | None) -> dict[str, Any]:
    duplicates = records[records["cluster_id"] != records["row_id"]]
    first_key = records.set_index("row_id")["text_key"]
    exact = duplicates["text_key"].to_numpy() == first_key.loc[duplicates["cluster_id"]].to_numpy()
    members = records[records["cluster_id"].isin(set(duplicates["cluster_id"]))]
    sources_per_cluster = members.groupby("cluster_id")["source"].nunique()
    sizes = members.groupby("cluster_id").size()
    conflicting = members.groupby("cluster_id")[label_column].nunique() if label_column else pd.Series(dtype=int)
    if (conflicting > 1).any():
        log.warning(
            "%d duplicate cluster(s) hold more than one label (%d rows): the same text is labelled differently",
            int((conflicting > 1).sum()),
            int(sizes[conflicting[conflicting > 1].index].sum()),
        )
    return {
        "rule": "each row joins the cluster of the earlier row it duplicates most closely; the first row of a cluster (ingest order) is kept by curate",
        "clusters": int(len(sizes)),
        "rows_in_clusters": int(len(members)),
        "largest_cluster": int(sizes.max()) if len(sizes) else 0,
        "exact_duplicate_rows": int(exact.sum()),
        "near_duplicate_rows": int((~exact).sum()),
        "cross_source_clusters": int((sources_per_cluster > 1).sum()),
        "clusters_with_conflicting_labels": int((conflicting > 1).sum()),
        "rows_in_clusters_with_conflicting_labels": int(sizes[conflicting[conflicting > 1].index].sum())
        if len(conflicting)
        else 0,
    }


def _quality_findings(records: pd.DataFrame) -> dict[str, Any]:
    numeric = [
        "qc_chars",
        "qc_alpha_share",
        "qc_repeated_line_share",
        "qc_repeated_ngram_share",
        "qc_tag_share",
        "qc_language_score",
    ]
    quantiles = records[numeric].quantile(list(QUANTILES)) if len(records) else pd.DataFrame(columns=numeric)
    return {
        "quantiles": {
            column: {f"p{round(q * 100)}": round(float(quantiles.loc[q, column]), 4) for q in QUANTILES}
            for column in numeric
        }
        if len(records)
        else {},
        "languages": {str(k): int(v) for k, v in records["qc_language"].value_counts().items()},
    }


STAGE = Stage(
    files=STAGES["check"],
    run=run,
    # the drift check's settings: read by curate (the profile), evaluate (the reference model) and report
    ignored_settings=("reference_run", "drift"),
)
