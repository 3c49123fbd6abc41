"""Counterfactual data augmentation: the same text with gendered words and first names swapped.

Word pairs and name pairs come from a lexicon (`pipeline/lexicons/gender_terms.json`).
`her`, `his`, `him` and `hers` need grammar: spaCy's part-of-speech tags tell a
possessive `her` before a noun (`her dog` -> `his dog`) from an object `her`
(`saw her` -> `saw him`), and `his` before a noun (-> `her`) from a standalone
`his` (`the book is his` -> `hers`).
Case is kept (`He` -> `She`, `MR` -> `MS`). Redaction tags are left alone. In a
conversation (a messages column) only the messages' contents are swapped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.quality import chat

if TYPE_CHECKING:
    from spacy.language import Language

PRONOUNS = {"her", "his", "him", "hers"}


@lru_cache(maxsize=4)
def swap_table(lexicon_path: str | None = None) -> dict[str, str]:
    """Lower-case word -> its counterpart, both ways for pairs, one way for `one_way`."""
    path = (
        Path(lexicon_path)
        if lexicon_path
        else Path(str(resources.files("pipeline") / "lexicons" / "gender_terms.json"))
    )
    data = json.loads(path.read_text(encoding="utf-8"))
    table: dict[str, str] = {}
    for male, female in [*data.get("pairs", []), *data.get("name_pairs", [])]:
        table[male.lower()] = female.lower()
        table[female.lower()] = male.lower()
    table.update({k.lower(): v.lower() for k, v in data.get("one_way", {}).items()})
    return table


NOUN_PHRASE_TAGS = ("NN", "JJ", "CD", "VBG")


def pronoun_swap(word: str, tag: str, next_tag: str | None) -> str:
    """The counterpart of a gendered pronoun; `tag` is its own Penn tag, `next_tag` the next token's."""
    lower = word.lower()
    before_noun = next_tag is not None and next_tag.startswith(NOUN_PHRASE_TAGS)
    if lower == "her":
        return "his" if tag == "PRP$" and before_noun else "him"
    if lower == "his":
        return "her" if before_noun else "hers"
    return {"him": "her", "hers": "his"}[lower]


def match_case(replacement: str, original: str) -> str:
    if original.isupper() and len(original) > 1:
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


class Swapper:
    """Swaps gendered words in texts; loads a spaCy tagger once."""

    def __init__(self, spacy_model: str, lexicon_path: str | None = None) -> None:
        self.table = swap_table(lexicon_path)
        words = sorted(set(self.table) | PRONOUNS, key=len, reverse=True)
        self.pattern = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)
        self.nlp = _tagger(spacy_model)

    def swap_all(self, texts: Sequence[str]) -> list[str | None]:
        """Each text swapped, or None when it holds no gendered word."""
        candidates = [i for i, text in enumerate(texts) if self.pattern.search(text)]
        swapped: list[str | None] = [None] * len(texts)
        for index, doc in zip(candidates, self.nlp.pipe((texts[i] for i in candidates), batch_size=64), strict=True):
            swapped[index] = "".join(self._swap_token(token) + token.whitespace_ for token in doc)
        return swapped

    def swap(self, text: str) -> str | None:
        return self.swap_all([text])[0]

    def swap_messages(self, values: Sequence[str]) -> list[str | None]:
        """Each conversation (canonical messages JSON, pipeline.quality.chat) with every message's content swapped,
        roles and JSON kept; None when no content holds a gendered word, or the value is not a conversation."""
        parsed = [chat.messages_or_none(value) or [] for value in values]
        contents = iter(self.swap_all([message["content"] for messages in parsed for message in messages]))
        swapped: list[str | None] = []
        for messages in parsed:
            new = [next(contents) for _ in messages]
            if all(content is None for content in new):
                swapped.append(None)
                continue
            kept = [m["content"] if content is None else content for m, content in zip(messages, new, strict=True)]
            swapped.append(chat.dump_messages(chat.with_contents(messages, kept)))
        return swapped

    def _swap_token(self, token: Any) -> str:
        lower = token.text.lower()
        if lower in PRONOUNS:
            following = token.nbor() if token.i + 1 < len(token.doc) else None
            return match_case(
                pronoun_swap(token.text, token.tag_, following.tag_ if following is not None else None), token.text
            )
        if lower in self.table:
            return match_case(self.table[lower], token.text)
        return token.text


@lru_cache(maxsize=2)
def _tagger(spacy_model: str) -> Language:
    import spacy

    return spacy.load(spacy_model, exclude=["parser", "ner", "lemmatizer", "senter"])


def iter_swapped(texts: Sequence[str], swapper: Swapper) -> Iterator[tuple[int, str]]:
    for index, swapped in enumerate(swapper.swap_all(texts)):
        if swapped is not None and swapped != texts[index]:
            yield index, swapped
