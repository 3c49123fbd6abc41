"""Split: train / validation / test, stratified, grouped and deterministic; bias measured and mitigated on train.

Rules:
- **Grouped.** Rows that share a `group` value (e.g. a customer) or a
  `cluster_id` (duplicates from the check stage) form one unit, joined
  transitively, and a unit goes wholly into one split. So no entity and no
  duplicate cluster is in two splits. (`split.keep_duplicates_together:
  false` drops the cluster link, for data whose "text" is a category such as
  a job title, where every row with the same title is a duplicate.)
- **Stratified.** Each row's stratum is its label and, with
  `split.stratify_on_protected`, its protected groups (label x gender x age
  band).
- **Dealt in hash order.** Each unit's key is its first row's `row_id`
  hashed with a key made from the run's seed. The units are taken stratum
  by stratum (a unit's stratum is its first row's) and in key order within
  a stratum, and each goes to the split that lacks its rows most: per split,
  the rows it is short of its share (the train / validation / test ratio)
  in each bucket the unit's rows fall in (the whole set, their strata, and
  their value of each stratification column), counted over the rows dealt
  so far and this unit's, weighted by the unit's rows in the bucket and
  summed; a tie goes to the earlier split. Dealing always to the largest
  shortfall keeps every shortfall near zero, so the whole set, each stratum
  and each stratification value are split in the stated proportions to
  within a unit or two, and a stratum too small for every split goes where
  the other buckets want its rows. The same rows, config and seed give the
  same splits.
- **Small strata.** A stratum with fewer rows than `1 / the smallest ratio`
  (10 for 80/10/10) cannot reach every split at its share; its rows are dealt
  by the same rule, and the split report lists each such stratum with where
  its rows went. When every stratum is that small, the protected columns and
  then the label are dropped from the strata (their values stay buckets),
  with a warning. Fewer units than that number is an error.
- **Mitigation** (`split.mitigation`) changes the training split only, so
  validation and test keep the real distribution: counterfactual copies
  first (`~cda` row ids), then reweighing (`sample_weight`, 1.0 elsewhere)
  or resampling (repeats get `~r<n>` row ids; rows drawn out go to the
  quarantine as `resampled_out`). Bias figures before and after go into
  `split/bias.json`.

Memory: the curated file is read in batches of `BATCH_ROWS` rows. For every
row the stage keeps only integer columns: label and protected values as codes
into their sorted names, group and cluster_id values as codes (from a 64-bit
hash of the value; two values with the same hash would only join two units),
the row id's keyed hash, the split, and per lexicon group the mention count.
Texts are read, counted, swapped and written one batch at a time. Measured on
synthetic tickets: peak RSS 373-381 MiB at 100k rows, 493-502 MiB at 1M and
2,058 MiB at 10M; the time per row at 1M is 0.7x that at 100k (docs/split.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from itertools import chain, pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import executors
from pipeline.artifacts import Quarantine, atomic_path, sha256_file, write_json
from pipeline.config import Config
from pipeline.errors import InputError
from pipeline.layout import BIAS, DATASET, SPLITS, STAGES
from pipeline.layout import CURATED_RECORDS as CURATED
from pipeline.layout import SPLIT_FILES as FILES
from pipeline.layout import SPLIT_REPORT as REPORT
from pipeline.logs import get_logger
from pipeline.quality import bias
from pipeline.quality.counterfactual import Swapper
from pipeline.quality.labels import require_two_classes
from pipeline.quality.mitigation import resample_codes, reweigh_codes
from pipeline.quality.text import join_text
from pipeline.stage import Stage, StageContext, StageResult

log = get_logger("pipeline.split")

WEIGHT = "sample_weight"
SPLIT = "split"
CLUSTER = "cluster_id"
RESAMPLED_OUT = "resampled_out"
BATCH_ROWS = 10_000  # rows read, counted, swapped and written at a time
DEAL_CHUNK = 100_000  # units handed to the dealing loop at a time
TRAIN = SPLITS.index("train")
MISSING_HASH = 0  # a link value hashing to 0 (a chance of 1 in 2**64) would count as missing
LINK_KEY = "split-link-value"  # the hash key (16 characters) of group and cluster values


def run(ctx: StageContext) -> StageResult:
    config = ctx.config
    roles = Roles.of(config)
    curated = ctx.run_dir.path(CURATED)
    coded = list(dict.fromkeys([*roles.measured, *config.split.mitigation.attributes]))
    narrow = read_narrow(curated, coded, [c for c in (roles.group, CLUSTER) if c], config.seed)
    if narrow.rows == 0:
        raise InputError(
            "no curated rows to split: every row was quarantined before this stage; see quarantine/*.jsonl and the manifest's stats"
        )
    if config.task == "classification" and roles.label:
        _require_two_classes(narrow.columns[roles.label], roles.label)
    assignment = assign(narrow, config, roles)
    lexicons = {name: bias.load_lexicon(name, config.base_dir) for name in config.split.bias.lexicons}
    mentions = count_identity_terms(curated, _present(curated, roles.text), lexicons, narrow.rows)
    curated_rows = RowSet(narrow.rows, narrow.columns, mentions)
    findings: dict[str, Any] = {"curated": _bias(curated_rows, config, roles)}
    folder = ctx.run_dir.path(REPORT).parent
    folder.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix=".scratch.", dir=folder) as scratch,
        Quarantine(ctx.run_dir, "split") as quarantine,
    ):
        originals = np.flatnonzero(assignment.split_of_row == TRAIN)
        train, mitigation = _mitigate(curated, curated_rows, originals, config, Path(scratch), quarantine, findings)
        rows = _write_splits(ctx, curated, assignment.split_of_row, train)
    outputs = _write_dataset(ctx)
    report = split_report(narrow, assignment, roles, rows_after=rows)
    write_json(ctx.run_dir.path(REPORT), report)
    write_json(ctx.run_dir.path(BIAS), {"mitigation": mitigation, **findings})
    stats = {
        "total": narrow.rows,
        "kept": narrow.rows - quarantine.total,
        "quarantined": quarantine.total,
        "quarantined_by_reason": dict(sorted(quarantine.counts.items())),
        "rows": rows,
        "added": mitigation["added"],
        "max_label_deviation_points": report["max_deviation_points"]["label"],
        "max_group_deviation_points": report["max_deviation_points"]["protected"],
    }
    return StageResult(outputs=[*FILES.values(), *outputs, REPORT, BIAS, quarantine.relative], stats=stats)


@dataclass(frozen=True)
class Roles:
    """The record columns the split reads, by role."""

    label: str | None
    protected: list[str]
    group: str | None
    text: list[str]
    messages: list[str]

    @classmethod
    def of(cls, config: Config) -> Roles:
        roles = config.record_roles()
        first = {role: roles[role][0] if roles[role] else None for role in ("label", "group")}
        return cls(first["label"], roles["protected"], first["group"], roles["text"], roles["messages"])

    @property
    def measured(self) -> list[str]:
        """The columns whose shares the split report and the bias figures give: the label, then the protected."""
        return ([self.label] if self.label else []) + self.protected


# --- what is kept of every row ----------------------------------------------------------


@dataclass(frozen=True)
class Coded:
    """A column as integer codes into `names`, which are sorted; a missing value is named `(missing)`."""

    codes: np.ndarray
    names: list[str]

    def take(self, positions: np.ndarray) -> Coded:
        return Coded(self.codes[positions], self.names)

    def counts(self) -> np.ndarray:
        return np.bincount(self.codes, minlength=len(self.names))


@dataclass(frozen=True)
class Narrow:
    """What the split needs of every curated row, in curated order, in a few bytes a row."""

    rows: int
    columns: dict[str, Coded]  # label, protected and mitigation columns
    links: dict[str, np.ndarray]  # the group column and cluster_id: a code per value, -1 where missing
    keys: np.ndarray  # each row id hashed with a key made from the run's seed (uint64)


def read_narrow(path: Path, coded: list[str], linked: list[str], seed: int) -> Narrow:
    """The narrow columns of a curated Parquet file, read batch by batch."""
    parquet = executors.open_parquet(path)
    linked = _present(path, linked)
    books = {column: _Codebook() for column in coded}
    hashes: dict[str, list[np.ndarray]] = {column: [] for column in linked}
    keys: list[np.ndarray] = []
    columns = list(dict.fromkeys(["row_id", *coded, *linked]))
    for batch in _batches(path, columns):
        for column, book in books.items():
            book.add(batch.column(column))
        for column in linked:
            values = batch.column(column)
            present = values.is_valid().to_numpy(zero_copy_only=False)
            hashes[column].append(np.where(present, _hash(values, LINK_KEY), MISSING_HASH))
        keys.append(_hash(batch.column("row_id"), seed_key(seed)))
    return Narrow(
        rows=parquet.metadata.num_rows,
        columns={column: book.finish() for column, book in books.items()},
        links={column: _link_codes(_joined(parts, np.uint64)) for column, parts in hashes.items()},
        keys=_joined(keys, np.uint64),
    )


class _Codebook:
    """The names of one column, gathered batch by batch; `finish` codes every row by sorted name."""

    def __init__(self) -> None:
        self._code_of: dict[str, int] = {}
        self._parts: list[np.ndarray] = []

    def add(self, column: pa.Array) -> None:
        if pa.types.is_null(column.type):
            self._parts.append(np.full(len(column), self._code(bias.MISSING), dtype=np.int32))
            return
        encoded = pc.dictionary_encode(column)
        names = encoded.dictionary.to_pandas().astype("string").fillna(bias.MISSING).tolist()
        lookup = np.array([self._code(name) for name in names] + [self._code(bias.MISSING)], dtype=np.int32)
        self._parts.append(lookup[pc.fill_null(encoded.indices, -1).to_numpy()])

    def _code(self, name: str) -> int:
        return self._code_of.setdefault(name, len(self._code_of))

    def finish(self) -> Coded:
        names = sorted(self._code_of)
        rank = np.empty(len(names), dtype=np.int32)
        rank[[self._code_of[name] for name in names]] = np.arange(len(names), dtype=np.int32)
        return Coded(rank[_joined(self._parts, np.int32)], names)


def seed_key(seed: int) -> str:
    """The 16-character key with which row ids are hashed, made from the run's seed."""
    return hashlib.sha256(f"split:{seed}".encode()).hexdigest()[:16]


def _hash(values: pa.Array, key: str) -> np.ndarray:
    """A 64-bit hash of each value's text (pandas' SipHash, keyed)."""
    text = pc.cast(values, pa.large_string()).fill_null("").to_numpy(zero_copy_only=False)
    return pd.util.hash_array(text, hash_key=key, categorize=False)


def _link_codes(hashes: np.ndarray) -> np.ndarray:
    """Hashed link values as codes 0.. of the distinct values, -1 where missing."""
    codes = np.full(len(hashes), -1, dtype=np.int64)
    present = hashes != MISSING_HASH
    codes[present] = np.unique(hashes[present], return_inverse=True)[1]
    return codes


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def _batches(path: Path, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    return executors.open_parquet(path).iter_batches(batch_size=BATCH_ROWS, columns=columns)


def _present(path: Path, columns: list[str]) -> list[str]:
    names = set(pq.ParquetFile(path).schema_arrow.names)
    return [column for column in columns if column in names]


def intersect(columns: list[Coded], rows: int) -> Coded:
    """Each row's group for the intersection of several columns ("female & 25-34"); one group `all` for none."""
    if not columns:
        return Coded(np.zeros(rows, dtype=np.int32), ["all"])
    if len(columns) == 1:
        return columns[0]
    joint = np.zeros(rows, dtype=np.int64)
    for column in columns:
        _, first, joint = np.unique(joint * len(column.names) + column.codes, return_index=True, return_inverse=True)
    names = [bias.INTERSECTION_SEPARATOR.join(c.names[c.codes[row]] for c in columns) for row in first.tolist()]
    order = sorted(range(len(names)), key=names.__getitem__)
    rank = np.empty(len(names), dtype=np.int32)
    rank[order] = np.arange(len(names), dtype=np.int32)
    return Coded(rank[joint], [names[i] for i in order])


def _require_two_classes(labels: Coded, column: str) -> None:
    counts = labels.counts().tolist()
    if sum(1 for count in counts if count) < 2:  # raises, naming each class with its count
        require_two_classes(
            [name for name, count in zip(labels.names, counts, strict=True) for _ in range(count)],
            column,
            "after curation",
        )


# --- assignment -------------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    split_of_row: np.ndarray  # per curated row, the index of its split in SPLITS
    strata: Coded
    stratified_on: list[str]
    units: int
    needed: int  # the rows a stratum needs to reach every split (`rows_for_every_split`)


def assign(narrow: Narrow, config: Config, roles: Roles) -> Assignment:
    settings = config.split
    ratios = (settings.train, settings.validation, settings.test)
    needed = rows_for_every_split(ratios)
    configured = ([roles.label] if roles.label else []) + (roles.protected if settings.stratify_on_protected else [])
    strata, stratified_on = stratify({c: narrow.columns[c] for c in configured}, needed, narrow.rows)
    linked = [roles.group, CLUSTER if settings.keep_duplicates_together else None]
    units = split_units([narrow.links[c] for c in linked if c in narrow.links], narrow.rows)
    balanced = [narrow.columns[c] for c in configured]  # all configured columns, also when the strata are coarser
    split_of_row = assign_splits(strata, balanced, units, narrow.keys, ratios)
    return Assignment(split_of_row, strata, stratified_on, len(np.unique(units)), needed)


def rows_for_every_split(ratios: tuple[float, float, float]) -> int:
    """The fewest rows in which every split with a share gets one at its share: 1 / the smallest share, rounded up."""
    return math.ceil(1 / min(ratio for ratio in ratios if ratio > 0) - 1e-9)


def stratify(columns: dict[str, Coded], needed: int, rows: int) -> tuple[Coded, list[str]]:
    """Each row's stratum and the columns it is made of.

    When no stratum has `needed` rows, the last column is dropped, and so on
    (down to no column: one stratum), with a warning, rather than failing.
    """
    names = list(columns)
    for attempt in (names[: len(names) - dropped] for dropped in range(len(names) + 1)):
        strata = intersect([columns[c] for c in attempt], rows)
        if strata.counts().max() >= needed or not attempt:
            if attempt != names:
                log.warning(
                    "every stratum of %s has fewer than %d rows (the fewest that reach every split at its share); stratifying on %s instead",
                    " x ".join(names),
                    needed,
                    " x ".join(attempt) if attempt else "nothing (a grouped random split)",
                )
            return strata, attempt
    raise AssertionError("unreachable: the empty stratification always succeeds")


def split_units(links: list[np.ndarray], rows: int) -> np.ndarray:
    """Per row, its unit: the position of the unit's first row. Rows with the same code in any of `links`
    (codes from 0, -1 where missing) are one unit, transitively (connected components of the rows linked)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    sources, targets = [], []
    for codes in links:
        present = np.flatnonzero(codes >= 0)
        values, first = np.unique(codes[present], return_index=True)
        first_row = np.full(int(values.max(initial=-1)) + 1, -1, dtype=np.int64)
        first_row[values] = present[first]
        linked = first_row[codes[present]]
        sources.append(present[linked != present])
        targets.append(linked[linked != present])
    source, target = _joined(sources, np.int64), _joined(targets, np.int64)
    graph = coo_matrix((np.ones(len(source), dtype=bool), (source, target)), shape=(rows, rows)).tocsr()
    _, component = connected_components(graph, directed=False)
    _, first_of_component = np.unique(component, return_index=True)
    return first_of_component[component]


def assign_splits(
    strata: Coded, balanced: list[Coded], units: np.ndarray, keys: np.ndarray, ratios: tuple[float, float, float]
) -> np.ndarray:
    """Per row, the index of its split in SPLITS: its unit's, dealt stratum by stratum in the order of the unit keys,
    each unit to the split furthest below its share in the buckets its rows fall in (see `_Buckets`). A unit is
    named by the position of its first row, as `split_units` names it; its stratum and key are that row's."""
    firsts, unit_of_row, sizes = np.unique(units, return_inverse=True, return_counts=True)
    needed = rows_for_every_split(ratios)
    if len(firsts) < needed:
        raise InputError(
            f"{len(units)} row(s) form {len(firsts)} independent unit(s) (rows sharing a group id or duplicate cluster stay together); "
            f"a {'/'.join(f'{r:g}' for r in ratios)} split needs at least {needed}. Add data, or change split.train / validation / test"
        )
    order = np.lexsort((firsts, keys[firsts], strata.codes[firsts]))
    rows_by_unit = np.argsort(unit_of_row, kind="stable")
    unit_start = np.concatenate(([0], np.cumsum(sizes)))
    buckets = _Buckets([strata, *balanced], ratios)
    split_of_unit = np.empty(len(firsts), dtype=np.int8)
    for start in range(0, len(order), DEAL_CHUNK):
        chunk = order[start : start + DEAL_CHUNK]
        chunk_sizes = sizes[chunk]
        listed_at = np.cumsum(chunk_sizes) - chunk_sizes  # where each unit's rows begin in the chunk's row list
        rows = rows_by_unit[np.repeat(unit_start[chunk] - listed_at, chunk_sizes) + np.arange(chunk_sizes.sum())]
        split_of_unit[chunk] = buckets.deal(np.repeat(np.arange(len(chunk)), chunk_sizes), rows)
    return split_of_unit[unit_of_row]


class _Buckets:
    """Rows dealt so far, in all and per split, in each bucket: the whole set, each stratum, and each value of each
    balanced column. A unit goes to the split with the largest shortfall summed over the buckets its rows fall in,
    each weighted by the unit's rows there; a split's shortfall in a bucket is its share of the bucket's rows dealt
    (this unit's included) less the bucket's rows it holds. A tie goes to the earlier split."""

    def __init__(self, columns: list[Coded], ratios: tuple[float, float, float]) -> None:
        self._columns = columns
        self._offsets = np.cumsum([1, *(len(column.names) for column in columns)])[:-1]  # bucket 0: the whole set
        size = 1 + sum(len(column.names) for column in columns)
        self._ratios = ratios
        self._dealt = [0] * size
        self._held = [[0] * size for _ in ratios]

    def deal(self, units: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The split of each unit 0..n-1 in order; `units[i]` is the unit of row `rows[i]`."""
        width = len(self._dealt)
        ids = [np.zeros(len(rows), dtype=np.int64)]
        ids += [offset + column.codes[rows] for offset, column in zip(self._offsets, self._columns, strict=True)]
        cells, counts = np.unique(np.concatenate([units * width + bucket for bucket in ids]), return_counts=True)
        bounds = np.searchsorted(cells // width, np.arange(int(units.max(initial=-1)) + 2)).tolist()
        buckets, counts = (cells % width).tolist(), counts.tolist()
        return np.array([self._take(list(zip(buckets[a:b], counts[a:b], strict=True))) for a, b in pairwise(bounds)])

    def _take(self, unit: list[tuple[int, int]]) -> int:
        dealt, (train, validation, test) = self._dealt, self._held
        train_share, validation_share, test_share = self._ratios
        shortfalls = [0.0, 0.0, 0.0]
        for bucket, rows in unit:  # written out for the three splits: this loop runs for every unit
            after = dealt[bucket] + rows
            shortfalls[0] += rows * (train_share * after - train[bucket])
            shortfalls[1] += rows * (validation_share * after - validation[bucket])
            shortfalls[2] += rows * (test_share * after - test[bucket])
        split = shortfalls.index(max(shortfalls))
        held = self._held[split]
        for bucket, rows in unit:
            dealt[bucket] += rows
            held[bucket] += rows
        return split


# --- bias figures -----------------------------------------------------------------------


@dataclass(frozen=True)
class RowSet:
    """The bias figures' inputs for one set of rows (curated, or train before or after mitigation)."""

    rows: int
    columns: dict[str, Coded]
    mentions: dict[str, dict[str, np.ndarray]]  # per lexicon and term group, each row's mentions

    def take(self, positions: np.ndarray) -> RowSet:
        return RowSet(
            len(positions),
            {name: column.take(positions) for name, column in self.columns.items()},
            {
                name: {group: counts[positions] for group, counts in groups.items()}
                for name, groups in self.mentions.items()
            },
        )

    def followed_by(self, other: RowSet) -> RowSet:
        return RowSet(
            self.rows + other.rows,
            {
                name: Coded(np.concatenate([column.codes, other.columns[name].codes]), column.names)
                for name, column in self.columns.items()
            },
            {
                name: {
                    group: np.concatenate([counts, other.mentions[name][group]]) for group, counts in groups.items()
                }
                for name, groups in self.mentions.items()
            },
        )


def count_identity_terms(
    path: Path, text_columns: list[str], lexicons: dict[str, dict[str, list[str]]], rows: int
) -> dict[str, dict[str, np.ndarray]]:
    """Per lexicon and term group, each row's mentions in the row's text, counted batch by batch."""
    parts: dict[str, dict[str, list[np.ndarray]]] = {
        name: {group: [] for group in lexicon} for name, lexicon in lexicons.items()
    }
    if lexicons and text_columns:
        for batch in _batches(path, text_columns):
            _count_into(parts, join_text(batch.to_pandas(), text_columns), lexicons)
    return {
        name: {
            group: _joined(counts, np.uint32) if text_columns else np.zeros(rows, dtype=np.uint32)
            for group, counts in groups.items()
        }
        for name, groups in parts.items()
    }


def _count_into(
    parts: dict[str, dict[str, list[np.ndarray]]], texts: list[str], lexicons: dict[str, dict[str, list[str]]]
) -> None:
    for name, lexicon in lexicons.items():
        for group, counts in bias.count_mentions(texts, lexicon).items():
            parts[name][group].append(counts)


def _bias(rows: RowSet, config: Config, roles: Roles, weights: np.ndarray | None = None) -> dict[str, Any]:
    settings = config.split.bias
    result: dict[str, Any] = {"rows": rows.rows}
    labels = rows.columns[roles.label] if roles.label else None
    if labels is not None and roles.protected:
        protected = roles.protected
        attributes = [[column] for column in protected] + ([protected] if len(protected) > 1 else [])
        result["groups"] = {}
        for columns in attributes:
            groups = intersect([rows.columns[c] for c in columns], rows.rows)
            result["groups"][bias.INTERSECTION_SEPARATOR.join(columns)] = bias.measure_codes(
                labels.codes,
                labels.names,
                groups.codes,
                groups.names,
                min_group_rows=settings.min_group_rows,
                weights=weights,
            )
    result["identity_terms"] = {
        name: bias.identity_terms_counted(
            rows.mentions[name], labels.codes if labels else None, labels.names if labels else []
        )
        for name in settings.lexicons
    }
    return result


# --- mitigation -------------------------------------------------------------------------


@dataclass(frozen=True)
class Train:
    """The training split after mitigation. Its rows are the curated training rows (`originals`, positions in
    curated order) then the counterfactual copies (the rows of `copies_file`); row i is written `repeats[i]`
    times (0: drawn out by resampling) with weight `weights[i]`."""

    originals: np.ndarray
    copies_file: Path | None
    repeats: np.ndarray
    weights: np.ndarray


def _mitigate(
    curated: Path,
    rows: RowSet,
    originals: np.ndarray,
    config: Config,
    scratch: Path,
    quarantine: Quarantine,
    findings: dict[str, Any],
) -> tuple[Train, dict[str, Any]]:
    settings = config.split.mitigation
    roles = Roles.of(config)
    label, attributes = roles.label, settings.attributes or roles.protected
    summary: dict[str, Any] = {
        "applied_to": "train",
        "method": settings.method,
        "attributes": attributes,
        "counterfactual": settings.counterfactual,
        "added": {},
    }
    train = rows.take(originals)
    findings["train_before"] = _bias(train, config, roles)
    copies_file = scratch / "counterfactual.parquet" if settings.counterfactual else None
    if copies_file:
        copy_of, copy_mentions = _counterfactual(curated, originals, config, copies_file)
        train = train.followed_by(RowSet(len(copy_of), rows.take(copy_of).columns, copy_mentions))
        summary["added"]["counterfactual"] = len(copy_of)
    repeats, weights = np.ones(train.rows, dtype=np.int64), np.ones(train.rows)
    if settings.method != "none" and not (label and attributes):
        summary["skipped"] = (
            f"{settings.method} needs a label column and protected columns; this config has {'no label' if not label else 'no protected column'}"
        )
        log.warning("mitigation skipped: %s", summary["skipped"])
    elif settings.method == "reweigh":
        weights = reweigh_codes(train.columns[label].codes, [train.columns[c].codes for c in attributes])
    elif settings.method == "resample":
        located = _TrainFiles(curated, originals, copies_file)
        repeats, summary["resample"] = _resample(train, label, attributes, config.seed, located, quarantine)
        summary["added"]["resampled_copies"] = summary["resample"]["copies"]
    written = np.repeat(np.arange(train.rows), repeats)
    reweighed = weights[written] if settings.method == "reweigh" else None
    findings["train_after"] = _bias(train.take(written), config, roles, reweighed)
    return Train(originals, copies_file, repeats, weights), summary


def _counterfactual(
    curated: Path, originals: np.ndarray, config: Config, target: Path
) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]]]:
    """Gender-swapped copies of the training rows whose texts have gendered words, written to `target` batch by
    batch; returns the curated position each copy was made from, and each copy's identity-term mentions."""
    swapper = Swapper(config.redact.spacy_model, config.split.mitigation.counterfactual_lexicon)
    roles = Roles.of(config)
    text_columns = _present(curated, roles.text)
    lexicons = {name: bias.load_lexicon(name, config.base_dir) for name in config.split.bias.lexicons}
    mentions: dict[str, dict[str, list[np.ndarray]]] = {
        name: {group: [] for group in lexicon} for name, lexicon in lexicons.items()
    }
    copy_of: list[np.ndarray] = []
    with pq.ParquetWriter(target, pq.ParquetFile(curated).schema_arrow) as writer:
        for positions, batch in _rows_at(curated, originals):
            copies, changed = _swapped(batch, text_columns, roles.messages, swapper)
            writer.write_batch(copies)
            copy_of.append(positions[changed])
            _count_into(mentions, join_text(copies.select(text_columns).to_pandas(), text_columns), lexicons)
    copied = _joined(copy_of, np.int64)
    log.info("counterfactual augmentation: %d gender-swapped copies added to train", len(copied))
    return copied, {
        name: {group: _joined(counts, np.uint32) for group, counts in groups.items()}
        for name, groups in mentions.items()
    }


def _swapped(
    rows: pa.RecordBatch, text_columns: list[str], messages: list[str], swapper: Swapper
) -> tuple[pa.RecordBatch, np.ndarray]:
    """The rows whose texts the swap changes, swapped and with `~cda` row ids; and which rows they are."""
    texts = {c: rows.column(c).to_pandas().fillna("").astype(str).tolist() for c in text_columns}
    swapped = {c: (swapper.swap_messages if c in messages else swapper.swap_all)(texts[c]) for c in text_columns}
    changes = {
        c: np.array(
            [new is not None and new != old for new, old in zip(swapped[c], texts[c], strict=True)], dtype=bool
        )
        for c in text_columns
    }
    changed = np.flatnonzero(np.logical_or.reduce([*changes.values(), np.zeros(rows.num_rows, dtype=bool)]))
    copies = rows.take(changed)
    for column in text_columns:
        new = pa.array([swapped[column][i] for i in changed.tolist()], type=rows.schema.field(column).type)
        copies = _replaced(copies, column, pc.if_else(changes[column][changed], new, copies.column(column)))
    copies = _replaced(copies, "row_id", _suffixed(copies.column("row_id"), pa.repeat("~cda", copies.num_rows)))
    return copies, changed


def _resample(
    train: RowSet,
    label: str,
    attributes: list[str],
    seed: int,
    located: _TrainFiles,
    quarantine: Quarantine,
) -> tuple[np.ndarray, dict[str, Any]]:
    groups = intersect([train.columns[c] for c in attributes], train.rows)
    labels = train.columns[label]
    result = resample_codes(labels.codes, groups.codes, seed)
    for position, row_id, source in located.ids_at(result.dropped):
        cell = f"{groups.names[groups.codes[position]]} x {labels.names[labels.codes[position]]}"
        quarantine.add(
            row_id, RESAMPLED_OUT, f"its group x label cell ({cell}) is above its target size", source=source
        )
    if result.unfillable:
        log.warning(
            "resampling: %d group x label cell(s) have no training row to repeat (listed in %s)",
            len(result.unfillable),
            BIAS,
        )
    log.log(
        logging.WARNING if len(result.dropped) > train.rows / 5 else logging.INFO,
        "resampling: train %d -> %d rows (%d drawn out, %d repeats added)",
        train.rows,
        len(result.positions),
        len(result.dropped),
        result.copies,
    )
    cell_names = {cell: f"{groups.names[cell[0]]} x {labels.names[cell[1]]}" for cell in result.targets}
    return np.bincount(result.positions, minlength=train.rows), {
        "copies": result.copies,
        "dropped": len(result.dropped),
        "unfillable_cells": [cell_names[cell] for cell in result.unfillable],
        "targets": {cell_names[cell]: n for cell, n in result.targets.items()},
    }


@dataclass(frozen=True)
class _TrainFiles:
    """Where the training rows are: the curated file at `originals`, then every row of `copies_file`."""

    curated: Path
    originals: np.ndarray
    copies_file: Path | None

    def ids_at(self, positions: np.ndarray) -> Iterator[tuple[int, str, str]]:
        """(training position, row id, source) of the training rows at `positions` (ascending)."""
        columns = ["row_id", "source"]
        count = len(self.originals)
        batches = _rows_at(self.curated, self.originals[positions[positions < count]], columns)
        if self.copies_file:
            batches = chain(batches, _rows_at(self.copies_file, positions[positions >= count] - count, columns))
        ids = chain.from_iterable(
            zip(batch.column("row_id").to_pylist(), batch.column("source").to_pylist(), strict=True)
            for _, batch in batches
        )
        for position, (row_id, source) in zip(positions.tolist(), ids, strict=True):
            yield position, row_id, source


def _rows_at(
    path: Path, positions: np.ndarray, columns: list[str] | None = None
) -> Iterator[tuple[np.ndarray, pa.RecordBatch]]:
    """The rows at `positions` (ascending) of a Parquet file, batch by batch, with their positions."""
    start = 0
    for batch in _batches(path, columns):
        end = start + batch.num_rows
        inside = positions[np.searchsorted(positions, start) : np.searchsorted(positions, end)]
        if len(inside):
            yield inside, batch.take(inside - start)
        start = end


# --- writing ----------------------------------------------------------------------------


def _write_splits(ctx: StageContext, curated: Path, split_of_row: np.ndarray, train: Train) -> dict[str, int]:
    """The split Parquet files, rows in curated order (train: then its counterfactual copies), in one pass."""
    schema = _output_schema(pq.ParquetFile(curated).schema_arrow)
    with ExitStack() as stack:
        writers = {name: stack.enter_context(_row_groups(ctx.run_dir.path(FILES[name]), schema)) for name in SPLITS}
        start, training = 0, 0
        for batch in _batches(curated):
            splits = split_of_row[start : start + batch.num_rows]
            for index, name in enumerate(SPLITS):
                rows = batch.take(np.flatnonzero(splits == index))
                if index == TRAIN:
                    writers[name].add(_as_written(rows, train, training, schema))
                    training += rows.num_rows
                else:
                    writers[name].add(_labelled(rows, name, np.ones(rows.num_rows), schema))
            start += batch.num_rows
        if train.copies_file:
            for batch in _batches(train.copies_file):
                writers["train"].add(_as_written(batch, train, training, schema))
                training += batch.num_rows
        return {name: writer.rows for name, writer in writers.items()}


def _output_schema(curated: pa.Schema) -> pa.Schema:
    kept = [field for field in curated if field.name not in (SPLIT, WEIGHT)]
    return pa.schema([*kept, pa.field(SPLIT, pa.string()), pa.field(WEIGHT, pa.float64())])


def _as_written(rows: pa.RecordBatch, train: Train, first: int, schema: pa.Schema) -> pa.RecordBatch:
    """Training rows `first`.. as written: each as often as resampling drew it (repeats get `~r<n>` row ids)."""
    index = np.arange(first, first + rows.num_rows)
    repeats = train.repeats[index]
    written = rows.take(np.repeat(np.arange(rows.num_rows), repeats))
    repeat_number = np.arange(written.num_rows) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    if repeat_number.any():
        suffixes = pa.array(["" if n == 0 else f"~r{n}" for n in repeat_number.tolist()])
        written = _replaced(written, "row_id", _suffixed(written.column("row_id"), suffixes))
    return _labelled(written, "train", np.repeat(train.weights[index], repeats), schema)


def _labelled(rows: pa.RecordBatch, split: str, weights: np.ndarray, schema: pa.Schema) -> pa.RecordBatch:
    columns = [rows.column(field.name) for field in list(schema)[:-2]]
    split_column = pa.repeat(pa.scalar(split, pa.string()), rows.num_rows)
    return pa.RecordBatch.from_arrays([*columns, split_column, pa.array(weights, pa.float64())], schema=schema)


def _suffixed(row_ids: pa.Array, suffixes: pa.Array) -> pa.Array:
    kind = row_ids.type
    return pc.binary_join_element_wise(row_ids, suffixes.cast(kind), pa.scalar("", kind))


def _replaced(rows: pa.RecordBatch, column: str, values: pa.Array) -> pa.RecordBatch:
    index = rows.schema.get_field_index(column)
    arrays = [
        values.cast(rows.schema.field(column).type) if i == index else rows.column(i) for i in range(rows.num_columns)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=rows.schema)


class _RowGroups:
    """Batches gathered into row groups of at least BATCH_ROWS rows (the last may be smaller)."""

    def __init__(self, writer: pq.ParquetWriter, schema: pa.Schema) -> None:
        self._writer = writer
        self._schema = schema
        self._pending: list[pa.RecordBatch] = []
        self.rows = 0

    def add(self, batch: pa.RecordBatch) -> None:
        self._pending.append(batch)
        self.rows += batch.num_rows
        if sum(b.num_rows for b in self._pending) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if any(b.num_rows for b in self._pending):
            self._writer.write_table(pa.Table.from_batches(self._pending, self._schema))
        self._pending = []


@contextmanager
def _row_groups(path: Path, schema: pa.Schema) -> Iterator[_RowGroups]:
    """A split's Parquet file, which replaces `path` only once complete."""
    with atomic_path(path) as temporary, pq.ParquetWriter(temporary, schema) as writer:
        groups = _RowGroups(writer, schema)
        yield groups
        groups.flush()


def _write_dataset(ctx: StageContext) -> list[str]:
    """The splits as a Hugging Face DatasetDict (`datasets.load_from_disk`), written shard by shard."""
    target = ctx.run_dir.path(DATASET)
    staging = target.with_name(".dataset.partial")
    shutil.rmtree(staging, ignore_errors=True)
    for name in SPLITS:
        path = ctx.run_dir.path(FILES[name])
        # a fixed fingerprint (the split file's hash) keeps the saved dataset byte-identical across reruns
        save_split(path, staging / name, fingerprint=sha256_file(path)[:16])
    (staging / "dataset_dict.json").write_text(json.dumps({"splits": list(SPLITS)}), encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return sorted(str(path.relative_to(ctx.run_dir.root)) for path in target.rglob("*") if path.is_file())


def save_split(parquet_path: Path, folder: Path, *, fingerprint: str) -> None:
    """A Parquet file as `Dataset.save_to_disk` lays a dataset out (Arrow shards of at most datasets' shard
    size, state.json, dataset_info.json), written batch by batch. An empty split gets one empty shard, so
    that `load_from_disk` reads it."""
    from datasets import DatasetInfo, Features
    from datasets import config as datasets_config
    from datasets.arrow_writer import ArrowWriter
    from datasets.utils.py_utils import asdict, convert_file_size_to_int

    parquet = executors.open_parquet(parquet_path)
    metadata = parquet.metadata
    features = Features.from_arrow_schema(parquet.schema_arrow)
    nbytes = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    shards = max(1, min(metadata.num_rows, nbytes // convert_file_size_to_int(datasets_config.MAX_SHARD_SIZE) + 1))
    names = [f"data-{index:05d}-of-{shards:05d}.arrow" for index in range(shards)]
    folder.mkdir(parents=True)
    batches = _batches(parquet_path)
    pending = pa.RecordBatch.from_pylist([], schema=parquet.schema_arrow)
    for name, size in zip(names, _shard_sizes(metadata.num_rows, shards), strict=True):
        writer = ArrowWriter(features=features, path=str(folder / name), embed_local_files=True)
        while size:
            if pending.num_rows == 0:
                pending = next(batches)
            part, pending = pending.slice(0, size), pending.slice(min(size, pending.num_rows))
            writer.write_table(pa.Table.from_batches([part]))
            size -= part.num_rows
        writer.finalize()
    state = {
        "_data_files": [{"filename": name} for name in names],
        "_fingerprint": fingerprint,
        "_format_columns": None,
        "_format_kwargs": {},
        "_format_type": None,
        "_output_all_columns": False,
        "_split": None,
    }
    (folder / datasets_config.DATASET_STATE_JSON_FILENAME).write_text(
        json.dumps(state, indent=2, sort_keys=True), encoding="utf-8"
    )
    info = asdict(DatasetInfo(features=features))
    (folder / datasets_config.DATASET_INFO_FILENAME).write_text(
        json.dumps({key: info[key] for key in sorted(info)}, indent=2), encoding="utf-8"
    )


def _shard_sizes(rows: int, shards: int) -> list[int]:
    """Rows per shard as `Dataset.shard(contiguous=True)` cuts them."""
    size, rest = divmod(rows, shards)
    return [size + (1 if index < rest else 0) for index in range(shards)]


# --- the split report -------------------------------------------------------------------


def split_report(
    narrow: Narrow, assignment: Assignment, roles: Roles, *, rows_after: dict[str, int]
) -> dict[str, Any]:
    split_of_row = assignment.split_of_row
    split_rows = np.bincount(split_of_row, minlength=len(SPLITS))
    per_split: dict[str, Any] = {
        name: {
            "rows": int(split_rows[index]),
            "rows_after_mitigation": rows_after[name],
            "share": round(int(split_rows[index]) / narrow.rows, 4),
        }
        for index, name in enumerate(SPLITS)
    }
    whole: dict[str, dict[str, float]] = {}
    deviation = {"label": 0.0, "protected": 0.0}
    for column in roles.measured:
        coded = narrow.columns[column]
        table = _by_split(split_of_row, coded)
        total = table.sum(axis=0)
        values = sorted(np.flatnonzero(total).tolist(), key=lambda v: (-total[v], coded.names[v]))
        whole_shares = total[values] / narrow.rows
        whole[column] = {coded.names[v]: round(float(share), 4) for v, share in zip(values, whole_shares, strict=True)}
        kind = "label" if column == roles.label else "protected"
        for index, name in enumerate(SPLITS):
            shares = table[index, values] / split_rows[index] if split_rows[index] else np.zeros(len(values))
            per_split[name][column] = {coded.names[v]: round(float(s), 4) for v, s in zip(values, shares, strict=True)}
            if split_rows[index]:
                gap = float(np.abs(shares - whole_shares).max()) * 100
                deviation[kind] = max(deviation[kind], round(gap, 2))
    small_strata = _small_strata(split_of_row, assignment.strata, assignment.needed)
    if small_strata:
        log.warning(
            "%d stratum/strata have fewer rows than the %d that reach every split at its share, so not every split has them; see %s",
            len(small_strata),
            assignment.needed,
            REPORT,
        )
    return {
        "rule": "units (rows sharing a group id or duplicate cluster) taken stratum by stratum in the order of a hash of their "
        "first row id keyed with the seed, each dealt to the split furthest below its share of the unit's strata and values",
        "rows_for_every_split": assignment.needed,
        "rows": narrow.rows,
        "units": assignment.units,
        "whole_set": whole,
        "splits": per_split,
        "max_deviation_points": deviation,
        "shared_between_splits": {
            "group_ids": _shared(narrow.links[roles.group], split_of_row) if roles.group in narrow.links else 0,
            "duplicate_clusters": _shared(narrow.links[CLUSTER], split_of_row) if CLUSTER in narrow.links else 0,
        },
        # the key keeps its name from the fold-based split: strata too small to reach every split
        "strata_smaller_than_folds": small_strata,
        "stratified_on": assignment.stratified_on,
    }


def _by_split(split_of_row: np.ndarray, coded: Coded) -> np.ndarray:
    """Rows per split (row) and value (column)."""
    cells = split_of_row.astype(np.int64) * len(coded.names) + coded.codes
    return np.bincount(cells, minlength=len(SPLITS) * len(coded.names)).reshape(len(SPLITS), len(coded.names))


def _small_strata(split_of_row: np.ndarray, strata: Coded, needed: int) -> dict[str, dict[str, int]]:
    table = _by_split(split_of_row, strata).T
    return {
        strata.names[stratum]: {name: int(n) for name, n in zip(SPLITS, table[stratum].tolist(), strict=True) if n}
        for stratum in range(len(strata.names))
        if 0 < table[stratum].sum() < needed
    }


def _shared(codes: np.ndarray, split_of_row: np.ndarray) -> int:
    """How many values of a link column have rows in more than one split."""
    present = codes >= 0
    pairs = np.unique(codes[present] * len(SPLITS) + split_of_row[present])
    return int((np.bincount(pairs // len(SPLITS)) > 1).sum())


STAGE = Stage(
    files=STAGES["split"],
    run=run,
)
