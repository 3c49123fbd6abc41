"""The pipeline as a Prefect 3 flow: one task per stage, in the CLI's order.

Each task runs one stage with `pipeline.stage.run_named_stage`, the function
behind `python -m pipeline stage NAME`, into the run directory given as a
flow parameter. A sharded stage's shards (today the redact stage's) are
first processed by a mapped task (see `curation_pipeline`), then merged by
the stage; which stages are sharded is the pipeline's to say, not this
file's. A stage that is already up to date is skipped, so a retry or a
second run with the same parameters resumes where the run stopped.
Failures the user must fix (a bad config, unusable input, a policy verdict
of FAIL) are not retried; anything else is, with exponential backoff.

Monthly runs (docs/orchestration.md): `run_dir` may hold `{month}` (or
`{date}`), filled from the flow run's scheduled start time, so each run gets
its own directory under one parent folder; `previous_run` (default `latest`:
the newest finished run in that folder, the same answer for every task, see
pipeline/overrides.py) and `budget_store` (a SQLAlchemy URL; None: the
config's `privacy.budget_store`) are applied to the config by
`pipeline.overrides.run_config`, as the CLI's --previous-run and
--budget-store are.

Run it once: `python dags/prefect_flow.py --config PATH --run-dir DIR`;
deploy it: `prefect deploy dags/prefect_flow.py:curation_pipeline` (a monthly
schedule: `--cron "0 3 1 * *"`, with `--param run_dir=/shared/runs/tickets-{month}`).
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


# a run's arguments, as every task gets them: config_path, run_dir, previous_run, budget_store
Run = dict[str, str | None]


@task(retries=2, retry_delay_seconds=exponential_backoff(backoff_factor=60), retry_condition_fn=worth_retrying)
def run_stage(name: str, run: Run) -> dict[str, Any]:
    from pipeline.stage import run_named_stage

    logging.getLogger("pipeline").setLevel(logging.INFO)
    return run_named_stage(name, **run)


@task(retries=2, retry_delay_seconds=exponential_backoff(backoff_factor=60), retry_condition_fn=worth_retrying)
def plan_shards(name: str, run: Run, parts: int) -> list[list[int]]:
    """The stage's shards in groups, one per mapped `process_shards` task; none if it is not sharded."""
    from pipeline.executors import plan_parts

    return plan_parts(name, parts=parts, **run)


@task(retries=2, retry_delay_seconds=exponential_backoff(backoff_factor=60), retry_condition_fn=worth_retrying)
def process_shards(name: str, shards: list[int], run: Run) -> dict[str, int]:
    """Process one group of shards, kept for the stage to merge in order; returns counts only."""
    from pipeline.executors import process_part

    return process_part(name, shard_indexes=shards, **run)


@flow(name="curation-pipeline")
def curation_pipeline(
    config: str | None = None,
    run_dir: str | None = None,
    shard_parts: int = 0,
    previous_run: str | None = "latest",
    budget_store: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Every stage in order; returns each stage's manifest entry (status, stats, output hashes).

    Before a sharded stage, `<stage>_shards` is mapped over groups of its shards (`shard_parts` of
    them; 0: the stage's workers setting, e.g. redact.workers, else the cores), so a Dask or Ray
    task runner spreads them; the stage then merges them in order. `run_dir` may hold `{month}` or
    `{date}` (the flow run's scheduled start); `previous_run`: a run directory, `latest` or `none`
    (None: the config's); `budget_store`: a SQLAlchemy URL (None: the config's).
    """
    from prefect.runtime import flow_run

    from pipeline.overrides import dated_run_dir

    when = flow_run.scheduled_start_time
    run: Run = {
        "config_path": config,
        "run_dir": dated_run_dir(run_dir, when) if run_dir else None,
        "previous_run": previous_run,
        "budget_store": budget_store,
    }
    results = {}
    for name in STAGES:
        parts = plan_shards.with_options(name=f"{name}_plan")(name, run, shard_parts)
        if parts:
            process = process_shards.with_options(name=f"{name}_shards")
            process.map(unmapped(name), parts, unmapped(run)).result()
        results[name] = run_stage.with_options(name=name)(name, run)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run the pipeline as a Prefect flow (one task per stage).")
    parser.add_argument("--config", metavar="PATH", help="config YAML (default: the bundled sample config)")
    parser.add_argument("--run-dir", metavar="DIR", help="run directory (default: runs/<run_name>)")
    parser.add_argument(
        "--shard-parts",
        type=int,
        default=0,
        metavar="N",
        help="mapped <stage>_shards tasks per sharded stage (default: its workers setting, e.g. redact.workers, "
        "else the cores)",
    )
    parser.add_argument(
        "--previous-run",
        default="latest",
        metavar="DIR|latest|none",
        help="the finished run to compare with, set on every source (default: latest, the newest finished run "
        "beside the run directory)",
    )
    parser.add_argument("--budget-store", metavar="URL", help="the lifetime privacy budget's SQLAlchemy URL")
    arguments = parser.parse_args()
    curation_pipeline(
        arguments.config, arguments.run_dir, arguments.shard_parts, arguments.previous_run, arguments.budget_store
    )
