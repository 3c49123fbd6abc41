"""The redact stage's throughput and memory against worker count and input size.

`python bench/scale.py [--rows 10000,50000] [--workers 1,2] [--shard-rows 200] [--executor local] [--json PATH]`

1. Data. One seeded stream of support tickets from the bundled sample
   generator (`pipeline.sample_data.generate`: Faker customers, tickets whose
   subject and description carry names, e-mails, phones, cards, account
   numbers, dates and addresses), with unique ticket ids `TCK-0000001`, ...
   and none of the sample's planted flaws. Each size is a prefix of that
   stream (the largest is generated, the others are its first rows), written
   as a CSV with its own config per worker count: the columns of
   tests/orchestration/tiny.py and `redact: {workers: W, shard_rows: S,
   demo_key_if_unset: true}`, `curate: {languages: []}`. Generating is not
   timed.
2. Ingest, once per size, not timed: `python -m pipeline run --to ingest`.
3. Redact, once per (size, workers), each in a fresh process (this script
   with `--measure`), which imports the CLI and then times
   `pipeline.__main__.main(["stage", "redact", ..., "--force", "--executor", E])`.
   The timed call includes starting the workers and loading their engines
   (once per worker), as a real run does. Recorded:
   - wall seconds of that call, and rows/s = rows redacted / wall;
   - CPU seconds: the process (all threads, less the sampling thread) plus
     its finished child processes (`RUSAGE_CHILDREN`; the pool has exited
     when the stage returns);
   - parent peak RSS: VmHWM of the measuring process at the end;
   - largest worker peak RSS: the highest VmHWM of its worker processes
     (spawned pool processes, or Ray workers; not the resource tracker nor
     Ray's own processes), read from /proc every `--sample-s` seconds while
     the stage runs. With 1 worker the stage redacts in the parent and there
     is no worker. With `--executor ray` on a cluster ($RAY_ADDRESS) the
     actors run elsewhere, and CPU s and worker RSS miss them. Not `ru_maxrss`: a
     child's `ru_maxrss` starts from its parent's peak, because Linux keeps
     the high-water mark across fork and exec (see bench/README.md, dedup);
     the children's `ru_maxrss` is kept in the JSON for comparison;
   - others %: the share of the machine's CPU time other processes used
     meanwhile (/proc/stat), so figures taken on a busy machine show it;
   - the stage's stats from the run directory's manifest.json
     (`stages.redact.stats`): total, kept, quarantined. total must equal the
     rows ingest kept, or the measurement counts as failed.
4. Prints one row per (size, workers): speed-up is wall at the smallest
   worker count / wall, at the same size. Then, per worker count, the ratio
   of peak RSS at the largest size to the smallest: memory bounded by shard
   size gives about 1.0, memory growing with the input about the size ratio.

Exit status: 0 when every measurement finished with total == rows ingested,
1 otherwise. `--executor ray` needs the `ray` package.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.machine import busy_cpu_seconds, children_cpu_seconds  # noqa: E402

# the columns of tests/orchestration/tiny.py, on the generator's header
COLUMNS = {
    "id": "Ticket ID",
    "text": ["Subject", "Description"],
    "label": "Category",
    "protected": ["Gender", "Age Band"],
    "identifier": ["Customer Name", "Customer Email", "Customer Phone"],
    "group": "Customer ID",
}
TICKETS_PER_CUSTOMER = 3  # about the bundled sample's mean
# how a worker's command line starts or reads: a spawned pool process, or a Ray worker (its process title, or its
# command before Ray sets the title); anything else below the stage's process (resource tracker, raylet) is not a worker
WORKER_MARKERS = ("multiprocessing.spawn", "ray::", "default_worker.py")


# --- data -------------------------------------------------------------------------------------------------------


def write_datasets(sizes: list[int], seed: int, folder: Path) -> dict[int, Path]:
    """One CSV per size, each the first `size` rows of one seeded ticket stream; {size: path}."""
    from pipeline.sample_data import generate as gen

    rng = random.Random(seed)
    fakers = gen.make_fakers(seed)
    customers = [gen.make_customer(rng, fakers, i + 1) for i in range(max(1, max(sizes) // TICKETS_PER_CUSTOMER))]
    paths = {size: folder / f"rows-{size}" / "data.csv" for size in sizes}
    handles = {}
    try:
        for size, path in paths.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            handles[size] = path.open("w", newline="", encoding="utf-8")
        writers = {size: csv.writer(handle) for size, handle in handles.items()}
        for writer in writers.values():
            writer.writerow(gen.HEADER)
        for index in range(max(sizes)):
            ticket = gen.make_ticket(rng, fakers, rng.choice(customers))
            ticket.tid = f"TCK-{index + 1:07d}"
            fields = gen.ticket_fields(rng, ticket)
            for size, writer in writers.items():
                if index < size:
                    writer.writerow(fields)
    finally:
        for handle in handles.values():
            handle.close()
    return paths


def write_config(data: Path, workers: int, shard_rows: int) -> Path:
    """A config beside the CSV (its source path is relative to the config) with these redact settings."""
    import yaml

    config = {
        "run_name": data.parent.name,
        "sources": [{"path": data.name, "columns": COLUMNS}],
        "redact": {"workers": workers, "shard_rows": shard_rows, "demo_key_if_unset": True},
        "curate": {"languages": []},
    }
    path = data.with_name(f"config-w{workers}.yaml")
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


# --- measuring (in the fresh process) ---------------------------------------------------------------------------


def _vm_hwm_mb(pid: int | str) -> float | None:
    """VmHWM of a process in MiB; None when it has gone or /proc is missing."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _descendants(root: int) -> list[int]:
    """Every live process below `root`, from the parent ids in /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class ChildPeaks:
    """Highest VmHWM seen for each process below this one, and its latest command line, sampled every `interval` s in a thread."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.peaks: dict[int, float] = {}
        self.commands: dict[int, str] = {}
        self.cpu_s = 0.0  # the sampling thread's own CPU time, taken out of the measured CPU
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        own = os.getpid()
        while True:
            self._sample(own)
            if self._stop.wait(self.interval):
                break
        self.cpu_s = time.thread_time()

    def _sample(self, own: int) -> None:
        for pid in _descendants(own):
            self.commands[pid] = _cmdline(pid) or self.commands.get(pid, "")
            hwm = _vm_hwm_mb(pid)
            if hwm is not None:
                self.peaks[pid] = max(hwm, self.peaks.get(pid, 0.0))

    def workers(self) -> dict[int, float]:
        """Peak MiB per worker process seen."""
        return {
            pid: mb for pid, mb in self.peaks.items() if any(m in self.commands.get(pid, "") for m in WORKER_MARKERS)
        }

    def others(self) -> list[dict[str, Any]]:
        """The other processes seen below this one (resource tracker, Ray's own), with their peak MiB."""
        workers = self.workers()
        return [
            {"pid": pid, "command": self.commands.get(pid, "")[:120], "peak_rss_mb": mb}
            for pid, mb in sorted(self.peaks.items())
            if pid not in workers
        ]


def measure_stage(config: Path, run_dir: Path, executor: str, sample_s: float) -> dict[str, Any]:
    """Run the redact stage through the CLI in this process; its timings and peak memory."""
    from pipeline.__main__ import main as pipeline_main  # imported before timing

    argv = ["stage", "redact", "--config", str(config), "--run-dir", str(run_dir), "--force", "--executor", executor]
    peaks = ChildPeaks(sample_s)
    busy, cpu, children = busy_cpu_seconds(), time.process_time(), children_cpu_seconds()
    peaks.start()
    wall = time.perf_counter()
    status = pipeline_main(argv)
    wall = time.perf_counter() - wall
    peaks.stop()
    cpu_self = time.process_time() - cpu - peaks.cpu_s
    cpu_children = children_cpu_seconds() - children
    busy_end = busy_cpu_seconds()
    cores = os.cpu_count() or 1
    others = (
        None
        if busy is None or busy_end is None
        else max(0.0, busy_end - busy - cpu_self - cpu_children) / (wall * cores)
    )
    workers = peaks.workers()
    return {
        "status": status,
        "wall_s": wall,
        "cpu_s": cpu_self + cpu_children,
        "cpu_self_s": cpu_self,
        "cpu_children_s": cpu_children,
        "sampler_cpu_s": peaks.cpu_s,
        "others_share": others,
        "parent_peak_rss_mb": _vm_hwm_mb("self"),
        "worker_peak_rss_mb": max(workers.values()) if workers else None,
        "worker_peaks_rss_mb": sorted(workers.values(), reverse=True),
        "other_child_processes": peaks.others(),
        "children_ru_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


# --- running (in this process) ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    rows: int
    workers: int
    config: Path
    run_dir: Path


def _run_logged(cmd: list[str], log: Path) -> int:
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"$ {' '.join(cmd)}\n")
        handle.flush()
        return subprocess.run(cmd, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT).returncode


def _tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def _manifest(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))


def ingest(config: Path, run_dir: Path, log: Path) -> dict[str, Any]:
    """`python -m pipeline run --to ingest` (not timed); the ingest stage's stats."""
    status = _run_logged(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "--config",
            str(config),
            "--run-dir",
            str(run_dir),
            "--to",
            "ingest",
        ],
        log,
    )
    if status != 0:
        raise SystemExit(f"ingest failed with status {status}; the end of {log}:\n{_tail(log)}")
    return _manifest(run_dir)["stages"]["ingest"]["stats"]


def measure(case: Case, executor: str, sample_s: float, ingested: int, log: Path) -> dict[str, Any]:
    """The redact stage of one case in a fresh process (this script with --measure), with the manifest's stats."""
    out = case.run_dir.parent / f"measure-w{case.workers}.json"
    out.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--measure",
        str(case.config),
        "--run-dir",
        str(case.run_dir),
        "--executor",
        executor,
        "--sample-s",
        str(sample_s),
        "--out",
        str(out),
    ]
    wall = time.perf_counter()
    status = _run_logged(cmd, log)
    result: dict[str, Any] = {"rows": case.rows, "workers": case.workers, "process_wall_s": time.perf_counter() - wall}
    if status != 0 or not out.exists():
        return {**result, "failed": f"measuring process exited with status {status}; the end of {log}:\n{_tail(log)}"}
    result.update(json.loads(out.read_text(encoding="utf-8")))
    if result["status"] != 0:
        return {
            **result,
            "failed": f"the stage exited with status {result['status']}; the end of {log}:\n{_tail(log)}",
        }
    entry = _manifest(case.run_dir)["stages"]["redact"]
    stats = entry["stats"]
    result.update(
        total=stats["total"],
        kept=stats["kept"],
        quarantined=stats["quarantined"],
        quarantined_by_reason=stats.get("quarantined_by_reason", {}),
        stage_duration_s=entry.get("duration_s"),
        ingested=ingested,
    )
    result["rows_per_s"] = stats["total"] / result["wall_s"] if result["wall_s"] > 0 else float("nan")
    if stats["total"] != ingested:
        result["failed"] = f"redact total {stats['total']} != {ingested} rows ingested"
    return result


# --- output -----------------------------------------------------------------------------------------------------


def _num(value: float | None, width: int, digits: int = 0) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def format_table(results: list[dict[str, Any]]) -> str:
    """One line per measurement; speed-up against the smallest worker count at the same size."""
    ok = [r for r in results if "failed" not in r]
    base = {}
    for r in ok:
        if r["rows"] not in base or r["workers"] < base[r["rows"]]["workers"]:
            base[r["rows"]] = r
    head = (
        f"{'rows':>7} {'workers':>7} {'wall s':>8} {'rows/s':>8} {'speed-up':>8} {'CPU s':>8} "
        f"{'parent RSS MiB':>14} {'worker RSS MiB':>14} {'quarant.':>8} {'others %':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        if "failed" in r:
            lines.append(f"{r['rows']:>7} {r['workers']:>7}  FAILED: {r['failed'].splitlines()[0]}")
            continue
        others = None if r["others_share"] is None else 100 * r["others_share"]
        lines.append(
            f"{r['rows']:>7} {r['workers']:>7} {r['wall_s']:>8.1f} {r['rows_per_s']:>8.1f} "
            f"{base[r['rows']]['wall_s'] / r['wall_s']:>8.2f} {r['cpu_s']:>8.1f} "
            f"{_num(r['parent_peak_rss_mb'], 14)} {_num(r['worker_peak_rss_mb'], 14)} {r['quarantined']:>8} {_num(others, 8)}"
        )
    return "\n".join(lines)


def memory_ratios(results: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Per worker count: peak RSS (parent, largest worker) at the largest size over the smallest."""
    ratios: dict[int, dict[str, Any]] = {}
    for workers in sorted({r["workers"] for r in results}):
        done = sorted((r for r in results if r["workers"] == workers and "failed" not in r), key=lambda r: r["rows"])
        if len(done) < 2 or done[0]["rows"] == done[-1]["rows"]:
            continue
        small, large = done[0], done[-1]
        entry: dict[str, Any] = {"small_rows": small["rows"], "large_rows": large["rows"]}
        for key in ("parent_peak_rss_mb", "worker_peak_rss_mb"):
            entry[key] = large[key] / small[key] if large[key] and small[key] else None
        ratios[workers] = entry
    return ratios


def format_ratios(ratios: dict[int, dict[str, Any]]) -> str:
    lines = []
    for workers, r in ratios.items():
        parts = [
            f"{name} x{r[key]:.2f}"
            for name, key in (("parent", "parent_peak_rss_mb"), ("largest worker", "worker_peak_rss_mb"))
            if r[key] is not None
        ]
        lines.append(
            f"  {workers} worker(s): {', '.join(parts)}  ({r['large_rows']} rows vs {r['small_rows']}; "
            f"input x{r['large_rows'] / r['small_rows']:.1f})"
        )
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from error
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Throughput (rows/s), CPU and peak RSS of the redact stage for each worker count and input size, "
        "each measured in a fresh process; and whether memory follows shard size rather than input size."
    )
    parser.add_argument(
        "--rows",
        type=_int_list,
        default=[10000, 50000],
        help="input sizes (default 10000,50000; e.g. 300,600 for a quick check)",
    )
    parser.add_argument("--workers", type=_int_list, default=[1, 2], help="redact.workers values (default 1,2)")
    parser.add_argument("--shard-rows", type=int, default=200, help="redact.shard_rows (default 200)")
    parser.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="passed to the stage (default local; ray needs the ray package)",
    )
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument(
        "--sample-s", type=float, default=0.5, help="how often worker memory is read from /proc (default 0.5 s)"
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="keep data, configs, run directories and logs here (default: a temporary folder, removed)",
    )
    parser.add_argument("--json", type=Path, help="also write the settings and measurements to this file")
    parser.add_argument(
        "--measure", type=Path, metavar="CONFIG", help=argparse.SUPPRESS
    )  # internal: the measuring process
    parser.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return parser


def run_all(args: argparse.Namespace, folder: Path) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
    """Generate, ingest each size, then measure every (size, workers); the measurements and ingest stats per size."""
    started = time.perf_counter()
    data = write_datasets(args.rows, args.seed, folder)
    print(
        f"generated {max(args.rows)} rows (seed {args.seed}) in {time.perf_counter() - started:.1f}s, not timed",
        file=sys.stderr,
        flush=True,
    )
    log = folder / "runs.log"
    results: list[dict[str, Any]] = []
    ingested: dict[int, dict[str, Any]] = {}
    for rows in args.rows:
        configs = {w: write_config(data[rows], w, args.shard_rows) for w in args.workers}
        run_dir = data[rows].parent / "run"
        ingested[rows] = ingest(configs[args.workers[0]], run_dir, log)
        print(
            f"ingested {rows} rows: kept {ingested[rows]['kept']}, quarantined {ingested[rows]['quarantined']}",
            file=sys.stderr,
            flush=True,
        )
        for workers in args.workers:
            print(
                f"measuring redact: {rows} rows, {workers} worker(s), executor {args.executor} ...",
                file=sys.stderr,
                flush=True,
            )
            result = measure(
                Case(rows, workers, configs[workers], run_dir),
                args.executor,
                args.sample_s,
                ingested[rows]["kept"],
                log,
            )
            if "failed" in result:
                print(f"  FAILED: {result['failed']}", file=sys.stderr, flush=True)
            else:
                worker = "none" if result["worker_peak_rss_mb"] is None else f"{result['worker_peak_rss_mb']:.0f} MiB"
                print(
                    f"  {result['wall_s']:.1f}s, {result['rows_per_s']:.1f} rows/s, parent {result['parent_peak_rss_mb']:.0f} MiB, "
                    f"largest worker {worker}",
                    file=sys.stderr,
                    flush=True,
                )
            results.append(result)
    return results, ingested


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.measure:
        args.out.write_text(
            json.dumps(measure_stage(args.measure, args.run_dir, args.executor, args.sample_s)), encoding="utf-8"
        )
        return 0
    if args.executor == "ray" and importlib.util.find_spec("ray") is None:
        print(
            "error: --executor ray needs the ray package, which is not installed in this environment: "
            "install the project's [ray] extra (pip install -e '.[ray]'), or use --executor local",
            file=sys.stderr,
        )
        return 2

    started = time.perf_counter()
    if args.work_dir:
        args.work_dir.mkdir(parents=True, exist_ok=True)
    folder = args.work_dir.resolve() if args.work_dir else Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        results, ingested = run_all(args, folder)
    finally:
        if not args.work_dir:
            shutil.rmtree(folder, ignore_errors=True)

    print(
        f"\nredact stage, shard_rows {args.shard_rows}, executor {args.executor}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(format_table(results))
    print(
        "wall s: the stage call in a fresh process, worker start and engine loading included; rows/s = rows redacted / wall; "
        "speed-up: wall at the smallest worker count / wall, same size; CPU s: the process + its finished workers; "
        "RSS: peak (VmHWM) of the process running the stage / of its largest worker (- : none, the stage ran in the process); "
        "others %: share of the machine's CPU other processes used meanwhile"
    )
    ratios = memory_ratios(results)
    if ratios:
        print(
            "\npeak RSS, largest size / smallest (about 1.0: bounded by shard size; about the input ratio: grows with the input):"
        )
        print(format_ratios(ratios))
    failed = [r for r in results if "failed" in r]
    print(
        f"\ntotal {time.perf_counter() - started:.0f}s" + (f"; {len(failed)} measurement(s) FAILED" if failed else "")
    )
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k not in ("measure", "run_dir", "out", "json", "work_dir")}
        args.json.write_text(
            json.dumps(
                {
                    "settings": settings,
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "ingest": ingested,
                    "results": results,
                    "memory_ratios": {str(k): v for k, v in ratios.items()},
                },
                indent=2,
            ),
            encoding="utf-8",
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
