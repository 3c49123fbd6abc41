"""The command line as a user runs it: help, exit codes, skipping, forcing, one stage."""

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.__main__ import main
from pipeline.artifacts import RunDir
from pipeline.errors import InputError
from pipeline.stage import policy_failure, run_named_stage
from tests.conftest import csv_source


@pytest.fixture
def config_path(write_config, tmp_path: Path) -> Path:
    (tmp_path / "t.csv").write_text("id,text,label,gender\n1,hello,a,f\n2,N/A,b,m\n", encoding="utf-8")
    return write_config({"run_name": "tiny", "sources": [csv_source("t.csv")]})


@pytest.mark.parametrize("command", [[], ["run"], ["stage"], ["describe"], ["suite"]])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: python -m pipeline" in capsys.readouterr().out


def test_run_then_rerun_skips_and_force_reruns(config_path, tmp_path, caplog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.INFO, logger="pipeline")
    # the tiny config has too few rows to split: the CLI behaviour under test is the same for any range of stages
    assert main(["run", "--config", str(config_path), "--to", "ingest"]) == 0
    manifest_path = tmp_path / "runs" / "tiny" / "manifest.json"
    first = json.loads(manifest_path.read_text())["stages"]["ingest"]
    caplog.clear()
    assert main(["run", "--config", str(config_path), "--to", "ingest"]) == 0
    assert "ingest: up to date, skipped" in caplog.text
    assert json.loads(manifest_path.read_text())["stages"]["ingest"] == first
    caplog.clear()
    assert main(["run", "--config", str(config_path), "--to", "ingest", "--force"]) == 0
    assert "ingest: finished" in caplog.text


def test_stage_command_runs_one_stage_into_the_run_dir(config_path, tmp_path):
    run_dir = tmp_path / "elsewhere"
    assert main(["stage", "ingest", "--config", str(config_path), "--run-dir", str(run_dir)]) == 0
    assert json.loads((run_dir / "manifest.json").read_text())["stages"]["ingest"]["status"] == "finished"


def test_what_an_orchestrator_task_calls_returns_the_stages_manifest_entry(config_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_named_stage("ingest", str(config_path))
    manifest = json.loads((tmp_path / "runs" / "tiny" / "manifest.json").read_text())
    assert result["run_dir"] == "runs/tiny" and result["status"] == "finished"
    assert result["outputs"] == manifest["stages"]["ingest"]["outputs"] and result["stats"]["total"] == 2
    with pytest.raises(InputError, match="needs the outputs of 'ingest'"):
        run_named_stage("check", str(config_path), str(tmp_path / "fresh"))


def test_a_policy_failure_names_the_failed_checks_and_the_summary(tmp_path):
    run_dir = RunDir(tmp_path / "run")
    failed = {
        "stages": {"report": {"stats": {"verdict": "FAIL", "failed_checks": ["max_epsilon", "max_membership_auc"]}}}
    }
    assert (
        policy_failure(failed, run_dir)
        == f"policy verdict FAIL (max_epsilon, max_membership_auc): see {run_dir.path('report/summary.md')}"
    )
    assert policy_failure({"stages": {"report": {"stats": {"verdict": "PASS"}}}}, run_dir) is None
    assert policy_failure({"stages": {}}, run_dir) is None


def test_describe_lists_stages_and_resolved_config(config_path, capsys):
    assert main(["describe", "--config", str(config_path)]) == 0
    out = capsys.readouterr().out
    assert "ingest\n    reads:" in out and "report\n    reads:" in out and "not implemented" not in out
    assert "run_name: tiny" in out and "missing_values:" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--config", "{missing}"], "config file not found"),
        (["run", "--config", "{bad}"], "2 problem(s)"),
        (["run", "--config", "{empty_source}"], "is empty"),
    ],
)
def test_user_errors_exit_2_with_a_message_and_no_traceback(
    argv, message, config_path, write_config, tmp_path, capsys
):
    (tmp_path / "empty.csv").write_bytes(b"")
    paths = {
        "missing": tmp_path / "nope.yaml",
        "bad": write_config(
            {"sources": [csv_source("t.csv", columns={"text": ["Text"], "label": "Label"})]}, name="bad.yaml"
        ),
        "good": config_path,
        "empty_source": write_config({"sources": [csv_source("empty.csv")]}, name="empty.yaml"),
    }
    argv = [arg.format(**paths) for arg in argv]
    assert main(argv + ["--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_other_failures_exit_1(config_path, tmp_path, capsys):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    assert main(["run", "--config", str(config_path), "--run-dir", str(not_a_dir)]) == 1
    assert "error: unexpected" in capsys.readouterr().err


@pytest.mark.slow
def test_module_entry_point_exit_codes_in_a_real_process(config_path, tmp_path):
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "--config",
            str(config_path),
            "--run-dir",
            str(tmp_path / "r"),
            "--to",
            "curate",
        ],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--config", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    usage = subprocess.run([sys.executable, "-m", "pipeline", "frobnicate"], capture_output=True, text=True)
    assert usage.returncode == 2
