"""Text-quality scores: numbers kept as columns; thresholds elsewhere turn them into decisions.

Redaction tags (`<PERSON>`, `<EMAIL_ADDRESS_1f2e3d4c>`) count as text for
length, but not as letters, and not as language evidence. A chat's roles and
JSON syntax are not text (`join_text`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from pipeline.quality import chat

if TYPE_CHECKING:
    import pandas as pd
    from py3langid.langid import LanguageIdentifier

REDACTION_TAG = re.compile(r"<[A-Z][A-Z0-9_]*(?:_[0-9a-f]+)?>")
WORD = re.compile(r"\w+")
NGRAM_SIZE = 3
UNDETERMINED = "und"


@dataclass(frozen=True)
class TextScores:
    chars: int
    alpha_share: float
    repeated_line_share: float
    repeated_ngram_share: float
    tag_share: float
    language: str
    language_score: float


def join_text(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """Each row's non-empty text columns, in config order, joined by a blank line: what every stage means by "the row's text".

    A messages column (canonical JSON, pipeline.quality.chat) counts by its words: its contents joined by line breaks.
    """
    return ["\n\n".join(text for text in map(as_text, row) if text) for row in frame[columns].itertuples(index=False)]


def as_text(value: object) -> str:
    """A text column's value as text: a conversation by its contents, missing values as ""."""
    if not isinstance(value, str):
        return ""
    messages = chat.messages_or_none(value)
    return value if messages is None else chat.message_text(messages)


def score(text: str) -> TextScores:
    without_tags = REDACTION_TAG.sub(" ", text)
    language, language_score = detect_language(without_tags)
    return TextScores(
        chars=len(text),
        alpha_share=alpha_share(without_tags),
        repeated_line_share=repeated_line_share(text),
        repeated_ngram_share=repeated_ngram_share(text),
        tag_share=tag_share(text),
        language=language,
        language_score=language_score,
    )


def alpha_share(text: str) -> float:
    """Letters among the characters that are not white space (0 for a text without any)."""
    visible = [c for c in text if not c.isspace()]
    return round(sum(c.isalpha() for c in visible) / len(visible), 4) if visible else 0.0


def repeated_line_share(text: str) -> float:
    """Share of the characters of non-empty lines that are in lines seen before (as in Gopher's filters)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    total = sum(len(line) for line in lines)
    if not total:
        return 0.0
    seen: set[str] = set()
    repeated = 0
    for line in lines:
        if line in seen:
            repeated += len(line)
        seen.add(line)
    return round(repeated / total, 4)


def repeated_ngram_share(text: str, size: int = NGRAM_SIZE) -> float:
    """Share of word n-grams that occur more than once in the text (spam, stuck keys, pasted logs)."""
    words = WORD.findall(text.casefold())
    ngrams = [tuple(words[i : i + size]) for i in range(len(words) - size + 1)]
    if not ngrams:
        return 0.0
    counts = Counter(ngrams)
    return round(sum(n for n in counts.values() if n > 1) / len(ngrams), 4)


def tag_share(text: str) -> float:
    """Share of the words that are redaction tags: a text that is mostly `<PERSON>` says little."""
    tags = len(REDACTION_TAG.findall(text))
    words = len(WORD.findall(REDACTION_TAG.sub(" ", text)))
    return round(tags / (tags + words), 4) if tags + words else 0.0


def detect_language(text: str) -> tuple[str, float]:
    """ISO 639-1 code and probability from py3langid (offline, deterministic); `und` for a text without letters."""
    if not any(c.isalpha() for c in text):
        return UNDETERMINED, 0.0
    language, probability = _identifier().classify(text)
    return language, round(float(probability), 4)


@lru_cache(maxsize=1)
def _identifier() -> LanguageIdentifier:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
