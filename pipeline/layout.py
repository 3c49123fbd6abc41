"""Every path in a run directory, and what each stage reads and writes there.

    <run directory>/
        manifest.json                 the runner: config, inputs, packages, per stage status and output hashes
        .lock                         the runner: held while a process runs stages here
        quarantine/<stage>.jsonl      ingest, redact, curate, split: the rows taken off the main path
        ingest/records.parquet        ingest
        ingest/schema.json
        redact/records.parquet        redact
        redact/pii_ledger.json
        redact/row_findings.parquet   (what redact found per kept row, for a later run that reuses this one)
        redact/shards/                redact's working folder (shards redacted ahead of the stage); not an output
        check/records.parquet         check
        check/expectation_suite.json
        check/gx_results.json
        check/findings.json
        check/shards/                 check's working folder (shards checked ahead of the stage); not an output
        check/work/                   check's working folder (scores, MinHash bands, texts while it runs); not an output
        curate/records.parquet        curate
        curate/profile.json           (aggregates of the curated records: what a later run's drift check compares)
        split/<train|validation|test>.parquet   split
        split/dataset/                the same splits as a Hugging Face DatasetDict
        split/report.json
        split/bias.json
        train/adapter/                train: PEFT adapter and tokenizer (and report's model card, README.md)
        train/labels.json
        train/privacy_ledger.json
        train/training_curve.json
        train/canaries.parquet        only when train.canaries.count > 0
        evaluate/metrics.json         evaluate
        evaluate/predictions.parquet
        evaluate/exposed_rows.parquet
        report/report.html            report
        report/report.json
        report/summary.md

Paths are relative to the run directory, with `/` separators. A stage
declares (in `STAGES`) what it reads and writes with these names; the runner
checks before a stage that what it reads is there, and after it that its
outputs cover what it declared. This module imports nothing heavy, so the
command line can describe the stages without loading them.
"""

from __future__ import annotations

from dataclasses import dataclass

MANIFEST = "manifest.json"
QUARANTINE = "quarantine"


def quarantine(stage: str) -> str:
    """The quarantine file of a stage: the rows it took off the main path, each with its reason."""
    return f"{QUARANTINE}/{stage}.jsonl"


# ingest
INGESTED_RECORDS = "ingest/records.parquet"
SCHEMA = "ingest/schema.json"

# redact
REDACTED_RECORDS = "redact/records.parquet"
PII_LEDGER = "redact/pii_ledger.json"
ROW_FINDINGS = "redact/row_findings.parquet"  # per kept row: the ledger's counts, for a later run's reuse
REDACT_SHARDS = "redact/shards"  # a working folder, not an output

# check
CHECKED_RECORDS = "check/records.parquet"
SUITE = "check/expectation_suite.json"
GX_RESULTS = "check/gx_results.json"
FINDINGS = "check/findings.json"
CHECK_SHARDS = "check/shards"  # a working folder, not an output
CHECK_WORK = "check/work"  # a working folder, removed when the stage ends

# curate
CURATED_RECORDS = "curate/records.parquet"
DATA_PROFILE = "curate/profile.json"  # counts and word digests, no text: what a later run compares for drift

# split
SPLITS = ("train", "validation", "test")


def split_file(name: str) -> str:
    """The Parquet file of one split (train, validation or test)."""
    return f"split/{name}.parquet"


SPLIT_FILES = {name: split_file(name) for name in SPLITS}
DATASET = "split/dataset"  # a folder
SPLIT_REPORT = "split/report.json"
BIAS = "split/bias.json"

# train
ADAPTER = "train/adapter"  # a folder
LABELS = "train/labels.json"
PRIVACY_LEDGER = "train/privacy_ledger.json"
CURVE = "train/training_curve.json"
CANARIES = "train/canaries.parquet"

# evaluate
METRICS = "evaluate/metrics.json"
PREDICTIONS = "evaluate/predictions.parquet"
EXPOSED_ROWS = "evaluate/exposed_rows.parquet"

# report
REPORT_HTML = "report/report.html"
REPORT_JSON = "report/report.json"
SUMMARY = "report/summary.md"
MODEL_CARD = f"{ADAPTER}/README.md"

FOLDERS = frozenset({DATASET, ADAPTER})


@dataclass(frozen=True)
class OptionalPath:
    """A path a stage reads or writes only in some runs (the canaries file, when there are canaries)."""

    path: str


Entry = str | OptionalPath


def optional(path: str) -> OptionalPath:
    return OptionalPath(path)


def path_of(entry: Entry) -> str:
    return entry.path if isinstance(entry, OptionalPath) else entry


def is_optional(entry: Entry) -> bool:
    return isinstance(entry, OptionalPath)


def is_folder(entry: Entry) -> bool:
    return path_of(entry) in FOLDERS


def shown(entry: Entry) -> str:
    """How `describe` shows an entry: a folder with a trailing `/`, an optional path with `(if any)`."""
    text = path_of(entry) + ("/" if is_folder(entry) else "")
    return f"{text} (if any)" if is_optional(entry) else text


def covers(entry: Entry, output: str) -> bool:
    """Whether `output` (a file path) is the declared file, or lies under the declared folder."""
    path = path_of(entry)
    return output.startswith(f"{path}/") if is_folder(entry) else output == path


@dataclass(frozen=True)
class StageFiles:
    """What a stage reads and writes in the run directory, with a line saying what it does."""

    name: str
    summary: str
    reads: tuple[Entry, ...]
    writes: tuple[Entry, ...]


STAGES: dict[str, StageFiles] = {
    stage.name: stage
    for stage in (
        StageFiles(
            "ingest",
            "parse the source files named in `sources` into one table of records, with column roles applied",
            reads=(),
            writes=(INGESTED_RECORDS, SCHEMA, quarantine("ingest")),
        ),
        StageFiles(
            "redact",
            "remove personal data from the free text, drop identifier columns, key-hash the group id; "
            "the ledger counts what was found per entity, column and source, never a value",
            reads=(INGESTED_RECORDS,),
            writes=(REDACTED_RECORDS, PII_LEDGER, ROW_FINDINGS, quarantine("redact")),
        ),
        StageFiles(
            "check",
            "data contract (Great Expectations), duplicate clusters, text-quality and label scores on every row",
            reads=(REDACTED_RECORDS,),
            writes=(CHECKED_RECORDS, SUITE, GX_RESULTS, FINDINGS),
        ),
        StageFiles(
            "curate",
            "keep the rows whose scores pass; quarantine the rest with every reason; profile the kept rows "
            "(counts and word digests, for a later run's drift check)",
            reads=(CHECKED_RECORDS, FINDINGS),
            writes=(CURATED_RECORDS, quarantine("curate"), DATA_PROFILE),
        ),
        StageFiles(
            "split",
            "train / validation / test, stratified and grouped; bias measured and mitigated on train",
            reads=(CURATED_RECORDS,),
            writes=(*SPLIT_FILES.values(), DATASET, SPLIT_REPORT, BIAS, quarantine("split")),
        ),
        StageFiles(
            "train",
            "LoRA on the base model, under DP-SGD unless `train.dp: false`; the adapter is saved with its tokenizer",
            reads=(SPLIT_FILES["train"], SPLIT_FILES["validation"]),
            writes=(ADAPTER, LABELS, PRIVACY_LEDGER, CURVE, optional(CANARIES)),
        ),
        StageFiles(
            "evaluate",
            "utility, model bias, membership inference, canaries, regurgitation and contamination of the adapter; "
            "predictions hold no text",
            reads=(
                SPLIT_FILES["train"],
                SPLIT_FILES["validation"],
                SPLIT_FILES["test"],
                ADAPTER,
                LABELS,
                PRIVACY_LEDGER,
                optional(CANARIES),
            ),
            writes=(METRICS, PREDICTIONS, EXPOSED_ROWS),
        ),
        StageFiles(
            "report",
            "the compliance report (self-contained HTML, JSON, Markdown summary) and the model card beside the adapter, "
            "from counts, ledgers and metrics, never records",
            reads=(
                MANIFEST,
                *(optional(quarantine(stage)) for stage in ("ingest", "redact", "curate", "split")),
                PII_LEDGER,
                FINDINGS,
                GX_RESULTS,
                SPLIT_REPORT,
                BIAS,
                LABELS,
                PRIVACY_LEDGER,
                CURVE,
                METRICS,
                optional(DATA_PROFILE),  # absent from runs made before profiles; needed with check.reference_run
            ),
            writes=(REPORT_HTML, REPORT_JSON, SUMMARY, MODEL_CARD),
        ),
    )
}


def writer(path: str) -> str | None:
    """The stage that writes `path` (declared as it is, else as a folder holding it); None for the runner's own files."""
    exact = [stage.name for stage in STAGES.values() if any(path_of(entry) == path for entry in stage.writes)]
    if exact:
        return exact[0]
    return next(
        (stage.name for stage in STAGES.values() if any(covers(entry, path) for entry in stage.writes)),
        None,
    )
