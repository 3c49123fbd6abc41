import pytest
from presidio_analyzer import RecognizerResult

from pipeline.config import RedactConfig
from pipeline.errors import InputError
from pipeline.pii.operators import Redactor, keyed_digest, non_overlapping, outside_masks, pseudonym_key

KEY = b"k" * 32


def span(text: str, part: str, entity: str) -> RecognizerResult:
    start = text.index(part)
    return RecognizerResult(entity, start, start + len(part), 0.9)


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        ("replace", "Call <PERSON> at <PHONE_NUMBER>."),
        ("mask", "Call **** *** at (***) ***-****."),
    ],
)
def test_operators(operator, expected):
    text = "Call Jane Roe at (415) 555-0134."
    redactor = Redactor(RedactConfig(default_operator=operator), KEY)
    assert (
        redactor.redact(text, [span(text, "Jane Roe", "PERSON"), span(text, "(415) 555-0134", "PHONE_NUMBER")])
        == expected
    )


def test_pseudonyms_are_consistent_per_value_and_key():
    redactor = Redactor(RedactConfig(default_operator="pseudonymize"), KEY)
    one = redactor.redact("Jane Roe wrote", [RecognizerResult("PERSON", 0, 8, 0.9)])
    two = redactor.redact("Then jane  roe called", [RecognizerResult("PERSON", 5, 14, 0.9)])
    other = Redactor(RedactConfig(default_operator="pseudonymize"), b"x" * 32).redact(
        "Jane Roe wrote", [RecognizerResult("PERSON", 0, 8, 0.9)]
    )
    tag = one.split()[0]
    assert tag.startswith("<PERSON_") and tag in two and tag not in other
    assert keyed_digest(KEY, "PHONE_NUMBER", "+1 (415) 555-0134") == keyed_digest(KEY, "PHONE_NUMBER", "14155550134")


def test_hash_operator_gives_a_longer_keyed_tag():
    text = "mail a@b.io now"
    out = Redactor(RedactConfig(operators={"EMAIL_ADDRESS": "hash"}), KEY).redact(
        text, [span(text, "a@b.io", "EMAIL_ADDRESS")]
    )
    assert out.startswith("mail <EMAIL_ADDRESS:") and len(out.split()[1]) == len("<EMAIL_ADDRESS:>") + 16


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("<PERSON> said hi", "<PERSON>"),
        ("<PERSON_1a2b3c4d> said hi", "<PERSON_1a2b3c4d>"),
        ("mail <EMAIL_ADDRESS:0123456789abcdef>", "<EMAIL_ADDRESS:0123456789abcdef>"),
        ("card XXXX-XXXX-XXXX-1234", "XXXX-XXXX-XXXX-1234"),
        ("born XX/XX/XXXX", "XX/XX/XXXX"),
        ("paid {$1,100.00}", "{$1,100.00}"),
        ("zip 330XX", "330XX"),
        ("card **** **** **** ****", "**** **** **** ****"),
    ],
)
def test_spans_over_existing_masks_are_dropped(text, masked):
    assert outside_masks(text, [span(text, masked, "ANY")]) == []
    assert outside_masks(text, [span(text, masked[1:4], "ANY")]) == []


def test_spans_next_to_masks_are_kept():
    text = "XXXX called Jane"
    assert len(outside_masks(text, [span(text, "Jane", "PERSON")])) == 1


def test_key_comes_from_the_environment_and_is_required_when_needed(monkeypatch):
    settings = RedactConfig(key_env="TEST_PIPELINE_KEY")
    monkeypatch.delenv("TEST_PIPELINE_KEY", raising=False)
    with pytest.raises(InputError, match=r"set \$TEST_PIPELINE_KEY"):
        pseudonym_key(settings, needed=True)
    assert pseudonym_key(settings, needed=False) == (b"", "none")
    assert pseudonym_key(RedactConfig(key_env="TEST_PIPELINE_KEY", demo_key_if_unset=True), needed=True)[1] == "demo"
    monkeypatch.setenv("TEST_PIPELINE_KEY", "short")
    with pytest.raises(InputError, match="shorter than 16"):
        pseudonym_key(settings, needed=True)
    monkeypatch.setenv("TEST_PIPELINE_KEY", "a-long-random-secret-value")
    assert pseudonym_key(settings, needed=True) == (b"a-long-random-secret-value", "environment")


@pytest.mark.parametrize(
    ("spans", "expected"),
    [
        # (entity, start, end, score, known) -> kept (entity, start, end)
        (
            [("PERSON", 0, 16, 0.85, False), ("PHONE_NUMBER", 13, 28, 1.0, True)],
            [("PERSON", 0, 13), ("PHONE_NUMBER", 13, 28)],
        ),
        ([("EMAIL_ADDRESS", 5, 20, 1.0, False), ("URL", 10, 20, 0.5, False)], [("EMAIL_ADDRESS", 5, 20)]),
        (
            [("DATE_TIME", 0, 10, 0.85, False), ("PERSON", 20, 30, 0.85, False)],
            [("DATE_TIME", 0, 10), ("PERSON", 20, 30)],
        ),
        ([("PERSON", 0, 8, 0.85, False), ("PERSON", 0, 8, 1.0, True)], [("PERSON", 0, 8)]),
        (
            [("LOCATION", 4, 12, 0.85, False), ("PERSON", 0, 20, 0.6, False)],
            [("PERSON", 0, 4), ("LOCATION", 4, 12), ("PERSON", 12, 20)],
        ),
    ],
)
def test_overlapping_spans_leave_no_part_unredacted(spans, expected):
    results = [RecognizerResult(e, s, t, sc, recognition_metadata={"known_value": k}) for e, s, t, sc, k in spans]
    assert [(r.entity_type, r.start, r.end) for r in non_overlapping(results)] == expected
