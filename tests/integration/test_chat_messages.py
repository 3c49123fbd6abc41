"""The data stages (ingest -> split) on the bundled chat conversations in the messages form
(`pipeline/sample_data/chat_messages.jsonl`), checked against what was planted in them."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from pipeline.artifacts import RunDir
from pipeline.config import default_config_path, load_config
from pipeline.quality import chat
from pipeline.stage import run_pipeline
from tests.integration.runs import DATA_STAGES, REDACT

SAMPLE = default_config_path().parent / "sample_data"
CONVERSATIONS = SAMPLE / "chat_messages.jsonl"
PLANTED = json.loads((SAMPLE / "planted.json").read_text(encoding="utf-8"))["chat_messages_jsonl"]
SPLITS = ("train", "validation", "test")


@pytest.fixture(scope="module")
def chat_run(tmp_path_factory) -> tuple[RunDir, dict]:
    folder = tmp_path_factory.mktemp("chat-messages")
    config = {
        "run_name": "chat",
        "sources": [
            {
                "path": str(CONVERSATIONS),
                "name": "chat",
                "columns": {
                    "id": "conversation_id",
                    "messages": "messages",
                    "label": "topic",
                    "protected": ["profile.gender", "profile.age_band"],
                    "identifier": ["customer.name", "customer.email"],
                    "group": "customer.id",
                },
                "rename": {"profile.gender": "gender", "profile.age_band": "age_band", "customer.id": "customer"},
            }
        ],
        "redact": {**REDACT, "custom_identifiers": [{"entity": "ACCOUNT_NUMBER", "pattern": r"\bACC-\d{8}\b"}]},
        "split": {"mitigation": {"counterfactual": True}},
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    run_dir = RunDir(folder / "run")
    manifest = run_pipeline(load_config(folder / "config.yaml"), run_dir, DATA_STAGES)
    return run_dir, manifest


def source_rows() -> dict[str, dict]:
    rows = [json.loads(line) for line in CONVERSATIONS.read_text(encoding="utf-8").splitlines()]
    return {f"chat:{row['conversation_id']}": row for row in rows}


def test_the_planted_malformed_conversations_are_quarantined_and_every_row_is_accounted_for(chat_run):
    run_dir, manifest = chat_run
    quarantine = [json.loads(line) for line in run_dir.path("quarantine/ingest.jsonl").read_text().splitlines()]
    planted = {f"chat:{conversation}" for conversation in PLANTED["malformed_messages"].values()}
    assert {q["row_id"] for q in quarantine} == planted
    assert {q["reason"] for q in quarantine} == {PLANTED["malformed_messages_reason"]}
    ingest = manifest["stages"]["ingest"]["stats"]
    assert ingest["total"] == PLANTED["lines"] == ingest["kept"] + ingest["quarantined"]
    for stage in DATA_STAGES:
        stats = manifest["stages"][stage]["stats"]
        assert stats["total"] == stats["kept"] + stats["quarantined"], stage


def test_no_customer_name_or_email_survives_and_the_roles_are_kept(chat_run):
    run_dir, _ = chat_run
    records = pd.read_parquet(run_dir.path("redact/records.parquet"))
    given = source_rows()
    for row_id, value in zip(records["row_id"], records["messages"], strict=True):
        messages = chat.parse_messages(value)
        assert chat.dump_messages(messages) == value
        assert [m["role"] for m in messages] == [m["role"] for m in given[row_id]["messages"]]
        text = chat.message_text(messages)
        customer = given[row_id]["customer"]
        secrets = [*customer["name"].split(), customer["email"]]
        assert not [secret for secret in secrets if secret and secret in text], row_id
    assert not {"customer.name", "customer.email"} & set(records.columns)


def test_the_data_contract_checks_the_canonical_form(chat_run):
    run_dir, _ = chat_run
    results = json.loads(run_dir.path("check/gx_results.json").read_text())
    regex = [r for r in results["results"] if r["expectation"] == "expect_column_values_to_match_regex"]
    assert [(r["kwargs"]["column"], r["success"]) for r in regex] == [("messages", True)]
    assert results["summary"]["failed"]["critical"] == 0


def test_every_split_holds_conversations_and_counterfactual_copies_keep_their_roles(chat_run):
    run_dir, _ = chat_run
    parts = {name: pd.read_parquet(run_dir.path(f"split/{name}.parquet")) for name in SPLITS}
    assert all(chat.is_messages(value) for part in parts.values() for value in part["messages"])
    train = parts["train"].set_index("row_id")
    copies = [row_id for row_id in train.index if row_id.endswith("~cda")]
    assert copies
    for copy in copies:
        original, swapped = (chat.parse_messages(train.loc[r, "messages"]) for r in (copy.removesuffix("~cda"), copy))
        assert [m["role"] for m in swapped] == [m["role"] for m in original] and swapped != original
