"""Known PII: the values of a row's identifier columns, found wherever they occur in text.

One Aho-Corasick automaton (pyahocorasick) matches every value and variant at
once, case-insensitively and only on word boundaries, instead of one regex per
value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import ahocorasick

NAME_PARTS = re.compile(r"[^\W\d_]+(?:[-'][^\W\d_]+)*")
DIGITS = re.compile(r"\d")
# Tokens too common to be scrubbed on their own when they are part of a name.
NAME_STOPWORDS = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "van",
        "von",
        "der",
        "de",
        "la",
        "le",
        "du",
        "da",
        "del",
        "jr",
        "sr",
        "ii",
        "iii",
    }
)


@dataclass(frozen=True)
class KnownSpan:
    start: int
    end: int
    entity: str


def variants(value: str, entity: str, min_length: int) -> set[str]:
    """What to look for in text: the value itself and, for a person's name, each name part."""
    value = " ".join(value.split())
    found = {value} if len(value) >= min_length else set()
    if entity == "PERSON":
        found |= {
            part
            for part in NAME_PARTS.findall(value)
            if len(part) >= min_length and part.lower() not in NAME_STOPWORDS
        }
    elif entity == "EMAIL_ADDRESS" and "@" in value:
        local = value.split("@", 1)[0]
        if len(local) >= max(min_length, 6) and not local.isalpha():
            found.add(local)
    return found


class KnownValueMatcher:
    """Finds any of a set of (value, entity) pairs in text, ignoring case, on word boundaries."""

    def __init__(self, values: Iterable[tuple[str, str]], min_length: int) -> None:
        self._automaton = ahocorasick.Automaton()
        for value, entity in values:
            for variant in variants(value, entity, min_length):
                key = recase_keeping_length(variant)
                if key not in self._automaton:
                    self._automaton.add_word(key, (len(key), entity))
        self.empty = len(self._automaton) == 0
        if not self.empty:
            self._automaton.make_automaton()

    def find(self, text: str) -> list[KnownSpan]:
        if self.empty or not text:
            return []
        spans = []
        for end_index, (length, entity) in self._automaton.iter(recase_keeping_length(text)):
            start, end = end_index - length + 1, end_index + 1
            if _on_word_boundaries(text, start, end):
                spans.append(KnownSpan(start, end, entity))
        return spans


def recase_keeping_length(text: str, recase: Callable[[str], str] = str.lower) -> str:
    """`recase` (str.lower, str.upper) applied, except to the few characters whose other case is longer
    (`ß`, `İ`), so offsets stay valid."""
    changed = recase(text)
    if len(changed) == len(text):
        return changed
    return "".join(recase(c) if len(recase(c)) == 1 else c for c in text)


def _on_word_boundaries(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_")
