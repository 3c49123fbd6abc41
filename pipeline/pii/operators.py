"""Turn detected spans into redacted text with Presidio's anonymizer, one operator per entity type.

- `replace`: a type tag, `<PERSON>`;
- `pseudonymize`: `<PERSON_1f2e3d4c>`, from a keyed HMAC of the normalised value, so the
  same value gets the same pseudonym across the dataset and across runs with the same key;
- `hash`: `<PERSON:16 hex>`, a longer keyed HMAC, for joining;
- `mask`: every letter and digit becomes `*`;
- `drop_row`: the stage quarantines the row (nothing to apply here).

Text that is already masked (`<PERSON>`, `XXXX`, `XX/XX/XXXX`, `{$1,100.00}`,
`330XX`, `****`) is never touched, so redacting redacted text changes nothing.
"""

from __future__ import annotations

import bisect
import copy
import hashlib
import hmac
import os
import re
from typing import TYPE_CHECKING, Any

from pipeline.config import RedactConfig
from pipeline.errors import InputError

if (
    TYPE_CHECKING
):  # presidio (analyzer and anonymizer) loads spaCy, transformers and torch: only where text is redacted
    from presidio_analyzer import RecognizerResult
    from presidio_anonymizer.entities import OperatorConfig


EXISTING_MASK = re.compile(
    r"""<[A-Z][A-Z0-9_]*(?:[_:][0-9a-f]{8,64})?>      # tags, ours and others'
      | \{\$[\d,]+(?:\.\d{2})?\}                         # masked amounts, {$1,100.00}
      | (?<!\w)[X*]{2,}(?:[-/.\ ][X*]+)*(?:[-/\ ]\d{1,4})?(?!\w)   # XXXX, XX/XX/XXXX, XXXX-XXXX-XXXX-1234, ****
      | (?<!\w)\d{3}XX(?!\w)                             # masked ZIP codes, 330XX
    """,
    re.VERBOSE,
)
DEMO_KEY = b"pipeline-demo-key: NOT SECRET, for the bundled sample only"
KEYED_OPERATORS = ("pseudonymize", "hash")


def pseudonym_key(settings: RedactConfig, *, needed: bool) -> tuple[bytes, str]:
    """The HMAC key from the environment variable the config names, and where it came from."""
    value = os.environ.get(settings.key_env)
    if value:
        if len(value) < 16:
            raise InputError(
                f"the key in ${settings.key_env} is shorter than 16 characters; use a long random value (e.g. `openssl rand -hex 32`)"
            )
        return value.encode("utf-8"), "environment"
    if settings.demo_key_if_unset:
        return DEMO_KEY, "demo"
    if needed:
        raise InputError(
            f"set ${settings.key_env} to a long random secret (e.g. `export {settings.key_env}=$(openssl rand -hex 32)`): "
            "pseudonyms, hashes and the hashed group column are keyed with it. It is read from the environment only, never from the config"
        )
    return b"", "none"


def keyed_digest(key: bytes, entity: str, value: str) -> str:
    return hmac.new(key, f"{entity}\x1f{normalise(entity, value)}".encode(), hashlib.sha256).hexdigest()


def normalise(entity: str, value: str) -> str:
    """What makes two spellings the same value: case and spacing; for numbers, only the digits."""
    if entity in ("PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE"):
        return re.sub(r"[\W_]", "", value).upper()
    return " ".join(value.split()).casefold()


def outside_masks(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Drop spans that overlap text which is already masked."""
    masks = [match.span() for match in EXISTING_MASK.finditer(text)]
    if not masks:
        return results
    return [r for r in results if not any(start < r.end and r.start < end for start, end in masks)]


def non_overlapping(results: list[RecognizerResult]) -> list[RecognizerResult]:
    """One span per stretch of text. Known values go first, then higher scores, then longer spans;
    a span that overlaps those already taken keeps its uncovered parts, so nothing is left half-redacted."""
    ranked = sorted(
        results, key=lambda r: (not r.recognition_metadata.get("known_value"), -r.score, -(r.end - r.start), r.start)
    )
    kept: list[RecognizerResult] = []
    taken: list[tuple[int, int]] = []  # the stretches covered so far, sorted and disjoint
    for result in ranked:
        for start, end in _uncovered(result.start, result.end, taken):
            piece = result if (start, end) == (result.start, result.end) else copy.copy(result)
            piece.start, piece.end = start, end
            kept.append(piece)
            bisect.insort(taken, (start, end))
    return sorted(kept, key=lambda r: r.start)


def _uncovered(start: int, end: int, taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of [start, end) outside the sorted, disjoint stretches in `taken`."""
    pieces = []
    index = max(0, bisect.bisect_left(taken, (start, start)) - 1)
    for taken_start, taken_end in taken[index:]:
        if taken_start >= end:
            break
        if taken_end <= start:
            continue
        if taken_start > start:
            pieces.append((start, taken_start))
        start = max(start, taken_end)
    if start < end:
        pieces.append((start, end))
    return pieces


class Redactor:
    """Applies the configured operator per entity type."""

    def __init__(self, settings: RedactConfig, key: bytes) -> None:
        from presidio_anonymizer import AnonymizerEngine

        self.settings = settings
        self.key = key
        self._engine: Any = AnonymizerEngine()
        self._configs: dict[str, OperatorConfig] = {}

    def redact(self, text: str, results: list[RecognizerResult]) -> str:
        if not results:
            return text
        operators = {r.entity_type: self._config(r.entity_type) for r in results}
        return self._engine.anonymize(text=text, analyzer_results=results, operators=operators).text

    def _config(self, entity: str) -> OperatorConfig:
        if entity not in self._configs:
            self._configs[entity] = self._build_config(entity, self.settings.operator(entity))
        return self._configs[entity]

    def _build_config(self, entity: str, operator: str) -> OperatorConfig:
        from presidio_anonymizer.entities import OperatorConfig

        if operator == "pseudonymize":
            return OperatorConfig(
                "custom", {"lambda": lambda value: f"<{entity}_{keyed_digest(self.key, entity, value)[:8]}>"}
            )
        if operator == "hash":
            return OperatorConfig(
                "custom", {"lambda": lambda value: f"<{entity}:{keyed_digest(self.key, entity, value)[:16]}>"}
            )
        if operator == "mask":
            return OperatorConfig("custom", {"lambda": lambda value: re.sub(r"[^\W_]", "*", value)})
        return OperatorConfig("replace", {"new_value": f"<{entity}>"})
