"""Settings a run is given when it starts instead of in its config file: what a scheduled run needs.

`run_config` applies them. `python -m pipeline run|stage --previous-run ... --budget-store ...`, the
Airflow DAG's params and the Prefect flow's parameters all call it, so a month's run gets the same
config whichever of them started it; the manifest records the result (`config.sources[].previous_run`
as an absolute path, `config.privacy.budget_store`).

`previous_run: latest` is the run that the month before left beside this one:

- the candidates are the other folders under the run directory's parent whose manifest says that both
  ingest and redact finished (what an incremental run reuses), with every source of this config;
- only those whose redact finished before this run first started count (a new run: now), so a run
  that is resumed or retried later does not take a run that came after it;
- of those, the one whose redact finished last (ties: the greater folder name);
- once this run's ingest stage has finished, `latest` is the previous run it compared with, as the
  manifest records: every task of one Airflow DAG run (and every later resume) gets the same answer,
  even when another run finishes in between. Name a run directory, or `none`, to change it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pipeline.artifacts import RunDir
from pipeline.config import Config, with_overrides
from pipeline.errors import InputError
from pipeline.logs import get_logger

log = get_logger("pipeline")

LATEST, NONE = "latest", "none"
PREVIOUS_RUN_HELP = (
    f"DIR (a finished run directory), {LATEST} (the newest run under this run directory's parent whose ingest "
    f"and redact finished, with the same sources) or {NONE}; set on every source"
)


def run_config(
    config: Config, run_dir: Path, *, previous_run: str | None = None, budget_store: str | None = None
) -> Config:
    """`config` as run in `run_dir`: with `previous_run` (a run directory, `latest` or `none`) set on
    every source and `budget_store` (a SQLAlchemy URL) as `privacy.budget_store`, both checked as the
    config file is. None or an empty string leaves the config's own setting."""
    chosen = resolve_previous_run(previous_run, config, Path(run_dir)) if previous_run else None
    if chosen is None and not budget_store:
        return config
    return with_overrides(config, previous_run=chosen, budget_store=budget_store or None)


def dated_run_dir(template: str, when: datetime | None) -> str:
    """`template` with `{month}` (YYYY-MM) and `{date}` (YYYY-MM-DD) of `when`: the run directory of a
    scheduled run (the Airflow DAG's and Prefect flow's `run_dir`); unchanged without them."""
    if when is None:
        return template
    return template.replace("{month}", f"{when:%Y-%m}").replace("{date}", f"{when:%Y-%m-%d}")


def resolve_previous_run(choice: str, config: Config, run_dir: Path) -> Path | Literal["none"]:
    """A `--previous-run` value as a run directory (relative: to the current directory) or `none`."""
    if choice == NONE:
        return NONE
    if choice == LATEST:
        return latest_previous_run(config, run_dir)
    return Path(choice).expanduser().absolute()


@dataclass(frozen=True)
class FinishedRun:
    root: Path
    redact_finished: datetime


def latest_previous_run(config: Config, run_dir: Path) -> Path | Literal["none"]:
    """What `previous_run: latest` means for a run in `run_dir` (see the module's docstring)."""
    manifest = RunDir(run_dir).read_manifest()
    pinned = _compared_with(config, manifest)
    if pinned is not None:
        log.info("previous run (latest): %s, the one this run's ingest stage compared with", pinned)
        return pinned
    parent = run_dir.absolute().parent
    started = _first_start(manifest)
    runs, skipped = finished_runs(
        parent, exclude=run_dir, sources=[config.source_name(i) for i in range(len(config.sources))], before=started
    )
    others = "; ".join(f"{count} {reason}" for reason, count in sorted(skipped.items())) or "none"
    if not runs:
        log.info("previous run (latest): none, no finished run under %s (other folders there: %s)", parent, others)
        return NONE
    chosen = runs[-1]
    log.info(
        "previous run (latest): %s, redacted %s, the newest of %d finished runs under %s (other folders there: %s)",
        chosen.root,
        chosen.redact_finished.isoformat(),
        len(runs),
        parent,
        others,
    )
    return chosen.root


def finished_runs(
    parent: Path, *, exclude: Path, sources: list[str], before: datetime | None = None
) -> tuple[list[FinishedRun], Counter[str]]:
    """The run directories under `parent` (but `exclude`) whose ingest and redact stages finished with every
    one of `sources` (and, with `before`, whose redact finished before it), oldest first; and the other
    folders, counted by why they are not among them."""
    runs: list[FinishedRun] = []
    skipped: Counter[str] = Counter()
    if not parent.is_dir():
        return runs, skipped
    excluded = exclude.resolve()
    for folder in sorted(path for path in parent.iterdir() if path.is_dir()):
        if folder.resolve() == excluded:
            continue
        reason, run = _as_finished_run(folder, sources, before)
        if run is None:
            skipped[reason] += 1
        else:
            runs.append(run)
    return sorted(runs, key=lambda run: (run.redact_finished, run.root.name)), skipped


def _as_finished_run(folder: Path, sources: list[str], before: datetime | None) -> tuple[str, FinishedRun | None]:
    try:
        manifest = RunDir(folder).read_manifest()
    except InputError:
        return "with a damaged manifest", None
    if not manifest:
        return "not a run directory", None
    stages = manifest.get("stages", {})
    if any(stages.get(name, {}).get("status") != "finished" for name in ("ingest", "redact")):
        return "without finished ingest and redact stages", None
    recorded = {source.get("name") for source in manifest.get("config", {}).get("sources", [])}
    if not set(sources) <= recorded:
        return "of other sources", None
    finished = _time(stages["redact"].get("finished"))
    if finished is None:
        return "without a redact finish time", None
    if before is not None and finished >= before:
        return "finished after this run started", None
    return "", FinishedRun(folder.absolute(), finished)


def _compared_with(config: Config, manifest: dict[str, Any]) -> Path | Literal["none"] | None:
    """The previous run (or none) that this run's finished ingest stage compared with, as its manifest
    records; None when its ingest has not finished or its sources named different previous runs."""
    if manifest.get("stages", {}).get("ingest", {}).get("status") != "finished":
        return None
    recorded = {source.get("name"): source for source in manifest.get("config", {}).get("sources", [])}
    names = [config.source_name(index) for index in range(len(config.sources))]
    if any(name not in recorded for name in names):
        return None
    folders = {recorded[name].get("previous_run") for name in names}
    if len(folders) != 1:
        return None
    (folder,) = folders
    return Path(folder) if folder else NONE


def _first_start(manifest: dict[str, Any]) -> datetime | None:
    starts = [_time(entry.get("started")) for entry in manifest.get("stages", {}).values()]
    return min((start for start in starts if start is not None), default=None)


def _time(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None
