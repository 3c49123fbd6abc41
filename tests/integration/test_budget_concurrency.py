"""Two runs at once cannot both spend the last of a budget, and a run killed mid-spend leaves the store as it was:
separate processes against an SQLite file and against the PostgreSQL server (127.0.0.1:5432, as on the
developers' machines and in CI; each test gets a throwaway database)."""

from __future__ import annotations

import multiprocessing
import os
import secrets
import signal
import sqlite3
import time
import warnings

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from pipeline.training.budget import BudgetExceeded, BudgetStore, Mechanism, StoreBusy, safe_url

POSTGRES = os.environ.get("PIPELINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PASSWORD = "not-a-real-secret"  # in the test store's URL (trust auth ignores it): no message may show it
HOLD_S = 1.5  # how long a run holds its units inside spend(), standing in for training
MECHANISM = Mechanism("rdp", noise_multiplier=1.0, sample_rate=0.01, steps=1000, delta=1e-5)
LIMIT = 2.5  # MECHANISM alone spends 2.10, twice composed 2.87: one run fits, two do not
A_UNITS = [f"grp_{index:016x}" for index in range(0, 10)]
B_UNITS = [f"grp_{index:016x}" for index in range(5, 15)]  # five units shared with A_UNITS
SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'budget.sqlite'}"
        return
    admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except OperationalError as error:
        reason = f"PostgreSQL at {safe_url(POSTGRES)} is unreachable ({str(error.orig).strip().splitlines()[0]})"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must start it (pg_ctlcluster ... main start)")
        pytest.skip(f"{reason}; start it, or point $PIPELINE_TEST_POSTGRES_URL at a server")
    name = f"budget_test_{secrets.token_hex(6)}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(POSTGRES).set(database=name, password=PASSWORD).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _race_worker(commands, results, start) -> None:
    """A process that spends on command: open the store, wait for the other racer, spend and hold HOLD_S."""
    warnings.simplefilter("ignore")
    import opacus.accountants  # noqa: F401  (torch's import, before the race rather than in it)

    while True:
        url, run_id, units = commands.get()
        store = BudgetStore(url)
        start.wait()
        began = time.monotonic()
        try:
            with store.spend(run_id, units, MECHANISM, lifetime_epsilon=LIMIT):
                time.sleep(HOLD_S)
            results.put((run_id, "spent", time.monotonic() - began, ""))
        except BudgetExceeded as error:
            results.put((run_id, "refused", time.monotonic() - began, str(error)))
        except Exception as error:  # reported to the test, which fails on it
            results.put((run_id, "error", time.monotonic() - began, repr(error)))
        finally:
            store.close()


@pytest.fixture(scope="module")
def racers():
    """Two worker processes (spawned once: each imports torch) and a barrier that starts them together."""
    commands, results, start = SPAWN.Queue(), SPAWN.Queue(), SPAWN.Barrier(3)
    processes = [SPAWN.Process(target=_race_worker, args=(commands, results, start), daemon=True) for _ in range(2)]
    for process in processes:
        process.start()

    def race(url: str, runs: list[tuple[str, list[str]]]) -> list[tuple[str, str, float, str]]:
        for run_id, units in runs:
            commands.put((url, run_id, units))
        start.wait(timeout=120)
        return [results.get(timeout=60) for _ in runs]

    yield race
    for process in processes:  # idle, waiting for a command
        process.terminate()
        process.join(10)


def _hold_until_killed(url: str, ready) -> None:
    warnings.simplefilter("ignore")
    store = BudgetStore(url)
    with store.spend("killed-run", A_UNITS, MECHANISM, lifetime_epsilon=None):
        ready.set()
        time.sleep(120)  # killed long before


def recorded(url: str) -> tuple[list[str], int]:
    """The run ids in the store and how many (unit, training) entries it holds."""
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        runs = connection.execute(sa.text("SELECT run_id FROM trainings ORDER BY id")).scalars().all()
        entries = connection.execute(sa.text("SELECT count(*) FROM unit_trainings")).scalar_one()
    engine.dispose()
    return list(runs), entries


def test_two_runs_at_once_cannot_both_spend_the_last_of_a_budget(store_url, racers):
    BudgetStore(store_url).close()  # the schema, made once; each racer opens the store at head (no lock taken)
    outcomes = {
        run_id: (status, seconds, message)
        for run_id, status, seconds, message in racers(store_url, [("run-a", A_UNITS), ("run-b", B_UNITS)])
    }
    assert sorted(status for status, _, _ in outcomes.values()) == ["refused", "spent"], outcomes
    winner = next(run_id for run_id, (status, _, _) in outcomes.items() if status == "spent")
    _, waited, message = next(outcome for outcome in outcomes.values() if outcome[0] == "refused")
    assert waited >= HOLD_S * 0.6, f"the refused run did not wait for the other ({waited:.2f} s)"
    assert "5 of 10 privacy unit(s) would pass privacy.lifetime_epsilon 2.5" in message
    assert PASSWORD not in message
    assert recorded(store_url) == ([winner], 10)


def test_a_run_killed_mid_spend_leaves_the_store_as_it_was(store_url):
    store = BudgetStore(store_url)
    with store.spend("earlier", B_UNITS, MECHANISM, lifetime_epsilon=None):
        pass
    ready = SPAWN.Event()
    process = SPAWN.Process(target=_hold_until_killed, args=(store_url, ready))
    process.start()
    try:
        deadline = time.monotonic() + 60
        while not ready.wait(0.2) and process.is_alive() and time.monotonic() < deadline:
            pass
        assert ready.is_set(), f"the child never entered spend() (exit code {process.exitcode})"
        os.kill(process.pid, signal.SIGKILL)
        process.join(10)
    finally:
        if process.is_alive():
            process.kill()
    assert process.exitcode == -signal.SIGKILL
    assert recorded(store_url) == (["earlier"], 10)
    began = time.monotonic()
    with store.spend("after-kill", A_UNITS, MECHANISM, lifetime_epsilon=None, lock_timeout_s=10) as spend:
        pass
    assert time.monotonic() - began < 5, "the killed run's lock outlived it"
    assert spend.new_units == 5  # A_UNITS[5:] are B_UNITS[:5], spent by "earlier"; nothing from the killed run
    assert recorded(store_url) == (["earlier", "after-kill"], 20)
    if store_url.startswith("sqlite"):
        with sqlite3.connect(sa.make_url(store_url).database) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    store.close()


def test_a_run_waits_at_most_the_lock_timeout_and_the_message_hides_the_password(store_url):
    first, second = BudgetStore(store_url), BudgetStore(store_url)
    began = time.monotonic()
    with (
        first.spend("holder", A_UNITS, MECHANISM, lifetime_epsilon=None),
        pytest.raises(StoreBusy, match="another run holds the budget") as busy,
        second.spend("waiter", B_UNITS, MECHANISM, lifetime_epsilon=None, lock_timeout_s=0.3),
    ):
        pass
    assert 0.3 <= time.monotonic() - began < 5
    assert PASSWORD not in str(busy.value) and safe_url(store_url) in str(busy.value)
    assert recorded(store_url) == (["holder"], 10)
    first.close()
    second.close()
