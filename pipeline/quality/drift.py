"""Data drift: an aggregate profile of a run's curated records, and how far one profile is from another's.

A profile holds counts only: labels, each protected attribute's groups,
languages, a histogram of text lengths over fixed bins, and the vocabulary as
8-byte BLAKE2b digests of the words found in at least `vocabulary_min_records`
records (redaction tags and words with digits left out). Nothing of a record's
text is in it, so one run can read another's profile without reading its data.

Distributions are compared by the population stability index (PSI) and the
Jensen-Shannon distance (base 2, from 0 for equal to 1 for disjoint), both
over the union of the categories with a small floor for the empty ones.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
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


def profile(frame: pd.DataFrame, roles: dict[str, list[str]], vocabulary_min_records: int) -> dict[str, Any]:
    """The aggregate profile of a run's curated records (see the module's doc)."""
    texts = join_text(frame, roles["text"]) if len(frame) else []
    label = (roles.get("label") or [None])[0]
    lengths = np.fromiter((len(text) for text in texts), dtype=float, count=len(texts))
    return {
        "version": PROFILE_VERSION,
        "rows": len(frame),
        "labels": _counts(frame[label]) if label else {},
        "protected": {name: _counts(frame[name]) for name in roles.get("protected", []) if name in frame},
        "languages": _counts(frame["qc_language"]) if "qc_language" in frame else {},
        "text_length": {
            "edges": LENGTH_EDGES,
            "counts": np.histogram(np.minimum(lengths, LENGTH_EDGES[-1]), bins=LENGTH_EDGES)[0].tolist(),
            "quantiles": _quantiles(lengths),
        },
        "vocabulary": vocabulary(texts, vocabulary_min_records),
    }


def _counts(column: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in column.fillna("(missing)").astype(str).value_counts().sort_index().items()}


def _quantiles(lengths: np.ndarray) -> dict[str, float | None]:
    points = {"p10": 10, "p50": 50, "p90": 90}
    if len(lengths) == 0:
        return dict.fromkeys(points)
    return {name: float(np.percentile(lengths, q)) for name, q in points.items()}


def digest(word: str) -> str:
    return hashlib.blake2b(word.encode("utf-8"), digest_size=8, person=b"drift-vocab").hexdigest()


def vocabulary(texts: list[str], min_records: int) -> dict[str, Any]:
    """The digests of the words in at least `min_records` records, with how often they occur in all the records."""
    in_records: Counter[str] = Counter()
    occurrences: Counter[str] = Counter()
    for text in texts:
        found = [word.casefold() for word in VOCABULARY_WORD.findall(REDACTION_TAG.sub(" ", text))]
        occurrences.update(found)
        in_records.update(set(found))
    frequent = sorted(word for word, n in in_records.items() if n >= min_records)
    return {
        "min_records": min_records,
        "digests": {digest(word): occurrences[word] for word in frequent},
    }


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
