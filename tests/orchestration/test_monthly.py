"""Monthly runs from one config that nobody edits: `--previous-run latest` and `--budget-store` (pipeline.overrides),
what the CLI, the Airflow DAG and the Prefect flow all apply. In the main environment: no orchestrator needed."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.__main__ import main
from pipeline.config import Config, load_config, with_overrides
from pipeline.errors import ConfigError
from pipeline.overrides import dated_run_dir, finished_runs, latest_previous_run, run_config
from tests.integration.runs import sample_tickets, write_run
from tests.orchestration.tiny import COLUMNS, write_export

MONTH_1_ROWS, NEW_ROWS = 60, 20
CONFIG = Config.model_validate({"sources": [{"path": "tickets.csv", "name": "tickets", "columns": {"text": ["t"]}}]})


def stage(status: str, started: str, finished: str | None = None) -> dict[str, Any]:
    return {"status": status, "started": started, **({"finished": finished} if finished else {})}


def write_manifest(folder: Path, manifest: dict[str, Any] | str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    (folder / "manifest.json").write_text(text, encoding="utf-8")
    return folder


def finished_run(folder: Path, redacted: str, sources: tuple[str, ...] = ("tickets",), previous: str | None = None):
    """A manifest as a run whose ingest and redact finished leaves it (only what `latest` reads)."""
    return write_manifest(
        folder,
        {
            "config": {"sources": [{"name": name, "previous_run": previous} for name in sources]},
            "stages": {
                "ingest": stage("finished", "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:01+00:00"),
                "redact": stage("finished", "2026-01-01T00:00:01+00:00", redacted),
            },
        },
    )


@pytest.fixture
def runs(tmp_path) -> Path:
    """Under one parent: two finished runs of the source, and folders `latest` must pass over, each for its reason."""
    parent = tmp_path / "runs"
    finished_run(parent / "tickets-2026-10", "2026-10-01T02:00:00+00:00")
    finished_run(parent / "tickets-2026-11", "2026-11-01T02:00:00+00:00")
    finished_run(parent / "other-2026-12", "2026-12-01T02:00:00+00:00", sources=("invoices",))
    write_manifest(
        parent / "tickets-broken",
        {"stages": {"ingest": stage("finished", "2026-12-01T00:00:00+00:00"), "redact": stage("failed", "x")}},
    )
    write_manifest(parent / "damaged", "{not json")
    (parent / "notes").mkdir()
    (parent / "privacy_budget.sqlite").write_text("")
    return parent


def test_latest_is_the_newest_finished_run_of_the_same_sources(runs):
    found, skipped = finished_runs(runs, exclude=runs / "tickets-2026-12", sources=["tickets"])
    assert [run.root.name for run in found] == ["tickets-2026-10", "tickets-2026-11"]
    assert skipped == {
        "of other sources": 1,
        "without finished ingest and redact stages": 1,
        "with a damaged manifest": 1,
        "not a run directory": 1,
    }
    assert latest_previous_run(CONFIG, runs / "tickets-2026-12") == (runs / "tickets-2026-11").absolute()


def test_a_run_takes_no_run_that_finished_after_it_first_started(runs):
    """A retried month-11 run (its ingest failed on 2026-11-01) must not compare with a month that came after."""
    retried = write_manifest(
        runs / "tickets-2026-11b", {"stages": {"ingest": stage("failed", "2026-11-01T01:00:00+00:00")}}
    )
    assert latest_previous_run(CONFIG, retried) == (runs / "tickets-2026-10").absolute()


@pytest.mark.parametrize(
    ("recorded", "expected"),
    [("tickets-2026-10", "tickets-2026-10"), (None, "none")],
    ids=["a previous run", "none"],
)
def test_once_ingest_finished_latest_stays_what_it_compared_with(runs, recorded, expected):
    """Every later task of the same DAG run, and every resume, gets the same answer, though a newer run now exists."""
    previous = str((runs / recorded).absolute()) if recorded else None
    here = finished_run(runs / "tickets-2026-12", "2026-12-01T02:00:00+00:00", previous=previous)
    chosen = latest_previous_run(CONFIG, here)
    assert chosen == ((runs / expected).absolute() if recorded else "none")


def test_the_first_run_has_no_previous_run(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="pipeline"):
        assert latest_previous_run(CONFIG, tmp_path / "runs" / "tickets-2026-01") == "none"
    assert "previous run (latest): none, no finished run under" in caplog.text


@pytest.fixture
def config(tmp_path) -> Path:
    return write_run(tmp_path, sample_tickets(MONTH_1_ROWS), COLUMNS, {})


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"budget_store": "postgresql+psycopg://pipeline:secret@db/privacy"}, "privacy.budget_store: "),
        ({"budget_store": "not a url"}, "privacy.budget_store: "),
        ({"previous_run": "/nowhere/run"}, "sources[0].previous_run: /nowhere/run is not a run"),
    ],
    ids=["a password in the URL", "not a URL", "not a run directory"],
)
def test_an_override_is_checked_as_the_config_file_is(config, tmp_path, overrides, problem):
    with pytest.raises(ConfigError) as raised:
        run_config(load_config(config), tmp_path / "runs" / "run", **overrides)
    assert problem in str(raised.value) and "run-time overrides" in str(raised.value)


def test_overrides_change_only_what_they_name(config, tmp_path):
    loaded = load_config(config)
    assert run_config(loaded, tmp_path / "run", previous_run="", budget_store="") is loaded
    store = f"sqlite:///{tmp_path / 'budget.sqlite'}"
    changed = run_config(loaded, tmp_path / "run", previous_run="none", budget_store=store)
    assert changed.privacy.budget_store == store and changed.sources[0].previous_run is None
    assert changed.model_dump(exclude={"privacy"}) == loaded.model_dump(exclude={"privacy"})
    assert with_overrides(loaded) == loaded


def run_month(config: Path, run_dir: Path, *extra: str) -> dict[str, Any]:
    command = ["run", "--config", str(config), "--run-dir", str(run_dir), "--to", "redact", *extra]
    assert main(command) == 0
    return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))


def test_month_two_compares_with_month_one_through_the_cli_with_the_same_config(config, tmp_path, caplog):
    """The export is replaced in place each month; the config and the command stay as they are, but the run directory."""
    runs = tmp_path / "runs"
    store = f"sqlite:///{tmp_path / 'budget.sqlite'}"
    month = ("--previous-run", "latest", "--budget-store", store)
    first = run_month(config, runs / "tickets-2026-11", *month)
    assert first["config"]["sources"][0]["previous_run"] is None
    write_export(tmp_path / "data.csv", sample_tickets(MONTH_1_ROWS + NEW_ROWS))
    with caplog.at_level(logging.INFO, logger="pipeline"):
        second = run_month(config, runs / "tickets-2026-12", *month)
    previous = str((runs / "tickets-2026-11").absolute())
    assert second["config"]["sources"][0]["previous_run"] == previous  # recorded as an absolute path
    assert second["config"]["privacy"]["budget_store"] == store
    assert f"previous run (latest): {previous}, redacted " in caplog.text
    assert second["stages"]["ingest"]["stats"]["row_status"] == {"new": NEW_ROWS, "changed": 0, "seen": MONTH_1_ROWS}
    assert second["stages"]["redact"]["stats"]["reused_from_previous_run"] == MONTH_1_ROWS
    # resumed, it keeps its previous run and skips what is done
    assert run_month(config, runs / "tickets-2026-12", *month)["stages"] == second["stages"]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("/shared/runs/tickets-{month}", "/shared/runs/tickets-2026-12"),
        ("/shared/runs/{date}/tickets", "/shared/runs/2026-12-01/tickets"),
        ("/shared/runs/tickets", "/shared/runs/tickets"),
        ("", ""),
    ],
)
def test_the_run_directory_of_a_scheduled_run_is_dated(template, expected):
    assert dated_run_dir(template, datetime(2026, 12, 1, 3, 0, tzinfo=UTC)) == expected
