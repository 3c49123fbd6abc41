"""Data-level bias measurement: how labels are spread over protected groups, and identity terms in the text.

Per protected attribute (and their intersection): group counts and shares,
label rates per group, per label the largest rate gap and the disparate-impact
ratio (lowest rate / highest) between the groups large enough to judge
(fairlearn's `MetricFrame` with `selection_rate`), and a chi-square test of
label against group with Cramér's V as effect size (scipy). Row weights, when
given (reweighing), weight every count. A missing attribute value is a group
of its own, `(missing)`.
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


def measure(
    labels: Sequence[str], groups: Sequence[str], *, min_group_rows: int, weights: Sequence[float] | None = None
) -> dict[str, Any]:
    """Label balance across the groups of one attribute."""
    frame = pd.DataFrame(
        {"label": list(labels), "group": list(groups), "weight": list(weights) if weights is not None else 1.0}
    )
    rows = frame.groupby("group").size()
    weight = frame.groupby("group")["weight"].sum()
    table = frame.pivot_table(index="group", columns="label", values="weight", aggfunc="sum", fill_value=0.0)
    judged = sorted(rows[rows >= min_group_rows].index)
    result: dict[str, Any] = {
        "rows": int(len(frame)),
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
    result.update(_gaps(frame[frame["group"].isin(judged)], sorted(table.columns)))
    result["chi_square"] = _chi_square(table.loc[judged]) if len(judged) else None
    if len(judged) < 2:
        result["note"] = f"{len(judged)} group(s) with at least {min_group_rows} rows: nothing to compare"
    return result


def _gaps(frame: pd.DataFrame, labels: list[str]) -> dict[str, Any]:
    from fairlearn.metrics import MetricFrame, selection_rate

    per_label: dict[str, Any] = {}
    if frame["group"].nunique() >= 2:
        for label in labels:
            chosen = (frame["label"] == label).astype(int).to_numpy()
            metric = MetricFrame(
                metrics=selection_rate,
                y_true=chosen,
                y_pred=chosen,
                sensitive_features=frame["group"].to_numpy(),
                sample_params={"sample_weight": frame["weight"].to_numpy()},
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
    return re.compile(
        r"\b(?:" + "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)) + r")\b", re.IGNORECASE
    )


def identity_terms(
    texts: Sequence[str], labels: Sequence[str] | None, lexicon: dict[str, list[str]]
) -> dict[str, Any]:
    """Per term group: rows mentioning it, mentions, and the label rates among those rows next to the overall rates."""
    overall = pd.Series(list(labels)).value_counts(normalize=True) if labels is not None else None
    result: dict[str, Any] = {}
    for group, terms in lexicon.items():
        pattern = _term_pattern(tuple(terms))
        mentions = [len(pattern.findall(text)) for text in texts]
        entry: dict[str, Any] = {
            "rows": sum(1 for m in mentions if m),
            "mentions": sum(mentions),
            "row_share": _round(sum(1 for m in mentions if m) / len(texts)) if texts else 0.0,
        }
        if overall is not None and entry["rows"]:
            among = pd.Series([label for label, m in zip(labels, mentions, strict=True) if m]).value_counts(
                normalize=True
            )
            entry["label_rates"] = {str(label): _round(among.get(label, 0.0)) for label in overall.index}
            entry["label_rates_overall"] = {str(label): _round(rate) for label, rate in overall.items()}
        result[group] = entry
    return result
