"""The documentation stays true: the config reference names exactly the keys `pipeline/config.py` accepts,
with their defaults, and every relative link in README.md and docs/ leads to a file that exists."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yaml
from pydantic import BaseModel, TypeAdapter

from pipeline.config import Config

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "configuration.md"
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# A key line in a YAML block: optional indentation, an optional "- " (first key of a list item), the key, a colon.
KEY_LINE = re.compile(r"^(?P<indent>\s*)(?:-\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?:\s|$)")
QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"\\]|\\.)*\"")


# --- the keys pipeline/config.py accepts ---


def _models_in(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model a field holds (directly, optionally, or as list items), and whether it is a list of them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, tuple, set, frozenset) and args:
        model, _ = _models_in(args[0])
        return model, model is not None
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            model, is_list = _models_in(arg)
            if model is not None:
                return model, is_list
    return None, False


def config_keys(model: type[BaseModel] = Config, prefix: str = "") -> dict[str, dict[str, Any]]:
    """Every dotted key under `model`, with what it is: {key: {"section", "list", "in_list", "field"}}.

    `section`: the field holds a model; `list`: a list of them; `in_list`: the key is inside a list item;
    `field`: pydantic's FieldInfo (default, annotation).

    A field holding a model is a section (its keys follow, `train.lora.r`); a list of models
    is written `sources[]` and its items' keys `sources[].columns.label`.
    """
    keys: dict[str, dict[str, Any]] = {}
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        nested, is_list = _models_in(field.annotation)
        keys[key] = {"section": nested is not None, "list": is_list, "in_list": "[]" in prefix, "field": field}
        if nested is not None:
            keys.update(config_keys(nested, f"{key}[]." if is_list else f"{key}."))
    return keys


# --- the keys docs/configuration.md documents ---


def reference_blocks() -> list[tuple[int, str]]:
    """The fenced ```yaml blocks of the reference, with the line each starts on."""
    blocks = []
    lines = REFERENCE.read_text(encoding="utf-8").splitlines()
    start = None
    for number, line in enumerate(lines, 1):
        if start is None and line.strip() == "```yaml":
            start = number
        elif start is not None and line.strip() == "```":
            blocks.append((start + 1, "\n".join(lines[start : number - 1])))
            start = None
    assert start is None, f"docs/configuration.md: the ```yaml block opened on line {start} is never closed"
    return blocks


def documented_keys(sections: set[str]) -> list[str]:
    """Dotted keys of every yaml block. A mapping is descended into only where config.py has a section there,
    so the value of a dict-valued key (`redact.thresholds`, `sources[].rename`) is an example, not keys."""
    keys: list[str] = []

    def walk(value: Any, prefix: str) -> None:
        for key, item in value.items():
            dotted = f"{prefix}{key}"
            keys.append(dotted)
            if dotted in sections and isinstance(item, dict):
                walk(item, f"{dotted}.")
            elif dotted in sections and isinstance(item, list):
                for element in item:
                    if isinstance(element, dict):
                        walk(element, f"{dotted}[].")

    for line, block in reference_blocks():
        data = yaml.safe_load(block)
        assert isinstance(data, dict), f"docs/configuration.md: the yaml block on line {line} is not a mapping"
        walk(data, "")
    return keys


def documented_values() -> dict[str, Any]:
    """The value each top-level path has in the reference (list items excluded), for comparing with defaults."""
    values: dict[str, Any] = {}

    def walk(value: Any, prefix: str) -> None:
        for key, item in value.items():
            values[f"{prefix}{key}"] = item
            if isinstance(item, dict):
                walk(item, f"{prefix}{key}.")

    for _, block in reference_blocks():
        walk(yaml.safe_load(block), "")
    return values


# --- the tests ---


def test_reference_documents_every_config_key_and_no_other():
    keys = config_keys()
    sections = {key for key, info in keys.items() if info["section"]}
    documented = documented_keys(sections)
    repeated = sorted({key for key in documented if documented.count(key) > 1 and "[]" not in key})
    missing = sorted(set(keys) - set(documented))
    stale = sorted(set(documented) - set(keys))
    problems = []
    if missing:
        problems.append("in pipeline/config.py but not in docs/configuration.md: " + ", ".join(missing))
    if stale:
        problems.append("in docs/configuration.md but not in pipeline/config.py: " + ", ".join(stale))
    if repeated:
        problems.append("documented more than once in docs/configuration.md: " + ", ".join(repeated))
    assert not problems, "\n".join(problems)


def test_reference_explains_every_key_in_a_comment():
    uncommented = []
    for start, block in reference_blocks():
        for offset, line in enumerate(block.splitlines()):
            match = KEY_LINE.match(line)
            if match and "#" not in QUOTED.sub("''", line[match.end() :]):
                uncommented.append(f"line {start + offset}: {match['key']}")
    assert not uncommented, "docs/configuration.md: keys without a '# comment' saying what they do:\n" + "\n".join(
        uncommented
    )


def test_reference_shows_each_default():
    """Outside list items (examples), a key with a default shows that default as its value."""
    values = documented_values()
    wrong = []
    for key, info in config_keys().items():
        field = info["field"]
        if info["in_list"] or info["list"] or info["section"] or field.is_required() or key not in values:
            continue
        default = TypeAdapter(field.annotation).dump_python(field.get_default(call_default_factory=True), mode="json")
        if values[key] != default:
            wrong.append(f"{key}: documented {values[key]!r}, default {default!r}")
    assert not wrong, "docs/configuration.md shows values other than config.py's defaults:\n" + "\n".join(wrong)


LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|!\[[^\]]*\]\(([^)\s]+)\)")


def relative_links(document: Path) -> list[str]:
    text = document.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # code blocks hold no links
    text = re.sub(r"`[^`\n]*`", "", text)
    targets = [a or b for a, b in LINK.findall(text)]
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def anchors(document: Path) -> set[str]:
    """GitHub's anchors for a Markdown file's headings: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"```.*?```", "", document.read_text(encoding="utf-8"), flags=re.S)
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", text, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_lead_to_files_that_exist(document):
    broken = []
    for target in relative_links(document):
        path, _, anchor = unquote(target).partition("#")
        linked = document.parent / path
        if not linked.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{document.relative_to(ROOT)}: broken links: {', '.join(broken)}"


def test_readme_links_every_docs_page():
    linked = {(ROOT / target.split("#", 1)[0]).resolve() for target in relative_links(ROOT / "README.md")}
    unlinked = [path.name for path in DOCUMENTS[1:] if path.resolve() not in linked]
    assert not unlinked, f"README.md does not link to: {', '.join(unlinked)}"


def test_each_stage_page_starts_with_reads_writes_guarantees():
    for name in ("ingest", "redact", "check-and-curate", "split", "train", "evaluate-and-report"):
        text = (ROOT / "docs" / f"{name}.md").read_text(encoding="utf-8")
        headings = re.findall(r"^## (.+)$", text, flags=re.M)
        assert headings[:3] == ["Reads", "Writes", "Guarantees"], f"docs/{name}.md starts with {headings[:3]}"
