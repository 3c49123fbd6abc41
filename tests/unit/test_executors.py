"""pipeline.executors on cheap shards: the order of the outputs, one worker state per process, the
worker count read in one place, and a sharded stage's run merging what mapped tasks kept."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from pipeline import executors
from pipeline.errors import InputError

SHARDS = [[1, 2], [3], [4, 5, 6], [7], [8, 9]]


@dataclass(frozen=True)
class Offset:
    """A worker's state: an offset, and the process that built it."""

    offset: int

    def __call__(self) -> dict[str, int]:
        return {"offset": self.offset, "pid": os.getpid()}


def add_offset(state: dict[str, int], shard: list[int]) -> tuple[list[int], int]:
    return [value + state["offset"] for value in shard], state["pid"]


@pytest.mark.parametrize("workers", [1, 2])
def test_outputs_come_in_the_order_of_the_shards_whatever_the_workers(workers):
    outputs = list(executors.map_shards(add_offset, SHARDS, init=Offset(100), workers=workers))
    assert [values for values, _ in outputs] == [[value + 100 for value in shard] for shard in SHARDS]
    processes = {pid for _, pid in outputs}
    assert processes == {os.getpid()} if workers == 1 else os.getpid() not in processes and len(processes) <= 2


def test_at_most_two_shards_per_worker_are_in_flight():
    drawn = []

    def shards():
        for shard in SHARDS * 3:
            drawn.append(shard)
            yield shard

    outputs = executors.map_shards(add_offset, shards(), init=Offset(0), workers=2)
    next(outputs)
    assert len(drawn) <= 4
    assert len(list(outputs)) == len(SHARDS) * 3 - 1


def test_the_worker_state_is_built_once_for_the_same_work():
    built = []

    @dataclass(frozen=True)
    class Counting:
        name: str
        log: list = field(default_factory=lambda: built, compare=False)

        def __call__(self) -> str:
            self.log.append(self.name)
            return self.name

    assert executors.worker_state(Counting("a")) == "a"
    assert executors.worker_state(Counting("a")) == "a"  # equal work: the state is kept
    assert executors.worker_state(Counting("b")) == "b"
    assert built == ["a", "b"]


def test_zero_workers_means_one_per_cpu(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 5)
    assert executors.resolve_workers(0) == 5
    assert executors.resolve_workers(3) == 3
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert executors.resolve_workers(0) == 1


def test_an_unknown_executor_is_refused():
    with pytest.raises(ValueError, match="unknown executor 'dask'"):
        next(executors.map_shards(add_offset, SHARDS, init=Offset(0), workers=1, backend="dask"))


def test_ray_without_ray_says_what_to_install():
    if importlib.util.find_spec("ray") is not None:
        pytest.skip("Ray is installed here; tests/orchestration/test_ray.py runs the executor")
    with pytest.raises(InputError, match=r"\[ray\] extra"):
        next(executors.map_shards(add_offset, SHARDS, init=Offset(0), workers=1, backend="ray"))


class Store:
    def __init__(self, kept: dict[int, tuple[list[int], int]]) -> None:
        self.kept = kept
        self.cleared = False

    def done(self, index: int) -> bool:
        return index in self.kept

    def load(self, index: int) -> tuple[list[int], int]:
        return self.kept[index]

    def save(self, index: int, output: tuple[list[int], int]) -> None:
        self.kept[index] = output

    def clear(self) -> None:
        self.cleared = True


@dataclass
class Plan:
    store: Store
    count: int = len(SHARDS)
    workers: int = 1
    init: Offset = Offset(10)
    read: list[list[int]] = field(default_factory=list)

    def shards(self):
        for shard in SHARDS:
            self.read.append(shard)
            yield shard


def merge(ctx, plan, outputs):
    return [values for values, _ in outputs]


def test_a_sharded_stage_merges_kept_and_new_shards_in_order(monkeypatch):
    kept = {1: ([-1], 0), 3: ([-3], 0)}  # done ahead by mapped tasks
    plan = Plan(Store(dict(kept)))
    stage = executors.ShardedStage(plan=lambda ctx: plan, process=add_offset, merge=merge)
    given = []
    real_map = executors.map_shards

    def recording_map(fn, shards, **options):
        return real_map(fn, (given.append(shard) or shard for shard in shards), **options)

    monkeypatch.setattr(executors, "map_shards", recording_map)
    merged = executors.run_sharded(stage, SimpleNamespace(executor="local"))
    assert merged == [[11, 12], [-1], [14, 15, 16], [-3], [18, 19]]
    assert given == [SHARDS[0], SHARDS[2], SHARDS[4]]  # only the shards no mapped task kept
    assert plan.store.cleared


def test_a_sharded_stage_whose_shards_were_all_kept_starts_no_worker(monkeypatch):
    plan = Plan(Store({index: ([index], 0) for index in range(len(SHARDS))}))
    stage = executors.ShardedStage(plan=lambda ctx: plan, process=add_offset, merge=merge)
    monkeypatch.setattr(executors, "worker_state", lambda init: pytest.fail("a worker was built"))
    merged = executors.run_sharded(stage, SimpleNamespace(executor="ray"))  # Ray is not even imported
    assert merged == [[index] for index in range(len(SHARDS))]


def test_shards_have_the_same_rows_whatever_the_row_groups(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.executors import parquet_shards

    pq.write_table(pa.table({"n": list(range(7))}), tmp_path / "t.parquet", row_group_size=3)
    shards = [shard.column("n").to_pylist() for shard in parquet_shards(pq.ParquetFile(tmp_path / "t.parquet"), 2)]
    assert shards == [[0, 1], [2, 3], [4, 5], [6]]
