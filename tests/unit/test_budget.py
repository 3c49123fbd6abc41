"""The lifetime privacy budget store on SQLite: composition by the accountant, refusals that say what would fit,
transactions that record all or nothing, no unit key in a summary or a raw id in the file, versioned schema."""

from __future__ import annotations

import json
import sqlite3
import warnings

import pytest
import sqlalchemy as sa
from opacus.accountants.utils import get_noise_multiplier

from pipeline.config import Config, PrivacyConfig, load_config
from pipeline.errors import ConfigError
from pipeline.pii.operators import keyed_digest
from pipeline.training import budget
from pipeline.training.budget import (
    BudgetExceeded,
    BudgetStore,
    Distribution,
    Mechanism,
    StoreBusy,
    accountant_epsilon,
    default_store_url,
)

KEYS = [f"grp_{index:016x}" for index in range(1, 6)]
RDP = Mechanism("rdp", noise_multiplier=1.0, sample_rate=0.01, steps=1000, delta=1e-5)


@pytest.fixture(autouse=True)
def _quiet_rdp():
    with warnings.catch_warnings():  # Opacus' RDP: "Optimal order is the largest alpha" at large noise
        warnings.simplefilter("ignore", UserWarning)
        yield


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'budget.sqlite'}"


def spend(store, run_id, units, planned, limit=None, **kwargs):
    with store.spend(run_id, units, planned, lifetime_epsilon=limit, **kwargs) as result:
        return result


def rows(url, table):
    with sa.create_engine(url).connect() as connection:
        return connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_a_fresh_store_is_migrated_to_the_tables_the_code_queries(url):
    BudgetStore(url)
    inspector = sa.inspect(sa.create_engine(url))
    for table in budget.metadata.sorted_tables:
        assert {c["name"] for c in inspector.get_columns(table.name)} == set(table.columns.keys())
    with sa.create_engine(url).connect() as connection:
        assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == "0001"


def test_default_store_is_an_sqlite_file_beside_the_run_directories(tmp_path):
    assert default_store_url(tmp_path / "runs" / "run") == f"sqlite:///{tmp_path / 'runs' / 'privacy_budget.sqlite'}"


@pytest.mark.parametrize("accountant", ["rdp", "prv"])
def test_composition_is_the_accountants_own_over_the_concatenated_history(url, accountant):
    store = BudgetStore(url)
    first = Mechanism(accountant, noise_multiplier=1.1, sample_rate=0.02, steps=200, delta=1e-5)
    second = Mechanism(accountant, noise_multiplier=0.9, sample_rate=0.01, steps=300, delta=1e-6)
    third = Mechanism(accountant, noise_multiplier=1.1, sample_rate=0.02, steps=100, delta=1e-5)
    spend(store, "r1", KEYS[:2], first)
    spend(store, "r2", KEYS[:1], second)
    result = spend(store, "r3", KEYS[:3], third)

    def direct(*mechanisms):
        history = [(m.noise_multiplier, m.sample_rate, m.steps) for m in mechanisms]
        return accountant_epsilon(accountant, history, min(m.delta for m in mechanisms))

    # three units: KEYS[0] has r1, r2 and r3; KEYS[1] r1 and r3; KEYS[2] r3 only (composed at r3's own delta)
    assert result.after.max == pytest.approx(direct(first, second, third), rel=1e-6)
    assert result.after.median == pytest.approx(direct(first, third), rel=1e-6)
    assert result.after.min == result.this_run == direct(third)
    # before is composed at the same (smallest) delta as after
    assert result.before.max == pytest.approx(direct(first, second), rel=1e-6)
    assert result.new_units == 1 and result.before.min == 0.0
    assert result.after.max < direct(first) + direct(second) + direct(third)  # not a sum of epsilons


def test_a_unit_with_no_history_gets_exactly_this_runs_epsilon(url):
    result = spend(BudgetStore(url), "r1", KEYS, RDP, limit=10.0)
    expected = accountant_epsilon("rdp", [(1.0, 0.01, 1000)], 1e-5)
    assert result.this_run == expected
    assert result.after == Distribution(units=5, min=expected, median=expected, p90=expected, max=expected)
    assert result.remaining is not None and result.remaining.max == 10.0 - expected
    assert result.new_units == 5 and result.before.max == 0.0


def test_a_refusal_says_what_would_fit_and_it_does(url):
    store = BudgetStore(url)
    spend(store, "r1", KEYS[:2], RDP)
    limit = 3.0  # r1 alone spends 2.1; r1 + RDP again composes to 2.87; a third time would be 3.5
    spend(store, "r2", KEYS[:2], RDP, limit=limit)
    with pytest.raises(BudgetExceeded) as refused:
        spend(store, "r3", KEYS, RDP, limit=limit)
    error = refused.value
    assert isinstance(error, ConfigError)
    assert error.noise_multiplier is not None and error.noise_multiplier > RDP.noise_multiplier
    assert error.steps is not None and 0 < error.steps < RDP.steps
    message = str(error)
    assert "2 of 5 privacy unit(s) would pass privacy.lifetime_epsilon 3" in message
    assert f"noise multiplier {error.noise_multiplier:g} or more" in message
    assert f"at most {error.steps} steps" in message
    assert f"{error.left:.4g} left" in message and error.left == pytest.approx(limit - 2.866455, rel=1e-5)
    assert not any(key in message for key in KEYS)

    class Rollback(Exception):
        pass

    def accepted(planned):
        with pytest.raises(Rollback), store.spend("try", KEYS, planned, lifetime_epsilon=limit):
            raise Rollback

    def refused_with(planned):
        with pytest.raises(BudgetExceeded), store.spend("try", KEYS, planned, lifetime_epsilon=limit):
            pass

    accepted(Mechanism("rdp", error.noise_multiplier, 0.01, 1000, 1e-5))
    # the target epsilon it names gives (as the train stage derives it) that noise or more
    from_target = get_noise_multiplier(
        target_epsilon=error.target_epsilon, target_delta=1e-5, sample_rate=0.01, steps=1000, accountant="rdp"
    )
    assert from_target >= error.noise_multiplier
    accepted(Mechanism("rdp", from_target, 0.01, 1000, 1e-5))
    accepted(Mechanism("rdp", 1.0, 0.01, error.steps, 1e-5))
    refused_with(Mechanism("rdp", error.noise_multiplier * 0.99, 0.01, 1000, 1e-5))  # the smallest that fits
    refused_with(Mechanism("rdp", 1.0, 0.01, error.steps + 1, 1e-5))  # the largest that fits
    assert rows(url, "trainings") == 2


def test_a_spent_budget_is_refused_whatever_the_noise(url):
    store = BudgetStore(url)
    spend(store, "r1", KEYS[:1], RDP)
    with pytest.raises(BudgetExceeded) as refused:
        spend(store, "r2", KEYS, RDP, limit=2.0)  # r1 alone spent 2.1
    assert refused.value.noise_multiplier is None and refused.value.steps is None
    assert refused.value.target_epsilon is None
    assert "1 unit(s) have no budget left" in str(refused.value)


def test_an_exception_inside_the_block_records_nothing(url):
    store = BudgetStore(url)
    with pytest.raises(RuntimeError, match="training failed"), store.spend("r1", KEYS, RDP, lifetime_epsilon=10.0):
        raise RuntimeError("training failed")
    assert rows(url, "trainings") == rows(url, "unit_trainings") == rows(url, "units") == 0
    assert spend(store, "r2", KEYS, RDP, limit=10.0).new_units == 5


def test_the_actual_mechanism_is_recorded_and_may_not_spend_more_than_planned(url):
    store = BudgetStore(url)
    with store.spend("r1", KEYS, RDP, lifetime_epsilon=None) as result:
        result.actual = Mechanism("rdp", 1.0, 0.01, 400, 1e-5)  # stopped early
    with sa.create_engine(url).connect() as connection:
        assert connection.execute(sa.text("SELECT steps FROM trainings")).scalar_one() == 400
    with (
        pytest.raises(ValueError, match="spends more than the planned"),
        store.spend("r2", KEYS, RDP, lifetime_epsilon=None) as result,
    ):
        result.actual = Mechanism("rdp", 1.0, 0.01, 1001, 1e-5)
    assert rows(url, "trainings") == 1


def test_the_summary_holds_counts_and_figures_never_unit_keys(url):
    store = BudgetStore(url)
    spend(store, "r1", KEYS[:2], RDP)
    summary = spend(store, "r2", KEYS, RDP, limit=10.0).summary()
    text = json.dumps(summary)
    assert not any(key in text for key in KEYS) and "grp_" not in text
    assert summary["units"] == 5 and summary["new_units"] == 3
    assert set(summary["epsilon_before"]) == {"units", "min", "median", "p90", "max"}
    assert summary["epsilon_remaining"]["min"] == pytest.approx(10.0 - summary["epsilon_after"]["max"])


def test_the_store_holds_the_keyed_hashes_it_is_given_and_no_raw_id(tmp_path):
    path = tmp_path / "budget.sqlite"
    raw_ids = ["alice@example.com", "customer-48151623"]
    keys = ["grp_" + keyed_digest(b"k" * 32, "GROUP_ID", raw)[:16] for raw in raw_ids]
    store = BudgetStore(f"sqlite:///{path}")
    spend(store, "run-1", keys, RDP, limit=10.0)
    store.close()
    data = path.read_bytes()
    assert all(key.encode() in data for key in keys)
    for raw in raw_ids:
        assert raw.encode() not in data and raw.split("@")[0].encode() not in data


@pytest.mark.parametrize(
    "units",
    [["alice@example.com"], ["grp_0123"], ["Alice Smith"], ["4111111111111111"], ["5" * 40], ["source:a/../b"], []],
    ids=["email", "short-hash", "name", "card-number", "long-number", "source-path", "none"],
)
def test_keys_that_do_not_look_hashed_are_refused_without_echoing_them(url, units):
    store = BudgetStore(url)
    with pytest.raises(ValueError) as refused:
        spend(store, "r1", [*units, KEYS[0]] if units else units, RDP)
    assert not any(unit in str(refused.value) for unit in units)
    assert rows(url, "units") == 0


def test_units_with_one_history_share_one_accountant_computation(url, monkeypatch):
    store = BudgetStore(url)
    many = [f"grp_{index:016x}" for index in range(3000)]
    spend(store, "r1", many[:1000], RDP)
    spend(store, "r2", many[500:1500], RDP)
    calls = []
    monkeypatch.setattr(budget, "accountant_epsilon", lambda *args: calls.append(args) or 1.0)
    result = spend(store, "r3", many, RDP, limit=100.0)
    # four histories (none, r1, r2, r1+r2) plus this run: at most one computation per distinct history
    assert len(calls) == len({(history, delta) for _, history, delta in calls}) <= 8
    assert result.units == 3000 and result.new_units == 1500
    assert rows(url, "unit_trainings") == 1000 + 1000 + 3000


def test_reopening_a_store_at_head_works_and_one_from_a_newer_pipeline_is_refused(tmp_path, url):
    store = BudgetStore(url)
    spend(store, "r1", KEYS, RDP)
    again = BudgetStore(url)
    assert spend(again, "r2", KEYS, RDP).new_units == 0
    with sqlite3.connect(tmp_path / "budget.sqlite") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    with pytest.raises(ConfigError, match="0099_from_the_future, which this pipeline does not know"):
        BudgetStore(url)
    assert rows(url, "trainings") == 2  # left as it is


def test_a_second_run_waits_at_most_the_lock_timeout_then_says_another_run_holds_the_budget(url):
    first, second = BudgetStore(url), BudgetStore(url)
    with (
        first.spend("r1", KEYS[:2], RDP, lifetime_epsilon=10.0),
        pytest.raises(StoreBusy, match="another run holds the budget") as busy,
    ):
        spend(second, "r2", KEYS[1:], RDP, limit=10.0, lock_timeout_s=0.2)
    assert "budget.sqlite" in str(busy.value)
    assert spend(second, "r2", KEYS[1:], RDP, limit=10.0, lock_timeout_s=0.2).new_units == 3


def test_a_url_that_is_not_one_is_a_config_error():
    with pytest.raises(ConfigError, match="privacy.budget_store"):
        BudgetStore("not a url")


@pytest.mark.parametrize(
    "fields",
    [
        {"accountant": "gdp"},
        {"noise_multiplier": 0.0},
        {"sample_rate": 1.5},
        {"steps": 0},
        {"delta": 1.0},
    ],
)
def test_a_mechanism_out_of_range_is_refused(fields):
    with pytest.raises(ValueError, match="Mechanism: "):
        Mechanism(
            **{"accountant": "rdp", "noise_multiplier": 1.0, "sample_rate": 0.1, "steps": 10, "delta": 1e-5, **fields}
        )


@pytest.mark.parametrize(
    ("weighted", "expected"),
    [
        ([(1.0, 1)], (1, 1.0, 1.0, 1.0, 1.0)),
        ([(0.0, 9), (5.0, 1)], (10, 0.0, 0.0, 0.0, 5.0)),
        ([(3.0, 5), (1.0, 5)], (10, 1.0, 1.0, 3.0, 3.0)),
        ([(2.0, 1), (1.0, 1), (4.0, 8)], (10, 1.0, 4.0, 4.0, 4.0)),
    ],
)
def test_distribution_quantiles_by_nearest_rank_over_weighted_values(weighted, expected):
    result = Distribution.of(weighted)
    assert (result.units, result.min, result.median, result.p90, result.max) == expected


@pytest.mark.parametrize(
    ("store", "problem"),
    [
        ("postgresql+psycopg://pipeline:hunter2-secret@db/privacy", "holds a password"),
        ("not a url", "not a SQLAlchemy URL"),
    ],
)
def test_the_config_refuses_a_store_url_with_a_password_without_showing_it(tmp_path, store, problem):
    config = tmp_path / "config.yaml"
    config.write_text(
        f"sources:\n  - path: data.csv\n    columns: {{text: [text]}}\nprivacy:\n  budget_store: '{store}'\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=f"privacy.budget_store: .*{problem}") as refused:
        load_config(config, check_data=False)
    assert "hunter2" not in str(refused.value)


def test_the_config_takes_a_url_without_password_and_limits():
    privacy = PrivacyConfig(budget_store="postgresql+psycopg://pipeline@db/privacy", lifetime_epsilon=10)
    assert privacy.lifetime_epsilon == 10 and privacy.lock_timeout_s is None
    assert Config.model_fields["privacy"].default == PrivacyConfig()
