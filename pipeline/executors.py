"""Where a sharded stage's shards run: a local process pool, Ray actors, or mapped scheduler tasks.

A sharded stage splits its input into shards (lists of rows) that are processed
independently, then merged in order. It declares, in its module, `SHARDED =
ShardedStage(plan, process, merge)`:

- `plan(ctx)` says what there is to do (a `ShardPlan`): how many shards, the
  shards themselves in order, the worker count it asks for, `init` (what
  builds one worker's state, e.g. a loaded model) and a `store` for shards
  processed ahead by mapped tasks;
- `process(state, shard)` processes one shard with a worker's state; it runs
  in a pool process, on a Ray actor or in a mapped task, so it must be a
  module-level function and its output picklable;
- `merge(ctx, plan, outputs)` writes the stage's outputs from the shards'
  outputs, given in shard order, and returns the `StageResult`.

Its `STAGE.run` is then `run_sharded(SHARDED, ctx)`. Under Airflow or
Prefect, `plan_parts` and `process_part` are the mapped tasks of any stage
(a stage that is not sharded plans no part). Whoever processes a shard, and
however many workers there are, the outputs are the same: the order of the
shards fixes the merge.

The stage's worker count (`0`: every CPU) is read in one place,
`resolve_workers`: by `map_shards` for the pool or the actors, and by
`plan_parts` for the number of mapped tasks.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import InputError
from pipeline.logs import get_logger

if TYPE_CHECKING:  # pipeline.stage imports this module
    from pipeline.stage import StageContext, StageResult

log = get_logger("pipeline.executors")

BACKENDS = ("local", "ray")  # the CLI's --executor: a process pool here, or actors on a Ray cluster

Shard = TypeVar("Shard", bound=Sequence[Any])
Output = TypeVar("Output")
State = TypeVar("State")


class ShardStore(Protocol[Output]):
    """Shard outputs kept by mapped tasks for the stage to merge, by shard index."""

    def done(self, index: int) -> bool: ...
    def load(self, index: int) -> Output: ...
    def save(self, index: int, output: Output) -> None: ...
    def clear(self) -> None: ...


class ShardPlan(Protocol[Shard, State, Output]):
    """What a sharded stage has to process. Making one reads no shard: planning is cheap."""

    @property
    def count(self) -> int: ...  # the number of shards

    @property
    def workers(self) -> int: ...  # the worker count the stage's config asks for (0: every CPU)

    @property
    def init(self) -> Callable[[], State]: ...  # builds a worker's state; picklable, and equal for equal work

    @property
    def store(self) -> ShardStore[Output]: ...

    def shards(self) -> Iterator[Shard]: ...  # the `count` shards in order, read as they are asked for


@dataclass(frozen=True)
class ShardedStage(Generic[Shard, State, Output]):
    """A stage module's `SHARDED`: how its input splits into shards, how one shard is processed, how they merge."""

    plan: Callable[[StageContext], ShardPlan[Shard, State, Output]]
    process: Callable[[State, Shard], Output]  # module-level: the pool and Ray pickle it by name
    merge: Callable[[StageContext, Any, Iterator[Output]], StageResult]  # (ctx, the plan, outputs in shard order)


READ_BUFFER_BYTES = 1 << 20  # per column read from a Parquet file


def open_parquet(path: Path) -> pq.ParquetFile:
    """A Parquet file to stream through: read a buffer at a time, not pre-buffered. pyarrow's default
    (`pre_buffer=True`) keeps what its batch reader has read: 248 MB of a 1M-row file by its end, against 13 MB this
    way (pyarrow 26); and without a buffer the reader holds a whole row group's compressed columns."""
    return pq.ParquetFile(path, pre_buffer=False, buffer_size=READ_BUFFER_BYTES)


def parquet_shards(source: pq.ParquetFile, size: int) -> Iterator[pa.Table]:
    """The rows in order, in shards of exactly `size` (the last one shorter): shard i is the same
    whoever reads it, whatever the file's row groups (a Parquet batch stops at a row-group boundary)."""
    buffered: pa.Table | None = None
    for batch in source.iter_batches(batch_size=size):
        table = pa.Table.from_batches([batch])
        buffered = table if buffered is None else pa.concat_tables([buffered, table])
        while buffered.num_rows >= size:
            yield buffered.slice(0, size)
            buffered = buffered.slice(size)
    if buffered is not None and buffered.num_rows:
        yield buffered


def resolve_workers(workers: int, backend: str = "local") -> int:
    """The number of workers: `workers` when set, else (0) one per CPU, of this machine for the local
    pool and the mapped tasks, of the cluster for Ray (which must be initialised)."""
    if workers:
        return workers
    if backend == "ray":
        import ray

        return max(1, int(ray.cluster_resources().get("CPU", 1)))
    return os.cpu_count() or 1


def map_shards(
    fn: Callable[[State, Shard], Output],
    shards: Iterable[Shard],
    *,
    init: Callable[[], State],
    workers: int,
    backend: str = "local",
) -> Iterator[Output]:
    """`fn(state, shard)` for each shard, yielded in the order of `shards`, where `state = init()` is
    built once per worker: in this process with one worker, else once per pool process (`local`) or
    per Ray actor (`ray`). `workers` is the count asked for (0: one per CPU, see `resolve_workers`).
    At most two shards per worker are in flight, so memory follows shard size, not input size.
    Nothing starts before the first output is asked for."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown executor {backend!r}; the executors are: {', '.join(BACKENDS)}")
    if backend == "ray":
        yield from _on_ray(fn, shards, init, workers)
        return
    count = resolve_workers(workers)
    log.debug("local executor: %d worker(s)", count)
    if count == 1:
        state = worker_state(init)
        yield from (fn(state, shard) for shard in shards)
        return
    with ProcessPoolExecutor(
        max_workers=count, mp_context=multiprocessing.get_context("spawn"), initializer=worker_state, initargs=(init,)
    ) as pool:
        yield from _in_order((pool.submit(_apply, fn, shard).result for shard in shards), 2 * count)


def _in_order(waits: Iterator[Callable[[], Output]], in_flight: int) -> Iterator[Output]:
    """The outputs of `waits` (each started as it is drawn) in order, with at most `in_flight` started and unread."""
    pending: deque[Callable[[], Output]] = deque()
    for wait in waits:
        pending.append(wait)
        if len(pending) >= in_flight:
            yield pending.popleft()()
    while pending:
        yield pending.popleft()()


_state: tuple[Callable[[], Any], Any] | None = None  # (init, what it built): one worker's state, in this process


def worker_state(init: Callable[[], State]) -> State:
    """The worker state `init` builds, built once in this process and kept while `init` is the same work."""
    global _state
    if _state is None or _state[0] != init:
        _state = (init, init())
    return _state[1]


def _apply(fn: Callable[[Any, Shard], Output], shard: Shard) -> Output:
    """`fn` on one shard in a pool process, with the state its initializer built."""
    assert _state is not None, "the pool's initializer builds the worker state"
    return fn(_state[1], shard)


def _on_ray(
    fn: Callable[[State, Shard], Output], shards: Iterable[Shard], init: Callable[[], State], workers: int
) -> Iterator[Output]:
    """Shards on Ray actors (one state each): the cluster at $RAY_ADDRESS, else a local one started here."""
    try:
        import ray
    except ImportError:
        raise InputError(
            "--executor ray needs Ray: install the project with the [ray] extra, e.g. pip install -e '.[ray]'"
        ) from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=os.environ.get("RAY_ADDRESS") or None,
            include_dashboard=False,
            configure_logging=False,
            log_to_driver=False,
        )
    try:
        count = resolve_workers(workers, "ray")
        log.debug("ray executor: %d actor(s)", count)
        actor = ray.remote(num_cpus=1)(RayWorker)
        actors = [actor.remote(init) for _ in range(count)]
        turns = itertools.cycle(actors)

        def start(shard: Shard) -> Callable[[], Output]:
            reference = next(turns).apply.remote(fn, shard)
            return lambda: ray.get(reference)

        yield from _in_order((start(shard) for shard in shards), 2 * count)
        for each in actors:
            ray.kill(each)
    finally:
        if started_here:
            ray.shutdown()


class RayWorker:
    """A Ray actor: the state of a pool process, built once per actor."""

    def __init__(self, init: Callable[[], Any]) -> None:
        self.state = init()

    def apply(self, fn: Callable[[Any, Shard], Output], shard: Shard) -> Output:
        return fn(self.state, shard)


def run_sharded(stage: ShardedStage[Shard, State, Output], ctx: StageContext) -> StageResult:
    """A sharded stage's run: plan, process every shard that no mapped task has (on `ctx.executor`),
    merge all of them in order, then drop what the mapped tasks kept."""
    plan = stage.plan(ctx)
    ahead = {index for index in range(plan.count) if plan.store.done(index)}
    if ahead:
        log.info("%d of %d shard(s) processed ahead by mapped tasks", len(ahead), plan.count)
    todo = (shard for index, shard in enumerate(plan.shards()) if index not in ahead)
    processed = map_shards(stage.process, todo, init=plan.init, workers=plan.workers, backend=ctx.executor)

    def outputs() -> Iterator[Output]:
        for index in range(plan.count):
            yield plan.store.load(index) if index in ahead else next(processed)

    try:
        result = stage.merge(ctx, plan, outputs())
    finally:
        processed.close()  # stops the pool or the actors, if the merge stopped early
    plan.store.clear()
    return result


def sharded_stage(name: str) -> ShardedStage[Any, Any, Any] | None:
    """The stage's `SHARDED` declaration; None for a stage that is not sharded."""
    import importlib

    from pipeline.stage import load_stage

    load_stage(name)  # an unknown or missing stage is the user's error
    return getattr(importlib.import_module(f"pipeline.stages.{name}"), "SHARDED", None)


def plan_parts(
    name: str,
    config_path: str | None = None,
    run_dir: str | None = None,
    parts: int = 0,
    *,
    previous_run: str | None = None,
    budget_store: str | None = None,
) -> list[list[int]]:
    """The shard indexes of stage `name` in `parts` contiguous groups (0: the stage's worker count, see
    `resolve_workers`), one group per mapped Airflow or Prefect task; none for a stage that is not
    sharded. Its upstream stages must be finished. `previous_run`, `budget_store`: as for `run_named_stage`."""
    stage = sharded_stage(name)
    if stage is None:
        return []
    from pipeline.stage import stage_context

    plan = stage.plan(stage_context(name, config_path, run_dir, previous_run=previous_run, budget_store=budget_store))
    parts = max(1, min(parts or resolve_workers(plan.workers), plan.count))
    bounds = [round(i * plan.count / parts) for i in range(parts + 1)]
    return [list(range(bounds[i], bounds[i + 1])) for i in range(parts)]


_part_lock = threading.Lock()


def process_part(
    name: str,
    config_path: str | None,
    run_dir: str | None,
    shard_indexes: Sequence[int],
    *,
    previous_run: str | None = None,
    budget_store: str | None = None,
) -> dict[str, int]:
    """Process the given shards of stage `name` in this process and keep them in the stage's store for
    it to merge (what a mapped Airflow or Prefect task runs); shards already kept are left as they are.
    Returns counts only."""
    stage = sharded_stage(name)
    if stage is None:
        raise InputError(f"stage '{name}' is not sharded: it has no parts to process")
    from pipeline.stage import stage_context

    plan = stage.plan(stage_context(name, config_path, run_dir, previous_run=previous_run, budget_store=budget_store))
    wanted = set(shard_indexes)
    last = max(wanted, default=-1)
    done = rows = 0
    with _part_lock:  # a thread-pool task runner may run parts side by side; a worker state is not made for that
        state = None
        for index, shard in enumerate(plan.shards()):
            if index > last:
                break
            if index not in wanted:
                continue
            rows += len(shard)
            if not plan.store.done(index):
                state = worker_state(plan.init) if state is None else state
                plan.store.save(index, stage.process(state, shard))
                done += 1
    return {"shards": len(wanted), "processed_now": done, "rows": rows}
