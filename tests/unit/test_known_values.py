import pytest

from pipeline.pii.known_values import KnownValueMatcher, variants


@pytest.mark.parametrize(
    ("value", "entity", "expected"),
    [
        ("Rolf-Peter Fritsch", "PERSON", {"Rolf-Peter Fritsch", "Rolf-Peter", "Fritsch"}),
        ("Dr. Ann  de la Cruz", "PERSON", {"Dr. Ann de la Cruz", "Ann", "Cruz"}),
        ("Al Li", "PERSON", {"Al Li"}),
        ("ashley.sanchez77@gmail.com", "EMAIL_ADDRESS", {"ashley.sanchez77@gmail.com", "ashley.sanchez77"}),
        ("bob@x.io", "EMAIL_ADDRESS", {"bob@x.io"}),
        ("(654) 555-0196", "PHONE_NUMBER", {"(654) 555-0196"}),
    ],
)
def test_variants(value, entity, expected):
    assert variants(value, entity, min_length=3) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Hi, this is Ashley SANCHEZ, reach me at ashley.sanchez77@gmail.com",
            ["Ashley SANCHEZ", "ashley.sanchez77@gmail.com"],
        ),
        ("Thanks, ashley", ["ashley"]),
        ("Ashleys and Sanchezville are not names here", []),
        ("call (654) 555-0196 today", ["(654) 555-0196"]),
        ("", []),
    ],
)
def test_matcher_finds_values_ignoring_case_on_word_boundaries(text, expected):
    matcher = KnownValueMatcher(
        [
            ("Ashley Sanchez", "PERSON"),
            ("ashley.sanchez77@gmail.com", "EMAIL_ADDRESS"),
            ("(654) 555-0196", "PHONE_NUMBER"),
        ],
        min_length=3,
    )
    found = matcher.find(text)
    outermost = [s for s in found if not any(o.start <= s.start and s.end <= o.end and o != s for o in found)]
    assert [text[s.start : s.end] for s in sorted(outermost, key=lambda s: s.start)] == expected


def test_matcher_keeps_offsets_when_lower_case_changes_length():
    matcher = KnownValueMatcher([("Jane Doe", "PERSON")], min_length=3)
    text = "İstanbul office: Jane Doe"
    assert sorted(text[s.start : s.end] for s in matcher.find(text)) == ["Doe", "Jane", "Jane Doe"]


def test_empty_matcher_finds_nothing():
    assert KnownValueMatcher([], min_length=3).find("anything") == []
