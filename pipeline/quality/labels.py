"""Label checks: class sizes, and rows whose label is likely wrong (confident learning).

Out-of-fold class probabilities come from a cheap scikit-learn model (TF-IDF
+ logistic regression) under cross-validation, folds grouped by duplicate
cluster so a row's copy never predicts it; cleanlab's `find_label_issues`
(Northcutt et al., "Confident Learning") decides which labels are likely
wrong, and its self-confidence score (the probability of the given label) is
kept for every row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from pipeline.errors import InputError
from pipeline.logs import get_logger

log = get_logger("pipeline.check")


@dataclass(frozen=True)
class LabelFindings:
    """Per row (in input order) `quality` and `issue` (None where a row was not scored), plus what was skipped and why."""

    class_counts: dict[str, int]
    rare_classes: list[str]
    quality: list[float | None]
    issue: list[bool | None]
    suggested: list[str | None]
    skipped: str | None = None
    scored_classes: list[str] = field(default_factory=list)


def check_labels(
    texts: Sequence[str], labels: Sequence[str], groups: Sequence[str], *, min_class_rows: int, folds: int, seed: int
) -> LabelFindings:
    counts = dict(sorted(Counter(labels).items(), key=lambda item: (-item[1], item[0])))
    rare = [label for label, count in counts.items() if count < min_class_rows]
    unscored = LabelFindings(counts, rare, [None] * len(labels), [None] * len(labels), [None] * len(labels))
    scored_classes = [label for label, count in counts.items() if count >= folds]
    rows = [i for i, label in enumerate(labels) if label in scored_classes]
    reason = _why_not_scorable(scored_classes, len(counts), [groups[i] for i in rows], folds)
    if reason:
        log.warning("label check skipped: %s", reason)
        return LabelFindings(**{**unscored.__dict__, "skipped": reason})
    try:
        probabilities = _out_of_fold_probabilities(
            [texts[i] for i in rows], [labels[i] for i in rows], [groups[i] for i in rows], scored_classes, folds, seed
        )
    except ValueError as error:  # e.g. no word in any text (all numbers or tags)
        reason = f"the texts give the model nothing to learn from ({error})"
        log.warning("label check skipped: %s", reason)
        return LabelFindings(**{**unscored.__dict__, "skipped": reason})
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    encoded = np.array([scored_classes.index(labels[i]) for i in rows])
    # n_jobs=1: cleanlab's default forks a pool, which can deadlock in a process that already runs threads (an Airflow task)
    issues = find_label_issues(encoded, probabilities, filter_by="prune_by_noise_rate", n_jobs=1)
    quality = get_label_quality_scores(encoded, probabilities, method="self_confidence")
    suggested = probabilities.argmax(axis=1)
    result_quality: list[float | None] = list(unscored.quality)
    result_issue: list[bool | None] = list(unscored.issue)
    result_suggested: list[str | None] = list(unscored.suggested)
    for position, row in enumerate(rows):
        result_quality[row] = round(float(quality[position]), 4)
        result_issue[row] = bool(issues[position])
        result_suggested[row] = scored_classes[int(suggested[position])]
    return LabelFindings(counts, rare, result_quality, result_issue, result_suggested, None, scored_classes)


def _why_not_scorable(classes: list[str], all_classes: int, groups: list[str], folds: int) -> str | None:
    if len(classes) < 2:
        return f"needs at least two classes with {folds} or more rows each (one per fold); {len(classes)} of the {all_classes} class(es) have that many"
    if len(set(groups)) < folds:
        return f"needs at least {folds} distinct texts (duplicate clusters) for {folds}-fold cross-validation; found {len(set(groups))}"
    return None


def _out_of_fold_probabilities(
    texts: list[str], labels: list[str], groups: list[str], classes: list[str], folds: int, seed: int
) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=50_000),
        LogisticRegression(max_iter=1000, C=4.0),
    )
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    encoded = np.array([classes.index(label) for label in labels])
    return cross_val_predict(
        model, np.array(texts, dtype=object), encoded, groups=groups, cv=splitter, method="predict_proba"
    )


def require_two_classes(labels: Sequence[str], column: str, when: str) -> None:
    """A classifier needs two classes at least; one class would train to a meaningless accuracy of 1.0."""
    counts = Counter(str(label) for label in labels)
    if len(counts) < 2:
        listing = ", ".join(f"'{name[:40]}': {count}" for name, count in counts.items()) or "no rows"
        raise InputError(
            f"label '{column}' has {len(counts)} class {when} ({listing}); a classifier needs at least two. "
            "Check the label column in the config, or what the check and curate stages removed (quarantine/*.jsonl)"
        )
