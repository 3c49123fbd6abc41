"""Privacy leakage of the trained model: membership inference and canaries, DP against non-DP.

`python bench/leakage.py [--run-dir DIR] [--settings eps1,eps8,nodp] [--epochs 3] [--canaries 50] [--json PATH]`

1. Data. The bundled sample (the packaged default config) through
   ingest..split once, into a temporary run directory
   (`python -m pipeline run --to split`, about a minute); or `--run-dir DIR`,
   a run directory whose split is already up to date for the same config
   (it is only read: every setting works on a copy without its train,
   evaluate and report outputs).
2. One run per setting (default: DP-SGD at target epsilon 1, at target
   epsilon 8, and without DP), each in a fresh process on its own copy of the
   run directory: the train stage, then the evaluate stage, exactly as
   `run_pipeline(config, run_dir, ["train"])` and `[... "evaluate"]` run
   them. Every setting gets the same `--epochs` (default 3, one more than the
   product default, so the non-DP model has the chance to memorise) and the
   same canaries (`train.canaries`: `--canaries` inserted, default 50, each
   `--canary-repeats` times, default 1, and as many held out; the canaries
   are made from the config's seed, so they are the same in every setting).
   Everything else is the product default, including the learning rate,
   which the product sets higher under DP than without; the table shows the
   rate each run used (`train/privacy_ledger.json`, `learning_rate`).
3. Figures, all from `evaluate/metrics.json` and the ledger: test accuracy;
   the loss-threshold membership attack on ordinary rows (up to
   `evaluate.membership_rows` training rows against as many test rows): AUC
   and TPR at 1% FPR; the same attack on the canaries (inserted against held
   out): AUC; and the empirical epsilon lower bound the evaluate stage
   derives from the canary attack (Jagielski et al. 2020, 95% confidence,
   threshold picked on one half of the canaries, error rates measured on the
   other); epsilon claimed is the ledger's `epsilon_spent`. An AUC is printed
   with its Hanley-McNeil standard error, for scale.

Targets (the issue's acceptance): (a) the membership AUC of the non-DP run is
visibly above that of the DP run at epsilon 1 on the same data with planted
canaries: on the canaries by at least 0.1 (about two standard errors with 50
canaries each side), and on the ordinary rows by any positive difference
(printed with its standard error: the sample's rows are many, so a
difference there is small but measurable); (b) for every DP run the empirical
epsilon lower bound stays at or below the claimed epsilon (times
`--canary-repeats`, since DP protects a record repeated k times only at k
times epsilon); (c) the non-DP run's lower bound is measured and printed (it
may exceed 1: that is what DP at epsilon 1 rules out). With 25 canaries
each side in the measuring half, the bound cannot exceed about 1.8 whatever
the model does, so a run that "only" reaches that ceiling has leaked as much
as 50 canaries can show.

The machine may be shared: for every run the script prints the share of the
machine's CPU time that other processes used meanwhile (from /proc/stat).

Exit status: 0 when every target passes, 1 when one fails or a run fails.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# bench/ is not a package, but with the repository root on sys.path it imports as a namespace package
from bench.train import MachineShare, _config, _peak_rss_mib, _quiet_libraries, code_version, finish, prepare_data  # noqa: E402

CANARY_AUC_MARGIN = 0.1  # "visibly above" on the canaries: non-DP canary AUC at least this much above DP epsilon 1
ROWS_AUC_MARGIN = 0.0  # on the ordinary rows: any positive difference (printed with its standard error)
DEFAULT_SETTINGS = "eps1,eps8,nodp"


# --------------------------------------------------------------------------- helpers


def parse_setting(name: str) -> tuple[str, float | None]:
    """'nodp' -> ('no DP', None); 'eps1' / 'eps0.5' -> ('eps 1', 1.0)."""
    key = name.strip().lower()
    if key in ("nodp", "no-dp", "none"):
        return "no DP", None
    if key.startswith("eps"):
        try:
            epsilon = float(key[3:])
        except ValueError:
            epsilon = -1.0
        if epsilon > 0:
            return f"eps {epsilon:g}", epsilon
    raise SystemExit(f"--settings: unknown setting {name!r}; use nodp or eps<target epsilon>, e.g. eps1,eps8,nodp")


def auc_se(auc: float | None, members: int, nonmembers: int) -> float:
    """Hanley-McNeil (1982) standard error of an ROC AUC."""
    if auc is None or members < 1 or nonmembers < 1:
        return float("nan")
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (members - 1) * (q1 - auc * auc) + (nonmembers - 1) * (q2 - auc * auc)) / (
        members * nonmembers
    )
    return math.sqrt(max(variance, 0.0))


def _copy_split(source: Path, target: Path) -> None:
    """The run directory without the outputs of train and the stages after it (a reused finished run has them)."""
    shutil.copytree(
        source,
        target,
        ignore=lambda folder, names: ["train", "evaluate", "report", ".lock"] if Path(folder) == source else [],
    )


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


# --------------------------------------------------------------------------- one setting (child process)


def train_and_evaluate(
    config_path: str | None, run_dir: Path, epochs: int, epsilon: float | None, canaries: int, repeats: int
) -> dict[str, Any]:
    """The train stage then the evaluate stage on `run_dir` (a copy); the figures of evaluate/metrics.json and the ledger."""
    from pipeline.artifacts import RunDir
    from pipeline.config import CanaryConfig
    from pipeline.stage import run_pipeline

    train: dict[str, Any] = {
        "epochs": epochs,
        "dp": epsilon is not None,
        "canaries": CanaryConfig(count=canaries, repeats=repeats),
    }
    if epsilon is not None:
        train["target_epsilon"] = epsilon
    config = _config(config_path, **train)
    share = MachineShare()
    manifest = run_pipeline(config, RunDir(run_dir), ["train"])
    train_machine = share.stop()
    train_peak = _peak_rss_mib()
    share.start()
    manifest = run_pipeline(config, RunDir(run_dir), ["evaluate"])
    evaluate_machine = share.stop()
    ledger = json.loads((run_dir / "train" / "privacy_ledger.json").read_text(encoding="utf-8"))
    metrics = json.loads((run_dir / "evaluate" / "metrics.json").read_text(encoding="utf-8"))
    membership = {k: v for k, v in metrics["membership"].items() if k != "roc"}
    utility = metrics.get("utility") or {}
    return {
        "epsilon_target": epsilon,
        "dp": ledger["dp"],
        "learning_rate": ledger["learning_rate"],
        "epsilon_spent": ledger["epsilon_spent"],
        "delta": ledger["delta"],
        "noise_multiplier": ledger["noise_multiplier"],
        "steps": ledger["steps"],
        "epochs_run": ledger["epochs_run"],
        "training_rows": ledger["training_rows"],
        "ledger_canaries": ledger.get("canaries"),
        "train_s": manifest["stages"]["train"]["duration_s"],
        "evaluate_s": manifest["stages"]["evaluate"]["duration_s"],
        "train_peak_rss_mib": train_peak,
        "others_share": train_machine["others_share"],
        "others_share_evaluate": evaluate_machine["others_share"],
        "test_accuracy": utility.get("accuracy"),
        "test_macro_f1": utility.get("macro_f1"),
        "majority_baseline": utility.get("majority_baseline"),
        "membership": membership,
        "canaries": metrics.get("canaries"),
        "privacy_claim": metrics.get("privacy_claim"),
    }


# --------------------------------------------------------------------------- orchestration


def _child(args: argparse.Namespace, out: Path, run_dir: Path, epsilon: float | None) -> dict[str, Any] | None:
    """Run this script in a fresh process for one setting; its result comes back through a JSON file."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--_child",
        "run",
        "--_out",
        str(out),
        "--_run-dir",
        str(run_dir),
        "--epochs",
        str(args.epochs),
        "--canaries",
        str(args.canaries),
        "--canary-repeats",
        str(args.canary_repeats),
    ]
    if args.config:
        command += ["--config", args.config]
    if epsilon is not None:
        command += ["--_epsilon", repr(epsilon)]
    done = subprocess.run(command, cwd=REPO, check=False)
    if done.returncode != 0 or not out.is_file():
        print(f"  !! measuring process failed (exit {done.returncode}): {' '.join(command)}", flush=True)
        return None
    return json.loads(out.read_text(encoding="utf-8"))


def run_settings(args: argparse.Namespace, work: Path, run_dir: Path) -> dict[str, Any]:
    settings = [parse_setting(name) for name in args.settings.split(",") if name.strip()]
    results: dict[str, Any] = {}
    failed = False
    for name, epsilon in settings:
        tag = name.replace(" ", "")
        copy = work / f"run-{tag}"
        shutil.rmtree(copy, ignore_errors=True)  # a --keep folder from an earlier run
        _copy_split(run_dir, copy)
        print(
            f"{name}: train ({args.epochs} epoch(s), {args.canaries} canaries x{args.canary_repeats}) then evaluate, "
            f"fresh process on {copy} ...",
            flush=True,
        )
        started = time.perf_counter()
        result = _child(args, work / f"run-{tag}.json", copy, epsilon)
        results[name] = result
        if result is None:
            failed = True
        else:
            canary = result["canaries"] or {}
            bound = (canary.get("empirical_epsilon") or {}).get("epsilon_lower_bound")
            print(
                f"  {time.perf_counter() - started:.0f} s: epsilon spent {result['epsilon_spent']}, test accuracy {_fmt(result['test_accuracy'], '.4f')}, "
                f"membership AUC {_fmt(result['membership']['auc'])}, canary AUC {_fmt((canary.get('attack') or {}).get('auc'))}, "
                f"empirical epsilon >= {_fmt(bound)}",
                flush=True,
            )
        if not args.keep:
            shutil.rmtree(copy, ignore_errors=True)
    return {"runs": results, "failed": failed}


def print_results(runs: dict[str, Any], repeats: int) -> list[tuple[bool, str]]:
    print()
    any_run = next((r for r in runs.values() if r is not None), None)
    if any_run is not None:
        m = any_run["membership"]
        c = any_run["canaries"] or {}
        print(
            f"leakage on the same data and canaries: membership attack {m['members']} training rows vs {m['nonmembers']} test rows; "
            f"canaries {c.get('inserted')} inserted ({c.get('copies_each')} cop{'y' if c.get('copies_each') == 1 else 'ies'} each) vs "
            f"{c.get('held_out')} held out; product defaults except epochs, DP and target epsilon:"
        )
    header = (
        f"{'setting':<9} {'lr':>6} {'eps claim':>9} {'steps':>5} {'test acc':>8} {'MIA AUC':>7} {'+-se':>5} {'TPR@1%':>6} "
        f"{'can AUC':>7} {'+-se':>5} {'emp eps':>7} {'train s':>7} {'eval s':>6} {'others':>6}"
    )
    print(header)
    print("-" * len(header))
    for name, r in runs.items():
        if r is None:
            print(f"{name:<9} failed")
            continue
        m = r["membership"]
        c = r["canaries"] or {}
        attack = c.get("attack") or {}
        low = (m.get("tpr_at_fpr") or {}).get("0.01") or {}
        tpr = f"{low['tpr']:.3f}{'*' if low.get('below_resolution') else ''}" if low else "-"
        bound = (c.get("empirical_epsilon") or {}).get("epsilon_lower_bound")
        print(
            f"{name:<9} {r['learning_rate']:>6g} {_fmt(r['epsilon_spent']):>9} {r['steps']:>5} {_fmt(r['test_accuracy'], '.4f'):>8} "
            f"{_fmt(m['auc']):>7} {_fmt(auc_se(m['auc'], m['members'], m['nonmembers'])):>5} {tpr:>6} "
            f"{_fmt(attack.get('auc')):>7} {_fmt(auc_se(attack.get('auc'), attack.get('members', 0), attack.get('nonmembers', 0))):>5} "
            f"{_fmt(bound):>7} {r['train_s']:>7.0f} {r['evaluate_s']:>6.0f} {100 * r['others_share']:>5.0f}%"
        )
    print(
        "(lr: the learning rate the run used (ledger); eps claim: the ledger's epsilon_spent, '-' without DP; MIA AUC: loss-threshold "
        "membership attack, training rows vs test rows, 0.5 is chance; +-se: Hanley-McNeil standard error; TPR@1%: its true-positive "
        "rate at 1% false positives ('*': below the resolution the non-members allow); can AUC: the same attack, inserted vs held-out "
        "canaries; emp eps: the empirical epsilon lower bound from the canary attack, 95% confidence; train s, eval s: the stages' "
        "durations; others: share of the machine's CPU other processes used during training)"
    )

    checks: list[tuple[bool, str]] = []
    nodp = runs.get("no DP")
    one = next((r for r in runs.values() if r is not None and r["dp"] and r["epsilon_target"] == 1.0), None)
    if nodp is not None and one is not None:
        for what, key, margin in (
            ("canaries", "canaries", CANARY_AUC_MARGIN),
            ("ordinary rows", "membership", ROWS_AUC_MARGIN),
        ):
            a = (nodp[key] or {}).get("attack") if key == "canaries" else nodp[key]
            b = (one[key] or {}).get("attack") if key == "canaries" else one[key]
            if not a or not b or a.get("auc") is None or b.get("auc") is None:
                checks.append((False, f"membership AUC on the {what}: not measured"))
                continue
            diff = a["auc"] - b["auc"]
            se = math.hypot(
                auc_se(a["auc"], a["members"], a["nonmembers"]), auc_se(b["auc"], b["members"], b["nonmembers"])
            )
            rule = f"by at least {margin:g}" if margin > 0 else "by any positive difference"
            ok = diff >= margin if margin > 0 else diff > 0
            checks.append(
                (
                    ok,
                    f"membership AUC on the {what} ({a['members']} vs {a['nonmembers']}): non-DP above DP epsilon 1 {rule}: "
                    f"{a['auc']:.3f} vs {b['auc']:.3f} ({diff:+.3f}, standard error of the difference ~{se:.3f})",
                )
            )
    else:
        checks.append(
            (
                False,
                "non-DP vs DP epsilon 1 membership AUC: the non-DP or the epsilon-1 run is missing (--settings with nodp and eps1)",
            )
        )
    for name, r in runs.items():
        if r is None or not r["dp"]:
            continue
        claimed = r["epsilon_spent"]
        bound = ((r["canaries"] or {}).get("empirical_epsilon") or {}).get("epsilon_lower_bound")
        if bound is None or claimed is None:
            checks.append((False, f"{name}: empirical epsilon lower bound not measured (canaries: {r['canaries']})"))
            continue
        limit = claimed * repeats
        times = f" x {repeats} copies = {limit:.3f}" if repeats > 1 else ""
        checks.append(
            (
                bound <= limit + 1e-9,
                f"{name}: empirical epsilon lower bound at or below the claimed epsilon: {bound:.3f} <= {claimed:.3f}{times}",
            )
        )
    if nodp is not None:
        bound = ((nodp["canaries"] or {}).get("empirical_epsilon") or {}).get("epsilon_lower_bound")
        detail = (nodp["canaries"] or {}).get("empirical_epsilon") or {}
        if bound is None:
            checks.append(
                (False, f"no DP: empirical epsilon lower bound not measured ({detail.get('reason', 'no canaries')})")
            )
        else:
            checks.append(
                (
                    True,
                    f"no DP: empirical epsilon lower bound measured: {bound:.3f} ({'above' if bound > 1 else 'not above'} 1; "
                    f"canary attack TPR {detail.get('true_positive_rate')} at FPR {detail.get('false_positive_rate')} on "
                    f"{detail.get('evaluated_members')} vs {detail.get('evaluated_nonmembers')} canaries)",
                )
            )
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[2:]),
    )
    parser.add_argument("--config", default=None, help="a pipeline config (default: the packaged sample config)")
    parser.add_argument(
        "--run-dir",
        default=None,
        help="a run directory whose split is up to date for the config (only read; default: run ingest..split into a temporary one)",
    )
    parser.add_argument(
        "--settings",
        default=DEFAULT_SETTINGS,
        help=f"runs, from nodp and eps<target epsilon> (default {DEFAULT_SETTINGS})",
    )
    parser.add_argument("--epochs", type=int, default=3, help="epochs of every run, DP or not (default 3)")
    parser.add_argument(
        "--canaries",
        type=int,
        default=50,
        help="canaries inserted, and as many held out (default 50, as the sample config)",
    )
    parser.add_argument("--canary-repeats", type=int, default=1, help="copies of each inserted canary (default 1)")
    parser.add_argument(
        "--keep",
        default=None,
        help="work in this folder and keep it (run copies, adapters, metrics); default: a temporary folder, removed",
    )
    parser.add_argument("--json", default=None, help="also write every figure to this JSON file")
    for hidden in ("--_child", "--_out", "--_run-dir", "--_epsilon"):
        parser.add_argument(hidden, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.canaries < 0 or args.canary_repeats < 1:
        parser.error("--epochs and --canary-repeats must be at least 1, --canaries at least 0")

    if args._child:
        _quiet_libraries()
        result = train_and_evaluate(
            args.config,
            Path(args._run_dir),
            args.epochs,
            float(args._epsilon) if args._epsilon else None,
            args.canaries,
            args.canary_repeats,
        )
        Path(args._out).write_text(json.dumps(result), encoding="utf-8")
        return 0

    for name in args.settings.split(","):  # fail on a typo before the data stages run
        if name.strip():
            parse_setting(name)
    began = time.perf_counter()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the work folder is removed
    import torch  # noqa: F401  (only for the version line)

    version = code_version()
    print(
        f"bench/leakage.py: Python {platform.python_version()}, torch {torch.__version__}, {os.cpu_count()} cores, "
        f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}; commit {version['commit']}, "
        f"pipeline/*.py sha256 {version['pipeline_sha256']}",
        flush=True,
    )
    work = Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp(prefix="bench-leakage-"))
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"args": {k: v for k, v in vars(args).items() if not k.startswith("_")}}
    checks: list[tuple[bool, str]] = []
    try:
        run_dir = prepare_data(args, work)
        results = run_settings(args, work, run_dir)
        report["results"] = results
        if results["failed"]:
            checks.append((False, "a measuring process failed"))
        checks += print_results(results["runs"], args.canary_repeats)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return finish(report, checks, version, began, args.json)


if __name__ == "__main__":
    sys.exit(main())
