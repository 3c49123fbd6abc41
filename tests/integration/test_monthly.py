"""Monthly runs through the command line, as a scheduler makes them: month 1, then month 1 + month 2 naming month 1
as its previous run and continuing its adapter, both under user-level DP and one lifetime budget store; then a third
run that would take customers past the lifetime epsilon, refused before it trains."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from opacus.accountants import create_accountant

from pipeline.__main__ import main
from tests.integration.runs import SMALL_TRAIN, sample_tickets
from tests.integration.test_incremental import COLUMNS, write_csv

MONTH_1_ROWS, NEW_ROWS = 160, 80
EDITED = (3, 50, 99, 120, 150)
LIFETIME = 40.0  # room for two runs at epsilon 8 each

pytestmark = pytest.mark.slow


def write_config(folder: Path, name: str, data: str, **extra: Any) -> Path:
    source: dict[str, Any] = {"name": "tickets", "path": data, "columns": COLUMNS}
    if "previous_run" in extra:
        source["previous_run"] = extra.pop("previous_run")
    config = {
        "run_name": name,
        "sources": [source],
        "redact": {"workers": 1, "demo_key_if_unset": True},
        "curate": {"languages": []},
        "train": {**SMALL_TRAIN, **extra.pop("train", {})},
        "privacy": {"lifetime_epsilon": extra.pop("lifetime_epsilon", LIFETIME)},
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def run_to_train(config: Path, run_dir: Path) -> int:
    return main(["run", "--config", str(config), "--run-dir", str(run_dir), "--to", "train"])


def ledger(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "train" / "privacy_ledger.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def months(tmp_path_factory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("monthly")
    rows = sample_tickets(MONTH_1_ROWS + NEW_ROWS)
    month_1 = rows[:MONTH_1_ROWS]
    month_2 = [dict(row) for row in month_1] + rows[MONTH_1_ROWS:]
    for position in EDITED:
        month_2[position]["Description"] += " Update: the refund has still not arrived."
    write_csv(folder / "month-1.csv", month_1)
    write_csv(folder / "month-2.csv", month_2)
    runs = folder / "runs"
    assert run_to_train(write_config(folder, "month-1", "month-1.csv"), runs / "month-1") == 0
    second = write_config(
        folder,
        "month-2",
        "month-2.csv",
        previous_run="runs/month-1",
        train={"init_adapter": "runs/month-1/train/adapter"},
    )
    assert run_to_train(second, runs / "month-2") == 0
    return {"folder": folder, "runs": runs}


def test_month_2_counts_new_changed_and_seen_rows_exactly_and_reuses_the_redaction(months):
    manifest = json.loads((months["runs"] / "month-2" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["stages"]["ingest"]["stats"]["row_status"] == {
        "new": NEW_ROWS,
        "changed": len(EDITED),
        "seen": MONTH_1_ROWS - len(EDITED),
    }
    assert manifest["stages"]["redact"]["stats"]["reused_from_previous_run"] == MONTH_1_ROWS - len(EDITED)
    before = pd.read_parquet(months["runs"] / "month-1" / "redact" / "records.parquet").set_index("row_id")
    after = pd.read_parquet(months["runs"] / "month-2" / "redact" / "records.parquet").set_index("row_id")
    seen = after.index[after["row_status"] == "seen"]
    assert after.loc[seen, ["Subject", "Description"]].equals(before.loc[seen, ["Subject", "Description"]])


def test_month_2_continues_from_month_1s_adapter(months):
    first = months["runs"] / "month-1" / "train" / "adapter"
    initial = ledger(months["runs"] / "month-2")["initial_adapter"]
    assert initial["path"] == str(first.resolve()) or Path(initial["path"]).resolve() == first.resolve()
    from pipeline.artifacts import sha256_file

    assert initial["sha256"] == sha256_file(first / "adapter_model.safetensors")
    assert ledger(months["runs"] / "month-1")["initial_adapter"] is None


def test_the_unit_is_the_customer_and_the_store_composes_both_months_per_customer(months):
    one, two = ledger(months["runs"] / "month-1"), ledger(months["runs"] / "month-2")
    assert one["privacy_unit"]["unit"] == two["privacy_unit"]["unit"] == "group"
    first, second = one["lifetime_budget"], two["lifetime_budget"]
    assert first["new_units"] == first["units"] and first["epsilon_before"]["max"] == 0
    assert second["new_units"] < second["units"]  # month 1's customers are back
    delta = min(one["delta"], two["delta"])
    accountant = create_accountant(mechanism=two["accountant"])  # the accountant called directly, on both trainings
    accountant.history = [
        (one["noise_multiplier"], one["sampling_rate"], one["steps"]),
        (two["noise_multiplier"], two["sampling_rate"], two["steps"]),
    ]
    assert second["epsilon_after"]["max"] == pytest.approx(accountant.get_epsilon(delta=delta), rel=1e-3)
    assert two["epsilon_spent"] < second["epsilon_after"]["max"] < one["epsilon_spent"] + two["epsilon_spent"]
    assert second["epsilon_remaining"]["min"] == pytest.approx(LIFETIME - second["epsilon_after"]["max"], rel=1e-6)


def test_the_store_holds_two_trainings_and_no_raw_customer_id(months):
    store = months["runs"] / "privacy_budget.sqlite"
    with sqlite3.connect(store) as connection:
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "alembic_version" in tables
    raw = store.read_bytes()
    for row in sample_tickets(MONTH_1_ROWS + NEW_ROWS)[:50]:
        assert row["Customer ID"].encode() not in raw and row["Customer Email"].encode() not in raw


def test_a_third_run_past_the_lifetime_epsilon_is_refused_before_training(months, capsys):
    spent = ledger(months["runs"] / "month-2")["lifetime_budget"]["epsilon_after"]["max"]
    third = write_config(
        months["folder"], "month-3", "month-2.csv", previous_run="runs/month-2", lifetime_epsilon=spent + 0.5
    )
    store = months["runs"] / "privacy_budget.sqlite"
    before = store.read_bytes()
    capsys.readouterr()
    assert run_to_train(third, months["runs"] / "month-3") == 2
    error = capsys.readouterr().err
    assert "privacy.lifetime_epsilon" in error and "noise multiplier" in error and "Traceback" not in error
    assert not (months["runs"] / "month-3" / "train" / "adapter").exists()
    with sqlite3.connect(store) as connection:
        assert connection.execute("SELECT COUNT(*) FROM trainings").fetchone()[0] == 2
    assert len(store.read_bytes()) == len(before)
