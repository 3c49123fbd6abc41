"""The whole detector (Presidio + the project's recognizers and settings) on sentences that defeat the defaults."""

import pytest
import spacy

from pipeline.config import CustomIdentifier, RedactConfig
from pipeline.pii.engine import CHUNK_CHARS, PiiDetector, _slim_pipeline


@pytest.fixture(scope="module")
def detector() -> PiiDetector:
    return PiiDetector(
        RedactConfig(custom_identifiers=[CustomIdentifier(entity="EMPLOYEE_ID", pattern=r"\bEMP-\d{6}\b")])
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Direct debit from AT85 4114 4269 4208 0939 failed twice.", [("IBAN_CODE", "AT85 4114 4269 4208 0939")]),
        ("The transfer from BE89455084297076 shows as pending.", [("IBAN_CODE", "BE89455084297076")]),
        ("My SSN is 093-12-0079.", [("US_SSN", "093-12-0079")]),
        ("Card 4081 8365 8492 9414 653 was declined.", [("CREDIT_CARD", "4081 8365 8492 9414 653")]),
        ("Call me on 030 901820 please.", [("PHONE_NUMBER", "030 901820")]),
        ("Server 172.23.100.19 is unreachable.", [("IP_ADDRESS", "172.23.100.19")]),
        ("Agent EMP-742879 took the call.", [("EMPLOYEE_ID", "EMP-742879")]),
        ("Write to ana.silva@example.pt today.", [("EMAIL_ADDRESS", "ana.silva@example.pt")]),
    ],
)
def test_detector_finds_what_presidio_defaults_miss_or_mislabel(detector, text, expected):
    found = [
        (r.entity_type, text[r.start : r.end])
        for r in detector.analyze([text])[0]
        if r.entity_type not in ("URL", "DATE_TIME")
    ]
    assert found == expected


def test_results_of_a_text_longer_than_a_chunk_point_into_that_text(detector):
    filler = "nothing to see here " * (CHUNK_CHARS // 20)
    text = filler + "reach me at jane.roe@example.com " + filler
    emails = [r for r in detector.analyze([text])[0] if r.entity_type == "EMAIL_ADDRESS"]
    assert [text[r.start : r.end] for r in emails] == ["jane.roe@example.com"]


def test_spacy_runs_only_ner_and_finds_the_entities_of_the_whole_model(detector):
    nlp = detector.analyzer.nlp_engine.nlp["en"]
    assert nlp.pipe_names == ["ner", "pipeline_lowercase_lemmas"]
    whole = spacy.load(RedactConfig().spacy_model)
    texts = [
        "Dear Mr. Gomez, our accountant Emma Carter from Leicester needs access since March 3, 2024.",
        "Verified caller Maurice Gimenez moved to Aberdeen; ask Megan Diaz at Initech on Monday.",
    ]

    def entities(docs):
        return [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in docs]

    assert entities(nlp.pipe(texts)) == entities(whole.pipe(texts))
    assert entities(nlp.pipe(texts))[0]  # the texts do hold entities


def test_a_component_the_ner_listens_to_stays_on():
    nlp = spacy.blank("en")
    nlp.add_pipe("tok2vec")
    listener = {"@architectures": "spacy.Tok2VecListener.v1", "width": 96}
    nlp.add_pipe(
        "ner",
        config={
            "model": {"@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner", "tok2vec": listener}
        },
    )
    nlp.add_pipe("sentencizer")
    _slim_pipeline(nlp)
    assert nlp.pipe_names == ["tok2vec", "ner", "pipeline_lowercase_lemmas"]


def test_keep_terms_are_never_redacted_and_organisations_are():
    text = "Acme Cloud stopped syncing after I moved to Initech. Seen at Methodist Hospital by Dr. Okafor."
    default = PiiDetector(RedactConfig())
    keeping = PiiDetector(RedactConfig(keep_terms=["acme cloud", "Methodist  Hospital"]))
    found = {text[r.start : r.end] for r in default.analyze([text])[0]}
    kept = {text[r.start : r.end] for r in keeping.analyze([text])[0]}
    assert {"Methodist Hospital", "Okafor"} <= found
    assert "Methodist Hospital" not in kept and "Acme Cloud" not in kept and "Okafor" in kept
