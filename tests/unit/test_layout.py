"""The run-directory layout: one place for every path, stages declaring what they read and write, the runner checking it."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline
from pipeline import layout
from pipeline.artifacts import RunDir
from pipeline.config import STAGE_NAMES, default_config_path
from pipeline.errors import InputError, StageError
from pipeline.layout import StageFiles, optional
from pipeline.stage import Stage, StageResult, _check_writes, _require_reads, load_stage, rerun_stage
from tests.conftest import csv_source

STAGES_FOLDER = Path(pipeline.__file__).parent / "stages"

# the paths as they were when they lived in the stage modules: outputs and manifests must not change
PATHS = {
    "INGESTED_RECORDS": "ingest/records.parquet",
    "SCHEMA": "ingest/schema.json",
    "REDACTED_RECORDS": "redact/records.parquet",
    "PII_LEDGER": "redact/pii_ledger.json",
    "REDACT_SHARDS": "redact/shards",
    "CHECKED_RECORDS": "check/records.parquet",
    "SUITE": "check/expectation_suite.json",
    "GX_RESULTS": "check/gx_results.json",
    "FINDINGS": "check/findings.json",
    "CURATED_RECORDS": "curate/records.parquet",
    "DATASET": "split/dataset",
    "SPLIT_REPORT": "split/report.json",
    "BIAS": "split/bias.json",
    "ADAPTER": "train/adapter",
    "LABELS": "train/labels.json",
    "PRIVACY_LEDGER": "train/privacy_ledger.json",
    "CURVE": "train/training_curve.json",
    "CANARIES": "train/canaries.parquet",
    "METRICS": "evaluate/metrics.json",
    "PREDICTIONS": "evaluate/predictions.parquet",
    "REPORT_HTML": "report/report.html",
    "REPORT_JSON": "report/report.json",
    "SUMMARY": "report/summary.md",
    "MODEL_CARD": "train/adapter/README.md",
    "MANIFEST": "manifest.json",
}


def test_the_paths_keep_their_values():
    assert {name: getattr(layout, name) for name in PATHS} == PATHS
    assert layout.SPLIT_FILES == {
        "train": "split/train.parquet",
        "validation": "split/validation.parquet",
        "test": "split/test.parquet",
    }
    assert layout.quarantine("curate") == "quarantine/curate.jsonl"


def test_every_stage_declares_its_files_in_the_layout():
    assert tuple(layout.STAGES) == STAGE_NAMES
    for name in STAGE_NAMES:
        stage = load_stage(name)
        assert stage.files is layout.STAGES[name] and stage.name == name


def test_no_stage_module_imports_another_stage():
    for module in sorted(STAGES_FOLDER.glob("*.py")):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        assert [name for name in imported if name.startswith("pipeline.stages")] == [], module.name


def test_what_a_stage_reads_an_earlier_stage_writes():
    for position, name in enumerate(STAGE_NAMES):
        for entry in layout.STAGES[name].reads:
            path = layout.path_of(entry)
            if path == layout.MANIFEST:
                assert layout.writer(path) is None  # the runner's
                continue
            assert layout.writer(path) in STAGE_NAMES[:position], (name, path)


def test_the_writer_of_a_path_is_the_stage_that_declares_it():
    assert layout.writer(layout.CHECKED_RECORDS) == "check"
    assert layout.writer(f"{layout.ADAPTER}/adapter_config.json") == "train"  # under the folder train declares
    assert layout.writer(layout.MODEL_CARD) == "report"  # in train's folder, but report declares the file itself
    assert layout.writer(f"{layout.DATASET}/train/data-00000-of-00001.arrow") == "split"
    assert layout.writer(layout.CANARIES) == "train"
    assert layout.writer("elsewhere/file.json") is None


DEMO = StageFiles(
    "demo",
    "a stage for the test",
    reads=("demo/in.json", layout.ADAPTER, optional("demo/extra.json")),
    writes=("demo/out.json", "demo/folder", optional("demo/maybe.json")),
)


def demo_stage() -> Stage:
    return Stage(files=DEMO, run=lambda ctx: StageResult([]))


def test_outputs_must_cover_every_declared_write(monkeypatch):
    monkeypatch.setattr(layout, "FOLDERS", layout.FOLDERS | {"demo/folder"})
    _check_writes(demo_stage(), StageResult(["demo/out.json", "demo/folder/a", "demo/folder/b/c"]))
    with pytest.raises(StageError, match="stage 'demo' did not write demo/folder/, which it declares it writes"):
        _check_writes(demo_stage(), StageResult(["demo/out.json", "demo/folder"]))
    with pytest.raises(StageError, match="did not write demo/out.json"):
        _check_writes(demo_stage(), StageResult(["demo/folder/a", "demo/maybe.json"]))
    with pytest.raises(
        StageError, match="wrote demo/other.json, which its entry in pipeline/layout.py does not declare"
    ):
        _check_writes(demo_stage(), StageResult(["demo/out.json", "demo/folder/a", "demo/other.json"]))


def test_a_missing_read_names_the_stage_to_run_first(tmp_path):
    run_dir = RunDir(tmp_path / "run")
    with pytest.raises(InputError) as error:
        _require_reads(load_stage("curate"), run_dir)
    assert str(error.value) == (
        f"stage 'curate' needs check/records.parquet, which 'check' writes and {run_dir.root} has not got; "
        "run `python -m pipeline run --to check` with this config and run directory first"
    )
    (run_dir.root / "demo").mkdir(parents=True)
    (run_dir.root / "demo" / "in.json").write_text("{}")
    (run_dir.root / "train" / "adapter").mkdir(parents=True)
    with pytest.raises(InputError, match="needs train/adapter, which 'train' writes"):  # an empty folder is not there
        _require_reads(demo_stage(), run_dir)
    (run_dir.root / "train" / "adapter" / "adapter_config.json").write_text("{}")
    _require_reads(demo_stage(), run_dir)  # demo/extra.json is read only if it is there


def test_the_runner_checks_the_reads_before_the_stage_starts(make_config, tmp_path):
    (tmp_path / "t.csv").write_text("id,text,label,gender\n1,hello,a,f\n", encoding="utf-8")
    config = make_config({"sources": [csv_source("t.csv")]})
    run_dir = RunDir(tmp_path / "run")
    run_dir.root.mkdir()
    run_dir.write_manifest({"stages": {}})
    with pytest.raises(InputError, match="stage 'redact' needs ingest/records.parquet, which 'ingest' writes"):
        rerun_stage(config, run_dir, "redact")
    assert run_dir.read_manifest() == {"stages": {}}  # the stage never started


TORCH_FREE = """
import sys
from pipeline.__main__ import main
codes = [main(["describe"]), main(["report", "--run-dir", sys.argv[1], "--config", sys.argv[2]])]
print(codes, "torch" in sys.modules)
"""


def test_describe_and_report_do_not_import_torch(tmp_path):
    """`describe` shows every stage, `report` loads the report stage and the runner, without loading torch.

    The run directory has a finished evaluate stage but none of its files, so the report command goes as far as
    the runner's check of what the report stage reads, which names the file and the stage that writes it.
    """
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "manifest.json").write_text(json.dumps({"stages": {"evaluate": {"status": "finished"}}}))
    done = subprocess.run(
        [sys.executable, "-c", TORCH_FREE, str(run_dir), str(default_config_path())],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.stdout.splitlines()[-1] == "[0, 2] False", done.stdout + done.stderr
    assert "stage 'report' needs redact/pii_ledger.json, which 'redact' writes" in done.stderr
    assert "  train\n    reads:  split/train.parquet, split/validation.parquet\n" in done.stdout
