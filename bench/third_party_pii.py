"""Per-entity precision/recall on third-party labelled PII data: Presidio defaults vs the project's detector.

`python bench/third_party_pii.py [--data PATH] [--show-misses N]`

Data: the first 162 records of presidio-research's `data/synth_dataset_v2.json`
(synthetic, template-generated sentences with character spans; provenance in
bench/data/PROVENANCE.md), stored compactly in
`bench/data/presidio_research_synth_v2_head162.json` as
`{"full_text", "spans": [[entity_type, start, end, value], ...], "template_id"}`.
The loader checks `full_text[start:end] == value` for every span.

Label mapping onto Presidio's entities (ENTITY_MAP):
    PERSON -> PERSON            EMAIL_ADDRESS -> EMAIL_ADDRESS
    PHONE_NUMBER -> PHONE_NUMBER CREDIT_CARD -> CREDIT_CARD
    US_SSN -> US_SSN            IBAN_CODE -> IBAN_CODE
    IP_ADDRESS -> IP_ADDRESS    DATE_TIME -> DATE_TIME
    GPE -> LOCATION             STREET_ADDRESS -> LOCATION
        (bench/pii_data.py labels cities, countries and whole street
        addresses LOCATION, and so does Presidio's spaCy mapping)
    DOMAIN_NAME -> URL          (Presidio's UrlRecognizer; scored in an extra row,
                                 as URL is not one of bench/pii_data.ENTITIES)
    US_DRIVER_LICENSE -> US_DRIVER_LICENSE (extra row; not in the project's
                                 default entity list, so the detector never reports it)
Dropped (no counterpart among the scored Presidio entities): ORGANIZATION
(Presidio's default NLP configuration ignores it), TITLE, AGE, ZIP_CODE, NRP.
Predictions overlapping a dropped span count as false positives, as anywhere
else.

Scoring is `bench/pii_eval.score` (overlap match with the same entity type;
P=/R= exact span) for the entities of `bench/pii_data.ENTITIES`; URL and
US_DRIVER_LICENSE rows use the same overlap rule. Presidio defaults are read
at score >= 0.5 and at any score; the detector applies its own thresholds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
for _path in (str(BENCH_DIR), str(BENCH_DIR.parent)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from pii_data import ENTITIES, LabelledText, Span  # noqa: E402
from pii_eval import (  # noqa: E402
    ALIASES,
    SPACY_MODEL,
    Metrics,
    build_presidio_engine,
    describe_predictions,
    format_table,
    load_detector,
    run_presidio,
    score,
    to_spans,
)

DATA_PATH = BENCH_DIR / "data" / "presidio_research_synth_v2_head162.json"
ENTITY_MAP: dict[str, str] = {
    "PERSON": "PERSON",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "CREDIT_CARD": "CREDIT_CARD",
    "US_SSN": "US_SSN",
    "IBAN_CODE": "IBAN_CODE",
    "IP_ADDRESS": "IP_ADDRESS",
    "DATE_TIME": "DATE_TIME",
    "GPE": "LOCATION",
    "STREET_ADDRESS": "LOCATION",
    "DOMAIN_NAME": "URL",
    "US_DRIVER_LICENSE": "US_DRIVER_LICENSE",
}
DROPPED = ("ORGANIZATION", "TITLE", "AGE", "ZIP_CODE", "NRP")
EXTRA_ENTITIES = ("URL", "US_DRIVER_LICENSE")  # mapped, but outside pii_data.ENTITIES: own rows
THRESHOLD = 0.5


def load_dataset(path: Path = DATA_PATH) -> tuple[list[LabelledText], list[list[Span]], dict[str, int]]:
    """Gold for `pii_eval.score` (ENTITIES only), gold spans of EXTRA_ENTITIES, and counts of dropped labels."""
    records = json.loads(path.read_text(encoding="utf-8"))
    gold, extra, dropped = [], [], {}
    for i, record in enumerate(records):
        text = record["full_text"]
        scored, other = [], []
        for label, start, end, value in record["spans"]:
            if text[start:end] != value:
                raise ValueError(f"record {i}: text[{start}:{end}] is {text[start:end]!r}, not {value!r}")
            entity = ENTITY_MAP.get(label)
            if entity is None:
                if label not in DROPPED:
                    raise ValueError(f"record {i}: unmapped label {label}")
                dropped[label] = dropped.get(label, 0) + 1
            elif entity in ENTITIES:
                scored.append((start, end, entity))
            else:
                other.append((start, end, entity))
        gold.append(LabelledText(text, sorted(scored)))
        extra.append(sorted(other))
    return gold, extra, dropped


def extra_rows(predicted: Sequence[Sequence[Span]], extra_gold: Sequence[Sequence[Span]]) -> dict[str, Metrics]:
    """Overlap P/R (same rule as pii_eval.score) for the entities outside pii_data.ENTITIES."""
    rows = {}
    for entity in EXTRA_ENTITIES:
        preds = [[p for p in ps if ALIASES.get(p[2], p[2]) == entity] for ps in predicted]
        golds = [[g for g in gs if g[2] == entity] for gs in extra_gold]
        n_pred = sum(map(len, preds))
        tp = sum(any(p[0] < g[1] and g[0] < p[1] for g in gs) for ps, gs in zip(preds, golds, strict=True) for p in ps)
        support = sum(map(len, golds))
        found = sum(
            any(p[0] < g[1] and g[0] < p[1] for p in ps) for ps, gs in zip(preds, golds, strict=True) for g in gs
        )
        exact_tp = sum(
            (p[0], p[1]) in {(g[0], g[1]) for g in gs} for ps, gs in zip(preds, golds, strict=True) for p in ps
        )
        exact_found = sum(
            (g[0], g[1]) in {(p[0], p[1]) for p in ps} for ps, gs in zip(preds, golds, strict=True) for g in gs
        )
        rows[entity] = {
            "precision": tp / n_pred if n_pred else None,
            "recall": found / support if support else None,
            "support": support,
            "exact_precision": exact_tp / n_pred if n_pred else None,
            "exact_recall": exact_found / support if support else None,
            "predicted": n_pred,
            "tp": tp,
            "fp": n_pred - tp,
            "fn": support - found,
        }
    return rows


def misses(name: str, predicted: Sequence[Sequence[Span]], gold: Sequence[LabelledText], limit: int) -> list[str]:
    """Gold spans with no same-type overlapping prediction, as printable lines (at most `limit`)."""
    lines = []
    for preds, item in zip(predicted, gold, strict=True):
        for g in item.spans:
            if not any(ALIASES.get(p[2], p[2]) == g[2] and p[0] < g[1] and g[0] < p[1] for p in preds):
                got = (
                    ", ".join(f"{t}[{s}:{e}]{item.text[s:e]!r}" for s, e, t in preds if s < g[1] and g[0] < e)
                    or "nothing there"
                )
                lines.append(f"  {name}: {g[2]} {item.text[g[0] : g[1]]!r} in {item.text[:90]!r} -> {got}")
    return lines[:limit]


def found_by_one_only(
    first: Sequence[Sequence[Span]],
    second: Sequence[Sequence[Span]],
    gold: Sequence[LabelledText],
    names: tuple[str, str] = ("presidio", "detector"),
) -> list[str]:
    """Gold spans `first` finds (same type, overlapping) and `second` does not, with what each returned there."""

    def hit(preds: Sequence[Span], g: Span) -> bool:
        return any(ALIASES.get(p[2], p[2]) == g[2] and p[0] < g[1] and g[0] < p[1] for p in preds)

    def near(preds: Sequence[Span], g: Span, text: str) -> str:
        return ", ".join(f"{t}[{s}:{e}]{text[s:e]!r}" for s, e, t in preds if s < g[1] and g[0] < e) or "nothing there"

    lines = []
    for p_preds, d_preds, item in zip(first, second, gold, strict=True):
        for g in item.spans:
            if hit(p_preds, g) and not hit(d_preds, g):
                lines.append(
                    f"  {g[2]} [{g[0]}:{g[1]}] {item.text[g[0] : g[1]]!r} in {item.text!r}\n"
                    f"      {names[0]}: {near(p_preds, g, item.text)}\n      {names[1]}: {near(d_preds, g, item.text)}"
                )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Presidio defaults vs the project's detector on presidio-research synthetic PII data."
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=DATA_PATH,
        help="dataset (default: bench/data/presidio_research_synth_v2_head162.json, not shipped: see bench/data/PROVENANCE.md)",
    )
    parser.add_argument("--model", default=SPACY_MODEL, help=f"spaCy model for Presidio (default {SPACY_MODEL})")
    parser.add_argument(
        "--show-misses",
        type=int,
        default=0,
        metavar="N",
        help="list up to N gold spans each system misses (non-PERSON/LOCATION first)",
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    if not args.data.is_file():
        print(
            f"{args.data} not found: it is not shipped (licence terms, see bench/data/PROVENANCE.md); recreate it and pass --data PATH",
            file=sys.stderr,
        )
        return 2
    gold, extra_gold, dropped = load_dataset(args.data)
    texts = [item.text for item in gold]
    n_scored = sum(len(i.spans) for i in gold)
    print(
        f"{len(gold)} records from {args.data.name}: {n_scored} gold spans scored"
        f" + {sum(map(len, extra_gold))} in extra rows; {sum(not i.spans and not e for i, e in zip(gold, extra_gold, strict=True))} records without mapped PII"
    )
    print("dropped labels: " + ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())))

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    engine = build_presidio_engine(args.model)
    timings["presidio build"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    presidio = run_presidio(engine, texts)
    timings["presidio analyze"] = time.perf_counter() - t0
    systems: dict[str, list[list[Span]]] = {
        f"Presidio >={THRESHOLD:g}": [to_spans(r, THRESHOLD) for r in presidio],
        "Presidio any": [to_spans(r) for r in presidio],
    }
    t0 = time.perf_counter()
    detector, message = load_detector()
    timings["detector build"] = time.perf_counter() - t0
    notes = []
    if detector is None:
        notes.append(message)
    else:
        t0 = time.perf_counter()
        systems["PiiDetector"] = [to_spans(r) for r in detector.analyze(texts)]
        timings["detector analyze"] = time.perf_counter() - t0

    results: dict[str, dict[str, Metrics]] = {}
    for name, spans in systems.items():
        table = score(spans, gold)
        rows = dict(table)
        all_any = {k: rows.pop(k) for k in ("ALL", "ANY")}
        rows.update(extra_rows(spans, extra_gold))
        rows.update(all_any)
        results[name] = rows
        notes.append(describe_predictions(name, spans, gold))

    print("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    print()
    print(
        "P/R: overlap match with the same entity type; P=/R=: exact span and type. ALL: micro over the "
        "pii_data.ENTITIES rows (URL, US_DRIVER_LICENSE not included); ANY: type-agnostic, every predicted span."
    )
    print(format_table(results))
    print()
    for note in notes:
        print(note)
    if "PiiDetector" in systems:
        lines = found_by_one_only(systems["Presidio any"], systems["PiiDetector"], gold)
        print(f"\nGold spans Presidio defaults find (any score) but the detector misses: {len(lines)}")
        print("\n".join(lines))
        lines = found_by_one_only(systems["PiiDetector"], systems["Presidio any"], gold, ("detector", "presidio"))
        print(f"\nGold spans the detector finds but Presidio defaults (any score) miss: {len(lines)}")
        print("\n".join(lines))
    if args.show_misses:
        for name, spans in systems.items():
            lines = misses(name, spans, gold, 10_000)
            lines.sort(key=lambda line: " PERSON " in line or " LOCATION " in line)
            print(f"\n{name}: {len(lines)} missed gold spans (first {args.show_misses}):")
            print("\n".join(lines[: args.show_misses]))
    print(f"\ntotal {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
