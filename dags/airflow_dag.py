"""The pipeline as an Airflow 3 DAG: one task per stage, in the CLI's order.

Each task runs one stage with `pipeline.stage.run_named_stage`, the function
behind `python -m pipeline stage NAME`, into the run directory given as a DAG
param. A stage that is already up to date is skipped, so a retry or a second
trigger with the same params resumes where the run stopped. Failures the user
must fix (a bad config, unusable input, a policy verdict of FAIL) fail the
task at once; anything else is retried with exponential backoff.

The pipeline is imported inside the tasks, so the scheduler parses this file
without loading torch or spaCy.

Trigger with params, for example:
`{"config": "/srv/pipeline/config.yaml", "run_dir": "/shared/runs/tickets-2026-11"}`.
Empty strings mean the bundled sample config and `runs/<run_name>` under the
worker's working directory.
"""

from __future__ import annotations

import logging
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
    @task(task_id=name, **RETRIES)
    def run_stage() -> dict[str, Any]:
        from pipeline.errors import ConfigError, InputError, PolicyFailed
        from pipeline.stage import run_named_stage

        logging.getLogger("pipeline").setLevel(logging.INFO)
        params = get_current_context()["params"]
        try:
            return run_named_stage(name, params["config"] or None, params["run_dir"] or None)
        except (ConfigError, InputError, PolicyFailed) as error:
            raise AirflowFailException(str(error)) from error

    return run_stage()


@dag(
    dag_id="curation_pipeline",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={
        "config": Param("", type="string", description="config YAML path (empty: the bundled sample config)"),
        "run_dir": Param("", type="string", description="run directory, on storage every worker sees (empty: runs/<run_name>)"),
    },
    tags=["data-curation", "privacy"],
    doc_md=__doc__,
)
def curation_pipeline() -> None:
    chain(*[stage_task(name) for name in STAGES])


curation_pipeline()
