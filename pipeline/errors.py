"""The errors the pipeline raises on purpose.

A `ConfigError` or `InputError` is the user's to fix: the CLI prints its
message and exits 2 without a traceback. A `StageError` is a failure inside a
stage (exit 1). None of their messages may contain raw record values.
"""


class PipelineError(Exception):
    """Base class for errors the pipeline raises on purpose."""


class ConfigError(PipelineError):
    """The configuration is invalid. Carries every problem found, not just the first."""

    def __init__(self, problems: list[str], source: str = "config") -> None:
        self.problems = list(problems)
        self.source = source
        listing = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s):\n{listing}")


class InputError(PipelineError):
    """An input file cannot be used as it is (missing, empty, unreadable)."""


class StageError(PipelineError):
    """A stage failed or broke one of its own invariants."""


class PolicyFailed(PipelineError):
    """The run finished, and its report's verdict against the policy thresholds is FAIL."""
