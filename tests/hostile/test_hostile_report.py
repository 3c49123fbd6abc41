"""A whole run whose labels, column names and title are markup: the report, summary and model card must show them as text."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pipeline.artifacts import RunDir
from pipeline.config import load_config
from pipeline.stage import run_pipeline
from tests.integration.runs import DATA_STAGES, SMALL_TRAIN, sample_tickets, write_run

HOSTILE_LABELS = {
    "billing": "<script>alert(1)</script>",
    "shipping": '"><img src=x onerror=alert(3)>',
    "technical_issue": "| x | [x](http://evil.example/)",
    "fraud_report": "![i](http://evil.example/i.png)",
    "account_access": "$\\unknowncommand{$ ^_^",  # mathtext, if a plot parsed it
}
HOSTILE_COLUMN = "<b onmouseover=alert(2)>Gender</b>"
HOSTILE_TITLE = '"><svg onload=alert(5)> Review | [click](http://evil.example/)'
POLICY = {
    "max_accuracy_gap": None,
    "max_demographic_parity_difference": None,
}  # a few hundred rows: the gaps are noise here


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile-report")
    rows = [
        {
            **{HOSTILE_COLUMN if key == "Gender" else key: value for key, value in row.items()},
            "Category": HOSTILE_LABELS.get(row["Category"], row["Category"]),
        }
        for row in sample_tickets(300)
    ]
    columns = {
        "id": "Ticket ID",
        "text": ["Subject", "Description"],
        "label": "Category",
        "protected": [HOSTILE_COLUMN, "Age Band"],
        "identifier": ["Customer Name", "Customer Email", "Customer Phone"],
        "group": "Customer ID",
    }
    path = write_run(
        folder,
        rows,
        columns,
        {
            "train": {**SMALL_TRAIN, "epochs": 1},
            "evaluate": {"min_group_rows": 5},
            "report": {"title": HOSTILE_TITLE, "policy": POLICY},
        },
    )
    run_pipeline(load_config(path), RunDir(folder / "run"), [*DATA_STAGES, "train", "evaluate", "report"])
    return folder / "run"


class Elements(HTMLParser):
    """Every start tag of a page with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_html_report_shows_the_markup_as_text(hostile_run):
    page = (hostile_run / "report" / "report.html").read_text(encoding="utf-8")
    parser = Elements()
    parser.feed(page)
    assert [tag for tag, _ in parser.tags if tag in ("script", "svg", "b", "iframe", "object")] == []
    assert [(tag, name) for tag, attrs in parser.tags for name in attrs if name.startswith("on")] == []
    assert [
        attrs.get("src")
        for tag, attrs in parser.tags
        if tag == "img" and not (attrs.get("src") or "").startswith("data:image/")
    ] == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown to the reviewer, as text


@pytest.mark.parametrize("relative", ["report/summary.md", "train/adapter/README.md"])
def test_markdown_outputs_carry_no_link_image_or_tag_from_the_data(hostile_run, relative):
    text = (hostile_run / relative).read_text(encoding="utf-8")
    assert "alert\\(" in text or relative.endswith("README.md")  # the values are there, escaped
    assert not re.search(r"<(script|img|svg|b)\b", text, re.IGNORECASE)
    assert "](http://evil" not in text
    for line in text.splitlines():
        if line.startswith("|") and "---" not in line:
            assert line.count("|") - line.count("\\|") == text.splitlines()[_header_of(text, line)].count("|"), line


def _header_of(text: str, row: str) -> int:
    """The index of the header line of the table the row belongs to."""
    lines = text.splitlines()
    index = lines.index(row)
    while index > 0 and lines[index - 1].startswith("|"):
        index -= 1
    return index


def test_no_script_from_the_data_runs_in_chromium(hostile_run):
    from tests.browser import find_chromium, inspect_report

    if find_chromium() is None:
        pytest.skip("no chromium on this machine")
    seen = inspect_report(hostile_run / "report" / "report.html")
    assert seen.dialogs == [] and seen.requests == []
