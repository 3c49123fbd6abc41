"""Split and bias on bad inputs: clear messages, nothing lost.

Each case writes a small, realistic ticket export (a few hundred distinct
English texts with columns id, text, label, gender, age, customer), runs the
real stages ingest -> redact -> check -> curate -> split once in a
module-scoped fixture, and keeps what happened (an exception is an outcome,
so every test on the case quotes it). Mitigation variants copy a finished run
directory and run the split stage alone with another `split.mitigation`.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from pipeline.artifacts import RunDir
from pipeline.errors import InputError
from tests.integration.runs import REDACT, Outcome, run_stages, write_csv

STAGES = ["ingest", "redact", "check", "curate", "split"]
SPLITS = ("train", "validation", "test")
ROWS_FOR_EVERY_SPLIT = 10  # a stratum needs 1 / 0.1 rows to reach every split of 80/10/10
MISSING = "(missing)"
HEADER = ["id", "text", "label", "gender", "age", "customer"]
COLUMNS = {"id": "id", "text": ["text"], "label": "label", "protected": ["gender", "age"], "group": "customer"}

# --- realistic, distinct ticket texts ---------------------------------------------------
# A text is four clauses from pools of 7, 11, 13 and 17 (coprime) picked by the row number,
# so two of the first 1,001 rows share at most two clauses: never a duplicate for curate.

OPENERS = {
    "billing": [
        "My invoice shows the same subscription charge twice this month.",
        "Please refund the late fee that was added after I paid on time.",
        "The annual plan price went up without any notice to me.",
        "I was billed for a premium tier that I never ordered.",
        "Your payment page rejects my card although the account has funds.",
        "The receipt does not show the tax amount separately as required.",
        "A discount code I was promised never appeared on the bill.",
    ],
    "shipping": [
        "The parcel has been stuck at the sorting centre for ages.",
        "The courier left the package outside in heavy rain and it got soaked.",
        "Tracking says delivered but nothing arrived at our door.",
        "Two items from my order were missing from the box.",
        "The delivery window keeps moving to a later slot every morning.",
        "The box came crushed and the lamp inside is broken.",
        "The wrong colour of the jacket was sent to me.",
    ],
    "account": [
        "I cannot log in because the reset link expires immediately.",
        "The app signs me out every few minutes without a reason.",
        "My profile settings are lost whenever I update the app.",
        "Two-factor codes arrive far too late to be used.",
        "The account was locked after a single wrong password.",
        "I want to close my account but the button does nothing.",
        "Notifications stopped working after the latest update.",
    ],
    "legal": [
        "I want a copy of every record you hold about me under data protection law.",
        "Your contract terms changed and I formally object to the new arbitration clause.",
        "Please confirm in writing that my personal data has been erased as the law requires.",
        "I am filing a formal complaint with the regulator about the unfair contract terms.",
        "My lawyer asks for the full terms that applied when the contract was signed.",
        "I demand a written explanation of why my data was shared with a third party.",
        "The cancellation policy you applied breaks consumer protection rules.",
    ],
}
DETAILS = [
    "My wife noticed it first when she looked at the statement.",
    "My husband says he had the same trouble with his own account.",
    "I only found out when my daughter asked about it.",
    "It has happened on both the laptop and the phone.",
    "My son tried to help but he could not sort it out either.",
    "The same thing happened to my mother last year.",
    "My brother told me he gave up on the service because of this.",
    "Nobody in the chat could explain what went wrong.",
    "My sister pointed it out to me while she was visiting.",
    "I checked the help pages but found nothing useful.",
    "My father keeps asking me whether it has been fixed.",
]
HISTORY = [
    "I have written to support three times already.",
    "This is the second time I have had to complain.",
    "An agent promised a callback that never came.",
    "The chat closed before anyone answered my question.",
    "I waited on hold for forty minutes and then got cut off.",
    "Your reply only repeated the standard text.",
    "I was told a specialist would look into it soon.",
    "Support keeps sending me to a different team each time.",
    "Nobody has responded to my last two emails.",
    "The ticket was closed without any explanation.",
    "I already sent the screenshots you asked for.",
    "The shop staff told me to contact you instead.",
    "My earlier complaint was marked as resolved by mistake.",
]
ASKS = [
    "Please sort this out quickly.",
    "I would like a proper answer this time.",
    "Can someone finally take responsibility for this?",
    "I expect compensation for the trouble.",
    "Please tell me what you intend to do about it.",
    "Otherwise I will move to another provider.",
    "Kindly confirm once it has been corrected.",
    "A written apology would be appreciated.",
    "Let me know what else you need from me.",
    "I hope this can be settled without more delay.",
    "Please escalate this to a manager.",
    "I am losing patience with your service.",
    "Thank you for looking into it carefully.",
    "I just want this to work as advertised.",
    "Please do not close the ticket until it is fixed.",
    "Tell me honestly whether this can be repaired.",
    "I would rather not have to call again.",
]
MAIN_LABELS = ["billing", "shipping", "account"]
GENDERS = ["female", "male", "female", "male", "nonbinary"]  # nonbinary: a small group
AGE_BANDS = ["18-24", "25-34", "35-49", "50+"]


def ticket_text(row: int, label: str) -> str:
    return " ".join((OPENERS[label][row % 7], DETAILS[row % 11], HISTORY[row % 13], ASKS[row % 17]))


def ticket_rows(n: int, **columns: Any) -> list[dict[str, Any]]:
    """`n` tickets with three balanced labels, gender, age band, and customers of three tickets each.
    A keyword replaces a column: a value for every row, or a function of the row number."""
    rows = []
    for i in range(n):
        label = MAIN_LABELS[(i * 5 // 3) % 3]
        row = {
            "id": f"T{1000 + i}",
            "label": label,
            "gender": GENDERS[i % 5],
            "age": AGE_BANDS[(i // 5) % 4],
            "customer": f"C{i // 3:04d}",
        }
        for column, value in columns.items():
            row[column] = value(i) if callable(value) else value
        row["text"] = ticket_text(i, row["label"])
        rows.append(row)
    return rows


# --- running the pipeline -------------------------------------------------------------


def run_case(folder: Path, rows: list[dict[str, Any]], split: dict[str, Any] | None = None) -> Outcome:
    """Write the tickets and a config into `folder`, run ingest..split, and keep what happened."""
    write_csv(folder / "tickets.csv", HEADER, [[row[c] for c in HEADER] for row in rows])
    config: dict[str, Any] = {
        "run_name": folder.name,
        "seed": 7,
        "sources": [{"path": "tickets.csv", "columns": COLUMNS}],
        "redact": REDACT,
    }
    if split is not None:
        config["split"] = split
    return run_stages(folder / "config.yaml", config, RunDir(folder / "run"), STAGES)


def rerun_split(outcome: Outcome, name: str, split: dict[str, Any]) -> Outcome:
    """A copy of a run whose stages up to curate finished, with only the split stage run under another `split` section."""
    source = outcome.run_dir.root
    config = yaml.safe_load((source.parent / "config.yaml").read_text(encoding="utf-8"))
    config["split"] = split
    copy = RunDir(source.parent / name)
    shutil.copytree(source, copy.root)
    return run_stages(source.parent / f"{name}.yaml", config, copy, ["split"])


def split_frames(outcome: Outcome) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(outcome.finished().run_dir.path(f"split/{name}.parquet")) for name in SPLITS}


def strata(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Each row's stratum as the split report names it ("billing & female & 25-34"), computed here independently."""
    return frame[columns].astype("string").fillna(MISSING).astype(str).agg(" & ".join, axis=1)


def assert_nothing_lost(outcome: Outcome) -> None:
    """Every stage accounts for its rows, and every curated row is in exactly one split or in the split quarantine."""
    outcome.finished()
    previous_kept = None
    for stage in STAGES:
        stats = outcome.stats(stage)
        assert outcome.manifest["stages"][stage]["status"] == "finished", stage
        assert stats["total"] == stats["kept"] + stats["quarantined"], stage
        assert previous_kept is None or stats["total"] == previous_kept, (
            f"{stage} did not receive the rows the stage before kept"
        )
        previous_kept = stats["kept"]
    curated = outcome.records("curate")["row_id"].tolist()
    frames = split_frames(outcome)
    originals = {name: [r for r in frame["row_id"] if "~" not in r] for name, frame in frames.items()}
    quarantined = [entry["row_id"] for entry in outcome.quarantine("split")]
    seen = Counter([r for ids in originals.values() for r in ids] + quarantined)
    assert set(seen) == set(curated), (
        f"missing: {sorted(set(curated) - set(seen))[:5]}; unknown: {sorted(set(seen) - set(curated))[:5]}"
    )
    assert [r for r, n in seen.items() if n > 1] == [], "rows in two splits, or in a split and the quarantine"
    stats = outcome.stats("split")
    assert stats["total"] == len(curated) and stats["quarantined"] == len(quarantined)
    assert stats["rows"] == {name: len(frame) for name, frame in frames.items()}
    for name in ("validation", "test"):  # mitigation touches train only
        assert len(originals[name]) == len(frames[name]), f"{name} holds added rows"


def assert_small_strata_reported(outcome: Outcome, columns: list[str]) -> dict[str, dict[str, int]]:
    """The report lists every stratum too small to reach every split, with where each of its rows went; returns that list."""
    curated = outcome.records("curate")
    sizes = strata(curated, columns).value_counts()
    where = pd.concat([frame.assign(split=name) for name, frame in split_frames(outcome).items()])
    where = where[~where["row_id"].str.contains("~")]
    where = where.assign(stratum=strata(where, columns))
    report = outcome.json("split/report.json")["strata_smaller_than_folds"]
    assert set(report) == set(sizes[sizes < ROWS_FOR_EVERY_SPLIT].index)
    for stratum, destinations in report.items():
        actual = where.loc[where["stratum"] == stratum, "split"].value_counts().to_dict()
        assert destinations == actual, stratum
        assert sum(destinations.values()) == sizes[stratum]
    if report:
        said = [w for w in outcome.warnings if "fewer rows than the" in w and "split/report.json" in w]
        assert len(said) == 1 and said[0].startswith(f"{len(report)} stratum/strata"), outcome.warnings
    return report


def groups(outcome: Outcome, part: str, attribute: str) -> dict[str, Any]:
    return outcome.json("split/bias.json")[part]["groups"][attribute]


BIAS_PARTS = ("curated", "train_before", "train_after")


def assert_nothing_to_compare(finding: dict[str, Any], judged: int) -> None:
    assert finding["note"] == f"{judged} group(s) with at least 30 rows: nothing to compare"
    assert finding["per_label"] == {} and finding["largest_gap"] is None and finding["chi_square"] is None


# --- the cases ------------------------------------------------------------------------


def exact_age(i: int) -> str:
    """An exact age in years and months: 300 distinct values over 400 rows (100 of them twice)."""
    months = (i * 7) % 300
    return f"{18 + months // 12}y{months % 12}m"


LEGAL_ROWS = (5, 150)  # the only two tickets labelled `legal`


def rare_label(i: int) -> str:
    return "legal" if i in LEGAL_ROWS else MAIN_LABELS[(i * 5 // 3) % 3]


@pytest.fixture(scope="module")
def one_value(tmp_path_factory) -> Outcome:
    """(a) every ticket has gender `female`."""
    return run_case(tmp_path_factory.mktemp("one-value"), ticket_rows(300, gender="female"))


@pytest.fixture(scope="module")
def all_null(tmp_path_factory) -> Outcome:
    """(b) the age column is empty in every row."""
    return run_case(tmp_path_factory.mktemp("all-null"), ticket_rows(300, age=""))


@pytest.fixture(scope="module")
def tiny_protected(tmp_path_factory) -> Outcome:
    """(c) age recorded exactly: 300 distinct values over 400 rows, with the default config."""
    return run_case(tmp_path_factory.mktemp("tiny-protected"), ticket_rows(400, age=exact_age))


BY_LABEL = {"stratify_on_protected": False}


@pytest.fixture(scope="module")
def tiny_protected_by_label(tiny_protected) -> Outcome:
    """(c) the same rows, split with `split.stratify_on_protected: false` (strata are the labels)."""
    return rerun_split(tiny_protected, "by-label", BY_LABEL)


@pytest.fixture(scope="module")
def tiny_customers(tmp_path_factory) -> Outcome:
    """(c) 267 customers of one or two tickets each."""
    return run_case(
        tmp_path_factory.mktemp("tiny-customers"), ticket_rows(400, customer=lambda i: f"C{i * 2 // 3:04d}")
    )


@pytest.fixture(scope="module")
def rare(tmp_path_factory) -> Outcome:
    """(d) a label with 2 rows, fewer than the 3 splits (and the 10 rows a stratum needs to reach every split of 80/10/10)."""
    return run_case(tmp_path_factory.mktemp("rare-label"), ticket_rows(300, label=rare_label))


@pytest.fixture(scope="module")
def small_strata(tmp_path_factory) -> Outcome:
    """120 tickets of 120 customers: enough units for 80/10/10, but each of the 36 label x gender x age strata has fewer than 10 rows."""
    return run_case(tmp_path_factory.mktemp("small-strata"), ticket_rows(120, customer=lambda i: f"C{i:04d}"))


@pytest.fixture(scope="module")
def few_units(tmp_path_factory) -> Outcome:
    """(e) 40 tickets of 4 customers: 4 independent units, fewer than the 10 that 80/10/10 needs."""
    return run_case(tmp_path_factory.mktemp("few-units"), ticket_rows(40, customer=lambda i: f"C{i % 4}"))


@pytest.fixture(scope="module")
def few_rows(tmp_path_factory) -> Outcome:
    """(e) 6 tickets of 6 customers."""
    return run_case(tmp_path_factory.mktemp("few-rows"), ticket_rows(6, customer=lambda i: f"C{i}"))


FINISHING = [
    "one_value",
    "all_null",
    "tiny_protected",
    "tiny_protected_by_label",
    "tiny_customers",
    "rare",
    "small_strata",
]


# --- nothing lost ---------------------------------------------------------------------


@pytest.mark.parametrize("case", FINISHING)
def test_every_curated_row_is_in_exactly_one_split(case, request):
    # in tiny_protected and small_strata every label x gender x age stratum is too small to reach every
    # split (with the fold-based split, scikit-learn's StratifiedGroupKFold raised "n_splits=10 cannot be
    # greater than the number of members in each class"); the split still finishes and loses nothing
    outcome: Outcome = request.getfixturevalue(case)
    assert_nothing_lost(outcome)
    assert outcome.stats("split")["quarantined"] == 0  # reweighing (the default) takes no row away
    assert (
        outcome.stats("curate")["kept"] == outcome.stats("ingest")["total"]
    )  # the texts are all kept: the cases test split, not curate


# --- (a) a protected column with one value --------------------------------------------


def test_a_protected_column_with_one_value_has_nothing_to_compare(one_value):
    for part in BIAS_PARTS:
        gender = groups(one_value, part, "gender")
        assert list(gender["groups"]) == ["female"] and gender["groups"]["female"]["judged"]
        assert_nothing_to_compare(gender, judged=1)
        age = groups(one_value, part, "age")  # the other attribute is still judged
        assert len(age["groups"]) == 4 and age["too_small_to_judge"] == [] and age["chi_square"] is not None
        both = groups(one_value, part, "gender & age")
        assert sorted(both["groups"]) == [f"female & {band}" for band in AGE_BANDS]
    report = one_value.json("split/report.json")
    assert report["whole_set"]["gender"] == {"female": 1.0}
    assert all(report["splits"][name]["gender"] == {"female": 1.0} for name in SPLITS)
    assert_small_strata_reported(one_value, ["label", "gender", "age"])


# --- (b) a protected column with no value ---------------------------------------------


def test_an_all_null_protected_column_is_one_missing_group(all_null):
    for part in BIAS_PARTS:
        age = groups(all_null, part, "age")
        rows = all_null.json("split/bias.json")[part]["rows"]
        assert age["groups"] == {MISSING: {**age["groups"][MISSING], "rows": rows, "share": 1.0, "judged": True}}
        assert_nothing_to_compare(age, judged=1)
        both = groups(all_null, part, "gender & age")
        assert sorted(both["groups"]) == [f"{g} & {MISSING}" for g in ("female", "male", "nonbinary")]
        assert groups(all_null, part, "gender")["chi_square"] is not None
    report = all_null.json("split/report.json")
    assert report["whole_set"]["age"] == {MISSING: 1.0}
    assert all(report["splits"][name]["age"] == {MISSING: 1.0} for name in SPLITS)
    assert all(
        frame["age"].isna().all() for frame in split_frames(all_null).values()
    )  # "(missing)" is a group name, not a value written into the data
    assert any(
        "expect_column_values_to_not_be_null on 'age'" in w and "300 of 300 rows" in w for w in all_null.warnings
    )
    assert_small_strata_reported(all_null, ["label", "gender", "age"])


# --- (c) hundreds of tiny groups ------------------------------------------------------


def test_hundreds_of_tiny_protected_groups_split_with_the_default_config(tiny_protected):
    bias_age = groups(tiny_protected, "curated", "age")
    assert len(bias_age["groups"]) == 300 and len(bias_age["too_small_to_judge"]) == 300
    assert_nothing_to_compare(bias_age, judged=0)
    assert_coarser_strata_said(tiny_protected)


def test_hundreds_of_tiny_protected_groups_are_listed_too_small_to_judge(tiny_protected_by_label):
    """The same rows with strata on the label only: the bias findings say there is nothing to judge."""
    outcome = tiny_protected_by_label
    for part in BIAS_PARTS:
        rows = outcome.json("split/bias.json")[part]["rows"]
        for attribute in ("age", "gender & age"):
            finding = groups(outcome, part, attribute)
            assert sorted(finding["too_small_to_judge"]) == sorted(finding["groups"]) and len(finding["groups"]) > 100
            assert not any(g["judged"] for g in finding["groups"].values())
            assert sum(g["rows"] for g in finding["groups"].values()) == rows
            assert_nothing_to_compare(finding, judged=0)
        gender = groups(outcome, part, "gender")  # the attribute with large groups is still judged
        assert gender["too_small_to_judge"] == [] and gender["chi_square"] is not None
    assert len(groups(outcome, "curated", "age")["groups"]) == 300
    assert assert_small_strata_reported(outcome, ["label"]) == {}


def test_hundreds_of_tiny_customers_stay_whole_and_small_strata_are_reported(tiny_customers):
    report = tiny_customers.json("split/report.json")
    assert report["units"] == 267
    assert report["shared_between_splits"] == {"group_ids": 0, "duplicate_clusters": 0}
    rows = pd.concat([frame.assign(split=name) for name, frame in split_frames(tiny_customers).items()])
    assert (rows.groupby("customer")["split"].nunique() == 1).all()
    assert (
        rows["customer"].str.startswith("grp_").all() and rows["customer"].nunique() == 267
    )  # hashed, and none merged
    small = assert_small_strata_reported(tiny_customers, ["label", "gender", "age"])
    assert small and all(stratum.split(" & ")[1] == "nonbinary" for stratum in small)


# --- (d) a label with fewer rows than splits -------------------------------------------


def test_a_label_with_fewer_rows_than_splits_is_reported_with_where_its_rows_went(rare):
    rows = ticket_rows(300, label=rare_label)
    legal = {f"tickets:{rows[i]['id']}": f"legal & {rows[i]['gender']} & {rows[i]['age']}" for i in LEGAL_ROWS}
    frames = split_frames(rare)
    went = {
        row_id: name for name, frame in frames.items() for row_id in frame.loc[frame["label"] == "legal", "row_id"]
    }
    assert set(went) == set(legal)  # both rows kept, each in one split
    report = assert_small_strata_reported(rare, ["label", "gender", "age"])
    listed = {stratum: destinations for stratum, destinations in report.items() if stratum.startswith("legal & ")}
    assert set(listed) == set(legal.values())
    for stratum, destinations in listed.items():
        assert destinations == dict(Counter(went[row_id] for row_id, s in legal.items() if s == stratum))
    whole = rare.json("split/report.json")
    assert whole["whole_set"]["label"]["legal"] == round(2 / 300, 4)
    for name in SPLITS:  # a split without the label shows it at 0.0, so a reader sees it is absent there
        expected = round(sum(1 for s in went.values() if s == name) / whole["splits"][name]["rows"], 4)
        assert whole["splits"][name]["label"]["legal"] == expected
    assert rare.stats("curate")["flagged_kept"] == {"rare_class": 2}
    assert "label 'legal' has 2 rows, fewer than check.labels.min_class_rows (20)" in rare.warnings
    gender = groups(rare, "curated", "gender")
    assert all("legal" in group["label_rates"] for group in gender["groups"].values())


def test_a_small_set_whose_strata_are_all_too_small_for_every_split_splits(small_strata):
    assert_coarser_strata_said(small_strata)


def assert_coarser_strata_said(outcome: Outcome) -> None:
    """Every label x gender x age stratum is too small to reach every split: the split stratifies on fewer columns and says so."""
    used = outcome.json("split/report.json")["stratified_on"]
    assert used in (["label", "gender"], ["label"], [])
    said = [
        w for w in outcome.warnings if w.startswith("every stratum of label x gender x age has fewer than 10 rows")
    ]
    assert len(said) == 1 and said[0].endswith(
        f"stratifying on {' x '.join(used) if used else 'nothing (a grouped random split)'} instead"
    )
    if used:
        assert_small_strata_reported(outcome, used)


# --- (e) too small to split -----------------------------------------------------------


@pytest.mark.parametrize("case, rows, units", [("few_units", 40, 4), ("few_rows", 6, 6)])
def test_a_set_too_small_to_split_is_a_clear_input_error_and_loses_nothing(case, rows, units, request):
    outcome: Outcome = request.getfixturevalue(case)
    assert isinstance(outcome.error, InputError), outcome.trace
    message = str(outcome.error)
    assert f"{rows} row(s) form {units} independent unit(s)" in message
    assert "rows sharing a group id or duplicate cluster stay together" in message
    assert "a 0.8/0.1/0.1 split needs at least 10" in message
    assert "Add data, or change split.train / validation / test" in message
    assert "\n" not in message and "tickets:" not in message  # one line, no row ids or values
    manifest = json.loads(outcome.run_dir.path("manifest.json").read_text(encoding="utf-8"))
    assert manifest["stages"]["split"]["status"] == "failed"
    assert (
        manifest["stages"]["curate"]["status"] == "finished" and manifest["stages"]["curate"]["stats"]["kept"] == rows
    )
    assert (
        len(pd.read_parquet(outcome.run_dir.path("curate/records.parquet"))) == rows
    )  # the curated rows are still there
    assert not any(outcome.run_dir.path(f"split/{name}.parquet").exists() for name in SPLITS)


@pytest.mark.parametrize("case, exit_code", [("few_units", 2), ("tiny_protected", 0)])
def test_the_command_line_says_what_to_change(case, exit_code, request, capsys):
    from pipeline.__main__ import main

    outcome: Outcome = request.getfixturevalue(case)
    folder = outcome.run_dir.root.parent
    copy = folder / "cli"
    shutil.copytree(outcome.run_dir.root, copy)
    code = main(["stage", "split", "--config", str(folder / "config.yaml"), "--run-dir", str(copy)])
    err = capsys.readouterr().err
    problems = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == exit_code, err[-2000:]
    if exit_code == 2:
        assert len(problems) == 1 and "independent unit(s)" in problems[0] and "Traceback" not in err


# --- split.mitigation variants --------------------------------------------------------

MITIGATIONS = {"resample": {"method": "resample"}, "counterfactual": {"counterfactual": True}}
VARIANT_CASES = ["one_value", "all_null", "tiny_protected_by_label", "tiny_customers", "rare"]
_variants: dict[tuple[str, str], Outcome] = {}


def variant(request, case: str, mitigation: str) -> tuple[Outcome, Outcome]:
    """The case's run, and a copy of it with the split stage run again under `mitigation`."""
    base: Outcome = request.getfixturevalue(case)
    if (case, mitigation) not in _variants:
        split = {**(BY_LABEL if case == "tiny_protected_by_label" else {}), "mitigation": MITIGATIONS[mitigation]}
        _variants[case, mitigation] = rerun_split(base, f"{case}-{mitigation}", split)
    return base, _variants[case, mitigation]


@pytest.mark.parametrize("mitigation", MITIGATIONS)
@pytest.mark.parametrize("case", VARIANT_CASES)
def test_mitigation_variants_finish_change_train_only_and_lose_nothing(case, mitigation, request):
    base, outcome = variant(request, case, mitigation)
    assert_nothing_lost(outcome)
    before, after = split_frames(base), split_frames(outcome)
    for name in ("validation", "test"):
        assert after[name]["row_id"].tolist() == before[name]["row_id"].tolist()
    train = after["train"]
    originals = set(before["train"]["row_id"])
    added = train[train["row_id"].str.contains("~")]
    assert set(added["row_id"].str.split("~").str[0]) <= originals
    bias = outcome.json("split/bias.json")
    assert bias["mitigation"]["method"] == MITIGATIONS[mitigation].get("method", "reweigh")
    assert set(bias) >= {"curated", "train_before", "train_after"}
    stats = outcome.stats("split")
    if mitigation == "counterfactual":
        assert added["row_id"].str.endswith("~cda").all() and len(added) == stats["added"]["counterfactual"] > 0
        assert stats["quarantined"] == 0
        base_text = before["train"].set_index("row_id")["text"]
        assert all(
            text != base_text[row_id[: -len("~cda")]]
            for row_id, text in zip(added["row_id"], added["text"], strict=True)
        )
    else:
        assert (
            added["row_id"].str.contains("~r").all()
            and len(added) == stats["added"]["resampled_copies"] == bias["mitigation"]["resample"]["copies"]
        )
        assert set(stats["quarantined_by_reason"]) <= {"resampled_out"}
        entries = outcome.quarantine("split")
        assert {e["row_id"] for e in entries} <= originals and all(
            "above its target size" in e["detail"] for e in entries
        )
        assert len(train) == len(before["train"]) - stats["quarantined"] + stats["added"]["resampled_copies"]


def test_resampling_does_not_silently_remove_a_rare_label_from_training(request):
    base, outcome = variant(request, "rare", "resample")
    before = split_frames(base)["train"]
    after = split_frames(outcome)["train"]
    assert (before["label"] == "legal").sum() == 2
    kept = int((after["label"] == "legal").sum())
    said = [w for w in outcome.warnings if "legal" in w]
    assert kept > 0 or said, (
        f"resampling removed every `legal` row from train ({kept} left) and logged only: {outcome.warnings}"
    )


def test_resampling_that_drops_most_of_train_says_so(request):
    base, outcome = variant(request, "tiny_protected_by_label", "resample")
    before = len(split_frames(base)["train"])
    dropped = outcome.stats("split")["quarantined"]
    if dropped > before / 2:
        said = [w for w in outcome.warnings if "resampl" in w.lower() and str(dropped) in w]
        assert said, (
            f"{dropped} of {before} training rows were resampled out and no warning says so; {len(outcome.warnings)} warnings, e.g. {outcome.warnings[:2]}"
        )
