from pathlib import Path

import pytest

from pipeline.config import default_config_path, load_config
from pipeline.errors import ConfigError
from tests.conftest import csv_source

TINY_CSV = "id,text,label,gender\n1,hello there,a,f\n"


@pytest.fixture
def tiny_csv(tmp_path: Path) -> Path:
    path = tmp_path / "tickets.csv"
    path.write_text(TINY_CSV, encoding="utf-8")
    return path


def problems_of(write_config, data) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(data))
    return caught.value.problems


def test_structural_problems_are_all_reported_with_their_paths(write_config, tiny_csv):
    problems = problems_of(
        write_config,
        {
            "task": "regression",
            "sources": [{"path": "tickets.csv", "format": "xlsx", "columns": {"text": "text"}}],
            "ingest": {"missing_value": ["N/A"]},
        },
    )
    text = "\n".join(problems)
    assert len(problems) == 4, text
    assert "task: Input should be 'classification' or 'causal_lm'" in text
    assert "sources[0].format:" in text
    assert "sources[0].columns.text: Input should be a valid list" in text
    assert "ingest.missing_value: unknown key" in text


def test_missing_columns_are_all_reported_with_what_is_available(write_config, tiny_csv):
    source = csv_source(
        "tickets.csv", columns={"text": ["Text", "text"], "label": "Label", "protected": ["gender", "age"]}
    )
    problems = problems_of(write_config, {"sources": [source]})
    assert problems == [
        "sources[0].columns.text[0]: column 'Text' not found in tickets.csv; available: 'id', 'text', 'label', 'gender'",
        "sources[0].columns.label: column 'Label' not found in tickets.csv; available: 'id', 'text', 'label', 'gender'",
        "sources[0].columns.protected[1]: column 'age' not found in tickets.csv; available: 'id', 'text', 'label', 'gender'",
    ]


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        (
            [{"path": "missing.csv", "columns": {"text": ["text"], "label": "label"}}],
            "sources[0].path: no file matches 'missing.csv'",
        ),
        (
            [{"path": "exports/*.csv", "columns": {"text": ["text"], "label": "label"}}],
            "sources[0].path: no file matches 'exports/*.csv'",
        ),
        (
            [{"path": "empty.csv", "columns": {"text": ["text"], "label": "label"}}],
            "sources[0].path: file 'empty.csv' is empty",
        ),
        (
            [{"path": "tickets.csv", "columns": {"text": ["text"]}}],
            "sources[0].columns.label: required for task 'classification'",
        ),
        (
            [csv_source("tickets.csv"), csv_source("tickets.csv")],
            "sources[1].name: 'tickets' is already used by sources[0]",
        ),
        (
            [csv_source("tickets.csv", rename={"gender": "row_id"})],
            "sources[0].columns: 'row_id' is reserved for lineage",
        ),
        (
            [csv_source("tickets.csv", columns={"text": ["text"], "label": "text"})],
            "sources[0].columns: column 'text' is given more than one role",
        ),
        (
            [csv_source("tickets.csv", rename={"Gender": "sex"})],
            "sources[0].rename: column 'Gender' not found in tickets.csv",
        ),
        (
            [csv_source("tickets.csv"), csv_source("tickets.csv", name="other", rename={"label": "category"})],
            "sources[1].columns.label: becomes record column 'category' but sources[0]'s becomes 'label'",
        ),
        (
            [
                csv_source("tickets.csv"),
                csv_source(
                    "tickets.csv",
                    name="other",
                    columns={"text": ["text"], "label": "label", "passthrough": ["gender"]},
                ),
            ],
            "sources[1].columns.passthrough: record column 'gender' is 'protected' in sources[0]",
        ),
    ],
)
def test_config_problem_is_named_with_its_path(write_config, tiny_csv, sources, expected):
    (tiny_csv.parent / "empty.csv").write_bytes(b"")
    problems = problems_of(write_config, {"sources": sources})
    assert any(problem.startswith(expected) for problem in problems), problems


def test_yaml_syntax_error_names_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("sources:\n  - path: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "line 3" in str(caught.value) and "not valid YAML" in str(caught.value)


def test_missing_config_file_says_where_it_looked(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_paths_resolve_relative_to_the_config_file_and_defaults_fill_in(make_config, tiny_csv):
    config = make_config({"sources": [csv_source("tickets.csv")]})
    assert config.source_files(0) == [tiny_csv]
    resolved = config.resolved()
    assert resolved["sources"][0]["name"] == "tickets"
    assert resolved["sources"][0]["files"] == [str(tiny_csv)]
    assert "Not Provided" in resolved["ingest"]["missing_values"]
    assert resolved["task"] == "classification"


def test_glob_source_takes_every_matching_file_in_order(make_config, tmp_path):
    (tmp_path / "exports").mkdir()
    for name in ("b.csv", "a.csv"):
        (tmp_path / "exports" / name).write_text(TINY_CSV, encoding="utf-8")
    config = make_config({"sources": [csv_source("exports/*.csv")]})
    assert [p.name for p in config.source_files(0)] == ["a.csv", "b.csv"]
    assert config.source_name(0) == "exports"


def test_sources_with_different_columns_give_the_union_of_record_columns(make_config, tmp_path):
    (tmp_path / "a.csv").write_text("id,subject,body,label\n1,s,b,x\n", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"id": 2, "transcript": "t", "topic": "x"}\n', encoding="utf-8")
    config = make_config(
        {
            "sources": [
                {"path": "a.csv", "columns": {"id": "id", "text": ["subject", "body"], "label": "label"}},
                {
                    "path": "b.jsonl",
                    "columns": {"id": "id", "text": ["transcript"], "label": "topic"},
                    "rename": {"transcript": "body", "topic": "label"},
                },
            ]
        }
    )
    assert config.record_roles()["text"] == ["subject", "body"]
    assert config.record_roles()["label"] == ["label"]


def test_a_messages_column_is_a_text_column_too(make_config, tmp_path):
    (tmp_path / "a.csv").write_text("id,body,label\n1,b,x\n", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text(
        '{"id": 2, "chat": [{"role": "user", "content": "hi"}], "topic": "x", "note": "n"}\n', encoding="utf-8"
    )
    config = make_config(
        {
            "sources": [
                {"path": "a.csv", "columns": {"id": "id", "text": ["body"], "label": "label"}},
                {
                    "path": "b.jsonl",
                    "columns": {"id": "id", "text": ["note"], "messages": "chat", "label": "topic"},
                    "rename": {"chat": "messages", "topic": "label"},
                },
            ]
        }
    )
    assert config.sources[1].record_roles()["text"] == ["note", "messages"]
    assert config.record_roles()["text"] == ["body", "note", "messages"]
    assert config.record_roles()["messages"] == ["messages"]
    assert config.sources[1].columns.by_role()["text"] == ["note"]


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        ({"label": "label"}, "sources[0].columns: names no text column and no messages column; name the free-text"),
        ({"text": [], "label": "label"}, "sources[0].columns: names no text column and no messages column"),
        (
            {"messages": "chat", "label": "label"},
            "sources[0].columns.messages: column 'chat' not found in tickets.csv",
        ),
        ({"text": ["text"], "messages": "text", "label": "label"}, "sources[0].columns: column 'text' is given more"),
        ({"messages": ["text"], "label": "label"}, "sources[0].columns.messages: Input should be a valid string"),
    ],
)
def test_a_source_needs_text_or_messages(write_config, tiny_csv, columns, expected):
    problems = problems_of(write_config, {"sources": [{"path": "tickets.csv", "columns": columns}]})
    assert any(problem.startswith(expected) for problem in problems), problems


def test_a_messages_column_alone_is_a_valid_source(make_config, tiny_csv):
    config = make_config({"sources": [{"path": "tickets.csv", "columns": {"messages": "text", "label": "label"}}]})
    assert config.record_roles()["text"] == ["text"] and config.record_roles()["messages"] == ["text"]


def test_a_column_that_is_messages_in_one_source_cannot_be_text_in_another(write_config, tiny_csv):
    sources = [
        {"path": "tickets.csv", "columns": {"messages": "text", "label": "label"}},
        {"path": "tickets.csv", "name": "other", "columns": {"text": ["text"], "label": "label"}},
    ]
    problems = problems_of(write_config, {"sources": sources})
    assert problems == [
        "sources[1].columns.text: record column 'text' is 'messages' in sources[0]; a column keeps one role across sources"
    ]


def test_bundled_default_config_is_valid():
    config = load_config(default_config_path())
    assert [config.source_name(i) for i in range(len(config.sources))] == ["helpdesk", "chat"]
    assert all(config.source_files(i) for i in range(len(config.sources)))


BILLION_LAUGHS = "\n".join(
    [
        "run_name: bomb",
        "sources: [{path: tickets.csv, columns: {text: [text]}}]",
        "check:",
        "  contract:",
        "    extra_expectations:",
        "      - type: expect_column_values_to_not_be_null",
        "        kwargs:",
        '          a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
    ]
    + [f"          {b}: &{b} [{', '.join([f'*{a}'] * 9)}]" for a, b in zip("abcdefgh", "bcdefghi", strict=True)]
)


def test_an_alias_bomb_in_a_free_form_field_is_refused_before_it_is_expanded(tmp_path, tiny_csv):
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS, encoding="utf-8")  # 9**9 strings once expanded
    with pytest.raises(ConfigError, match="expands to more than 100,000 values"):
        load_config(path)


def test_a_recursive_alias_is_refused(tmp_path, tiny_csv):
    path = tmp_path / "loop.yaml"
    path.write_text("sources: &loop [*loop]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="expands to more than"):
        load_config(path)


def test_anchors_that_expand_to_a_normal_config_still_load(tmp_path, tiny_csv):
    path = tmp_path / "anchored.yaml"
    path.write_text(
        "sources:\n"
        "  - {path: tickets.csv, columns: &columns {text: [text], label: label}}\n"
        "  - {path: tickets.csv, name: again, columns: *columns}\n",
        encoding="utf-8",
    )
    assert [source.columns.label for source in load_config(path).sources] == ["label", "label"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
        ("# padding\n" * 120_000, "more than the 1,048,576 a config may have"),
    ],
)
def test_oversized_or_deeply_nested_yaml_is_a_config_error(tmp_path, content, expected):
    path = tmp_path / "hostile.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


def test_sources_outside_the_allowed_roots_are_refused_when_the_deployment_sets_them(
    write_config, tiny_csv, tmp_path, monkeypatch
):
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.csv").write_text(TINY_CSV, encoding="utf-8")
    (tmp_path / "link.csv").symlink_to(elsewhere / "secret.csv")
    sources = [
        csv_source("tickets.csv"),
        csv_source(f"../{elsewhere.name}/secret.csv", name="up"),
        csv_source("link.csv", name="link"),
    ]
    path = write_config({"sources": sources})
    assert len(load_config(path).sources) == 3  # unset: a CLI user may read anything they can
    monkeypatch.setenv("PIPELINE_ALLOWED_ROOTS", str(tmp_path))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert [problem.split(":")[0] for problem in caught.value.problems] == ["sources[1].path", "sources[2].path"]
    assert all("outside the folders $PIPELINE_ALLOWED_ROOTS allows" in problem for problem in caught.value.problems)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"train": {"dp": False}, "report": {"policy": {"require_dp": True}}},
            "train.dp: false, but report.policy.require_dp is true: the report's verdict would be FAIL (dp_required); "
            "set train.dp: true, or report.policy.require_dp: false (e.g. for a non-DP baseline run)",
        ),
        (
            {"train": {"target_epsilon": 20}, "report": {"policy": {"max_epsilon": 8}}},
            "train.target_epsilon: 20 is above report.policy.max_epsilon (8): training spends its target, so the "
            "report's verdict would be FAIL (max_epsilon); set train.target_epsilon to at most 8, or raise "
            "report.policy.max_epsilon",
        ),
    ],
)
def test_settings_that_would_fail_the_policy_are_refused_at_load(write_config, tiny_csv, settings, expected):
    assert problems_of(write_config, {"sources": [csv_source("tickets.csv")], **settings}) == [expected]


@pytest.mark.parametrize(
    "settings",
    [
        {"train": {"dp": False}, "report": {"policy": {"require_dp": False}}},
        {"train": {"dp": False}, "report": {"policy": {"require_dp": False, "max_epsilon": 1}}},  # not applicable
        {"train": {"target_epsilon": 8}, "report": {"policy": {"max_epsilon": 8}}},
        {"train": {"target_epsilon": 20}, "report": {"policy": {"max_epsilon": None}}},
    ],
)
def test_settings_the_policy_allows_load(make_config, tiny_csv, settings):
    make_config({"sources": [csv_source("tickets.csv")], **settings})


def test_policy_rules_are_for_a_run_not_for_rebuilding_a_report(write_config, tiny_csv):
    path = write_config({"sources": [csv_source("tickets.csv")], "train": {"target_epsilon": 20}})
    assert load_config(path, check_data=False).train.target_epsilon == 20  # judged again with other thresholds


def test_the_cli_stops_on_a_policy_conflict_before_any_stage(write_config, tiny_csv, tmp_path, capsys):
    from pipeline.__main__ import main

    path = write_config({"sources": [csv_source("tickets.csv")], "train": {"dp": False}})
    assert main(["run", "--config", str(path), "--run-dir", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert "1 problem(s)" in error and "train.dp: false, but report.policy.require_dp is true" in error
    assert not (tmp_path / "run").exists()


def test_training_without_dp_under_torchrun_is_refused_at_load(write_config, tiny_csv, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    data = {
        "sources": [csv_source("tickets.csv")],
        "train": {"dp": False},
        "report": {"policy": {"require_dp": False}},
    }
    assert problems_of(write_config, data) == [
        "train.dp: false under torchrun (WORLD_SIZE=2): distributed training (Opacus' DPDDP) is for differentially "
        "private training only; set train.dp: true, or run `python -m pipeline stage train` without torchrun"
    ]


GROUPED = "id,text,label,gender,customer\n1,hello there,a,f,C1\n"


@pytest.mark.parametrize(
    ("redact", "group", "needs"),
    [
        ({"default_operator": "pseudonymize"}, False, "redact.default_operator (pseudonymize)"),
        ({"operators": {"PERSON": "hash", "URL": "mask"}}, False, "redact.operators.PERSON (hash)"),
        ({}, True, "sources[0].columns.group (key-hashed)"),
    ],
)
def test_a_keyed_operator_or_group_column_without_a_key_is_refused_at_load(
    write_config, tmp_path, monkeypatch, redact, group, needs
):
    monkeypatch.delenv("PIPELINE_PSEUDONYM_KEY", raising=False)
    (tmp_path / "tickets.csv").write_text(GROUPED, encoding="utf-8")
    columns = {"text": ["text"], "label": "label", **({"group": "customer"} if group else {})}
    data = {"sources": [{"path": "tickets.csv", "columns": columns}], "redact": redact}
    problems = problems_of(write_config, data)
    assert len(problems) == 1 and problems[0].startswith("redact.key_env: $PIPELINE_PSEUDONYM_KEY is not set"), (
        problems
    )
    assert f"but {needs} need the key" in problems[0]
    assert "set redact.demo_key_if_unset: true" in problems[0] and "openssl rand -hex 32" in problems[0]

    for demo in (True, False):  # the demo key, or a key in the environment: both load
        if not demo:
            monkeypatch.setenv("PIPELINE_PSEUDONYM_KEY", "a-long-random-secret-value")
        load_config(write_config({**data, "redact": {**redact, "demo_key_if_unset": demo}}))
    monkeypatch.delenv("PIPELINE_PSEUDONYM_KEY")
    assert load_config(write_config(data), check_data=False)  # rebuilding a report needs no key
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert load_config(write_config(data))  # under torchrun only the train stage runs: no key needed


def test_a_key_too_short_is_refused_at_load_even_when_no_operator_needs_it(write_config, tiny_csv, monkeypatch):
    monkeypatch.setenv("PIPELINE_PSEUDONYM_KEY", "short")
    problems = problems_of(write_config, {"sources": [csv_source("tickets.csv")]})
    assert problems == [
        "redact.key_env: the key in $PIPELINE_PSEUDONYM_KEY is shorter than 16 characters; "
        "use a long random value (e.g. `openssl rand -hex 32`)"
    ]


def test_a_group_column_must_be_named_in_every_source(write_config, tmp_path):
    (tmp_path / "a.csv").write_text(GROUPED, encoding="utf-8")
    grouped = {"path": "a.csv", "columns": {"text": ["text"], "label": "label", "group": "customer"}}
    plain = {"path": "a.csv", "name": "b", "columns": {"text": ["text"], "label": "label"}}
    data = {"sources": [plain, grouped, plain | {"name": "c"}], "redact": {"demo_key_if_unset": True}}
    problems = problems_of(write_config, data)
    assert [problem.split(":")[0] for problem in problems] == ["sources[0].columns.group", "sources[2].columns.group"]
    assert problems[0].startswith(
        "sources[0].columns.group: not set, but sources[1] names group column 'customer': the rows of sources[0] "
        "would not be kept together in the split"
    )
    with pytest.raises(ConfigError, match=r"sources\[0\].columns.group: not set"):
        load_config(write_config(data), check_data=False)  # a rule of the config itself, not of a run


def test_each_enumeration_is_defined_once_as_a_literal():
    from typing import get_args

    import pipeline.config as config

    assert set(config.FORMAT_BY_SUFFIX.values()) == set(get_args(config.Format))
    assert get_args(config.RedactConfig.model_fields["default_operator"].annotation) == get_args(config.RedactOperator)
    for unused in ("FORMATS", "REDACT_OPERATORS", "SEVERITIES"):
        assert not hasattr(config, unused)
