"""The base of the project's recognizers that read the text with rules (patterns, cues, a lexicon), not a model."""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer, RecognizerResult


class RuleRecognizer(EntityRecognizer):
    """An EntityRecognizer with nothing to load, whose results name it (as Presidio's context step needs)."""

    def __init__(self, entities: list[str], name: str, supported_language: str = "en") -> None:
        super().__init__(supported_entities=entities, supported_language=supported_language, name=name)

    def load(self) -> None:
        return None

    def result(self, entity: str, start: int, end: int, score: float) -> RecognizerResult:
        return RecognizerResult(
            entity,
            start,
            end,
            score,
            recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
            },
        )
