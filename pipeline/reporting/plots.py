"""The report's figures, drawn with matplotlib (Agg) and returned as PNG data URIs, so the HTML needs no other file."""

from __future__ import annotations

import base64
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

# text.parse_math off: labels and group names from the data are drawn as written, never parsed as mathtext (`$\foo$` would raise)
plt.rcParams.update(
    {
        "figure.dpi": 100,
        "font.size": 9,
        "svg.hashsalt": "report",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "text.parse_math": False,
    }
)


def to_data_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


ROC_COLORS = ("#b33", "#27a", "#2a7", "#a72")


def roc_curve(attacks: dict[str, dict[str, Any] | None], title: str) -> str | None:
    """The ROC curves of the membership attacks that ran (name: the attack's metrics, None when it did not run), on
    one figure: linear axes, and log axes down to the FPR resolution the non-members allow."""
    drawn = {name: attack for name, attack in attacks.items() if attack and (attack.get("roc") or {}).get("fpr")}
    if not drawn:
        return None
    resolution = min(attack.get("fpr_resolution") or 1e-3 for attack in drawn.values())
    figure, axes = plt.subplots(1, 2, figsize=(8, 3.4))
    for ax, log in zip(axes, (False, True), strict=True):
        for (name, attack), color in zip(drawn.items(), ROC_COLORS, strict=False):
            auc = attack.get("auc")
            label = f"{name} (AUC {auc:.3f})" if auc is not None else name
            ax.plot(attack["roc"]["fpr"], attack["roc"]["tpr"], color=color, label=label)
        ax.plot([0, 1], [0, 1], color="#888", linestyle="--", label="chance")
        ax.set_xlabel("false positive rate" + (" (log)" if log else ""))
        ax.set_ylabel("true positive rate" + (" (log)" if log else ""))
        if log:
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlim(max(resolution / 2, 1e-4), 1)
            ax.set_ylim(1e-3, 1)
            for axis in (ax.xaxis, ax.yaxis):  # plain tick labels: the default ones are mathtext, which is off
                axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
                axis.set_minor_formatter(NullFormatter())
        ax.legend(loc="lower right")
    figure.suptitle(title)
    return to_data_uri(figure)


def confusion(utility: dict[str, Any]) -> str | None:
    matrix = (utility.get("confusion_matrix") or {}).get("counts")
    labels = (utility.get("confusion_matrix") or {}).get("labels")
    if not matrix:
        return None
    size = max(3.5, 0.6 * len(labels) + 2)
    figure, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    peak = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(
                j, i, str(value), ha="center", va="center", color="white" if value > peak / 2 else "black", fontsize=8
            )
    figure.colorbar(image, ax=ax, shrink=0.7)
    ax.set_title("confusion matrix, test split")
    return to_data_uri(figure)


def training_curve(curve: list[dict[str, Any]]) -> str | None:
    if not curve:
        return None
    epochs = [entry["epoch"] for entry in curve]
    figure, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(epochs, [entry["train_loss"] for entry in curve], marker="o", label="train loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_xticks(epochs)
    metric = "accuracy" if "accuracy" in (curve[0].get("validation") or {}) else "loss"
    other = ax.twinx()
    other.plot(
        epochs,
        [(entry.get("validation") or {}).get(metric) for entry in curve],
        marker="s",
        color="#2a7",
        label=f"validation {metric}",
    )
    other.set_ylabel(f"validation {metric}")
    lines = ax.get_legend_handles_labels()[0] + other.get_legend_handles_labels()[0]
    ax.legend(lines, [line.get_label() for line in lines], loc="center right")
    ax.set_title("training curve")
    return to_data_uri(figure)


def group_accuracy(model_bias: dict[str, Any]) -> str | None:
    attributes = [(name, entry) for name, entry in model_bias.items() if entry.get("groups")]
    if not attributes:
        return None
    figure, axes = plt.subplots(1, len(attributes), figsize=(4 * len(attributes), 3.2), squeeze=False)
    for ax, (name, entry) in zip(axes[0], attributes, strict=True):
        groups = list(entry["groups"])
        values = [entry["groups"][g]["accuracy"] or 0 for g in groups]
        colors = ["#357" if g in entry.get("measured_groups", []) else "#bbb" for g in groups]
        ax.barh(groups, values, color=colors)
        ax.set_xlim(0, 1)
        ax.set_xlabel("test accuracy")
        ax.set_title(name)
    figure.suptitle("accuracy per group (grey: too few test rows to judge)")
    return to_data_uri(figure)


def label_rate_gaps(data_bias: dict[str, Any]) -> str | None:
    attributes = data_bias.get("attributes") or {}
    if not attributes:
        return None
    moments = ["curated", "train_before", "train_after"]
    figure, ax = plt.subplots(figsize=(6, 3.2))
    width = 0.8 / len(moments)
    names = list(attributes)
    for index, moment in enumerate(moments):
        values = [(attributes[name].get(moment) or {}).get("largest_gap") or 0 for name in names]
        ax.bar([i + index * width for i in range(len(names))], values, width=width, label=moment.replace("_", " "))
    ax.set_xticks([i + width for i in range(len(names))], names)
    ax.set_ylabel("largest label-rate gap between groups")
    ax.legend()
    ax.set_title("data bias before and after mitigation")
    return to_data_uri(figure)


def forgetting(found: dict[str, Any] | None) -> str | None:
    """The per-passage change on the reference passages as a histogram, beside the utility before and after."""
    if not found or not (found.get("histogram") or {}).get("counts"):
        return None
    histogram, gain = found["histogram"], found.get("utility_gain") or {}
    edges, counts = histogram["edges"], histogram["counts"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(8, 3), gridspec_kw={"width_ratios": [2, 1]})
    names = [f"{edges[i]:g} to {edges[i + 1]:g}" for i in range(len(counts))]
    left.bar(range(len(counts)), counts, color="#27a")
    left.set_xticks(range(len(counts)), names, rotation=45, ha="right")
    left.set_xlabel(histogram["of"])
    left.set_ylabel("reference passages")
    left.set_title(f"forgotten: {found['forgotten']} of {found['passages']} ({found['criterion']})", fontsize=8)
    values = [gain.get("before"), gain.get("after")]
    if all(isinstance(value, int | float) for value in values):
        right.bar([0, 1], values, color=["#888", "#2a7"])
        right.set_xticks([0, 1], ["before", "after"])
        right.set_title(gain.get("metric", "utility"), fontsize=8)
    else:
        right.set_axis_off()
    figure.suptitle("what the fine-tune cost on general text, and what it gained on the task")
    return to_data_uri(figure)


def drift(data: dict[str, Any] | None) -> str | None:
    """This run's shares against the reference run's, for the label mix and the text lengths."""
    measures = (data or {}).get("measures") or {}
    shown = [name for name in ("label_distribution", "text_length") if measures.get(name)]
    if not shown:
        return None
    figure, axes = plt.subplots(1, len(shown), figsize=(4.5 * len(shown), 3.2), squeeze=False)
    for ax, name in zip(axes[0], shown, strict=True):
        measure = measures[name]
        keys = sorted(set(measure["current"]) | set(measure["reference"]), key=_bin_order)
        positions = range(len(keys))
        ax.bar(
            [p - 0.2 for p in positions],
            [measure["reference"].get(k, 0) for k in keys],
            0.4,
            color="#888",
            label="reference run",
        )
        ax.bar(
            [p + 0.2 for p in positions],
            [measure["current"].get(k, 0) for k in keys],
            0.4,
            color="#27a",
            label="this run",
        )
        ax.set_xticks(list(positions), keys, rotation=45, ha="right", fontsize=7)
        ax.set_ylabel("share of curated rows")
        flag = " (drifted)" if measure["flagged"] else ""
        ax.set_title(f"{name.replace('_', ' ')}: PSI {measure['psi']}, JS {measure['js_distance']}{flag}", fontsize=8)
        ax.legend(fontsize=7)
    return to_data_uri(figure)


def _bin_order(key: str) -> tuple[float, str]:
    """Length bins ("64-91") by their lower edge, other categories by name."""
    head = key.split("-", 1)[0]
    return (float(head), key) if head.isdigit() else (0.0, key)
