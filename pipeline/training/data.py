"""Training examples as tensors: classification (text -> label id) and causal LM (prompt -> response).

Sequences are padded to one fixed length per run (the longest example, at
most `train.max_length`): Opacus' Poisson sampling can draw an empty batch,
and fixed shapes let it build one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.data import TensorDataset

from pipeline.quality.text import join_text

IGNORE = -100


@dataclass(frozen=True)
class Encoded:
    dataset: TensorDataset  # input_ids, attention_mask, target (label ids, or token labels), weight
    rows: int


def encode_classification(
    frame: pd.DataFrame,
    text_columns: list[str],
    label: str,
    label_ids: dict[str, int],
    tokenizer: Any,
    max_length: int,
) -> Encoded:
    texts = join_text(frame, text_columns)
    length = min(
        max_length,
        max((len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]), default=1),
    )
    encoded = tokenizer(texts, truncation=True, max_length=length, padding="max_length", return_tensors="pt")
    targets = torch.tensor([label_ids[str(value)] for value in frame[label]], dtype=torch.long)
    return Encoded(
        TensorDataset(encoded["input_ids"], encoded["attention_mask"], targets, _weights(frame)), len(frame)
    )


def prompt_and_response(frame: pd.DataFrame, text_columns: list[str]) -> list[tuple[str, str]]:
    """With two or more text columns, the first is the prompt and the rest the response; with one, all of it is response."""
    if len(text_columns) == 1:
        return [("", text) for text in join_text(frame, text_columns)]
    prompts = join_text(frame, text_columns[:1])
    responses = join_text(frame, text_columns[1:])
    return list(zip(prompts, responses, strict=True))


def encode_causal(frame: pd.DataFrame, text_columns: list[str], tokenizer: Any, max_length: int) -> Encoded:
    """Token labels are IGNORE on the prompt and the padding, so the loss covers the response only."""
    rows = []
    for prompt, response in prompt_and_response(frame, text_columns):
        prompt_ids = tokenizer(prompt + "\n", add_special_tokens=False)["input_ids"] if prompt else []
        response_ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids = (prompt_ids + response_ids)[:max_length]
        labels = ([IGNORE] * len(prompt_ids) + response_ids)[:max_length]
        rows.append((ids, labels))
    length = max((len(ids) for ids, _ in rows), default=1)
    input_ids = torch.full((len(rows), length), tokenizer.pad_token_id, dtype=torch.long)
    attention = torch.zeros((len(rows), length), dtype=torch.long)
    labels = torch.full((len(rows), length), IGNORE, dtype=torch.long)
    for index, (ids, target) in enumerate(rows):
        input_ids[index, : len(ids)] = torch.tensor(ids)
        attention[index, : len(ids)] = 1
        labels[index, : len(target)] = torch.tensor(target)
    return Encoded(TensorDataset(input_ids, attention, labels, _weights(frame)), len(frame))


def _weights(frame: pd.DataFrame) -> torch.Tensor:
    values = frame["sample_weight"].fillna(1.0) if "sample_weight" in frame.columns else pd.Series([1.0] * len(frame))
    return torch.tensor(values.to_numpy(dtype="float32"))


class ResponseLoss(nn.Module):
    """Per example: the mean loss over its response tokens; then the batch mean (or per example with `reduction='none'`).

    The `labels=` loss of a causal LM averages over every token of the batch,
    so a long example weighs more than a short one; DP-SGD needs one loss per
    example, which this gives (and Opacus' ghost clipping sets `reduction`).
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        shifted_logits = logits[:, :-1, :]
        shifted_labels = labels[:, 1:]
        token_loss = nn.functional.cross_entropy(
            shifted_logits.transpose(1, 2), shifted_labels, ignore_index=IGNORE, reduction="none"
        )
        counted = (shifted_labels != IGNORE).sum(dim=1).clamp(min=1)
        per_example = token_loss.sum(dim=1) / counted
        return per_example.mean() if self.reduction == "mean" else per_example
