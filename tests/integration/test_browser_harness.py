"""The browser harness (tests/browser.py) sees what a reviewer's browser would, and can fail."""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path

import pytest

from pipeline.reporting import render
from tests.browser import (
    count_page_objects,
    count_pdf_pages,
    find_chromium,
    inspect_report,
)
from tests.unit.test_render import hostile_report

if find_chromium() is None:
    pytest.skip(
        "no Chromium (install Debian's `chromium`, as .ci/run does, or set CHROMIUM_PATH)",
        allow_module_level=True,
    )


def png_data_uri(width: int = 4, height: int = 3) -> str:
    """A real (grey) PNG as a data: URI."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))  # filter 0, 8-bit grey
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def write_page(tmp_path: Path, body: str, head: str = "") -> Path:
    path = tmp_path / "report.html"
    path.write_text(
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>t</title>{head}</head>\n'
        f"<body>\n{body}\n</body></html>\n",
        encoding="utf-8",
    )
    return path


def test_a_clean_self_contained_page_has_no_problems(tmp_path):
    page = write_page(
        tmp_path,
        f"""
        <section id="overview"><h2>Overview</h2><p>Rows in, rows out.</p>
          <img alt="label chart" src="{png_data_uri()}"></section>
        <section id="bias" style="break-before: page"><h2>Bias  findings</h2><p>None.</p></section>
        """,
        head="<style>body { font-family: sans-serif; } h2 { color: #333; }</style>",
    )
    report = inspect_report(page, pdf_path=tmp_path / "report.pdf")

    assert report.problems() == []
    assert report.requests == [] and report.console_errors == [] and report.broken_images == []
    assert report.section_ids == ["overview", "bias"]
    assert report.headings == ["Overview", "Bias findings"]
    assert report.pdf_pages == 2  # the page break: pages are counted, not page trees
    pdf = (tmp_path / "report.pdf").read_bytes()
    assert count_pdf_pages(pdf) == count_page_objects(pdf) == 2  # with pypdf or without
    assert report.url == page.resolve().as_uri()


def test_external_and_sibling_resources_are_recorded_blocked_and_broken(tmp_path):
    (tmp_path / "plot.png").write_bytes(base64.b64decode(png_data_uri().split(",", 1)[1]))
    page = write_page(
        tmp_path,
        """
        <section id="s"><h2>S</h2>
          <img alt="remote plot" src="http://example.invalid/x.png">
          <img src="plot.png">
        </section>
        """,
        head='<link rel="stylesheet" href="https://cdn.example.invalid/a.css">',
    )
    report = inspect_report(page)

    assert "http://example.invalid/x.png" in report.requests
    assert "https://cdn.example.invalid/a.css" in report.requests
    # A file next to the report is not part of it: blocked even though it exists.
    assert (tmp_path / "plot.png").resolve().as_uri() in report.requests
    assert len(report.requests) == 3
    assert report.broken_images == ["remote plot", "img[1]"]
    assert report.problems()


def test_script_errors_and_uncaught_exceptions_are_reported(tmp_path):
    page = write_page(
        tmp_path,
        '<section id="s"><h2>S</h2></section>\n<script>console.error("boom"); throw new Error("x")</script>',
    )
    report = inspect_report(page)

    assert any("boom" in message for message in report.console_errors), report.console_errors
    assert any(message.startswith("pageerror:") and "x" in message for message in report.console_errors)
    assert report.requests == [] and report.broken_images == []
    assert report.section_ids == ["s"]


def test_dialogs_and_inline_scripts_are_recorded(tmp_path):
    page = write_page(
        tmp_path,
        f'<section id="s"><h2>S</h2><img alt="chart" src="{png_data_uri()}" onload="alert(2)"></section>\n'
        "<script>alert(1); confirm('sure?')</script>",
    )
    report = inspect_report(page)

    assert sorted(report.dialogs) == [
        "alert: 1",
        "alert: 2",
        "confirm: sure?",
    ]  # the image may load before the script runs
    assert sorted(report.scripts) == ["img onload", "script"]
    assert "dialog: alert: 1" in report.problems()


def test_a_report_with_hostile_values_runs_no_script_of_theirs(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render.html(hostile_report()), encoding="utf-8")
    report = inspect_report(page)

    assert report.dialogs == [] and report.scripts == []
    assert report.problems() == []  # no request for an injected image either
    assert len(report.section_ids) == 11 and report.broken_images == []


def test_the_page_count_is_page_objects_not_the_page_tree():
    pdf = b"1 0 obj << /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>\n2 0 obj << /Type /Page >>\n3 0 obj <</Type/Page>>"
    assert count_page_objects(pdf) == 2
