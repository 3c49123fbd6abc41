"""Redact: remove personal data from the free text, drop direct identifiers, key-hash the group id.

Per row, each text column gets: the detector's spans (Presidio, see
pipeline.pii.engine) plus every occurrence of the row's own identifier values
(and, with `known_values_scope: all_rows`, of every row's), minus whatever is
already masked; then the configured operator per entity. A leak scan (pattern
recognizers at a lower threshold, plus the known values) reads the result:
a residual hit is redacted again or sends the row to quarantine (`pii_leak`).
In a messages column (a conversation, pipeline.quality.chat) each message's
content is such a text, counted under the column; its roles and JSON syntax
are never read or changed, and it is written back in the canonical form.

The stage is sharded (see pipeline.executors): `SHARDED` plans shards of
`redact.shard_rows` rows, redacts each with a worker's engine (loaded once
per pool process, Ray actor or mapped Airflow or Prefect task) and merges
them in order: the outputs are the same whoever redacts the shards.
The ledger counts what was found per entity, column, source and method, and
never holds a value; `redact/row_findings.parquet` holds the same counts per
kept row, so that a later run can reuse this one.

Reuse (a source with `previous_run`): a row the ingest stage marked `seen`
takes its text and group columns, and its counts, from the previous run's
records and row findings instead of being analysed again, when nothing else
its redaction depends on has changed: the key (by its id), the redaction
settings and column roles, the versions of the pipeline, Presidio and spaCy;
and with `propagate: dataset` or `known_values_scope: all_rows` (a new row's
values reach the seen rows) it never is. Otherwise the source's rows are all
analysed and the stats and the ledger say why (`reuse_refused`). A seen row
the previous run quarantined is analysed again. The lookup reads, per shard,
the previous files' row groups that hold the shard's seen rows.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import re
import shutil
from collections import Counter, OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from pipeline import executors
from pipeline.artifacts import Quarantine, RunDir, atomic_path, write_json
from pipeline.config import Config, RedactConfig, config_from_record
from pipeline.errors import ConfigError, StageError
from pipeline.layout import INGESTED_RECORDS as INGESTED
from pipeline.layout import PII_LEDGER as LEDGER
from pipeline.layout import REDACT_SHARDS as SHARDS
from pipeline.layout import REDACTED_RECORDS as RECORDS
from pipeline.layout import ROW_FINDINGS, STAGES
from pipeline.logs import get_logger
from pipeline.pii.known_values import KnownValueMatcher
from pipeline.pii.operators import (
    DEMO_KEY,
    KEYED_OPERATORS,
    Redactor,
    keyed_digest,
    non_overlapping,
    outside_masks,
    pseudonym_key,
)
from pipeline.quality import chat
from pipeline.stage import Stage, StageContext, StageResult, package_versions

if TYPE_CHECKING:  # presidio_analyzer loads spaCy, transformers and torch: imported only in the workers
    from presidio_analyzer import RecognizerResult

log = get_logger("pipeline.redact")

PII_LEAK = "pii_leak"
PII_DROP_ROW = "pii_drop_row"
GROUP_ENTITY = "GROUP_ID"
HASHED_GROUP = re.compile(r"^grp_[0-9a-f]{16}$")
SEEN = "seen"  # the ingest stage's row_status of a row its source's previous run had unchanged
REUSED = "reused_from_previous_run"
# settings that change how the work is spread, not a row's redaction; the key is compared by its id
REUSE_NEUTRAL_SETTINGS = ("workers", "shard_rows", "batch_size", "key_env", "demo_key_if_unset")
REUSE_PACKAGES = ("pipeline", "presidio-analyzer", "presidio-anonymizer", "spacy")
FINDINGS_SCHEMA = pa.schema([("row_id", pa.string()), ("found", pa.string()), ("leaks", pa.string())])


@dataclass(frozen=True)
class RedactColumns:
    """The record columns the stage reads, by role, and the entity each identifier column holds."""

    text: list[str]  # the messages columns among them
    identifier: list[str]
    group: str | None
    identifier_entities: dict[str, str]
    messages: list[str] = field(default_factory=list)  # text columns holding a conversation: each content is a text


@dataclass
class ShardOutput:
    rows: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)
    found: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)  # (entity, column, source, method)
    leaks: Counter[tuple[str, str, str]] = field(
        default_factory=Counter
    )  # (entity, column, redacted_again | quarantined)
    names: set[str] = field(
        default_factory=set
    )  # names found, for redact.propagate: dataset (never written but to the shard cache)
    findings: list[tuple[str, str]] = field(default_factory=list)  # per kept row, as in ROW_FINDINGS: (found, leaks)
    reused: int = 0  # kept rows whose redaction came from the previous run


@dataclass(frozen=True)
class PreviousRow:
    """What the previous run wrote for a seen row: its text and group columns, and its row findings."""

    values: dict[str, Any]
    found: str
    leaks: str


@dataclass(frozen=True)
class RedactShard(Sequence[dict[str, Any]]):
    """A shard's rows, with the previous run's redaction of those that reuse it, by row id."""

    rows: list[dict[str, Any]]
    previous: dict[str, PreviousRow] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: Any) -> Any:
        return self.rows[index]


def run(ctx: StageContext) -> StageResult:
    return executors.run_sharded(SHARDED, ctx)


class RedactPlan:
    """The stage's shards: the ingested rows, `redact.shard_rows` at a time (see pipeline.executors.ShardPlan)."""

    def __init__(self, ctx: StageContext) -> None:
        self.ctx = ctx
        self.settings = ctx.config.redact
        self.columns = _columns(ctx.config)
        self.source = executors.open_parquet(ctx.run_dir.path(INGESTED))
        self.rows = self.source.metadata.num_rows
        self.count = math.ceil(self.rows / self.settings.shard_rows)
        self.workers = self.settings.workers
        self.schema = _output_schema(self.source, self.columns)
        self.store = ShardCache(ctx.run_dir, ctx.fingerprint, self.schema)
        self.reuse = reuse_plan(ctx.config)

    @cached_property
    def init(self) -> Work:
        """What builds a worker; read when first needed (with known_values_scope: all_rows it reads every row)."""
        return _work(self.ctx)

    @cached_property
    def previous(self) -> PreviousRedactions | None:
        """Where the seen rows' earlier redaction is read; None when no source reuses one."""
        if not self.reuse.runs:
            return None
        return PreviousRedactions(self.source, self.reuse.runs, self.columns)

    def shards(self) -> Iterator[RedactShard]:
        for shard in executors.parquet_shards(self.source, self.settings.shard_rows):
            rows = shard.to_pylist()
            yield RedactShard(rows, self.previous.lookup(rows) if self.previous else {})

    def size(self, index: int) -> int:
        """The number of input rows in shard `index`."""
        return min(self.settings.shard_rows, self.rows - index * self.settings.shard_rows)


def _merge(ctx: StageContext, plan: RedactPlan, outputs: Iterator[ShardOutput]) -> StageResult:
    """The shards' outputs, in order, into the records, the quarantine and the ledger."""
    settings, work = plan.settings, plan.init
    if work.key_source == "demo":
        log.warning(
            "$%s is not set: using the built-in demo key. Pseudonyms and hashes are NOT protected; set the variable for real data",
            settings.key_env,
        )
    for source, reason in plan.reuse.refused.items():
        log.warning("%s: the previous run's redaction is not reused, every row is analysed: %s", source, reason)
    found: Counter[tuple[str, str, str, str]] = Counter()
    leaks: Counter[tuple[str, str, str]] = Counter()
    names: set[str] = set()
    total = kept = reused = 0
    records, findings = ctx.run_dir.path(RECORDS), ctx.run_dir.path(ROW_FINDINGS)
    with (
        Quarantine(ctx.run_dir, "redact") as quarantine,
        atomic_path(records) as records_path,
        atomic_path(findings) as findings_path,
    ):
        with (
            pq.ParquetWriter(records_path, plan.schema) as writer,
            pq.ParquetWriter(findings_path, FINDINGS_SCHEMA) as findings_writer,
        ):
            progress = tqdm(total=plan.rows, desc="redact", unit=" rows", disable=None)
            for index, output in enumerate(outputs):
                shard_size = plan.size(index)
                total += shard_size
                kept += len(output.rows)
                reused += output.reused
                for row_id, reason, detail, where in output.quarantined:
                    quarantine.add(row_id, reason, detail, **where)
                found.update(output.found)
                leaks.update(output.leaks)
                names |= output.names
                if output.rows:
                    writer.write_table(pa.Table.from_pylist(output.rows, schema=plan.schema))
                    findings_writer.write_table(_findings_table(output))
                progress.update(shard_size)
            progress.close()
        by_reason = dict(sorted(quarantine.counts.items()))
    if settings.propagate == "dataset" and names:
        found.update(_propagate_across_rows(records, findings, plan.schema, work, names))
    ledger = _ledger(settings, work.columns, work.key_source, found, leaks)
    reuse = {REUSED: reused, "reuse_refused": plan.reuse.refused} if ctx.config.incremental() else {}
    write_json(ctx.run_dir.path(LEDGER), {**ledger, **reuse})
    if reused:
        log.info("%d of %d row(s) took their redaction from the previous run", reused, total)
    stats = {
        "total": total,
        "kept": kept,
        "quarantined": total - kept,
        "quarantined_by_reason": by_reason,
        "entities_found": ledger["entities_found"],
        "leak_scan_hits": sum(leaks.values()),
        "key_source": work.key_source,
        "key_id": key_fingerprint(ctx.config)["key_id"],  # an HMAC of a fixed text: a later run compares keys by it
        **({"analysed": total - reused, **reuse} if reuse else {}),
    }
    return StageResult(outputs=[RECORDS, LEDGER, ROW_FINDINGS, quarantine.relative], stats=stats)


def _findings_table(output: ShardOutput) -> pa.Table:
    rows = [
        {"row_id": row["row_id"], "found": found, "leaks": leaks}
        for row, (found, leaks) in zip(output.rows, output.findings, strict=True)
    ]
    return pa.Table.from_pylist(rows, schema=FINDINGS_SCHEMA)


def row_findings(found: Counter[tuple[str, str, str, str]], leaks: Counter[tuple[str, str, str]]) -> tuple[str, str]:
    """A kept row's counts as ROW_FINDINGS holds them: JSON lists of [entity, column, method, count] and
    [entity, column, outcome, count] (the source is the row's)."""
    return (
        json.dumps(sorted([e, c, m, n] for (e, c, _, m), n in found.items()), separators=(",", ":")),
        json.dumps(sorted([e, c, o, n] for (e, c, o), n in leaks.items()), separators=(",", ":")),
    )


@dataclass(frozen=True)
class ReusePlan:
    """Per source with a previous run: the run whose redaction its seen rows take, or why they cannot."""

    runs: dict[str, Path]
    refused: dict[str, str]


def reuse_plan(config: Config) -> ReusePlan:
    runs: dict[str, Path] = {}
    refused: dict[str, str] = {}
    for index in range(len(config.sources)):
        folder = config.previous_run_dir(index)
        if folder is None:
            continue
        reason = reuse_refusal(config, RunDir(folder))
        if reason is None:
            runs[config.source_name(index)] = folder
        else:
            refused[config.source_name(index)] = reason
    return ReusePlan(runs, refused)


def reuse_refusal(config: Config, previous: RunDir) -> str | None:
    """Why the previous run's redaction of a seen row might differ from what this run would write; None if it cannot."""
    if config.redact.propagate == "dataset":
        return "redact.propagate is dataset: a name found in a new row is redacted in the seen rows too"
    if config.redact.known_values_scope == "all_rows":
        return (
            "redact.known_values_scope is all_rows: a new row's identifier values are scrubbed from the seen rows too"
        )
    manifest = previous.read_manifest()
    stage = manifest.get("stages", {}).get("redact", {})
    outputs = {path: stage.get("outputs", {}).get(path) for path in (RECORDS, ROW_FINDINGS)}
    if stage.get("status") != "finished" or None in outputs.values():
        return (
            f"{previous.root} has no finished redact stage with {ROW_FINDINGS} (run it there first, with this version)"
        )
    if manifest["stages"].get("ingest", {}).get("finished", "") > stage.get("started", ""):
        return f"{previous.root}'s redact stage is older than its ingest stage (run its redact stage again)"
    if stage.get("stats", {}).get("key_id") != key_fingerprint(config)["key_id"]:
        return f"{previous.root} was redacted with another key (${config.redact.key_env} differs)"
    try:
        earlier = _redaction_settings(config_from_record(manifest.get("config", {})))
    except ConfigError:
        return f"this version cannot read the config {previous.root} recorded"
    differs = [key for key, value in _redaction_settings(config).items() if earlier.get(key) != value]
    if differs:
        return f"{previous.root} was redacted with other settings: {', '.join(differs)}"
    versions, recorded = package_versions(), manifest.get("packages", {})
    changed = [name for name in REUSE_PACKAGES if recorded.get(name) != versions.get(name)]
    if changed:
        return f"{previous.root} ran with other versions of {', '.join(changed)}"
    if not previous.outputs_intact(outputs):
        return f"{previous.root}'s {RECORDS} or {ROW_FINDINGS} changed after that run"
    return None


def _redaction_settings(config: Config) -> dict[str, Any]:
    """What a row's redaction depends on besides the row and the key: the redact section (less how the
    work is spread) and the columns by role, keyed by where they are set."""
    section = {f"redact.{k}": v for k, v in config.section("redact").items() if k not in REUSE_NEUTRAL_SETTINGS}
    return section | {f"columns ({k})": v for k, v in asdict(_columns(config)).items()}


class PreviousRedactions:
    """The previous runs' redaction of this run's seen rows (of the sources that reuse it), looked up a shard at a time.

    Built once: the seen row ids from the ingested records and, per previous run, where each of them
    lies in its redacted records (row ids only). A lookup reads the row groups holding a shard's rows,
    from the records and from the row findings, which hold the kept rows in the same order.
    """

    def __init__(self, ingested: pq.ParquetFile, runs: dict[str, Path], columns: RedactColumns) -> None:
        self.columns = [*columns.text, *([columns.group] if columns.group else [])]
        seen = _seen_row_ids(ingested, set(runs))
        self.where: dict[str, tuple[Path, int]] = {}  # row id -> (previous run, position in its records)
        self.readers: dict[Path, tuple[_RowReader, _RowReader]] = {}
        for folder in dict.fromkeys(runs.values()):
            wanted = {row_id for source, ids in seen.items() if runs[source] == folder for row_id in ids}
            records = pq.ParquetFile(folder / RECORDS)
            positions = itertools.count()
            for batch in records.iter_batches(columns=["row_id"]):
                for row_id in batch.column(0).to_pylist():
                    position = next(positions)
                    if row_id in wanted:
                        self.where[row_id] = (folder, position)
            self.readers[folder] = (
                _RowReader(records, ["row_id", *self.columns]),
                _RowReader(pq.ParquetFile(folder / ROW_FINDINGS), FINDINGS_SCHEMA.names),
            )

    def lookup(self, rows: list[dict[str, Any]]) -> dict[str, PreviousRow]:
        """The previous redaction of the shard's seen rows that the previous run kept, by row id."""
        wanted = [self.where[row["row_id"]] + (row["row_id"],) for row in rows if row["row_id"] in self.where]
        previous: dict[str, PreviousRow] = {}
        for folder, reader in self.readers.items():
            here = [(position, row_id) for run, position, row_id in wanted if run == folder]
            records, findings = (each.rows([position for position, _ in here]) for each in reader)
            for (_, row_id), record, finding in zip(here, records, findings, strict=True):
                if record["row_id"] != row_id or finding["row_id"] != row_id:
                    raise StageError(
                        f"{folder / ROW_FINDINGS} does not hold the rows of {folder / RECORDS} in the same order; "
                        f"run that run's redact stage again (--force), or leave out previous_run"
                    )
                values = {column: record[column] for column in self.columns}
                previous[row_id] = PreviousRow(values, finding["found"], finding["leaks"])
        return previous


def _seen_row_ids(ingested: pq.ParquetFile, sources: set[str]) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {source: set() for source in sources}
    for batch in ingested.iter_batches(columns=["row_id", "source", "row_status"]):
        for row in batch.to_pylist():
            if row["row_status"] == SEEN and row["source"] in seen:
                seen[row["source"]].add(row["row_id"])
    return seen


class _RowReader:
    """Rows of a Parquet file by position: the row groups holding them are read, the last few kept."""

    KEPT_GROUPS = 4

    def __init__(self, file: pq.ParquetFile, columns: list[str]) -> None:
        self.file = file
        self.columns = columns
        sizes = [file.metadata.row_group(index).num_rows for index in range(file.num_row_groups)]
        self.starts = list(itertools.accumulate(sizes, initial=0))
        self.groups: OrderedDict[int, list[dict[str, Any]]] = OrderedDict()

    def rows(self, positions: list[int]) -> list[dict[str, Any]]:
        found = []
        for position in positions:
            group = bisect.bisect_right(self.starts, position) - 1
            found.append(self._group(group)[position - self.starts[group]])
        return found

    def _group(self, index: int) -> list[dict[str, Any]]:
        if index not in self.groups:
            self.groups[index] = self.file.read_row_group(index, columns=self.columns).to_pylist()
            if len(self.groups) > self.KEPT_GROUPS:
                self.groups.popitem(last=False)
        self.groups.move_to_end(index)
        return self.groups[index]


@dataclass(frozen=True)
class Work:
    """What every worker needs to redact a shard, and where the key came from; called, it builds
    a worker (what pipeline.executors does once per process or actor: equal work reuses the worker)."""

    settings: RedactConfig
    key: bytes
    key_source: str
    columns: RedactColumns
    global_values: list[tuple[str, str]]

    def __call__(self) -> _Worker:
        return _Worker(self)


def _work(ctx: StageContext) -> Work:
    settings = ctx.config.redact
    columns = _columns(ctx.config)
    key, key_source = _key(ctx.config)
    global_values = []
    if settings.known_values_scope == "all_rows":
        global_values = _all_identifier_values(pq.ParquetFile(ctx.run_dir.path(INGESTED)), columns)
    return Work(settings, key, key_source, columns, global_values)


def _output_schema(source: pq.ParquetFile, columns: RedactColumns) -> pa.Schema:
    return pa.schema([f for f in source.schema_arrow if f.name not in columns.identifier])


class ShardCache:
    """Shards redacted ahead of the stage by mapped tasks, kept under the stage's fingerprint
    (a changed config, input or key leaves them unused); removed once the stage has merged them.

    Per shard: its kept rows as Parquet, then a JSON of its quarantine entries and counts
    (row ids, reasons and entity names, never a value), written last as the mark of a complete shard.
    """

    def __init__(self, run_dir: RunDir, fingerprint: str, schema: pa.Schema) -> None:
        self.root = run_dir.path(SHARDS)
        self.folder = self.root / (fingerprint[:16] or "unnamed")
        self.schema = schema
        self.enabled = bool(fingerprint)

    def _paths(self, index: int) -> tuple[Path, Path]:
        return self.folder / f"shard-{index:05d}.parquet", self.folder / f"shard-{index:05d}.json"

    def done(self, index: int) -> bool:
        return self.enabled and self._paths(index)[1].is_file()

    def load(self, index: int) -> ShardOutput:
        rows_path, summary_path = self._paths(index)
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        rows = pq.read_table(rows_path, schema=self.schema).to_pylist() if summary["rows"] else []
        return ShardOutput(
            rows=rows,
            quarantined=[tuple(entry) for entry in summary["quarantined"]],
            found=Counter({tuple(key): count for key, count in summary["found"]}),
            leaks=Counter({tuple(key): count for key, count in summary["leaks"]}),
            names=set(summary.get("names", [])),
            findings=[tuple(entry) for entry in summary["findings"]],
            reused=summary["reused"],
        )

    def save(self, index: int, output: ShardOutput) -> None:
        rows_path, summary_path = self._paths(index)
        if output.rows:
            with atomic_path(rows_path) as temporary:
                pq.write_table(pa.Table.from_pylist(output.rows, schema=self.schema), temporary)
        write_json(
            summary_path,
            {
                "rows": len(output.rows),
                "quarantined": [list(entry) for entry in output.quarantined],
                "found": [[list(key), count] for key, count in sorted(output.found.items())],
                "leaks": [[list(key), count] for key, count in sorted(output.leaks.items())],
                "names": sorted(output.names),
                "findings": [list(entry) for entry in output.findings],
                "reused": output.reused,
            },
        )

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


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
        messages=roles["messages"],
    )


def guess_entity(column: str) -> str:
    """The entity an identifier column holds, from its name (set redact.identifier_entities to be exact)."""
    name = column.lower()
    for keyword, entity in (
        ("mail", "EMAIL_ADDRESS"),
        ("phone", "PHONE_NUMBER"),
        ("mobile", "PHONE_NUMBER"),
        ("tel", "PHONE_NUMBER"),
        ("name", "PERSON"),
    ):
        if keyword in name:
            return entity
    return "IDENTIFIER"


def _all_identifier_values(source: pq.ParquetFile, columns: RedactColumns) -> list[tuple[str, str]]:
    values: dict[tuple[str, str], None] = {}
    for batch in source.iter_batches(columns=columns.identifier):
        for row in batch.to_pylist():
            values.update(((v, columns.identifier_entities[c]), None) for c, v in row.items() if v)
    return list(values)


class _Worker:
    """What one process needs to redact shards: the engine and the operators, built once per process."""

    def __init__(self, work: Work) -> None:
        from pipeline.pii.engine import PiiDetector  # loads spaCy: only where shards are processed

        self.settings = work.settings
        self.key = work.key
        self.columns = work.columns
        self.detector = PiiDetector(work.settings)
        self.redactor = Redactor(work.settings, work.key)
        self.global_matcher = (
            KnownValueMatcher(work.global_values, work.settings.known_value_min_length) if work.global_values else None
        )


def redact_shard(worker: _Worker, shard: RedactShard) -> ShardOutput:
    """One shard's rows redacted (in a pool process, on a Ray actor or in a mapped task); the rows
    with a previous redaction take it, and the analyzer never reads them."""
    rows, previous = shard.rows, shard.previous
    texts: dict[int, dict[str, list[str]]] = {}
    malformed: dict[int, str] = {}
    for index, row in enumerate(rows):
        if row["row_id"] not in previous:
            try:
                texts[index] = _row_texts(worker.columns, row)
            except ValueError as error:  # ingest writes every conversation canonically: records changed since
                malformed[index] = str(error)
    cells = [
        (index, column, text)
        for index, by_column in texts.items()
        for column in by_column
        for text in by_column[column]
    ]
    detected = worker.detector.analyze([text for _, _, text in cells])
    by_row: dict[int, dict[str, list[tuple[str, list[RecognizerResult]]]]] = {}
    for (index, column, text), results in zip(cells, detected, strict=True):
        by_row.setdefault(index, {}).setdefault(column, []).append((text, results))
    output = ShardOutput()
    for index, row in enumerate(rows):
        if row["row_id"] in previous:
            _reuse_row(worker, row, previous[row["row_id"]], output)
        elif index in malformed:
            output.quarantined.append((row["row_id"], chat.MALFORMED_MESSAGES, malformed[index], _where(row)))
        else:
            _redact_row(worker, row, by_row.get(index, {}), output)
    return output


def _row_texts(columns: RedactColumns, row: dict[str, Any]) -> dict[str, list[str]]:
    """The texts the detector reads in a row, by text column (ValueError for a messages value that does not parse)."""
    return {
        column: _texts(columns, column, row[column]) for column in columns.text if isinstance(row.get(column), str)
    }


def _texts(columns: RedactColumns, column: str, value: str) -> list[str]:
    """A text column's value as its one text; a messages column's as each message's content (never roles or JSON)."""
    if column not in columns.messages:
        return [value]
    try:
        return [message["content"] for message in chat.parse_messages(value)]
    except ValueError as error:
        raise ValueError(chat.located(column, error)) from None


def _with_texts(columns: RedactColumns, column: str, value: str, texts: list[str]) -> str:
    """The value with its texts (as `_texts` gives them) replaced: a conversation keeps its roles, in canonical JSON."""
    if column not in columns.messages:
        (text,) = texts
        return text
    return chat.dump_messages(chat.with_contents(chat.parse_messages(value), texts))


def _where(row: dict[str, Any]) -> dict[str, Any]:
    return {"source": row.get("source"), "source_file": row.get("source_file"), "source_row": row.get("source_row")}


def _reuse_row(worker: _Worker, row: dict[str, Any], previous: PreviousRow, output: ShardOutput) -> None:
    """A seen row as the previous run wrote it: its text and group columns and its counts; the rest (its
    lineage, the other role columns, which the content hash says are unchanged) as this run read it."""
    redacted = {column: value for column, value in row.items() if column not in worker.columns.identifier}
    redacted.update(previous.values)
    source = str(row.get("source"))
    output.found.update(
        {(entity, column, source, method): n for entity, column, method, n in json.loads(previous.found)}
    )
    output.leaks.update({(entity, column, outcome): n for entity, column, outcome, n in json.loads(previous.leaks)})
    output.rows.append(redacted)
    output.findings.append((previous.found, previous.leaks))
    output.reused += 1


def redact_texts(settings: RedactConfig, texts: list[str], key: bytes = DEMO_KEY) -> list[str | None]:
    """Each text redacted as the stage redacts one text column of a row with no identifier columns
    (detection, propagation, operators, leak scan); None where the stage would quarantine the row.
    For benchmarks and for users who want the stage's redaction on texts outside a run."""
    columns = RedactColumns(text=["text"], identifier=[], group=None, identifier_entities={})
    worker = executors.worker_state(Work(settings, key, "", columns, []))
    output = redact_shard(
        worker, RedactShard([{"row_id": str(index), "text": text} for index, text in enumerate(texts)])
    )
    kept = {row["row_id"]: row["text"] for row in output.rows}
    return [kept.get(str(index)) for index in range(len(texts))]


@dataclass
class _Redacted:
    """One text redacted, with what was found in it and what the leak scan hit (keys as in ShardOutput)."""

    text: str
    found: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    leaks: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    drop_reasons: list[str] = field(default_factory=list)


def _redact_row(
    worker: _Worker,
    row: dict[str, Any],
    detected: dict[str, list[tuple[str, list[RecognizerResult]]]],
    output: ShardOutput,
) -> None:
    """`detected`: per text column, each of its texts (`_texts`) with the detector's spans."""
    columns = worker.columns
    known = KnownValueMatcher(
        ((row[c], columns.identifier_entities[c]) for c in columns.identifier if row.get(c)),
        worker.settings.known_value_min_length,
    )
    names = _propagation_matcher(worker, detected, output)
    redacted = dict(row)
    drop_reasons: list[str] = []
    found: Counter[tuple[str, str, str, str]] = Counter()
    leaks: Counter[tuple[str, str, str]] = Counter()
    for column, texts in detected.items():
        parts = [
            _redact_text(worker, text, results, (column, str(row.get("source"))), known, names)
            for text, results in texts
        ]
        for part in parts:
            found.update(part.found)
            leaks.update(part.leaks)
            drop_reasons += part.drop_reasons
        redacted[column] = _with_texts(columns, column, row[column], [part.text for part in parts])
    output.found.update(found)
    output.leaks.update(leaks)
    if drop_reasons:
        reason = PII_LEAK if any(r.startswith(PII_LEAK) for r in drop_reasons) else PII_DROP_ROW
        output.quarantined.append((row["row_id"], reason, "; ".join(sorted(set(drop_reasons))), _where(row)))
        return
    for column in columns.identifier:
        redacted.pop(column, None)
    group_value = row.get(columns.group) if columns.group else None
    if group_value and not HASHED_GROUP.match(group_value):
        redacted[columns.group] = "grp_" + keyed_digest(worker.key, GROUP_ENTITY, group_value)[:16]
    output.rows.append(redacted)
    output.findings.append(row_findings(found, leaks))


def _redact_text(
    worker: _Worker,
    text: str,
    results: list[RecognizerResult],
    where: tuple[str, str],
    known: KnownValueMatcher,
    names: KnownValueMatcher | None,
) -> _Redacted:
    """One text of a row (`where`: its column and source) redacted: the detector's spans, the row's known values and
    names, then the leak scan (redacted again, or a drop reason)."""
    column, source = where
    spans = non_overlapping(
        outside_masks(
            text, results + _known_spans(text, known, worker.global_matcher) + _propagated_spans(text, names)
        )
    )
    out = _Redacted(worker.redactor.redact(text, spans))
    for span in spans:
        out.found[(span.entity_type, column, source, _method(span))] += 1
        if worker.settings.operator(span.entity_type) == "drop_row":
            out.drop_reasons.append(f"{span.entity_type} in {column}")
    leaked = _leak_scan(worker, out.text, known, names)
    if leaked and worker.settings.leak_action == "redact_again":
        out.leaks.update((span.entity_type, column, "redacted_again") for span in leaked)
        out.text = worker.redactor.redact(out.text, leaked)
        leaked = _leak_scan(worker, out.text, known, names)
    if leaked:
        out.leaks.update((span.entity_type, column, "quarantined") for span in leaked)
        out.drop_reasons.append(f"{PII_LEAK}: {', '.join(sorted({span.entity_type for span in leaked}))} in {column}")
    return out


def _leak_scan(
    worker: _Worker, text: str, known: KnownValueMatcher, names: KnownValueMatcher | None
) -> list[RecognizerResult]:
    """What the pattern recognizers (at the leak threshold), the known values and the document's names still find."""
    found = (
        worker.detector.scan(text) + _known_spans(text, known, worker.global_matcher) + _propagated_spans(text, names)
    )
    return non_overlapping(outside_masks(text, found))


def _method(span: RecognizerResult) -> str:
    if span.recognition_metadata.get("known_value"):
        return "known_value"
    return "propagated" if span.recognition_metadata.get("propagated") else "detector"


def _propagation_matcher(
    worker: _Worker, detected: dict[str, list[tuple[str, list[RecognizerResult]]]], output: ShardOutput
) -> KnownValueMatcher | None:
    """The names found anywhere in this row's texts (every message of a conversation), with their parts, as a
    matcher; with redact.propagate: dataset they are also kept in `output.names` for the pass over every row."""
    from pipeline.pii.names import propagated_names

    if worker.settings.propagate == "off":
        return None
    texts = [text for by_column in detected.values() for text in by_column]
    names = propagated_names((text for text, _ in texts), (results for _, results in texts), worker.detector.lexicon)
    if worker.settings.propagate == "dataset":
        output.names |= names
    matcher = KnownValueMatcher(((name, "PERSON_NAME") for name in names), worker.settings.known_value_min_length)
    return None if matcher.empty else matcher


def _propagate_across_rows(
    path: Path, findings_path: Path, schema: pa.Schema, work: Work, names: set[str]
) -> Counter[tuple[str, str, str, str]]:
    """redact.propagate: dataset: every mention of a name found in any row is redacted in every kept row,
    in a second pass over the redacted records (and their row findings, in step); returns the counts
    for the ledger (method `propagated_dataset`)."""
    from pipeline.pii.operators import Redactor

    matcher = KnownValueMatcher(((name, "PERSON_NAME") for name in names), work.settings.known_value_min_length)
    redactor = Redactor(work.settings, work.key)
    found: Counter[tuple[str, str, str, str]] = Counter()
    source, earlier_findings = pq.ParquetFile(path), _file_rows(pq.ParquetFile(findings_path))
    with (
        atomic_path(path) as temporary,
        pq.ParquetWriter(temporary, schema) as writer,
        atomic_path(findings_path) as findings_temporary,
        pq.ParquetWriter(findings_temporary, FINDINGS_SCHEMA) as findings_writer,
    ):
        for batch in source.iter_batches(batch_size=work.settings.shard_rows):
            rows = batch.to_pylist()
            findings = [next(earlier_findings) for _ in rows]
            for row, finding in zip(rows, findings, strict=True):
                added: Counter[tuple[str, str, str, str]] = Counter()
                for column, texts in _row_texts(work.columns, row).items():
                    spans = [non_overlapping(outside_masks(text, _propagated_spans(text, matcher))) for text in texts]
                    if any(spans):
                        redacted = [redactor.redact(text, hits) for text, hits in zip(texts, spans, strict=True)]
                        row[column] = _with_texts(work.columns, column, row[column], redacted)
                        added[("PERSON", column, str(row.get("source")), "propagated_dataset")] += sum(map(len, spans))
                if added:
                    found.update(added)
                    source_name = str(row.get("source"))
                    earlier = Counter({(e, c, source_name, m): n for e, c, m, n in json.loads(finding["found"])})
                    finding["found"] = row_findings(earlier + added, Counter())[0]
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))
            findings_writer.write_table(pa.Table.from_pylist(findings, schema=FINDINGS_SCHEMA))
    return found


def _file_rows(file: pq.ParquetFile) -> Iterator[dict[str, Any]]:
    for batch in file.iter_batches():
        yield from batch.to_pylist()


def _propagated_spans(text: str, names: KnownValueMatcher | None) -> list[RecognizerResult]:
    from presidio_analyzer import RecognizerResult

    if names is None:
        return []
    return [
        RecognizerResult(
            "PERSON",
            span.start,
            span.end,
            0.7,
            recognition_metadata={"propagated": True, "recognizer_name": "NamePropagation"},
        )
        for span in names.find(text)
    ]


def _known_spans(
    text: str, known: KnownValueMatcher, global_matcher: KnownValueMatcher | None
) -> list[RecognizerResult]:
    from presidio_analyzer import RecognizerResult

    spans = known.find(text) + (global_matcher.find(text) if global_matcher else [])
    return [
        RecognizerResult(
            span.entity,
            span.start,
            span.end,
            1.0,
            recognition_metadata={"known_value": True, "recognizer_name": "KnownValue"},
        )
        for span in spans
    ]


def _ledger(
    settings: RedactConfig, columns: RedactColumns, key_source: str, found: Counter, leaks: Counter
) -> dict[str, Any]:
    entities: dict[str, dict[str, Any]] = {}
    for (entity, column, source, method), count in sorted(found.items()):
        entry = entities.setdefault(
            entity,
            {
                "total": 0,
                "operator": settings.operator(entity),
                "by_column": Counter(),
                "by_source": Counter(),
                "by_method": Counter(),
            },
        )
        entry["total"] += count
        entry["by_column"][column] += count
        entry["by_source"][source] += count
        entry["by_method"][method] += count
    return {
        "note": "counts only; no detected value is stored anywhere in this run",
        "key_source": key_source,
        "entities_found": {entity: entry["total"] for entity, entry in entities.items()},
        "entities": {
            entity: {k: dict(v) if isinstance(v, Counter) else v for k, v in entry.items()}
            for entity, entry in entities.items()
        },
        "leak_scan": {
            "action": settings.leak_action,
            "threshold": settings.leak_threshold,
            "hits": [
                {"entity": entity, "column": column, "outcome": outcome, "count": count}
                for (entity, column, outcome), count in sorted(leaks.items())
            ],
            "redacted_again": sum(count for (_, _, outcome), count in leaks.items() if outcome == "redacted_again"),
            "quarantined": sum(count for (_, _, outcome), count in leaks.items() if outcome == "quarantined"),
        },
        "identifier_columns_dropped": columns.identifier,
        "identifier_entities": columns.identifier_entities,
        "group_column_hashed": columns.group,
        "text_columns_scanned": columns.text,
    }


SHARDED = executors.ShardedStage(plan=RedactPlan, process=redact_shard, merge=_merge)


def _fingerprint_extra(config: Config) -> dict[str, Any]:
    """The key, and for a source with a previous run, that run's redact stage (its fingerprint and outputs):
    what its seen rows may take from it."""
    previous = {}
    for index in range(len(config.sources)):
        folder = config.previous_run_dir(index)
        if folder is not None:
            stage = RunDir(folder).read_manifest().get("stages", {}).get("redact", {})
            previous[config.source_name(index)] = {key: stage.get(key) for key in ("fingerprint", "outputs")}
    return key_fingerprint(config) | ({"previous_runs": previous} if previous else {})


STAGE = Stage(
    files=STAGES["redact"],
    run=run,
    fingerprint_extra=_fingerprint_extra,
)
