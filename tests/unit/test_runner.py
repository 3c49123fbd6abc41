"""Run directory, atomic writes, manifest, skipping and re-running stages."""

import json
import os
import stat

import pytest

from pipeline.artifacts import RunDir, atomic_path, write_json
from pipeline.errors import InputError, StageError
from pipeline.layout import StageFiles
from pipeline.stage import Stage, StageResult, _check_accounting, run_pipeline, select_stages
from tests.conftest import csv_source


@pytest.fixture
def config(make_config, tmp_path):
    (tmp_path / "t.csv").write_text("id,text,label,gender\n1,hello,a,f\n2,N/A,b,m\n", encoding="utf-8")
    return make_config({"sources": [csv_source("t.csv")]})


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"version": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("killed mid-write")
    assert json.loads(target.read_text()) == {"version": 1}
    assert list(tmp_path.iterdir()) == [target]


def test_manifest_records_status_times_stats_outputs_config_inputs_and_packages(config, tmp_path):
    run_dir = RunDir(tmp_path / "run")
    manifest = run_pipeline(config, run_dir, ["ingest"])
    assert manifest == json.loads(run_dir.path("manifest.json").read_text())
    entry = manifest["stages"]["ingest"]
    assert entry["status"] == "finished" and entry["started"] <= entry["finished"]
    assert entry["stats"]["total"] == 2 and entry["stats"]["kept"] == 1 and entry["stats"]["quarantined"] == 1
    assert set(entry["outputs"]) == {"ingest/records.parquet", "ingest/schema.json", "quarantine/ingest.jsonl"}
    assert all(len(o["sha256"]) == 64 for o in entry["outputs"].values())
    assert manifest["config"]["sources"][0]["files"] == [str(tmp_path / "t.csv")]
    assert list(manifest["inputs"]) == [str(tmp_path / "t.csv")]
    assert {"python", "pandas", "pyarrow", "pydantic"} <= set(manifest["packages"])


def test_unchanged_stage_is_skipped_and_force_or_changes_run_it_again(config, make_config, tmp_path):
    run_dir = RunDir(tmp_path / "run")
    run_pipeline(config, run_dir, ["ingest"])
    marker = run_dir.path("ingest/records.parquet").stat().st_mtime_ns
    run_pipeline(config, run_dir, ["ingest"])
    assert run_dir.path("ingest/records.parquet").stat().st_mtime_ns == marker

    run_pipeline(config, run_dir, ["ingest"], force=True)
    assert run_dir.path("ingest/records.parquet").stat().st_mtime_ns != marker
    marker = run_dir.path("ingest/records.parquet").stat().st_mtime_ns

    changed = make_config({"sources": [csv_source("t.csv")], "ingest": {"missing_values": ["x"]}})
    manifest = run_pipeline(changed, run_dir, ["ingest"])
    assert run_dir.path("ingest/records.parquet").stat().st_mtime_ns != marker
    assert manifest["stages"]["ingest"]["stats"]["kept"] == 2


def test_changed_input_file_or_damaged_output_runs_the_stage_again(config, tmp_path):
    run_dir = RunDir(tmp_path / "run")
    run_pipeline(config, run_dir, ["ingest"])
    (tmp_path / "t.csv").write_text("id,text,label,gender\n1,hello,a,f\n2,more,b,m\n", encoding="utf-8")
    assert run_pipeline(config, run_dir, ["ingest"])["stages"]["ingest"]["stats"]["kept"] == 2

    run_dir.path("ingest/schema.json").write_text("{}")
    manifest = run_pipeline(config, run_dir, ["ingest"])
    assert run_dir.outputs_intact(manifest["stages"]["ingest"]["outputs"])


def test_partial_files_from_a_killed_run_are_removed(config, tmp_path):
    run_dir = RunDir(tmp_path / "run")
    leftover = run_dir.path("ingest/.records.parquet.abc.partial")
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half a file")
    run_pipeline(config, run_dir, ["ingest"])
    assert not leftover.exists()


def test_a_second_process_cannot_use_a_locked_run_directory(config, tmp_path):
    run_dir = RunDir(tmp_path / "run")
    with run_dir.lock(), pytest.raises(InputError, match="in use by another pipeline process"):
        run_pipeline(config, run_dir, ["ingest"])


def test_damaged_manifest_is_a_clear_error(config, tmp_path):
    run_dir = RunDir(tmp_path / "run")
    run_dir.root.mkdir()
    run_dir.path("manifest.json").write_text("{not json")
    with pytest.raises(InputError, match="manifest.json is not valid JSON"):
        run_pipeline(config, run_dir, ["ingest"])


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        ("bogus", None, "unknown stage 'bogus'"),
    ],
)
def test_stage_selection_errors(first, last, message):
    with pytest.raises(InputError, match=message):
        select_stages(first, last)


def test_a_stage_whose_module_is_missing_is_named_as_not_implemented(monkeypatch):
    import importlib.util

    import pipeline.stage

    real = importlib.util.find_spec
    monkeypatch.setattr(
        pipeline.stage.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pipeline.stages.report" else real(name, *a),
    )
    assert "report" not in pipeline.stage.available_stages()
    with pytest.raises(InputError, match="stage 'report' is not implemented in this version"):
        select_stages("report")


def test_stage_selection_is_a_range_in_pipeline_order():
    assert select_stages("ingest", "ingest") == ["ingest"]
    assert select_stages()[0] == "ingest"


@pytest.mark.parametrize(
    ("stats", "message"),
    [
        ({"total": 3, "kept": 1, "quarantined": 1}, "lost rows: total 3 != kept 1 \\+ quarantined 1"),
        ({"total": 3, "kept": 3}, "did not report quarantined"),
    ],
)
def test_a_stage_that_loses_rows_fails(stats, message):
    stage = Stage(
        files=StageFiles("demo", "a stage for the test", reads=(), writes=()), run=lambda ctx: StageResult([])
    )
    with pytest.raises(StageError, match=message):
        _check_accounting(stage, StageResult(outputs=[], stats=stats))


def test_run_directory_is_owner_only_whatever_the_umask(config, tmp_path):
    previous = os.umask(0o022)
    try:
        outside = RunDir(tmp_path / "run")
        outside.root.mkdir()
        (outside.root / "left-by-a-worker.txt").write_text("x")  # made before the lock, under umask 022
        run_pipeline(config, outside, ["ingest"])
        assert os.umask(0o022) == 0o022  # the caller's umask is given back
    finally:
        os.umask(previous)
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in [outside.root, *outside.root.rglob("*")]}
    assert {"records.parquet", "schema.json", "manifest.json", ".lock", "left-by-a-worker.txt", "ingest"} <= set(modes)
    assert {name: oct(mode) for name, mode in modes.items() if mode not in (0o600, 0o700)} == {}
    assert modes["ingest"] == modes["run"] == 0o700
