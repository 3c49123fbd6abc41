"""Report: one document for a compliance review, from the finished run.

Writes `report/report.html` (self-contained: inline CSS, plots as data URIs,
no scripts or external requests; prints to PDF), `report/report.json` (the
same content; JSON Schema in `reports/report.schema.json`),
`report/summary.md`, and the model card `train/adapter/README.md` beside the
adapter. The summary checks the run against `report.policy`; a failed check
makes the verdict FAIL, and `python -m pipeline run` then exits 3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.artifacts import RunDir, atomic_path, sha256_file, write_json
from pipeline.config import Config
from pipeline.layout import DATA_PROFILE, MODEL_CARD, STAGES, SUMMARY
from pipeline.layout import REPORT_HTML as HTML
from pipeline.layout import REPORT_JSON as JSON
from pipeline.logs import get_logger
from pipeline.reporting import content, render
from pipeline.stage import Stage, StageContext, StageResult

log = get_logger("pipeline.report")


def run(ctx: StageContext) -> StageResult:
    report = content.build(ctx.config, ctx.run_dir)
    write_json(ctx.run_dir.path(JSON), report)
    for relative, text in (
        (HTML, render.html(report)),
        (SUMMARY, render.markdown_summary(report)),
        (MODEL_CARD, render.model_card(report)),
    ):
        with atomic_path(ctx.run_dir.path(relative)) as path:
            path.write_text(text, encoding="utf-8")
    summary = report["summary"]
    failed = [c["name"] for c in summary["checks"] if c["status"] == "fail"]
    if failed:
        log.warning("policy verdict FAIL: %s (see %s)", ", ".join(failed), SUMMARY)
    else:
        log.info("policy verdict PASS (%d checks)", len(summary["checks"]))
    return StageResult(
        outputs=[HTML, JSON, SUMMARY, MODEL_CARD], stats={"verdict": summary["verdict"], "failed_checks": failed}
    )


def _other_runs(config: Config) -> dict[str, Any]:
    """The baseline run's metrics and ledger, and the reference run's data profile with the drift thresholds, are
    inputs too: when they change, the report is out of date."""
    found: dict[str, Any] = {}
    if config.report.baseline_run_dir is not None:
        folder = Path(config.report.baseline_run_dir).expanduser()
        run_dir = RunDir(folder if folder.is_absolute() else config.base_dir / folder)
        found["baseline"] = {key: _hash(run_dir.path(content.FILES[key])) for key in ("metrics", "ledger")}
    reference_dir = config.reference_run_dir()
    if reference_dir is not None:
        found["reference"] = {
            "run": str(reference_dir),
            "profile": _hash(reference_dir / DATA_PROFILE),
            "drift": config.check.drift.model_dump(mode="json"),
        }
    return found


def _hash(path: Path) -> str | None:
    return sha256_file(path) if path.is_file() else None


STAGE = Stage(
    files=STAGES["report"],
    run=run,
    processes_rows=False,
    fingerprint_extra=_other_runs,
)
