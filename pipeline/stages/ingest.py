"""Ingest: parse every source into one Parquet table of records with column roles applied.

Each row gets a stable `row_id` (`<source>:<id>` from the id column, else
`<source>:<hash of its values>`; a repeat gets `#2`, `#3`, ...), its lineage
(`source`, `source_file`, `source_row`), and only the columns the config
gives a role; missing-value tokens become null. A row that cannot be parsed,
breaks an input limit (`ingest.limits`), lacks text (or a label, for
classification), or holds a messages value that is not a valid conversation
(`malformed_messages`, see pipeline.quality.chat), goes to the quarantine; a
valid conversation is written in its canonical JSON form. What the readers
repaired (control characters stripped, repeated column names renamed) is
counted per file in the schema report.

A source that names a previous run (`previous_run`) is compared with that
run's ingested records of the same source: each row gets its `content_hash`
(of its kept values) and a `row_status`: `seen` (the previous run has the
same row id with the same content hash), `changed` (same row id, another
hash) or `new`. Without an id column the row id is the content hash, so an
edited row is `new`. The previous records are read a batch at a time, only
`row_id` and `content_hash` (or, from a run made without them, the columns the
hash is made of). The two columns are there only when some source names a
previous run, so the records of other runs are as they were.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from pipeline.artifacts import Quarantine, RunDir, atomic_path, write_json
from pipeline.config import INCREMENTAL_COLUMNS, LINEAGE_COLUMNS, Config, Source
from pipeline.errors import InputError
from pipeline.layout import INGESTED_RECORDS as RECORDS
from pipeline.layout import SCHEMA, STAGES
from pipeline.logs import get_logger, printable
from pipeline.quality import chat
from pipeline.readers import RawRecord, ReadStats, column_listing, read_records
from pipeline.stage import Stage, StageContext, StageResult

log = get_logger("pipeline.ingest")

MISSING_TEXT = "missing_text"
MISSING_LABEL = "missing_label"
BATCH_ROWS = 10_000
NEW, CHANGED, SEEN = "new", "changed", "seen"  # a row against the source's previous run
ROW_STATUSES = (NEW, CHANGED, SEEN)


@dataclass
class SourceTally:
    total: int = 0
    kept: int = 0
    quarantined: int = 0
    duplicate_ids: int = 0
    files: list[dict[str, Any]] = field(default_factory=list)
    row_status: Counter[str] = field(default_factory=Counter)  # kept rows by status, when the run is incremental


def run(ctx: StageContext) -> StageResult:
    config = ctx.config
    _refuse_own_run_dir(config, ctx.run_dir)
    columns = record_columns(config)
    schema = pa.schema([(name, pa.int64() if name == "source_row" else pa.string()) for name in columns])
    tallies: dict[str, SourceTally] = {}
    non_null: Counter[str] = Counter()
    with Quarantine(ctx.run_dir, "ingest") as quarantine, atomic_path(ctx.run_dir.path(RECORDS)) as records_path:
        with pq.ParquetWriter(records_path, schema) as writer:
            for batch in _batches(_ingest_sources(config, quarantine, tallies), BATCH_ROWS):
                for row in batch:
                    non_null.update(name for name, value in row.items() if value is not None)
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
        quarantined_by_reason = dict(sorted(quarantine.counts.items()))
    write_json(ctx.run_dir.path(SCHEMA), _schema_report(config, columns, non_null, tallies))
    stats = {
        "total": sum(t.total for t in tallies.values()),
        "kept": sum(t.kept for t in tallies.values()),
        "quarantined": sum(t.quarantined for t in tallies.values()),
        "quarantined_by_reason": quarantined_by_reason,
        "duplicate_ids": sum(t.duplicate_ids for t in tallies.values()),
        "per_source": {
            name: {"total": t.total, "kept": t.kept, "quarantined": t.quarantined} for name, t in tallies.items()
        },
    }
    if config.incremental():
        stats["row_status"] = {status: sum(t.row_status[status] for t in tallies.values()) for status in ROW_STATUSES}
        for name, tally in tallies.items():
            stats["per_source"][name]["row_status"] = {status: tally.row_status[status] for status in ROW_STATUSES}
    return StageResult(outputs=[RECORDS, SCHEMA, quarantine.relative], stats=stats)


def record_columns(config: Config) -> list[str]:
    """The columns of the ingested records: lineage first (with the row status, in an incremental run),
    then each role's columns."""
    lineage = list(LINEAGE_COLUMNS) + (list(INCREMENTAL_COLUMNS) if config.incremental() else [])
    # dict.fromkeys: the messages column is listed as a text column too
    return lineage + list(dict.fromkeys(name for names in config.record_roles().values() for name in names))


def _ingest_sources(
    config: Config, quarantine: Quarantine, tallies: dict[str, SourceTally]
) -> Iterator[dict[str, Any]]:
    missing_tokens = {
        token.casefold() if config.ingest.missing_values_ignore_case else token
        for token in config.ingest.missing_values
    }
    for index, source in enumerate(config.sources):
        name = config.source_name(index)
        tally = tallies.setdefault(name, SourceTally())
        ids_seen: Counter[str] = Counter()
        previous = (previous_hashes(config, index) or {}) if config.incremental() else None
        for path in config.source_files(index):
            read_stats = ReadStats()
            total_before = tally.total
            rows = _RowMaker(config, source, name, missing_tokens, ids_seen, previous)
            with closing(read_records(path, source, read_stats, config.ingest.limits)) as records:
                yield from _ingest_file(path, records, name, rows, tally, quarantine)
            tally.duplicate_ids += rows.duplicate_ids
            tally.files.append(_file_report(path, read_stats, source, rows.columns_seen))
            if tally.total == total_before:
                log.warning("%s: no data rows", path.name)
            _log_repairs(path, read_stats)


def _ingest_file(
    path: Path,
    records: Iterator[RawRecord],
    name: str,
    rows: _RowMaker,
    tally: SourceTally,
    quarantine: Quarantine,
) -> Iterator[dict[str, Any]]:
    for raw in tqdm(records, desc=f"ingest {printable(path.name)}", unit=" rows", disable=None, leave=False):
        tally.total += 1
        where = {"source": name, "source_file": path.name, "source_row": raw.position}
        if raw.values is None:
            tally.quarantined += 1
            quarantine.add(
                f"{name}:{path.name}:{raw.position}", raw.reason or "unparseable", raw.detail or "", **where
            )
            continue
        rows.columns_seen.update(raw.values)
        kept = rows.kept_values(raw.values)
        row_id = rows.row_id(kept)
        problem = rows.missing_required(kept) or rows.malformed_messages(kept)
        if problem:
            tally.quarantined += 1
            quarantine.add(row_id, *problem, **where)
            continue
        tally.kept += 1
        if rows.previous is None:
            yield {"row_id": row_id, **where} | kept
            continue
        content_hash = _content_hash(kept)
        status = row_status(row_id, content_hash, rows.previous)
        tally.row_status[status] += 1
        yield {"row_id": row_id, **where, "content_hash": content_hash, "row_status": status} | kept


def _refuse_own_run_dir(config: Config, run_dir: RunDir) -> None:
    for index in range(len(config.sources)):
        folder = config.previous_run_dir(index)
        if folder is not None and folder.resolve() == run_dir.root.resolve():
            raise InputError(
                f"sources[{index}].previous_run: {folder} is this run's own directory; a run is compared with an "
                "earlier one: run into a new directory (--run-dir) and name this one as its previous run"
            )


def row_status(row_id: str, content_hash: str, previous: dict[str, str]) -> str:
    """`seen`, `changed` or `new`: the row against the previous run's rows of its source (row id -> content hash).

    Without an id column the row id is made of the content hash, so such a row is `seen` or `new`;
    the n-th repeat of a row (`#n`) is `seen` when the previous run had n of them.
    """
    if row_id not in previous:
        return NEW
    return SEEN if previous[row_id] == content_hash else CHANGED


def previous_hashes(config: Config, index: int) -> dict[str, str] | None:
    """Row id -> content hash of the source's rows in its previous run's ingested records; None without one.

    Read a batch at a time: `row_id`, `source` and the stored `content_hash`, or, from a run made
    without it, the source's record columns to hash again (a column that run lacks counts as null).
    """
    folder = config.previous_run_dir(index)
    if folder is None:
        return None
    previous = _previous_records(config, index, folder)
    name, source = config.source_name(index), config.sources[index]
    kept_names = [source.record_name(column) for column in source.columns.names()]
    available = set(previous.schema_arrow.names)
    stored = "content_hash" in available
    columns = ["row_id", "source", *(["content_hash"] if stored else [n for n in kept_names if n in available])]
    hashes: dict[str, str] = {}
    for batch in previous.iter_batches(batch_size=BATCH_ROWS, columns=columns):
        for row in batch.filter(pc.equal(batch.column("source"), name)).to_pylist():
            hashes[row["row_id"]] = (
                row["content_hash"] if stored else _content_hash({n: row.get(n) for n in kept_names})
            )
    return hashes


def _previous_records(config: Config, index: int, folder: Path) -> pq.ParquetFile:
    """The previous run's ingested records, checked against the hash its manifest recorded."""
    where = f"sources[{index}].previous_run"
    previous = RunDir(folder)
    recorded = previous.read_manifest().get("stages", {}).get("ingest", {}).get("outputs", {}).get(RECORDS)
    if recorded is None or not previous.outputs_intact({RECORDS: recorded}):
        raise InputError(
            f"{where}: {previous.path(RECORDS)} is not the file that run's manifest recorded (missing or changed since); "
            "run that run's ingest stage again, or name another previous run"
        )
    return pq.ParquetFile(previous.path(RECORDS))


def _log_repairs(path: Path, stats: ReadStats) -> None:
    if stats.fallback_lines:
        log.warning("%s: %d line(s) were not UTF-8 and were read as cp1252", path.name, stats.fallback_lines)
    if stats.control_characters_stripped:
        log.warning(
            "%s: %d control character(s) stripped from values, %d of them NUL",
            path.name,
            stats.control_characters_stripped,
            stats.nul_bytes_stripped,
        )
    for repeat in stats.duplicate_columns:
        first, again = repeat["positions"]
        column, read_as = column_listing([repeat["column"]]), column_listing([repeat["read_as"]])
        log.warning(
            "%s: column %s appears at columns %d and %d; the second is read as %s",
            path.name,
            column,
            first,
            again,
            read_as,
        )


class _RowMaker:
    """Normalises one source file's parsed records and gives them row ids."""

    def __init__(
        self,
        config: Config,
        source: Source,
        source_name: str,
        missing_tokens: set[str],
        ids_seen: Counter[str],
        previous: dict[str, str] | None = None,
    ) -> None:
        self.source = source
        self.previous = previous  # the previous run's row id -> content hash, in an incremental run
        self.source_name = source_name
        self.roles = source.columns.by_role()
        self.missing_tokens = missing_tokens
        self.ignore_case = config.ingest.missing_values_ignore_case
        self.label_required = config.task == "classification"
        self.ids_seen = ids_seen
        self.duplicate_ids = 0
        self.columns_seen: dict[str, None] = {}

    def normalise(self, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
        key = text.casefold() if self.ignore_case else text
        return None if key in self.missing_tokens or not text else text

    def kept_values(self, values: dict[str, str | None]) -> dict[str, str | None]:
        """The record's role columns, renamed and normalised; a messages value that parses, in its canonical form
        (one that does not is kept as it is, for `malformed_messages` to quarantine)."""
        kept = {self.source.record_name(c): self.normalise(values.get(c)) for c in self.source.columns.names()}
        for column in self.roles["messages"]:
            name = self.source.record_name(column)
            kept[name] = _canonical_messages(kept[name])
        return kept

    def missing_required(self, kept: dict[str, str | None]) -> tuple[str, str] | None:
        """(reason, detail) when a required field is missing, else None."""
        text_columns = self.roles["text"] + self.roles["messages"]
        if all(kept[self.source.record_name(c)] is None for c in text_columns):
            return MISSING_TEXT, f"every text column is empty or a missing-value token: {', '.join(text_columns)}"
        if self.label_required and kept[self.source.record_name(self.roles["label"][0])] is None:
            return MISSING_LABEL, f"label column '{self.roles['label'][0]}' is empty or a missing-value token"
        return None

    def malformed_messages(self, kept: dict[str, str | None]) -> tuple[str, str] | None:
        """(reason, detail) when the messages column holds no valid conversation; the detail names the
        message and what is wrong with it (`messages[2].role: ...`), never a value."""
        for column in self.roles["messages"]:
            value = kept[self.source.record_name(column)]
            if value is None:
                continue
            try:
                chat.parse_messages(value)
            except ValueError as error:
                return chat.MALFORMED_MESSAGES, chat.located(column, error)
        return None

    def row_id(self, kept: dict[str, str | None]) -> str:
        id_column = self.source.columns.id
        given = kept[self.source.record_name(id_column)] if id_column else None
        base = f"{self.source_name}:{given}" if given is not None else f"{self.source_name}:{_content_hash(kept)}"
        self.ids_seen[base] += 1
        if self.ids_seen[base] == 1:
            return base
        self.duplicate_ids += 1
        return f"{base}#{self.ids_seen[base]}"


def _canonical_messages(value: str | None) -> str | None:
    """A conversation in the canonical form, each content's line breaks normalised and its ends stripped as a text
    column's are; a value that does not parse, unchanged."""
    if value is None:
        return None
    try:
        messages = chat.parse_messages(value)
    except ValueError:
        return value
    contents = [m["content"].replace("\r\n", "\n").replace("\r", "\n").strip() for m in messages]
    return chat.dump_messages(chat.with_contents(messages, contents))


def _content_hash(values: dict[str, str | None]) -> str:
    digest = hashlib.sha256()
    for name in sorted(values):
        digest.update(f"{name}\x1f{values[name]}\x1e".encode())
    return digest.hexdigest()[:16]


def _batches(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _file_report(path: Path, stats: ReadStats, source: Source, columns_seen: dict[str, None]) -> dict[str, Any]:
    used = set(source.columns.names())
    return {
        "file": path.name,
        "encoding": stats.encoding,
        "non_utf8_lines": stats.fallback_lines,
        "blank_lines": stats.blank_lines,
        "delimiter": stats.delimiter,
        "control_characters_stripped": stats.control_characters_stripped,
        "nul_bytes_stripped": stats.nul_bytes_stripped,
        "duplicate_columns": stats.duplicate_columns,
        "unmapped_columns": [c for c in columns_seen if c not in used],
    }


def _schema_report(
    config: Config, columns: list[str], non_null: Counter[str], tallies: dict[str, SourceTally]
) -> dict[str, Any]:
    role_of = {name: role for role, names in config.record_roles().items() for name in names}
    return {
        "columns": [{"name": c, "role": role_of.get(c, "lineage"), "non_null": non_null[c]} for c in columns],
        "roles": config.record_roles(),
        "sources": {name: {"files": t.files} for name, t in tallies.items()},
    }


def _previous_inputs(config: Config) -> dict[str, Any]:
    """The previous runs' ingested records are inputs too: when they change, so may the row statuses."""
    inputs = {}
    for index in range(len(config.sources)):
        folder = config.previous_run_dir(index)
        if folder is not None:
            stage = RunDir(folder).read_manifest().get("stages", {}).get("ingest", {})
            inputs[config.source_name(index)] = stage.get("outputs", {}).get(RECORDS)
    return inputs


STAGE = Stage(
    files=STAGES["ingest"],
    run=run,
    fingerprint_extra=_previous_inputs,
)
