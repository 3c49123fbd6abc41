"""Data contracts: a Great Expectations suite built from the config and the column roles, and its results.

The suite is plain GX JSON (`ExpectationSuite.to_json_dict()`), so it can be
versioned (see `checks/`), edited, and passed back with
`check.contract.suite_path`. Each expectation carries a GX severity:
`critical` ones stop the run when they fail, `warning` and `info` ones are
reported. Great Expectations is imported only when a suite is validated
(its import costs seconds).

Results keep counts and numeric observed values only: GX's partial lists of
unexpected values could quote personal data, so they are never written.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import pandas as pd

import pipeline
from pipeline.config import Config, Severity
from pipeline.errors import InputError
from pipeline.quality import chat

SUITE_NAME = "records"
UNIQUE_EXPECTATIONS = ("expect_column_values_to_be_unique",)  # judged on the whole set, not per shard
SCHEMA_EXPECTATIONS = (  # every shard has the table's columns: one shard's answer is the table's
    "expect_column_to_exist",
    "expect_table_columns_to_match_set",
    "expect_table_columns_to_match_ordered_list",
    "expect_table_column_count_to_equal",
    "expect_table_column_count_to_be_between",
)
RESULT_FIELDS = ("element_count", "unexpected_count", "unexpected_percent", "missing_count", "missing_percent")


def build_suite(config: Config) -> dict[str, Any]:
    """The contract for the redacted records, as GX suite JSON."""
    contract = config.check.contract
    roles = config.record_roles()
    expectations: list[dict[str, Any]] = []

    def expect(kind: str, severity: str, why: str, **kwargs: Any) -> None:
        expectations.append({"type": kind, "kwargs": kwargs, "meta": {"why": why}, "severity": severity})

    required = ["row_id", *roles["text"], *roles["label"], *roles["protected"], *roles["group"]]
    for column in dict.fromkeys(required):
        expect("expect_column_to_exist", "critical", "a column the later stages read", column=column)
    expect(
        "expect_column_values_to_be_unique", "critical", "every row is accounted for by its row_id", column="row_id"
    )
    for column in roles["id"]:
        expect(
            "expect_column_values_to_be_unique",
            "warning",
            "repeated ids are re-exports; the duplicate check handles them",
            column=column,
        )
    expect(
        "expect_table_row_count_to_be_between",
        "critical",
        "check.contract.min_rows / max_rows",
        min_value=contract.min_rows,
        max_value=contract.max_rows,
    )
    for column in roles["label"]:
        expect(
            "expect_column_values_to_not_be_null",
            "critical",
            "a row without a label cannot be trained on",
            column=column,
        )
        if contract.labels:
            expect(
                "expect_column_values_to_be_in_set",
                "critical",
                "check.contract.labels",
                column=column,
                value_set=sorted(contract.labels),
            )
    for column in roles["text"]:
        expect(
            "expect_column_value_lengths_to_be_between",
            "warning",
            "check.contract.min_text_chars / max_text_chars; curate quarantines rows by length",
            column=column,
            min_value=contract.min_text_chars,
            max_value=contract.max_text_chars,
        )
    for column in roles["messages"]:
        expect(
            "expect_column_values_to_match_regex",
            "critical",
            "a conversation in the canonical JSON form ingest writes (pipeline.quality.chat); the later stages read it so",
            column=column,
            regex=chat.CANONICAL_REGEX,
        )
    for index, source in enumerate(config.sources):
        source_roles = source.record_roles()
        for column in [*source_roles["text"], *source_roles["protected"], *source_roles["passthrough"]]:
            expect(
                "expect_column_values_to_not_be_null",
                "warning",
                f"check.contract.max_null_share, within source '{config.source_name(index)}'",
                column=column,
                mostly=round(1 - contract.max_null_share, 6),
                row_condition=source_is(config.source_name(index)),
            )
    if config.incremental():
        expect(
            "expect_column_values_to_be_in_set",
            "critical",
            "an incremental run's row status (ingest): the redact stage reuses only the rows marked seen",
            column="row_status",
            value_set=["changed", "new", "seen"],
        )
    for extra in contract.extra_expectations:
        expect(extra.type, extra.severity, "check.contract.extra_expectations", **extra.kwargs)
    return {
        "name": SUITE_NAME,
        "expectations": expectations,
        "meta": {
            "built_by": f"pipeline {pipeline.__version__}",
            "built_from": "the config's column roles and check.contract",
        },
        "notes": None,
    }


def source_is(name: str) -> dict[str, Any]:
    """A GX row condition (its JSON form) selecting one source's rows."""
    return {"type": "comparison", "column": {"name": "source"}, "operator": "==", "parameter": name}


def condition_text(condition: Any) -> str:
    if isinstance(condition, dict) and condition.get("type") == "comparison":
        return f"{condition['column']['name']} {condition['operator']} {json.dumps(condition['parameter'])}"
    if isinstance(condition, dict) and "pass_through_filter" in condition:  # GX's form of a legacy string condition
        return str(condition["pass_through_filter"])
    return json.dumps(condition) if not isinstance(condition, str) else condition


def load_suite(path: Path) -> dict[str, Any]:
    try:
        suite = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"check.contract.suite_path: cannot read a GX suite from {path} ({error})") from None
    if not isinstance(suite, dict) or not isinstance(suite.get("expectations"), list):
        raise InputError(f"check.contract.suite_path: {path} is not a GX expectation suite (no 'expectations' list)")
    return suite


def suite_for(config: Config) -> dict[str, Any]:
    """The suite a run validates: the versioned file named in the config, else one built from it."""
    path = config.check.contract.suite_path
    if path is None:
        return build_suite(config)
    resolved = Path(path).expanduser()
    return load_suite(resolved if resolved.is_absolute() else config.base_dir / resolved)


def validate(records: pd.DataFrame, suite: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the suite on the records; one plain result per expectation (no data values)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    logging.getLogger("great_expectations").setLevel(
        logging.CRITICAL
    )  # its problems reach the user through InputError and the results
    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(
                init_temp_docs_sites=False
            ),  # no Data Docs folder in /tmp
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        ),
    )
    gx_suite = context.suites.add(_gx_suite(gx, suite))
    batch_definition = (
        context.data_sources.add_pandas("records")
        .add_dataframe_asset("records")
        .add_batch_definition_whole_dataframe("all")
    )
    outcome = batch_definition.get_batch(batch_parameters={"dataframe": records}).validate(
        gx_suite, result_format="BASIC"
    )
    return [_plain(result.to_json_dict()) for result in outcome.results]


def _gx_suite(gx: Any, suite: dict[str, Any]) -> Any:
    """The suite as a GX object; every expectation GX cannot build is named (GX itself would log and drop it)."""
    problems = []
    for index, expectation in enumerate(suite["expectations"]):
        try:
            built = gx.ExpectationSuite(name="probe", expectations=[expectation]).expectations
        except Exception as error:  # GX raises its own types for bad arguments
            built, reason = [], _first_line(error)
        else:
            reason = "not a known GX expectation, or its arguments do not fit it"
        if not built:
            problems.append(f"expectations[{index}] ({expectation.get('type')}): {reason}")
    if problems:
        listing = "\n".join(f"  - {problem}" for problem in problems)
        raise InputError(
            f"the GX suite is not valid:\n{listing}\ncheck check.contract.extra_expectations or the suite file"
        )
    return gx.ExpectationSuite(**{k: v for k, v in suite.items() if k != "id"})


def _plain(result: dict[str, Any]) -> dict[str, Any]:
    expectation = result["expectation_config"]
    details = result.get("result") or {}
    kwargs = {k: v for k, v in expectation["kwargs"].items() if k not in ("batch_id", "condition_parser")}
    if kwargs.get("row_condition") is not None:
        kwargs["row_condition"] = condition_text(kwargs["row_condition"])
    plain: dict[str, Any] = {
        "expectation": expectation["type"],
        "kwargs": kwargs,
        "severity": expectation.get("severity", "critical"),
        "success": bool(result["success"]),
    }
    plain.update({name: details[name] for name in RESULT_FIELDS if name in details})
    observed = details.get("observed_value")
    if isinstance(observed, int | float) and not isinstance(observed, bool):
        plain["observed_value"] = observed
    exception = result.get("exception_info") or {}
    if exception.get("raised_exception"):
        plain["error"] = _first_line(exception.get("exception_message") or "raised an exception")
    return plain


def _first_line(error: object) -> str:
    return str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__


def failures(results: list[dict[str, Any]], severity: str) -> list[dict[str, Any]]:
    return [r for r in results if not r["success"] and r["severity"] == severity]


def describe_failure(result: dict[str, Any]) -> str:
    column = result["kwargs"].get("column")
    where = f" on '{column}'" if column else ""
    if "row_condition" in result["kwargs"]:
        where += f" where {result['kwargs']['row_condition']}"
    if "error" in result:
        return f"{result['expectation']}{where}: {result['error']}"
    if "unexpected_count" in result:
        return f"{result['expectation']}{where}: {result['unexpected_count']} of {result.get('element_count', '?')} rows unexpected ({result['unexpected_percent']:.2f}%)"
    if "observed_value" in result:
        return f"{result['expectation']}{where}: observed {result['observed_value']}"
    return f"{result['expectation']}{where} failed"


@dataclass(frozen=True)
class Uniqueness:
    """A column's values over every shard: rows, nulls, and rows whose value another row has too."""

    rows: int
    missing: int
    repeated: int


def combine(parts: list[list[dict[str, Any]]], uniqueness: dict[str, Uniqueness]) -> list[dict[str, Any]]:
    """One result per expectation from the results of each shard of the records (`validate` per shard).

    Expectations on the table's columns are the same in every shard. Counted expectations (GX's column
    map expectations) add their counts up and are judged again on the
    sums with their `mostly`, as GX judges them; the row count is judged on the total; uniqueness on
    `uniqueness`, counted over every shard by the caller. Any other expectation (an aggregate such as a
    mean, from a user's suite) passes when it passes in every shard, and its result says so (`note`).
    With one shard the results are GX's own.
    """
    if len(parts) == 1:
        return parts[0]
    return [_combined([part[index] for part in parts], uniqueness) for index in range(len(parts[0]))]


def _combined(results: list[dict[str, Any]], uniqueness: dict[str, Uniqueness]) -> dict[str, Any]:
    first = results[0]
    failed = [result for result in results if "error" in result]
    if failed:
        return failed[0]
    plain = {key: first[key] for key in ("expectation", "kwargs", "severity")}
    kwargs, column = first["kwargs"], first["kwargs"].get("column")
    if first["expectation"] in SCHEMA_EXPECTATIONS:
        return first
    if first["expectation"] == "expect_table_row_count_to_be_between":
        rows = sum(result["observed_value"] for result in results)
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        return plain | {
            "success": (low is None or rows >= low) and (high is None or rows <= high),
            "observed_value": rows,
        }
    if first["expectation"] in UNIQUE_EXPECTATIONS and column in uniqueness:
        counts = uniqueness[column]
        return plain | _judged(counts.rows, counts.repeated, counts.missing, kwargs.get("mostly", 1.0))
    if all("unexpected_count" in result and "element_count" in result for result in results):
        missing = sum(result["missing_count"] for result in results) if "missing_count" in first else None
        return plain | _judged(
            sum(result["element_count"] for result in results),
            sum(result["unexpected_count"] for result in results),
            missing,
            kwargs.get("mostly", 1.0),
        )
    return plain | {
        "success": all(result["success"] for result in results),
        "note": f"judged shard by shard ({len(results)} shards): passes when every shard passes",
    }


def _judged(elements: int, unexpected: int, missing: int | None, mostly: float) -> dict[str, Any]:
    """GX's counts and verdict for a column map expectation: the unexpected share of the non-null values
    (of every value, for an expectation that counts no nulls) at most 1 - mostly."""
    judged = elements - (missing or 0)
    result: dict[str, Any] = {
        "success": judged == 0 or (judged - unexpected) / judged >= mostly,
        "element_count": elements,
        "unexpected_count": unexpected,
        "unexpected_percent": unexpected / judged * 100 if judged else None,
    }
    if missing is not None:
        result |= {"missing_count": missing, "missing_percent": missing / elements * 100 if elements else None}
    return result


def contract_summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "evaluated": len(results),
        "passed": sum(r["success"] for r in results),
        "failed": {severity: len(failures(results, severity)) for severity in get_args(Severity)},
    }
