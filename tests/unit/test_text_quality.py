"""Text-quality scores: table-driven, on small real texts."""

import pytest

from pipeline.quality.text import (
    alpha_share,
    detect_language,
    repeated_line_share,
    repeated_ngram_share,
    score,
    tag_share,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("abc", 1.0),
        ("a1 b2", 0.5),
        ("12345", 0.0),
        ("   ", 0.0),
        ("", 0.0),
    ],
)
def test_alpha_share(text, expected):
    assert alpha_share(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("one\ntwo\nthree", 0.0),
        ("spam\nspam\nspam\nspam", 0.75),
        ("hello\n\n\nhello", 0.5),
        ("", 0.0),
    ],
)
def test_repeated_line_share(text, expected):
    assert repeated_line_share(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("the cat sat on the mat", 0.0),
        ("buy now buy now buy now buy now", 1.0),
        ("two words", 0.0),
    ],
)
def test_repeated_ngram_share(text, expected):
    assert repeated_ngram_share(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<PERSON> <PERSON> <EMAIL_ADDRESS>", 1.0),
        ("Hi <PERSON>, thanks", 1 / 3),
        ("no tags here", 0.0),
        ("<PERSON_1f2e3d4c> wrote", 0.5),
    ],
)
def test_tag_share(text, expected):
    assert tag_share(text) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(
    "text, language",
    [
        ("My card was charged twice for the same order, please refund me.", "en"),
        ("Ma carte a été débitée deux fois pour la même commande, remboursez-moi.", "fr"),
        ("Meine Karte wurde für dieselbe Bestellung zweimal belastet, bitte erstatten.", "de"),
        ("Mi tarjeta fue cargada dos veces por el mismo pedido, por favor reembolsen.", "es"),
    ],
)
def test_language(text, language):
    detected, probability = detect_language(text)
    assert detected == language and probability > 0.9


def test_text_without_letters_has_no_language():
    assert detect_language("12345 678") == ("und", 0.0)


def test_tags_are_not_language_evidence_or_letters():
    scores = score("<PERSON> <EMAIL_ADDRESS> <PHONE_NUMBER>")
    assert scores.language == "und" and scores.alpha_share == 0.0 and scores.tag_share == 1.0
    assert scores.chars == len("<PERSON> <EMAIL_ADDRESS> <PHONE_NUMBER>")
