"""The Prefect flow, in an environment with the `[prefect]` extra (.ci/run makes one): under Prefect's
test harness it runs the whole pipeline to the CLI's output hashes, and does not retry a user's error."""

from __future__ import annotations

import importlib.util
import os
from collections import Counter

import pytest

from pipeline.config import STAGE_NAMES
from tests.orchestration.tiny import DAGS, cli_run, same_results, tiny_config

if importlib.util.find_spec("prefect") is None:
    pytest.skip(
        "needs the [prefect] extra in its own environment (pip install -e '.[prefect]'; .ci/run makes one)",
        allow_module_level=True,
    )
# Prefect reads its settings once, when first imported
os.environ.update({"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"})
from prefect.client.orchestration import get_client  # noqa: E402
from prefect.testing.utilities import prefect_test_harness  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def harness():
    """A temporary Prefect server and database for this module's flow runs."""
    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="module")
def flows():
    spec = importlib.util.spec_from_file_location("prefect_flow", DAGS / "prefect_flow.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_flow_runs_the_stages_in_order(flows):
    assert flows.STAGES == STAGE_NAMES


def test_the_flow_runs_the_pipeline_to_the_same_hashes_as_the_cli(flows, tmp_path):
    config = tiny_config(tmp_path)
    run_dir = tmp_path / "prefect" / "run"  # the same folder name as the CLI's: it is the run id
    results = flows.curation_pipeline(str(config), str(run_dir), shard_parts=3)
    assert list(results) == list(STAGE_NAMES)
    with get_client(sync_client=True) as client:
        shard_runs = [run for run in client.read_task_runs() if run.name.endswith("_shards") or "_shards-" in run.name]
    by_stage = Counter(run.name.split("_shards")[0] for run in shard_runs)
    assert by_stage == {"redact": 3, "check": 1}  # check's 240 rows are one shard: one part
    assert all(run.state.is_completed() for run in shard_runs)  # only the sharded stages map tasks
    assert all(result["status"] == "finished" for result in results.values())
    assert same_results(run_dir) == same_results(cli_run(config, tmp_path / "cli" / "run"))


def test_a_config_error_fails_the_flow_without_retries(flows, tmp_path):
    state = flows.curation_pipeline(str(tmp_path / "missing.yaml"), str(tmp_path / "run"), return_state=True)
    assert state.is_failed()
    with get_client(sync_client=True) as client:
        runs = [run for run in client.read_task_runs() if run.flow_run_id == state.state_details.flow_run_id]
    by_name = {run.name.split("-")[0]: run for run in runs}
    # ingest is not sharded: its plan is empty, it maps no task, and nothing after it ran
    assert set(by_name) == {"ingest_plan", "ingest"}
    assert by_name["ingest"].run_count == 1 and by_name["ingest"].state.is_failed()
