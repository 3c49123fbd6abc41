"""Split rules on small arrays and on a small curated file: units, strata, dealing, the written outputs."""

from __future__ import annotations

import filecmp
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.artifacts import RunDir
from pipeline.config import load_config
from pipeline.errors import InputError
from pipeline.stage import StageContext
from pipeline.stages import split
from pipeline.stages.split import Coded, assign_splits, rows_for_every_split, split_units, stratify

SPLITS = ("train", "validation", "test")


def coded(values: list[str | None]) -> Coded:
    names = sorted({value if value is not None else "(missing)" for value in values})
    return Coded(np.array([names.index(v if v is not None else "(missing)") for v in values]), names)


def link_codes(values: list[str | None]) -> np.ndarray:
    return pd.factorize(pd.Series(values, dtype=object))[0]


@pytest.mark.parametrize(
    "ratios, rows",
    [
        ((0.8, 0.1, 0.1), 10),
        ((0.7, 0.15, 0.15), 7),
        ((0.6, 0.2, 0.2), 5),
        ((0.5, 0.25, 0.25), 4),
        ((0.9, 0.1, 0.0), 10),  # a split without a share needs no row
        ((0.98, 0.01, 0.01), 100),
    ],
)
def test_rows_a_stratum_needs_to_reach_every_split(ratios, rows):
    assert rows_for_every_split(ratios) == rows


def test_rows_sharing_a_group_or_a_cluster_form_one_unit_transitively():
    customer = link_codes(["c1", "c1", "c2", None, "c3", "c2"])
    cluster = link_codes(["a", "b", "b", "d", "d", "f"])
    # a-b by customer, b-c by cluster, c-f by customer; d-e by cluster
    assert split_units([customer, cluster], 6).tolist() == [0, 0, 0, 3, 3, 0]
    assert split_units([cluster], 6).tolist() == [0, 1, 1, 3, 3, 5]
    assert split_units([], 3).tolist() == [0, 1, 2]


def synthetic(rows: int, seed: int = 0) -> tuple[Coded, list[Coded], np.ndarray, np.ndarray]:
    """Strata label x gender, customers of one to four rows, and row keys: what `assign_splits` takes."""
    rng = np.random.default_rng(seed)
    label = coded(rng.choice(["a", "b", "c"], size=rows, p=[0.6, 0.3, 0.1]).tolist())
    gender = coded(rng.choice(["f", "m", "x"], size=rows, p=[0.5, 0.45, 0.05]).tolist())
    sizes = rng.integers(1, 5, size=rows)
    units = np.repeat(np.cumsum(sizes) - sizes, sizes)[:rows]  # a unit is named by its first row, as split_units does
    strata, _ = stratify({"label": label, "gender": gender}, 10, rows)
    return strata, [label, gender], units, rng.integers(0, 2**63, size=rows).astype(np.uint64)


def test_assignment_keeps_units_whole_and_is_deterministic():
    strata, balanced, units, keys = synthetic(5_000)
    splits = assign_splits(strata, balanced, units, keys, (0.8, 0.1, 0.1))
    assert splits.tolist() == assign_splits(strata, balanced, units, keys, (0.8, 0.1, 0.1)).tolist()
    other_keys = np.random.default_rng(1).integers(0, 2**63, size=len(keys)).astype(np.uint64)  # another seed
    assert splits.tolist() != assign_splits(strata, balanced, units, other_keys, (0.8, 0.1, 0.1)).tolist()
    frame = pd.DataFrame({"split": splits, "unit": units})
    assert (frame.groupby("unit")["split"].nunique() == 1).all()


@pytest.mark.parametrize("ratios", [(0.8, 0.1, 0.1), (0.7, 0.15, 0.15), (0.9, 0.1, 0.0)])
def test_every_stratum_is_split_in_the_stated_proportions(ratios):
    strata, balanced, units, keys = synthetic(5_000, seed=2)
    frame = pd.DataFrame({"split": assign_splits(strata, balanced, units, keys, ratios), "stratum": strata.codes})
    shares = frame["split"].value_counts(normalize=True).reindex(range(3), fill_value=0.0)
    assert np.allclose(shares, ratios, atol=0.005)
    for _, part in frame.groupby("stratum"):
        shares = part["split"].value_counts(normalize=True).reindex(range(3), fill_value=0.0)
        # a stratum's shares are within about two units (of up to four rows) of the ratios
        assert np.abs(shares.to_numpy() - ratios).max() <= 0.02 + 8 / len(part), (len(part), shares.tolist())


def test_strata_too_small_for_every_split_still_follow_the_ratios_overall():
    rows = 600  # 300 strata of two rows, one unit per row
    strata = coded([f"s{i // 2:03d}" for i in range(rows)])
    keys = np.random.default_rng(0).integers(0, 2**63, size=rows).astype(np.uint64)
    splits = assign_splits(strata, [strata], np.arange(rows), keys, (0.8, 0.1, 0.1))
    assert np.bincount(splits, minlength=3).tolist() == [480, 60, 60]


def test_too_few_units_is_a_clear_error():
    with pytest.raises(InputError, match="6 row\\(s\\) form 3 independent unit\\(s\\).*needs at least 10"):
        assign_splits(
            coded(["a"] * 6), [], np.array([0, 0, 2, 2, 4, 4]), np.arange(6, dtype=np.uint64), (0.8, 0.1, 0.1)
        )


def test_strata_too_fine_for_every_split_fall_back_to_fewer_columns(caplog):
    label = coded(["a", "b"] * 30)
    age = coded([str(i) for i in range(60)])
    gender = coded(["f", "m", "m"] * 20)
    strata, used = stratify({"label": label, "gender": gender, "age": age}, 10, 60)
    assert used == ["label", "gender"] and strata.counts().max() >= 10
    assert "stratifying on label x gender instead" in caplog.text
    assert strata.names == ["a & f", "a & m", "b & f", "b & m"]
    assert stratify({"label": label, "gender": gender}, 10, 60)[1] == ["label", "gender"]
    tiny = coded([str(i) for i in range(12)])
    strata, used = stratify({"label": tiny, "gender": coded(["f"] * 12)}, 10, 12)
    assert used == [] and strata.names == ["all"]


# --- the stage on a small curated file ------------------------------------------------


def curated_records(rows: int) -> pd.DataFrame:
    """Curated rows as the curate stage leaves them: customers of one to three tickets, some duplicates."""
    rng = np.random.default_rng(4)
    customers = np.repeat(np.arange(rows), rng.integers(1, 4, size=rows))[:rows]
    words = ["She asked about her invoice.", "He wants his refund.", "The parcel is late.", "Login fails."]
    ids = [f"t:{i:05d}" for i in range(rows)]
    return pd.DataFrame(
        {
            "row_id": ids,
            "source": "t",
            "text": [f"{words[i % 4]} Ticket {i}." for i in range(rows)],
            "label": rng.choice(["billing", "shipping", "account"], size=rows, p=[0.5, 0.3, 0.2]),
            "gender": rng.choice(["female", "male", None], size=rows, p=[0.5, 0.45, 0.05]),
            "age": rng.choice(["18-34", "35+"], size=rows),
            "customer": [f"C{c:05d}" for c in customers],
            "cluster_id": [ids[i - 1] if i % 50 == 1 else ids[i] for i in range(rows)],  # every 50th row a duplicate
        }
    )


def run_split(folder: Path, records: pd.DataFrame, **settings) -> tuple[RunDir, dict]:
    folder.mkdir(parents=True)
    config = {
        "run_name": "t",
        "seed": 3,
        "sources": [
            {
                "path": "data.csv",
                "columns": {
                    "id": "id",
                    "text": ["text"],
                    "label": "label",
                    "protected": ["gender", "age"],
                    "group": "customer",
                },
            }
        ],
        "split": settings,
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    run_dir = RunDir(folder / "run")
    run_dir.path("curate").mkdir(parents=True)
    records.to_parquet(run_dir.path("curate/records.parquet"), index=False)
    result = split.run(StageContext(load_config(folder / "config.yaml", check_data=False), run_dir))
    return run_dir, result.stats


def written_files(run_dir: RunDir) -> list[str]:
    folder = run_dir.path("split")
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


@pytest.mark.parametrize("method", ["reweigh", "resample"])
def test_the_stage_writes_identical_outputs_on_two_runs(tmp_path, method):
    records = curated_records(1_200)
    first, stats = run_split(tmp_path / "a", records, mitigation={"method": method})
    second, _ = run_split(tmp_path / "b", records, mitigation={"method": method})
    files = written_files(first)
    assert files == written_files(second) and "dataset/train/data-00000-of-00001.arrow" in files
    _, mismatch, errors = filecmp.cmpfiles(first.path("split"), second.path("split"), files, shallow=False)
    assert mismatch == [] and errors == []
    assert stats["total"] == stats["kept"] + stats["quarantined"] == len(records)
    frames = {name: pd.read_parquet(first.path(f"split/{name}.parquet")) for name in SPLITS}
    originals = pd.concat(frames.values())
    originals = originals[~originals["row_id"].str.contains("~")]
    assert originals["row_id"].nunique() == len(records) - stats["quarantined"]
    assert (originals.groupby("customer")["split"].nunique() == 1).all()
    assert (originals.groupby("cluster_id")["split"].nunique() == 1).all()
    for name, frame in frames.items():  # rows in curated order, each file one split
        assert (frame["split"] == name).all()
        assert frame["row_id"].str.split("~").str[0].is_monotonic_increasing


def test_batch_boundaries_do_not_change_what_is_written(tmp_path, monkeypatch):
    records = curated_records(1_200)
    settings = {"mitigation": {"method": "resample"}}
    whole, _ = run_split(tmp_path / "whole", records, **settings)
    monkeypatch.setattr(split, "BATCH_ROWS", 37)
    monkeypatch.setattr(split, "DEAL_CHUNK", 5)
    batched, _ = run_split(tmp_path / "batched", records, **settings)
    for name in SPLITS:
        expected = pd.read_parquet(whole.path(f"split/{name}.parquet"))
        pd.testing.assert_frame_equal(pd.read_parquet(batched.path(f"split/{name}.parquet")), expected)
    for relative in ("split/report.json", "split/bias.json", "quarantine/split.jsonl"):
        assert batched.path(relative).read_text() == whole.path(relative).read_text(), relative


def test_the_saved_dataset_is_what_save_to_disk_writes(tmp_path):
    from datasets import Dataset, load_from_disk

    table = pa.table({"row_id": ["a", "b", "c"], "text": ["x", None, "z"], "sample_weight": [1.0, 0.5, 2.0]})
    pq.write_table(table, tmp_path / "part.parquet")
    split.save_split(tmp_path / "part.parquet", tmp_path / "streamed", fingerprint="0123456789abcdef")
    Dataset(table, fingerprint="0123456789abcdef").save_to_disk(str(tmp_path / "reference"))
    names = ["data-00000-of-00001.arrow", "dataset_info.json", "state.json"]
    assert sorted(path.name for path in (tmp_path / "streamed").iterdir()) == names
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / "streamed", tmp_path / "reference", names, shallow=False)
    assert mismatch == [] and errors == []
    assert load_from_disk(str(tmp_path / "streamed")).to_dict() == table.to_pydict()


def test_an_empty_split_is_saved_as_a_dataset_that_loads(tmp_path):
    from datasets import load_from_disk

    pq.write_table(pa.table({"row_id": pa.array([], pa.string())}), tmp_path / "empty.parquet")
    split.save_split(tmp_path / "empty.parquet", tmp_path / "dataset", fingerprint="0" * 16)
    loaded = load_from_disk(str(tmp_path / "dataset"))
    assert loaded.num_rows == 0 and list(loaded.features) == ["row_id"]
    state = json.loads((tmp_path / "dataset" / "state.json").read_text())
    assert state["_data_files"] == [{"filename": "data-00000-of-00001.arrow"}]
    shutil.rmtree(tmp_path / "dataset")
