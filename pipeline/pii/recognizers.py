"""Presidio recognizers that replace or extend the stock ones for enterprise text.

Presidio finds PII with *recognizers*: each one proposes `RecognizerResult`s
(entity, start, end, score) and the `AnalyzerEngine` raises the score of those
with one of the recognizer's context words shortly before them. Three stock
recognizers fall short on the text this pipeline redacts, so this module
replaces them:

- `EmailRecognizer` checks the domain with `tldextract.extract`, which downloads
  the public suffix list on first use; `OfflineEmailRecognizer` never does.
- `CreditCardRecognizer` only matches 13 to 17 digits; `CardNumberRecognizer`
  matches 12 to 19 (every length card networks issue).
- `PhoneRecognizer` scores every number 0.4, under the usual 0.5 threshold unless a
  context word is near, and misses numbers written `+44 7700 900123`;
  `RegionPhoneRecognizer` fixes both.
- `UsSsnRecognizer` scores a bare 9-digit SSN 0.05, so any threshold that keeps
  precision drops `Please mask 458252516` unless a context word is near;
  `SsnRecognizer` scores it 0.4.
- `IbanRecognizer` misses lower-case IBANs; `AnyCaseIbanRecognizer`
  (pipeline.pii.identifiers) does not.

It adds street addresses, the address written after `address:` or `lives at`
in any country's format (`AddressBlockRecognizer`), facilities
(`FacilityRecognizer`: `Methodist Hospital`, `University of Michigan`) and
written dates; ids, cue-led numbers and names come from
`pipeline.pii.identifiers` and `pipeline.pii.names`.

Use them by removing the stock ones, by name, and adding `build_recognizers(...)`:

    for name in (*REPLACED_RECOGNIZERS, *NOISY_RECOGNIZERS):
        registry.remove_recognizer(name)
    for recognizer in build_recognizers(phone_regions=..., custom_identifiers=..., lexicon=load_lexicon(model)):
        registry.add_recognizer(recognizer)

and pass what the analyzer returns through the `drop_*` and `split_at_line_breaks` filters
(`pipeline.pii.engine.PiiDetector` does).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import phonenumbers
import tldextract
from phonenumbers import Leniency, PhoneNumberMatch
from presidio_analyzer import AnalysisExplanation, EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    PhoneRecognizer,
    UsSsnRecognizer,
)

from pipeline.config import DEFAULT_PHONE_REGIONS, CustomIdentifier
from pipeline.pii.identifiers import (
    AnyCaseIbanRecognizer,
    ContextNumberRecognizer,
    IdNumberRecognizer,
    UsernameRecognizer,
)
from pipeline.pii.names import NameLexicon, name_recognizers
from pipeline.pii.rules import RuleRecognizer

REPLACED_RECOGNIZERS: tuple[str, ...] = (
    "EmailRecognizer",
    "CreditCardRecognizer",
    "PhoneRecognizer",
    "IbanRecognizer",
    "UsSsnRecognizer",
)
"""Stock recognizers that `build_recognizers` replaces: remove them from the registry first."""

NOISY_RECOGNIZERS: tuple[str, ...] = ("UsLicenseRecognizer", "UsBankRecognizer")
"""Stock recognizers to remove by default: on the sample tickets they fire on ordinary numbers.

`UsLicenseRecognizer` (US_DRIVER_LICENSE) takes any 6 to 14 digits, or a
letter followed by digits: the digits of employee ids (`EMP-004521`), order
and account ids, phone and card numbers, extensions (`x178`); 4,682 matches
in the 4,332 ticket descriptions, not one a licence. `UsBankRecognizer`
(US_BANK_NUMBER) takes any 8 to 17 digits: card numbers, the last group of
`+49 151 37880466`, the digits of `ACC-99157089` (an id a custom identifier
should cover whole); 1,368 matches, 998 of them lifted to 0.4, the leak check's
threshold, by the context word "account". Neither entity is among the defaults.
"""

NER_ENTITIES = frozenset({"PERSON", "LOCATION", "ORGANIZATION", "NRP", "DATE_TIME"})
"""Entities the spaCy model names; every other entity is an identifier found by pattern."""

_OFFLINE_TLD_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's EmailRecognizer, with the domain checked against a suffix list bundled offline.

    The stock recognizer keeps a regex match only when `tldextract` finds a
    public suffix (`.com`, `.co.uk`) in it. `tldextract.extract` fetches the
    current public suffix list over HTTP on first use; an extractor with no
    `suffix_list_urls` and no cache falls back to the snapshot shipped inside
    the tldextract package, so the check never leaves the machine.
    """

    def validate_result(self, pattern_text: str) -> bool:
        """True when the text after the `@` ends in a known public suffix."""
        return _OFFLINE_TLD_EXTRACT(pattern_text).fqdn != ""


# A card starts with 1 (UATP, old JCB) to 6 and is not glued to a word or a dash. Space-grouped numbers must
# not continue a longer space-grouped run (an IBAN's or a phone number's groups); dash-grouped and unbroken
# numbers may sit next to other numbers ("4012888888881881 4012-8888-8888-1881").
_CARD_FIRST = r"(?=[1-6])"
_NOT_GLUED_BEFORE = r"(?<![\w-])"
_NOT_GLUED_AFTER = r"(?![\w-])"


def _grouped(groups: str, separator: str) -> str:
    body = separator.join(rf"\d{{{size}}}" for size in groups.split("-"))
    if separator == " ":
        # not the middle of a longer space-grouped number, but may follow a dash-grouped one
        return _NOT_GLUED_BEFORE + r"(?:(?<=-\d{4} )|(?<!\d ))" + _CARD_FIRST + body + _NOT_GLUED_AFTER + r"(?! \d)"
    return _NOT_GLUED_BEFORE + _CARD_FIRST + body + _NOT_GLUED_AFTER


_CARD_GROUPINGS = ("4-4-4-4-3", "4-4-4-4", "4-6-5", "4-6-4", "4-4-5", "4-4-4", "4-3-3-3")


class CardNumberRecognizer(CreditCardRecognizer):
    """CREDIT_CARD for 12 to 19 digits in the groupings cards are printed in, Luhn-checked.

    The patterns cover 4-4-4 (12 digits), 4-4-5 (13), 4-6-4 (14, Diners),
    4-6-5 (15, Amex), 4-3-3-3 (13, old Visa), 4-4-4-4 (16), 4-4-4-4-3 (19), each separated by spaces or
    by dashes (one kind per number), and unbroken runs of 12 to 19 digits. The
    first digit must be 1 to 6, the range of the major networks (UATP, Mastercard,
    Amex, Diners, JCB, Visa, Discover, Maestro, UnionPay).

    A number glued to letters, digits or a dash (`ACC-412345678901`), or one
    that continues into another group of digits (an IBAN's tail, a longer
    run), is not a card. The Luhn check of `CreditCardRecognizer` (inherited)
    then keeps a match at score 1.0 or drops it.
    """

    PATTERNS = [
        *(
            Pattern(f"Card {groups} ({name})", _grouped(groups, sep), 0.5)
            for groups in _CARD_GROUPINGS
            for sep, name in ((" ", "spaces"), ("-", "dashes"))
        ),
        Pattern("Card digits only", _NOT_GLUED_BEFORE + _CARD_FIRST + r"\d{12,19}" + _NOT_GLUED_AFTER, 0.5),
    ]

    CONTEXT = ["card", "credit", "debit", "visa", "mastercard", "amex", "discover", "jcb", "diners", "maestro", "cc"]


# Numbers of other kinds that phonenumbers accepts as phones: US SSNs (123-45-6789) and IPv4 addresses.
_SSN_OR_IP = re.compile(r"\d{3}([- ])\d{2}\1\d{4}|\d{1,3}(?:\.\d{1,3}){3}")
_DATE_LIKE = re.compile(r"(?:\d{4}([./-])\d{1,2}\1\d{1,2}|\d{1,2}([./-])\d{1,2}\2(?:\d{4}|\d{2}))(?![./-]?\d)")
_GLUED_BEFORE = re.compile(r"(?:[^\W_]-?|#|\d[ -])\Z")
# glued after: a letter or digit, with or without a dash, unless the dash starts a label (`07700 063 966-Fax`)
_GLUED_AFTER = re.compile(r"-(?!(?:fax|tel|phone|mobile|cell|office|home|work)\b)[^\W_]|[^\W_]|[ -]\d", re.IGNORECASE)
_MIN_NATIONAL_DIGITS = 7


class RegionPhoneRecognizer(PhoneRecognizer):
    """PHONE_NUMBER found by `phonenumbers`, in international or national format, with extensions.

    Like Presidio's PhoneRecognizer, it runs `phonenumbers.PhoneNumberMatcher`
    once per region, so `020 7946 0958` is read as a London number with region
    GB and `030 901820` as a Berlin one with region DE. It differs in these ways:

    - Score 0.75 for a number valid in its region, enough for a 0.5 threshold
      without a context word (the stock 0.4 needs one); context words lift it.
      ("call" is a spaCy stop word, which Presidio never reads as context.)
    - Numbers written with a `+country code` are kept when merely *possible*
      (right length) rather than valid: the validity tables reject reserved
      ranges (`+44 7700 900123`) and lag new ones, and an explicit country code
      is strong evidence on its own. They score 0.6.
    - Extensions (`x204`, `ext. 12`, `extension 5`) are part of the match,
      as the matcher returns them.
    - A number written without its country code needs 7 digits or more
      (trunk 0 aside): Germany and Italy have valid numbers of 4 to 6 digits,
      so postcodes, PINs and amounts (`16422`, `372831`, `1646,21 €`) would
      all pass as phones.
    - Matches found by several regions, or overlapping, collapse to the widest;
      matches that read as dates (`03-04-2025`, `03.04.2025`) or continue an id
      or a run of digits (`ORD-3462987`, `#1682866`, an IBAN's groups) are dropped.
    - Card numbers are left to `CardNumberRecognizer`: `4950-4495-6062-2731`
      is also a valid German number (49 is Germany's country code), so a match
      that overlaps a Luhn-valid card is dropped.
    """

    SCORE = 0.75
    POSSIBLE_SCORE = 0.6
    CONTEXT = ["phone", "telephone", "tel", "call", "mobile", "cell", "reach", "contact", "fax", "whatsapp"]

    def __init__(
        self,
        supported_regions: Sequence[str] = DEFAULT_PHONE_REGIONS,
        context: list[str] | None = None,
        supported_language: str = "en",
        supported_entity: str = "PHONE_NUMBER",
        leniency: int = Leniency.VALID,
        name: str | None = None,
    ):
        super().__init__(
            context=context,
            supported_language=supported_language,
            supported_entity=supported_entity,
            supported_regions=tuple(supported_regions),
            leniency=leniency,
            name=name,
        )
        self.cards = CardNumberRecognizer(supported_language=supported_language)

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Every phone number in `text`, one result per span.

        First the numbers valid in one of the regions, then, with no default
        region, the possible ones: the matcher can then parse only numbers that
        carry their `+country code`, so nothing else comes back from that pass.
        """
        windows = _candidate_windows(text)
        if not windows:
            return []
        # A `+country code` number reads the same whatever the default region, so one pass does for those.
        international = [(offset, window) for offset, window, plus in windows if plus]
        national = [(offset, window) for offset, window, plus in windows if not plus]
        valid = [
            self._result(match, self.SCORE, "valid")
            for region in self.supported_regions
            for match in _phone_matches(text, national, region, self.leniency)
        ]
        valid += [
            self._result(match, self.SCORE, "valid")
            for match in _phone_matches(text, international, None, self.leniency)
        ]
        possible = [
            self._result(match, self.POSSIBLE_SCORE, "possible")
            for match in _phone_matches(text, international, None, Leniency.POSSIBLE)
        ]
        cards = self.cards.analyze(text, self.cards.supported_entities)
        return _keep_widest([phone for phone in valid + possible if not any(phone.intersects(card) for card in cards)])

    def _result(self, match: PhoneNumberMatch, score: float, how: str) -> RecognizerResult:
        region = phonenumbers.region_code_for_number(match.number)
        return RecognizerResult(
            entity_type=self.supported_entities[0],
            start=match.start,
            end=match.end,
            score=score,
            analysis_explanation=AnalysisExplanation(
                recognizer=self.name,
                original_score=score,
                textual_explanation=f"{how} {region} phone number, found by phonenumbers",
            ),
            recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
            },
        )


# Stretches that could hold a phone number: 6+ characters of digits and phone punctuation, with an
# optional extension. The matcher runs on these (plus one character each side) instead of the whole
# text once per region, which made phone matching the slowest part of analysis.
_PHONE_CANDIDATE = re.compile(
    r"\+?\(?\d[\d \t().\-/]{4,}\d(?:[ \t]*(?:x|ext\.?|extension)[ \t]*\d{1,6})?", re.IGNORECASE
)


def _candidate_windows(text: str) -> list[tuple[int, str, bool]]:
    """(offset, slice, starts with +) for each stretch of `text` that could hold a phone number:
    one with a `+country code`, or with enough digits for a national number, and not wholly a
    date, an SSN, an IP address or a card number, not a date and time, and not a digit run glued to
    an id (`ACC-56851652`): every match in those would be dropped after matching anyway, and
    skipping them halves the time the national pass takes on ticket text."""
    windows = []
    for candidate in _PHONE_CANDIDATE.finditer(text):
        core = candidate.group()
        plus = core.startswith("+")
        if not plus and not _may_hold_national_number(text, candidate):
            continue
        start, end = max(0, candidate.start() - 1), min(len(text), candidate.end() + 1)
        windows.append((start, text[start:end], plus))
    return windows


def _may_hold_national_number(text: str, candidate: re.Match[str]) -> bool:
    core = candidate.group()
    digits = sum(ch.isdigit() for ch in core)
    if digits < _MIN_NATIONAL_DIGITS or _is_other_number(core, digits):
        return False
    if core.isdigit() and _glued(text, candidate.start(), candidate.end()):
        return False  # any number inside a glued digit run is glued too
    date = _DATE_LIKE.match(
        core
    )  # a match starting with it is dropped (`_stands_alone`); the rest must be long enough
    return not date or sum(ch.isdigit() for ch in core[date.end() :]) >= _MIN_NATIONAL_DIGITS


def _glued(text: str, start: int, end: int) -> bool:
    """True when text[start:end] continues a word, an id or a digit group on either side."""
    return bool(_GLUED_BEFORE.search(text[max(0, start - 2) : start]) or _GLUED_AFTER.match(text, end))


_CARD_SHAPED = re.compile(r"\d{12,19}|\d{4}(?:[ -]\d{3,6}){2,4}")


def _is_other_number(core: str, digits: int) -> bool:
    if _DATE_LIKE.fullmatch(core) or _SSN_OR_IP.fullmatch(core) or _is_bare_ssn(core):
        return True
    return 12 <= digits <= 19 and _CARD_SHAPED.fullmatch(core) is not None and luhn_valid(core)


_SSN_CHECKS = UsSsnRecognizer()


def _is_bare_ssn(core: str) -> bool:
    """9 digits that `SsnRecognizer` takes (Presidio's SSN checks pass), so the phone recognizer does not;
    9xx numbers stay phones: the SSA issues no such area, and Spanish landlines start with 9."""
    return len(core) == 9 and core.isdigit() and core[0] != "9" and not _SSN_CHECKS.invalidate_result(core)


def _phone_matches(
    text: str, windows: list[tuple[int, str]], region: str | None, leniency: int
) -> list[PhoneNumberMatch]:
    """The matcher's numbers in the candidate windows of `text` that are long enough and stand alone."""
    matches = []
    for offset, window in windows:
        for found in phonenumbers.PhoneNumberMatcher(window, region, leniency=leniency):
            match = PhoneNumberMatch(found.start + offset, found.raw_string, found.number)
            if _long_enough(match) and _stands_alone(text, match):
                matches.append(match)
    return matches


def _long_enough(match: PhoneNumberMatch) -> bool:
    """True for a number with its `+country code`, or with 7 or more digits after the trunk 0."""
    national_digits = len(phonenumbers.national_significant_number(match.number))
    return match.raw_string.startswith("+") or national_digits >= _MIN_NATIONAL_DIGITS


def _stands_alone(text: str, match: PhoneNumberMatch) -> bool:
    """False for a match that reads as a date, an SSN or an IP address, or is part of a longer token.

    `PhoneNumberMatcher` itself skips slash dates (`03/04/2025`) and, from
    leniency VALID up, numbers glued to letters; dashed and dotted dates,
    ids (`ORD-3462987`) and digit groups of a longer number get through.
    """
    return not (
        _DATE_LIKE.match(match.raw_string)
        or _SSN_OR_IP.fullmatch(match.raw_string)
        or _glued(text, match.start, match.end)
    )


def _keep_widest(results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Of results that overlap, keep only the widest (the higher score on a tie), in text order."""
    kept: list[RecognizerResult] = []
    for result in sorted(results, key=lambda r: (r.start - r.end, -r.score, r.start)):
        if not any(result.intersects(other) for other in kept):
            kept.append(result)
    return sorted(kept, key=lambda r: r.start)


_STREET_TYPES = (
    "street st avenue ave road rd lane ln drive dr court ct boulevard blvd way place pl square sq terrace parkway pkwy "
    "circle cir highway hwy walk walks harbor harbors harbour crossing trail ridge heights gardens park close crescent grove "
    "mews row hill alley plaza loop path pike port ports mill mills view views village villages estate estates falls field "
    "fields fork forks glen glens green greens island islands lake lakes meadow meadows spring springs stream summit valley "
    "valleys well wells squares knoll knolls landing manor pass point shore shores station vista extension junction "
    "cove coves creek course courts expressway freeway motorway burg burgs camp canyon cape causeway center centers club "
    "common commons corner corners creek dale dam divide flat flats ford fords forest forge forges gateway haven hollow "
    "inlet isle keys lodge mall mount mountain orchard oval overpass radial ramp ranch rapids rest route shoal shoals skyway "
    "spur stravenue streets throughway trace track trafficway turnpike underpass unions via viaduct ville wall"
).split()
_STREET = (
    r"(?<![\w-])\d{1,6}[A-Za-z]?,?[ \t]+(?:[A-Z][a-zà-ÿ'’]+[ \t]+){1,3}(?i:"
    + "|".join(_STREET_TYPES)
    + r")\.?(?![\w])"
    r"(?:,?[ \t]+(?i:suite|apt\.?|unit|flat|#)[ \t]*\w+)?"
)
_ADDRESS_PATTERNS = [
    Pattern("Street address, number first", _STREET, 0.6),
    Pattern(
        "French street",
        r"(?<![\w-])\d{1,4}(?:bis|ter)?,?[ \t]+(?i:rue|avenue|av\.|boulevard|bd|chemin|place|allée|impasse|quai|route|cours)[ \t]+(?:(?:de|du|des|la|le|l’|l')[ \t]*)?[A-ZÀ-Ý][\w'’-]+(?:[ \t]+[A-ZÀ-Ý][\w'’-]+){0,3}",
        0.6,
    ),
    # `Baumstr. 592`, `Amanda-Fritsch-Gasse 9968`, `Wilhelm-Wisser-Str. 12/3`
    Pattern(
        "German street",
        r"(?<![\w-])[A-ZÄÖÜ][a-zäöüß]+(?:-[A-ZÄÖÜ][a-zäöüß]+)*"
        r"(?:-(?:Straße|Strasse|Str\.|Weg|Allee|Platz|Gasse|Ring|Damm|Ufer)|(?:straße|strasse|str\.|weg|allee|platz|gasse|ring|damm|ufer))"
        r"[ \t]+\d{1,4}[a-z]?(?:[/-]\d{1,4}[a-z]?)?(?![\w])",
        0.6,
    ),
    Pattern("UK postcode", r"(?<![\w-])[A-Z]{1,2}\d[A-Z\d]?[ \t]\d[A-Z]{2}(?![\w])", 0.6),
    Pattern("US state and ZIP", r"(?<![\w-])[A-Z]{2}[ \t]\d{5}(?:-\d{4})?(?![\w-])", 0.5),
    # weak alone ("12345 Items"): needs a context word such as "address" or "ship"
    Pattern(
        "Postcode and town (DE, FR)",
        r"(?<![\w-])\d{5}[ \t]+[A-ZÀ-ÝÄÖÜ][a-zà-ÿäöüß]+(?:[ -][A-ZÀ-ÝÄÖÜ][a-zà-ÿäöüß]+)?(?![\w])",
        0.3,
    ),
]


class StreetAddressRecognizer(PatternRecognizer):
    """LOCATION for postal addresses, which spaCy's model tags only in part.

    Street lines with a house number (`7010 Fischer Walks Suite 332`,
    `278, chemin Inès Guillou`, `Baumstr. 592`, `Amanda-Fritsch-Gasse 9968`), UK postcodes (`TQ9 6AF`),
    US state and ZIP (`VT 61215`), and German or French postcode and town
    (`41897 Freiburg`). Without these, a redacted ticket still says where
    its writer lives.
    """

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entity="LOCATION",
            name="StreetAddressRecognizer",
            patterns=_ADDRESS_PATTERNS,
            context=["address", "live", "ship", "deliver", "street", "postcode", "zip"],
            supported_language=supported_language,
            global_regex_flags=re.MULTILINE,
        )


_ADDRESS_CUE = re.compile(
    r"(?i)(?<!\w)(?:(?P<labelled>address(?:[ \t]+(?:is|was))?[ \t]*[:=]|address[ \t]+(?:is|was))"
    r"|lives?[ \t]+at|living[ \t]+at|resides?[ \t]+at|located[ \t]+at|(?:office|house|home|apartment|flat)[ \t]+is[ \t]+(?:at|on)"
    r"|moved[ \t]+to|relocated[ \t]+to|(?:send|ship|deliver|mail|post)(?:[ \t]+[\w']+){0,4}?[ \t]+to)(?!\w)[ \t]*"
)
# Where an address written into a sentence ends: a sentence end, or a clause that goes on (`, and correct the VAT`).
_SENTENCE_END = re.compile(
    r"[?!;]|\.(?=[ \t]+[A-Z])|\.[ \t]*$|,?[ \t]+(?:and|but|so|because|which|while|then|as|since|until|if|when)[ \t]+(?=[a-z])"
)
# Words before the address itself (`send the invoices to my new billing address, 2347 Dennis Pike`).
_ADDRESS_START = re.compile(r"\d|[^\W\d_]*[A-ZÀ-Þ]")
_ADDRESS_LINES = 4


def _address_like_line(line: str) -> bool:
    """A line that can continue an address: a postcode, a town, a region or a country (`Suite 680`,
    `LAPPEENRANTA`, `Cyprus 36903`, `SK`), not a sentence, a label or an email."""
    words = line.split()
    if not words or len(line) > 50 or len(words) > 5 or ":" in line or "@" in line:
        return False
    return any(ch.isdigit() for ch in line) or (len(words) <= 3 and all(word[:1].isupper() for word in words))


class AddressBlockRecognizer(RuleRecognizer):
    """LOCATION for the address written after `address:`, `my address is`, `lives at`, `send it to` and the like,
    in any country's format (`28245 Puruntie 82 Apt. 595`, `Via Franscini 71`), with up to four short lines
    below it (town, region, country, postcode), one span per line. After a cue other than `address` the
    address must hold a digit or start with a capitalised word (`moved to the new system` is not one)."""

    SCORE = 0.6

    def __init__(self, is_common: Callable[[str], bool], supported_language: str = "en") -> None:
        super().__init__(["LOCATION"], "AddressBlockRecognizer", supported_language)
        self.is_common = is_common

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = []
        for cue in _ADDRESS_CUE.finditer(text):
            lines = self._address_lines(text, cue.end())
            if lines and (cue.group("labelled") or self._looks_like_address(text[lines[0][0] : lines[0][1]])):
                results += [self.result("LOCATION", start, end, self.SCORE) for start, end in lines]
        return results

    def _looks_like_address(self, value: str) -> bool:
        first = value.split()[0]
        return any(ch.isdigit() for ch in value) or (first[:1].isupper() and not self.is_common(first))

    @staticmethod
    def _address_lines(text: str, start: int) -> list[tuple[int, int]]:
        """The rest of the cue's line (up to a sentence end) and the short lines under it, as (start, end)."""
        lines: list[tuple[int, int]] = []
        position = start
        while len(lines) <= _ADDRESS_LINES and position < len(text):
            line_end = text.find("\n", position)
            line_end = len(text) if line_end < 0 else line_end
            line = text[position:line_end]
            end_of_sentence = _SENTENCE_END.search(line)
            piece = line[: end_of_sentence.start()] if end_of_sentence else line
            stripped = piece.strip(" \t,")
            if lines and not _address_like_line(stripped):
                break
            start_of_address = _ADDRESS_START.search(stripped) if not lines else None
            if start_of_address:
                stripped = stripped[start_of_address.start() :]
            if stripped:
                begin = position + piece.index(stripped)
                lines.append((begin, begin + len(stripped)))
            elif lines or position > start:
                break
            if end_of_sentence or len(stripped) > 80:
                break
            position = line_end + 1
        return lines


_FACILITY_TYPES = (
    "hospital|hospitals|clinic|clinics|medical center|medical centre|medical group|health center|health centre|health system|"
    "infirmary|hospice|pharmacy|urgent care|surgery center|rehab center|rehabilitation center|nursing home|"
    "care home|school|elementary|high school|middle school|academy|college|university|bank|credit union|savings bank"
)
_FACILITY_LEADING_WORDS = frozenset(
    "the a an our my your their his her this that local nearest new old any every".split()
)
_FACILITY = re.compile(
    r"(?<![\w-])(?P<name>(?:(?:St|Saint|Mt|Mount)\.?[ \t]+)?(?:[A-Z][\w'’&.-]*[ \t]+){1,4}?)"
    r"(?P<type>(?i:" + _FACILITY_TYPES + r"))(?![\w])"
    r"|(?<![\w-])(?i:university|college|bank|school)[ \t]+of[ \t]+(?:[A-Z][\w'’.-]*[ \t]*){1,3}(?<![ \t])"
    r"|(?<![\w-])(?:St|Saint)\.?[ \t]+[A-Z][a-z]+['’]s(?![\w])"
)


class FacilityRecognizer(RuleRecognizer):
    """ORGANIZATION for hospitals, clinics, schools, universities and banks named by their type word
    (`Methodist Hospital`, `UCSF Medical Center`, `University of Michigan`, `St. Vincent's`), which the
    small spaCy model tags only in part. A run of common words before the type (`The Hospital`) is not a name."""

    SCORE = 0.6

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(["ORGANIZATION"], "FacilityRecognizer", supported_language)

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = []
        for match in _FACILITY.finditer(text):
            start = match.start()
            if match.group("name") is not None:
                words = [
                    w
                    for w in re.finditer(r"\S+", match.group("name"))
                    if w.group().lower() not in _FACILITY_LEADING_WORDS
                ]
                if not words:
                    continue
                start = match.start("name") + words[0].start()
            results.append(self.result("ORGANIZATION", start, match.end(), self.SCORE))
        return results


_MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_DATE_CUE = re.compile(
    r"(?i)(?<!\w)(?:on|since|from|until|till|by|date|dated|dob|d\.o\.b\.?|born|seen|visit|visited|appt|appointment|admitted|"
    r"discharged|due|last|next|before|after|surgery|procedure|scheduled|starting|started)(?!\w)\W*$"
)
_WRITTEN_DATES = (
    # RFC 2822, as email headers write them: `Tue, 9 Nov 2004 00:35:18 -0500`
    (
        re.compile(
            r"(?<!\w)(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),?[ \t]+\d{1,2}[ \t]+(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[ \t]+\d{4}"
            r"[ \t]+\d{2}:\d{2}(?::\d{2})?(?:[ \t]*[+-]\d{4})?(?:[ \t]*\([A-Z]{2,5}\)|[ \t]+[A-Z]{2,4}\b)?"
        ),
        0.8,
        False,
    ),
    # `apr 16 2024`, `Jun. 24`, `3 dec 2020`, `26 March`, in any case
    (re.compile(rf"(?i)(?<!\w){_MONTH}\.?[ \t]+{_DAY}(?:,?[ \t]+(?:19|20)\d\d)?(?![\w:])"), 0.6, False),
    (re.compile(rf"(?i)(?<![\w.]){_DAY}[ \t]+(?:of[ \t]+)?{_MONTH}\.?(?:,?[ \t]+(?:19|20)\d\d)?(?!\w)"), 0.6, False),
    # `2/6`, `21.5.`, `12/10`: a date only after a word such as `on`, `seen`, `dob`
    (re.compile(r"(?<![\w./-])(?:[12]\d|3[01]|0?[1-9])[/.](?:1[0-2]|0?[1-9])(?:\.|(?![\w/.-]))"), 0.6, True),
    (re.compile(r"(?<![\w./-])(?:1[0-2]|0?[1-9])/(?:[12]\d|3[01]|0?[1-9])(?![\w/.-])"), 0.6, True),
)


class WrittenDateRecognizer(RuleRecognizer):
    """DATE_TIME for dates as people and mail programs write them, which spaCy's model and Presidio's
    patterns score low or miss: email header dates, month names in any case (`may 18`, `3 dec 2020`), and
    day/month numbers (`2/6`, `21.5.`) after a word like `on`, `seen` or `dob` (alone they are as often
    a fraction or a score). `may` with a number counts only after such a word too."""

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(["DATE_TIME"], "WrittenDateRecognizer", supported_language)

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = []
        for pattern, score, needs_cue in _WRITTEN_DATES:
            for match in pattern.finditer(text):
                ambiguous = (
                    needs_cue or match.group().lower().startswith("may ") or match.group().lower().endswith(" may")
                )
                if ambiguous and not _DATE_CUE.search(text, max(0, match.start() - 30), match.start()):
                    continue
                results.append(self.result("DATE_TIME", match.start(), match.end(), score))
        return _keep_widest(results)


def luhn_valid(text: str) -> bool:
    """Luhn (mod 10) check over the digits of `text`; other characters are ignored.

    From the rightmost digit leftwards, every second digit is doubled (and 9
    subtracted when that gives two digits); the total of all digits must end in 0.
    Card numbers and many account numbers end in such a check digit.
    """
    digits = [int(d) for d in re.sub(r"[^0-9]", "", text)]
    if len(digits) < 2:
        return False
    doubled = [2 * d - 9 if d > 4 else 2 * d for d in digits[-2::-2]]
    return (sum(digits[-1::-2]) + sum(doubled)) % 10 == 0


def mod97_valid(text: str) -> bool:
    """ISO 7064 MOD 97-10 check, as IBANs use it, over the letters and digits of `text`.

    The first four characters (country and check digits, `GB82`) move to the
    end, each letter becomes two digits (A=10 ... Z=35), and the resulting
    number must leave 1 when divided by 97. Spaces and punctuation are ignored.
    """
    chars = re.sub(r"[^0-9A-Z]", "", text.upper())
    if len(chars) < 5:
        return False
    rearranged = chars[4:] + chars[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


CHECKSUMS: dict[str, Callable[[str], bool]] = {"luhn": luhn_valid, "mod97": mod97_valid}


class ChecksumPatternRecognizer(PatternRecognizer):
    """A PatternRecognizer whose matches must also pass a checksum.

    Presidio calls `validate_result` on every regex match: True raises the
    score to 1.0, False drops the match.
    """

    def __init__(self, checksum: Callable[[str], bool], **pattern_recognizer_args: Any):
        self.checksum = checksum
        super().__init__(**pattern_recognizer_args)

    def validate_result(self, pattern_text: str) -> bool:
        """The checksum's verdict on the matched text."""
        return self.checksum(pattern_text)


def custom_identifier_recognizer(spec: CustomIdentifier) -> PatternRecognizer:
    """A recognizer for one configured identifier: its regex, context words and score.

    With `checksum` set ("luhn" or "mod97"), a match counts only when the
    checksum passes, and then scores 1.0 (Presidio's rule for validated matches).
    The regex runs with Presidio's default flags, case-insensitive included.
    """
    args = {
        "supported_entity": spec.entity,
        "name": f"CustomIdentifierRecognizer:{spec.entity}",
        "patterns": [Pattern(spec.entity, spec.pattern, spec.score)],
        "context": list(spec.context) or None,
    }
    if spec.checksum is None:
        return PatternRecognizer(**args)
    return ChecksumPatternRecognizer(CHECKSUMS[spec.checksum], **args)


class SsnRecognizer(UsSsnRecognizer):
    """US_SSN as Presidio finds it, except that a bare 9-digit number scores 0.4 instead of 0.05.

    Presidio's checks still apply (no all-equal digits, no 000 or 666 area,
    no zero group or serial, no published sample number). A bare 9-digit
    number in a ticket is far more often an SSN than anything else worth
    keeping (`The W-2 shows 317226835`, `Please mask 458252516`), and the
    stock score left those unredacted at any threshold that keeps precision.
    Such numbers are no longer read as phones (`_is_bare_ssn`), except 9xx ones,
    which the SSA does not issue.
    """

    BARE_SCORE = 0.4

    def __init__(self, supported_language: str = "en") -> None:
        patterns = [
            Pattern("SSN4 (bare 9 digits)", pattern.regex, self.BARE_SCORE)
            if pattern.name == "SSN4 (very weak)"
            else pattern
            for pattern in UsSsnRecognizer.PATTERNS
        ]
        super().__init__(patterns=patterns, supported_language=supported_language)


def build_recognizers(
    *, phone_regions: list[str], custom_identifiers: list[CustomIdentifier], lexicon: NameLexicon
) -> list[EntityRecognizer]:
    """The recognizers to add to a registry, once the `REPLACED_RECOGNIZERS` are removed from it."""
    return [
        OfflineEmailRecognizer(),
        CardNumberRecognizer(),
        # Presidio's registry loads the stock IBAN recognizer with IGNORECASE, under which its
        # patterns miss valid IBANs (`AT85 4114 4269 4208 0939`); a fresh one has the right flags
        # and reads the text upper-cased, so a lower-case IBAN is found too.
        AnyCaseIbanRecognizer(),
        RegionPhoneRecognizer(supported_regions=phone_regions),
        SsnRecognizer(),
        ContextNumberRecognizer(),
        IdNumberRecognizer(),
        UsernameRecognizer(lexicon.is_plain_word),
        *name_recognizers(lexicon),
        StreetAddressRecognizer(),
        AddressBlockRecognizer(lexicon.is_common),
        FacilityRecognizer(),
        WrittenDateRecognizer(),
        *(custom_identifier_recognizer(spec) for spec in custom_identifiers),
    ]


def drop_swallowing_dates(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Remove DATE_TIME results that are really (part of) an identifier.

    spaCy's model tags digit runs as dates: `901820` in the phone number
    `030 901820`, or an employee id's digits. A DATE_TIME result is dropped
    when it overlaps a result of an identifier entity (anything but the
    `NER_ENTITIES`: phones, cards, emails, custom ids), or when its text is
    only digits, five or more of them. Written dates (`March 3, 2025`,
    `03/04/2025`, `2025-03-04`, `yesterday at 5pm`) stay. The detector passes
    results before its score thresholds: a phone number below its threshold
    still removes the date that would redact half of it, and the leak scan
    then sees the whole number.
    """
    identifiers = [r for r in results if r.entity_type not in NER_ENTITIES]

    def swallows(date: RecognizerResult) -> bool:
        bare_digits = re.fullmatch(r"[0-9]{5,}", text[date.start : date.end]) is not None
        return bare_digits or any(date.intersects(other) for other in identifiers)

    return [r for r in results if r.entity_type != "DATE_TIME" or not swallows(r)]


def drop_misread_names(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Remove NER results that are really identifiers.

    spaCy's model also tags ids as people or places: `EMP-446962`,
    `Order ORD-7218518`, `Ticket INC4845936`. A PERSON result with a digit in
    it is dropped (no name has one), and so is any NER result that lies
    inside the span of an identifier result (a validated card, a custom id).
    """
    identifiers = [r for r in results if r.entity_type not in NER_ENTITIES]

    def misread(result: RecognizerResult) -> bool:
        if result.entity_type == "PERSON" and any(ch.isdigit() for ch in text[result.start : result.end]):
            return True
        return any(other.start <= result.start and result.end <= other.end for other in identifiers)

    return [r for r in results if r.entity_type not in NER_ENTITIES or not misread(r)]


def split_at_line_breaks(
    text: str, results: list[RecognizerResult], is_common: Callable[[str], bool]
) -> list[RecognizerResult]:
    """Cut NER spans at line breaks, which no name or place crosses (spaCy reads `Chris Holmes\nSubject` as one
    PERSON), and drop the pieces that are one common word (`Subject`)."""
    kept = []
    for result in results:
        span = text[result.start : result.end]
        if result.entity_type not in NER_ENTITIES or "\n" not in span:
            kept.append(result)
            continue
        offset = result.start
        for line in span.split("\n"):
            stripped = line.strip()
            if stripped and not (" " not in stripped and is_common(stripped.strip(".,:;"))):
                start = offset + line.index(stripped)
                kept.append(
                    RecognizerResult(
                        result.entity_type,
                        start,
                        start + len(stripped),
                        result.score,
                        result.analysis_explanation,
                        result.recognition_metadata,
                    )
                )
            offset += len(line) + 1
    return kept


# Words spaCy's small model tags as ORG that name a kind of data, a form or a department, not an organisation.
NOT_ORGANIZATIONS = frozenset(
    "ssn mrn iban id dob pin cvv cvc zip nhs itin ein vat cpt icd hipaa faq pdf api url it hr cc bcc re fw fwd "
    "sku imei otp ach swift bic atm pos eta asap fyi lol omg csv xlsx xls json xml txt doc docx zip "
    "usd eur gbp chf jpy inr cad aud cny sek nok dkk pln".split()
)


def drop_unlikely_organizations(
    text: str, results: list[RecognizerResult], is_plain_word: Callable[[str], bool]
) -> list[RecognizerResult]:
    """Remove ORGANIZATION spans that are only words like `SSN`, `MRN` or `HR` (the context words that say
    what follows must stay readable: `My SSN is <US_SSN>`), or one plain dictionary word that spaCy's small
    model tags at the start of a sentence (`Please`, `Delivery`, `Android`); a given name it tags stays."""

    def unlikely(result: RecognizerResult) -> bool:
        words = re.findall(r"\w+", text[result.start : result.end])
        if words and all(word.lower() in NOT_ORGANIZATIONS for word in words):
            return True
        return len(words) == 1 and words[0].isalpha() and is_plain_word(words[0])

    return [r for r in results if r.entity_type != "ORGANIZATION" or not unlikely(r)]
