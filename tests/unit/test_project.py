"""The README's promise: CI installs and tests exactly as the README's quick start says."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quick_start)


def test_quick_start_is_two_commands_one_runs_the_pipeline_one_the_tests():
    run, test = readme_commands()
    assert run.endswith("python -m pipeline run")
    assert test.endswith("python -m pytest")


def test_ci_runs_the_readme_test_command_step_by_step():
    _, test = readme_commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for step in test.split(" && ")[2:]:  # after creating and activating the venv
        assert f"\n{step}\n" in ci, f"{step!r} is in the README but not in .ci/run"
