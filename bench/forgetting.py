"""What fine-tuning costs on general text: the causal LM's forgetting, default run against a deliberately over-trained one.

`python bench/forgetting.py [--tickets 120] [--over-epochs 6] [--over-lr 0.02] [--keep DIR] [--json PATH]`

The packaged SmolLM2-135M trains on the first `--tickets` helpdesk tickets of
the sample (subject as prompt, description as response; `bench/leakage.py`'s
causal-LM config), data stages once, then two trainings on the same split:

- `default`: the product's train settings (DP-SGD at epsilon 8, 2 epochs,
  its DP learning rate);
- `over-trained`: no DP, `--over-epochs` epochs at `--over-lr` (10x the
  product's non-DP rate by default): a run built to forget.

Each is evaluated by the evaluate stage (canaries and regurgitation off, to
save time); the figures are the stage's `forgetting` section: base and tuned
mean token loss and perplexity on the shipped general-English passages, the
mean rise and the share of passages whose loss rose by more than the margin.

Target (issue 20): the over-trained run's mean loss rise is clearly larger
than the default run's (more than twice, and more than 0.05 nats). Exit 0
when it holds.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.leakage import _copy_split, prepare_data, write_config  # noqa: E402

SEED = 7
QUIET_EVALUATE = {"regurgitation_prompts": 0, "exposure_canaries": 0}


def variant(config: Path, name: str, train: dict[str, Any]) -> Path:
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["train"] = {**data.get("train", {}), "canaries": {"count": 0}, **train}
    data["evaluate"] = {**data.get("evaluate", {}), **QUIET_EVALUATE}
    data["report"] = {"policy": {"require_dp": False, "max_forgetting": None}}
    path = config.with_name(f"config-{name}.yaml")
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def train_and_evaluate(config: Path, run_dir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    command = [sys.executable, "-m", "pipeline", "run", "--from", "train", "--to", "evaluate"]
    done = subprocess.run([*command, "--config", str(config), "--run-dir", str(run_dir)], cwd=REPO, check=False)
    if done.returncode != 0:
        raise SystemExit(f"training {run_dir.name} failed (exit {done.returncode})")
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    metrics = json.loads((run_dir / "evaluate" / "metrics.json").read_text(encoding="utf-8"))
    ledger = json.loads((run_dir / "train" / "privacy_ledger.json").read_text(encoding="utf-8"))
    return {
        "dp": ledger["dp"],
        "epsilon": ledger.get("epsilon_spent"),
        "epochs": ledger.get("epochs_run"),
        "learning_rate": ledger.get("learning_rate"),
        "train_s": manifest["stages"]["train"]["duration_s"],
        "evaluate_s": manifest["stages"]["evaluate"]["duration_s"],
        "wall_s": round(time.perf_counter() - started, 1),
        "test_perplexity": metrics["utility"]["perplexity"],
        "forgetting": metrics["forgetting"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=120, help="helpdesk tickets to train on (default 120)")
    parser.add_argument("--over-epochs", type=int, default=6, help="epochs of the over-trained run (default 6)")
    parser.add_argument("--over-lr", type=float, default=0.02, help="its learning rate (default 0.02)")
    parser.add_argument("--keep", default=None, help="work in this folder and keep it; default: a temporary one")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(args.keep or scratch)
        work.mkdir(parents=True, exist_ok=True)
        config = write_config(work, args.tickets, SEED, "causal_lm")
        prepared = work / "prepared"
        prepare_data(config, prepared)
        settings = {
            "default": {},
            "over-trained": {"dp": False, "epochs": args.over_epochs, "learning_rate": args.over_lr},
        }
        results = {}
        for name, train in settings.items():
            run_dir = work / name
            _copy_split(prepared, run_dir)
            results[name] = train_and_evaluate(variant(config, name, train), run_dir)
    print(f"\ncausal LM, {args.tickets} tickets, seed {SEED}; forgetting on the shipped general-English passages")
    print(
        "run           | DP  | eps  | epochs | lr     | test ppl | ref loss base | ref loss tuned | rise   | forgotten | train s | eval s"
    )
    for name, found in results.items():
        f = found["forgetting"]
        eps = "-" if found["epsilon"] is None else f"{found['epsilon']:.2f}"
        print(
            f"{name:13} | {'yes' if found['dp'] else 'no ':3} | {eps:4} | {found['epochs']:6} | {found['learning_rate']:<6g} | "
            f"{found['test_perplexity']:8.3f} | {f['base_loss']:13.4f} | {f['tuned_loss']:14.4f} | {f['mean_loss_rise']:+.4f} | "
            f"{f['forgotten']:3}/{f['passages']} {f['score']:.3f} | {found['train_s']:7.0f} | {found['evaluate_s']:6.0f}"
        )
    default, over = (
        results["default"]["forgetting"]["mean_loss_rise"],
        results["over-trained"]["forgetting"]["mean_loss_rise"],
    )
    passed = over > 2 * max(default, 0) and over > 0.05
    print(
        f"\ntarget: the over-trained run's rise ({over:+.4f}) is more than twice the default's ({default:+.4f}) and above 0.05: {'PASS' if passed else 'FAIL'}"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"tickets": args.tickets, "runs": results, "passed": passed}, indent=2), encoding="utf-8"
        )
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
