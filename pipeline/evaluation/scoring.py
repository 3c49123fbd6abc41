"""The trained model on texts: per-example predictions and losses, and generations.

Tensors come from the train stage's own encoders, so evaluation sees exactly
the truncation and the response-only loss that training saw.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from pipeline.training.data import ResponseLoss, collate, encode_causal, encode_classification
from pipeline.training.device import moved

# tokens per forward pass when scoring a causal LM: its logits hold a vocabulary's floats per token (49,152 for
# SmolLM2, 128,256 for Llama 3), so 4,096 tokens are 0.8 to 2 GB of logits, whatever evaluate.batch_size is
LOGIT_TOKENS = 4096


@torch.no_grad()
def classify(
    model: Any,
    tokenizer: Any,
    frame: pd.DataFrame,
    text_columns: list[str],
    label: str,
    label_ids: dict[str, int],
    max_length: int,
    batch_size: int,
    desc: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted label ids and the cross-entropy loss of each row's true label (rows whose label the model does not know: NaN loss)."""
    known = frame[label].astype(str).isin(label_ids)
    targets = frame[label].astype(str).where(known, next(iter(label_ids)))
    encoded = encode_classification(
        frame.assign(**{label: targets}), text_columns, label, label_ids, tokenizer, max_length
    )
    predictions, losses = [], []
    for input_ids, attention, target, _ in _batches(encoded.dataset, batch_size, desc, _device(model)):
        logits = model(input_ids=input_ids, attention_mask=attention).logits.float()
        predictions.append(logits.argmax(-1).cpu().numpy())
        losses.append(torch.nn.functional.cross_entropy(logits, target, reduction="none").cpu().numpy())
    predicted = np.concatenate(predictions) if predictions else np.array([], dtype=int)
    loss = np.concatenate(losses) if losses else np.array([], dtype=float)
    return predicted, np.where(known.to_numpy(), loss, np.nan)


@torch.no_grad()
def response_losses(
    model: Any,
    tokenizer: Any,
    frame: pd.DataFrame,
    text_columns: list[str],
    max_length: int,
    batch_size: int,
    desc: str,
    *,
    chat: bool = True,
    system_prompt: str | None = None,
) -> np.ndarray:
    """Each row's mean loss over its response tokens (what the causal-LM training minimised); `chat`,
    `system_prompt`: as for `encode_causal` (plain text: `chat=False`)."""
    encoded = encode_causal(frame, text_columns, tokenizer, max_length, chat=chat, system_prompt=system_prompt)
    criterion = ResponseLoss(reduction="none")
    losses = []
    for input_ids, attention, target, _ in _batches(encoded.dataset, batch_size, desc, _device(model)):
        rows = max(1, LOGIT_TOKENS // input_ids.shape[1])  # a forward's logits are rows x length x vocabulary
        for start in range(0, len(input_ids), rows):
            part = slice(start, start + rows)
            logits = model(input_ids=input_ids[part], attention_mask=attention[part]).logits
            losses.append(criterion(logits, target[part]).cpu().numpy())
    return np.concatenate(losses) if losses else np.array([], dtype=float)


@torch.no_grad()
def embed(
    model: Any,
    tokenizer: Any,
    frame: pd.DataFrame,
    text_columns: list[str],
    max_length: int,
    batch_size: int,
    desc: str,
) -> np.ndarray:
    """Each row's last hidden state, mean-pooled over its tokens (for a classifier: what its head would read)."""
    dummy = "__label__"
    encoded = encode_classification(frame.assign(**{dummy: "x"}), text_columns, dummy, {"x": 0}, tokenizer, max_length)
    pooled = []
    for input_ids, attention, _, _ in _batches(encoded.dataset, batch_size, desc, _device(model)):
        hidden = model(input_ids=input_ids, attention_mask=attention, output_hidden_states=True).hidden_states[-1]
        mask = attention.unsqueeze(-1).to(hidden.dtype)
        pooled.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).float().cpu().numpy())
    return np.concatenate(pooled) if pooled else np.zeros((0, 0))


@torch.no_grad()
def generate(model: Any, tokenizer: Any, prompts: list[str], new_tokens: int, batch_size: int) -> list[str]:
    """Greedy continuations of each prompt (the new text only), `batch_size` prompts at a time, padded on the left."""
    outputs: list[str] = []
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # a decoder continues from the last position, so padding goes before the prompt
    try:
        batches = [prompts[i : i + batch_size] for i in range(0, len(prompts), batch_size)]
        for batch in tqdm(batches, desc="generate", unit=" batches", disable=None, leave=False):
            encoded = tokenizer(batch, return_tensors="pt", padding=True).to(_device(model))
            generated = model.generate(
                **encoded, max_new_tokens=new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
            new = generated[:, encoded["input_ids"].shape[1] :]
            outputs.extend(tokenizer.batch_decode(new, skip_special_tokens=True))
    finally:
        tokenizer.padding_side = side
    return outputs


def _batches(dataset: Any, batch_size: int, desc: str, device: torch.device) -> Any:
    """The dataset in order, `batch_size` rows at a time trimmed to their longest (`data.collate`), on `device`,
    with a progress bar on a terminal."""
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collate)
    batches = tqdm(loader, desc=desc, unit=" batches", disable=None, leave=False)
    return (moved(batch, device) for batch in batches)


def _device(model: Any) -> torch.device:
    return next(model.parameters()).device
