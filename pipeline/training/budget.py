"""The lifetime privacy budget: every DP training that touched a privacy unit, kept in a real database.

A privacy unit is a person (the key-hashed group id, `grp_<16 hex>` from the redact stage) or, when the data
names no group, a whole source (`source:<name>`). The store holds, per unit, the trainings that touched it:
accountant, noise multiplier, sampling rate, steps and delta, each a Gaussian mechanism under Poisson
sampling. Before training, `BudgetStore.spend` composes what each unit has spent with what this run would
spend, with the accountant's own composition (never a sum of epsilons), refuses a run that would take any
unit past the lifetime limit, and records the run's entry in the same transaction that checked the budget,
so two runs at once cannot both spend the last of a budget.

The store is a SQLAlchemy URL: an SQLite file next to the run directories by default (`default_store_url`),
PostgreSQL (`postgresql+psycopg://user@host/db`) when runs start on several hosts. Keep a password out of
the URL: libpq reads it from $PGPASSWORD or ~/.pgpass. Its schema is versioned with Alembic
(`budget_migrations/`), upgraded when a store is opened.

The store never holds a raw id: it stores the keys it is given, and refuses keys that do not look
key-hashed. Rotating the pseudonymisation key makes every person new to the store; keep the key.
"""

from __future__ import annotations

import bisect
import contextlib
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import NullPool

from pipeline.errors import ConfigError, StageError

ACCOUNTANTS = ("prv", "rdp")
MIGRATIONS = Path(__file__).with_name("budget_migrations")
DEFAULT_STORE_NAME = "privacy_budget.sqlite"
# a redact-stage group key, a hex digest, or a whole source: anything else may be a raw id and is refused
# (all-decimal "digests" too: a card or account number is made of hex digits)
UNIT_KEY = re.compile(r"^grp_[0-9a-f]{16,64}$|^(?![0-9]+$)[0-9a-f]{32,128}$|^source:[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$")
CHUNK = 900  # SQLite: keys per statement, below its oldest limit on bound parameters (999)
MAX_NOISE = 1000.0  # the refusal's search for a noise multiplier that fits stops here
FOREVER_MS = 2**31 - 1  # SQLite's busy timeout when no lock timeout is set (about 24 days)
_WRITE = "budget_write"  # execution option: this connection's transactions write (SQLite: BEGIN IMMEDIATE)
_TIMEOUT = "budget_lock_timeout_ms"

# The schema at the head revision, for queries; the migrations create it.
metadata = sa.MetaData()
units_table = sa.Table("units", metadata, sa.Column("unit_key", sa.String(255), primary_key=True))
trainings_table = sa.Table(
    "trainings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(255), nullable=False),
    sa.Column("accountant", sa.String(16), nullable=False),
    sa.Column("noise_multiplier", sa.Double, nullable=False),
    sa.Column("sample_rate", sa.Double, nullable=False),
    sa.Column("steps", sa.Integer, nullable=False),
    sa.Column("delta", sa.Double, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)
unit_trainings_table = sa.Table(
    "unit_trainings",
    metadata,
    sa.Column("unit_key", sa.String(255), sa.ForeignKey("units.unit_key"), primary_key=True),
    sa.Column("training_id", sa.Integer, sa.ForeignKey("trainings.id"), primary_key=True),
)


@dataclass(frozen=True)
class Mechanism:
    """One DP training's spend on each unit it touched: DP-SGD's subsampled Gaussian mechanism, `steps` times."""

    accountant: str  # "prv" or "rdp" (Opacus accountant names)
    noise_multiplier: float
    sample_rate: float
    steps: int
    delta: float

    def __post_init__(self) -> None:
        problems = []
        if self.accountant not in ACCOUNTANTS:
            problems.append(f"accountant {self.accountant!r} is not one of {', '.join(ACCOUNTANTS)}")
        if not self.noise_multiplier > 0:
            problems.append(f"noise_multiplier {self.noise_multiplier!r} is not positive")
        if not 0 < self.sample_rate <= 1:
            problems.append(f"sample_rate {self.sample_rate!r} is not in (0, 1]")
        if self.steps < 1:
            problems.append(f"steps {self.steps!r} is below 1")
        if not 0 < self.delta < 1:
            problems.append(f"delta {self.delta!r} is not in (0, 1)")
        if problems:
            raise ValueError("Mechanism: " + "; ".join(problems))

    def spends_no_more_than(self, other: Mechanism) -> bool:
        """Whether this mechanism is at most as private-costly as `other` (more noise, lower rate, fewer steps)."""
        return (
            self.accountant == other.accountant
            and self.delta == other.delta
            and self.noise_multiplier >= other.noise_multiplier
            and self.sample_rate <= other.sample_rate
            and self.steps <= other.steps
        )


@dataclass(frozen=True)
class Distribution:
    """An epsilon over the units of a run: how many units, and its min, median, 90th percentile and max
    (nearest rank). Figures only: which unit has which value is never kept."""

    units: int
    min: float
    median: float
    p90: float
    max: float

    @classmethod
    def of(cls, weighted: Iterable[tuple[float, int]]) -> Distribution:
        """From (value, how many units have it) pairs."""
        pairs = sorted((value, count) for value, count in weighted if count > 0)
        cumulative = []
        total = 0
        for _, count in pairs:
            total += count
            cumulative.append(total)
        if not total:
            raise ValueError("a distribution over no units")

        def quantile(share: float) -> float:
            rank = max(1, math.ceil(share * total))
            return pairs[bisect.bisect_left(cumulative, rank)][0]

        return cls(units=total, min=pairs[0][0], median=quantile(0.5), p90=quantile(0.9), max=pairs[-1][0])

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass
class Spend:
    """What a run spends on its units, yielded by `BudgetStore.spend` while the budget is held.

    All epsilons are composed at one delta: the smallest among the run's and the units' stored entries.
    Set `actual` to the mechanism training really ran (e.g. fewer steps after early stopping) before the
    with-block ends; it must spend no more than `planned`. Unset, `planned` is recorded.
    """

    units: int
    new_units: int  # units with no spend before this run
    before: Distribution  # composed epsilon already spent per unit (0 for a new unit)
    this_run: float  # epsilon of `planned` alone, at its own delta
    after: Distribution  # composed history + this run
    remaining: Distribution | None  # lifetime_epsilon - after; None without a limit
    planned: Mechanism
    lifetime_epsilon: float | None
    actual: Mechanism | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready, counts and figures only: never a unit key."""
        recorded = self.actual or self.planned
        return {
            "units": self.units,
            "new_units": self.new_units,
            "lifetime_epsilon": self.lifetime_epsilon,
            "accountant": self.planned.accountant,
            "epsilon_before": self.before.as_dict(),
            "epsilon_this_run": self.this_run,
            "epsilon_after": self.after.as_dict(),
            "epsilon_remaining": self.remaining.as_dict() if self.remaining else None,
            "planned": asdict(self.planned),
            "recorded": asdict(recorded),
        }


class BudgetExceeded(ConfigError):
    """The run would take a unit past `privacy.lifetime_epsilon`. Says what is left and what would fit:
    `noise_multiplier` (the smallest that fits at the planned steps), `target_epsilon` (what this run alone
    spends with that noise: a `train.target_epsilon` at most this fits) and `steps` (the largest that fits at
    the planned noise), each None when none does."""

    def __init__(
        self,
        message: str,
        *,
        source: str,
        worst_epsilon: float,
        limit: float,
        left: float,
        noise_multiplier: float | None,
        steps: int | None,
        target_epsilon: float | None,
    ) -> None:
        super().__init__([message], source=source)
        self.worst_epsilon = worst_epsilon
        self.limit = limit
        self.left = left
        self.noise_multiplier = noise_multiplier
        self.steps = steps
        self.target_epsilon = target_epsilon


class StoreBusy(StageError):
    """Another run holds the budget of these units for longer than `privacy.lock_timeout_s`."""


def default_store_url(run_dir: Path) -> str:
    """The embedded store: an SQLite file beside the run directories, so every run there shares it."""
    return f"sqlite:///{Path(run_dir).resolve().parent / DEFAULT_STORE_NAME}"


def safe_url(url: str | sa.URL) -> str:
    """The URL with any password masked, for messages and logs."""
    return sa.make_url(url).render_as_string(hide_password=True)


class BudgetStore:
    """The lifetime privacy budget in the database at `url` (a SQLAlchemy URL). Opening it creates the schema,
    or upgrades it to the one this code knows; a schema newer than that is refused."""

    def __init__(self, url: str) -> None:
        try:
            parsed = sa.make_url(url)
        except ArgumentError:
            raise ConfigError(
                [
                    "not a SQLAlchemy URL; e.g. sqlite:////srv/runs/privacy_budget.sqlite or "
                    "postgresql+psycopg://pipeline@db-host/privacy (password from $PGPASSWORD)"
                ],
                source="privacy.budget_store",
            ) from None
        if parsed.drivername == "postgresql":  # SQLAlchemy's default would be psycopg2, which is not installed
            parsed = parsed.set(drivername="postgresql+psycopg")
        self.name = safe_url(parsed)
        self._engine = _engine(parsed)
        try:
            self._upgrade()
        except OperationalError as error:
            self._engine.dispose()
            raise StageError(f"privacy budget store {self.name}: cannot open it ({_first_line(error)})") from None
        except BaseException:
            self._engine.dispose()
            raise

    def close(self) -> None:
        self._engine.dispose()

    @contextlib.contextmanager
    def spend(
        self,
        run_id: str,
        units: Sequence[str],
        planned: Mechanism,
        *,
        lifetime_epsilon: float | None,
        lock_timeout_s: float | None = None,
    ) -> Iterator[Spend]:
        """One transaction around training: lock `units`, compose each one's history with `planned`, refuse the
        run (`BudgetExceeded`) if any unit would pass `lifetime_epsilon` (None: no limit, only record), yield the
        `Spend`; on normal exit record `spend.actual` (or `planned`) for every unit and commit, on an exception
        roll back and record nothing. A second run on any of the same units waits for this one (at most
        `lock_timeout_s`, then `StoreBusy`) and then sees its spend."""
        keys = _checked_keys(units)
        if lifetime_epsilon is not None and not lifetime_epsilon > 0:
            raise ValueError(f"lifetime_epsilon {lifetime_epsilon!r} is not positive")
        timeout_ms = FOREVER_MS if lock_timeout_s is None else max(1, round(lock_timeout_s * 1000))
        with self._engine.connect() as connection:  # closing it rolls back whatever was not committed
            connection.execution_options(**{_WRITE: True, _TIMEOUT: timeout_ms})
            with self._busy(lock_timeout_s):
                transaction = connection.begin()
                self._lock(connection, keys, timeout_ms, lock_timeout_s is not None)
            with transaction:  # commits on normal exit, rolls back on an exception
                spend, refusal = _assess(_histories(connection, keys), planned, lifetime_epsilon, store=self.name)
                if refusal is not None:
                    raise refusal
                yield spend
                recorded = spend.actual or planned
                if not recorded.spends_no_more_than(planned):
                    raise ValueError(
                        f"spend.actual {recorded} spends more than the planned {planned} the budget was checked for"
                    )
                _record(connection, run_id, keys, recorded)

    # --- schema ---

    def _upgrade(self) -> None:
        """Alembic `upgrade head`, under the store's write lock; skipped (no lock) when the store is at head."""
        from alembic import command
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory
        from alembic.util.exc import CommandError

        config = _alembic_config()
        script = ScriptDirectory.from_config(config)
        with self._engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
            connection.rollback()
        known = {revision.revision for revision in script.walk_revisions()}
        if current - known:
            raise self._too_new(current - known)
        if current == set(script.get_heads()):
            return
        with self._engine.connect() as connection:
            connection.execution_options(**{_WRITE: True})
            with connection.begin():
                if connection.dialect.name == "postgresql":  # one upgrade at a time, across hosts
                    connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_KEY})
                config.attributes["connection"] = connection
                try:
                    command.upgrade(config, "head")
                except CommandError as error:  # a newer pipeline upgraded it meanwhile
                    raise self._too_new({str(error)}) from None

    def _too_new(self, revisions: set[str]) -> ConfigError:
        return ConfigError(
            [
                f"its schema is at revision {', '.join(sorted(revisions))}, which this pipeline does not know: a newer "
                "pipeline wrote it. Use that pipeline (or a newer one), or another store; this one is left as it is"
            ],
            source=f"privacy budget store {self.name}",
        )

    # --- locking ---

    @contextlib.contextmanager
    def _busy(self, lock_timeout_s: float | None) -> Iterator[None]:
        """A lock wait that timed out, as `StoreBusy`: SQLite's busy timeout, PostgreSQL's lock_timeout."""
        try:
            yield
        except OperationalError as error:
            locked = "database is locked" in str(error.orig) or getattr(error.orig, "sqlstate", None) == "55P03"
            if not locked:
                raise
            waited = "in time" if lock_timeout_s is None else f"within privacy.lock_timeout_s ({lock_timeout_s:g} s)"
            raise StoreBusy(
                f"privacy budget store {self.name}: another run holds the budget of these units and did not finish "
                f"{waited}; run again when it has finished, or raise privacy.lock_timeout_s (null waits as long as "
                "it takes)"
            ) from None

    def _lock(self, connection: Connection, keys: list[str], timeout_ms: int, timed: bool) -> None:
        """SQLite: BEGIN IMMEDIATE has locked the whole store already; the missing unit rows are added.
        PostgreSQL: add the missing unit rows, then lock every unit's row with SELECT ... FOR UPDATE, both in
        byte order of the keys, so two runs take their common units in one order and never deadlock. Every writer
        of a unit's entries holds its lock, so the histories read after it are complete (READ COMMITTED suffices)."""
        if connection.dialect.name != "postgresql":
            for chunk in _chunks(keys):
                connection.execute(
                    sqlite_insert(units_table).on_conflict_do_nothing(), [{"unit_key": key} for key in chunk]
                )
            return
        if timed:
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = {int(timeout_ms)}")
        connection.execute(_PG_INSERT_UNITS, {"keys": keys})
        connection.execute(_PG_LOCK_UNITS, {"keys": keys}).all()


_ADVISORY_KEY = 0x62756467  # "budg": PostgreSQL advisory lock serialising schema upgrades
# PostgreSQL takes the keys as one array parameter: one statement for 100,000 units
_KEYS = sa.bindparam("keys", type_=postgresql.ARRAY(sa.String))
_PG_INSERT_UNITS = sa.text(
    'INSERT INTO units (unit_key) SELECT key FROM unnest(:keys) AS key ORDER BY key COLLATE "C" ON CONFLICT DO NOTHING'
).bindparams(_KEYS)
_PG_LOCK_UNITS = sa.text(
    'SELECT unit_key FROM units WHERE unit_key = ANY(:keys) ORDER BY unit_key COLLATE "C" FOR UPDATE'
).bindparams(_KEYS)
_PG_LINKS = sa.text("SELECT unit_key, training_id FROM unit_trainings WHERE unit_key = ANY(:keys)").bindparams(_KEYS)
_PG_RECORD_LINKS = sa.text(
    "INSERT INTO unit_trainings (unit_key, training_id) SELECT key, :training FROM unnest(:keys) AS key"
).bindparams(_KEYS)


def _alembic_config() -> Any:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _engine(url: sa.URL) -> Engine:
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, poolclass=NullPool)
    engine = sa.create_engine(url, poolclass=NullPool)

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver begins nothing; _begin does
        dbapi_connection.execute("PRAGMA foreign_keys = ON")

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        connection.exec_driver_sql(f"PRAGMA busy_timeout = {int(options.get(_TIMEOUT, FOREVER_MS))}")
        # IMMEDIATE takes the store's write lock at once: a second writer waits here, before reading anything
        connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_WRITE) else "BEGIN")

    return engine


# --- reading and writing ---


def _checked_keys(units: Sequence[str]) -> list[str]:
    keys = sorted(set(units))
    if not keys:
        raise ValueError("spend() needs at least one privacy unit")
    raw = sum(1 for key in keys if not isinstance(key, str) or not UNIT_KEY.match(key))
    if raw:  # never echo a key: it may be the raw id
        raise ValueError(
            f"{raw} of {len(keys)} unit keys do not look key-hashed (expected 'grp_' and 16 hex digits from the "
            "redact stage, a hex digest of 32 or more, or 'source:<name>'); the budget store never holds a raw id"
        )
    return keys


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


Entry = tuple[float, float, int, float]  # noise multiplier, sampling rate, steps, delta


def _histories(connection: Connection, keys: list[str]) -> Counter[tuple[Entry, ...]]:
    """How many of `keys` have each history (their entries, sorted); a unit with none has the empty history."""
    trainings_of: dict[str, list[int]] = {}
    link = unit_trainings_table.c
    if connection.dialect.name == "postgresql":
        links: Iterable[Any] = connection.execute(_PG_LINKS, {"keys": keys})
    else:
        links = (
            row
            for chunk in _chunks(keys)
            for row in connection.execute(sa.select(link.unit_key, link.training_id).where(link.unit_key.in_(chunk)))
        )
    for key, training in links:
        trainings_of.setdefault(key, []).append(training)
    ids = sorted({training for trainings in trainings_of.values() for training in trainings})
    entries: dict[int, Entry] = {}
    t = trainings_table.c
    for chunk in _chunks(ids):
        for row in connection.execute(
            sa.select(t.id, t.noise_multiplier, t.sample_rate, t.steps, t.delta).where(t.id.in_(chunk))
        ):
            entries[row.id] = (float(row.noise_multiplier), float(row.sample_rate), int(row.steps), float(row.delta))
    by_trainings = Counter(tuple(sorted(trainings)) for trainings in trainings_of.values())
    histories: Counter[tuple[Entry, ...]] = Counter()
    for trainings, count in by_trainings.items():
        histories[tuple(sorted(entries[training] for training in trainings))] += count
    if len(keys) > len(trainings_of):
        histories[()] += len(keys) - len(trainings_of)
    return histories


def _record(connection: Connection, run_id: str, keys: list[str], mechanism: Mechanism) -> None:
    result = connection.execute(
        sa.insert(trainings_table).values(
            run_id=run_id,
            accountant=mechanism.accountant,
            noise_multiplier=mechanism.noise_multiplier,
            sample_rate=mechanism.sample_rate,
            steps=mechanism.steps,
            delta=mechanism.delta,
            recorded_at=datetime.now(UTC),
        )
    )
    training = result.inserted_primary_key[0]
    if connection.dialect.name == "postgresql":
        connection.execute(_PG_RECORD_LINKS, {"keys": keys, "training": training})
        return
    for chunk in _chunks(keys):
        connection.execute(
            sa.insert(unit_trainings_table), [{"unit_key": key, "training_id": training} for key in chunk]
        )


# --- composition ---


def accountant_epsilon(accountant: str, history: Sequence[tuple[float, float, int]], delta: float) -> float:
    """Opacus' own composition of `history` ((noise multiplier, sampling rate, steps) entries) at `delta`."""
    from opacus.accountants import create_accountant

    composer = create_accountant(mechanism=accountant)
    composer.history = list(history)
    return float(composer.get_epsilon(delta=delta))


@dataclass
class _Composer:
    """Epsilons of histories with the planned run's accountant, each distinct one computed once.

    Every entry is composed by this run's accountant, whichever counted it when it ran (each is the same
    subsampled Gaussian mechanism); entries with the same noise and rate are merged by adding their steps
    (the same composition, fewer terms). A unit's history is composed at the smallest delta among its
    entries and this run's: an epsilon at a smaller delta is the larger, so the check is conservative."""

    accountant: str
    cache: dict[tuple[tuple[tuple[float, float, int], ...], float], float] = field(default_factory=dict)

    def epsilon(self, entries: Sequence[Entry], delta: float) -> float:
        if not entries:
            return 0.0
        steps: Counter[tuple[float, float]] = Counter()
        for noise, rate, count, _ in entries:
            steps[(noise, rate)] += count
        history = tuple(sorted((noise, rate, count) for (noise, rate), count in steps.items()))
        key = (history, delta)
        if key not in self.cache:
            self.cache[key] = accountant_epsilon(self.accountant, history, delta)
        return self.cache[key]


@dataclass(frozen=True)
class _Group:
    """Units sharing one history."""

    history: tuple[Entry, ...]
    units: int
    delta: float
    before: float
    after: float


def _assess(
    histories: Counter[tuple[Entry, ...]], planned: Mechanism, limit: float | None, *, store: str
) -> tuple[Spend, BudgetExceeded | None]:
    """What the run spends on units with these histories, and the refusal when it would take any past `limit`."""
    composer = _Composer(planned.accountant)

    def entry(mechanism: Mechanism) -> Entry:
        return (mechanism.noise_multiplier, mechanism.sample_rate, mechanism.steps, mechanism.delta)

    groups = []
    for history, count in histories.items():
        delta = min([planned.delta, *(d for *_, d in history)])
        groups.append(
            _Group(
                history=history,
                units=count,
                delta=delta,
                before=composer.epsilon(history, delta),
                after=composer.epsilon([*history, entry(planned)], delta),
            )
        )
    this_run = composer.epsilon([entry(planned)], planned.delta)
    spend = Spend(
        units=sum(group.units for group in groups),
        new_units=histories.get((), 0),
        before=Distribution.of((group.before, group.units) for group in groups),
        this_run=this_run,
        after=Distribution.of((group.after, group.units) for group in groups),
        remaining=None if limit is None else Distribution.of((limit - group.after, group.units) for group in groups),
        planned=planned,
        lifetime_epsilon=limit,
    )
    over = sorted((group for group in groups if limit is not None and group.after > limit), key=lambda g: -g.after)
    if not over:
        return spend, None
    assert limit is not None

    def excess(group: _Group, mechanism: Mechanism) -> float:
        """How far the group's composition with `mechanism` lands above the limit (at most 0: it fits)."""
        try:
            return composer.epsilon([*group.history, entry(mechanism)], group.delta) - limit
        except (ValueError, ArithmeticError, RuntimeError):  # the accountant's numerics failing: not a fit
            return math.inf

    spent = [group for group in over if group.before >= limit]
    noise = steps = target = None
    if not spent:
        noise = _smallest_noise(planned, over, excess)
        steps = _largest_steps(planned, over, excess)
    if noise is not None:  # what train.target_epsilon gives that noise (or more) at the planned steps
        target = _round(
            composer.epsilon([entry(replace(planned, noise_multiplier=noise))], planned.delta), 3, math.floor
        )
    return spend, _refusal(spend, over, spent, noise, steps, target, store=store)


Excess = Callable[[_Group, Mechanism], float]


def _smallest_noise(planned: Mechanism, over: list[_Group], excess: Excess) -> float | None:
    """The smallest noise multiplier (within 0.1%, rounded up to 4 significant digits) that fits every group at
    the planned steps: found for the worst group, then raised for any group it leaves over (rarely one)."""

    def at(group: _Group, noise: float) -> float:
        return excess(group, replace(planned, noise_multiplier=noise))

    noise = planned.noise_multiplier
    while (group := next((g for g in over if at(g, noise) > 0), None)) is not None:
        bad, good = noise, noise * 2
        while at(group, good) > 0:
            bad, good = good, good * 2
            if good > MAX_NOISE:
                return None
        noise = _fitting_end(lambda x, g=group: at(g, x), bad, good, xtol=1e-3 * bad)
        rounded = _round(noise, 4, math.ceil)
        noise = rounded if at(group, rounded) <= 0 else noise
    return noise


def _largest_steps(planned: Mechanism, over: list[_Group], excess: Excess) -> int | None:
    """The largest step count that fits every group at the planned noise multiplier; None when 1 step does not."""

    def at(group: _Group, steps: float) -> float:
        return excess(group, replace(planned, steps=max(1, int(steps))))

    steps = planned.steps
    while (group := next((g for g in over if at(g, steps) > 0), None)) is not None:
        if at(group, 1) > 0:
            return None
        steps = int(_fitting_end(lambda x, g=group: at(g, x), 1, steps, xtol=1))
        while steps > 1 and at(group, steps) > 0:
            steps -= 1
    return steps


def _fitting_end(excess: Callable[[float], float], low: float, high: float, *, xtol: float) -> float:
    """Where the monotone `excess` crosses 0 between `low` and `high` (one end fits, excess <= 0, the other does
    not), by SciPy's Brent method to within `xtol`, returned on the side that fits."""
    from scipy.optimize import brentq

    def finite(x: float) -> float:
        value = excess(x)
        return value if math.isfinite(value) else 1e6  # the accountant's numerics failing: not a fit

    root = brentq(finite, low, high, xtol=xtol)
    fits_above = finite(high) <= 0
    candidates = (root, root + xtol, high) if fits_above else (root, root - xtol, low)
    return next(x for x in candidates if finite(x) <= 0)


def _round(value: float, digits: int, direction: Callable[[float], int]) -> float:
    """`value` to `digits` significant digits, rounded by `direction` (math.ceil or math.floor)."""
    if value <= 0:
        return value
    scale = 10 ** (digits - 1 - math.floor(math.log10(value)))
    return direction(value * scale) / scale


def _refusal(
    spend: Spend,
    over: list[_Group],
    spent: list[_Group],
    noise: float | None,
    steps: int | None,
    target: float | None,
    *,
    store: str,
) -> BudgetExceeded:
    planned, limit = spend.planned, spend.lifetime_epsilon
    assert limit is not None
    worst = over[0]
    most_spent = spend.before.max
    left = max(0.0, limit - most_spent)
    units_over = sum(group.units for group in over)
    text = (
        f"{units_over} of {spend.units} privacy unit(s) would pass privacy.lifetime_epsilon {limit:g}: the worst would "
        f"reach epsilon {worst.after:.4g} (spent before {worst.before:.4g}; this run alone {spend.this_run:.4g}; "
        f"composed by the {planned.accountant} accountant at delta {worst.delta:.3g}). The most-spent unit has "
        f"epsilon {left:.4g} left. "
    )
    if spent:
        units_spent = sum(group.units for group in spent)
        text += (
            f"{units_spent} unit(s) have no budget left (spent up to {most_spent:.4g}), so no noise multiplier or step "
            "count fits: leave those people out of the training set, or raise privacy.lifetime_epsilon"
        )
    else:
        if noise is not None:
            text += (
                f"At the planned {planned.steps} steps, noise multiplier {noise:g} or more would fit (the noise "
                f"train.target_epsilon {target:g} gives, or a lower target); "
            )
        else:
            text += f"At the planned {planned.steps} steps, no noise multiplier up to {MAX_NOISE:g} fits; "
        if steps is not None:
            text += f"at the planned noise multiplier {planned.noise_multiplier:g}, at most {steps} steps would fit"
        else:
            text += f"at the planned noise multiplier {planned.noise_multiplier:g}, no step count fits"

    return BudgetExceeded(
        text,
        source=f"privacy budget store {store}",
        worst_epsilon=worst.after,
        limit=limit,
        left=left,
        noise_multiplier=noise,
        steps=steps,
        target_epsilon=target,
    )


def _first_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    return str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
