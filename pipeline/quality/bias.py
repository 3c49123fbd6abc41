"""Data-level bias measurement: how labels are spread over protected groups, and identity terms in the text.

Per protected attribute (and their intersection): group counts and shares,
label rates per group, per label the largest rate gap and the disparate-impact
ratio (lowest rate / highest) between the groups large enough to judge
(fairlearn's `MetricFrame` with `selection_rate`), and a chi-square test of
label against group with Cramér's V as effect size (scipy). Row weights, when
given (reweighing), weight every count. A missing attribute value is a group
of its own, `(missing)`.

Every figure comes from the group x label table of (weighted) counts: the
`*_codes` and `*_counted` forms take integer codes and per-row mention counts
(the split stage's narrow columns), and past one `bincount` over the rows
their cost does not grow with the rows. fairlearn's `MetricFrame` runs over
the table's cells, each weighted by its count, which gives the same rates as
one row per record.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MISSING = "(missing)"
INTERSECTION_SEPARATOR = " & "


def group_values(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Each row's group for one column, or for the intersection of several ("female & 25-34")."""
    parts = [frame[column].astype("string").fillna(MISSING).astype(str) for column in columns]
    values = parts[0]
    for part in parts[1:]:
        values = values + INTERSECTION_SEPARATOR + part
    return values.rename(INTERSECTION_SEPARATOR.join(columns))


def codes_of(values: Sequence[Any]) -> tuple[np.ndarray, list[str]]:
    """Values as integer codes into their distinct values, which come sorted."""
    codes, names = pd.factorize(np.asarray(list(values), dtype=object), sort=True)
    return codes.astype(np.int64), [str(name) for name in names]


def measure(
    labels: Sequence[str], groups: Sequence[str], *, min_group_rows: int, weights: Sequence[float] | None = None
) -> dict[str, Any]:
    """Label balance across the groups of one attribute."""
    label_codes, label_names = codes_of(labels)
    group_codes, group_names = codes_of(groups)
    return measure_codes(
        label_codes,
        label_names,
        group_codes,
        group_names,
        min_group_rows=min_group_rows,
        weights=np.asarray(weights, dtype=float) if weights is not None else None,
    )


def measure_codes(
    labels: np.ndarray,
    label_names: Sequence[str],
    groups: np.ndarray,
    group_names: Sequence[str],
    *,
    min_group_rows: int,
    weights: np.ndarray | None = None,
) -> dict[str, Any]:
    """`measure` on integer codes into `label_names` and `group_names`."""
    rows, table = _group_label_table(labels, label_names, groups, group_names, weights)
    weight = table.sum(axis=1)
    judged = sorted(rows[rows >= min_group_rows].index)
    result: dict[str, Any] = {
        "rows": int(rows.sum()),
        "weighted": weights is not None,
        "groups": {
            str(group): {
                "rows": int(rows[group]),
                "share": _round(weight[group] / weight.sum()),
                "judged": group in judged,
                "label_rates": {
                    str(label): _round(table.loc[group, label] / weight[group]) for label in table.columns
                },
            }
            for group in rows.index
        },
        "min_group_rows": min_group_rows,
        "too_small_to_judge": [str(group) for group in rows.index if group not in judged],
    }
    result.update(_gaps(table.loc[judged]))
    result["chi_square"] = _chi_square(table.loc[judged]) if len(judged) else None
    if len(judged) < 2:
        result["note"] = f"{len(judged)} group(s) with at least {min_group_rows} rows: nothing to compare"
    return result


def _group_label_table(
    labels: np.ndarray,
    label_names: Sequence[str],
    groups: np.ndarray,
    group_names: Sequence[str],
    weights: np.ndarray | None,
) -> tuple[pd.Series, pd.DataFrame]:
    """Rows per group, and the weighted group x label table, over the groups and labels present, in name order."""
    shape = (len(group_names), len(label_names))
    cells = groups.astype(np.int64) * shape[1] + labels
    counts = np.bincount(cells, minlength=shape[0] * shape[1]).reshape(shape)
    weighted = np.bincount(cells, weights=weights, minlength=shape[0] * shape[1]).reshape(shape).astype(float)
    present_groups = [g for g in sorted(range(shape[0]), key=lambda g: group_names[g]) if counts[g].any()]
    present_labels = [k for k in sorted(range(shape[1]), key=lambda k: label_names[k]) if counts[:, k].any()]
    index = [group_names[g] for g in present_groups]
    rows = pd.Series(counts[present_groups].sum(axis=1), index=index, dtype=np.int64)
    table = pd.DataFrame(
        weighted[np.ix_(present_groups, present_labels)], index=index, columns=[label_names[k] for k in present_labels]
    )
    return rows, table


def _gaps(table: pd.DataFrame) -> dict[str, Any]:
    """Per label, the selection-rate gap and ratio between the groups of `table` (judged groups x labels)."""
    from fairlearn.metrics import MetricFrame, selection_rate

    per_label: dict[str, Any] = {}
    if len(table.index) >= 2:
        cells = table.stack()
        cells = cells[cells > 0]
        cell_groups = cells.index.get_level_values(0).to_numpy()
        cell_labels = cells.index.get_level_values(1).to_numpy()
        for label in sorted(table.columns):
            chosen = (cell_labels == label).astype(int)
            metric = MetricFrame(
                metrics=selection_rate,
                y_true=chosen,
                y_pred=chosen,
                sensitive_features=cell_groups,
                sample_params={"sample_weight": cells.to_numpy()},
            )
            rates = metric.by_group
            per_label[label] = {
                "largest_gap": _round(metric.difference()),
                "lowest": str(rates.idxmin()),
                "highest": str(rates.idxmax()),
                "disparate_impact": _round(metric.ratio()),
            }
    largest = max(per_label.items(), key=lambda item: item[1]["largest_gap"], default=(None, None))
    return {
        "per_label": per_label,
        "largest_gap": largest[1]["largest_gap"] if largest[1] else None,
        "largest_gap_label": largest[0],
    }


def _chi_square(table: pd.DataFrame) -> dict[str, Any] | None:
    from scipy.stats import chi2_contingency

    table = table.loc[:, table.sum(axis=0) > 0]
    if table.shape[0] < 2 or table.shape[1] < 2:
        return None
    observed = table.to_numpy(dtype=float)
    statistic, p_value, dof, _ = chi2_contingency(observed, correction=False)
    # Cramér's V from the same statistic (what scipy's `association` gives for integer tables; weighted tables are not integer)
    cramers_v = math.sqrt(statistic / (observed.sum() * (min(observed.shape) - 1)))
    return {
        "statistic": _round(statistic),
        "p_value": float(f"{p_value:.4g}"),
        "dof": int(dof),
        "cramers_v": _round(cramers_v),
        "on": "counts" if np.allclose(observed, np.round(observed)) else "weighted counts",
    }


def _round(value: float) -> float:
    return round(float(value), 4)


def measure_all(
    frame: pd.DataFrame, label: str, protected: list[str], *, min_group_rows: int, weight: str | None = None
) -> dict[str, Any]:
    """`measure` for every protected column and, with two or more, their intersection."""
    attributes = [[column] for column in protected] + ([protected] if len(protected) > 1 else [])
    weights = frame[weight].tolist() if weight else None
    return {
        INTERSECTION_SEPARATOR.join(columns): measure(
            frame[label].astype(str).tolist(),
            group_values(frame, columns).tolist(),
            min_group_rows=min_group_rows,
            weights=weights,
        )
        for columns in attributes
    }


def load_lexicon(name_or_path: str, base_dir: Path) -> dict[str, list[str]]:
    """A lexicon: {term group: [terms]}; a shipped one by name (`gender`) or a JSON file."""
    shipped = resources.files("pipeline") / "lexicons" / f"{name_or_path}_terms.json"
    path = (
        Path(str(shipped))
        if shipped.is_file()
        else (Path(name_or_path) if Path(name_or_path).is_absolute() else base_dir / name_or_path)
    )
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(group): [str(term) for term in terms] for group, terms in data["groups"].items()}


@lru_cache(maxsize=64)
def _term_pattern(terms: tuple[str, ...]) -> re.Pattern[str]:
    """Any of the terms as a whole word, the longest first where several match at one place.

    Python's re tries every alternative at every word start; here the terms are grouped by first letter behind a
    lookahead for the first letters, so it tries only the group of the letter there: the same matches, counted
    about 4.5x faster (129 against 587 us per ticket of the sample, for the four groups of the gender lexicon).
    """
    if not terms:
        return re.compile(r"(?!)")  # matches nothing
    by_letter: dict[str, list[str]] = {}
    for term in sorted(terms, key=len, reverse=True):
        by_letter.setdefault(term[:1].casefold(), []).append(re.escape(term))
    first_letters = "".join(sorted({re.escape(term[:1]) for term in terms}))
    alternatives = "|".join(f"(?:{'|'.join(group)})" for group in by_letter.values())
    return re.compile(rf"\b(?=[{first_letters}])(?:{alternatives})\b", re.IGNORECASE)


def count_mentions(texts: Sequence[str], lexicon: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """Per term group, how many of its terms each text mentions."""
    counts: dict[str, np.ndarray] = {}
    for group, terms in lexicon.items():
        pattern = _term_pattern(tuple(terms))
        counts[group] = np.fromiter((len(pattern.findall(text)) for text in texts), dtype=np.uint32, count=len(texts))
    return counts


def identity_terms(
    texts: Sequence[str], labels: Sequence[str] | None, lexicon: dict[str, list[str]]
) -> dict[str, Any]:
    """Per term group: rows mentioning it, mentions, and the label rates among those rows next to the overall rates."""
    label_codes, label_names = codes_of(labels) if labels is not None else (None, [])
    return identity_terms_counted(count_mentions(texts, lexicon), label_codes, label_names)


def identity_terms_counted(
    mentions: dict[str, np.ndarray], labels: np.ndarray | None, label_names: Sequence[str]
) -> dict[str, Any]:
    """`identity_terms` from each row's mention counts (`count_mentions`, which may be joined batch by batch)."""
    result: dict[str, Any] = {}
    order: list[int] = []  # the labels present, most frequent first
    if labels is not None:
        overall = np.bincount(labels, minlength=len(label_names))
        order = sorted(np.flatnonzero(overall).tolist(), key=lambda k: (-overall[k], label_names[k]))
    for group, counts in mentions.items():
        rows = len(counts)
        mentioned = counts > 0
        mentioning = int(mentioned.sum())
        entry: dict[str, Any] = {
            "rows": mentioning,
            "mentions": int(counts.sum()),
            "row_share": _round(mentioning / rows) if rows else 0.0,
        }
        if labels is not None and mentioning:
            among = np.bincount(labels[mentioned], minlength=len(label_names))
            entry["label_rates"] = {str(label_names[k]): _round(among[k] / mentioning) for k in order}
            entry["label_rates_overall"] = {str(label_names[k]): _round(overall[k] / rows) for k in order}
        result[group] = entry
    return result
