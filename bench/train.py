"""The train stage: cost of DP-SGD per optimizer step, and the privacy-utility trade-off.

`python bench/train.py [--run-dir DIR] [--epochs 2] [--epsilons 1,3,8] [--json PATH]`

1. Data. The bundled sample (the packaged default config) through
   ingest..split once, into a temporary run directory
   (`python -m pipeline run --to split`, about a minute); or `--run-dir DIR`,
   a run directory whose split is already up to date for the same config
   (it is only read: every training run works on a copy).
2. Step cost (run last: the privacy-utility runs come first). The default model (all-MiniLM-L6-v2 + LoRA on query/value),
   the product's logical batch (`train.batch_size`, 64), physical batch
   (`train.physical_batch_size`, 32) and `train.max_length` (128), on the
   training split, once without DP and once with DP-SGD (Opacus hooks; also
   ghost clipping unless `--modes` leaves it out). Each mode runs in a fresh
   process that builds the model and `pipeline.stages.train.Trainer` exactly
   as the stage does, then runs the stage's training-loop body
   (zero_grad, forward, loss, backward, optimizer.step over
   `Trainer._batches()`) for `--warmup` logical steps, untimed, and
   `--steps` timed logical steps. Without DP a logical step is one batch of
   64 (the product does not split it); with DP it is a Poisson-sampled batch
   of 64 on average, run as physical batches of at most 32 by Opacus'
   BatchMemoryManager, and the optimizer steps on the last one. Per step the
   process records wall and CPU seconds and the time in forward, backward
   (for DP: with per-example gradients) and optimizer.step (for DP:
   clipping, noise, update). Peak memory is VmHWM of that process (not
   ru_maxrss, which a child inherits from its parent). Modes run one after
   the other, `--rounds` times in turn; a mode's figure is its round with the
   lowest median, and its seconds per step are that median (robust to another
   process taking the cores for a few steps). Target: DP (hooks) at most
   1.3x non-DP per step.
3. Privacy-utility. The train stage itself (`run_pipeline(config, run_dir,
   ["train"])`, one fresh process each) on copies of the run directory at
   target epsilon 1, 3 and 8 and with `dp: false`, all with the same
   `--epochs` (so the same number of steps) and the product defaults
   otherwise (learning rate 1e-2 under DP, 2e-3 without); plus non-DP at
   `--nodp-extra-lr` (default 0.01, the DP rate, to show what the rate
   does). The non-DP reference is the best non-DP run. Each adapter is loaded the way a user would (base model +
   `PeftModel.from_pretrained`, tokenizer from the adapter folder) and
   scored on `split/test.parquet`: accuracy and macro-F1 (scikit-learn).
   The baseline is the majority class of the training split, predicted for
   every test row. Epsilon spent and the noise multiplier come from
   `train/privacy_ledger.json`. Targets: at epsilon 8, accuracy within 5
   points of the best non-DP accuracy; epsilon 8 and every non-DP run more
   than 30 points above the majority baseline.

The machine may be shared: for every measurement the script prints the share
of the machine's CPU time that other processes used meanwhile (from
/proc/stat), so disturbed figures can be told apart.

Exit status: 0 when every target passes, 1 when one fails or a measuring
process fails.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.machine import busy_cpu_seconds  # noqa: E402

TARGET_STEP_RATIO = 1.3  # DP (hooks) seconds per step / non-DP
TARGET_GAP_POINTS = 5.0  # eps-8 accuracy at most this many points below non-DP
TARGET_ABOVE_MAJORITY = 30.0  # accuracy points above the majority-class baseline
DATA_STAGES = ["ingest", "redact", "check", "curate", "split"]
MODES = {  # mode -> train settings
    "nondp": {"dp": False},
    "dp": {"dp": True, "grad_sample_mode": "hooks"},
    "ghost": {"dp": True, "grad_sample_mode": "ghost"},
}
MODE_NAMES = {"nondp": "non-DP", "dp": "DP hooks", "ghost": "DP ghost"}


# --------------------------------------------------------------------------- shared helpers


def _peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB: VmHWM on Linux (ru_maxrss survives fork and exec, so a
    child would report at least its parent's RSS); ru_maxrss elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def _rss_mib() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class MachineShare:
    """How much of the machine's CPU time other processes used between start() and stop().

    Busy time of all CPUs from /proc/stat minus this process's own CPU time
    (all its threads), over wall time x cores. NaN where /proc/stat is missing.
    """

    def __init__(self) -> None:
        self.cores = os.cpu_count() or 1
        self.start()

    def start(self) -> None:
        self.wall, self.cpu, self.busy = time.perf_counter(), time.process_time(), busy_cpu_seconds()

    def stop(self) -> dict[str, float]:
        wall, cpu, busy = time.perf_counter() - self.wall, time.process_time() - self.cpu, busy_cpu_seconds()
        others = (
            float("nan")
            if busy is None or self.busy is None
            else max(0.0, (busy - self.busy) - cpu) / (wall * self.cores)
        )
        return {"wall_s": wall, "cpu_s": cpu, "others_share": others}


def code_version() -> dict[str, str]:
    """The git commit, and a hash of the pipeline package's Python files: the code every measuring process imports."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "pipeline").rglob("*.py")):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "?"
    return {"commit": commit, "pipeline_sha256": digest.hexdigest()[:12]}


def _quiet_libraries() -> None:
    import logging
    import warnings

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.INFO, format="    [%(name)s] %(message)s", stream=sys.stderr)
    for name in ("transformers", "peft", "opacus", "datasets", "presidio-analyzer", "presidio-anonymizer"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def _config(config_path: str | None, **train: Any) -> Any:
    """The config (the packaged default when None) with other train settings; sources resolve to the same files."""
    from pipeline.config import load_config

    config = load_config(Path(config_path) if config_path else None)
    return config.model_copy(update={"train": config.train.model_copy(update=train)})


def _copy_run_dir(source: Path, target: Path) -> None:
    """The run directory without its train outputs (the stage writes its own)."""
    shutil.copytree(source, target, ignore=lambda folder, names: ["train", ".lock"] if Path(folder) == source else [])


# --------------------------------------------------------------------------- step timing (child process)


def measure_steps(
    config_path: str | None, run_dir: Path, mode: str, epochs: int, warmup: int, steps: int
) -> dict[str, Any]:
    """Build the model and Trainer as the stage does, run `warmup` + `steps` logical steps of its loop body; time them."""
    import pandas as pd
    import torch

    from pipeline.layout import SPLIT_FILES
    from pipeline.stages.train import Trainer, _encode
    from pipeline.training import privacy
    from pipeline.training.models import add_lora, load_model, load_tokenizer, model_source

    config = _config(config_path, epochs=epochs, **MODES[mode])
    settings = config.train
    torch.set_num_threads(settings.threads or os.cpu_count() or 1)
    torch.manual_seed(config.seed)
    train_frame = pd.read_parquet(run_dir / SPLIT_FILES["train"])
    validation_frame = pd.read_parquet(run_dir / SPLIT_FILES["validation"])
    source = model_source(config)
    tokenizer = load_tokenizer(source)
    label_names, train_data, validation_data = _encode(config, tokenizer, train_frame, validation_frame)
    model = load_model(source, config.task, num_labels=len(label_names))
    model.config.id2label = dict(enumerate(label_names))
    model.config.label2id = {name: i for i, name in enumerate(label_names)}
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    model = add_lora(model, config)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total_params = sum(p.numel() for p in model.parameters())
    roles = config.record_roles()
    units = privacy.privacy_units(train_frame, config.privacy_unit(), roles["group"][0] if roles["group"] else None)
    trainer = Trainer(config, model, train_data, validation_data, units)
    rss_setup, peak_setup = _rss_mib(), _peak_rss_mib()
    sequence_length = int(train_data.dataset.tensors[0].shape[1])

    records: list[dict[str, float]] = []
    current = {"forward": 0.0, "backward": 0.0, "step": 0.0, "examples": 0, "physical": 0}
    share = MachineShare()
    trainer.model.train()
    wanted = warmup + steps
    started, cpu_started = time.perf_counter(), time.process_time()
    while len(records) < wanted:
        with trainer._batches() as batches:
            for input_ids, attention, target, weight in batches:
                if len(target) == 0:  # Poisson sampling can draw an empty batch; the stage skips it too
                    continue
                t0 = time.perf_counter()
                trainer.optimizer.zero_grad()
                logits = trainer.model(input_ids=input_ids, attention_mask=attention).logits
                loss = trainer._loss(logits, target, weight)
                t1 = time.perf_counter()
                loss.backward()
                t2 = time.perf_counter()
                trainer.optimizer.step()
                t3 = time.perf_counter()
                current["forward"] += t1 - t0
                current["backward"] += t2 - t1
                current["step"] += t3 - t2
                current["examples"] += len(target)
                current["physical"] += 1
                if getattr(trainer.optimizer, "_is_last_step_skipped", False):
                    continue  # a physical batch inside a logical one: the optimizer accumulated, did not step
                now, cpu_now = time.perf_counter(), time.process_time()
                records.append({**current, "wall": now - started, "cpu": cpu_now - cpu_started})
                if len(records) == warmup:
                    share.start()
                started, cpu_started = time.perf_counter(), time.process_time()
                current = {"forward": 0.0, "backward": 0.0, "step": 0.0, "examples": 0, "physical": 0}
                if len(records) >= wanted:
                    break
    machine = share.stop()
    timed = records[warmup:]
    walls = [r["wall"] for r in timed]
    examples = sum(r["examples"] for r in timed)
    return {
        "mode": mode,
        "grad_sample_mode": settings.grad_sample_mode if settings.dp else None,
        "sequence_length": sequence_length,
        "batch_size": settings.batch_size,
        "physical_batch_size": settings.physical_batch_size if settings.dp else settings.batch_size,
        "threads": torch.get_num_threads(),
        "trainable_parameters": trainable,
        "parameters": total_params,
        "warmup_steps": warmup,
        "steps": len(timed),
        "s_per_step_median": statistics.median(walls),
        "s_per_step_mean": sum(walls) / len(walls),
        "s_per_step_min": min(walls),
        "s_per_step_max": max(walls),
        "cpu_s_per_step": sum(r["cpu"] for r in timed) / len(timed),
        "examples_per_step": examples / len(timed),
        "ms_per_example": 1000 * sum(walls) / max(examples, 1),
        "physical_per_step": sum(r["physical"] for r in timed) / len(timed),
        "forward_s": sum(r["forward"] for r in timed) / len(timed),
        "backward_s": sum(r["backward"] for r in timed) / len(timed),
        "optimizer_s": sum(r["step"] for r in timed) / len(timed),
        "noise_multiplier": trainer.training.noise,
        "rss_after_setup_mib": rss_setup,
        "peak_after_setup_mib": peak_setup,
        "peak_rss_mib": _peak_rss_mib(),
        "others_share": machine["others_share"],
        "per_step_wall": walls,
    }


# --------------------------------------------------------------------------- one training run + evaluation (child process)


def train_and_evaluate(
    config_path: str | None, run_dir: Path, epochs: int, epsilon: float | None, learning_rate: float | None
) -> dict[str, Any]:
    """The train stage on `run_dir` (a copy), then its adapter scored on the test split."""
    from pipeline.artifacts import RunDir
    from pipeline.stage import run_pipeline

    train: dict[str, Any] = {"epochs": epochs, "dp": epsilon is not None}
    if epsilon is not None:
        train["target_epsilon"] = epsilon
    if learning_rate is not None:
        train["learning_rate"] = learning_rate
    config = _config(config_path, **train)
    share = MachineShare()
    manifest = run_pipeline(config, RunDir(run_dir), ["train"])
    machine = share.stop()
    peak = _peak_rss_mib()
    stats = manifest["stages"]["train"]["stats"]
    ledger = json.loads((run_dir / "train" / "privacy_ledger.json").read_text(encoding="utf-8"))
    curve = json.loads((run_dir / "train" / "training_curve.json").read_text(encoding="utf-8"))
    scores = evaluate_adapter(config, run_dir)
    return {
        "epsilon_target": epsilon,
        "learning_rate": config.train.effective_learning_rate,
        "dp": ledger["dp"],
        "epsilon_spent": ledger["epsilon_spent"],
        "delta": ledger["delta"],
        "noise_multiplier": ledger["noise_multiplier"],
        "steps": ledger["steps"],
        "epochs_run": ledger["epochs_run"],
        "sample_weights": ledger["sample_weights"],
        "train_s": manifest["stages"]["train"]["duration_s"],
        "train_peak_rss_mib": peak,
        "others_share": machine["others_share"],
        "validation": stats["validation"],
        "curve": curve["epochs"],
        **scores,
    }


def evaluate_adapter(config: Any, run_dir: Path) -> dict[str, Any]:
    """Base model + PeftModel.from_pretrained(adapter), tokenizer from the adapter folder; accuracy and macro-F1 on the test split.

    The test rows are encoded by the stage's own `encode_classification` (its text joining, truncation to
    `train.max_length` and fixed-length padding), so they look to the model as the training rows did. A test
    label the adapter does not know counts as wrong.
    """
    from collections import defaultdict

    import pandas as pd
    import torch
    from peft import PeftModel
    from sklearn.metrics import accuracy_score, f1_score
    from torch.utils.data import DataLoader
    from transformers import AutoTokenizer

    from pipeline.layout import SPLIT_FILES
    from pipeline.training.data import encode_classification
    from pipeline.training.models import load_model, model_source

    adapter = run_dir / "train" / "adapter"
    labels = json.loads((run_dir / "train" / "labels.json").read_text(encoding="utf-8"))["labels"]
    base = load_model(model_source(config), "classification", num_labels=len(labels))
    model = PeftModel.from_pretrained(base, str(adapter)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(adapter))
    roles = config.record_roles()
    test = pd.read_parquet(run_dir / SPLIT_FILES["test"])
    ids: defaultdict[str, int] = defaultdict(lambda: -1, {name: i for i, name in enumerate(labels)})
    encoded = encode_classification(test, roles["text"], roles["label"][0], ids, tokenizer, config.train.max_length)
    truth, predicted = [], []
    with torch.no_grad():
        for input_ids, attention, target, _ in DataLoader(encoded.dataset, batch_size=64):
            predicted += model(input_ids=input_ids, attention_mask=attention).logits.argmax(-1).tolist()
            truth += target.tolist()
    classes = sorted(set(truth) | set(range(len(labels))))
    return {
        "test_rows": len(test),
        "test_unknown_labels": sum(t == -1 for t in truth),
        "test_accuracy": float(accuracy_score(truth, predicted)),
        "test_macro_f1": float(f1_score(truth, predicted, average="macro", labels=classes, zero_division=0)),
    }


def majority_baseline(config_path: str | None, run_dir: Path) -> dict[str, Any]:
    """Predict the training split's most frequent label for every test row."""
    import pandas as pd
    from sklearn.metrics import accuracy_score, f1_score

    from pipeline.config import load_config
    from pipeline.layout import SPLIT_FILES

    config = load_config(Path(config_path) if config_path else None)
    label = config.record_roles()["label"][0]
    train = pd.read_parquet(run_dir / SPLIT_FILES["train"])[label].astype(str)
    test = pd.read_parquet(run_dir / SPLIT_FILES["test"])[label].astype(str).tolist()
    majority = train.value_counts().idxmax()
    predicted = [majority] * len(test)
    return {
        "label": majority,
        "classes": int(train.nunique()),
        "train_rows": len(train),
        "test_rows": len(test),
        "test_accuracy": float(accuracy_score(test, predicted)),
        "test_macro_f1": float(
            f1_score(test, predicted, average="macro", labels=sorted(set(test) | {majority}), zero_division=0)
        ),
    }


# --------------------------------------------------------------------------- orchestration


def _child(args: argparse.Namespace, kind: str, out: Path, **extra: Any) -> dict[str, Any] | None:
    """Run this script in a fresh process for one measurement; its result comes back through a JSON file."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--_child",
        kind,
        "--_out",
        str(out),
        "--_run-dir",
        str(extra.pop("run_dir")),
    ]
    if args.config:
        command += ["--config", args.config]
    for key, value in extra.items():
        command += [f"--_{key.replace('_', '-')}", str(value)]
    command += ["--epochs", str(args.epochs), "--warmup", str(args.warmup), "--steps", str(args.steps)]
    done = subprocess.run(command, cwd=REPO, check=False)
    if done.returncode != 0 or not out.is_file():
        print(f"  !! measuring process failed (exit {done.returncode}): {' '.join(command)}", flush=True)
        return None
    return json.loads(out.read_text(encoding="utf-8"))


def prepare_data(args: argparse.Namespace, work: Path) -> Path:
    if args.run_dir:
        run_dir = Path(args.run_dir).resolve()
        print(f"data: reusing the splits in {run_dir}", flush=True)
        return run_dir
    run_dir = work / "base"
    print(f"data: the sample through {' -> '.join(DATA_STAGES)} into {run_dir} ...", flush=True)
    started = time.perf_counter()
    command = [sys.executable, "-m", "pipeline", "run", "--to", "split", "--run-dir", str(run_dir)]
    if args.config:
        command += ["--config", args.config]
    done = subprocess.run(command, cwd=REPO, check=False, stdout=subprocess.DEVNULL)
    if done.returncode != 0:
        raise SystemExit(f"preparing the data failed (exit {done.returncode}): {' '.join(command)}")
    print(f"data: ready in {time.perf_counter() - started:.0f} s", flush=True)
    return run_dir


def run_timing(args: argparse.Namespace, work: Path, run_dir: Path) -> dict[str, Any]:
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    rounds: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    failed = False
    for round_index in range(1, args.rounds + 1):
        for mode in modes:
            print(
                f"step timing: {MODE_NAMES[mode]}, round {round_index}/{args.rounds} "
                f"({args.warmup} warm-up + {args.steps} timed logical steps, fresh process) ...",
                flush=True,
            )
            result = _child(args, "steps", work / f"steps-{mode}-{round_index}.json", run_dir=run_dir, mode=mode)
            if result is None:
                failed = True
                continue
            rounds[mode].append(result)
            print(
                f"  {result['s_per_step_median']:.3f} s/step median ({result['s_per_step_mean']:.3f} mean), "
                f"peak RSS {result['peak_rss_mib']:.0f} MiB, other processes {100 * result['others_share']:.0f}% of the machine",
                flush=True,
            )
    best = {m: min(results, key=lambda r: r["s_per_step_median"]) for m, results in rounds.items() if results}
    return {"rounds": rounds, "best": best, "failed": failed}


def run_utility(args: argparse.Namespace, work: Path, run_dir: Path) -> dict[str, Any]:
    # (row name, target epsilon or None for no DP, learning rate or None for the product default)
    settings: list[tuple[str, float | None, float | None]] = [
        (f"eps {float(e):g}", float(e), None) for e in args.epsilons.split(",") if e.strip()
    ]
    settings.append(("no DP", None, None))
    settings += [(f"no DP lr {float(lr):g}", None, float(lr)) for lr in args.nodp_extra_lr.split(",") if lr.strip()]
    results: dict[str, Any] = {}
    failed = False
    for name, epsilon, learning_rate in settings:
        copy = work / f"train-{name.replace(' ', '')}"
        _copy_run_dir(run_dir, copy)
        print(f"privacy-utility: train stage, {name}, {args.epochs} epoch(s), fresh process on {copy} ...", flush=True)
        started = time.perf_counter()
        extra: dict[str, Any] = {"run_dir": copy}
        if epsilon is not None:
            extra["epsilon"] = epsilon
        if learning_rate is not None:
            extra["learning_rate"] = learning_rate
        result = _child(args, "train", work / f"train-{name.replace(' ', '')}.json", **extra)
        if result is None:
            failed = True
            results[name] = None
            continue
        results[name] = result
        print(
            f"  {time.perf_counter() - started:.0f} s: test accuracy {result['test_accuracy']:.4f}, macro-F1 {result['test_macro_f1']:.4f}, "
            f"epsilon spent {result['epsilon_spent']}, noise {result['noise_multiplier']}, steps {result['steps']}",
            flush=True,
        )
        if not args.keep:
            shutil.rmtree(copy, ignore_errors=True)
    return {"runs": results, "failed": failed}


def print_timing(timing: dict[str, Any]) -> list[tuple[bool, str]]:
    best = timing["best"]
    if not best:
        return [(False, "step timing: no mode measured")]
    any_result = next(iter(best.values()))
    print()
    print(
        f"step cost: all-MiniLM-L6-v2 + LoRA (r, alpha from train.lora; {any_result['trainable_parameters']:,} of "
        f"{any_result['parameters']:,} parameters train), logical batch {any_result['batch_size']}, sequence length "
        f"{any_result['sequence_length']}, {any_result['threads']} torch threads; {any_result['steps']} timed logical steps "
        f"after {any_result['warmup_steps']} warm-up, best of {max(len(r) for r in timing['rounds'].values())} round(s)"
    )
    header = (
        f"{'mode':<10} {'phys':>4} {'ex/step':>7} {'s/step':>7} {'mean':>6} {'min':>6} {'max':>6} {'cpu s':>6} {'ms/ex':>6} "
        f"{'fwd s':>6} {'bwd s':>6} {'opt s':>6} {'x base':>6} {'setup':>6} {'peak':>6} {'x base':>6} {'others':>6}"
    )
    print(header)
    print("-" * len(header))
    base = best.get("nondp")
    for mode, r in best.items():
        ratio = r["s_per_step_median"] / base["s_per_step_median"] if base else float("nan")
        mem_ratio = r["peak_rss_mib"] / base["peak_rss_mib"] if base else float("nan")
        print(
            f"{MODE_NAMES[mode]:<10} {r['physical_batch_size']:>4} {r['examples_per_step']:>7.1f} {r['s_per_step_median']:>7.3f} "
            f"{r['s_per_step_mean']:>6.3f} {r['s_per_step_min']:>6.3f} {r['s_per_step_max']:>6.3f} {r['cpu_s_per_step']:>6.2f} "
            f"{r['ms_per_example']:>6.1f} {r['forward_s']:>6.3f} {r['backward_s']:>6.3f} {r['optimizer_s']:>6.3f} {ratio:>6.2f} "
            f"{r['rss_after_setup_mib']:>6.0f} {r['peak_rss_mib']:>6.0f} {mem_ratio:>6.2f} {100 * r['others_share']:>5.0f}%"
        )
    print(
        "(phys: physical batch; s/step: median wall seconds per logical step; cpu s: CPU seconds per step, all threads; "
        "fwd/bwd/opt: mean seconds per step in forward+loss, backward, optimizer.step; setup: RSS MiB after building the model "
        "and data; peak: VmHWM MiB of the measuring process; others: share of the machine's CPU other processes used while timing)"
    )
    if (
        base
        and len(timing["rounds"].get("dp", [])) > 1
        and len(timing["rounds"]["dp"]) == len(timing["rounds"]["nondp"])
    ):
        per_round = [
            d["s_per_step_median"] / n["s_per_step_median"]
            for n, d in zip(timing["rounds"]["nondp"], timing["rounds"]["dp"], strict=True)
        ]
        print(f"DP hooks / non-DP seconds per step within each round: {', '.join(f'x{r:.2f}' for r in per_round)}")
    checks = []
    if base and "dp" in best:
        ratio = best["dp"]["s_per_step_median"] / base["s_per_step_median"]
        checks.append(
            (
                ratio <= TARGET_STEP_RATIO,
                f"DP (hooks) seconds per optimizer step at most {TARGET_STEP_RATIO}x non-DP: "
                f"x{ratio:.2f} ({best['dp']['s_per_step_median']:.3f} s vs {base['s_per_step_median']:.3f} s); "
                f"peak memory x{best['dp']['peak_rss_mib'] / base['peak_rss_mib']:.2f} "
                f"({best['dp']['peak_rss_mib']:.0f} vs {base['peak_rss_mib']:.0f} MiB)",
            )
        )
    else:
        checks.append((False, "DP/non-DP step ratio: a mode is missing"))
    return checks


def print_utility(utility: dict[str, Any], majority: dict[str, Any]) -> list[tuple[bool, str]]:
    runs = utility["runs"]
    print()
    print(
        f"privacy-utility on split/test.parquet ({majority['test_rows']} rows, {majority['classes']} classes), "
        f"same epochs and steps for every row, product defaults except the lr column:"
    )
    header = (
        f"{'setting':<15} {'lr':>6} {'eps spent':>9} {'delta':>8} {'noise':>6} {'steps':>5} {'val acc':>7} {'test acc':>8} {'macro-F1':>8} "
        f"{'vs noDP':>7} {'vs maj':>6} {'train s':>7} {'peak':>5} {'others':>6}"
    )
    print(header)
    print("-" * len(header))
    nodp = [r for name, r in runs.items() if name.startswith("no DP") and r is not None]
    base = max(nodp, key=lambda r: r["test_accuracy"]) if nodp else None  # the reference: the best non-DP run
    for name, r in runs.items():
        if r is None:
            print(f"{name:<15} failed")
            continue
        gap = 100 * (r["test_accuracy"] - base["test_accuracy"]) if base else float("nan")
        above = 100 * (r["test_accuracy"] - majority["test_accuracy"])
        eps = f"{r['epsilon_spent']:.3f}" if r["epsilon_spent"] is not None else "-"
        delta = f"{r['delta']:.1e}" if r["delta"] is not None else "-"
        noise = f"{r['noise_multiplier']:.3f}" if r["noise_multiplier"] is not None else "-"
        print(
            f"{name:<15} {r['learning_rate']:>6g} {eps:>9} {delta:>8} {noise:>6} {r['steps']:>5} {r['validation']['accuracy']:>7.4f} {r['test_accuracy']:>8.4f} "
            f"{r['test_macro_f1']:>8.4f} {gap:>+7.1f} {above:>+6.1f} {r['train_s']:>7.0f} {r['train_peak_rss_mib']:>5.0f} "
            f"{100 * r['others_share']:>5.0f}%"
        )
    print(
        f"{'majority':<15} {'':>6} {'':>9} {'':>8} {'':>6} {'':>5} {'':>7} {majority['test_accuracy']:>8.4f} {majority['test_macro_f1']:>8.4f} "
        f"{'':>7} {'':>6}   ('{majority['label']}' for every row)"
    )
    print(
        "(lr: train.learning_rate; vs noDP, vs maj: test-accuracy points against the best non-DP run and the majority baseline; val acc: the stage's own "
        "validation score after the last epoch; train s: the stage's duration including its validation passes; "
        "peak: VmHWM MiB of the training process; others: share of the machine's CPU other processes used during training)"
    )
    checks = []
    eight = runs.get("eps 8")
    if base and eight:
        gap = 100 * (base["test_accuracy"] - eight["test_accuracy"])
        checks.append(
            (
                gap <= TARGET_GAP_POINTS,
                f"test accuracy at epsilon 8 within {TARGET_GAP_POINTS:g} points of the best non-DP run "
                f"(lr {base['learning_rate']:g}): {100 * eight['test_accuracy']:.1f} vs {100 * base['test_accuracy']:.1f} "
                f"({-gap:+.1f} points)",
            )
        )
        low = min([eight["test_accuracy"], *(r["test_accuracy"] for r in nodp)])
        checks.append(
            (
                100 * (low - majority["test_accuracy"]) > TARGET_ABOVE_MAJORITY,
                f"epsilon 8 and every non-DP run more than {TARGET_ABOVE_MAJORITY:g} points above the majority baseline "
                f"{100 * majority['test_accuracy']:.1f}: lowest {100 * low:.1f} ({100 * (low - majority['test_accuracy']):+.1f} points)",
            )
        )
    else:
        checks.append((False, "privacy-utility: the epsilon-8 or the non-DP run is missing (use --epsilons with 8)"))
    for name, r in runs.items():
        if r is not None and r["dp"] and r["epsilon_spent"] > r["epsilon_target"] + 1e-6:
            checks.append((False, f"{name}: epsilon spent {r['epsilon_spent']} exceeds its target"))
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[2:4]),
    )
    parser.add_argument("--config", default=None, help="a pipeline config (default: the packaged sample config)")
    parser.add_argument(
        "--run-dir",
        default=None,
        help="a run directory whose split is up to date for the config (only read; default: run ingest..split into a temporary one)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=2,
        help="epochs of every training run, DP or not (default 2, the product default)",
    )
    parser.add_argument(
        "--epsilons",
        default="1,3,8",
        help="target epsilons of the DP runs (default 1,3,8); a non-DP run is always added",
    )
    parser.add_argument(
        "--nodp-extra-lr",
        default="0.01",
        help="learning rates of extra non-DP runs (default 0.01, the DP default; '' for none); "
        "the non-DP reference is the best of all non-DP runs",
    )
    parser.add_argument(
        "--modes", default="nondp,dp,ghost", help="step-timing modes, from nondp, dp (hooks), ghost (default: all)"
    )
    parser.add_argument("--steps", type=int, default=20, help="timed logical steps per mode (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed logical steps before them (default 3)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="time every mode this many times, in turn; a mode's best round counts (default 2)",
    )
    parser.add_argument("--skip-timing", action="store_true", help="leave out the step timing")
    parser.add_argument("--skip-utility", action="store_true", help="leave out the privacy-utility runs")
    parser.add_argument(
        "--keep",
        default=None,
        help="work in this folder and keep it (run copies, adapters); default: a temporary folder, removed",
    )
    parser.add_argument("--json", default=None, help="also write every figure to this JSON file")
    for hidden in ("--_child", "--_out", "--_run-dir", "--_mode", "--_epsilon", "--_learning-rate"):
        parser.add_argument(hidden, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args._child:
        _quiet_libraries()
        run_dir = Path(args._run_dir)
        if args._child == "steps":
            result = measure_steps(args.config, run_dir, args._mode, args.epochs, args.warmup, args.steps)
        else:
            result = train_and_evaluate(
                args.config,
                run_dir,
                args.epochs,
                float(args._epsilon) if args._epsilon else None,
                float(args._learning_rate) if args._learning_rate else None,
            )
        Path(args._out).write_text(json.dumps(result), encoding="utf-8")
        return 0

    began = time.perf_counter()
    signal.signal(
        signal.SIGTERM, lambda *_: sys.exit(143)
    )  # so the work folder is removed and the measuring process killed
    import torch  # noqa: F401  (only for the version line)

    version = code_version()
    print(
        f"bench/train.py: Python {platform.python_version()}, torch {torch.__version__}, {os.cpu_count()} cores, "
        f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}; commit {version['commit']}, "
        f"pipeline/*.py sha256 {version['pipeline_sha256']}",
        flush=True,
    )
    work = Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp(prefix="bench-train-"))
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"args": {k: v for k, v in vars(args).items() if not k.startswith("_")}}
    checks: list[tuple[bool, str]] = []
    try:
        run_dir = prepare_data(args, work)
        if not args.skip_utility:  # first: it is long, and its figures suffer least from a busy machine
            majority = majority_baseline(args.config, run_dir)
            utility = run_utility(args, work, run_dir)
            report["utility"] = {**utility, "majority": majority}
            if utility["failed"]:
                checks.append((False, "a training process failed"))
        if not args.skip_timing:
            timing = run_timing(args, work, run_dir)
            report["timing"] = timing
            if timing["failed"]:
                checks.append((False, "a step-timing process failed"))
        if not args.skip_timing:
            checks += print_timing(report["timing"])
        if not args.skip_utility:
            checks += print_utility(report["utility"], report["utility"]["majority"])
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return finish(report, checks, version, began, args.json)


def finish(
    report: dict[str, Any],
    checks: list[tuple[bool, str]],
    version: dict[str, str],
    began: float,
    json_path: str | None,
) -> int:
    """The closing part every benchmark shares: the code-version check, the PASS/FAIL lines, wall time, the JSON; the exit status."""
    wall = time.perf_counter() - began
    report["wall_s"] = wall
    report["code"] = {"start": version, "end": code_version()}
    if (
        report["code"]["end"]["pipeline_sha256"] != version["pipeline_sha256"]
    ):  # another commit may touch tests or docs only
        checks.append(
            (
                False,
                f"the pipeline code stayed the same during the run: pipeline/*.py changed (sha256 {version['pipeline_sha256']} -> "
                f"{report['code']['end']['pipeline_sha256']}), so the measuring processes may have run different code; run again",
            )
        )
    report["load_average_end"] = os.getloadavg()
    report["checks"] = [{"pass": ok, "text": text} for ok, text in checks]
    print()
    for ok, text in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    print(f"\nwall time {wall / 60:.1f} min; load average at the end {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0 if checks and all(ok for ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
