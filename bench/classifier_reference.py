"""Which reference lets a classifier's calibrated attack beat the loss attack? An experiment on a finished run.

`python bench/classifier_reference.py RUN_DIR CONFIG [--epochs 3,12]`

RUN_DIR is a finished non-DP classification run with canaries (e.g. one kept
by `bench/leakage.py --settings nodp-x4 --tickets 0 --keep DIR`), CONFIG the
config it ran with. The script scores the run's membership rows (training
rows against test rows, as the evaluate stage chose them) and its canaries
with the tuned adapter, then compares three references for the calibrated
score (reference loss minus tuned loss, and the same on LiRA's logit scale,
log(p / (1 - p)) of the true label):

- none: the plain loss attack;
- the evaluate stage's probe (the base encoder with a logistic head fitted
  on the validation split), read from `evaluate/predictions.parquet` (rows
  only; the stage does not keep the canaries' reference losses);
- an OUT model: the same LoRA fine-tune, without DP, on the validation split
  (records the adapter never saw), for each of `--epochs`.

It prints each attack's AUC on the rows and on the canaries and the seconds
each OUT model took to train. Nothing is written.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from pipeline.config import Config, load_config  # noqa: E402
from pipeline.evaluation import leakage, scoring  # noqa: E402
from pipeline.stages.train import Trainer  # noqa: E402
from pipeline.training import privacy  # noqa: E402
from pipeline.training.canaries import as_records  # noqa: E402
from pipeline.training.data import encode_classification  # noqa: E402
from pipeline.training.models import add_lora, load_model, load_trained, model_source  # noqa: E402


def logit(loss: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) of the true label, from its loss -log p."""
    loss = np.clip(loss, 1e-7, 50)
    return -loss - np.log(-np.expm1(-loss))


def aucs(reference: dict[str, np.ndarray], tuned: dict[str, np.ndarray], inserted: np.ndarray) -> dict[str, Any]:
    found = {}
    for scale, score in {
        "difference": lambda r, t: r - t,
        "logit": lambda r, t: logit(t) - logit(r),
    }.items():
        rows = leakage.membership_attack(score(reference["m"], tuned["m"]), score(reference["t"], tuned["t"]))["auc"]
        canaries = None
        if "c" in reference:
            scores = score(reference["c"], tuned["c"])
            canaries = leakage.membership_attack(scores[inserted], scores[~inserted])["auc"]
        found[scale] = {"rows": round(rows, 4), "canaries": None if canaries is None else round(canaries, 4)}
    return found


def out_model(config: Config, frame: pd.DataFrame, label_ids: dict[str, int], tokenizer: Any, epochs: int) -> Any:
    """The reference: a fresh LoRA on the base model, trained without DP on `frame` for `epochs`."""
    torch.manual_seed(config.seed + 1)
    settings = config.train.model_copy(update={"dp": False, "epochs": epochs, "early_stopping_patience": None})
    config = config.model_copy(update={"train": settings})
    model = load_model(model_source(config), "classification", num_labels=len(label_ids))
    model.config.pad_token_id = tokenizer.pad_token_id
    model = add_lora(model, config)
    roles = config.record_roles()
    encoded = encode_classification(
        frame, roles["text"], roles["label"][0], label_ids, tokenizer, config.train.max_length
    )
    trainer = Trainer(config, model, encoded, encoded, privacy.privacy_units(frame, "row", None))
    trainer.fit()
    return trainer.peft_model().eval()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("config", type=Path)
    parser.add_argument("--epochs", default="3,12", help="OUT models' epochs on the validation split (default 3,12)")
    args = parser.parse_args(argv)
    run = args.run_dir
    config = load_config(args.config)
    roles = config.record_roles()
    label, text = roles["label"][0], roles["text"]
    labels = json.loads((run / "train" / "labels.json").read_text(encoding="utf-8"))["labels"]
    label_ids = {name: i for i, name in enumerate(labels)}
    splits = {name: pd.read_parquet(run / "split" / f"{name}.parquet") for name in ("train", "validation", "test")}
    predictions = pd.read_parquet(run / "evaluate" / "predictions.parquet")
    scored = predictions[predictions["reference_loss"].notna()]
    members = splits["train"].set_index("row_id").loc[scored[scored["split"] == "train"]["row_id"]].reset_index()
    test = splits["test"].set_index("row_id").loc[scored[scored["split"] == "test"]["row_id"]].reset_index()
    canaries = pd.read_parquet(run / "train" / "canaries.parquet")
    canary_records = as_records(canaries, config, [*text, *roles["label"]])
    inserted = canaries["inserted"].to_numpy(dtype=bool)
    model, tokenizer = load_trained(config, run / "train" / "adapter", len(labels))

    def losses(scorer: Any, frame: pd.DataFrame) -> np.ndarray:
        return scoring.classify(
            scorer, tokenizer, frame, text, label, label_ids, config.train.max_length, 64, "score"
        )[1]

    frames = {"m": members, "t": test, "c": canary_records}
    tuned = {key: losses(model, frame) for key, frame in frames.items()}
    zero = {key: np.zeros_like(value) for key, value in tuned.items()}
    print("loss attack:", aucs(zero, tuned, inserted)["difference"], flush=True)
    probe = {
        "m": scored[scored["split"] == "train"]["reference_loss"].to_numpy(),
        "t": scored[scored["split"] == "test"]["reference_loss"].to_numpy(),
    }
    print("probe reference (rows only):", aucs(probe, {"m": tuned["m"], "t": tuned["t"]}, inserted), flush=True)
    validation = splits["validation"][splits["validation"][label].astype(str).isin(label_ids)]
    for epochs in [int(e) for e in args.epochs.split(",") if e.strip()]:
        started = time.perf_counter()
        reference_model = out_model(config, validation, label_ids, tokenizer, epochs)
        seconds = time.perf_counter() - started
        reference = {key: losses(reference_model, frame) for key, frame in frames.items()}
        print(f"OUT model, {epochs} epochs ({seconds:.0f} s to train):", aucs(reference, tuned, inserted), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
