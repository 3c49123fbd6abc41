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

from pipeline.logs import get_logger
from pipeline.quality.bias import codes_of

log = get_logger("pipeline.split")


def reweigh(
    labels: Sequence[str], attributes: Sequence[Sequence[str]], *, iterations: int = 200, tolerance: float = 1e-6
) -> list[float]:
    """Weights under which the label is independent of each attribute and, where every cell has rows, of their intersection."""
    return reweigh_codes(
        codes_of(labels)[0],
        [codes_of(values)[0] for values in attributes],
        iterations=iterations,
        tolerance=tolerance,
    ).tolist()


def reweigh_codes(
    labels: np.ndarray, attributes: Sequence[np.ndarray], *, iterations: int = 200, tolerance: float = 1e-6
) -> np.ndarray:
    """`reweigh` on integer codes, one array per attribute.

    Starts from Kamiran & Calders' weights on the intersection of the
    attributes (exact when no group x label cell of the intersection is
    empty), then rakes (iterative proportional fitting) until, for every
    attribute on its own, each group x label cell weighs n(group) * n(label) / N.
    """
    rows = len(labels)
    weights = _kamiran_calders(labels, _dense(attributes, rows))
    label_share = (np.bincount(labels) / rows)[labels]
    cells = [_dense([attribute, labels], rows) for attribute in attributes]
    targets = [np.bincount(attribute)[attribute] * label_share for attribute in attributes]
    worst = 0.0
    for _ in range(iterations):
        worst = 0.0
        for cell, target in zip(cells, targets, strict=True):
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
    return np.round(weights, 6)


def _kamiran_calders(labels: np.ndarray, groups: np.ndarray) -> np.ndarray:
    cells = _dense([groups, labels], len(labels))
    group_size = np.bincount(groups)[groups]
    label_size = np.bincount(labels)[labels]
    cell_size = np.bincount(cells)[cells]
    return group_size * label_size / (len(labels) * cell_size)


def _dense(columns: Sequence[np.ndarray], rows: int) -> np.ndarray:
    """Each row's combination of the columns' codes, as a code from 0 (the same code for every row when no column)."""
    joint = np.zeros(rows, dtype=np.int64)
    for column in columns:
        joint = np.unique(joint * (int(column.max(initial=0)) + 1) + column, return_inverse=True)[1]
    return joint


@dataclass(frozen=True)
class Resampled:
    """Row positions of the resampled set, in order; `copies` of them are repeats; `dropped` left out."""

    positions: list[int]
    copies: int
    dropped: list[int]
    targets: dict[tuple[str, str], int]
    unfillable: list[tuple[str, str]]  # cells with a target but no row to repeat


@dataclass(frozen=True)
class Drawn:
    """`resample_codes`' result: positions as arrays, cells as (group code, label code)."""

    positions: np.ndarray
    copies: int
    dropped: np.ndarray
    targets: dict[tuple[int, int], int]
    unfillable: list[tuple[int, int]]


def resample(labels: Sequence[str], groups: Sequence[str], seed: int) -> Resampled:
    label_codes, label_names = codes_of(labels)
    group_codes, group_names = codes_of(groups)
    drawn = resample_codes(label_codes, group_codes, seed)
    return Resampled(
        drawn.positions.tolist(),
        drawn.copies,
        drawn.dropped.tolist(),
        {(group_names[g], label_names[k]): n for (g, k), n in drawn.targets.items()},
        [(group_names[g], label_names[k]) for g, k in drawn.unfillable],
    )


def resample_codes(labels: np.ndarray, groups: np.ndarray, seed: int) -> Drawn:
    """`resample` on integer codes; cells are drawn in code order, so codes in name order draw as `resample` does."""
    total = len(labels)
    label_count = int(labels.max(initial=-1)) + 1
    group_size = np.bincount(groups)
    label_size = np.bincount(labels, minlength=label_count)
    cell_size = np.bincount(groups.astype(np.int64) * label_count + labels, minlength=len(group_size) * label_count)
    cell_start = np.concatenate(([0], np.cumsum(cell_size)))
    by_cell = np.lexsort((labels, groups))  # stable: each cell's rows in order
    rng = np.random.default_rng(seed)
    kept: list[np.ndarray] = []
    dropped: list[np.ndarray] = []
    targets: dict[tuple[int, int], int] = {}
    unfillable: list[tuple[int, int]] = []
    copies = 0
    for group in np.flatnonzero(group_size).tolist():
        for label in np.flatnonzero(label_size).tolist():
            cell = group * label_count + label
            members = by_cell[cell_start[cell] : cell_start[cell + 1]]
            # a non-empty cell keeps at least one row, so resampling never removes a rare label from a group
            target = max(int(round(int(group_size[group]) * int(label_size[label]) / total)), 1 if len(members) else 0)
            targets[(group, label)] = target
            if target <= len(members):
                chosen = np.sort(rng.choice(members, size=target, replace=False)) if target < len(members) else members
                kept.append(chosen)
                dropped.append(np.setdiff1d(members, chosen))
            elif len(members):
                extra = rng.choice(members, size=target - len(members), replace=True)
                kept.extend([members, np.sort(extra)])
                copies += len(extra)
            elif target:
                unfillable.append((group, label))
    positions = np.sort(np.concatenate(kept)) if kept else np.zeros(0, dtype=np.int64)
    drawn_out = np.sort(np.concatenate(dropped)) if dropped else np.zeros(0, dtype=np.int64)
    return Drawn(positions, copies, drawn_out, targets, unfillable)
