"""The Airflow DAG deployed as in production, in an environment with the `[airflow]` extra (.ci/run makes one):
PostgreSQL as the metadata database (a throwaway database per session), and a scheduler with the LocalExecutor,
a dag-processor and an api-server (the tasks' Execution API) as separate processes; runs are started with
`airflow dags trigger`. The mapped redact tasks must really run side by side (SQLite would allow one at a time),
and a monthly run left at its defaults must take last month's run as its previous run.

Needs a PostgreSQL server that trusts its `postgres` user: $PIPELINE_TEST_POSTGRES, by default
postgresql://postgres@127.0.0.1:5432 (the test skips, saying so, when none answers)."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import STAGE_NAMES
from tests.integration.runs import sample_tickets
from tests.orchestration.tiny import DAGS, tiny_config, write_export

if importlib.util.find_spec("airflow") is None or importlib.util.find_spec("psycopg2") is None:
    pytest.skip(
        "needs the [airflow] extra (with its PostgreSQL driver) in its own environment "
        "(pip install -e '.[airflow]'; .ci/run makes one)",
        allow_module_level=True,
    )
import psycopg2  # noqa: E402

pytestmark = pytest.mark.slow

SERVER = os.environ.get("PIPELINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
DAG_ID = "curation_pipeline"
PARTS = 3  # mapped redact_shards tasks
MONTH_1_ROWS, MONTH_2_ROWS = 200, 240  # tiny_config's rows are month 2
STARTUP_S, RUN_S = 300, 1500


@pytest.fixture(scope="module")
def metadata_db() -> Iterator[str]:
    """A throwaway PostgreSQL database for Airflow's metadata, dropped afterwards; its URL."""
    name = f"airflow_test_{secrets.token_hex(4)}"
    try:
        admin = psycopg2.connect(f"{SERVER}/postgres", connect_timeout=5)
    except psycopg2.OperationalError as error:
        pytest.skip(f"no PostgreSQL at {SERVER} ($PIPELINE_TEST_POSTGRES): {str(error).strip()}")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{SERVER}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Deployment:
    """Airflow's processes on one metadata database, each with its log under AIRFLOW_HOME."""

    def __init__(self, home: Path, database: str) -> None:
        self.home, self.database, self.port = home, database, free_port()
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database.replace("postgresql://", "postgresql+psycopg2://", 1),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{self.port}",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),  # the api-server and the workers share it
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        }
        self.processes: dict[str, subprocess.Popen] = {}

    def airflow(self, *arguments: str, timeout: int = 600) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *arguments],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"airflow {' '.join(arguments)}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        return done.stdout

    def start(self, name: str, *arguments: str) -> None:
        log = (self.home / f"{name}.log").open("w")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "airflow", *arguments],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with its workers
        )

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def logs(self) -> str:
        return "\n".join(
            f"--- {name}.log (last lines) ---\n"
            + "\n".join((self.home / f"{name}.log").read_text().splitlines()[-40:])
            for name in self.processes
        )

    def query(self, sql: str, *values: Any) -> list[tuple]:
        with psycopg2.connect(self.database) as connection, connection.cursor() as cursor:
            cursor.execute(sql, values)
            return cursor.fetchall()

    def wait_until(self, what: str, ready, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                assert process.poll() is None, f"airflow {name} exited ({process.returncode}) {what}\n{self.logs()}"
            if ready():
                return
            time.sleep(2)
        pytest.fail(f"timed out after {timeout:.0f}s {what}\n{self.logs()}")

    def api_answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v2/monitor/health", timeout=5):
                return True
        except OSError:
            return False

    def trigger(self, run_id: str, conf: dict[str, Any]) -> dict[str, Any]:
        self.airflow("dags", "trigger", DAG_ID, "--run-id", run_id, "--conf", json.dumps(conf))
        self.wait_until(
            f"for DAG run {run_id}",
            lambda: self.query("SELECT state FROM dag_run WHERE run_id = %s", run_id)[0][0] in ("success", "failed"),
            RUN_S,
        )
        (state, run_after), *_ = self.query("SELECT state, run_after FROM dag_run WHERE run_id = %s", run_id)
        return {"state": state, "run_after": run_after, "tasks": self.task_instances(run_id)}

    def task_instances(self, run_id: str) -> dict[tuple[str, int], dict[str, Any]]:
        rows = self.query(
            "SELECT task_id, map_index, state, try_number, start_date, end_date FROM task_instance WHERE run_id = %s",
            run_id,
        )
        return {
            (task, index): {"state": state, "try_number": tries, "start": start, "end": end}
            for task, index, state, tries, start, end in rows
        }


@pytest.fixture(scope="module")
def deployment(metadata_db, tmp_path_factory) -> Iterator[Deployment]:
    deployed = Deployment(tmp_path_factory.mktemp("airflow-home"), metadata_db)
    deployed.airflow("db", "migrate")
    try:
        deployed.start(
            "api-server", "api-server", "--host", "127.0.0.1", "--port", str(deployed.port), "--workers", "1"
        )
        deployed.start("dag-processor", "dag-processor")
        deployed.start("scheduler", "scheduler")
        deployed.wait_until("for the api-server to answer", deployed.api_answers, STARTUP_S)
        deployed.wait_until(
            "for the dag-processor to store the DAG",
            lambda: bool(deployed.query("SELECT 1 FROM dag WHERE dag_id = %s AND NOT is_paused", DAG_ID)),
            STARTUP_S,
        )
        yield deployed
    finally:
        deployed.stop()
        shutil.rmtree(deployed.home, ignore_errors=True)


def run_month_1(config: Path, run_dir: Path) -> None:
    """Last month: its export (the first rows of this month's), through the CLI to redact."""
    write_export(config.parent / "data.csv", sample_tickets(MONTH_1_ROWS))
    command = ["run", "--config", str(config), "--run-dir", str(run_dir), "--to", "redact"]
    done = subprocess.run([sys.executable, "-m", "pipeline", *command], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    write_export(config.parent / "data.csv", sample_tickets(MONTH_2_ROWS))  # this month's replaces it in place


def overlapping(spans: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return [
        (a, b)
        for (a, first), (b, second) in itertools.combinations(enumerate(spans), 2)
        if first["start"] < second["end"] and second["start"] < first["end"]
    ]


def test_a_monthly_run_on_postgres_and_the_local_executor(deployment, tmp_path):
    config = tiny_config(tmp_path)
    runs = tmp_path / "runs"
    run_month_1(config, runs / "tickets-last-month")
    # the params a schedule would give: the run directory by month, previous_run and budget_store left at their defaults
    run = deployment.trigger(
        "month-2", {"config": str(config), "run_dir": str(runs / "tickets-{month}"), "shard_parts": PARTS}
    )
    tasks = run["tasks"]
    failed = {key: ti["state"] for key, ti in tasks.items() if ti["state"] not in ("success", "skipped")}
    assert run["state"] == "success" and not failed, f"{failed}\n{deployment.logs()}"

    shards = [tasks[("redact_shards", index)] for index in range(PARTS)]
    spans = [f"{shard['start']:%H:%M:%S.%f}-{shard['end']:%H:%M:%S.%f}" for shard in shards]
    print(f"redact_shards 0..{PARTS - 1} ran {', '.join(spans)}; overlapping pairs: {overlapping(shards)}")
    assert overlapping(shards), f"the mapped redact tasks ran one after another: {spans}"

    run_dir = runs / f"tickets-{run['run_after']:%Y-%m}"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert [name for name, entry in manifest["stages"].items() if entry["status"] == "finished"] == list(STAGE_NAMES)
    assert manifest["config"]["sources"][0]["previous_run"] == str((runs / "tickets-last-month").absolute())
    expected = {"new": MONTH_2_ROWS - MONTH_1_ROWS, "changed": 0, "seen": MONTH_1_ROWS}
    assert manifest["stages"]["ingest"]["stats"]["row_status"] == expected
    assert manifest["stages"]["redact"]["stats"]["reused_from_previous_run"] == MONTH_1_ROWS
    assert isinstance(run["run_after"], datetime)
