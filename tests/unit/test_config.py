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
