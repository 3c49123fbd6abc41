"""The pipeline as an Airflow 3 DAG: one task per stage, in the CLI's order.

Each task runs one stage with `pipeline.stage.run_named_stage`, the function
behind `python -m pipeline stage NAME`, into the run directory given as a DAG
param. Before each stage's task, `<stage>_plan` splits a sharded stage's
input into groups of shards (`pipeline.executors.plan_parts`) and
`<stage>_shards` is mapped over them (dynamic task mapping,
`pipeline.executors.process_part`), so the slow part of the stage spreads
over the workers; the stage's task then merges the shards in order (the
outputs equal the CLI's). A stage that is not sharded (today all but
`redact`) plans no group: its `<stage>_shards` is skipped and the stage runs
as a whole. Which stages are sharded is the pipeline's to say, not this
file's. A stage that is already up to date is skipped, so a retry or a second
trigger with the same params resumes where the run stopped. Failures the user
must fix (a bad config, unusable input, a policy verdict of FAIL) fail the
task at once; anything else is retried with exponential backoff.

Monthly runs (docs/orchestration.md): `run_dir` may hold `{month}` (or
`{date}`), filled from the DAG run's `run_after`, so each run gets its own
directory under one parent folder; `previous_run` (default `latest`: the
newest finished run in that folder, resolved the same way by every task of
the run, see pipeline/overrides.py) and `budget_store` (a SQLAlchemy URL;
empty: the config's `privacy.budget_store`) are applied to the config by
`pipeline.overrides.run_config`, as the CLI's --previous-run and
--budget-store are. The schedule and the defaults of `config` and `run_dir`
come from the environment the DAG is parsed in ($PIPELINE_SCHEDULE, e.g.
`@monthly`; $PIPELINE_CONFIG; $PIPELINE_RUN_DIR), so a deployment sets them
without editing this file.

The pipeline is imported inside the tasks, so the scheduler parses this file
without loading torch or spaCy.

Trigger with params, for example:
`{"config": "/srv/pipeline/config.yaml", "run_dir": "/shared/runs/tickets-{month}", "shard_parts": 8}`.
Empty strings mean the bundled sample config and `runs/<run_name>` under the
worker's working directory.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, chain, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

# pipeline.config.STAGE_NAMES, repeated so that parsing imports nothing of the pipeline (a test keeps them equal)
STAGES = ("ingest", "redact", "check", "curate", "split", "train", "evaluate", "report")
RETRIES: dict[str, Any] = {
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=15),
}


def stage_task(name: str):
    # none_failed: a stage that is not sharded runs after its skipped (never expanded) `<stage>_shards`
    @task(task_id=name, trigger_rule="none_failed", **RETRIES)
    def run_stage() -> dict[str, Any]:
        from pipeline.stage import run_named_stage

        return _fail_fast_on_user_errors(lambda run: run_named_stage(name, **run))

    return run_stage()


def shard_tasks(name: str):
    """`<name>_plan`, then `<name>_shards` mapped over its groups of shards: what runs before the stage's task."""

    @task(task_id=f"{name}_plan", **RETRIES)
    def plan() -> list[list[int]]:
        """The stage's shards in groups, one per mapped `<name>_shards` task; none if it is not sharded."""
        from pipeline.executors import plan_parts

        parts = get_current_context()["params"]["shard_parts"]
        return _fail_fast_on_user_errors(lambda run: plan_parts(name, parts=parts, **run))

    @task(task_id=f"{name}_shards", **RETRIES)
    def process(shards: list[int]) -> dict[str, int]:
        """Process one group of shards; the stage's task merges them in order (counts only in XCom)."""
        from pipeline.executors import process_part

        return _fail_fast_on_user_errors(lambda run: process_part(name, shard_indexes=shards, **run))

    groups = plan()
    return groups, process.expand(shards=groups)


def _fail_fast_on_user_errors(work: Callable[[dict[str, str | None]], Any]) -> Any:
    """Run `work(run)` with the run's arguments from the DAG params (config_path, run_dir, previous_run,
    budget_store); what the user must fix fails the task without retries."""
    from pipeline.errors import ConfigError, InputError, PolicyFailed
    from pipeline.overrides import dated_run_dir

    logging.getLogger("pipeline").setLevel(logging.INFO)
    context = get_current_context()
    params = context["params"]
    run = {
        "config_path": params["config"] or None,
        # run_after: when the DAG run was due (or triggered); the same for each of its tasks and their retries
        "run_dir": dated_run_dir(params["run_dir"], context["dag_run"].run_after) or None,
        "previous_run": params["previous_run"] or None,
        "budget_store": params["budget_store"] or None,
    }
    try:
        return work(run)
    except (ConfigError, InputError, PolicyFailed) as error:
        raise AirflowFailException(str(error)) from error


@dag(
    dag_id="curation_pipeline",
    schedule=os.environ.get("PIPELINE_SCHEDULE") or None,  # e.g. @monthly; unset: triggered by hand
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={
        "config": Param(
            os.environ.get("PIPELINE_CONFIG", ""),
            type="string",
            description="config YAML path (empty: the bundled sample config)",
        ),
        "run_dir": Param(
            os.environ.get("PIPELINE_RUN_DIR", ""),
            type="string",
            description="run directory, on storage every worker sees; {month} and {date} are the run's "
            "(e.g. /shared/runs/tickets-{month}; empty: runs/<run_name>)",
        ),
        "previous_run": Param(
            "latest",
            type="string",
            description="the finished run to compare with (incremental ingest and redact), set on every source: a "
            "run directory, latest (the newest finished run beside this run's directory) or none; empty: the config's",
        ),
        "budget_store": Param(
            "",
            type="string",
            description="the lifetime privacy budget's SQLAlchemy URL, without a password (empty: the config's "
            "privacy.budget_store, else privacy_budget.sqlite beside the run directories)",
        ),
        "shard_parts": Param(
            0,
            type="integer",
            minimum=0,
            description="mapped <stage>_shards tasks per sharded stage (0: its workers setting, e.g. redact.workers, "
            "else the worker's cores)",
        ),
    },
    tags=["data-curation", "privacy"],
    doc_md=__doc__,
)
def curation_pipeline() -> None:
    before = None
    for name in STAGES:
        plan, shards = shard_tasks(name)
        stage = stage_task(name)
        chain(*([before] if before is not None else []), plan, shards, stage)
        before = stage


curation_pipeline()
