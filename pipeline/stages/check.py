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

Memory follows the shard size (`check.shard_rows`), not the input's. The
stage is sharded (pipeline.executors): each shard of redacted records is
checked on its own by a worker (a pool process, a Ray actor, or a mapped
Airflow or Prefect task): its contract results (GX), text keys, MinHash
signatures and quality scores. The merge then, reading the records again a
shard at a time:
- combines the shards' contract results (`contracts.combine`: counts add up;
  uniqueness and the row count are judged on the whole set);
- clusters duplicates in stages through disk (`dedup.StagedClusters`: the same
  clusters as the in-memory `find_clusters`);
- checks labels on every row up to `check.labels.max_rows`, above that on a
  seeded sample of about that many rows (the rest are not scored);
- writes the records with their columns, a shard at a time.
What it keeps for every row is about 150 bytes (keys, cluster indexes,
scores, codes), never a text; what is held besides grows with the
near-duplicate candidate pairs (see bench/README.md, scale.py).
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from pipeline import executors
from pipeline.artifacts import RunDir, atomic_path, write_json
from pipeline.config import Config
from pipeline.errors import InputError
from pipeline.layout import CHECK_SHARDS, CHECK_WORK, FINDINGS, GX_RESULTS, STAGES, SUITE
from pipeline.layout import CHECKED_RECORDS as RECORDS
from pipeline.layout import REDACTED_RECORDS as REDACTED
from pipeline.logs import get_logger
from pipeline.quality import contracts
from pipeline.quality.dedup import DedupSettings, StagedClusters, StagedResult, minhashes, normalise, text_key
from pipeline.quality.labels import check_labels
from pipeline.quality.text import join_text, score
from pipeline.stage import Stage, StageContext, StageResult

log = get_logger("pipeline.check")

QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
SCORES = pa.schema(
    [
        ("text_key", pa.string()),
        ("qc_chars", pa.int64()),
        ("qc_alpha_share", pa.float64()),
        ("qc_repeated_line_share", pa.float64()),
        ("qc_repeated_ngram_share", pa.float64()),
        ("qc_tag_share", pa.float64()),
        ("qc_language", pa.string()),
        ("qc_language_score", pa.float64()),
    ]
)
NUMERIC_SCORES = [name for name in SCORES.names[1:] if name != "qc_language"]
LABEL_COLUMNS = pa.schema(
    [("qc_label_quality", pa.float64()), ("qc_label_issue", pa.bool_()), ("qc_suggested_label", pa.string())]
)
CONTRACT_KEY = b"contract"


@dataclass(frozen=True)
class CheckWork:
    """What a worker needs to check one shard; picklable, and equal for equal work."""

    text_columns: tuple[str, ...]
    dedup: DedupSettings
    suite: str  # the GX suite, as JSON
    label_share: float  # the share of rows the label check reads (1.0: every row; 0: no label column)
    seed: int

    def __call__(self) -> CheckWork:
        """A worker's state (pipeline.executors): nothing to build beyond the settings themselves."""
        return self


def run(ctx: StageContext) -> StageResult:
    return executors.run_sharded(SHARDED, ctx)


class CheckPlan:
    """The stage's shards: the redacted rows, `check.shard_rows` at a time (see pipeline.executors.ShardPlan)."""

    def __init__(self, ctx: StageContext) -> None:
        config = ctx.config
        self.ctx = ctx
        self.source = executors.open_parquet(ctx.run_dir.path(REDACTED))
        self.rows = self.source.metadata.num_rows
        self.shard_rows = config.check.shard_rows
        self.count = max(1, math.ceil(self.rows / self.shard_rows))
        self.workers = config.check.workers if self.count > 1 else 1
        self.suite = contracts.suite_for(config)
        has_label = bool(config.record_roles()["label"])
        self.init = CheckWork(
            text_columns=tuple(config.record_roles()["text"]),
            dedup=DedupSettings(**config.check.dedup.model_dump(), seed=config.seed),
            suite=json.dumps(self.suite),
            label_share=min(1.0, config.check.labels.max_rows / max(self.rows, 1)) if has_label else 0.0,
            seed=config.seed,
        )
        self.store = CheckShardStore(ctx.run_dir, ctx.fingerprint)

    def shards(self) -> Iterator[pa.Table]:
        if self.rows == 0:  # one empty shard: the contract still judges the empty table
            yield self.source.schema_arrow.empty_table()
            return
        yield from executors.parquet_shards(self.source, self.shard_rows)


def check_shard(work: CheckWork, shard: pa.Table) -> pa.Table:
    """One shard's contract results (in the schema's metadata) and, per row: text key, normalised text,
    MinHash signature and shingle count, quality scores, and the text when the row is in the label check's sample."""
    frame = shard.to_pandas()
    texts = join_text(frame, list(work.text_columns))
    normalised = [normalise(text) for text in texts]
    signature_rows, shingle_counts = minhashes(normalised, work.dedup)
    scores = pa.Table.from_pylist(
        [
            {"text_key": text_key(cleaned), **{f"qc_{k}": v for k, v in asdict(score(text)).items()}}
            for text, cleaned in zip(
                tqdm(texts, desc="text quality", unit=" rows", disable=None, leave=False), normalised, strict=True
            )
        ],
        schema=SCORES,
    )
    in_sample = [in_label_sample(str(row_id), work) for row_id in frame["row_id"]]
    contract = contracts.validate(frame, json.loads(work.suite))
    return (
        scores.append_column("normalised", pa.array(normalised, pa.string()))
        .append_column(
            "signature",
            pa.FixedSizeListArray.from_arrays(pa.array(signature_rows.ravel(), pa.uint32()), work.dedup.num_perm),
        )
        .append_column("shingles", pa.array(shingle_counts, pa.uint32()))
        .append_column(
            "label_text",
            pa.array([t if keep else None for t, keep in zip(texts, in_sample, strict=True)], pa.string()),
        )
        .replace_schema_metadata({CONTRACT_KEY: json.dumps(contract).encode("utf-8")})
    )


def in_label_sample(row_id: str, work: CheckWork) -> bool:
    """Whether the label check reads this row: all rows at share 1, else a keyed hash of its id below the share."""
    if work.label_share >= 1 or work.label_share <= 0:
        return work.label_share >= 1
    digest = hashlib.blake2b(row_id.encode("utf-8"), digest_size=8, key=str(work.seed).encode("utf-8")).digest()
    return int.from_bytes(digest, "big") / 2**64 < work.label_share


class CheckShardStore:
    """Shards checked ahead of the stage by mapped tasks, one Parquet file each (contract results in its
    metadata), kept under the stage's fingerprint and removed once the stage has merged them."""

    def __init__(self, run_dir: RunDir, fingerprint: str) -> None:
        self.root = run_dir.path(CHECK_SHARDS)
        self.folder = self.root / (fingerprint[:16] or "unnamed")
        self.enabled = bool(fingerprint)

    def _path(self, index: int) -> Path:
        return self.folder / f"shard-{index:05d}.parquet"

    def done(self, index: int) -> bool:
        return self.enabled and self._path(index).is_file()

    def load(self, index: int) -> pa.Table:
        return pq.read_table(self._path(index))

    def save(self, index: int, output: pa.Table) -> None:
        with atomic_path(self._path(index)) as temporary:
            pq.write_table(output, temporary)

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class Gathered:
    """What the merge keeps of every shard's output: contract results and the label check's sample."""

    contract: list[list[dict[str, Any]]]
    sample_rows: list[int]
    sample_texts: list[str]


def _merge(ctx: StageContext, plan: CheckPlan, outputs: Iterator[pa.Table]) -> StageResult:
    config = ctx.config
    work_dir = ctx.run_dir.path(CHECK_WORK)
    shutil.rmtree(work_dir, ignore_errors=True)
    try:
        staged = StagedClusters(work_dir / "dedup", plan.init.dedup)
        gathered = _gather(outputs, staged, work_dir / "scores.parquet")
        columns = NarrowColumns.read(plan.source, config, _unique_columns(plan.suite))
        contract = _check_contract(ctx, plan.suite, gathered.contract, columns)
        clusters = staged.clusters()
        row_ids = _row_ids_at(plan.source, _cluster_heads(clusters.cluster_of) | set(gathered.sample_rows))
        cluster_ids = _ClusterIds(clusters.cluster_of, row_ids)
        label_table, label_findings = _label_columns(plan.rows, gathered, columns, cluster_ids, config)
        _write_records(ctx, plan, work_dir / "scores.parquet", cluster_ids, label_table)
        quality = _quality_findings(work_dir / "scores.parquet")
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    findings = {
        "rows": plan.rows,
        "contract": contract,
        "duplicates": _duplicate_findings(clusters, columns),
        "text_quality": quality,
        "labels": label_findings,
    }
    write_json(ctx.run_dir.path(FINDINGS), findings)
    stats = {
        "total": plan.rows,
        "kept": plan.rows,
        "quarantined": 0,
        "contract_failed": contract["failed"],
        "duplicate_rows": findings["duplicates"]["exact_duplicate_rows"]
        + findings["duplicates"]["near_duplicate_rows"],
        "cross_source_clusters": findings["duplicates"]["cross_source_clusters"],
        "likely_mislabelled": label_findings.get("likely_mislabelled", 0),
    }
    return StageResult(outputs=[RECORDS, SUITE, GX_RESULTS, FINDINGS], stats=stats)


def _gather(outputs: Iterator[pa.Table], staged: StagedClusters, scores_path: Path) -> Gathered:
    """The shards' outputs in order: scores to `scores_path`, texts and bands to the staged clusters."""
    gathered = Gathered(contract=[], sample_rows=[], sample_texts=[])
    with pq.ParquetWriter(scores_path, SCORES) as writer:
        for table in outputs:
            gathered.contract.append(json.loads(table.schema.metadata[CONTRACT_KEY]))
            signature_rows = np.asarray(table.column("signature").combine_chunks().flatten()).reshape(
                table.num_rows, staged.settings.num_perm
            )
            keys = table.column("text_key").to_pylist()
            shingle_counts = np.asarray(table.column("shingles").combine_chunks())
            staged.add(table.column("normalised").to_pylist(), keys, signature_rows, shingle_counts)
            for position, text in enumerate(table.column("label_text").to_pylist()):
                if text is not None:
                    gathered.sample_rows.append(staged.count - table.num_rows + position)
                    gathered.sample_texts.append(text)
            writer.write_table(table.select(SCORES.names).replace_schema_metadata(None))
    return gathered


@dataclass(frozen=True)
class NarrowColumns:
    """Per row, as integer codes: its source and label (-1: null), and a 64-bit hash of each column whose
    values the contract wants unique; read from the records a batch at a time."""

    sources: list[str]
    source_codes: np.ndarray
    label_column: str | None
    labels: list[str]
    label_codes: np.ndarray
    hashes: dict[str, np.ndarray]

    def label_text(self, code: int) -> str:
        """A label as the label check reads it: as text, a null as "None"."""
        return self.labels[code] if code >= 0 else "None"

    @staticmethod
    def read(source: pq.ParquetFile, config: Config, unique: list[str]) -> NarrowColumns:
        label_column = (config.record_roles()["label"] or [None])[0]
        available = set(source.schema_arrow.names)
        unique = [column for column in unique if column in available]
        wanted = list(dict.fromkeys(["source", *([label_column] if label_column else []), *unique]))
        sources: dict[str, int] = {}
        labels: dict[str, int] = {}
        source_codes, label_codes = [], []
        hashes: dict[str, list[np.ndarray]] = {column: [] for column in unique}
        for batch in source.iter_batches(batch_size=config.check.shard_rows, columns=wanted):
            source_codes.append(_codes(batch.column("source").to_pylist(), sources))
            if label_column:
                label_codes.append(_codes(batch.column(label_column).to_pylist(), labels))
            for column in unique:
                hashes[column].append(_hashes(batch.column(column).to_pylist()))
        return NarrowColumns(
            sources=list(sources),
            source_codes=_joined(source_codes, np.int32),
            label_column=label_column,
            labels=list(labels),
            label_codes=_joined(label_codes, np.int32),
            hashes={column: _joined(parts, np.uint64) for column, parts in hashes.items()},
        )


def _codes(values: list[Any], codes: dict[str, int]) -> np.ndarray:
    return np.array([-1 if v is None else codes.setdefault(v, len(codes)) for v in values], dtype=np.int32)


def _hashes(values: list[Any]) -> np.ndarray:
    """A 64-bit hash per value; 0 stands for null (a value hashing to 0 is as likely as a collision)."""
    return np.array(
        [
            0
            if v is None
            else int.from_bytes(hashlib.blake2b(str(v).encode("utf-8"), digest_size=8).digest(), "big") or 1
            for v in values
        ],
        dtype=np.uint64,
    )


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


def _unique_columns(suite: dict[str, Any]) -> list[str]:
    return [
        e["kwargs"]["column"]
        for e in suite["expectations"]
        if e["type"] in contracts.UNIQUE_EXPECTATIONS and "column" in e.get("kwargs", {})
    ]


def _check_contract(
    ctx: StageContext, suite: dict[str, Any], parts: list[list[dict[str, Any]]], columns: NarrowColumns
) -> dict[str, Any]:
    write_json(ctx.run_dir.path(SUITE), suite)
    results = contracts.combine(parts, {column: _uniqueness(h) for column, h in columns.hashes.items()})
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


def _uniqueness(hashes: np.ndarray) -> contracts.Uniqueness:
    present = hashes[hashes != 0]
    _, counts = np.unique(present, return_counts=True)
    return contracts.Uniqueness(
        rows=len(hashes), missing=len(hashes) - len(present), repeated=int(counts[counts > 1].sum())
    )


def _cluster_heads(cluster_of: np.ndarray) -> set[int]:
    """The first rows of clusters with more than one row."""
    return set(np.unique(cluster_of[cluster_of != np.arange(len(cluster_of))]).tolist())


def _row_ids_at(source: pq.ParquetFile, positions: set[int]) -> dict[int, str]:
    """The row ids of the rows at `positions`, read from the records a batch at a time."""
    found: dict[int, str] = {}
    wanted = np.array(sorted(positions), dtype=np.int64)
    start = 0
    for batch in source.iter_batches(batch_size=100_000, columns=["row_id"]):
        end = start + batch.num_rows
        inside = wanted[(wanted >= start) & (wanted < end)]
        ids = batch.column("row_id")
        found.update({int(p): ids[int(p) - start].as_py() for p in inside})
        start = end
    return found


@dataclass(frozen=True)
class _ClusterIds:
    """Per row, its `cluster_id`: its own row id, or that of its cluster's first row."""

    cluster_of: np.ndarray
    head_row_ids: dict[int, str]

    def for_rows(self, start: int, row_ids: list[str]) -> list[str]:
        heads = self.cluster_of[start : start + len(row_ids)]
        return [
            own if head == start + offset else self.head_row_ids[int(head)]
            for offset, (own, head) in enumerate(zip(row_ids, heads.tolist(), strict=True))
        ]


def _label_columns(
    rows: int, gathered: Gathered, columns: NarrowColumns, cluster_ids: _ClusterIds, config: Config
) -> tuple[pa.Table, dict[str, Any]]:
    """The label columns for every row (null where not scored) and the label findings."""
    empty = pa.table(
        {
            "qc_label_quality": pa.nulls(rows, pa.float64()),
            "qc_label_issue": pa.nulls(rows, pa.bool_()),
            "qc_suggested_label": pa.nulls(rows, pa.string()),
        }
    )
    if not columns.label_column:
        return empty, {"skipped": "no label column"}
    settings = config.check.labels
    sample = gathered.sample_rows
    labels = [columns.label_text(code) for code in columns.label_codes[sample].tolist()]
    groups = [cluster_ids.head_row_ids[head] for head in cluster_ids.cluster_of[sample].tolist()]
    findings = check_labels(
        gathered.sample_texts,
        labels,
        groups,
        min_class_rows=settings.min_class_rows,
        folds=settings.folds,
        seed=config.seed,
    )
    all_counts = Counter(columns.label_codes.tolist())
    class_counts = dict(
        sorted(((columns.label_text(c), n) for c, n in all_counts.items()), key=lambda i: (-i[1], i[0]))
    )
    findings = replace(
        findings,
        class_counts=class_counts,
        rare_classes=[label for label, count in class_counts.items() if count < settings.min_class_rows],
    )
    table = _scattered(rows, sample, findings)
    if len(findings.class_counts) < 2:
        log.warning(
            "label '%s' has %d class(es); a classifier needs at least two, so the split stage will stop",
            columns.label_column,
            len(findings.class_counts),
        )
    for label in findings.rare_classes:
        log.warning(
            "label '%s' has %d rows, fewer than check.labels.min_class_rows (%d)",
            label,
            findings.class_counts[label],
            settings.min_class_rows,
        )
    issues = [label for label, issue in zip(labels, findings.issue, strict=True) if issue]
    result = {
        "column": columns.label_column,
        "class_counts": findings.class_counts,
        "rare_classes": findings.rare_classes,
        "min_class_rows": settings.min_class_rows,
        "skipped": findings.skipped,
        "scored_classes": findings.scored_classes,
        "method": "out-of-fold probabilities of TF-IDF + logistic regression, StratifiedGroupKFold by cluster_id; cleanlab find_label_issues (prune_by_noise_rate)",
        "folds": settings.folds,
        "likely_mislabelled": len(issues),
        "likely_mislabelled_by_label": {str(k): int(v) for k, v in sorted(Counter(issues).items())},
    }
    if len(sample) < rows:
        result["sample"] = {
            "rows": len(sample),
            "of": rows,
            "rule": f"above check.labels.max_rows ({settings.max_rows}), a seeded sample (keyed hash of the row id) "
            "is scored; the other rows have null label scores",
        }
    return table, result


def _scattered(rows: int, sample: list[int], findings: Any) -> pa.Table:
    """The sample's label scores at their rows; null elsewhere."""
    quality: list[float | None] = [None] * rows
    issue: list[bool | None] = [None] * rows
    suggested: list[str | None] = [None] * rows
    for position, row in enumerate(sample):
        quality[row] = findings.quality[position]
        issue[row] = findings.issue[position]
        suggested[row] = findings.suggested[position]
    return pa.Table.from_pydict(
        {"qc_label_quality": quality, "qc_label_issue": issue, "qc_suggested_label": suggested}, schema=LABEL_COLUMNS
    )


def _write_records(
    ctx: StageContext, plan: CheckPlan, scores_path: Path, cluster_ids: _ClusterIds, labels: pa.Table
) -> None:
    """The redacted records with the check's columns, a shard at a time."""
    scores = executors.open_parquet(scores_path)
    score_batches = executors.parquet_shards(scores, plan.shard_rows)
    start = 0
    schema = None
    with atomic_path(ctx.run_dir.path(RECORDS)) as path:
        writer: pq.ParquetWriter | None = None
        for records in plan.shards():
            rows = records.num_rows
            own = next(score_batches) if rows else scores.schema_arrow.empty_table()
            table = records.append_column("text_key", own.column("text_key"))
            table = table.append_column(
                "cluster_id", pa.array(cluster_ids.for_rows(start, table.column("row_id").to_pylist()), pa.string())
            )
            for name in SCORES.names[1:]:
                table = table.append_column(name, own.column(name))
            for name in LABEL_COLUMNS.names:
                table = table.append_column(name, labels.column(name).slice(start, rows))
            if writer is None:
                schema = table.schema
                writer = pq.ParquetWriter(path, schema)
            writer.write_table(table.cast(schema))
            start += rows
        if writer is not None:
            writer.close()


def _duplicate_findings(clusters: StagedResult, columns: NarrowColumns) -> dict[str, Any]:
    cluster_of, first_of_key = clusters.cluster_of, clusters.first_of_key
    duplicate = cluster_of != np.arange(len(cluster_of))
    exact = duplicate & (first_of_key == first_of_key[cluster_of])
    heads = np.unique(cluster_of[duplicate])
    members = np.isin(cluster_of, heads)
    sizes = np.bincount(cluster_of[members], minlength=len(cluster_of))[heads] if len(heads) else np.empty(0)
    cross_source = _clusters_with_many(cluster_of[members], columns.source_codes[members])
    conflicting = (
        _clusters_with_many(cluster_of[members], columns.label_codes[members])
        if columns.label_column
        else np.empty(0, dtype=np.int64)
    )
    conflicting_rows = int(np.isin(cluster_of, conflicting).sum())
    if clusters.crowded_buckets:
        log.warning(
            "near-duplicates: %d MinHash bucket(s) held more than check.dedup.max_bucket_texts texts (%d in all: "
            "boilerplate many texts share) and were left out of the candidates",
            clusters.crowded_buckets,
            clusters.crowded_texts,
        )
    if len(conflicting):
        log.warning(
            "%d duplicate cluster(s) hold more than one label (%d rows): the same text is labelled differently",
            len(conflicting),
            conflicting_rows,
        )
    return {
        "rule": "each row joins the cluster of the earlier row it duplicates most closely; the first row of a cluster (ingest order) is kept by curate",
        "clusters": len(heads),
        "rows_in_clusters": int(members.sum()),
        "largest_cluster": int(sizes.max()) if len(sizes) else 0,
        "exact_duplicate_rows": int(exact.sum()),
        "near_duplicate_rows": int((duplicate & ~exact).sum()),
        "cross_source_clusters": len(cross_source),
        "clusters_with_conflicting_labels": len(conflicting),
        "rows_in_clusters_with_conflicting_labels": conflicting_rows,
        "crowded_buckets_left_out": clusters.crowded_buckets,
        "candidate_pairs": clusters.candidate_pairs,
        "candidate_pairs_verified": clusters.plausible_pairs,
    }


def _clusters_with_many(clusters: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The clusters whose rows hold more than one distinct non-null code."""
    present = codes >= 0
    pairs = np.unique(np.stack([clusters[present], codes[present]], axis=1), axis=0)
    found, counts = np.unique(pairs[:, 0], return_counts=True) if len(pairs) else (np.empty(0), np.empty(0))
    return found[counts > 1]


def _quality_findings(scores_path: Path) -> dict[str, Any]:
    """Each score's quantiles over every row (one column in memory at a time) and the rows per language."""
    scores = executors.open_parquet(scores_path)
    if not scores.metadata.num_rows:
        return {"quantiles": {}, "languages": {}}
    quantiles = {}
    for column in NUMERIC_SCORES:
        values = scores.read(columns=[column]).column(column).to_numpy().astype(np.float64)
        values = values[~np.isnan(values)]  # as pandas' quantile: nulls left out
        points = np.quantile(values, QUANTILES) if len(values) else [math.nan] * len(QUANTILES)
        quantiles[column] = {f"p{round(q * 100)}": round(float(v), 4) for q, v in zip(QUANTILES, points, strict=True)}
    languages: Counter[str] = Counter()
    for batch in scores.iter_batches(columns=["qc_language"]):
        languages.update(batch.column("qc_language").to_pylist())
    return {"quantiles": quantiles, "languages": {str(k): v for k, v in languages.most_common()}}


SHARDED = executors.ShardedStage(plan=CheckPlan, process=check_shard, merge=_merge)

STAGE = Stage(
    files=STAGES["check"],
    run=run,
    # the drift check's settings: read by curate (the profile), evaluate (the reference model) and report;
    # workers: who checks the shards changes nothing in the outputs
    ignored_settings=("reference_run", "drift", "workers"),
)
