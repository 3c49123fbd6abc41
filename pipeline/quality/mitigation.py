"""Bias mitigation on a training set: reweighing and resampling (Kamiran & Calders, 2012).

Both aim at the same thing: a set in which the label does not depend on the
protected group. Reweighing gives each row the weight
`n(group) * n(label) / (N * n(group, label))`, so the weighted label rate is
the same in every group and the weighted group sizes stay as they were
(with several attributes, raked so that this holds for each one).
Resampling instead draws each group x label cell to `n(group) * n(label) / N`
rows (uniform sampling: a random subset where a cell is too large, the cell
plus random repeats where it is too small), and at least one row where the
cell has any, so a rare label is never removed from a group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.logs import get_logger

log = get_logger("pipeline.split")


def reweigh(
    labels: Sequence[str], attributes: Sequence[Sequence[str]], *, iterations: int = 200, tolerance: float = 1e-6
) -> list[float]:
    """Weights under which the label is independent of each attribute and, where every cell has rows, of their intersection.

    Starts from Kamiran & Calders' weights on the intersection of the
    attributes (exact when no group x label cell of the intersection is
    empty), then rakes (iterative proportional fitting) until, for every
    attribute on its own, each group x label cell weighs n(group) * n(label) / N.
    """
    frame = pd.DataFrame({"label": list(labels)})
    names = [f"a{i}" for i in range(len(attributes))]
    for name, values in zip(names, attributes, strict=True):
        frame[name] = list(values)
    frame["joint"] = frame[names].astype(str).agg("\x1f".join, axis=1) if names else ""
    weights = _kamiran_calders(frame, "joint").to_numpy()
    label_share = frame["label"].map(frame["label"].value_counts(normalize=True)).to_numpy()
    for _ in range(iterations):
        worst = 0.0
        for name in names:
            cell = frame.groupby([name, "label"]).ngroup().to_numpy()
            target = frame.groupby(name)["label"].transform("size").to_numpy() * label_share
            current = np.bincount(cell, weights=weights)[cell]
            worst = max(worst, float(np.max(np.abs(current / target - 1))))
            weights = weights * target / current
        if worst < tolerance:
            break
    else:
        log.warning(
            "reweighing could not make the label independent of every protected group (groups too small or group x label cells empty; "
            "largest remaining error %.1f%%); weights are scaled to average 1",
            100 * worst,
        )
        weights = weights * len(weights) / weights.sum()
    return np.round(weights, 6).tolist()


def _kamiran_calders(frame: pd.DataFrame, group: str) -> pd.Series:
    group_size = frame.groupby(group)["label"].transform("size")
    label_size = frame.groupby("label")[group].transform("size")
    cell_size = frame.groupby([group, "label"])["label"].transform("size")
    return group_size * label_size / (len(frame) * cell_size)


@dataclass(frozen=True)
class Resampled:
    """Row positions of the resampled set, in order; `copies` of them are repeats; `dropped` left out."""

    positions: list[int]
    copies: int
    dropped: list[int]
    targets: dict[tuple[str, str], int]
    unfillable: list[tuple[str, str]]  # cells with a target but no row to repeat


def resample(labels: Sequence[str], groups: Sequence[str], seed: int) -> Resampled:
    frame = pd.DataFrame({"label": list(labels), "group": list(groups)})
    total = len(frame)
    group_size = frame["group"].value_counts()
    label_size = frame["label"].value_counts()
    rng = np.random.default_rng(seed)
    positions: list[int] = []
    dropped: list[int] = []
    targets: dict[tuple[str, str], int] = {}
    unfillable: list[tuple[str, str]] = []
    copies = 0
    cells = frame.groupby(["group", "label"]).indices
    for group in sorted(group_size.index):
        for label in sorted(label_size.index):
            members = sorted(cells.get((group, label), []))
            # a non-empty cell keeps at least one row, so resampling never removes a rare label from a group
            target = max(int(round(group_size[group] * label_size[label] / total)), 1 if members else 0)
            targets[(group, label)] = target
            if target <= len(members):
                chosen = (
                    sorted(rng.choice(members, size=target, replace=False).tolist())
                    if target < len(members)
                    else members
                )
                positions.extend(chosen)
                dropped.extend(sorted(set(members) - set(chosen)))
            elif members:
                extra = rng.choice(members, size=target - len(members), replace=True).tolist()
                positions.extend(members + sorted(extra))
                copies += len(extra)
            elif target:
                unfillable.append((group, label))
    return Resampled(sorted(positions), copies, sorted(dropped), targets, unfillable)
