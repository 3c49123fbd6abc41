"""Shared helpers: write small real input files and configs into a temporary folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.config import Config, load_config


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a config YAML into tmp_path and return its path."""

    def write(data: dict[str, Any], name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    return write


@pytest.fixture
def make_config(write_config):
    """Write a config and load it (validated against the data)."""

    def make(data: dict[str, Any]) -> Config:
        return load_config(write_config(data))

    return make


def csv_source(path: str, **overrides: Any) -> dict[str, Any]:
    """A source entry for the tiny CSV files the tests write: id, text, label, gender."""
    source = {"path": path, "columns": {"id": "id", "text": ["text"], "label": "label", "protected": ["gender"]}}
    source.update(overrides)
    return source
