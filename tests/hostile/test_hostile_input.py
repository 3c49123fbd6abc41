"""Hostile input, one row per case: the file and config a tester would throw at the CLI, and what must come back.

Each case runs `python -m pipeline ...` in a subprocess under umask 022, as a
user would, and checks the exit code, a fragment of the message or the
quarantine reason, that no traceback and no control character reaches the
terminal, and that whatever the run wrote is readable by its owner only.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_resume import run_cli as start_ingest
from tests.integration.test_resume import stage_status

EXIT_OK, EXIT_FAILED, EXIT_USER_ERROR = 0, 1, 2
TERMINAL_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
GOOD_ROWS = "id,text,label\n" + "".join(
    f"{i},my parcel {i} arrived broken,{'shipping' if i % 2 else 'billing'}\n" for i in range(1, 7)
)


def csv_config(path: str = "data.csv", **source: Any) -> dict[str, Any]:
    return {
        "run_name": "hostile",
        "sources": [{"path": path, "columns": {"id": "id", "text": ["text"], "label": "label"}, **source}],
        "redact": {"workers": 1, "demo_key_if_unset": True},
        "curate": {"languages": []},
    }


def jsonl_line(value: Any) -> str:
    return json.dumps(value) + "\n"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)


@dataclass(frozen=True)
class Case:
    name: str
    files: dict[str, str | bytes]
    config: dict[str, Any] | str | None  # a mapping is written as YAML, a string as it is; None: no config file at all
    expect_exit: int
    message: str = ""  # a fragment of stderr (case-insensitive)
    quarantined: str = ""  # a reason expected in quarantine/ingest.jsonl
    command: tuple[str, ...] = ("run", "--to", "ingest")
    check_run: dict[str, Any] = field(
        default_factory=dict
    )  # {relative path of a JSON output: {key path: expected value}}


CASES = [
    # --- the config ---------------------------------------------------------------------------------------------------
    Case("missing config", {}, None, EXIT_USER_ERROR, "config file not found"),
    Case(
        "python object tag",
        {"data.csv": GOOD_ROWS},
        "sources: !!python/object/apply:os.system [echo owned]\n",
        EXIT_USER_ERROR,
        "not valid yaml",
    ),
    Case(
        "alias bomb at the top level",
        {"data.csv": GOOD_ROWS},
        BILLION_LAUGHS,
        EXIT_USER_ERROR,
        "expands to more than 100,000 values",
    ),
    Case(
        "alias bomb in a free-form field",
        {"data.csv": GOOD_ROWS},
        yaml.safe_dump(csv_config())
        + "check:\n  contract:\n    extra_expectations:\n      - type: expect_column_values_to_not_be_null\n        kwargs:\n"
        + "".join("          " + line + "\n" for line in BILLION_LAUGHS.splitlines()),
        EXIT_USER_ERROR,
        "expands to more than 100,000 values",
    ),
    Case(
        "recursive alias", {"data.csv": GOOD_ROWS}, "sources: &loop [*loop]\n", EXIT_USER_ERROR, "expands to more than"
    ),
    Case(
        "yaml nested 5,000 deep",
        {"data.csv": GOOD_ROWS},
        "sources: " + nested(5000) + "\n",
        EXIT_USER_ERROR,
        "nested too deeply",
    ),
    Case(
        "valid encoding named (describe)",
        {"data.csv": GOOD_ROWS},
        csv_config(encoding="utf-8"),
        EXIT_OK,
        command=("describe",),
    ),
    Case("valid encoding named (run)", {"data.csv": GOOD_ROWS}, csv_config(encoding="cp1252"), EXIT_OK),
    Case(
        "unknown codec",
        {"data.csv": GOOD_ROWS},
        csv_config(encoding="no-such-codec"),
        EXIT_USER_ERROR,
        "sources[0].encoding",
    ),
    # --- the input files -------------------------------------------------------------------------------------------------
    Case("empty file", {"data.csv": ""}, csv_config(), EXIT_USER_ERROR, "is empty"),
    Case(
        "json object instead of an array",
        {"data.json": '{"id": 1, "text": "hi", "label": "a"}'},
        csv_config("data.json"),
        EXIT_USER_ERROR,
        "must hold a json array",
    ),
    Case(
        "broken json lines line",
        {"data.jsonl": jsonl_line({"id": 1, "text": "hi", "label": "a"}) + '{"id": 2, "text": "unterminated\n'},
        csv_config("data.jsonl"),
        EXIT_OK,
        quarantined="unparseable_json",
    ),
    Case(
        "json nested 5,000 deep",
        {"data.json": '[{"id": 1, "text": "hi", "label": "a", "x": ' + nested(5000) + "}]"},
        csv_config("data.json"),
        EXIT_USER_ERROR,
        "data.json",
    ),
    Case(
        "json lines line nested 5,000 deep",
        {"data.jsonl": jsonl_line({"id": 1, "text": "hi", "label": "a"}) + '{"id": 2, "x": ' + nested(5000) + "}\n"},
        csv_config("data.jsonl"),
        EXIT_OK,
        quarantined="too_deeply_nested",
    ),
    Case(
        "a 20 MB cell in json lines",
        {
            "data.jsonl": jsonl_line({"id": 1, "text": "hi", "label": "a"})
            + jsonl_line({"id": 2, "text": "x" * 20_000_000, "label": "a"})
        },
        csv_config("data.jsonl"),
        EXIT_OK,
        quarantined="record_too_large",
    ),
    Case(
        "a 2 MB cell in json lines",
        {
            "data.jsonl": jsonl_line({"id": 1, "text": "hi", "label": "a"})
            + jsonl_line({"id": 2, "text": "x" * 2_000_000, "label": "a"})
        },
        csv_config("data.jsonl"),
        EXIT_OK,
        quarantined="cell_too_large",
    ),
    Case(
        "a json object repeating a key",
        {
            "data.jsonl": jsonl_line({"id": 1, "text": "hi", "label": "a"})
            + '{"id": 2, "text": "a", "text": "b", "label": "a"}\n'
        },
        csv_config("data.jsonl"),
        EXIT_OK,
        quarantined="duplicate_key",
    ),
    Case(
        "a 2 MB cell in csv",
        {"data.csv": GOOD_ROWS + "9," + "y" * 2_000_000 + ",billing\n"},
        csv_config(),
        EXIT_OK,
        quarantined="cell_too_large",
    ),
    Case(
        "nul bytes in a csv cell",
        {"data.csv": GOOD_ROWS + "9,a parcel,shipping\x00\n"},
        csv_config(),
        EXIT_OK,
        check_run={"ingest/schema.json": {("sources", "data", "files", 0, "nul_bytes_stripped"): 1}},
    ),
    Case("random binary named .csv", {"data.csv": bytes(range(256)) * 8}, csv_config(), EXIT_USER_ERROR, "binary"),
    Case(
        "utf-16 without a byte-order mark",
        {"data.csv": GOOD_ROWS.encode("utf-16-le")},
        csv_config(),
        EXIT_USER_ERROR,
        "utf-16",
    ),
    Case(
        "duplicate column names",
        {"data.csv": "id,text,text,label\n1,a,b,shipping\n"},
        csv_config(),
        EXIT_USER_ERROR,
        "has the column 'text' twice",
    ),
    Case(
        "terminal escapes in a header",
        {"data.csv": "\x1b[31mid,te\x00xt,label\n1,a,b\n"},
        csv_config(),
        EXIT_USER_ERROR,
        "available: '\\x1b[31mid'",
    ),
    # --- the data as a whole -----------------------------------------------------------------------------------------------
    Case(
        "a label with one class",
        {
            "data.csv": "id,text,label\n"
            + "".join(f"{i},parcel number {i} is late again,shipping\n" for i in range(1, 41))
        },
        csv_config(),
        EXIT_USER_ERROR,
        "label 'label' has 1 class",
        command=("run", "--to", "split"),
    ),
    Case(
        "all rows quarantined",
        {"data.csv": "id,text,label\n1,,a\n2,N/A,b\n"},
        csv_config(),
        EXIT_USER_ERROR,
        "observed 0",
        command=("run", "--to", "check"),
    ),
]


def write_case(case: Case, folder: Path) -> Path:
    for name, content in case.files.items():
        target = folder / name
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8", newline="")
    config = folder / "config.yaml"
    if case.config is not None:
        config.write_text(
            case.config if isinstance(case.config, str) else yaml.safe_dump(case.config, sort_keys=False),
            encoding="utf-8",
        )
    return config


def run_cli(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=cwd,
        capture_output=True,
        timeout=timeout,
        preexec_fn=lambda: os.umask(0o022),
    )


def loose_modes(run_dir: Path) -> dict[str, str]:
    paths = [run_dir, *run_dir.rglob("*")]
    return {
        str(p.relative_to(run_dir)): oct(stat.S_IMODE(p.stat().st_mode))
        for p in paths
        if not p.is_symlink() and stat.S_IMODE(p.stat().st_mode) != (0o700 if p.is_dir() else 0o600)
    }


def value_at(document: Any, key_path: tuple[str | int, ...]) -> Any:
    for key in key_path:
        document = document[key]
    return document


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_input(case: Case, tmp_path: Path):
    config = write_case(case, tmp_path)
    run_dir = tmp_path / "run"
    args = [*case.command, "--config", str(config)] + (["--run-dir", str(run_dir)] if case.command[0] == "run" else [])
    result = run_cli(args, tmp_path)
    stderr = result.stderr.decode("utf-8", errors="replace")
    assert result.returncode == case.expect_exit, stderr[-2000:]
    assert case.message.lower() in stderr.lower(), stderr[-2000:]
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr[-2000:]
    assert not TERMINAL_CONTROL.search(stderr.replace("\n", "").replace("\t", "")), (
        "control characters reached the terminal"
    )
    if run_dir.exists():
        assert loose_modes(run_dir) == {}
    if case.quarantined:
        reasons = [
            json.loads(line)["reason"]
            for line in (run_dir / "quarantine" / "ingest.jsonl").read_text(encoding="utf-8").splitlines()
        ]
        assert case.quarantined in reasons
        stats = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["stages"]["ingest"]["stats"]
        assert stats["total"] == stats["kept"] + stats["quarantined"] and stats["quarantined"] >= 1
    for relative, expected in case.check_run.items():
        document = json.loads((run_dir / relative).read_text(encoding="utf-8"))
        assert {key_path: value_at(document, key_path) for key_path in expected} == expected


def test_kill_during_ingest_then_resume_gives_the_same_hashes(tmp_path: Path):
    rows = "id,text,label\n" + "".join(f"{i},parcel {i} arrived late,{'ab'[i % 2]}\n" for i in range(300_000))
    config = write_case(Case("big", {"data.csv": rows}, csv_config(), EXIT_OK), tmp_path)
    assert start_ingest(config, tmp_path / "reference").wait() == 0
    killed = tmp_path / "killed"
    process = start_ingest(config, killed)
    deadline = time.monotonic() + 60
    while stage_status(killed) != "running" and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert stage_status(killed) == "running", "the kill landed after the stage finished; make the input bigger"
    assert start_ingest(config, killed).wait() == 0

    def outputs(run_dir: Path) -> dict[str, Any]:
        return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["stages"]["ingest"]["outputs"]

    assert outputs(killed) == outputs(tmp_path / "reference")
