"""Catastrophic forgetting: what fine-tuning cost the base model on general text outside the task.

The reference passages are general English (`pipeline/reference_texts`, with
their provenance), or a user's own (`evaluate.reference_texts`). Per task:

- causal LM: each passage's mean token loss under the base model (the adapter
  switched off) and the fine-tuned one; a passage whose loss rose by more than
  `evaluate.forgetting_margin` nats counts as forgotten;
- classifier: the encoder's mean-pooled sentence embedding of each passage
  before and after; their cosine similarity, linear CKA of the two sets
  (Kornblith et al., ICML 2019: 1 when one is a rotation and scaling of the
  other), and a probe that needs no labels: how many of a passage's nearest
  neighbours among the passages stay its neighbours. A passage that keeps
  fewer than half counts as forgotten.

The gated figure (`report.policy.max_forgetting`) is the share of passages forgotten.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.neighbors import NearestNeighbors

from pipeline.errors import InputError

SHIPPED = "general_english.jsonl"
# the outer bins take everything beyond them
LOSS_RISE_EDGES = [-1.0, -0.5, -0.2, -0.1, 0.0, 0.1, 0.2, 0.5, 1.0, 2.0]


def reference_passages(path: Path | None, limit: int) -> tuple[list[str], str]:
    """The first `limit` reference passages and where they came from: the shipped set, or a user's JSONL file with
    a `text` field per line, or a text file with one passage per line."""
    if path is None:
        source = resources.files("pipeline") / "reference_texts" / SHIPPED
        lines = source.read_text(encoding="utf-8").splitlines()
        name = f"pipeline/reference_texts/{SHIPPED} (shipped; provenance in PROVENANCE.md there)"
    else:
        if not path.is_file():
            raise InputError(f"evaluate.reference_texts: {path} is not a file; give a JSONL or .txt file of passages")
        lines = path.read_text(encoding="utf-8").splitlines()
        name = str(path)
    passages = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if path is None or path.suffix in (".jsonl", ".json", ".ndjson"):
            try:
                text = json.loads(line)["text"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise InputError(
                    f"evaluate.reference_texts: {name} line {number} is not a JSON object with a `text` field"
                ) from None
        else:
            text = line
        if isinstance(text, str) and text.strip():
            passages.append(text.strip())
    if not passages:
        raise InputError(f"evaluate.reference_texts: {name} holds no passage")
    return passages[:limit], name


def language_model_forgetting(base: np.ndarray, tuned: np.ndarray, margin: float) -> dict[str, Any]:
    """Mean token loss and perplexity of the base and the tuned model on the passages, and the share whose loss rose
    by more than `margin`."""
    finite = np.isfinite(base) & np.isfinite(tuned)
    base, tuned = base[finite], tuned[finite]
    rise = tuned - base
    base_loss, tuned_loss = float(np.mean(base)), float(np.mean(tuned))
    return {
        "passages": int(finite.sum()),
        "base_loss": round(base_loss, 5),
        "tuned_loss": round(tuned_loss, 5),
        "base_perplexity": round(math.exp(min(base_loss, 50)), 3),
        "tuned_perplexity": round(math.exp(min(tuned_loss, 50)), 3),
        "mean_loss_rise": round(tuned_loss - base_loss, 5),
        "margin": margin,
        "forgotten": int((rise > margin).sum()),
        "score": round(float(np.mean(rise > margin)), 5),
        "criterion": f"loss rose by more than {margin} nats per token",
        "histogram": _histogram(rise, LOSS_RISE_EDGES, "loss rise (tuned minus base, nats per token)"),
    }


def encoder_forgetting(base: np.ndarray, tuned: np.ndarray, neighbours: int) -> dict[str, Any]:
    """Cosine similarity of each passage's embedding before and after, and how many of its `neighbours` nearest
    passages (cosine) stay among them."""
    k = min(neighbours, len(base) - 1)
    if k < 1:
        raise InputError("evaluate.reference_texts: forgetting needs at least 2 passages")
    similarity = np.sum(_unit(base) * _unit(tuned), axis=1)
    agreement = np.array(
        [len(set(b) & set(t)) / k for b, t in zip(_neighbours(base, k), _neighbours(tuned, k), strict=True)]
    )
    return {
        "passages": len(base),
        "mean_cosine_similarity": round(float(np.mean(similarity)), 5),
        "min_cosine_similarity": round(float(np.min(similarity)), 5),
        "linear_cka": round(linear_cka(base, tuned), 5),
        "neighbours": k,
        "mean_neighbour_agreement": round(float(np.mean(agreement)), 5),
        "forgotten": int((agreement < 0.5).sum()),
        "score": round(float(np.mean(agreement < 0.5)), 5),
        "criterion": f"fewer than half of its {k} nearest neighbours among the passages stay its neighbours",
        "histogram": _histogram(agreement, list(np.linspace(0, 1, 11)), "share of nearest neighbours kept"),
    }


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """||Y'X||_F^2 / (||X'X||_F ||Y'Y||_F) on centred features (Kornblith et al. 2019, eq. 5)."""
    x, y = x - x.mean(axis=0), y - y.mean(axis=0)
    cross = np.linalg.norm(y.T @ x) ** 2
    return float(cross / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)


def _neighbours(vectors: np.ndarray, k: int) -> np.ndarray:
    """Each row's k nearest other rows by cosine distance."""
    index = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(vectors)
    found = index.kneighbors(vectors, return_distance=False)
    return np.array([[j for j in row if j != i][:k] for i, row in enumerate(found)])


def _histogram(values: np.ndarray, edges: list[float], what: str) -> dict[str, Any]:
    counts = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)[0]
    return {"of": what, "edges": [round(float(e), 3) for e in edges], "counts": [int(c) for c in counts]}
