"""The pipeline as a Prefect 3 flow: one task per stage, in the CLI's order.

Each task runs one stage with `pipeline.stage.run_named_stage`, the function
behind `python -m pipeline stage NAME`, into the run directory given as a
flow parameter. The redact stage's shards are first redacted by a mapped
task (see `curation_pipeline`), then merged by the stage. A stage that is already up to date is skipped, so a retry or
a second run with the same parameters resumes where the run stopped.
Failures the user must fix (a bad config, unusable input, a policy verdict
of FAIL) are not retried; anything else is, with exponential backoff.

Run it once: `python dags/prefect_flow.py --config PATH --run-dir DIR`;
deploy it: `prefect deploy dags/prefect_flow.py:curation_pipeline`.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from prefect import flow, task, unmapped
from prefect.tasks import exponential_backoff

# pipeline.config.STAGE_NAMES, repeated so that loading the flow imports nothing of the pipeline (a test keeps them equal)
STAGES = ("ingest", "redact", "check", "curate", "split", "train", "evaluate", "report")


def worth_retrying(task, task_run, state) -> bool:
    """Retry unless the failure is the user's to fix."""
    from pipeline.errors import ConfigError, InputError, PolicyFailed

    try:
        state.result()
    except (ConfigError, InputError, PolicyFailed):
        return False
    except Exception:
        return True
    return True


@task(retries=2, retry_delay_seconds=exponential_backoff(backoff_factor=60), retry_condition_fn=worth_retrying)
def run_stage(name: str, config: str | None, run_dir: str | None) -> dict[str, Any]:
    from pipeline.stage import run_named_stage

    logging.getLogger("pipeline").setLevel(logging.INFO)
    return run_named_stage(name, config, run_dir)


@task(retries=2, retry_delay_seconds=exponential_backoff(backoff_factor=60), retry_condition_fn=worth_retrying)
def redact_plan(config: str | None, run_dir: str | None, parts: int) -> list[list[int]]:
    from pipeline.stage import stage_context
    from pipeline.stages.redact import plan_parts

    return plan_parts(stage_context("redact", config, run_dir), parts)


@task(retries=2, retry_delay_seconds=exponential_backoff(backoff_factor=60), retry_condition_fn=worth_retrying)
def redact_shards(shards: list[int], config: str | None, run_dir: str | None) -> dict[str, int]:
    from pipeline.stage import stage_context
    from pipeline.stages.redact import redact_part

    return redact_part(stage_context("redact", config, run_dir), shards)


@flow(name="curation-pipeline")
def curation_pipeline(
    config: str | None = None, run_dir: str | None = None, redact_parts: int = 0
) -> dict[str, dict[str, Any]]:
    """Every stage in order; returns each stage's manifest entry (status, stats, output hashes).

    Before the redact stage, `redact_shards` is mapped over groups of shards (`redact_parts` of
    them; 0: redact.workers, else the cores), so a Dask or Ray task runner spreads them; the
    stage then merges them in order.
    """
    results = {}
    for name in STAGES:
        if name == "redact":
            parts = redact_plan(config, run_dir, redact_parts)
            redact_shards.map(parts, unmapped(config), unmapped(run_dir)).result()
        results[name] = run_stage.with_options(name=name)(name, config, run_dir)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run the pipeline as a Prefect flow (one task per stage).")
    parser.add_argument("--config", metavar="PATH", help="config YAML (default: the bundled sample config)")
    parser.add_argument("--run-dir", metavar="DIR", help="run directory (default: runs/<run_name>)")
    parser.add_argument(
        "--redact-parts",
        type=int,
        default=0,
        metavar="N",
        help="mapped redact_shards tasks (default: redact.workers, else the cores)",
    )
    arguments = parser.parse_args()
    curation_pipeline(arguments.config, arguments.run_dir, arguments.redact_parts)
