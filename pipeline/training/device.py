"""Where training and evaluation run (CPU or a GPU), in which precision, and how large a physical batch fits.

`train.device: auto` takes the GPU when torch sees one; under torchrun each
process takes the GPU of its local rank. `train.precision: auto` holds the
frozen base weights in bf16 on a GPU that supports it, fp32 elsewhere; the
LoRA weights (and a classifier's head), their gradients, the clipping and the
noise always stay fp32 (`models.prepare_for_device`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import torch

from pipeline.config import TrainConfig
from pipeline.errors import ConfigError
from pipeline.logs import get_logger

log = get_logger("pipeline.train")

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
CPU_PHYSICAL_BATCH = 32  # `physical_batch_size: auto` on CPU, where running out of memory kills the process


def resolve_device(settings: TrainConfig) -> torch.device:
    """`train.device` as a torch device; `cuda` without a GPU is the user's error."""
    available = torch.cuda.is_available()
    if settings.device == "cuda" and not available:
        raise ConfigError(
            [
                "train.device: cuda, but torch sees no GPU (torch.cuda.is_available() is False). Install a CUDA build of "
                "torch on a GPU machine (see README, Training on a GPU), or set train.device: auto or cpu"
            ]
        )
    if settings.device == "cpu" or not available:
        return torch.device("cpu")
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))


def resolve_precision(settings: TrainConfig, device: torch.device) -> torch.dtype:
    """The frozen base weights' dtype: `train.precision`, or (auto) bf16 on a GPU that supports it, else fp32."""
    if settings.precision != "auto":
        if settings.precision == "fp16" and device.type == "cpu":
            raise ConfigError(["train.precision: fp16 needs a GPU; use bf16 or fp32 on CPU"])
        return DTYPES[settings.precision]
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def precision_name(dtype: torch.dtype) -> str:
    return next(name for name, value in DTYPES.items() if value == dtype)


def describe(device: torch.device) -> dict[str, Any]:
    """What the manifest and the ledger record: the device's kind, name and memory."""
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        return {
            "type": "cuda",
            "index": device.index,
            "name": properties.name,
            "memory_gib": round(properties.total_memory / 2**30, 1),
            "cuda": torch.version.cuda,
        }
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "type": "cpu",
        "name": _cpu_name(),
        "memory_gib": round(memory / 2**30, 1),
        "threads": torch.get_num_threads(),
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def moved(batch: Sequence[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    """A batch's tensors on `device` (no copy where they are already there)."""
    return [tensor.to(device, non_blocking=True) for tensor in batch]


def largest_fitting_batch(try_size: Callable[[int], None], start: int) -> int:
    """The largest physical batch size, from `start` down by halving, for which `try_size(size)` runs without
    running out of GPU memory; 1 must fit."""
    size = start
    while True:
        try:
            try_size(size)
            return size
        except torch.OutOfMemoryError:
            if size == 1:
                raise ConfigError(
                    [
                        "train.physical_batch_size: auto: even one example does not fit in GPU memory; lower "
                        "train.max_length, use train.grad_sample_mode: ghost, or a smaller base model"
                    ]
                ) from None
            log.info("physical batch of %d does not fit in GPU memory; trying %d", size, size // 2)
            size //= 2
        finally:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
