"""The train stage under torchrun (Opacus' DPDDP on gloo): the accounting of one process, rank 0's adapter in PEFT format."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pipeline.__main__ import main
from pipeline.artifacts import RunDir
from pipeline.config import load_config
from pipeline.errors import ConfigError
from pipeline.stage import StageContext
from tests.conftest import csv_source
from tests.orchestration.tiny import tiny_config

ACCOUNTING = (
    "epsilon_spent",
    "noise_multiplier",
    "sampling_rate",
    "steps",
    "delta",
    "training_rows",
    "accountant_state",
)


@pytest.fixture
def config_path(write_config, tmp_path: Path) -> Path:
    (tmp_path / "t.csv").write_text("id,text,label,gender\n1,hello,a,f\n2,N/A,b,m\n", encoding="utf-8")
    return write_config({"run_name": "tiny", "sources": [csv_source("t.csv")]})


@pytest.fixture
def two_processes(monkeypatch) -> None:
    """The environment torchrun gives rank 0 of two processes (no process group is started before these checks)."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")


def test_under_torchrun_only_the_train_stage_runs(config_path, tmp_path, two_processes, capsys):
    assert main(["run", "--config", str(config_path), "--run-dir", str(tmp_path / "run"), "--to", "ingest"]) == 2
    error = capsys.readouterr().err
    assert "under torchrun only the train stage runs" in error and "Traceback" not in error


def test_under_torchrun_training_without_dp_is_refused(config_path, write_config, tmp_path, two_processes):
    from pipeline.stages import train

    no_dp = write_config({"run_name": "tiny", "sources": [csv_source("t.csv")], "train": {"dp": False}}, "no-dp.yaml")
    with pytest.raises(ConfigError, match="train.dp: false under torchrun"):  # at load, before the stage
        train.run(StageContext(config=load_config(no_dp), run_dir=RunDir(tmp_path / "run")))


def test_every_rank_draws_every_logical_batch_even_an_empty_one():
    from pipeline.training.sampling import UnitPoissonSampler

    units = [[0], [1, 7], [2], [3, 8, 9], [4], [5], [6]]
    sampler = UnitPoissonSampler(
        units, sample_rate=0.05, steps=20, generator=torch.Generator().manual_seed(0), rank=1, replicas=2
    )
    batches = list(sampler)
    assert len(batches) == len(sampler) == 20  # 1 / sample_rate, as in one process
    assert any(not batch for batch in batches) and any(batches)
    assert {row for batch in batches for row in batch} <= {1, 7, 3, 8, 9, 5}  # rank 1 of 2 draws units 1, 3, 5
    assert all(len(batch) == len({units.index(u) for u in units for row in batch if row in u}) for batch in batches)


def _pipeline(*command: str, cwd: Path, torchrun: bool = False) -> subprocess.CompletedProcess[str]:
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"] if torchrun else []
    done = subprocess.run(
        [sys.executable, *launcher, "-m", "pipeline", *command], capture_output=True, text=True, timeout=1200, cwd=cwd
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """The tiny config through split once, then its train stage in one process (A) and in two under torchrun (B)."""
    folder = tmp_path_factory.mktemp("dpddp")
    config = tiny_config(folder)
    single, double = folder / "single", folder / "double"
    _pipeline("run", "--config", str(config), "--run-dir", str(single), "--to", "split", cwd=folder)
    shutil.copytree(single, double)
    _pipeline("stage", "train", "--config", str(config), "--run-dir", str(single), cwd=folder)
    _pipeline("stage", "train", "--config", str(config), "--run-dir", str(double), cwd=folder, torchrun=True)
    return single, double


def _ledger(run_dir: Path) -> dict:
    return json.loads((run_dir / "train" / "privacy_ledger.json").read_text())


@pytest.mark.slow
def test_two_processes_spend_the_epsilon_of_one(trained):
    single, double = trained
    one, two = _ledger(single), _ledger(double)
    assert json.loads((double / "manifest.json").read_text())["stages"]["train"]["status"] == "finished"
    assert {key: two[key] for key in ACCOUNTING} == {key: one[key] for key in ACCOUNTING}
    assert one["processes"] == 1 and two["processes"] == 2
    assert 0 < two["epsilon_spent"] <= two["target_epsilon"]


@pytest.mark.slow
def test_rank_0_writes_an_adapter_shaped_like_a_single_process_one(trained):
    from safetensors.torch import load_file

    single, double = trained
    one = load_file(single / "train" / "adapter" / "adapter_model.safetensors")
    two = load_file(double / "train" / "adapter" / "adapter_model.safetensors")
    assert {name: tuple(t.shape) for name, t in two.items()} == {name: tuple(t.shape) for name, t in one.items()}
    assert not any(name.startswith("module.") or "_module." in name for name in two)
    assert json.loads((double / "train" / "adapter" / "adapter_config.json").read_text()) == json.loads(
        (single / "train" / "adapter" / "adapter_config.json").read_text()
    )
    lora_b = [t for name, t in two.items() if "lora_B" in name]
    assert lora_b and all(
        t.abs().sum() > 0 for t in lora_b
    )  # B starts at zero: the distributed updates reached rank 0's model
