"""`python -m pipeline run` with no arguments, on the bundled sample, checked against what was planted."""

import json
import math
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import ahocorasick
import pandas as pd
import phonenumbers
import pytest
from opacus.accountants import create_accountant

from pipeline.config import default_config_path
from tests.browser import find_chromium, inspect_report

SAMPLE = default_config_path().parent / "sample_data"
PLANTED = json.loads((SAMPLE / "planted.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    cwd = tmp_path_factory.mktemp("default-run")
    # umask 022, the usual default, under which files come out world-readable unless the pipeline prevents it
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "run"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=1800,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert result.returncode == 0, result.stderr
    return cwd / "runs" / "sample", result


@pytest.fixture(scope="module")
def quarantine(sample_run) -> pd.DataFrame:
    run_dir, _ = sample_run
    return pd.read_json(run_dir / "quarantine" / "ingest.jsonl", lines=True)


@pytest.fixture(scope="module")
def records(sample_run) -> pd.DataFrame:
    run_dir, _ = sample_run
    return pd.read_parquet(run_dir / "ingest" / "records.parquet")


def quarantined_rows(quarantine: pd.DataFrame, source: str, reason: str) -> pd.DataFrame:
    return quarantine[(quarantine["source"] == source) & (quarantine["reason"] == reason)]


pytestmark = pytest.mark.slow


def test_every_data_row_of_the_sample_is_accounted_for(sample_run):
    run_dir, _ = sample_run
    stats = json.loads((run_dir / "manifest.json").read_text())["stages"]["ingest"]["stats"]
    assert stats["per_source"]["helpdesk"]["total"] == PLANTED["tickets_csv"]["data_records"]
    assert stats["per_source"]["chat"]["total"] == PLANTED["chat_export_jsonl"]["lines"]
    assert stats["total"] == stats["kept"] + stats["quarantined"]


def test_every_file_and_folder_of_the_run_is_owner_only(sample_run):
    run_dir, _ = sample_run
    paths = [run_dir, *run_dir.rglob("*")]
    assert (
        len(paths) > 30
        and any(p.suffix == ".arrow" for p in paths)
        and (run_dir / "train" / "adapter" / "adapter_config.json").is_file()
    )
    modes = {str(p.relative_to(run_dir)): oct(stat.S_IMODE(p.stat().st_mode)) for p in paths if not p.is_symlink()}
    loose = {path: mode for path, mode in modes.items() if mode != ("0o700" if (run_dir / path).is_dir() else "0o600")}
    assert loose == {}
    assert oct(stat.S_IMODE((run_dir / ".lock").stat().st_mode)) == "0o600"


def test_broken_csv_rows_are_quarantined_at_their_planted_lines(quarantine):
    csv_truth = PLANTED["tickets_csv"]
    assert (
        sorted(quarantined_rows(quarantine, "helpdesk", "too_many_fields")["source_row"])
        == csv_truth["too_many_fields"]
    )
    assert (
        sorted(quarantined_rows(quarantine, "helpdesk", "too_few_fields")["source_row"]) == csv_truth["too_few_fields"]
    )
    missing_text = quarantined_rows(quarantine, "helpdesk", "missing_text")
    all_empty = missing_text["source_row"].isin(csv_truth["all_fields_empty"])
    assert sorted(missing_text[all_empty]["source_row"]) == csv_truth["all_fields_empty"]
    assert set(missing_text[~all_empty]["row_id"]) == {f"helpdesk:{i}" for i in csv_truth["missing_text"]}
    assert set(quarantined_rows(quarantine, "helpdesk", "missing_label")["row_id"]) == {
        f"helpdesk:{i}" for i in csv_truth["missing_label"]
    }


def test_broken_jsonl_lines_are_quarantined_at_their_planted_lines(quarantine):
    chat_truth = PLANTED["chat_export_jsonl"]
    assert sorted(quarantined_rows(quarantine, "chat", "unparseable_json")["source_row"]) == chat_truth["invalid_json"]
    assert sorted(quarantined_rows(quarantine, "chat", "not_an_object")["source_row"]) == chat_truth["not_an_object"]
    assert set(quarantined_rows(quarantine, "chat", "missing_text")["row_id"]) == {
        f"chat:{i}" for i in chat_truth["missing_text"]
    }
    assert set(quarantined_rows(quarantine, "chat", "missing_label")["row_id"]) == {
        f"chat:{i}" for i in chat_truth["missing_label"]
    }


def test_nothing_else_is_quarantined(quarantine):
    csv_truth, chat_truth = PLANTED["tickets_csv"], PLANTED["chat_export_jsonl"]
    planted = (
        len(csv_truth["too_many_fields"])
        + len(csv_truth["too_few_fields"])
        + len(csv_truth["all_fields_empty"])
        + len(csv_truth["missing_text"])
        + len(csv_truth["missing_label"])
        + len(chat_truth["invalid_json"])
        + len(chat_truth["not_an_object"])
        + len(chat_truth["missing_text"])
        + len(chat_truth["missing_label"])
    )
    assert len(quarantine) == planted


def test_cp1252_rows_are_decoded_without_mojibake(records):
    rows = records[records["ticket_id"].isin(PLANTED["tickets_csv"]["cp1252_rows"])]
    assert len(rows) == len(PLANTED["tickets_csv"]["cp1252_rows"])
    text = " ".join(rows[["customer_name", "subject", "body"]].fillna("").agg(" ".join, axis=1))
    assert any(ch in text for ch in "éüïñ") and "Ã" not in text and "\ufffd" not in text


def test_reexported_tickets_keep_distinct_row_ids(records):
    for ticket_id, _, _ in PLANTED["tickets_csv"]["exact_reexports"]:
        assert {f"helpdesk:{ticket_id}", f"helpdesk:{ticket_id}#2"} <= set(records["row_id"])
    assert records["row_id"].is_unique


def test_values_are_normalised(records):
    for spelling in PLANTED["missing_value_spellings"]:
        for column in ("customer_phone", "gender", "age_band", "customer_email", "priority"):
            assert not (records[column] == spelling).any(), (column, spelling)
    assert records["body"].str.contains("\n").sum() > 100
    assert not records["body"].str.contains("\r").any()
    assert set(records["source"]) == {"helpdesk", "chat"}
    assert records["category"].notna().all() and (records["subject"].notna() | records["body"].notna()).all()


def test_no_personal_data_in_manifest_schema_quarantine_or_log(sample_run):
    run_dir, result = sample_run
    raw = pd.read_csv(
        SAMPLE / "tickets.csv",
        dtype=str,
        keep_default_na=False,
        on_bad_lines="skip",
        encoding="utf-8",
        encoding_errors="replace",
    )
    personal = {
        v
        for column in ("Customer Name", "Customer Email", "Customer Phone")
        for v in raw[column]
        if len(v) > 5 and v not in PLANTED["missing_value_spellings"]
    }
    assert len(personal) > 1000
    texts = {
        "manifest": HEX_DIGEST.sub("<hash>", (run_dir / "manifest.json").read_text()),
        "schema": (run_dir / "ingest" / "schema.json").read_text(),
        "quarantine": (run_dir / "quarantine" / "ingest.jsonl").read_text(),
        "log": result.stderr + result.stdout,
    }
    for name, text in texts.items():
        leaked = [value for value in personal if value in text]
        assert not leaked, f"{name} contains {len(leaked)} personal value(s)"


def test_second_run_skips_and_force_reruns(sample_run):
    run_dir, _ = sample_run
    cwd = run_dir.parent.parent
    again = subprocess.run(
        [sys.executable, "-m", "pipeline", "run"], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0 and "ingest: up to date, skipped" in again.stderr
    forced = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--force", "--to", "ingest"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert forced.returncode == 0 and "ingest: finished" in forced.stderr


def test_generator_reproduces_the_shipped_files_byte_for_byte(tmp_path):
    pytest.importorskip("faker", reason="the generator needs the dev extra")
    subprocess.run(
        [sys.executable, "-m", "pipeline.sample_data.generate", "--out", str(tmp_path)], check=True, timeout=300
    )
    for name in ("tickets.csv", "chat_export.jsonl", "chat_messages.jsonl", "planted.json"):
        assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes(), name


EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
DIGIT_RUN = re.compile(r"\+?\d[\d \-().]{8,}\d")
# progress bars print rates such as "168536.33 examples/s", which the phone matcher reads as a German number
# sha256 hashes and key ids: hex with at least one letter (a card number is all digits), whose digit runs can pass Luhn
HEX_DIGEST = re.compile(r"\b(?=[0-9a-f]*[a-f])[0-9a-f]{16,}\b")
PROGRESS_RATE = re.compile(r"\d+(?:\.\d+)?\s?(?:examples|ex|it|ba|s)/(?:s|it)\b")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def json_strings(path: Path) -> str:
    """Every string (keys and values) in a JSON file, one per line: its numbers are scores, not card numbers."""
    found: list[str] = []

    def walk(value) -> None:
        if isinstance(value, dict):
            found.extend(map(str, value))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            found.append(value)

    walk(json.loads(path.read_text(encoding="utf-8")))
    return "\n".join(found)


def test_no_personal_data_survives_redaction(sample_run, records):
    """No identifier value of any row, and no email, phone or card number, in any output after redact."""
    run_dir, result = sample_run
    redacted = pd.read_parquet(run_dir / "redact" / "records.parquet")
    curated = pd.read_parquet(run_dir / "curate" / "records.parquet")
    texts = {
        "redacted records": "\n".join(redacted[["subject", "body"]].fillna("").agg("\n".join, axis=1)),
        "curated records": "\n".join(curated[["subject", "body"]].fillna("").agg("\n".join, axis=1)),
        "redact quarantine": (run_dir / "quarantine" / "redact.jsonl").read_text(),
        "curate quarantine": (run_dir / "quarantine" / "curate.jsonl").read_text(),
        "ledger": (run_dir / "redact" / "pii_ledger.json").read_text(),
        "check findings": json_strings(run_dir / "check" / "findings.json"),
        "GX results": json_strings(run_dir / "check" / "gx_results.json"),
        "split report and bias": json_strings(run_dir / "split" / "report.json")
        + json_strings(run_dir / "split" / "bias.json"),
        "train ledger, curve, labels, adapter config": "\n".join(
            json_strings(run_dir / "train" / name)
            for name in ("privacy_ledger.json", "training_curve.json", "labels.json", "adapter/adapter_config.json")
        ),
        "manifest": HEX_DIGEST.sub("<hash>", (run_dir / "manifest.json").read_text()),
        "log": PROGRESS_RATE.sub("<rate>", result.stderr + result.stdout),
    }
    assert not {"customer_name", "customer_email", "customer_phone"} & set(redacted.columns)
    assert redacted["customer_id"].dropna().str.match(r"^grp_[0-9a-f]{16}$").all()
    identifiers = ahocorasick.Automaton()
    for column in ("customer_name", "customer_email", "customer_phone", "customer_id"):
        for value in records[column].dropna().unique():
            identifiers.add_word(value.lower(), (column, value))
    identifiers.make_automaton()
    for name, text in texts.items():
        found = {column for _, (column, _) in identifiers.iter(text.lower())}
        assert not found, f"{name} contains values of {sorted(found)}"
        assert not EMAIL.findall(text), f"{name} contains an email address"
        cards = [
            run
            for run in DIGIT_RUN.findall(text)
            if 12 <= len(re.sub(r"\D", "", run)) <= 19 and luhn_valid(re.sub(r"\D", "", run))
        ]
        assert not cards, f"{name} contains {len(cards)} card number(s)"
        phones = [
            m
            for region in ("US", "GB", "DE", "FR", "IN")
            for m in phonenumbers.PhoneNumberMatcher(text, region)
            if len(phonenumbers.national_significant_number(m.number)) >= 7
            and text[m.start - 1] not in "-#"  # ORD-3108912, #1682866: order numbers
        ]
        assert not phones, f"{name} contains {len(phones)} phone number(s)"


def test_redact_keeps_every_row_accounted_for(sample_run):
    run_dir, _ = sample_run
    stages = json.loads((run_dir / "manifest.json").read_text())["stages"]
    assert stages["redact"]["stats"]["total"] == stages["ingest"]["stats"]["kept"]
    assert (
        stages["redact"]["stats"]["total"]
        == stages["redact"]["stats"]["kept"] + stages["redact"]["stats"]["quarantined"]
    )


def test_check_finds_the_planted_duplicates_and_curate_keeps_the_first_copy(sample_run):
    run_dir, _ = sample_run
    checked = pd.read_parquet(run_dir / "check" / "records.parquet")
    cluster = dict(zip(checked["row_id"], checked["cluster_id"], strict=True))
    quarantine = pd.read_json(run_dir / "quarantine" / "curate.jsonl", lines=True).set_index("row_id")
    csv_truth = PLANTED["tickets_csv"]

    reexports = [(f"helpdesk:{tid}", f"helpdesk:{tid}#2") for tid, _, _ in csv_truth["exact_reexports"]]
    exact = [(f"helpdesk:{a}", f"helpdesk:{b}") for a, b in csv_truth["exact_text_duplicates"]]
    for first, later in reexports + exact:
        assert cluster[later] == cluster[first] and quarantine.loc[later, "kept_row_id"] == cluster[first], (
            first,
            later,
        )
        if (
            cluster[first] == first
        ):  # else the first copy is itself a near-duplicate of an earlier ticket, which is kept
            assert quarantine.loc[later, "reason"] == "exact_duplicate" and first not in quarantine.index

    near = [(f"helpdesk:{a}", f"helpdesk:{b}") for a, b in csv_truth["near_duplicates"]]
    cross = [(f"helpdesk:{a}", f"chat:{b}") for a, b in PLANTED["cross_source_duplicates"]]
    near_found = sum(cluster[later] == cluster[first] and later in quarantine.index for first, later in near)
    cross_found = sum(cluster[later] == cluster[first] and later in quarantine.index for first, later in cross)
    assert near_found >= 0.95 * len(near) and cross_found >= 0.9 * len(cross), (near_found, cross_found)


def test_check_writes_the_contract_results_and_curate_accounts_for_every_row(sample_run):
    run_dir, _ = sample_run
    stages = json.loads((run_dir / "manifest.json").read_text())["stages"]
    gx = json.loads((run_dir / "check" / "gx_results.json").read_text())
    assert gx["summary"]["failed"]["critical"] == 0 and gx["summary"]["evaluated"] == len(gx["results"]) > 10
    assert json.loads((run_dir / "check" / "expectation_suite.json").read_text())["expectations"]
    assert stages["check"]["stats"]["total"] == stages["redact"]["stats"]["kept"] == stages["check"]["stats"]["kept"]
    curate = stages["curate"]["stats"]
    assert curate["total"] == stages["check"]["stats"]["kept"] == curate["kept"] + curate["quarantined"]
    assert sum(curate["quarantined_by_reason"].values()) == curate["quarantined"]
    assert len(pd.read_parquet(run_dir / "curate" / "records.parquet")) == curate["kept"]
    assert len(pd.read_json(run_dir / "quarantine" / "curate.jsonl", lines=True)) == curate["quarantined"]


def test_likely_mislabelled_rows_are_flagged(sample_run):
    run_dir, _ = sample_run
    checked = pd.read_parquet(run_dir / "check" / "records.parquet")
    flagged = set(checked.loc[checked["qc_label_issue"].fillna(False).astype(bool), "row_id"])
    planted = {f"helpdesk:{tid}" for tid in PLANTED["tickets_csv"]["mislabelled"]}
    found = len(flagged & planted)
    assert found >= 0.8 * len(planted) and found >= 0.65 * len(flagged), (found, len(flagged), len(planted))


SPLITS = ("train", "validation", "test")


def split_frames(run_dir: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(run_dir / "split" / f"{name}.parquet") for name in SPLITS}


def test_splits_hold_the_label_and_group_proportions_of_the_curated_set(sample_run):
    run_dir, _ = sample_run
    curated = pd.read_parquet(run_dir / "curate" / "records.parquet")
    parts = split_frames(run_dir)
    originals = {name: part[~part["row_id"].str.contains("~")] for name, part in parts.items()}
    assert sorted(pd.concat(originals.values())["row_id"]) == sorted(curated["row_id"])
    for column, points in (("category", 2), ("gender", 3), ("age_band", 3)):
        whole = curated[column].fillna("(missing)").value_counts(normalize=True)
        for name, part in originals.items():
            share = part[column].fillna("(missing)").value_counts(normalize=True).reindex(whole.index, fill_value=0)
            assert (share - whole).abs().max() * 100 < points, (column, name)
    assert len(originals["train"]) / len(curated) == pytest.approx(0.8, abs=0.02)


def test_no_customer_and_no_duplicate_cluster_is_in_two_splits(sample_run):
    run_dir, _ = sample_run
    rows = pd.concat([part.assign(split=name) for name, part in split_frames(run_dir).items()])
    for column in ("customer_id", "cluster_id"):
        assert (rows.dropna(subset=[column]).groupby(column)["split"].nunique() == 1).all(), column
    report = json.loads((run_dir / "split" / "report.json").read_text())
    assert report["shared_between_splits"] == {"group_ids": 0, "duplicate_clusters": 0}


def test_after_reweighing_the_weighted_label_rate_differs_by_under_a_point_per_group(sample_run):
    run_dir, _ = sample_run
    train = split_frames(run_dir)["train"]
    assert train["sample_weight"].nunique() > 10
    overall = train["category"].value_counts(normalize=True)
    for column in ("gender", "age_band"):
        weighted = train.assign(group=train[column].fillna("(missing)")).pivot_table(
            index="group", columns="category", values="sample_weight", aggfunc="sum", fill_value=0
        )
        rates = weighted.div(weighted.sum(axis=1), axis=0)
        assert (rates - overall).abs().to_numpy().max() * 100 < 1, column
    bias = json.loads((run_dir / "split" / "bias.json").read_text())
    assert bias["train_before"]["groups"]["age_band"]["largest_gap"] > 0.1
    assert bias["train_after"]["groups"]["age_band"]["largest_gap"] < 0.01


def test_splits_load_with_datasets_and_are_identical_on_a_rerun(sample_run):
    from datasets import load_dataset, load_from_disk

    run_dir, _ = sample_run
    manifest = json.loads((run_dir / "manifest.json").read_text())
    before = manifest["stages"]["split"]["outputs"]
    assert any(path.startswith("split/dataset/") for path in before)
    rerun = subprocess.run(
        [sys.executable, "-m", "pipeline", "stage", "split", "--force"],
        cwd=run_dir.parent.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr
    after = json.loads((run_dir / "manifest.json").read_text())["stages"]["split"]["outputs"]
    assert after == before
    dataset = load_from_disk(str(run_dir / "split" / "dataset"))
    assert (
        set(dataset) == set(SPLITS)
        and dataset["train"].num_rows == manifest["stages"]["split"]["stats"]["rows"]["train"]
    )
    parquet = load_dataset("parquet", data_files={name: str(run_dir / "split" / f"{name}.parquet") for name in SPLITS})
    assert parquet["test"].num_rows == dataset["test"].num_rows


def test_resampling_balances_group_by_label_counts_on_the_sample(sample_run, tmp_path):
    import shutil

    from pipeline.artifacts import RunDir
    from pipeline.config import MitigationConfig, SplitConfig, load_config
    from pipeline.stage import run_pipeline

    run_dir, _ = sample_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    config = load_config()
    config = config.model_copy(update={"split": SplitConfig(mitigation=MitigationConfig(method="resample"))})
    manifest = run_pipeline(config, RunDir(copy), ["split"])
    bias = json.loads((copy / "split" / "bias.json").read_text())
    targets = bias["mitigation"]["resample"]["targets"]
    train = pd.read_parquet(copy / "split" / "train.parquet")
    cells = (
        train["gender"].fillna("(missing)") + " & " + train["age_band"].fillna("(missing)") + " x " + train["category"]
    ).value_counts()
    unfillable = set(bias["mitigation"]["resample"]["unfillable_cells"])
    for cell, target in targets.items():
        if cell not in unfillable:
            assert abs(cells.get(cell, 0) - target) <= max(1, 0.05 * target), cell
    stats = manifest["stages"]["split"]["stats"]
    assert stats["total"] == stats["kept"] + stats["quarantined"] and stats["quarantined_by_reason"] == {
        "resampled_out": stats["quarantined"]
    }
    assert (
        bias["train_after"]["groups"]["gender"]["largest_gap"]
        < 0.03
        < bias["train_before"]["groups"]["gender"]["largest_gap"]
    )


def test_the_default_run_trains_the_classifier_under_dp(sample_run):
    run_dir, _ = sample_run
    stats = json.loads((run_dir / "manifest.json").read_text())["stages"]["train"]["stats"]
    ledger = json.loads((run_dir / "train" / "privacy_ledger.json").read_text())
    train = pd.read_parquet(run_dir / "split" / "train.parquet")
    customers = train["customer_id"].nunique()
    unit = ledger["privacy_unit"]
    assert unit["unit"] == "group" and unit["group_column"] == "customer_id" and unit["people"] == customers
    canaries = ledger["canaries"]
    assert canaries["count"] == 256 and canaries["inserted"] + canaries["held_out"] == 256
    assert unit["units_sampled"] == customers + canaries["inserted"]  # each canary is a unit of its own
    assert unit["rows_per_person"]["max"] == train["customer_id"].value_counts().max() > 1
    assert ledger["sampling_rate"] == 1 / math.ceil(unit["units_sampled"] / ledger["expected_batch_size"])
    assert ledger["steps"] == ledger["epochs_run"] * math.ceil(ledger["training_rows"] / ledger["expected_batch_size"])
    assert ledger["dp"] and ledger["epsilon_spent"] <= ledger["target_epsilon"] == 8.0
    assert ledger["delta"] == 1 / (10 * unit["units_sampled"])
    accountant = create_accountant(mechanism=ledger["accountant"])  # the accountant called directly
    accountant.history = [(ledger["noise_multiplier"], ledger["sampling_rate"], ledger["steps"])]
    assert accountant.get_epsilon(delta=ledger["delta"]) == pytest.approx(ledger["epsilon_spent"], abs=1e-4)
    validation = pd.read_parquet(run_dir / "split" / "validation.parquet")
    assert stats["validation"]["accuracy"] > validation["category"].value_counts(normalize=True).max() + 0.3
    assert (run_dir / "train" / "adapter" / "adapter_model.safetensors").is_file()


def report_texts(run_dir: Path) -> dict[str, str]:
    """What a reviewer reads: the report's visible text (no embedded images), its JSON strings, the summary and the model card."""
    html = (run_dir / "report" / "report.html").read_text(encoding="utf-8")
    visible = re.sub(r"<[^>]+>", " ", re.sub(r'src="data:image/png;base64,[^"]+"', "", html))
    texts = {
        "report.html": visible,
        "report.json": json_strings(run_dir / "report" / "report.json"),
        "summary.md": (run_dir / "report" / "summary.md").read_text(encoding="utf-8"),
        "model card": (run_dir / "train" / "adapter" / "README.md").read_text(encoding="utf-8"),
        "evaluate metrics": json_strings(run_dir / "evaluate" / "metrics.json"),
        "predictions": "\n".join(
            pd.read_parquet(run_dir / "evaluate" / "predictions.parquet")
            .select_dtypes("object")
            .fillna("")
            .astype(str)
            .agg(" ".join, axis=1)
        ),
    }
    hashes_and_times = re.compile(r"\b[0-9a-f]{64}\b|\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:\+00:00)?")
    return {name: hashes_and_times.sub(" ", text) for name, text in texts.items()}


def test_the_default_run_ends_with_a_passing_report(sample_run):
    run_dir, result = sample_run
    manifest = json.loads((run_dir / "manifest.json").read_text())
    report = json.loads((run_dir / "report" / "report.json").read_text())
    assert manifest["stages"]["report"]["stats"]["verdict"] == report["summary"]["verdict"] == "PASS"
    assert "policy verdict PASS" in result.stderr
    canaries = report["evaluation"]["canaries"]
    assert canaries["count"] == 256 and canaries["inserted"] + canaries["held_out"] == 256
    audit = canaries["empirical_epsilon"]
    assert audit["epsilon_lower_bound"] <= report["training"]["ledger"]["epsilon_spent"] <= 8
    assert audit["max_certifiable_epsilon"] >= 2  # the default count gives the audit that much power
    forgetting = report["evaluation"]["forgetting"]
    assert forgetting["passages"] == 307 and 0 < forgetting["linear_cka"] <= 1
    assert "max_forgetting" not in {check["name"] for check in report["summary"]["checks"]}  # null by default
    assert (
        report["evaluation"]["utility"]["accuracy"]
        > report["evaluation"]["utility"]["majority_baseline"]["accuracy"] + 0.5
    )
    accounted = {s["stage"]: s for s in report["row_accounting"]["stages"]}
    assert accounted["ingest"]["total"] == manifest["stages"]["ingest"]["stats"]["total"]
    assert sum(accounted["ingest"]["reasons"].values()) == accounted["ingest"]["quarantined"]


def test_the_report_and_model_card_hold_no_personal_data(sample_run, records):
    """Every identifier value of the ingested rows, and the analyzer's structured entities, in nothing a reviewer reads."""
    from pipeline.config import load_config
    from pipeline.pii.engine import PiiDetector

    run_dir, _ = sample_run
    texts = report_texts(run_dir)
    identifiers = ahocorasick.Automaton()
    for column in ("customer_name", "customer_email", "customer_phone", "customer_id"):
        for value in records[column].dropna().unique():
            identifiers.add_word(value.lower(), (column, value))
    identifiers.make_automaton()
    name_parts = {part for name in records["customer_name"].dropna() for part in name.lower().split() if len(part) > 3}
    phone_digits = {re.sub(r"\D", "", phone)[-7:] for phone in records["customer_phone"].dropna()}
    detector = PiiDetector(load_config(None).redact)
    structured = {"EMAIL_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS", "ACCOUNT_NUMBER", "EMPLOYEE_ID"}
    for name, text in texts.items():
        assert not {column for _, (column, _) in identifiers.iter(text.lower())}, (
            f"{name} contains an identifier value"
        )
        assert not EMAIL.findall(text), f"{name} contains an email address"
        found = detector.analyze([text])[0]
        hits = sorted({r.entity_type for r in found if r.entity_type in structured})
        assert not hits, f"{name}: the analyzer finds {hits}"
        # the analyzer reads runs of table figures ("5120  5120  0") as phone numbers: none may be a customer's number
        phones = {re.sub(r"\D", "", text[r.start : r.end])[-7:] for r in found if r.entity_type == "PHONE_NUMBER"}
        assert not phones & phone_digits, f"{name} holds a customer's phone number"
        people = {text[r.start : r.end].lower() for r in found if r.entity_type == "PERSON"}
        assert not {part for person in people for part in person.split()} & name_parts, f"{name} names a customer"


@pytest.mark.skipif(
    find_chromium() is None, reason="needs Chromium (Debian: apt-get install chromium; .ci/run installs it)"
)
def test_the_sample_report_renders_offline_in_chromium(sample_run, tmp_path):
    run_dir, _ = sample_run
    seen = inspect_report(run_dir / "report" / "report.html", pdf_path=tmp_path / "report.pdf")
    assert seen.problems() == []  # no console errors, no network requests, no broken images
    assert seen.section_ids == [
        "summary",
        "accounting",
        "pii",
        "quality",
        "data-bias",
        "splits",
        "training",
        "evaluation",
        "drift",
        "limitations",
        "lineage",  # the appendix
    ]
    assert (run_dir / "report" / "report.html").read_text().count('<img src="data:image/png;base64,') == 6
    assert seen.pdf_pages >= 5
