"""Open a self-contained HTML report in a real headless Chromium and say what a reviewer would see.

A helper for tests, not a test file. It drives the system's Chromium (Debian's
``chromium`` package) with Playwright's ``chromium.launch(executable_path=...)``;
no browser is downloaded (never ``playwright install``).

The page gets no network: every request other than the HTML file itself and
``data:`` URLs is recorded in ``BrowserReport.requests`` and aborted (the
context is also offline and host names resolve to nothing, in case a request
slips past the router). Sibling files (``file://`` URLs other than the page) are
blocked too: a self-contained report needs none. A dialog the page opens
(``alert``, ``confirm``, ``prompt``) is recorded and dismissed: a script ran.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urldefrag

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")

# Every image settled (lazy ones made eager), then loaded = complete with a
# natural width; alt text names a broken one, else its index.
_IMAGES_JS = """
async () => {
  const imgs = Array.from(document.images);
  for (const img of imgs) if (img.loading === "lazy") img.loading = "eager";
  await Promise.all(imgs.map((img) => img.complete ? null : new Promise((done) => {
    img.addEventListener("load", done, {once: true});
    img.addEventListener("error", done, {once: true});
    setTimeout(done, 5000);
  })));
  return imgs.map((img, i) => ({
    name: img.alt || `img[${i}]`,
    loaded: img.complete && img.naturalWidth > 0,
  }));
}
"""

_STRUCTURE_JS = """
() => ({
  sections: Array.from(document.querySelectorAll("section"), (s) => s.id),
  headings: Array.from(document.querySelectorAll("h2"),
                       (h) => h.textContent.replace(/\\s+/g, " ").trim()),
  scripts: Array.from(document.querySelectorAll("*")).flatMap((element) => {
    const tag = element.tagName.toLowerCase();
    const handlers = element.getAttributeNames().filter((name) => name.startsWith("on")).map((name) => `${tag} ${name}`);
    return tag === "script" ? [tag, ...handlers] : handlers;
  }),
})
"""


@dataclass
class BrowserReport:
    """What headless Chromium saw when it opened the page."""

    url: str  # the file:// URL that was opened
    browser_version: str
    requests: list[str] = field(default_factory=list)  # blocked: not the page itself, not data:
    console_errors: list[str] = field(default_factory=list)  # "error: ...", "warning: ...", "pageerror: ..."
    dialogs: list[str] = field(
        default_factory=list
    )  # "alert: <message>", "confirm: ...", "prompt: ...", "beforeunload: ..." (each dismissed)
    scripts: list[str] = field(
        default_factory=list
    )  # "script" per <script> element, "<tag> <on...>" per inline event handler
    broken_images: list[str] = field(default_factory=list)  # alt text, else "img[<index>]"
    section_ids: list[str] = field(default_factory=list)  # id of every <section> ("" when it has none)
    headings: list[str] = field(default_factory=list)  # text of every <h2>, whitespace collapsed
    pdf_pages: int = 0  # pages when printed to PDF (A4, backgrounds on)

    def problems(self) -> list[str]:
        """One line per thing a reviewer would notice; empty when the page is clean."""
        return (
            [f"request: {url}" for url in self.requests]
            + [f"console: {message}" for message in self.console_errors]
            + [f"dialog: {message}" for message in self.dialogs]
            + [f"broken image: {name}" for name in self.broken_images]
        )


def find_chromium() -> str | None:
    """The Chromium to drive: $CHROMIUM_PATH, else chromium / chromium-browser / google-chrome on PATH."""
    explicit = os.environ.get("CHROMIUM_PATH")
    if explicit:
        return explicit
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _same_file(url: str, page_url: str) -> bool:
    return unquote(urldefrag(url)[0]) == unquote(urldefrag(page_url)[0])


def count_pdf_pages(pdf: bytes) -> int:
    """Pages in a PDF: pypdf when installed, else the page objects (/Type /Page, not /Pages)."""
    try:
        from io import BytesIO

        from pypdf import PdfReader
    except ImportError:
        pass
    else:
        return len(PdfReader(BytesIO(pdf)).pages)
    return count_page_objects(pdf)


def count_page_objects(pdf: bytes) -> int:
    """Page objects (/Type /Page, not /Pages); the page tree's largest /Count when none is in plain sight."""
    pages = len(re.findall(rb"/Type\s*/Page(?![A-Za-z0-9])", pdf))
    if pages == 0:  # page objects inside a compressed object stream: trust the page tree
        pages = max((int(n) for n in re.findall(rb"/Count\s+(\d+)", pdf)), default=0)
    return pages


def inspect_report(
    html_path: Path,
    *,
    executable: str | None = None,
    timeout_s: float = 30.0,
    pdf_path: Path | None = None,
) -> BrowserReport:
    """Load ``html_path`` in headless Chromium with no network and report what it saw.

    Raises RuntimeError when no Chromium is found; Playwright's errors (a browser
    that will not start, a page that does not load in ``timeout_s``) propagate.
    ``pdf_path``, when given, keeps the printed PDF for a person to look at.
    """
    from playwright.sync_api import sync_playwright

    executable = executable or find_chromium()
    if executable is None:
        raise RuntimeError("no Chromium found: set CHROMIUM_PATH or install Debian's chromium")
    page_url = Path(html_path).resolve().as_uri()
    timeout_ms = timeout_s * 1000

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            timeout=timeout_ms,
            args=["--disable-dev-shm-usage", "--host-resolver-rules=MAP * ~NOTFOUND"],
        )
        try:
            report = BrowserReport(url=page_url, browser_version=browser.version)
            context = browser.new_context(offline=True, service_workers="block")
            page = context.new_page()
            page.set_default_timeout(timeout_ms)

            routed: list[str] = []
            seen: list[str] = []

            def allowed(url: str) -> bool:
                return url.startswith("data:") or _same_file(url, page_url)

            def route(route) -> None:
                url = route.request.url
                if allowed(url):
                    route.continue_()
                else:
                    routed.append(url)
                    route.abort()

            def on_request(request) -> None:
                if not allowed(request.url):
                    seen.append(request.url)

            def on_dialog(dialog) -> None:
                report.dialogs.append(f"{dialog.type}: {dialog.message}")
                dialog.dismiss()

            def on_console(message) -> None:
                if message.type in ("error", "warning"):
                    report.console_errors.append(f"{message.type}: {message.text}")

            page.route("**/*", route)
            page.on("request", on_request)
            page.on("websocket", lambda ws: seen.append(ws.url))
            page.on("console", on_console)
            page.on("pageerror", lambda error: report.console_errors.append(f"pageerror: {error}"))
            page.on("dialog", on_dialog)

            page.goto(page_url, wait_until="load")
            images = page.evaluate(_IMAGES_JS)
            structure = page.evaluate(_STRUCTURE_JS)
            pdf = page.pdf(format="A4", print_background=True)

            # Every routed request, then any the router did not see (a websocket, say).
            report.requests = routed + [url for url in dict.fromkeys(seen) if url not in routed]
            report.broken_images = [image["name"] for image in images if not image["loaded"]]
            report.section_ids = structure["sections"]
            report.headings = structure["headings"]
            report.scripts = structure["scripts"]
            report.pdf_pages = count_pdf_pages(pdf)
            if pdf_path is not None:
                Path(pdf_path).write_bytes(pdf)
            context.close()
        finally:
            browser.close()
    return report
