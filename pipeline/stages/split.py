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
  band). scikit-learn's `StratifiedGroupKFold` (shuffled with the run's
  seed) deals the units into `k` folds, `k` the smallest number for which
  every ratio is a whole number of folds (10 for 80/10/10); the first folds
  make train, the next validation, the rest test.
- **Small strata.** A stratum with fewer rows than `k` cannot be in every
  fold; its rows are dealt by the same rule as every other row (so they land
  in whichever split the greedy balance puts them), and the split report
  lists each such stratum with where its rows went.
- **Mitigation** (`split.mitigation`) changes the training split only, so
  validation and test keep the real distribution: counterfactual copies
  first (`~cda` row ids), then reweighing (`sample_weight`, 1.0 elsewhere)
  or resampling (repeats get `~r<n>` row ids; rows drawn out go to the
  quarantine as `resampled_out`). Bias figures before and after go into
  `split/bias.json`.
"""

from __future__ import annotations

import logging
import math
import shutil
import warnings
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

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
from pipeline.quality.mitigation import resample, reweigh
from pipeline.quality.text import join_text
from pipeline.stage import Stage, StageContext, StageResult

log = get_logger("pipeline.split")

WEIGHT = "sample_weight"
MAX_FOLDS = 100
RESAMPLED_OUT = "resampled_out"


def run(ctx: StageContext) -> StageResult:
    config = ctx.config
    settings = config.split
    records = pd.read_parquet(ctx.run_dir.path(CURATED))
    if records.empty:
        raise InputError(
            "no curated rows to split: every row was quarantined before this stage; see quarantine/*.jsonl and the manifest's stats"
        )
    roles = config.record_roles()
    label = roles["label"][0] if roles["label"] else None
    if config.task == "classification" and label:
        require_two_classes(records[label].tolist(), label, "after curation")
    protected = roles["protected"]
    folds = fold_count(settings.train, settings.validation, settings.test)
    strata, stratified_on = stratify(records, label, protected if settings.stratify_on_protected else [], folds)
    units = split_units(
        records, roles["group"][0] if roles["group"] else None, by_cluster=settings.keep_duplicates_together
    )
    records["split"] = assign_splits(
        strata, units, folds, (settings.train, settings.validation, settings.test), config.seed
    )
    records[WEIGHT] = 1.0
    parts = {name: records[records["split"] == name].reset_index(drop=True) for name in SPLITS}
    findings: dict[str, Any] = {"curated": _bias(records, config, label, protected, weighted=False)}
    with Quarantine(ctx.run_dir, "split") as quarantine:
        parts["train"], mitigation = _mitigate(parts["train"], config, label, protected, quarantine, findings)
        by_reason = dict(sorted(quarantine.counts.items()))
    outputs = _write(ctx, parts)
    report = split_report(
        records, parts, label, protected, strata, units, roles["group"][0] if roles["group"] else None, folds
    )
    report["stratified_on"] = stratified_on
    write_json(ctx.run_dir.path(REPORT), report)
    write_json(ctx.run_dir.path(BIAS), {"mitigation": mitigation, **findings})
    stats = {
        "total": len(records),
        "kept": len(records) - quarantine.total,
        "quarantined": quarantine.total,
        "quarantined_by_reason": by_reason,
        "rows": {name: len(part) for name, part in parts.items()},
        "added": mitigation["added"],
        "max_label_deviation_points": report["max_deviation_points"]["label"],
        "max_group_deviation_points": report["max_deviation_points"]["protected"],
    }
    return StageResult(outputs=[*FILES.values(), *outputs, REPORT, BIAS, quarantine.relative], stats=stats)


def stratify(
    records: pd.DataFrame, label: str | None, protected: list[str], folds: int
) -> tuple[pd.Series, list[str]]:
    """Each row's stratum and the columns it is made of.

    Stratified folds need at least one stratum with `folds` rows; when the
    strata are all smaller, the last protected column is dropped, and so on
    (then the label), with a warning, rather than failing.
    """
    columns = ([label] if label else []) + protected
    for attempt in (columns[: len(columns) - dropped] for dropped in range(len(columns) + 1)):
        strata = (
            bias.group_values(records, attempt) if attempt else pd.Series(["all"] * len(records), index=records.index)
        )
        if strata.value_counts().max() >= folds or not attempt:
            if attempt != columns:
                log.warning(
                    "every stratum of %s has fewer than %d rows (one per fold); stratifying on %s instead",
                    " x ".join(columns),
                    folds,
                    " x ".join(attempt) if attempt else "nothing (a grouped random split)",
                )
            return strata, attempt
    raise AssertionError("unreachable: the empty stratification always succeeds")


def split_units(records: pd.DataFrame, group_column: str | None, *, by_cluster: bool = True) -> list[int]:
    """Per row, the id of its unit: rows linked by a shared group value or (with `by_cluster`) cluster_id, transitively."""
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for column in [c for c in (group_column, "cluster_id" if by_cluster else None) if c and c in records.columns]:
        first: dict[str, int] = {}
        for position, value in enumerate(records[column].tolist()):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            if value in first:
                a, b = find(first[value]), find(position)
                parent[max(a, b)] = min(a, b)
            else:
                first[value] = position
    return [find(i) for i in range(len(records))]


def fold_count(*ratios: float) -> int:
    """The smallest number of folds in which every ratio is a whole number of folds."""
    for folds in range(2, MAX_FOLDS + 1):
        if all(abs(r * folds - round(r * folds)) < 1e-6 for r in ratios):
            return folds
    raise InputError(f"split ratios {ratios} are not multiples of 1/{MAX_FOLDS}; round them (e.g. 0.8 / 0.1 / 0.1)")


def assign_splits(
    strata: pd.Series, units: list[int], folds: int, ratios: tuple[float, float, float], seed: int
) -> list[str]:
    from sklearn.model_selection import StratifiedGroupKFold

    distinct_units = len(set(units))
    if distinct_units < folds:
        raise InputError(
            f"{len(units)} row(s) form {distinct_units} independent unit(s) (rows sharing a group id or duplicate cluster stay together); "
            f"a {'/'.join(f'{r:g}' for r in ratios)} split needs at least {folds}. Add data, or change split.train / validation / test"
        )
    fold_of = np.empty(len(units), dtype=int)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # small strata are reported in the split report instead
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for fold, (_, test_index) in enumerate(
            splitter.split(np.zeros(len(units)), strata.to_numpy(), groups=np.array(units))
        ):
            fold_of[test_index] = fold
    train_folds = round(ratios[0] * folds)
    validation_folds = round(ratios[1] * folds)
    return [
        "train" if f < train_folds else "validation" if f < train_folds + validation_folds else "test" for f in fold_of
    ]


def _bias(
    frame: pd.DataFrame, config: Config, label: str | None, protected: list[str], *, weighted: bool
) -> dict[str, Any]:
    settings = config.split.bias
    texts = join_text(frame, config.record_roles()["text"])
    result: dict[str, Any] = {"rows": len(frame)}
    if label and protected:
        result["groups"] = bias.measure_all(
            frame, label, protected, min_group_rows=settings.min_group_rows, weight=WEIGHT if weighted else None
        )
    result["identity_terms"] = {
        name: bias.identity_terms(
            texts, frame[label].astype(str).tolist() if label else None, bias.load_lexicon(name, config.base_dir)
        )
        for name in settings.lexicons
    }
    return result


def _mitigate(
    train: pd.DataFrame,
    config: Config,
    label: str | None,
    protected: list[str],
    quarantine: Quarantine,
    findings: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    settings = config.split.mitigation
    attributes = settings.attributes or protected
    summary: dict[str, Any] = {
        "applied_to": "train",
        "method": settings.method,
        "attributes": attributes,
        "counterfactual": settings.counterfactual,
        "added": {},
    }
    findings["train_before"] = _bias(train, config, label, protected, weighted=False)
    if settings.counterfactual:
        train, added = _counterfactual(train, config)
        summary["added"]["counterfactual"] = added
    if settings.method != "none" and not (label and attributes):
        summary["skipped"] = (
            f"{settings.method} needs a label column and protected columns; this config has {'no label' if not label else 'no protected column'}"
        )
        log.warning("mitigation skipped: %s", summary["skipped"])
    elif settings.method == "reweigh":
        train[WEIGHT] = reweigh(
            train[label].astype(str).tolist(), [bias.group_values(train, [column]).tolist() for column in attributes]
        )
    elif settings.method == "resample":
        train, summary["resample"] = _resample(train, label, attributes, config.seed, quarantine)
        summary["added"]["resampled_copies"] = summary["resample"]["copies"]
    findings["train_after"] = _bias(train, config, label, protected, weighted=settings.method == "reweigh")
    return train, summary


def _counterfactual(train: pd.DataFrame, config: Config) -> tuple[pd.DataFrame, int]:
    swapper = Swapper(config.redact.spacy_model, config.split.mitigation.counterfactual_lexicon)
    text_columns = [c for c in config.record_roles()["text"] if c in train.columns]
    messages = config.record_roles()["messages"]  # conversations: each message's content is swapped, roles kept
    swapped = {
        column: (swapper.swap_messages if column in messages else swapper.swap_all)(
            train[column].fillna("").astype(str).tolist()
        )
        for column in text_columns
    }
    copies = []
    for position in range(len(train)):
        changed = {
            c: swapped[c][position]
            for c in text_columns
            if swapped[c][position] is not None and swapped[c][position] != train.at[position, c]
        }
        if changed:
            copy = train.iloc[position].to_dict()
            copy.update(changed)
            copy["row_id"] = f"{copy['row_id']}~cda"
            copies.append(copy)
    log.info("counterfactual augmentation: %d gender-swapped copies added to train", len(copies))
    if not copies:
        return train, 0
    return pd.concat([train, pd.DataFrame(copies, columns=train.columns)], ignore_index=True), len(copies)


def _resample(
    train: pd.DataFrame, label: str, attributes: list[str], seed: int, quarantine: Quarantine
) -> tuple[pd.DataFrame, dict[str, Any]]:
    groups = bias.group_values(train, attributes).tolist()
    result = resample(train[label].astype(str).tolist(), groups, seed)
    for position in result.dropped:
        row = train.iloc[position]
        quarantine.add(
            row["row_id"],
            RESAMPLED_OUT,
            f"its group x label cell ({groups[position]} x {row[label]}) is above its target size",
            source=row["source"],
        )
    resampled = train.iloc[result.positions].reset_index(drop=True)
    repeat = resampled.groupby("row_id").cumcount()
    resampled["row_id"] = [
        row_id if n == 0 else f"{row_id}~r{n}" for row_id, n in zip(resampled["row_id"], repeat, strict=True)
    ]
    if result.unfillable:
        log.warning(
            "resampling: %d group x label cell(s) have no training row to repeat (listed in %s)",
            len(result.unfillable),
            BIAS,
        )
    log.log(
        logging.WARNING if len(result.dropped) > len(train) / 5 else logging.INFO,
        "resampling: train %d -> %d rows (%d drawn out, %d repeats added)",
        len(train),
        len(resampled),
        len(result.dropped),
        result.copies,
    )
    return resampled, {
        "copies": result.copies,
        "dropped": len(result.dropped),
        "unfillable_cells": [f"{group} x {label}" for group, label in result.unfillable],
        "targets": {f"{group} x {label}": n for (group, label), n in result.targets.items()},
    }


def _write(ctx: StageContext, parts: dict[str, pd.DataFrame]) -> list[str]:
    from datasets import Dataset, DatasetDict

    tables = {name: pa.Table.from_pandas(part, preserve_index=False) for name, part in parts.items()}
    for name, table in tables.items():
        with atomic_path(ctx.run_dir.path(FILES[name])) as path:
            pq.write_table(table, path)
    target = ctx.run_dir.path(DATASET)
    staging = target.with_name(".dataset.partial")
    shutil.rmtree(staging, ignore_errors=True)
    # a fixed fingerprint (the split file's hash) keeps the saved dataset byte-identical across reruns
    dataset = DatasetDict(
        {
            name: Dataset(table, fingerprint=sha256_file(ctx.run_dir.path(FILES[name]))[:16])
            for name, table in tables.items()
        }
    )
    dataset.save_to_disk(str(staging))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return sorted(str(path.relative_to(ctx.run_dir.root)) for path in target.rglob("*") if path.is_file())


def split_report(
    records: pd.DataFrame,
    parts: dict[str, pd.DataFrame],
    label: str | None,
    protected: list[str],
    strata: pd.Series,
    units: list[int],
    group_column: str | None,
    folds: int,
) -> dict[str, Any]:
    before = {name: records[records["split"] == name] for name in SPLITS}
    columns = ([label] if label else []) + protected
    whole = {
        column: records[column].astype("string").fillna(bias.MISSING).value_counts(normalize=True)
        for column in columns
    }
    per_split: dict[str, Any] = {}
    deviation = {"label": 0.0, "protected": 0.0}
    for name, part in before.items():
        entry: dict[str, Any] = {
            "rows": len(part),
            "rows_after_mitigation": len(parts[name]),
            "share": round(len(part) / len(records), 4),
        }
        for column in columns:
            shares = part[column].astype("string").fillna(bias.MISSING).value_counts(normalize=True)
            entry[column] = {str(value): round(float(shares.get(value, 0.0)), 4) for value in whole[column].index}
            if len(part):
                gap = float((shares.reindex(whole[column].index, fill_value=0.0) - whole[column]).abs().max()) * 100
                kind = "label" if column == label else "protected"
                deviation[kind] = max(deviation[kind], round(gap, 2))
        per_split[name] = entry
    small = Counter(strata)
    small_strata = {
        str(stratum): dict(Counter(records.loc[strata == stratum, "split"]))
        for stratum, count in sorted(small.items())
        if count < folds
    }
    if small_strata:
        log.warning(
            "%d stratum/strata have fewer rows than the %d folds and cannot be in every split; see %s",
            len(small_strata),
            folds,
            REPORT,
        )
    return {
        "rule": "units (rows sharing a group id or duplicate cluster) dealt into stratified folds by StratifiedGroupKFold; first folds train, then validation, then test",
        "folds": folds,
        "rows": len(records),
        "units": len(set(units)),
        "whole_set": {column: {str(k): round(float(v), 4) for k, v in whole[column].items()} for column in columns},
        "splits": per_split,
        "max_deviation_points": deviation,
        "shared_between_splits": {
            "group_ids": _shared(records, group_column) if group_column else 0,
            "duplicate_clusters": _shared(records, "cluster_id"),
        },
        "strata_smaller_than_folds": small_strata,
    }


def _shared(records: pd.DataFrame, column: str) -> int:
    present = records.dropna(subset=[column]).groupby(column)["split"].nunique()
    return int((present > 1).sum())


STAGE = Stage(
    files=STAGES["split"],
    run=run,
)
