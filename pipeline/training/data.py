"""Training examples as tensors: classification (text -> label id) and causal LM (a chat, or prompt -> response).

A causal-LM example is a chat rendered with the tokenizer's own chat template
(`apply_chat_template`), the loss on the assistant turns only: the messages
column's conversation, or the prompt and response columns as one user turn and
one assistant reply. A tokenizer without a template gets `prompt\nresponse`.

The dataset holds each example padded to the longest of the run (at most
`train.max_length`), so Opacus' Poisson sampling can build an empty batch of
that shape; `collate` then trims every batch to its own longest example
(dynamic padding), so a batch of short chats costs what short chats cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.data import TensorDataset
from torch.utils.data.dataloader import default_collate

from pipeline.errors import InputError
from pipeline.quality.chat import is_messages, parse_messages
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


def conversations(frame: pd.DataFrame, text_columns: list[str], system_prompt: str | None = None) -> list[list[dict]]:
    """Each row as a chat: its messages column's conversation, else its prompt as a user turn and its response as
    the assistant's reply; `system_prompt` goes first where a chat has no system message."""
    messages_columns = [c for c in text_columns if frame[c].map(is_messages).any()]
    plain = [c for c in text_columns if c not in messages_columns]
    pairs = prompt_and_response(frame, plain) if plain and not messages_columns else None
    chats = []
    for position in range(len(frame)):
        if messages_columns:
            value = next((v for v in frame[messages_columns].iloc[position] if is_messages(v)), None)
            chat = parse_messages(value) if value is not None else []
        else:
            prompt, response = pairs[position]
            chat = ([{"role": "user", "content": prompt}] if prompt else []) + [
                {"role": "assistant", "content": response}
            ]
        if system_prompt and (not chat or chat[0]["role"] != "system"):
            chat = [{"role": "system", "content": system_prompt}, *chat]
        chats.append(chat)
    return chats


def chat_example(chat: list[dict], tokenizer: Any) -> tuple[list[int], list[int]]:
    """(token ids, token labels) of one chat in the tokenizer's template: labels on every assistant turn (its
    content and the template's end-of-turn), IGNORE elsewhere. Each assistant turn is located as the text the
    template adds between the chat before it (with the assistant header) and the chat through it; a reply that
    opens the chat (one text column: all response), from where its content starts."""
    text = tokenizer.apply_chat_template(chat, tokenize=False)
    spans = []
    for index, message in enumerate(chat):
        if message["role"] != "assistant":
            continue
        through = tokenizer.apply_chat_template(chat[: index + 1], tokenize=False)
        if index:
            before = tokenizer.apply_chat_template(chat[:index], tokenize=False, add_generation_prompt=True)
        else:  # a chat that opens with the reply: nothing to render before it, so find where its content starts
            content = message["content"].strip()
            before = through[: through.rindex(content)] if content and content in through else through
        if not (text.startswith(before) and text.startswith(through) and len(before) <= len(through)):
            raise InputError(
                "the tokenizer's chat template does not render a chat as the prefix of a longer one, so the assistant "
                "turns cannot be located for the loss; use a model whose template does (Llama, Qwen2, Mistral, ChatML)"
            )
        spans.append((len(before), len(through)))
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = encoded["input_ids"]
    labels = [
        token if any(start <= offset[0] < end for start, end in spans) else IGNORE
        for token, offset in zip(ids, encoded["offset_mapping"], strict=True)
    ]
    return ids, labels


def encode_causal(
    frame: pd.DataFrame,
    text_columns: list[str],
    tokenizer: Any,
    max_length: int,
    *,
    chat: bool = True,
    system_prompt: str | None = None,
) -> Encoded:
    """Token labels are IGNORE outside the assistant turns (or the response) and on the padding, so the loss covers
    what the model should learn to say. `chat: False` (or a tokenizer without a chat template) encodes
    `prompt\nresponse` as plain text, as for general-English passages."""
    templated = chat and bool(getattr(tokenizer, "chat_template", None))
    if not templated and any(frame[c].map(is_messages).any() for c in text_columns):
        raise InputError(
            "a messages column needs a tokenizer with a chat template, and this base model's has none; use an "
            "instruction-tuned model (its tokenizer_config.json holds chat_template)"
        )
    rows = []
    if templated:
        rows = [chat_example(one, tokenizer) for one in conversations(frame, text_columns, system_prompt)]
    else:
        for prompt, response in prompt_and_response(frame, text_columns):
            prompt_ids = tokenizer(prompt + "\n", add_special_tokens=False)["input_ids"] if prompt else []
            response_ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            rows.append((prompt_ids + response_ids, [IGNORE] * len(prompt_ids) + response_ids))
    rows = [(ids[:max_length], labels[:max_length]) for ids, labels in rows]
    length = max((len(ids) for ids, _ in rows), default=1)
    input_ids = torch.full((len(rows), length), tokenizer.pad_token_id, dtype=torch.long)
    attention = torch.zeros((len(rows), length), dtype=torch.long)
    labels = torch.full((len(rows), length), IGNORE, dtype=torch.long)
    for index, (ids, target) in enumerate(rows):
        input_ids[index, : len(ids)] = torch.tensor(ids)
        attention[index, : len(ids)] = 1
        labels[index, : len(target)] = torch.tensor(target)
    return Encoded(TensorDataset(input_ids, attention, labels, _weights(frame)), len(frame))


def collate(examples: Sequence[Sequence[torch.Tensor]]) -> list[torch.Tensor]:
    """`default_collate`, then the padding no example of the batch uses cut off: dynamic padding."""
    return trim_padding(default_collate(examples))


def trim_padding(batch: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """(input_ids, attention, target, weight) cut to the columns some example of the batch attends to; padding on
    the right (as here) or on the left (some tokenizers) alike."""
    input_ids, attention, target, weight = batch
    used = attention.any(dim=0).nonzero().flatten()
    if len(used) == 0:
        return list(batch)
    keep = slice(int(used[0]), int(used[-1]) + 1)
    return [input_ids[:, keep], attention[:, keep], target[:, keep] if target.dim() == 2 else target, weight]


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
        shifted_logits = logits[:, :-1, :].float()  # a bf16 base's logits: the loss in fp32
        shifted_labels = labels[:, 1:]
        token_loss = nn.functional.cross_entropy(
            shifted_logits.transpose(1, 2), shifted_labels, ignore_index=IGNORE, reduction="none"
        )
        counted = (shifted_labels != IGNORE).sum(dim=1).clamp(min=1)
        per_example = token_loss.sum(dim=1) / counted
        return per_example.mean() if self.reduction == "mean" else per_example
