"""Identifiers found by their shape and the words before them, not by validity rules.

A redactor that waits for a valid checksum leaks what people actually type:
record numbers of formats nobody configured (`MRN: A-2019-55813`,
`member id XWB847362915`, `case #JH-998877`), SSNs that fail the SSA's rules
(`SSN 123-45-6789`), phones of regions outside `redact.phone_regions`
(`Mobile: 71-33-52-22`), IBANs typed in lower case, and card numbers with a
typo in the check digit. Each recognizer here scores a match by its shape
and by a context word earlier on the same line, checked as a whole word
(Presidio's own context check matches substrings, so `id` would count in
`did` and `valid`):

- `IdNumberRecognizer` (ID_NUMBER): letter-and-digit codes with at least 5
  digits score 0.5 alone and 0.8 after a context word; runs of 5 or more
  digits (dashes allowed) count only after a context word (0.7): alone they
  are as often a quantity. Amounts, decimals, versions,
  dates, numbers with a unit (`10000mAh`) and parts of emails, URLs and paths
  are not ids. A specific identifier (phone, card, SSN, custom id) that
  covers the same text wins (`drop_generic_ids`).
- `ContextNumberRecognizer`: a number right after its cue (`SSN:`,
  `call me at`, `credit card number is`) is that entity whatever its
  validity, for US_SSN, PHONE_NUMBER and CREDIT_CARD (`CUE_NUMBERS`).
- `AnyCaseIbanRecognizer`: Presidio's IBAN patterns and checksum, run on the
  upper-cased text;
- `UsernameRecognizer` (USERNAME): `@handles` and account names after
  `username`, `login`, `log in as`, `discord`, `ig`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import IbanRecognizer

from pipeline.pii.known_values import recase_keeping_length
from pipeline.pii.rules import RuleRecognizer

ID_CONTEXT_WORDS = (
    "id",
    "ids",
    "no",
    "nr",
    "num",
    "number",
    "mrn",
    "record",
    "records",
    "member",
    "membership",
    "policy",
    "plan",
    "account",
    "acct",
    "a/c",
    "case",
    "claim",
    "patient",
    "ticket",
    "ref",
    "reference",
    "invoice",
    "license",
    "licence",
    "certificate",
    "cert",
    "subscriber",
    "enrollee",
    "beneficiary",
    "chart",
    "medicaid",
    "medicare",
    "insurance",
    "passport",
    "badge",
    "employee",
    "customer",
    "client",
    "registration",
    "file",
    "group",
)
_ID_CONTEXT = re.compile(
    r"(?i)(?:(?<![\w/])(?:" + "|".join(re.escape(w) for w in ID_CONTEXT_WORDS) + r")(?![\w/])|#\s*$)"
)
_CONTEXT_CHARS = 40
"""How far back on the same line a context word counts (about five words, like Presidio's window)."""

_ID_TOKEN = re.compile(
    r"(?<![\w#@$€£¥.,/\\-])(?=#?[A-Za-z._/-]*\d)#?[A-Za-z0-9]+(?:[-/._][A-Za-z0-9]+){0,6}(?![\w@]|[-/.:]\w|,\d)"
)
_NUMBER_WITH_UNIT = re.compile(r"\d[\d.,]*(?:[a-z]{1,3}|mAh|[KMGT]B|[kKMG]Hz|USD|EUR|GBP|K|M)")
_DATE_OR_TIME = re.compile(
    r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:T[\d:.]+Z?)?|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}"
    r"|(?i:\d{1,2}[-/.]?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*[-/.]?\d{2,4})"
)
_VERSION = re.compile(r"[vV]?\d+(?:\.\d+){1,3}(?:[-+][A-Za-z0-9]+(?:\.[A-Za-z0-9]+)*)?")
_HEX = re.compile(r"0[xX][0-9a-fA-F]+")
_YEAR_RANGE = re.compile(r"(?:19|20)\d\d[-/](?:19|20)?\d\d")


class IdNumberRecognizer(RuleRecognizer):
    """ID_NUMBER for record, member, policy, case and account numbers of any format (see the module)."""

    CODE_SCORE, CODE_CONTEXT_SCORE = 0.5, 0.8
    DIGITS_CONTEXT_SCORE = 0.7

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(["ID_NUMBER"], "IdNumberRecognizer", supported_language)

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = []
        for match in _ID_TOKEN.finditer(text):
            score = self._score(match.group(), has_context_before(text, match.start(), _ID_CONTEXT))
            if score >= self.CODE_SCORE:
                results.append(self.result("ID_NUMBER", match.start(), match.end(), score))
        return results

    def _score(self, token: str, context: bool) -> float:
        body = token.lstrip("#")
        digits = sum(ch.isdigit() for ch in body)
        letters = sum(ch.isalpha() for ch in body)
        if digits < 5 or _looks_like_other_number(body):
            return 0.0
        if letters:
            return self.CODE_CONTEXT_SCORE if context or token.startswith("#") else self.CODE_SCORE
        if "." in body or "/" in body:
            return 0.0  # decimals, versions, dates
        return self.DIGITS_CONTEXT_SCORE if context or token.startswith("#") else 0.0


def _looks_like_other_number(body: str) -> bool:
    if "/" in body and "." in body.split("/", 1)[0]:
        return True  # a host and path: the URL recognizer's
    return any(shape.fullmatch(body) for shape in (_NUMBER_WITH_UNIT, _DATE_OR_TIME, _VERSION, _YEAR_RANGE, _HEX))


def has_context_before(text: str, start: int, context: re.Pattern[str]) -> bool:
    """True when `context` matches in the stretch of the same line before `start` (at most _CONTEXT_CHARS)."""
    line_start = text.rfind("\n", 0, start) + 1
    return context.search(text, max(line_start, start - _CONTEXT_CHARS), start) is not None


# Words that may stand between a cue and its number: "my credit card number is", "call me at".
_FILLER = r"(?:[ \t]*[:#=.-]?[ \t]*(?:is|was|number|no\.?|num|nr|at|on|me|my|the|of|his|her|our|your|their|ending|in|new|old|mobile|cell|home|work|direct|main|office|line|please|pls|to)\b)*"
_GAP = r"[ \t]*[:#=.,-]?[ \t]*"
_NOT_GLUED_BEFORE = r"(?<![\w.-])"
_NOT_GLUED_AFTER = r"(?![\w]|[-.]\d)"


@dataclass(frozen=True)
class CueNumber:
    """A number of the given shape that is `entity` after one of the cues, valid or not."""

    entity: str
    cues: str  # a regular expression of the cue words
    number: str  # a regular expression of the number's shape
    digits: tuple[int, int]  # the fewest and most digits it may have


CUE_NUMBERS = (
    CueNumber(
        "US_SSN",
        r"ssn|ss#|ss\s?no|soc(?:ial)?\.?\s?sec(?:urity)?(?:\s?(?:no|#|number))?|social",
        r"\d{3}(?P<sep>[- .]?)\d{2}(?P=sep)\d{4}",
        (9, 9),
    ),
    CueNumber(
        "PHONE_NUMBER",
        r"phone|telephone|tel|ph|mob|mobile|cell|cellphone|call|text|sms|whatsapp|fax|reach|answering|dial|landline|contact",
        r"\+?\(?\d{1,5}\)?(?:[ .\-/]?\(?\d{1,5}\)?){1,6}",
        (6, 15),
    ),
    CueNumber(
        "CREDIT_CARD",
        r"card|credit\s?card|debit\s?card|visa|mastercard|amex|cc|cc#|card\s?no",
        r"\d{4}(?:[ -]?\d{2,7}){1,4}|\d{12,19}",
        (12, 19),
    ),
)


class ContextNumberRecognizer(RuleRecognizer):
    """SSNs, phones and cards right after their cue (`SSN:`, `call me at`, `credit card number is`), kept even
    where validity rules would drop them. Between cue and number only filler words (`is`, `number`, `at`, `my`,
    ...) and punctuation may stand, on one line."""

    SCORE = 0.6

    def __init__(self, cue_numbers: tuple[CueNumber, ...] = CUE_NUMBERS, supported_language: str = "en") -> None:
        super().__init__([c.entity for c in cue_numbers], "ContextNumberRecognizer", supported_language)
        self.patterns = [
            (
                c,
                re.compile(
                    r"(?i:(?<!\w)(?:"
                    + c.cues
                    + r")(?!\w))"
                    + _FILLER
                    + _GAP
                    + r"(?P<value>"
                    + _NOT_GLUED_BEFORE
                    + "(?:"
                    + c.number
                    + ")"
                    + _NOT_GLUED_AFTER
                    + ")"
                ),
            )
            for c in cue_numbers
        ]

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = []
        for cue_number, pattern in self.patterns:
            if cue_number.entity not in entities:
                continue
            low, high = cue_number.digits
            for match in pattern.finditer(text):
                if low <= sum(ch.isdigit() for ch in match.group("value")) <= high:
                    results.append(
                        self.result(cue_number.entity, match.start("value"), match.end("value"), self.SCORE)
                    )
        return results


class AnyCaseIbanRecognizer(IbanRecognizer):
    """Presidio's IBAN recognizer (patterns, country formats, MOD 97 check) on the text and on the text
    upper-cased, so `gb42nawi04454264788619` is found like `GB42 NAWI 0445 4264 7886 19`. Both are
    needed: upper-cased words right after an IBAN (`... 0939 FAILED`) make its pattern overreach."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None, regex_flags: int | None = None
    ) -> list[RecognizerResult]:
        found = super().analyze(text, entities, nlp_artifacts, regex_flags)
        upper = recase_keeping_length(text, str.upper)
        if upper != text:
            spans = {(r.start, r.end) for r in found}
            found += [
                r
                for r in super().analyze(upper, entities, nlp_artifacts, regex_flags)
                if (r.start, r.end) not in spans
            ]
        return found


_HANDLE = re.compile(r"(?<![\w@.])@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?(?![\w@]|\.\w)")
_USERNAME_CUE = re.compile(
    r"(?i:(?<![\w/])(?:user ?name|user|login|log(?:ged)? in as|signed in as|handle|screen ?name|gamertag|discord|insta|instagram|ig|"
    r"twitter|tiktok|snap|snapchat|telegram|skype|psn|xbox|steam|reddit|github|u/)(?![\w]))"
    r"(?:[ \t]*(?:is|was|=|:|-)?[ \t]*)(?P<value>[A-Za-z0-9_][A-Za-z0-9_.]{1,30}[A-Za-z0-9_])(?![\w@]|\.\w)"
)


class UsernameRecognizer(RuleRecognizer):
    """USERNAME for `@handles` and for the account name after `username`, `login`, `log in as`, `discord`, `ig`
    and the like; after a cue, a plain word (`login for the drive`) is not a name unless it holds a digit,
    an underscore or a dot."""

    SCORE = 0.6

    def __init__(self, is_plain_word: Callable[[str], bool], supported_language: str = "en") -> None:
        super().__init__(["USERNAME"], "UsernameRecognizer", supported_language)
        self.is_plain_word = is_plain_word

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = [self.result("USERNAME", m.start(), m.end(), self.SCORE) for m in _HANDLE.finditer(text)]
        for match in _USERNAME_CUE.finditer(text):
            value = match.group("value")
            if any(ch.isdigit() or ch in "_." for ch in value) or not self.is_plain_word(value):
                results.append(self.result("USERNAME", match.start("value"), match.end("value"), self.SCORE))
        return results


GENERIC_ENTITIES = frozenset({"ID_NUMBER"})


def drop_generic_ids(results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Remove ID_NUMBER results that overlap a result of a specific identifier (phone, card, SSN,
    IBAN, email, a custom id), so the more telling entity names the span."""
    specific = [r for r in results if r.entity_type not in GENERIC_ENTITIES and r.entity_type not in _NER_LIKE]
    return [r for r in results if r.entity_type not in GENERIC_ENTITIES or not any(r.intersects(s) for s in specific)]


_NER_LIKE = frozenset({"PERSON", "LOCATION", "ORGANIZATION", "NRP", "DATE_TIME"})
