"""Command line: `python -m pipeline run | stage NAME | report | describe | suite`.

Exit status: 0 on success; 2 for a problem with the config or the input
(a message, no traceback); 3 when the run finished but the report's policy
verdict is FAIL; 1 for anything else.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap
from pathlib import Path

import yaml

from pipeline import layout
from pipeline.artifacts import RunDir
from pipeline.config import STAGE_NAMES, Config, config_from_record, default_config_path, load_config
from pipeline.errors import ConfigError, InputError, PipelineError
from pipeline.logs import get_logger, printable
from pipeline.overrides import PREVIOUS_RUN_HELP
from pipeline.stage import (
    EXECUTORS,
    available_stages,
    load_run,
    policy_failure,
    rerun_stage,
    run_pipeline,
    select_stages,
)

log = get_logger("pipeline")

EXIT_OK, EXIT_FAILED, EXIT_USER_ERROR, EXIT_POLICY_FAILED = 0, 1, 2, 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="Curate, redact, check, split and fine-tune on enterprise exports; every run lands in a run directory with a manifest.",
        epilog="With no --config the bundled sample config runs on the bundled sample data. Exit status: 0 done; 1 failed; "
        "2 a problem with the config or input; 3 finished, but the report's policy verdict is FAIL.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run the pipeline (every stage, or --from/--to a range)",
        description="Run the stages in order. Stages whose inputs, config and outputs are unchanged are skipped.",
    )
    _add_config_arguments(run)
    run.add_argument(
        "--from",
        dest="first",
        metavar="STAGE",
        choices=STAGE_NAMES,
        help="first stage to run (earlier ones must be finished in the run directory)",
    )
    run.add_argument("--to", dest="last", metavar="STAGE", choices=STAGE_NAMES, help="last stage to run")
    run.add_argument("--force", action="store_true", help="run the selected stages even when they are up to date")

    stage = commands.add_parser(
        "stage",
        help="run one stage (what an Airflow or Prefect task calls)",
        description="Run one stage into the run directory; the stages before it must be finished there.",
    )
    stage.add_argument("name", metavar="NAME", choices=STAGE_NAMES, help=f"one of: {', '.join(STAGE_NAMES)}")
    _add_config_arguments(stage)
    stage.add_argument("--force", action="store_true", help="run the stage even when it is up to date")

    report = commands.add_parser(
        "report",
        help="rebuild the compliance report of a finished run",
        description="Rebuild report/ (HTML, JSON, Markdown) and the model card from a run directory whose evaluate stage finished. "
        "The config is the one recorded in the run's manifest unless --config is given (e.g. with other policy thresholds).",
    )
    report.add_argument("--run-dir", type=Path, metavar="DIR", required=True, help="the finished run directory")
    report.add_argument(
        "--config", type=Path, metavar="PATH", help="config YAML (default: the config recorded in the run's manifest)"
    )

    describe = commands.add_parser(
        "describe",
        help="show the stages, their inputs and outputs, and the resolved config",
        description="Validate the config and print the stages with what they read and write, then the resolved config.",
    )
    describe.add_argument(
        "--config", type=Path, metavar="PATH", help="config YAML (default: the bundled sample config)"
    )

    suite = commands.add_parser(
        "suite",
        help="write the data contract (Great Expectations suite JSON) the check stage builds from a config",
        description="Write the GX expectation suite built from the config's column roles and check.contract, to version it "
        "(e.g. under checks/suites/) and pass it back with check.contract.suite_path.",
    )
    suite.add_argument("--config", type=Path, metavar="PATH", help="config YAML (default: the bundled sample config)")
    suite.add_argument("--out", type=Path, metavar="PATH", help="file to write (default: print to standard output)")
    for command in (run, stage, report, describe, suite):
        command.add_argument("-v", "--verbose", action="store_true", help="log debug messages and show tracebacks")
    return parser


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="PATH", help="config YAML (default: the bundled sample config)")
    parser.add_argument(
        "--run-dir",
        type=Path,
        metavar="DIR",
        help="run directory (default: runs/<run_name> under the current directory)",
    )
    parser.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="where the sharded stage (redact) processes its shards: local (a process pool of redact.workers) or ray "
        "(the cluster at $RAY_ADDRESS, else a local one; needs the [ray] extra). Outputs are the same either way",
    )
    parser.add_argument(
        "--previous-run",
        metavar="DIR|latest|none",
        help=f"instead of the config's sources[].previous_run: {PREVIOUS_RUN_HELP}",
    )
    parser.add_argument(
        "--budget-store",
        metavar="URL",
        help="instead of the config's privacy.budget_store: the lifetime privacy budget's SQLAlchemy URL, without a "
        "password (e.g. postgresql+psycopg://pipeline@db-host/privacy, with $PGPASSWORD set)",
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)-7s %(message)s", datefmt="%H:%M:%S")
    log.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return _dispatch(args)
    except (ConfigError, InputError) as error:
        _print_error(str(error))
        return EXIT_USER_ERROR
    except PipelineError as error:
        _print_error(str(error))
        return EXIT_FAILED
    except KeyboardInterrupt:
        _print_error("interrupted; run the same command again to resume from the last finished stage")
        return EXIT_FAILED
    except BrokenPipeError:  # the reader of our output went away (`describe | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as error:
        if args.verbose:
            raise
        _print_error(f"unexpected {type(error).__name__}: {error}\n(run with --verbose for the traceback)")
        return EXIT_FAILED


def _print_error(message: str) -> None:
    print(f"error: {printable(message)}", file=sys.stderr)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "report":
        return rebuild_report(args.run_dir, args.config)
    if args.command == "describe":
        print(describe(load_config(args.config), args.config))
        return EXIT_OK
    if args.command == "suite":
        return write_suite(load_config(args.config), args.out)
    config, run_dir = load_run(
        args.config, args.run_dir, previous_run=args.previous_run, budget_store=args.budget_store
    )
    names = select_stages(args.name, args.name) if args.command == "stage" else select_stages(args.first, args.last)
    manifest = run_pipeline(config, run_dir, names, force=args.force, executor=args.executor)
    log.info("run directory: %s (manifest.json lists every output with its hash)", run_dir.root)
    return _verdict_status(manifest, run_dir) if "report" in names else EXIT_OK


def rebuild_report(run_dir_path: Path, config_path: Path | None) -> int:
    run_dir = RunDir(run_dir_path)
    manifest = run_dir.read_manifest()
    if manifest.get("stages", {}).get("evaluate", {}).get("status") != "finished":
        raise InputError(
            f"{run_dir.root} has no finished evaluate stage; run `python -m pipeline run --run-dir {run_dir.root}` first"
        )
    config = load_config(config_path, check_data=False) if config_path else config_from_record(manifest["config"])
    manifest = rerun_stage(config, run_dir, "report")
    return _verdict_status(manifest, run_dir)


def _verdict_status(manifest: dict, run_dir: RunDir) -> int:
    if failure := policy_failure(manifest, run_dir):
        log.error("%s", failure)
        return EXIT_POLICY_FAILED
    return EXIT_OK


def describe(config: Config, config_path: Path | None) -> str:
    """The stages with what they read and write in the run directory (from pipeline.layout, so no stage
    module is imported: describing the train stage does not load torch), then the resolved config."""
    available = available_stages()
    lines = [f"config: {config_path or default_config_path()}", "", "stages, in order (paths in the run directory):"]
    for name in STAGE_NAMES:
        if name not in available:
            lines.append(f"  {name}  (not implemented yet)")
            continue
        files = layout.STAGES[name]
        reads = ", ".join(layout.shown(entry) for entry in files.reads) or "nothing in the run directory"
        lines += [
            f"  {name}",
            *_wrapped("    reads:  ", reads),
            *_wrapped("    writes: ", ", ".join(layout.shown(entry) for entry in files.writes)),
            *_wrapped("    does:   ", files.summary),
        ]
    lines += ["", "resolved config:", yaml.safe_dump(config.resolved(), sort_keys=False, allow_unicode=True)]
    return "\n".join(lines)


def _wrapped(label: str, text: str) -> list[str]:
    return textwrap.wrap(
        text, width=115, initial_indent=label, subsequent_indent=" " * len(label), break_on_hyphens=False
    )


def write_suite(config: Config, out: Path | None) -> int:
    from pipeline.quality.contracts import build_suite

    text = json.dumps(build_suite(config), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        print(text, end="")
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        log.info("wrote the data contract to %s", out)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
