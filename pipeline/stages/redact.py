"""Redact: remove personal data from the free text, drop direct identifiers, key-hash the group id.

Per row, each text column gets: the detector's spans (Presidio, see
pipeline.pii.engine) plus every occurrence of the row's own identifier values
(and, with `known_values_scope: all_rows`, of every row's), minus whatever is
already masked; then the configured operator per entity. A leak scan (pattern
recognizers at a lower threshold, plus the known values) reads the result:
a residual hit is redacted again or sends the row to quarantine (`pii_leak`).

Shards of rows run in a process pool; each worker loads the engine once.
The ledger counts what was found per entity, column, source and method, and
never holds a value.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from pipeline.artifacts import Quarantine, atomic_path, write_json
from pipeline.config import Config, RedactConfig
from pipeline.pii.known_values import KnownValueMatcher
from pipeline.pii.operators import KEYED_OPERATORS, Redactor, keyed_digest, non_overlapping, outside_masks, pseudonym_key
from pipeline.stage import Stage, StageContext, StageResult
from pipeline.stages.ingest import RECORDS as INGESTED

if TYPE_CHECKING:  # presidio_analyzer loads spaCy, transformers and torch: imported only in the workers
    from presidio_analyzer import RecognizerResult

log = logging.getLogger("pipeline.redact")

RECORDS = "redact/records.parquet"
LEDGER = "redact/pii_ledger.json"
PII_LEAK = "pii_leak"
PII_DROP_ROW = "pii_drop_row"
GROUP_ENTITY = "GROUP_ID"
HASHED_GROUP = re.compile(r"^grp_[0-9a-f]{16}$")


@dataclass(frozen=True)
class RedactColumns:
    """The record columns the stage reads, by role, and the entity each identifier column holds."""

    text: list[str]
    identifier: list[str]
    group: str | None
    identifier_entities: dict[str, str]


@dataclass
class ShardOutput:
    rows: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)
    found: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)  # (entity, column, source, method)
    leaks: Counter[tuple[str, str]] = field(default_factory=Counter)  # (entity, column)


def run(ctx: StageContext) -> StageResult:
    config = ctx.config
    settings = config.redact
    columns = _columns(config)
    key, key_source = _key(config)
    if key_source == "demo":
        log.warning("$%s is not set: using the built-in demo key. Pseudonyms and hashes are NOT protected; set the variable for real data", settings.key_env)
    source = pq.ParquetFile(ctx.run_dir.path(INGESTED))
    global_values = _all_identifier_values(source, columns) if settings.known_values_scope == "all_rows" else []
    output_schema = pa.schema([f for f in source.schema_arrow if f.name not in columns.identifier])
    found: Counter[tuple[str, str, str, str]] = Counter()
    leaks: Counter[tuple[str, str]] = Counter()
    total = kept = 0
    with Quarantine(ctx.run_dir, "redact") as quarantine, atomic_path(ctx.run_dir.path(RECORDS)) as records_path:
        with pq.ParquetWriter(records_path, output_schema) as writer:
            shards = _shards(source, settings.shard_rows)
            progress = tqdm(total=source.metadata.num_rows, desc="redact", unit=" rows", disable=None)
            for shard_size, output in _process(shards, settings, key, columns, global_values):
                total += shard_size
                kept += len(output.rows)
                for row_id, reason, detail, where in output.quarantined:
                    quarantine.add(row_id, reason, detail, **where)
                found.update(output.found)
                leaks.update(output.leaks)
                if output.rows:
                    writer.write_table(pa.Table.from_pylist(output.rows, schema=output_schema))
                progress.update(shard_size)
            progress.close()
        by_reason = dict(sorted(quarantine.counts.items()))
    ledger = _ledger(settings, columns, key_source, found, leaks)
    write_json(ctx.run_dir.path(LEDGER), ledger)
    stats = {
        "total": total,
        "kept": kept,
        "quarantined": total - kept,
        "quarantined_by_reason": by_reason,
        "entities_found": ledger["entities_found"],
        "leak_scan_hits": sum(leaks.values()),
        "key_source": key_source,
    }
    return StageResult(outputs=[RECORDS, LEDGER, quarantine.relative], stats=stats)


def _key(config: Config) -> tuple[bytes, str]:
    keyed = [config.redact.default_operator, *config.redact.operators.values()]
    needed = bool(config.record_roles()["group"]) or any(op in KEYED_OPERATORS for op in keyed)
    return pseudonym_key(config.redact, needed=needed)


def key_fingerprint(config: Config) -> dict[str, str]:
    """An id of the key in the environment (an HMAC, not the key), so a new key redoes the stage."""
    key, source = _key(config)
    return {"key_source": source, "key_id": keyed_digest(key, "KEY_ID", "pipeline")[:16] if key else ""}


def _columns(config: Config) -> RedactColumns:
    roles = config.record_roles()
    identifiers = roles["identifier"]
    return RedactColumns(
        text=roles["text"],
        identifier=identifiers,
        group=roles["group"][0] if roles["group"] else None,
        identifier_entities={c: config.redact.identifier_entities.get(c, guess_entity(c)) for c in identifiers},
    )


def guess_entity(column: str) -> str:
    """The entity an identifier column holds, from its name (set redact.identifier_entities to be exact)."""
    name = column.lower()
    for keyword, entity in (("mail", "EMAIL_ADDRESS"), ("phone", "PHONE_NUMBER"), ("mobile", "PHONE_NUMBER"), ("tel", "PHONE_NUMBER"), ("name", "PERSON")):
        if keyword in name:
            return entity
    return "IDENTIFIER"


def _all_identifier_values(source: pq.ParquetFile, columns: RedactColumns) -> list[tuple[str, str]]:
    values: dict[tuple[str, str], None] = {}
    for batch in source.iter_batches(columns=columns.identifier):
        for row in batch.to_pylist():
            values.update(((v, columns.identifier_entities[c]), None) for c, v in row.items() if v)
    return list(values)


def _shards(source: pq.ParquetFile, size: int) -> Iterator[list[dict[str, Any]]]:
    for batch in source.iter_batches(batch_size=size):
        yield batch.to_pylist()


def _process(
    shards: Iterator[list[dict[str, Any]]], settings: RedactConfig, key: bytes, columns: RedactColumns, global_values: list[tuple[str, str]]
) -> Iterator[tuple[int, ShardOutput]]:
    """Redact shards in order, in a pool of `workers` processes (in this process when 1)."""
    workers = settings.workers or os.cpu_count() or 1
    if workers == 1:
        _init_worker(settings, key, columns, global_values)
        for shard in shards:
            yield len(shard), redact_shard(shard)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(settings, key, columns, global_values)) as pool:
        pending: deque[tuple[int, Future[ShardOutput]]] = deque()
        for shard in shards:
            pending.append((len(shard), pool.submit(redact_shard, shard)))
            if len(pending) >= 2 * workers:  # bounded: memory follows shard size, not input size
                size, future = pending.popleft()
                yield size, future.result()
        while pending:
            size, future = pending.popleft()
            yield size, future.result()


class _Worker:
    """What one process needs to redact shards; built once per process."""

    def __init__(self, settings: RedactConfig, key: bytes, columns: RedactColumns, global_values: list[tuple[str, str]]) -> None:
        from pipeline.pii.engine import PiiDetector  # loads spaCy: only where shards are processed

        self.settings = settings
        self.key = key
        self.columns = columns
        self.detector = PiiDetector(settings)
        self.redactor = Redactor(settings, key)
        self.global_matcher = KnownValueMatcher(global_values, settings.known_value_min_length) if global_values else None


_worker: _Worker | None = None


def _init_worker(settings: RedactConfig, key: bytes, columns: RedactColumns, global_values: list[tuple[str, str]]) -> None:
    global _worker
    if _worker is None or _worker.settings != settings or _worker.key != key or _worker.columns != columns:
        _worker = _Worker(settings, key, columns, global_values)


def redact_shard(rows: list[dict[str, Any]]) -> ShardOutput:
    assert _worker is not None, "call _init_worker first"
    worker = _worker
    cells = [(index, column) for index, row in enumerate(rows) for column in worker.columns.text if isinstance(row.get(column), str)]
    detected = worker.detector.analyze([rows[index][column] for index, column in cells])
    by_row: dict[int, dict[str, list[RecognizerResult]]] = {}
    for (index, column), results in zip(cells, detected, strict=True):
        by_row.setdefault(index, {})[column] = results
    output = ShardOutput()
    for index, row in enumerate(rows):
        _redact_row(worker, row, by_row.get(index, {}), output)
    return output


def _redact_row(worker: _Worker, row: dict[str, Any], detected: dict[str, list[RecognizerResult]], output: ShardOutput) -> None:
    columns = worker.columns
    known = KnownValueMatcher(
        ((row[c], columns.identifier_entities[c]) for c in columns.identifier if row.get(c)), worker.settings.known_value_min_length
    )
    where = {"source": row.get("source"), "source_file": row.get("source_file"), "source_row": row.get("source_row")}
    redacted = dict(row)
    drop_reasons: list[str] = []
    for column, results in detected.items():
        text = row[column]
        spans = non_overlapping(outside_masks(text, results + _known_spans(text, known, worker.global_matcher)))
        for span in spans:
            method = "known_value" if span.recognition_metadata.get("known_value") else "detector"
            output.found[(span.entity_type, column, str(row.get("source")), method)] += 1
            if worker.settings.operator(span.entity_type) == "drop_row":
                drop_reasons.append(f"{span.entity_type} in {column}")
        new_text = worker.redactor.redact(text, spans)
        leaked = non_overlapping(outside_masks(new_text, worker.detector.scan(new_text) + _known_spans(new_text, known, worker.global_matcher)))
        for span in leaked:
            output.leaks[(span.entity_type, column)] += 1
        if leaked and worker.settings.leak_action == "redact_again":
            new_text = worker.redactor.redact(new_text, leaked)
        elif leaked:
            entities = sorted({span.entity_type for span in leaked})
            drop_reasons.append(f"{PII_LEAK}: {', '.join(entities)} in {column}")
        redacted[column] = new_text
    if drop_reasons:
        reason = PII_LEAK if any(r.startswith(PII_LEAK) for r in drop_reasons) else PII_DROP_ROW
        output.quarantined.append((row["row_id"], reason, "; ".join(sorted(set(drop_reasons))), where))
        return
    for column in columns.identifier:
        redacted.pop(column, None)
    group_value = row.get(columns.group) if columns.group else None
    if group_value and not HASHED_GROUP.match(group_value):
        redacted[columns.group] = "grp_" + keyed_digest(worker.key, GROUP_ENTITY, group_value)[:16]
    output.rows.append(redacted)


def _known_spans(text: str, known: KnownValueMatcher, global_matcher: KnownValueMatcher | None) -> list[RecognizerResult]:
    from presidio_analyzer import RecognizerResult

    spans = known.find(text) + (global_matcher.find(text) if global_matcher else [])
    return [
        RecognizerResult(span.entity, span.start, span.end, 1.0, recognition_metadata={"known_value": True, "recognizer_name": "KnownValue"})
        for span in spans
    ]


def _ledger(settings: RedactConfig, columns: RedactColumns, key_source: str, found: Counter, leaks: Counter) -> dict[str, Any]:
    entities: dict[str, dict[str, Any]] = {}
    for (entity, column, source, method), count in sorted(found.items()):
        entry = entities.setdefault(entity, {"total": 0, "operator": settings.operator(entity), "by_column": Counter(), "by_source": Counter(), "by_method": Counter()})
        entry["total"] += count
        entry["by_column"][column] += count
        entry["by_source"][source] += count
        entry["by_method"][method] += count
    return {
        "note": "counts only; no detected value is stored anywhere in this run",
        "key_source": key_source,
        "entities_found": {entity: entry["total"] for entity, entry in entities.items()},
        "entities": {entity: {k: dict(v) if isinstance(v, Counter) else v for k, v in entry.items()} for entity, entry in entities.items()},
        "leak_scan": {
            "action": settings.leak_action,
            "threshold": settings.leak_threshold,
            "hits": [{"entity": entity, "column": column, "count": count} for (entity, column), count in sorted(leaks.items())],
        },
        "identifier_columns_dropped": columns.identifier,
        "identifier_entities": columns.identifier_entities,
        "group_column_hashed": columns.group,
        "text_columns_scanned": columns.text,
    }


STAGE = Stage(
    name="redact",
    reads=INGESTED,
    writes=f"{RECORDS} (text redacted, identifier columns dropped, group id key-hashed), {LEDGER} (counts per entity, column, source; no values), quarantine/redact.jsonl",
    run=run,
    fingerprint_extra=key_fingerprint,
)
