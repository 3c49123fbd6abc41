"""Data drift: an aggregate profile of a run's curated records, and how far one profile is from another's.

A profile holds counts only: labels, each protected attribute's groups,
languages, a histogram of text lengths over fixed bins, and the vocabulary as
8-byte BLAKE2b digests of the words found in at least `vocabulary_min_records`
records (redaction tags and words with digits left out). Nothing of a record's
text is in it, so one run can read another's profile without reading its data.
It is summed a batch of records at a time (`ProfileSums`): what it keeps grows
with the vocabulary and by 4 bytes a record (the text lengths, for exact
quantiles), not with the records' text.

Distributions are compared by the population stability index (PSI) and the
Jensen-Shannon distance (base 2, from 0 for equal to 1 for disjoint), both
over the union of the categories with a small floor for the empty ones.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon

from pipeline.config import DriftConfig
from pipeline.quality.text import REDACTION_TAG, join_text

PROFILE_VERSION = 1
VOCABULARY_WORD = re.compile(r"[^\W\d_]{2,}")
# text length bins: powers of 2 ** 0.5 characters, so a length doubled moves two bins whatever its size
LENGTH_EDGES = [0, *(round(2 ** (k / 2)) for k in range(6, 41))]
FLOOR = 1e-4  # the share given to a category one side lacks, so PSI stays finite


@dataclass
class ProfileSums:
    """The sums a profile is made of, over the record batches added so far; `profile` turns them into the profile.

    Counts and length bins add up across batches. The text lengths are kept (4 bytes a record) so the quantiles
    are exact, and the word counters grow with the vocabulary, not with the records.
    """

    text: list[str]
    label: str | None
    protected: dict[str, Counter[str]]
    languages: Counter[str] | None  # None when the records have no `qc_language`
    rows: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    length_bins: np.ndarray = field(default_factory=lambda: np.zeros(len(LENGTH_EDGES) - 1, dtype=np.int64))
    lengths: list[np.ndarray] = field(default_factory=list)
    records_with_word: Counter[str] = field(default_factory=Counter)
    word_occurrences: Counter[str] = field(default_factory=Counter)

    @classmethod
    def start(cls, roles: dict[str, list[str]], columns: list[str]) -> ProfileSums:
        """Empty sums for records with these role columns and these columns."""
        return cls(
            text=roles["text"],
            label=(roles.get("label") or [None])[0],
            protected={name: Counter() for name in roles.get("protected", []) if name in columns},
            languages=Counter() if "qc_language" in columns else None,
        )

    @property
    def columns(self) -> list[str]:
        """The columns `add` reads."""
        label = [self.label] if self.label else []
        language = ["qc_language"] if self.languages is not None else []
        return list(dict.fromkeys([*self.text, *label, *self.protected, *language]))

    def add(self, frame: pd.DataFrame) -> None:
        if len(frame) == 0:
            return
        texts = join_text(frame, self.text)
        lengths = np.fromiter((len(text) for text in texts), dtype=np.int32, count=len(texts))
        self.rows += len(frame)
        if self.label:
            self.labels.update(_counts(frame[self.label]))
        for name, counts in self.protected.items():
            counts.update(_counts(frame[name]))
        if self.languages is not None:
            self.languages.update(_counts(frame["qc_language"]))
        self.length_bins += np.histogram(np.minimum(lengths, LENGTH_EDGES[-1]), bins=LENGTH_EDGES)[0]
        self.lengths.append(lengths)
        for text in texts:
            found = [word.casefold() for word in VOCABULARY_WORD.findall(REDACTION_TAG.sub(" ", text))]
            self.word_occurrences.update(found)
            self.records_with_word.update(set(found))

    def profile(self, vocabulary_min_records: int) -> dict[str, Any]:
        """The aggregate profile of the records added (see the module's doc)."""
        lengths = np.concatenate(self.lengths) if self.lengths else np.empty(0, dtype=np.int32)
        return {
            "version": PROFILE_VERSION,
            "rows": self.rows,
            "labels": _sorted(self.labels),
            "protected": {name: _sorted(counts) for name, counts in self.protected.items()},
            "languages": _sorted(self.languages or Counter()),
            "text_length": {
                "edges": LENGTH_EDGES,
                "counts": self.length_bins.tolist(),
                "quantiles": _quantiles(lengths.astype(float)),
            },
            "vocabulary": self.vocabulary(vocabulary_min_records),
        }

    def vocabulary(self, min_records: int) -> dict[str, Any]:
        """The digests of the words in at least `min_records` records, with how often they occur in all the records."""
        frequent = sorted(word for word, n in self.records_with_word.items() if n >= min_records)
        return {
            "min_records": min_records,
            "digests": {digest(word): self.word_occurrences[word] for word in frequent},
        }


def _counts(column: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in column.fillna("(missing)").astype(str).value_counts().items()}


def _sorted(counts: Counter[str]) -> dict[str, int]:
    return dict(sorted(counts.items()))


def _quantiles(lengths: np.ndarray) -> dict[str, float | None]:
    points = {"p10": 10, "p50": 50, "p90": 90}
    if len(lengths) == 0:
        return dict.fromkeys(points)
    return {name: float(np.percentile(lengths, q)) for name, q in points.items()}


def digest(word: str) -> str:
    return hashlib.blake2b(word.encode("utf-8"), digest_size=8, person=b"drift-vocab").hexdigest()


def psi(current: dict[str, int], reference: dict[str, int]) -> float | None:
    """Population stability index, sum of (p - q) ln(p / q) over the union of the categories."""
    p, q = _shares(current, reference)
    if p is None or q is None:
        return None
    return round(float(np.sum((p - q) * np.log(p / q))), 5)


def js_distance(current: dict[str, int], reference: dict[str, int]) -> float | None:
    p, q = _shares(current, reference)
    if p is None or q is None:
        return None
    return round(float(jensenshannon(p, q, base=2)), 5)


def _shares(current: dict[str, int], reference: dict[str, int]) -> tuple[np.ndarray | None, np.ndarray | None]:
    keys = sorted(set(current) | set(reference))
    shares = []
    for counts in (current, reference):
        total = sum(counts.values())
        if total == 0:
            return None, None
        values = np.array([counts.get(key, 0) / total for key in keys])
        values = np.maximum(values, FLOOR)
        shares.append(values / values.sum())
    return shares[0], shares[1]


def compare(current: dict[str, Any], reference: dict[str, Any], thresholds: DriftConfig) -> dict[str, Any]:
    """Every drift measure of `current` against `reference`, each with its figures and whether it is flagged."""
    measures: dict[str, dict[str, Any]] = {}
    if current["labels"] or reference["labels"]:
        measures["label_distribution"] = _distribution(current["labels"], reference["labels"], thresholds)
        new = sorted(set(current["labels"]) - set(reference["labels"]))
        vanished = sorted(set(reference["labels"]) - set(current["labels"]))
        measures["new_labels"] = {"labels": new, "flagged": bool(new)}
        measures["vanished_labels"] = {"labels": vanished, "flagged": bool(vanished)}
    for name in sorted(set(current["protected"]) & set(reference["protected"])):
        measures[f"protected_mix:{name}"] = _distribution(
            current["protected"][name], reference["protected"][name], thresholds
        )
    if current["languages"] and reference["languages"]:
        measures["language_mix"] = _distribution(current["languages"], reference["languages"], thresholds)
    measures["text_length"] = {
        **_distribution(_bins(current["text_length"]), _bins(reference["text_length"]), thresholds),
        "quantiles": {
            "current": current["text_length"]["quantiles"],
            "reference": reference["text_length"]["quantiles"],
        },
    }
    measures["new_vocabulary"] = new_vocabulary(current["vocabulary"], reference["vocabulary"], thresholds)
    flagged = [name for name, measure in measures.items() if measure["flagged"]]
    return {
        "rows": {"current": current["rows"], "reference": reference["rows"]},
        "measures": measures,
        "flagged": flagged,
    }


def _bins(histogram: dict[str, Any]) -> dict[str, int]:
    edges = histogram["edges"]
    return {f"{edges[i]}-{edges[i + 1]}": n for i, n in enumerate(histogram["counts"]) if n}


def _distribution(current: dict[str, int], reference: dict[str, int], thresholds: DriftConfig) -> dict[str, Any]:
    index, distance = psi(current, reference), js_distance(current, reference)
    flagged = (index is not None and index > thresholds.max_psi) or (
        distance is not None and distance > thresholds.max_js_distance
    )
    return {
        "psi": index,
        "js_distance": distance,
        "current": _shares_of(current),
        "reference": _shares_of(reference),
        "flagged": bool(flagged),
    }


def _shares_of(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {key: round(value / total, 5) for key, value in counts.items()} if total else {}


def new_vocabulary(current: dict[str, Any], reference: dict[str, Any], thresholds: DriftConfig) -> dict[str, Any]:
    """The share of this run's vocabulary occurrences whose word is not in the reference's vocabulary."""
    mine, theirs = current["digests"], reference["digests"]
    total = sum(mine.values())
    new_words = [d for d in mine if d not in theirs]
    share = round(sum(mine[d] for d in new_words) / total, 5) if total else None
    return {
        "share": share,
        "new_words": len(new_words),
        "vanished_words": sum(1 for d in theirs if d not in mine),
        "vocabulary": {"current": len(mine), "reference": len(theirs)},
        "min_records": {"current": current["min_records"], "reference": reference["min_records"]},
        "flagged": share is not None and share > thresholds.max_new_vocabulary,
    }


def concept_drift(own: float | None, on_this_run: float | None, kind: str, thresholds: DriftConfig) -> dict[str, Any]:
    """The reference model's score on this run's test split against its own test score: an accuracy drop, or a
    response-loss rise for a causal LM."""
    if own is None or on_this_run is None or (isinstance(on_this_run, float) and math.isnan(on_this_run)):
        return {"metric": kind, "own": own, "on_this_run": on_this_run, "change": None, "flagged": False}
    if kind == "accuracy":
        change = round(own - on_this_run, 5)
        flagged = change > thresholds.max_accuracy_drop
    else:
        change = round(on_this_run - own, 5)
        flagged = change > thresholds.max_loss_rise
    return {"metric": kind, "own": own, "on_this_run": round(on_this_run, 5), "change": change, "flagged": flagged}
