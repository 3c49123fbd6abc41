"""The stage protocol and the loop that runs stages into a run directory.

A stage is a module `pipeline/stages/<name>.py` that defines `STAGE`, a
`Stage` whose `run(ctx)` reads its inputs from the run directory, writes its
outputs there (atomically) and returns a `StageResult`. What it reads and
writes is declared in `pipeline.layout.STAGES`, with the layout's path names:
before a stage runs, the runner checks that what it reads is there; after, that
its outputs cover what it declared. Adding a stage means adding that module,
its entry in the layout and its config section; the runner finds it by name.

The manifest records, per stage, its status, times, stats, outputs with their
hashes, and a fingerprint of everything the stage's result depends on. A stage
whose fingerprint and outputs are unchanged is skipped; a stage that was
killed part-way (status `running`) runs again from the start.
"""

from __future__ import annotations

import importlib
import importlib.util
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pipeline
from pipeline import distributed, executors, layout
from pipeline.artifacts import RunDir, sha256_file, sha256_json
from pipeline.config import STAGE_NAMES, Config, load_config
from pipeline.errors import InputError, PolicyFailed, StageError
from pipeline.logs import get_logger
from pipeline.overrides import run_config

log = get_logger("pipeline")

RECORDED_PACKAGES = (
    "pipeline",
    "pandas",
    "pyarrow",
    "pydantic",
    "datasets",
    "presidio-analyzer",
    "presidio-anonymizer",
    "spacy",
    "great-expectations",
    "scikit-learn",
    "torch",
    "transformers",
    "peft",
    "opacus",
)


EXECUTORS = executors.BACKENDS


@dataclass(frozen=True)
class StageContext:
    config: Config
    run_dir: RunDir
    fingerprint: str = ""  # of this stage's run: names work done ahead of it (e.g. redact's shards) that it may reuse
    executor: str = "local"  # where sharded stages process their shards: "local" (a process pool) or "ray"

    @property
    def seed(self) -> int:
        return self.config.seed


@dataclass(frozen=True)
class StageResult:
    """What a stage made: output paths relative to the run directory, and its stats.

    A stage that processes rows reports at least `total`, `kept` and
    `quarantined`, with `total == kept + quarantined`.
    """

    outputs: list[str]
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    files: layout.StageFiles  # its name, and what it reads and writes in the run directory
    run: Callable[[StageContext], StageResult]
    processes_rows: bool = True
    # what else the result depends on, outside the config and the inputs (e.g. which key is in the environment)
    fingerprint_extra: Callable[[Config], dict[str, Any]] | None = None
    # keys of its config section that later stages read and its own result does not depend on
    ignored_settings: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.files.name

    @property
    def reads(self) -> tuple[layout.Entry, ...]:
        return self.files.reads

    @property
    def writes(self) -> tuple[layout.Entry, ...]:
        return self.files.writes


def available_stages() -> list[str]:
    """The stage names, in pipeline order, whose module exists."""
    return [name for name in STAGE_NAMES if importlib.util.find_spec(f"pipeline.stages.{name}") is not None]


def load_stage(name: str) -> Stage:
    if name not in STAGE_NAMES:
        raise InputError(f"unknown stage '{name}'; the stages are: {', '.join(STAGE_NAMES)}")
    if name not in available_stages():
        raise InputError(
            f"stage '{name}' is not implemented in this version; available: {', '.join(available_stages())}"
        )
    return importlib.import_module(f"pipeline.stages.{name}").STAGE


def select_stages(first: str | None = None, last: str | None = None) -> list[str]:
    """The available stages from `first` to `last` inclusive, in pipeline order."""
    names = available_stages()
    for given in (first, last):
        if given is not None:
            load_stage(given)
    start = names.index(first) if first else 0
    stop = names.index(last) + 1 if last else len(names)
    if start >= stop:
        raise InputError(f"--from {first} comes after --to {last}; the order is: {' -> '.join(names)}")
    return names[start:stop]


def input_hashes(config: Config) -> dict[str, str]:
    """sha256 of every source file, keyed by its resolved path."""
    return {
        str(path): sha256_file(path) for index in range(len(config.sources)) for path in config.source_files(index)
    }


def fingerprint(config: Config, name: str, inputs: dict[str, str], manifest: dict[str, Any]) -> str:
    """A hash of everything a stage's result depends on: code version, its config, the
    shared settings, the source files, the outputs of the stages before it, and the stage's extras."""
    stage = load_stage(name)
    upstream = {
        earlier: manifest.get("stages", {}).get(earlier, {}).get("outputs", {})
        for earlier in STAGE_NAMES[: STAGE_NAMES.index(name)]
    }
    return sha256_json(
        {
            "pipeline": pipeline.__version__,
            "stage": name,
            "section": {
                key: value for key, value in config.section(name).items() if key not in stage.ignored_settings
            },
            "shared": {"seed": config.seed, "task": config.task, "sources": config.resolved()["sources"]},
            "inputs": inputs,
            "upstream": upstream,
            "extra": stage.fingerprint_extra(config) if stage.fingerprint_extra else {},
        }
    )


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in RECORDED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def run_pipeline(
    config: Config, run_dir: RunDir, names: list[str], *, force: bool = False, executor: str = "local"
) -> dict[str, Any]:
    """Run the named stages in order, skipping those already done; return the manifest.

    Under `torchrun` (WORLD_SIZE > 1) only the train stage runs: rank 0 as
    here, the other ranks train alongside it without touching the manifest.
    """
    if distributed.world_size() > 1:
        return _run_distributed(config, run_dir, names, force=force)
    with run_dir.lock():
        return _run_locked(config, run_dir, names, force=force, executor=executor)


def _run_locked(
    config: Config, run_dir: RunDir, names: list[str], *, force: bool, executor: str = "local"
) -> dict[str, Any]:
    for leftover in run_dir.remove_partials():
        log.info("removed a partial file left by an interrupted run: %s", leftover.relative_to(run_dir.root))
    inputs = input_hashes(config)
    manifest = run_dir.read_manifest()
    manifest.update(
        {
            "run_id": run_dir.root.name,
            "config": config.resolved(),
            "inputs": inputs,
            "packages": package_versions(),
        }
    )
    manifest.setdefault("stages", {})
    _require_upstream(manifest, names[0], config, inputs, run_dir)
    for name in names:
        _run_one(load_stage(name), config, run_dir, manifest, inputs, force=force, executor=executor)
    return manifest


def _run_distributed(config: Config, run_dir: RunDir, names: list[str], *, force: bool) -> dict[str, Any]:
    if names != ["train"]:
        raise InputError(
            f"under torchrun only the train stage runs (asked for: {', '.join(names)}); "
            "run the stages before it without torchrun, then `torchrun --nproc_per_node N -m pipeline stage train` with the same --config and --run-dir"
        )
    if distributed.rank() == 0:
        with run_dir.lock():
            return _run_locked(config, run_dir, names, force=force)
    manifest = run_dir.read_manifest()  # read-only: rank 0 owns the manifest and the outputs
    manifest.setdefault("stages", {})
    inputs = input_hashes(config)
    _require_upstream(manifest, "train", config, inputs, run_dir)
    stage_fingerprint = fingerprint(config, "train", inputs, manifest)
    if force or not _is_current(manifest["stages"].get("train", {}), stage_fingerprint, run_dir):
        stage = load_stage("train")
        _require_reads(stage, run_dir)
        stage.run(StageContext(config=config, run_dir=run_dir, fingerprint=stage_fingerprint))
    return manifest


def stage_context(
    name: str,
    config_path: str | None = None,
    run_dir: str | None = None,
    *,
    previous_run: str | None = None,
    budget_store: str | None = None,
) -> StageContext:
    """The context `run_named_stage` will give stage `name`, for work done ahead of it
    (redact's shards as mapped Airflow or Prefect tasks); its upstream stages must be finished."""
    config, directory = load_run(config_path, run_dir, previous_run=previous_run, budget_store=budget_store)
    manifest = directory.read_manifest()
    inputs = input_hashes(config)
    _require_upstream(manifest, name, config, inputs, directory)
    return StageContext(config=config, run_dir=directory, fingerprint=fingerprint(config, name, inputs, manifest))


def default_run_dir(config: Config) -> Path:
    """Where a run goes when no run directory is given: runs/<run_name> under the current directory."""
    return Path("runs") / config.run_name


def load_run(
    config_path: str | Path | None,
    run_dir: str | Path | None,
    *,
    previous_run: str | None = None,
    budget_store: str | None = None,
) -> tuple[Config, RunDir]:
    """The config (with the run-time overrides, `pipeline.overrides.run_config`) and the run directory
    of a run: what the CLI and every Airflow or Prefect task start from. Empty strings mean unset."""
    config = load_config(Path(config_path) if config_path else None)
    directory = RunDir(Path(run_dir) if run_dir else default_run_dir(config))
    config = run_config(config, directory.root, previous_run=previous_run, budget_store=budget_store)
    return config, directory


def run_named_stage(
    name: str,
    config_path: str | None = None,
    run_dir: str | None = None,
    *,
    previous_run: str | None = None,
    budget_store: str | None = None,
) -> dict[str, Any]:
    """One stage, from a config file into a run directory: what an Airflow or Prefect task calls.

    The same as `python -m pipeline stage NAME [--previous-run ...] [--budget-store ...]`: an
    up-to-date stage is skipped, so a retried task resumes. Returns the stage's manifest entry
    (status, stats, output hashes) with the run directory. Raises `PolicyFailed` when the report's
    verdict is FAIL (the CLI's exit 3).
    """
    config, directory = load_run(config_path, run_dir, previous_run=previous_run, budget_store=budget_store)
    manifest = run_pipeline(config, directory, select_stages(name, name))
    if name == "report" and (failure := policy_failure(manifest, directory)):
        raise PolicyFailed(failure)
    entry = manifest["stages"][name]
    return {
        "stage": name,
        "run_dir": str(directory.root),
        **{key: entry.get(key) for key in ("status", "duration_s", "stats", "outputs")},
    }


def policy_failure(manifest: dict[str, Any], run_dir: RunDir) -> str | None:
    """What failed, when the report stage's policy verdict is FAIL; None otherwise."""
    stats = manifest.get("stages", {}).get("report", {}).get("stats", {})
    if stats.get("verdict") != "FAIL":
        return None
    return f"policy verdict FAIL ({', '.join(stats.get('failed_checks', []))}): see {run_dir.path(layout.SUMMARY)}"


def rerun_stage(config: Config, run_dir: RunDir, name: str) -> dict[str, Any]:
    """Run one stage again on a finished run, against the source hashes the run recorded (the sources need not be here)."""
    with run_dir.lock():
        manifest = run_dir.read_manifest()
        _run_one(load_stage(name), config, run_dir, manifest, manifest.get("inputs", {}), force=True)
        return manifest


def _require_upstream(
    manifest: dict[str, Any], first: str, config: Config, inputs: dict[str, str], run_dir: RunDir
) -> None:
    """Starting part-way needs every earlier available stage finished and up to date."""
    for earlier in available_stages()[: available_stages().index(first)]:
        entry = manifest["stages"].get(earlier, {})
        if not _is_current(entry, fingerprint(config, earlier, inputs, manifest), run_dir):
            raise InputError(
                f"stage '{first}' needs the outputs of '{earlier}', which {run_dir.root} has not got up to date; "
                f"run `python -m pipeline run --to {earlier}` with this config and run directory first"
            )


def _require_reads(stage: Stage, run_dir: RunDir) -> None:
    """Every path the stage declares it reads (but those it reads only if present) must be in the run directory."""
    for entry in stage.reads:
        if layout.is_optional(entry) or _present(run_dir, entry):
            continue
        path, writer = layout.path_of(entry), layout.writer(layout.path_of(entry))
        if writer is None:
            raise InputError(f"stage '{stage.name}' needs {path}, which {run_dir.root} has not got")
        raise InputError(
            f"stage '{stage.name}' needs {path}, which '{writer}' writes and {run_dir.root} has not got; "
            f"run `python -m pipeline run --to {writer}` with this config and run directory first"
        )


def _present(run_dir: RunDir, entry: layout.Entry) -> bool:
    path = run_dir.path(layout.path_of(entry))
    if layout.is_folder(entry):
        return path.is_dir() and any(inside.is_file() for inside in path.rglob("*"))
    return path.is_file()


def _check_writes(stage: Stage, result: StageResult) -> None:
    """The outputs cover every path the stage declares it writes, and every output is one it declared."""
    missing = [
        layout.shown(entry)
        for entry in stage.writes
        if not layout.is_optional(entry) and not any(layout.covers(entry, output) for output in result.outputs)
    ]
    if missing:
        raise StageError(f"stage '{stage.name}' did not write {', '.join(missing)}, which it declares it writes")
    undeclared = [output for output in result.outputs if not any(layout.covers(e, output) for e in stage.writes)]
    if undeclared:
        raise StageError(
            f"stage '{stage.name}' wrote {', '.join(undeclared)}, which its entry in pipeline/layout.py does not declare"
        )


def _is_current(entry: dict[str, Any], expected_fingerprint: str, run_dir: RunDir) -> bool:
    return (
        entry.get("status") == "finished"
        and entry.get("fingerprint") == expected_fingerprint
        and run_dir.outputs_intact(entry.get("outputs", {}))
    )


def _run_one(
    stage: Stage,
    config: Config,
    run_dir: RunDir,
    manifest: dict[str, Any],
    inputs: dict[str, str],
    *,
    force: bool,
    executor: str = "local",
) -> None:
    stage_fingerprint = fingerprint(config, stage.name, inputs, manifest)
    entry = manifest["stages"].get(stage.name, {})
    if not force and _is_current(entry, stage_fingerprint, run_dir):
        log.info("%s: up to date, skipped (use --force to run it again)", stage.name)
        return
    _require_reads(stage, run_dir)
    started = time.monotonic()
    entry = {"status": "running", "started": _now(), "fingerprint": stage_fingerprint}
    if executors.sharded_stage(stage.name):  # where its shards ran (--executor); the outputs are the same
        entry["executor"] = executor
    manifest["stages"][stage.name] = entry
    run_dir.write_manifest(manifest)
    log.info("%s: started", stage.name)
    try:
        result = stage.run(
            StageContext(config=config, run_dir=run_dir, fingerprint=stage_fingerprint, executor=executor)
        )
        _check_accounting(stage, result)
        _check_writes(stage, result)
    except BaseException as error:
        entry.update(status="failed", finished=_now(), error=type(error).__name__)
        run_dir.write_manifest(manifest)
        log.error("%s: failed (%s)", stage.name, type(error).__name__)
        raise
    entry.update(
        status="finished",
        finished=_now(),
        duration_s=round(time.monotonic() - started, 3),
        stats=result.stats,
        outputs=run_dir.output_hashes(result.outputs),
    )
    run_dir.write_manifest(manifest)
    log.info("%s: finished in %.1fs %s", stage.name, entry["duration_s"], _summary(result.stats))


def _check_accounting(stage: Stage, result: StageResult) -> None:
    if not stage.processes_rows:
        return
    stats = result.stats
    missing = [key for key in ("total", "kept", "quarantined") if key not in stats]
    if missing:
        raise StageError(f"stage '{stage.name}' did not report {', '.join(missing)} in its stats")
    if stats["total"] != stats["kept"] + stats["quarantined"]:
        raise StageError(
            f"stage '{stage.name}' lost rows: total {stats['total']} != kept {stats['kept']} + quarantined {stats['quarantined']}"
        )


def _summary(stats: dict[str, Any]) -> str:
    if "total" not in stats:
        return ""
    return f"(total {stats['total']}, kept {stats['kept']}, quarantined {stats['quarantined']})"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
