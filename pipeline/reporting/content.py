"""The report's content, gathered from a finished run directory.

Everything here comes from files the stages wrote for this purpose: counts,
rates, hashes and metrics, never a record. Quarantine files are read for
their `reason` field only.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pipeline
from pipeline import layout
from pipeline.artifacts import RunDir, sha256_json
from pipeline.config import STAGE_NAMES, Config
from pipeline.errors import InputError
from pipeline.quality import drift
from pipeline.reporting.policy import drift_flags, evaluate_policy

SCHEMA_VERSION = "1.3"
FILES = {
    "pii": layout.PII_LEDGER,
    "findings": layout.FINDINGS,
    "gx": layout.GX_RESULTS,
    "splits": layout.SPLIT_REPORT,
    "bias": layout.BIAS,
    "ledger": layout.PRIVACY_LEDGER,
    "curve": layout.CURVE,
    "labels": layout.LABELS,
    "metrics": layout.METRICS,
}


def read(run_dir: RunDir, key: str) -> dict[str, Any]:
    path = run_dir.path(FILES[key])
    if not path.is_file():
        raise InputError(
            f"{FILES[key]} is missing from {run_dir.root}; the report needs a run finished up to the evaluate stage"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def build(config: Config, run_dir: RunDir) -> dict[str, Any]:
    manifest = run_dir.read_manifest()
    ledger, metrics = read(run_dir, "ledger"), read(run_dir, "metrics")
    for optional in (
        "model_bias",
        "counterfactual",
        "calibrated_membership",
        "canaries",
        "regurgitation",
        "forgetting",
        "concept_drift",
    ):  # task-specific and optional sections (and those absent from older runs): present, possibly null
        metrics.setdefault(optional, None)
    data_drift = compare_with_reference(config, run_dir)
    return {
        "schema_version": SCHEMA_VERSION,
        "title": config.report.title,
        "run": run_facts(config, manifest),
        "summary": evaluate_policy(config.report.policy, ledger, metrics, data_drift),
        "row_accounting": row_accounting(run_dir, manifest),
        "pii": read(run_dir, "pii"),
        "data_quality": data_quality(read(run_dir, "findings"), read(run_dir, "gx")),
        "data_bias": data_bias(read(run_dir, "bias")),
        "splits": splits(read(run_dir, "splits"), manifest),
        "audit_power": audit_power(metrics.get("canaries")),
        "training": {
            "ledger": ledger,
            "privacy_scope": privacy_scope(ledger),
            "curve": read(run_dir, "curve")["epochs"],
            "labels": read(run_dir, "labels"),
        },
        "evaluation": metrics,
        "drift": drift_section(data_drift, metrics["concept_drift"]),
        "baseline": baseline(config, ledger, metrics),
        "limitations": limitations(config, ledger, metrics),
        "lineage": lineage(manifest),  # the appendix: sources, packages and the full config
    }


def compare_with_reference(config: Config, run_dir: RunDir) -> dict[str, Any] | None:
    """Data drift: this run's curated-data profile against `check.reference_run`'s; None without a reference run.
    Both profiles are aggregates the curate stages wrote, so no record of either run is read."""
    reference_dir = config.reference_run_dir()
    if reference_dir is None:
        return None
    profiles = []
    for folder, what in ((run_dir.root, "this run"), (reference_dir, "check.reference_run")):
        path = folder / layout.DATA_PROFILE
        if not path.is_file():
            raise InputError(
                f"{what}: {folder} has no {layout.DATA_PROFILE}; its curate stage must be run by this version "
                "(`python -m pipeline run --from curate` there) before drift can be measured"
            )
        found = json.loads(path.read_text(encoding="utf-8"))
        if found.get("version") != drift.PROFILE_VERSION:
            raise InputError(
                f"{what}: {path} is profile version {found.get('version')}; this version reads {drift.PROFILE_VERSION}"
            )
        profiles.append(found)
    found = drift.compare(profiles[0], profiles[1], config.check.drift)
    return {"reference_run": reference_dir.name, **found}


def drift_section(data: dict[str, Any] | None, concept: dict[str, Any] | None) -> dict[str, Any] | None:
    """Data and concept drift against the reference run, with the drifted measures named in one sentence."""
    if data is None and concept is None:
        return None
    flagged = drift_flags(data, concept)
    reference = (data or concept or {}).get("reference_run")
    if flagged:
        sentence = (
            f"WARNING: against the reference run {reference}, {len(flagged)} measure(s) drifted: {', '.join(flagged)}."
        )
    else:
        sentence = f"No measure drifted past its threshold against the reference run {reference}."
    return {"reference_run": reference, "data": data, "concept": concept, "flagged": flagged, "sentence": sentence}


def baseline(config: Config, ledger: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any] | None:
    """This run's headline figures beside those of `report.baseline_run_dir` (e.g. the same data without DP)."""
    if config.report.baseline_run_dir is None:
        return None
    path = Path(config.report.baseline_run_dir).expanduser()
    other = RunDir(path if path.is_absolute() else config.base_dir / path)
    try:
        other_ledger, other_metrics = read(other, "ledger"), read(other, "metrics")
    except InputError as error:
        raise InputError(f"report.baseline_run_dir: {error}") from None
    if other_metrics.get("task") != metrics.get("task"):
        raise InputError(
            f"report.baseline_run_dir: {other.root} is a {other_metrics.get('task')} run; this run is {metrics.get('task')}"
        )
    return {
        "run_id": other.root.name,
        "rows": [_headline("this run", ledger, metrics), _headline("baseline", other_ledger, other_metrics)],
    }


def _headline(name: str, ledger: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    utility, membership, calibrated, canaries = (
        metrics.get("utility") or {},
        metrics.get("membership") or {},
        metrics.get("calibrated_membership") or {},
        metrics.get("canaries") or {},
    )
    return {
        "name": name,
        "dp": ledger.get("dp"),
        "epsilon": ledger.get("epsilon_spent"),
        "accuracy": utility.get("accuracy"),
        "macro_f1": utility.get("macro_f1"),
        "loss": utility.get("loss"),
        "perplexity": utility.get("perplexity"),
        "membership_auc": membership.get("auc"),
        "calibrated_membership_auc": calibrated.get("auc"),
        "canary_auc": (canaries.get("attack") or {}).get("auc"),
        "empirical_epsilon_lower_bound": (canaries.get("empirical_epsilon") or {}).get("epsilon_lower_bound"),
    }


def run_facts(config: Config, manifest: dict[str, Any]) -> dict[str, Any]:
    stages = manifest.get("stages", {})
    return {
        "run_id": manifest.get("run_id"),
        "run_name": config.run_name,
        "pipeline_version": pipeline.__version__,
        "task": config.task,
        "seed": config.seed,
        "evaluated_at": stages.get("evaluate", {}).get("finished"),
        "stages": {
            name: {
                "status": stages[name].get("status"),
                "finished": stages[name].get("finished"),
                "duration_s": stages[name].get("duration_s"),
            }
            for name in STAGE_NAMES
            if name in stages and name != "report"
        },
    }


def lineage(manifest: dict[str, Any]) -> dict[str, Any]:
    config = manifest.get("config", {})
    sources = []
    for source in config.get("sources", []):
        files = source.get("files", [])
        sources.append(
            {
                "name": source.get("name"),
                "format": source.get("format"),
                "files": [{"path": f, "sha256": manifest.get("inputs", {}).get(f)} for f in files],
            }
        )
    return {
        "sources": sources,
        "config_sha256": sha256_json(config),
        "config": config,
        "packages": manifest.get("packages", {}),
    }


def row_accounting(run_dir: RunDir, manifest: dict[str, Any]) -> dict[str, Any]:
    stages = []
    for name in STAGE_NAMES:
        stats = manifest.get("stages", {}).get(name, {}).get("stats", {})
        if "total" not in stats:
            continue
        stages.append(
            {
                "stage": name,
                "total": stats["total"],
                "kept": stats["kept"],
                "quarantined": stats["quarantined"],
                "reasons": quarantine_reasons(run_dir, name),
            }
        )
    split_rows = manifest.get("stages", {}).get("split", {}).get("stats", {}).get("rows", {})
    return {"stages": stages, "split_rows": split_rows}


def quarantine_reasons(run_dir: RunDir, stage: str) -> dict[str, int]:
    path = run_dir.path(f"quarantine/{stage}.jsonl")
    if not path.is_file():
        return {}
    reasons: Counter[str] = Counter()
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                reasons[json.loads(line)["reason"]] += 1
    return dict(sorted(reasons.items()))


def data_quality(findings: dict[str, Any], gx: dict[str, Any]) -> dict[str, Any]:
    failed = [r for r in gx.get("results", []) if not r.get("success")]
    labels = findings.get("labels") or {}
    return {
        "rows": findings.get("rows"),
        "contract": gx.get("summary"),
        "failed_expectations": failed,
        "expectations": gx.get("results", []),
        "duplicates": findings.get("duplicates"),
        "languages": (findings.get("text_quality") or {}).get("languages"),
        "labels": {
            key: labels.get(key)
            for key in ("column", "class_counts", "method", "likely_mislabelled", "likely_mislabelled_by_label")
            if key in labels
        },
    }


def data_bias(bias: dict[str, Any]) -> dict[str, Any]:
    """Per protected attribute: the largest label-rate gap and chi-square, on the curated set, train before and train after mitigation."""
    summary: dict[str, Any] = {"mitigation": bias.get("mitigation"), "attributes": {}}
    for moment in ("curated", "train_before", "train_after"):
        for attribute, entry in (bias.get(moment, {}).get("groups") or {}).items():
            summary["attributes"].setdefault(attribute, {})[moment] = {
                "rows": entry.get("rows"),
                "weighted": entry.get("weighted"),
                "largest_gap": entry.get("largest_gap"),
                "largest_gap_label": entry.get("largest_gap_label"),
                "chi_square": entry.get("chi_square"),
                "label_rates": {group: g.get("label_rates") for group, g in (entry.get("groups") or {}).items()},
                "too_small_to_judge": entry.get("too_small_to_judge"),
            }
    return summary


def splits(report: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    return {
        "rule": report.get("rule"),
        "stratified_on": report.get("stratified_on"),
        "rows": {name: entry.get("rows") for name, entry in (report.get("splits") or {}).items()},
        "rows_after_mitigation": {
            name: entry.get("rows_after_mitigation") for name, entry in (report.get("splits") or {}).items()
        },
        "max_deviation_points": report.get("max_deviation_points"),
        "shared_between_splits": report.get("shared_between_splits"),
        "strata_smaller_than_folds": len(report.get("strata_smaller_than_folds") or {}),
    }


def audit_power(canaries: dict[str, Any] | None) -> str | None:
    """What the one-run canary audit could have shown against what it found: its bound had every guess been right,
    next to the bound it proved; a warning when that power is below the claimed epsilon per canary, with the canary
    counts that would raise it."""
    audit = (canaries or {}).get("empirical_epsilon") or {}
    power, found = audit.get("max_certifiable_epsilon"), audit.get("epsilon_lower_bound")
    if power is None or found is None:
        return None
    count = audit.get("canaries", canaries.get("count"))
    included = audit.get("included", canaries.get("inserted"))
    confidence = audit.get("confidence")
    setting = ", ".join(
        part
        for part in (
            f"{count} canaries" if count is not None else "",
            f"{included} included by a coin flip" if included is not None else "",
            f"{confidence:.0%} confidence" if isinstance(confidence, int | float) else "",
        )
        if part
    )
    guesses = (
        f" ({audit['correct']} of its {audit['guesses']} guesses right)"
        if audit.get("guesses") is not None and audit.get("correct") is not None
        else ""
    )
    text = (
        f"The one-run canary audit{f' ({setting})' if setting else ''} could have shown epsilon up to {power:.3g}; "
        f"it found {found:.3g}{guesses}."
    )
    claimed = canaries.get("claimed_epsilon_per_canary", canaries.get("claimed_epsilon"))
    if claimed is not None and power < claimed:
        text += (
            f" WARNING: that power is below the claimed epsilon per canary {claimed:.3g}, so the audit cannot tell a "
            "model that leaks up to the claim from one that does not."
        )
        needed = canaries_needed(audit.get("canaries_needed") or {})
        text += f" {needed}" if needed else " More canaries raise it."
    return text


def canaries_needed(needed: dict[str, int | None]) -> str | None:
    """The audit's `canaries_needed` in words: the canary count that could show each target epsilon, or that none can."""
    reachable = [
        f"about {count} canaries would be needed to show {target}"
        for target, count in needed.items()
        if count is not None
    ]
    unreachable = [target for target, count in needed.items() if count is None]
    parts = []
    if reachable:
        parts.append("; ".join(reachable))
    if unreachable:
        parts.append(f"no canary count can show {' or '.join(unreachable)} at this delta")
    if not parts:
        return None
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def privacy_scope(ledger: dict[str, Any]) -> str | None:
    """Whom the DP guarantee covers, in a sentence: each person (a group value), or each row, with the group-privacy
    figure of the person with the most rows when rows are the unit."""
    unit = ledger.get("privacy_unit")
    if not ledger.get("dp") or not unit:
        return None
    people = unit.get("rows_per_person")
    spread = (
        f" ({unit['people']} people in training, {people['min']} to {people['max']} rows each, median {people['median']})"
        if people
        else ""
    )
    if unit["unit"] == "group":
        return (
            f"The guarantee covers each person: all the rows that share a {unit['group_column']} value{spread}, sampled "
            "together as one unit that brings one of its rows to a step, so no person adds more than the clipping bound "
            "to any step."
        )
    group = unit.get("group_privacy")
    if not group:
        return f"The guarantee covers each training row (one row of the training set){spread}."
    promise = "no guarantee at all" if group["delta"] >= 1 else f"delta {group['delta']:.3g}"
    return (
        f"WARNING: the guarantee covers each training row, not each person{spread}. A person with {group['rows']} rows "
        f"is protected only at epsilon {group['epsilon']:.4g} ({group['rows']} x epsilon by group privacy, with "
        f"{promise}). Set train.privacy_unit: group to protect people."
    )


def membership_attacks_note(config: Config, metrics: dict[str, Any]) -> str:
    """Which membership attacks ran, what the calibrated one's reference was, and what no attack here tried."""
    calibrated = metrics.get("calibrated_membership")
    if calibrated:
        reference = calibrated.get("reference") or (
            "a probe on the base encoder" if config.task == "classification" else "the base model"
        )
        ran = (
            "Two membership attacks ran: the loss-threshold attack and a calibrated attack (reference loss minus "
            f"tuned loss, so a record that is merely easy does not look like a member), whose reference is {reference}"
        )
        if config.task == "classification":
            ran += " (the base model has no trained classification head, so a probe on its encoder stands in)"
        ran += "."
    else:
        ran = (
            "Only the loss-threshold membership attack ran; no reference model was available, so the calibrated "
            "attack did not."
        )
    return (
        f"{ran} No shadow models or attacks that train reference runs (LiRA, RMIA) ran, and such attacks can do "
        "better, so these AUCs are lower bounds on leakage, not a proof of its absence."
    )


def below_resolution_notes(metrics: dict[str, Any]) -> list[str]:
    """A note per set of low-FPR targets the non-members cannot resolve, naming the attacks it holds for."""
    found: dict[tuple[Any, ...], list[str]] = {}
    for name, attack in (
        ("loss-threshold", metrics.get("membership")),
        ("calibrated", metrics.get("calibrated_membership")),
    ):
        attack = attack or {}
        targets = [t for t, entry in (attack.get("tpr_at_fpr") or {}).items() if entry.get("below_resolution")]
        if targets:
            found.setdefault((*targets, attack.get("nonmembers"), attack.get("fpr_resolution")), []).append(name)
    notes = []
    for (*targets, nonmembers, resolution), names in found.items():
        notes.append(
            f"TPR at {' and '.join(targets)} FPR ({' and '.join(names)} attack{'s' if len(names) > 1 else ''}) is "
            f"below the resolution of {nonmembers} non-members (1/{nonmembers} = {resolution}); treat it as indicative."
        )
    return notes


def limitations(config: Config, ledger: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
    notes = [
        "Redaction is statistical: Presidio with a small spaCy model misses some names and addresses (see the PII ledger for what was found, "
        "not what was missed); the leak scan re-checks patterns and known identifier values only.",
        membership_attacks_note(config, metrics),
        "Bias figures cover the protected attributes named in the config and the groups with enough test rows; intersections and "
        "unrecorded attributes are not measured.",
    ]
    notes.extend(below_resolution_notes(metrics))
    if ledger.get("dp"):
        notes.append(
            "Opacus ran without its cryptographically secure RNG (secure_mode needs torchcsprng); the noise is seeded and reproducible, "
            "which suits an audit but not an adversary who can learn the seed."
        )
        scope = privacy_scope(ledger) or ""
        if scope.startswith("WARNING"):
            notes.append(scope.removeprefix("WARNING: "))
        if ledger.get("validation_used_for_model_selection"):
            notes.append(
                "Validation data chose the model (early stopping); that choice is not covered by the privacy accounting."
            )
        if str(ledger.get("sample_weights", "")).startswith("ignored"):
            notes.append(
                "Reweighing weights were ignored under DP (clipping bounds every example's influence); debiasing relied on the data alone."
            )
    else:
        notes.append("The model was trained WITHOUT differential privacy: no formal privacy guarantee applies.")
    canaries = metrics.get("canaries")
    if canaries:
        reason = (canaries.get("empirical_epsilon") or {}).get("reason") or "too few canaries"
        notes.append(audit_power(canaries) or f"The canary audit measured no bound ({reason}).")
        if canaries.get("copies_each", 1) > 1 and (ledger.get("privacy_unit") or {}).get("unit") != "group":
            notes.append(
                f"Each canary appears {canaries['copies_each']} times; DP protects it only at {canaries['copies_each']} times the claimed epsilon."
            )
    else:
        notes.append(
            "No canaries were planted (train.canaries.count is 0): no empirical lower bound on epsilon was measured."
        )
    forgetting = metrics.get("forgetting")
    if forgetting:
        notes.append(
            "Forgetting is measured on general English passages only; abilities they do not exercise (other languages, "
            "code, arithmetic, instructions) are not measured."
        )
        if forgetting["score"] > 0.5:
            notes.append(
                f"The fine-tune changed how the model handles general text: {forgetting['forgotten']} of "
                f"{forgetting['passages']} reference passages count as forgotten ({forgetting['criterion']}). Use the "
                "model for its task; check it again before any other use."
            )
    if config.task == "classification":
        notes.append(
            "PII regurgitation is measured for causal language models only; a classifier outputs labels, not text."
        )
    return notes
