"""Forgetting figures from losses and embeddings, and the shipped reference passages."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.errors import InputError
from pipeline.evaluation import forgetting


def test_the_shipped_reference_set_has_hundreds_of_passages_with_provenance():
    passages, source = forgetting.reference_passages(None, limit=10_000)
    assert 300 <= len(passages) <= 400
    assert len(set(passages)) == len(passages)
    assert all(30 <= len(text.split()) <= 130 for text in passages)
    assert "PROVENANCE.md" in source


def test_a_users_reference_file_is_read_and_a_bad_line_is_named(tmp_path):
    plain = tmp_path / "mine.txt"
    plain.write_text("first passage here\n\nsecond passage\n", encoding="utf-8")
    assert forgetting.reference_passages(plain, limit=5)[0] == ["first passage here", "second passage"]
    bad = tmp_path / "mine.jsonl"
    bad.write_text('{"text": "fine"}\n{"body": "no text field"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="line 2"):
        forgetting.reference_passages(bad, limit=5)


def test_the_share_forgotten_counts_passages_whose_loss_rose_past_the_margin():
    base = np.array([2.0, 2.0, 2.0, 2.0])
    tuned = np.array([1.9, 2.05, 2.3, 3.0])
    found = forgetting.language_model_forgetting(base, tuned, margin=0.1)
    assert found["forgotten"] == 2
    assert found["score"] == 0.5
    assert found["mean_loss_rise"] == pytest.approx(0.3125)
    assert sum(found["histogram"]["counts"]) == 4


def test_an_unchanged_encoder_forgets_nothing_and_a_scrambled_one_forgets_most():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(60, 16))
    same = forgetting.encoder_forgetting(base, base.copy(), neighbours=5)
    assert same["mean_cosine_similarity"] == pytest.approx(1.0)
    assert same["mean_neighbour_agreement"] == 1.0 and same["score"] == 0
    rotation, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    turned = forgetting.encoder_forgetting(base, 3 * base @ rotation, neighbours=5)
    assert turned["linear_cka"] == pytest.approx(1.0)  # the geometry kept, only turned and scaled
    assert turned["mean_neighbour_agreement"] == 1.0 and turned["mean_cosine_similarity"] < 0.9
    scrambled = forgetting.encoder_forgetting(base, rng.normal(size=(60, 16)), neighbours=5)
    assert scrambled["score"] > 0.8
    assert scrambled["mean_cosine_similarity"] < 0.5 and scrambled["linear_cka"] < 0.5
