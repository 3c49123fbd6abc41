"""The redact stage's throughput and memory against worker count and input size; with `--data-stages`, the
data stages around it (ingest, check, curate, split) against input size.

`python bench/scale.py [--rows 10000,50000] [--workers 1,2] [--shard-rows 200] [--executor local] [--json PATH]`
`python bench/scale.py --data-stages [--rows 100000,300000,1000000] [--workers W] [--executor local] [--json PATH]`

The redact mode:

1. Data. One seeded stream of support tickets from the bundled sample
   generator (`pipeline.sample_data.generate`: Faker customers, tickets whose
   subject and description carry names, e-mails, phones, cards, account
   numbers, dates and addresses), with unique ticket ids `TCK-0000001`, ...
   and none of the sample's planted flaws. Each size is a prefix of that
   stream (the largest is generated, the others are its first rows), written
   as a CSV with its own config per worker count: the columns of
   tests/orchestration/tiny.py and `redact: {workers: W, shard_rows: S,
   demo_key_if_unset: true}`, `curate: {languages: []}`. Generating is not
   timed.
2. Ingest, once per size, not timed: `python -m pipeline run --to ingest`.
3. Redact, once per (size, workers), each in a fresh process (this script
   with `--measure`), which imports the CLI and then times
   `pipeline.__main__.main(["stage", "redact", ..., "--force", "--executor", E])`.
   The timed call includes starting the workers and loading their engines
   (once per worker), as a real run does. Recorded:
   - wall seconds of that call, and rows/s = rows redacted / wall;
   - CPU seconds: the process (all threads, less the sampling thread) plus
     its finished child processes (`RUSAGE_CHILDREN`; the pool has exited
     when the stage returns);
   - parent peak RSS: VmHWM of the measuring process at the end;
   - largest worker peak RSS: the highest VmHWM of its worker processes
     (spawned pool processes, or Ray workers; not the resource tracker nor
     Ray's own processes), read from /proc every `--sample-s` seconds while
     the stage runs. With 1 worker the stage redacts in the parent and there
     is no worker. With `--executor ray` on a cluster ($RAY_ADDRESS) the
     actors run elsewhere, and CPU s and worker RSS miss them. Not `ru_maxrss`: a
     child's `ru_maxrss` starts from its parent's peak, because Linux keeps
     the high-water mark across fork and exec (see bench/README.md, dedup);
     the children's `ru_maxrss` is kept in the JSON for comparison;
   - others %: the share of the machine's CPU time other processes used
     meanwhile (/proc/stat), so figures taken on a busy machine show it;
   - the stage's stats from the run directory's manifest.json
     (`stages.redact.stats`): total, kept, quarantined. total must equal the
     rows ingest kept, or the measurement counts as failed.
4. Prints one row per (size, workers): speed-up is wall at the smallest
   worker count / wall, at the same size. Then, per worker count, the ratio
   of peak RSS at the largest size to the smallest: memory bounded by shard
   size gives about 1.0, memory growing with the input about the size ratio.

Exit status: 0 when every measurement finished with total == rows ingested,
1 otherwise. `--executor ray` needs the `ray` package.

The data-stages mode (redaction would take about 5 hours at 1M rows on 2 cores, so it is not run):

1. Data. One seeded stream of tickets as the redact stage leaves them (`RedactedTickets`: word pools and sentence
   patterns, redaction tags such as `<PERSON>` where personal data would be, no identifier columns, customer ids
   already key-hashed `grp_<16 hex>`), with about 5% edited copies and 1% exact copies of recent tickets; each
   size a prefix of the stream, written as a CSV with a config (`DATA_COLUMNS`; `curate: {languages: []}`).
2. Ingest, measured like redact above (`stage ingest --force` in a fresh process).
3. Redact, placed, not run (`--place`, a fresh process, not timed): the runner's `_run_one` runs a stand-in of the
   redact stage (`load_stage("redact")` with another `run`) whose run is the stage's own plan and merge
   (`SHARDED.plan`, `SHARDED.merge`) over the ingested shards passed through unchanged, so the records, ledger, row
   findings, quarantine and the manifest entry (fingerprint, stats, output hashes) are what the runner records for
   the stage; then `_is_current` must hold for that entry.
4. Check, curate and split, each measured in a fresh process (`stage NAME --force`), in that order.
   A measurement FAILS when the stage's total != kept + quarantined, or its total != the rows generated (ingest),
   the rows placed (check) or the previous stage's kept.
5. Prints one row per (size, stage), then per stage the ratio of the largest size to the smallest of peak RSS
   (parent, largest worker) and of wall per row, against the targets: ratios <= 1.5, every peak under 6 GB.

Exit status (data stages): 0 when every stage was measured at every size with its rows accounted for and every
judged target passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import importlib.util
import json
import os
import platform
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.machine import busy_cpu_seconds, children_cpu_seconds  # noqa: E402

if TYPE_CHECKING:  # the pipeline is imported inside the functions that use it (most run in the fresh processes)
    from pipeline.stage import StageContext, StageResult
    from pipeline.stages.redact import RedactColumns, ShardOutput

# the columns of tests/orchestration/tiny.py, on the generator's header
COLUMNS = {
    "id": "Ticket ID",
    "text": ["Subject", "Description"],
    "label": "Category",
    "protected": ["Gender", "Age Band"],
    "identifier": ["Customer Name", "Customer Email", "Customer Phone"],
    "group": "Customer ID",
}
TICKETS_PER_CUSTOMER = 3  # about the bundled sample's mean
# how a worker's command line starts or reads: a spawned pool process, a joblib (loky) worker, or a Ray worker (its
# process title, or its command before Ray sets the title); a forked worker has the stage process's own command line
# (`ChildPeaks.workers`); anything else below the stage's process (resource tracker, raylet) is not a worker
WORKER_MARKERS = ("multiprocessing.spawn", "loky", "ray::", "default_worker.py")


# --- data -------------------------------------------------------------------------------------------------------


def write_datasets(sizes: list[int], seed: int, folder: Path) -> dict[int, Path]:
    """One CSV per size, each the first `size` rows of one seeded ticket stream; {size: path}."""
    from pipeline.sample_data import generate as gen

    rng = random.Random(seed)
    fakers = gen.make_fakers(seed)
    customers = [gen.make_customer(rng, fakers, i + 1) for i in range(max(1, max(sizes) // TICKETS_PER_CUSTOMER))]
    paths = {size: folder / f"rows-{size}" / "data.csv" for size in sizes}
    handles = {}
    try:
        for size, path in paths.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            handles[size] = path.open("w", newline="", encoding="utf-8")
        writers = {size: csv.writer(handle) for size, handle in handles.items()}
        for writer in writers.values():
            writer.writerow(gen.HEADER)
        for index in range(max(sizes)):
            ticket = gen.make_ticket(rng, fakers, rng.choice(customers))
            ticket.tid = f"TCK-{index + 1:07d}"
            fields = gen.ticket_fields(rng, ticket)
            for size, writer in writers.items():
                if index < size:
                    writer.writerow(fields)
    finally:
        for handle in handles.values():
            handle.close()
    return paths


def write_config(data: Path, workers: int, shard_rows: int) -> Path:
    """A config beside the CSV (its source path is relative to the config) with these redact settings."""
    import yaml

    config = {
        "run_name": data.parent.name,
        "sources": [{"path": data.name, "columns": COLUMNS}],
        "redact": {"workers": workers, "shard_rows": shard_rows, "demo_key_if_unset": True},
        "curate": {"languages": []},
    }
    path = data.with_name(f"config-w{workers}.yaml")
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


# --- data stages: tickets as the redact stage leaves them -------------------------------------------------------

DATA_COLUMNS = {  # tiny.py's roles less the identifier columns, which the redact stage drops
    "id": "Ticket ID",
    "text": ["Subject", "Description"],
    "label": "Category",
    "protected": ["Gender", "Age Band"],
    "group": "Customer ID",
}
DATA_HEADER = ["Ticket ID", "Customer ID", "Gender", "Age Band", "Subject", "Description", "Category"]
DATA_STAGES = ("ingest", "check", "curate", "split")  # measured; redact, between ingest and check, is placed
EXACT_COPY_SHARE, NEAR_COPY_SHARE = 0.01, 0.05  # copies of one of the last COPY_WINDOW original tickets
COPY_WINDOW = 5000
CUSTOMER_WINDOW = 2000  # a returning customer is one of the last this-many customers
DESCRIPTION_CHARS = (150, 900)
OFF_TOPIC_SHARE = 0.12  # topic sentences from another category: labels follow the words, loosely
LABEL_NOISE = 0.02  # tickets labelled with another category than their words': work for the label check
MISSING_SHARE = {"Gender": 0.05, "Age Band": 0.07}
GENDERS = {"female": 46, "male": 44, "nonbinary": 4, "prefer not to say": 6}  # the sample generator's shares
AGE_BANDS = {"18-24": 12, "25-34": 22, "35-44": 21, "45-54": 18, "55-64": 15, "65+": 12}


def _pool(words: str) -> tuple[str, ...]:
    return tuple(words.split("|"))


# label: (weight, its nouns, its past participles); the weights are the sample generator's base rates
TOPICS: dict[str, tuple[int, tuple[str, ...], tuple[str, ...]]] = {
    "billing": (
        20,
        _pool(
            "invoice|statement|charge|fee|bill|balance|subscription|plan|direct debit|autopay|tariff|surcharge|"
            "VAT line|instalment|renewal|discount|billing cycle|late fee|monthly price|service adjustment|"
            "interest charge|payment schedule"
        ),
        _pool("charged|billed|overcharged|invoiced|debited|renewed|quoted|deducted|added|applied|doubled|increased"),
    ),
    "technical_issue": (
        20,
        _pool(
            "app|website|checkout page|update|browser|error message|notification|sync|download|server|version|"
            "online form|submit button|cache|loading screen|plugin|crash report|settings page|connection|dashboard|"
            "upload|search bar"
        ),
        _pool(
            "crashed|frozen|failed|stopped|broken|rejected|timed out|reloaded|greyed out|corrupted|disconnected|stuck"
        ),
    ),
    "account_access": (
        15,
        _pool(
            "password|username|login|two-factor code|verification email|reset link|security question|profile|"
            "sign-in page|lockout|PIN|authenticator|session|credentials|recovery email|unlock link|trusted device|"
            "account access|login attempt"
        ),
        _pool("locked|blocked|suspended|expired|reset|changed|disabled|denied|forgotten|revoked|logged out|flagged"),
    ),
    "shipping": (
        18,
        _pool(
            "parcel|package|order|delivery|courier|tracking number|shipment|depot|carrier|shipping label|box|"
            "dispatch note|driver|warehouse|pickup point|consignment|delivery slot|postcode|signature|returns label"
        ),
        _pool(
            "delivered|shipped|delayed|lost|damaged|returned|dispatched|misdelivered|collected|redirected|held|crushed"
        ),
    ),
    "refund_request": (
        15,
        _pool(
            "refund|return|money back|credit note|reimbursement|cancellation|exchange|store credit|chargeback|"
            "compensation|voucher|return window|cooling-off period|deposit|partial refund|refund request|"
            "return parcel|repayment"
        ),
        _pool(
            "refunded|cancelled|credited|reimbursed|processed|approved|promised|withheld|reversed|declined|"
            "requested|postponed"
        ),
    ),
    "fraud_report": (
        12,
        _pool(
            "transaction|card|transfer|phishing email|scam|unauthorised payment|identity|fraud|data breach|"
            "stolen card|suspicious login|hacker|security alert|cash withdrawal|merchant|fake text|cloned card|"
            "unknown payee"
        ),
        _pool("stolen|hacked|compromised|authorised|blocked|reported|misused|cloned|intercepted|frozen|faked|emptied"),
    ),
}
WORDS: dict[str, tuple[str, ...]] = {  # the other slots of the patterns; {slot} inside a value is filled in turn
    "subject": _pool(
        "I|We|My partner|My colleague <PERSON>|My husband|My wife|Our office|My son|My daughter|The agent|"
        "My flatmate <PERSON>|My accountant"
    ),
    "adjective": _pool(
        "wrong|new|old|second|latest|missing|duplicate|strange|huge|small|recent|expensive|annual|urgent|whole|"
        "usual|separate|temporary|confusing|final|original|premium|basic|shared|business|personal|automatic|overdue|"
        "unexpected|previous"
    ),
    "thing": _pool(
        "phone|laptop|email|letter|weekend|holiday|neighbour|manager|office|bank|family|kitchen|car|appointment|"
        "meeting|birthday|contract|landlord|receipt|screenshot|reference|complaint|chat|helpline|branch|store|"
        "voicemail|message|form|website"
    ),
    "adverb": _pool(
        "again|twice|still|already|suddenly|repeatedly|apparently|clearly|completely|only|finally|somehow|yet again|"
        "without warning|for no reason"
    ),
    "when": _pool(
        "on <DATE_TIME>|last {weekday}|{n} days ago|since <DATE_TIME>|this morning|yesterday evening|{n} weeks ago|"
        "at the start of the month|after the last update|before my holiday|over the weekend|on {weekday} at <DATE_TIME>"
    ),
    "weekday": _pool("Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"),
    "feeling": _pool(
        "frustrating|worrying|annoying|confusing|stressful|unacceptable|disappointing|really inconvenient"
    ),
    "ask": _pool("Could you|Can you please|Please|I would like you to|Would you kindly|I need you to"),
    "action": _pool("check|look into|explain|fix|cancel|confirm|escalate|review|correct|update"),
}
PATTERNS: dict[str, tuple[str, ...]] = {
    "topic": (
        "{subject} noticed the {noun} was {verb} {when}.",
        "The {adjective} {noun} has been {verb} {adverb} and it is {feeling}.",
        "{ask} {action} the {noun} on reference {ref}?",
        "My {noun} was {verb} {when}, even though the {adjective} {noun} looked fine.",
        "{subject} called about the {noun} {when} but it was {verb} {adverb}.",
        "Why was the {noun} {verb} {when}? The {thing} says nothing about a {adjective} {noun}.",
        "The {noun} for {amount} was {verb} {adverb}, so the {adjective} {noun} is wrong now.",
        "{ask} {action} why my {noun} is {verb}, it has happened {n} times.",
        "After the {thing} {when} the {noun} got {verb} and the {noun} {adverb} failed.",
        "It is {feeling} that the {adjective} {noun} was {verb} without any {thing}.",
    ),
    "filler": (
        "I have been a customer for {n} years and this is {feeling}.",
        "I tried the {thing} and the {thing} {when} but nobody answered.",
        "This is the {adjective} time I write about it, {adverb}.",
        "{ask} get back to me by {thing} or <EMAIL_ADDRESS>.",
        "I waited {n} minutes on the {thing} and it is {feeling}.",
        "My {thing} says the {adjective} {thing} is {feeling}.",
        "Let me know if the {thing} needs anything else from me.",
    ),
    "pii": (
        "You can reach me on <PHONE_NUMBER> or at <EMAIL_ADDRESS> {when}.",
        "My name is <PERSON> and I live at <LOCATION>.",
        "I spoke to <PERSON> about the {noun} {when}.",
        "The card on file is <CREDIT_CARD>, please do not {action} it.",
        "Please send the {noun} to <LOCATION>, not to the {adjective} address.",
        "My date of birth is <DATE_TIME> if you need to verify me.",
        "My {thing} <PERSON> can be reached on <PHONE_NUMBER>.",
        "The payment came from <IBAN_CODE> {when}.",
    ),
    "opener": (
        "Hi, this is <PERSON>.",
        "Hello,",
        "Dear support team,",
        "Hi there, my name is <PERSON>.",
        "Good morning,",
        "To whom it may concern,",
        "Hi,",
        "",
    ),
    "closing": (
        "Thanks,\n<PERSON>",
        "Regards, <PERSON>",
        "Kind regards,\n<PERSON>\n<PHONE_NUMBER>",
        "",
        "Thank you.",
        "Cheers, <PERSON>",
    ),
    "title": (
        "Problem with my {noun}",
        "{noun} {verb} again",
        "Question about the {noun}",
        "Re: {noun} {ref}",
        "{adjective} {noun}",
        "Urgent: {noun} {verb}",
        "My {noun} was {verb} {when}",
        "Complaint about the {noun}",
    ),
}
SENTENCE_KINDS = {"topic": 6, "filler": 2, "pii": 2}
SLOT = re.compile(r"\{(\w+)\}")


class RedactedTickets:
    """A seeded stream of support tickets as the redact stage leaves them (`row(i)` for i = 0, 1, ... in turn).

    Columns `DATA_HEADER`: unique ticket ids `TCK-0000001`, ...; customer ids already key-hashed (`grp_` and 16 hex
    digits, as redact writes them, so it would leave them), the ticket's customer a new one with probability 1/3,
    else one of the last `CUSTOMER_WINDOW`, so every prefix has about 3 tickets per customer; gender and age band per
    customer, some missing; a topic drawn by the sample's base rates that picks most of the topic sentences' nouns
    and verbs, and is the label but for `LABEL_NOISE` of the tickets. Descriptions are 150-900 characters of
    sentences from `PATTERNS` with random words, amounts and references, and redaction tags where personal data
    would be. A ticket is, with probability `EXACT_COPY_SHARE`, an exact copy (new id) of one of the last
    `COPY_WINDOW` original tickets, and with `NEAR_COPY_SHARE` an edited copy: about one word in 25 of its
    description replaced.
    """

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.labels = list(TOPICS)
        self.weights = [TOPICS[label][0] for label in self.labels]
        self.customers: list[tuple[str, str, str]] = []  # a ring of the last CUSTOMER_WINDOW customers
        self.customer_count = 0
        self.originals: list[list[str]] = []  # a ring of the last COPY_WINDOW original tickets, without their id
        self.original_count = 0

    def row(self, index: int) -> list[str]:
        draw = self.rng.random()
        if self.originals and draw < EXACT_COPY_SHARE:
            fields = list(self.rng.choice(self.originals))
        elif self.originals and draw < EXACT_COPY_SHARE + NEAR_COPY_SHARE:
            fields = list(self.rng.choice(self.originals))
            fields[4] = self._edited(fields[4])
        else:
            fields = self._original()
            _ring_add(self.originals, fields, self.original_count, COPY_WINDOW)
            self.original_count += 1
        return [f"TCK-{index + 1:07d}", *fields]

    def _original(self) -> list[str]:
        rng = self.rng
        topic = rng.choices(self.labels, self.weights)[0]
        label = rng.choice(self.labels) if rng.random() < LABEL_NOISE else topic
        subject, description = self._fill(rng.choice(PATTERNS["title"]), topic), self._description(topic)
        return [*self._customer(), subject, description, label]

    def _customer(self) -> tuple[str, str, str]:
        rng = self.rng
        if self.customers and rng.random() >= 1 / TICKETS_PER_CUSTOMER:
            return rng.choice(self.customers)
        customer = (
            f"grp_{rng.getrandbits(64):016x}",
            "" if rng.random() < MISSING_SHARE["Gender"] else _weighted(rng, GENDERS),
            "" if rng.random() < MISSING_SHARE["Age Band"] else _weighted(rng, AGE_BANDS),
        )
        _ring_add(self.customers, customer, self.customer_count, CUSTOMER_WINDOW)
        self.customer_count += 1
        return customer

    def _description(self, label: str) -> str:
        rng = self.rng
        shortest, longest = DESCRIPTION_CHARS
        target = rng.randint(shortest, longest)
        parts = [self._fill(rng.choice(PATTERNS["opener"]), label)]
        length = len(parts[0])
        kinds, weights = list(SENTENCE_KINDS), list(SENTENCE_KINDS.values())
        while length < target:
            kind = rng.choices(kinds, weights)[0]
            topic = rng.choice(self.labels) if kind == "topic" and rng.random() < OFF_TOPIC_SHARE else label
            sentence = self._fill(rng.choice(PATTERNS[kind]), topic)
            if length + 1 + len(sentence) > longest:
                break
            parts.append(sentence)
            length += 1 + len(sentence)
        closing = self._fill(rng.choice(PATTERNS["closing"]), label)
        if closing and length + 2 + len(closing) <= longest:
            parts.append("\n" + closing)
        return " ".join(part for part in parts if part)

    def _fill(self, pattern: str, label: str) -> str:
        return SLOT.sub(lambda match: self._fill(self._slot(match.group(1), label), label), pattern)

    def _slot(self, name: str, label: str) -> str:
        rng = self.rng
        if name == "noun":
            return rng.choice(TOPICS[label][1])
        if name == "verb":
            return rng.choice(TOPICS[label][2])
        if name == "n":
            return str(rng.randint(2, 40))
        if name == "amount":
            return f"{rng.choice('$£€')}{rng.randint(5, 2500)}.{rng.randint(0, 99):02d}"
        if name == "ref":
            return rng.choice(("ORD-", "#", "E-", "CASE-")) + str(rng.randint(100_000, 9_999_999))
        return rng.choice(WORDS[name])

    def _edited(self, text: str) -> str:
        """About one word in 25 replaced by another word: a near-duplicate at a word-shingle Jaccard of about 0.75."""
        words = text.split(" ")
        for _ in range(max(1, len(words) // 25)):
            words[self.rng.randrange(len(words))] = self.rng.choice(WORDS["thing"] + WORDS["adjective"])
        return " ".join(words)


def _ring_add(ring: list[Any], item: Any, count: int, size: int) -> None:
    """Add `item` as the `count`-th item of a ring buffer of `size` items (the oldest is replaced)."""
    if len(ring) < size:
        ring.append(item)
    else:
        ring[count % size] = item


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


def write_redacted_datasets(sizes: list[int], seed: int, folder: Path) -> dict[int, Path]:
    """One CSV per size, each the first `size` rows of one `RedactedTickets` stream; {size: path}."""
    tickets = RedactedTickets(seed)
    paths = {size: folder / f"rows-{size}" / "data.csv" for size in sizes}
    handles = {}
    try:
        for size, path in paths.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            handles[size] = path.open("w", newline="", encoding="utf-8")
        writers = {size: csv.writer(handle) for size, handle in handles.items()}
        for writer in writers.values():
            writer.writerow(DATA_HEADER)
        for index in range(max(sizes)):
            fields = tickets.row(index)
            for size, writer in writers.items():
                if index < size:
                    writer.writerow(fields)
    finally:
        for handle in handles.values():
            handle.close()
    return paths


def write_data_config(data: Path, shard_rows: int, workers: int | None) -> Path:
    """A config beside the CSV for the data stages: the default check, curate and split settings but the languages,
    and `workers: W` in every one of those sections that has such a setting (`workers_settings`)."""
    import yaml

    config: dict[str, Any] = {
        "run_name": data.parent.name,
        "sources": [{"path": data.name, "columns": DATA_COLUMNS}],
        # not run: shard_rows sets the row groups of the placed records, as the stage writes them; with a group
        # column the stage's fingerprint needs a key (none hashes anything here: the ids are generated hashed)
        "redact": {"shard_rows": shard_rows, "demo_key_if_unset": True},
        "curate": {"languages": []},
    }
    for section in workers_settings() if workers is not None else []:
        config.setdefault(section, {})["workers"] = workers
    path = data.with_name("config.yaml")
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def workers_settings() -> list[str]:
    """The measured stages whose config section has a `workers` setting."""
    from pipeline.config import Config

    sections = {name: Config.model_fields[name].annotation for name in DATA_STAGES}
    return [name for name, section in sections.items() if "workers" in getattr(section, "model_fields", {})]


# --- measuring (in the fresh process) ---------------------------------------------------------------------------


def _vm_hwm_mb(pid: int | str) -> float | None:
    """VmHWM of a process in MiB; None when it has gone or /proc is missing."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _descendants(root: int) -> list[int]:
    """Every live process below `root`, from the parent ids in /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class ChildPeaks:
    """Highest VmHWM seen for each process below this one, and its latest command line, sampled every `interval` s in a thread."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.peaks: dict[int, float] = {}
        self.commands: dict[int, str] = {}
        self.cpu_s = 0.0  # the sampling thread's own CPU time, taken out of the measured CPU
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        own = os.getpid()
        while True:
            self._sample(own)
            if self._stop.wait(self.interval):
                break
        self.cpu_s = time.thread_time()

    def _sample(self, own: int) -> None:
        for pid in _descendants(own):
            self.commands[pid] = _cmdline(pid) or self.commands.get(pid, "")
            hwm = _vm_hwm_mb(pid)
            if hwm is not None:
                self.peaks[pid] = max(hwm, self.peaks.get(pid, 0.0))

    def workers(self) -> dict[int, float]:
        """Peak MiB per worker process seen: a command line with a worker marker, or this process's own (forked)."""
        own = _cmdline(os.getpid())
        return {
            pid: mb
            for pid, mb in self.peaks.items()
            if any(m in self.commands.get(pid, "") for m in WORKER_MARKERS) or self.commands.get(pid) == own
        }

    def others(self) -> list[dict[str, Any]]:
        """The other processes seen below this one (resource tracker, Ray's own), with their peak MiB."""
        workers = self.workers()
        return [
            {"pid": pid, "command": self.commands.get(pid, "")[:120], "peak_rss_mb": mb}
            for pid, mb in sorted(self.peaks.items())
            if pid not in workers
        ]


def measure_stage(
    config: Path, run_dir: Path, executor: str, sample_s: float, stage: str = "redact"
) -> dict[str, Any]:
    """Run one stage through the CLI in this process; its timings and peak memory."""
    from pipeline.__main__ import main as pipeline_main  # imported before timing

    argv = ["stage", stage, "--config", str(config), "--run-dir", str(run_dir), "--force", "--executor", executor]
    peaks = ChildPeaks(sample_s)
    busy, cpu, children = busy_cpu_seconds(), time.process_time(), children_cpu_seconds()
    peaks.start()
    wall = time.perf_counter()
    status = pipeline_main(argv)
    wall = time.perf_counter() - wall
    peaks.stop()
    cpu_self = time.process_time() - cpu - peaks.cpu_s
    cpu_children = children_cpu_seconds() - children
    busy_end = busy_cpu_seconds()
    cores = os.cpu_count() or 1
    others = (
        None
        if busy is None or busy_end is None
        else max(0.0, busy_end - busy - cpu_self - cpu_children) / (wall * cores)
    )
    workers = peaks.workers()
    return {
        "status": status,
        "wall_s": wall,
        "cpu_s": cpu_self + cpu_children,
        "cpu_self_s": cpu_self,
        "cpu_children_s": cpu_children,
        "sampler_cpu_s": peaks.cpu_s,
        "others_share": others,
        "parent_peak_rss_mb": _vm_hwm_mb("self"),
        "worker_peak_rss_mb": max(workers.values()) if workers else None,
        "worker_peaks_rss_mb": sorted(workers.values(), reverse=True),
        "other_child_processes": peaks.others(),
        "children_ru_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


# --- placing the redacted records (in a fresh process) ----------------------------------------------------------

TAG = re.compile(r"<([A-Z][A-Z0-9_]*)>")


def place_redacted(config_path: Path, run_dir_path: Path) -> dict[str, Any]:
    """Record the redact stage as finished on records that are already redacted, without redacting them.

    The runner (`pipeline.stage._run_one`, after `_require_upstream` says ingest is current) runs a stand-in of the
    redact stage: `load_stage("redact")` with another `run`, the same files, fingerprint extras and settings. Its run is
    the stage's own plan and merge (`SHARDED.plan`, `SHARDED.merge`) over the ingested shards, each passed through as
    its rows (`_as_redacted`), so the records, row findings, ledger and quarantine are written as the stage writes
    them, and the manifest entry (status, fingerprint, stats, output hashes) as the runner records it. Returns the
    stage's entry, whether `_is_current` holds for it, and the seconds it took.
    """
    from pipeline import stage as runner

    started = time.perf_counter()
    config, run_dir = runner.load_run(config_path, run_dir_path)
    stand_in = dataclasses.replace(runner.load_stage("redact"), run=_pass_through)
    with run_dir.lock():
        manifest = run_dir.read_manifest()
        inputs = runner.input_hashes(config)
        runner._require_upstream(manifest, "redact", config, inputs, run_dir)
        runner._run_one(stand_in, config, run_dir, manifest, inputs, force=True)
        entry = manifest["stages"]["redact"]
        current = runner._is_current(entry, runner.fingerprint(config, "redact", inputs, manifest), run_dir)
    return {"entry": entry, "current": current, "wall_s": time.perf_counter() - started}


def _pass_through(ctx: StageContext) -> StageResult:
    """The redact stage's run with each shard passed through instead of redacted."""
    from pipeline.stages import redact

    plan = redact.SHARDED.plan(ctx)
    return redact.SHARDED.merge(ctx, plan, (_as_redacted(plan.columns, shard.rows) for shard in plan.shards()))


def _as_redacted(columns: RedactColumns, rows: list[dict[str, Any]]) -> ShardOutput:
    """A shard's output with its rows as they are (less identifier columns, if any), the tags in their texts counted
    as the detector's findings; a group value not key-hashed is an error: the data is not what redact leaves."""
    from pipeline.stages import redact

    output = redact.ShardOutput()
    for row in rows:
        group = row.get(columns.group) if columns.group else None
        if group and not redact.HASHED_GROUP.match(group):
            raise ValueError(
                f"row {row['row_id']}: group value is not key-hashed like redact's output (grp_ and 16 hex digits); "
                "generate the data with RedactedTickets"
            )
        found: Counter[tuple[str, str, str, str]] = Counter(
            (entity, column, str(row.get("source")), "detector")
            for column in columns.text
            for entity in TAG.findall(row.get(column) or "")
        )
        output.found.update(found)
        output.rows.append({key: value for key, value in row.items() if key not in columns.identifier})
        output.findings.append(redact.row_findings(found, Counter()))
    return output


# --- running (in this process) ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    rows: int
    workers: int
    config: Path
    run_dir: Path


def _run_logged(cmd: list[str], log: Path) -> int:
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"$ {' '.join(cmd)}\n")
        handle.flush()
        return subprocess.run(cmd, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT).returncode


def _tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def _manifest(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))


def ingest(config: Path, run_dir: Path, log: Path) -> dict[str, Any]:
    """`python -m pipeline run --to ingest` (not timed); the ingest stage's stats."""
    status = _run_logged(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "--config",
            str(config),
            "--run-dir",
            str(run_dir),
            "--to",
            "ingest",
        ],
        log,
    )
    if status != 0:
        raise SystemExit(f"ingest failed with status {status}; the end of {log}:\n{_tail(log)}")
    return _manifest(run_dir)["stages"]["ingest"]["stats"]


def measure(case: Case, executor: str, sample_s: float, ingested: int, log: Path) -> dict[str, Any]:
    """The redact stage of one case in a fresh process (this script with --measure), with the manifest's stats."""
    out = case.run_dir.parent / f"measure-w{case.workers}.json"
    result: dict[str, Any] = {
        "rows": case.rows,
        "workers": case.workers,
        **_measure_in_process("redact", case.config, case.run_dir, executor, sample_s, out, log),
    }
    if "failed" in result:
        return result
    entry = _manifest(case.run_dir)["stages"]["redact"]
    stats = entry["stats"]
    result.update(
        total=stats["total"],
        kept=stats["kept"],
        quarantined=stats["quarantined"],
        quarantined_by_reason=stats.get("quarantined_by_reason", {}),
        stage_duration_s=entry.get("duration_s"),
        ingested=ingested,
    )
    result["rows_per_s"] = stats["total"] / result["wall_s"] if result["wall_s"] > 0 else float("nan")
    if stats["total"] != ingested:
        result["failed"] = f"redact total {stats['total']} != {ingested} rows ingested"
    return result


def _measure_in_process(
    stage: str, config: Path, run_dir: Path, executor: str, sample_s: float, out: Path, log: Path
) -> dict[str, Any]:
    """`measure_stage` in a fresh process (this script with --measure): its figures, or `failed` with why."""
    out.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--measure",
        str(config),
        "--stage",
        stage,
        "--run-dir",
        str(run_dir),
        "--executor",
        executor,
        "--sample-s",
        str(sample_s),
        "--out",
        str(out),
    ]
    wall = time.perf_counter()
    status = _run_logged(cmd, log)
    result: dict[str, Any] = {"process_wall_s": time.perf_counter() - wall}
    if status != 0 or not out.exists():
        return {**result, "failed": f"measuring process exited with status {status}; the end of {log}:\n{_tail(log)}"}
    result.update(json.loads(out.read_text(encoding="utf-8")))
    if result["status"] != 0:
        return {
            **result,
            "failed": f"the stage exited with status {result['status']}{_error_line(log)}; "
            f"the end of {log}:\n{_tail(log)}",
        }
    return result


def _error_line(log: Path) -> str:
    """The CLI's last `error: ...` line in the log, as `: error: ...`; "" when there is none."""
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return next((f": {line}" for line in reversed(lines) if line.startswith("error:")), "")


def accounting_problem(stats: dict[str, Any], expected_total: int, expected_from: str) -> str | None:
    """What is wrong with a stage's row accounting: total != kept + quarantined, or total != what it was given."""
    missing = [key for key in ("total", "kept", "quarantined") if key not in stats]
    if missing:
        return f"the stage's stats lack {', '.join(missing)}"
    total, kept, quarantined = stats["total"], stats["kept"], stats["quarantined"]
    if total != kept + quarantined:
        return f"rows lost: total {total} != kept {kept} + quarantined {quarantined}"
    if total != expected_total:
        return f"total {total} != {expected_total} {expected_from}"
    return None


def measure_data_stage(
    rows: int, stage: str, config: Path, run_dir: Path, args: argparse.Namespace, given: tuple[int, str], log: Path
) -> dict[str, Any]:
    """One data stage at one size in a fresh process, with its stats from the manifest; `given`: the rows it must
    have been given and where they came from (the rows generated, placed, or kept by the stage before it)."""
    out = run_dir.parent / f"measure-{stage}.json"
    result: dict[str, Any] = {
        "rows": rows,
        "stage": stage,
        **_measure_in_process(stage, config, run_dir, args.executor, args.sample_s, out, log),
    }
    if "failed" in result:
        return result
    entry = _manifest(run_dir)["stages"][stage]
    stats = entry.get("stats", {})
    result.update(
        {key: stats.get(key) for key in ("total", "kept", "quarantined")},
        quarantined_by_reason=stats.get("quarantined_by_reason", {}),
        stats=stats,
        stage_duration_s=entry.get("duration_s"),
        given=given[0],
        given_from=given[1],
    )
    problem = accounting_problem(stats, *given)
    if problem:
        return {**result, "failed": f"{stage}: {problem}"}
    result["rows_per_s"] = stats["total"] / result["wall_s"] if result["wall_s"] > 0 else float("nan")
    result["ms_per_row"] = 1000 * result["wall_s"] / stats["total"] if stats["total"] else None
    return result


def place(config: Path, run_dir: Path, ingested: int, log: Path) -> dict[str, Any]:
    """`place_redacted` in a fresh process (this script with --place), not timed: the redact stage's manifest entry;
    `failed` when the entry is not current or its rows are not the rows ingest kept."""
    out = run_dir.parent / "place.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--place", str(config), "--run-dir", str(run_dir)]
    status = _run_logged([*cmd, "--out", str(out)], log)
    if status != 0 or not out.exists():
        return {"failed": f"placing the redacted records exited with status {status}; the end of {log}:\n{_tail(log)}"}
    placed = json.loads(out.read_text(encoding="utf-8"))
    if not placed["current"]:
        return {**placed, "failed": "the redact stage's manifest entry is not current after placing (_is_current)"}
    problem = accounting_problem(placed["entry"]["stats"], ingested, "rows ingest kept")
    return {**placed, "failed": f"redact (placed): {problem}"} if problem else placed


def run_data_stages(args: argparse.Namespace, folder: Path) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
    """Generate, then per size: measure ingest, place redact's records, measure check, curate and split; the
    measurements and the placements per size. A size stops at its first failure."""
    started = time.perf_counter()
    data = write_redacted_datasets(args.rows, args.seed, folder)
    _progress(
        f"generated {max(args.rows)} redacted rows (seed {args.seed}) "
        f"in {time.perf_counter() - started:.1f}s, not timed"
    )
    if args.workers is not None and not workers_settings():
        _progress(f"--workers {args.workers}: none of {', '.join(DATA_STAGES)} has a workers setting; not used")
    log = folder / "runs.log"
    results: list[dict[str, Any]] = []
    placed: dict[int, dict[str, Any]] = {}
    for rows in args.rows:
        config = write_data_config(data[rows], args.shard_rows, args.workers)
        run_dir = data[rows].parent / "run"
        given = (rows, "rows generated")
        for stage in DATA_STAGES:
            if stage == "check":
                placed[rows] = place(config, run_dir, given[0], log)
                if "failed" in placed[rows]:
                    results.append({"rows": rows, "stage": "redact", "failed": placed[rows]["failed"]})
                    _progress(_one_line(results[-1]))
                    break
                given = (placed[rows]["entry"]["stats"]["kept"], "rows placed as redacted")
                _progress(f"placed {given[0]} redacted rows in {placed[rows]['wall_s']:.1f}s, not timed")
            _progress(f"measuring {stage}: {rows} rows, executor {args.executor} ...")
            result = measure_data_stage(rows, stage, config, run_dir, args, given, log)
            results.append(result)
            _progress(_one_line(result))
            if "failed" in result:
                break
            given = (result["kept"], f"rows {stage} kept")
        if rows in placed and "failed" not in placed[rows]:
            placed[rows]["redact_untouched"] = _manifest(run_dir)["stages"]["redact"] == placed[rows]["entry"]
            if not placed[rows]["redact_untouched"]:
                placed[rows]["failed"] = "the redact stage's manifest entry changed after it was placed"
                results.append({"rows": rows, "stage": "redact", "failed": placed[rows]["failed"]})
    return results, placed


def _one_line(result: dict[str, Any]) -> str:
    if "failed" in result:
        return f"  FAILED: {result['failed']}"
    worker = "none" if result["worker_peak_rss_mb"] is None else f"{result['worker_peak_rss_mb']:.0f} MiB"
    return (
        f"  {result['wall_s']:.1f}s, {result['rows_per_s']:.1f} rows/s, parent {result['parent_peak_rss_mb']:.0f} MiB, "
        f"largest worker {worker}"
    )


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# --- output -----------------------------------------------------------------------------------------------------


def _num(value: float | None, width: int, digits: int = 0) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def format_table(results: list[dict[str, Any]]) -> str:
    """One line per measurement; speed-up against the smallest worker count at the same size."""
    ok = [r for r in results if "failed" not in r]
    base = {}
    for r in ok:
        if r["rows"] not in base or r["workers"] < base[r["rows"]]["workers"]:
            base[r["rows"]] = r
    head = (
        f"{'rows':>7} {'workers':>7} {'wall s':>8} {'rows/s':>8} {'speed-up':>8} {'CPU s':>8} "
        f"{'parent RSS MiB':>14} {'worker RSS MiB':>14} {'quarant.':>8} {'others %':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        if "failed" in r:
            lines.append(f"{r['rows']:>7} {r['workers']:>7}  FAILED: {r['failed'].splitlines()[0]}")
            continue
        others = None if r["others_share"] is None else 100 * r["others_share"]
        lines.append(
            f"{r['rows']:>7} {r['workers']:>7} {r['wall_s']:>8.1f} {r['rows_per_s']:>8.1f} "
            f"{base[r['rows']]['wall_s'] / r['wall_s']:>8.2f} {r['cpu_s']:>8.1f} "
            f"{_num(r['parent_peak_rss_mb'], 14)} {_num(r['worker_peak_rss_mb'], 14)} {r['quarantined']:>8} {_num(others, 8)}"
        )
    return "\n".join(lines)


def memory_ratios(results: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Per worker count: peak RSS (parent, largest worker) at the largest size over the smallest."""
    ratios: dict[int, dict[str, Any]] = {}
    for workers in sorted({r["workers"] for r in results}):
        done = sorted((r for r in results if r["workers"] == workers and "failed" not in r), key=lambda r: r["rows"])
        if len(done) < 2 or done[0]["rows"] == done[-1]["rows"]:
            continue
        small, large = done[0], done[-1]
        entry: dict[str, Any] = {"small_rows": small["rows"], "large_rows": large["rows"]}
        for key in ("parent_peak_rss_mb", "worker_peak_rss_mb"):
            entry[key] = large[key] / small[key] if large[key] and small[key] else None
        ratios[workers] = entry
    return ratios


def format_ratios(ratios: dict[int, dict[str, Any]]) -> str:
    lines = []
    for workers, r in ratios.items():
        parts = [
            f"{name} x{r[key]:.2f}"
            for name, key in (("parent", "parent_peak_rss_mb"), ("largest worker", "worker_peak_rss_mb"))
            if r[key] is not None
        ]
        lines.append(
            f"  {workers} worker(s): {', '.join(parts)}  ({r['large_rows']} rows vs {r['small_rows']}; "
            f"input x{r['large_rows'] / r['small_rows']:.1f})"
        )
    return "\n".join(lines)


MAX_RATIO = 1.5  # the targets: peak RSS and cost per row at the largest size within 1.5x the smallest's
MAX_RSS_MB = 6e9 / 2**20  # and every process's peak under 6 GB (5722 MiB)
TARGETS = (  # (the column, the key in a stage's targets, the most that passes)
    ("parent RSS x", "parent_rss_ratio", MAX_RATIO),
    ("worker RSS x", "worker_rss_ratio", MAX_RATIO),
    ("peak RSS MiB", "peak_rss_mb", MAX_RSS_MB),
    ("wall/row x", "cost_ratio", MAX_RATIO),
)


def format_data_table(results: list[dict[str, Any]]) -> str:
    """One line per (size, stage)."""
    head = (
        f"{'rows':>8} {'stage':>7} {'wall s':>8} {'rows/s':>9} {'ms/row':>7} {'CPU s':>8} {'parent RSS MiB':>14} "
        f"{'worker RSS MiB':>14} {'total':>8} {'kept':>8} {'quarant.':>8} {'others %':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        if "failed" in r:
            lines.append(f"{r['rows']:>8} {r['stage']:>7}  FAILED: {r['failed'].splitlines()[0]}")
            continue
        others = None if r["others_share"] is None else 100 * r["others_share"]
        lines.append(
            f"{r['rows']:>8} {r['stage']:>7} {r['wall_s']:>8.1f} {r['rows_per_s']:>9.1f} {_num(r['ms_per_row'], 7, 3)} "
            f"{r['cpu_s']:>8.1f} {_num(r['parent_peak_rss_mb'], 14)} {_num(r['worker_peak_rss_mb'], 14)} "
            f"{r['total']:>8} {r['kept']:>8} {r['quarantined']:>8} {_num(others, 8)}"
        )
    return "\n".join(lines)


def stage_targets(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per stage measured: peak RSS (parent, largest worker) and wall per row at the largest size finished over the
    smallest, the highest peak RSS of any of its processes at any size, and each against its target (None: not
    judged, e.g. one size only, or no worker)."""
    targets: dict[str, dict[str, Any]] = {}
    for stage in DATA_STAGES:
        done = sorted((r for r in results if r["stage"] == stage and "failed" not in r), key=lambda r: r["rows"])
        if not done:
            continue
        small, large = done[0], done[-1]
        two = large["rows"] > small["rows"]
        entry: dict[str, Any] = {
            "small_rows": small["rows"],
            "large_rows": large["rows"],
            "parent_rss_ratio": _ratio(large["parent_peak_rss_mb"], small["parent_peak_rss_mb"]) if two else None,
            "worker_rss_ratio": _ratio(large["worker_peak_rss_mb"], small["worker_peak_rss_mb"]) if two else None,
            "cost_ratio": _ratio(large["ms_per_row"], small["ms_per_row"]) if two else None,
            "peak_rss_mb": max(max(r["parent_peak_rss_mb"], r["worker_peak_rss_mb"] or 0.0) for r in done),
        }
        entry["passed"] = {key: None if entry[key] is None else entry[key] <= limit for _, key, limit in TARGETS}
        targets[stage] = entry
    return targets


def _ratio(large: float | None, small: float | None) -> float | None:
    return large / small if large and small else None


def format_targets(targets: dict[str, dict[str, Any]]) -> str:
    head = f"{'stage':>7} {'rows':>17}" + "".join(f" {name:>17}" for name, _, _ in TARGETS)
    lines = [head, "-" * len(head)]
    for stage, t in targets.items():
        cells = []
        for _, key, _ in TARGETS:
            value, passed = t[key], t["passed"][key]
            digits = 0 if key == "peak_rss_mb" else 2
            cells.append(f"{'-':>17}" if value is None else f"{value:>12.{digits}f} {'PASS' if passed else 'FAIL'}")
        lines.append(f"{stage:>7} {t['large_rows']:>8}/{t['small_rows']:<8}" + "".join(f" {c}" for c in cells))
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from error
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Throughput (rows/s), CPU and peak RSS of the redact stage for each worker count and input size, "
        "each measured in a fresh process; and whether memory follows shard size rather than input size. With "
        "--data-stages: the same for ingest, check, curate and split on generated, already-redacted records, "
        "against the targets for memory and cost per row."
    )
    parser.add_argument(
        "--data-stages",
        action="store_true",
        help="measure ingest, check, curate and split instead of redact; redact's outputs are placed, not made",
    )
    parser.add_argument(
        "--rows",
        type=_int_list,
        help="input sizes (default 10000,50000; with --data-stages 100000,300000,1000000; e.g. 300,600 or "
        "2000,5000 for a quick check)",
    )
    parser.add_argument(
        "--workers",
        type=_int_list,
        help="redact.workers values (default 1,2); with --data-stages one value, written as `workers` into the "
        "section of each measured stage that has that setting (default: the stages' own)",
    )
    parser.add_argument(
        "--shard-rows",
        type=int,
        default=200,
        help="redact.shard_rows (default 200; with --data-stages the row groups of the placed records)",
    )
    parser.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="passed to the stage (default local; ray needs the ray package)",
    )
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument(
        "--sample-s", type=float, default=0.5, help="how often worker memory is read from /proc (default 0.5 s)"
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="keep data, configs, run directories and logs here (default: a temporary folder, removed)",
    )
    parser.add_argument("--json", type=Path, help="also write the settings and measurements to this file")
    parser.add_argument(
        "--measure", type=Path, metavar="CONFIG", help=argparse.SUPPRESS
    )  # internal: the measuring process
    parser.add_argument("--stage", default="redact", help=argparse.SUPPRESS)  # internal: the stage it measures
    parser.add_argument("--place", type=Path, metavar="CONFIG", help=argparse.SUPPRESS)  # internal: placing redact's
    parser.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return parser


def run_all(args: argparse.Namespace, folder: Path) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
    """Generate, ingest each size, then measure every (size, workers); the measurements and ingest stats per size."""
    started = time.perf_counter()
    data = write_datasets(args.rows, args.seed, folder)
    print(
        f"generated {max(args.rows)} rows (seed {args.seed}) in {time.perf_counter() - started:.1f}s, not timed",
        file=sys.stderr,
        flush=True,
    )
    log = folder / "runs.log"
    results: list[dict[str, Any]] = []
    ingested: dict[int, dict[str, Any]] = {}
    for rows in args.rows:
        configs = {w: write_config(data[rows], w, args.shard_rows) for w in args.workers}
        run_dir = data[rows].parent / "run"
        ingested[rows] = ingest(configs[args.workers[0]], run_dir, log)
        print(
            f"ingested {rows} rows: kept {ingested[rows]['kept']}, quarantined {ingested[rows]['quarantined']}",
            file=sys.stderr,
            flush=True,
        )
        for workers in args.workers:
            print(
                f"measuring redact: {rows} rows, {workers} worker(s), executor {args.executor} ...",
                file=sys.stderr,
                flush=True,
            )
            result = measure(
                Case(rows, workers, configs[workers], run_dir),
                args.executor,
                args.sample_s,
                ingested[rows]["kept"],
                log,
            )
            _progress(_one_line(result))
            results.append(result)
    return results, ingested


INTERNAL_ARGUMENTS = ("measure", "stage", "place", "run_dir", "out", "json", "work_dir")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.measure:
        result = measure_stage(args.measure, args.run_dir, args.executor, args.sample_s, args.stage)
        args.out.write_text(json.dumps(result), encoding="utf-8")
        return 0
    if args.place:
        args.out.write_text(json.dumps(place_redacted(args.place, args.run_dir)), encoding="utf-8")
        return 0
    if args.executor == "ray" and importlib.util.find_spec("ray") is None:
        print(
            "error: --executor ray needs the ray package, which is not installed in this environment: "
            "install the project's [ray] extra (pip install -e '.[ray]'), or use --executor local",
            file=sys.stderr,
        )
        return 2
    if not args.data_stages:
        args.rows, args.workers = args.rows or [10000, 50000], args.workers or [1, 2]
        return redact_main(args)
    if args.workers is not None and len(args.workers) > 1:
        parser.error(f"--data-stages measures one worker count; got --workers {','.join(map(str, args.workers))}")
    args.rows = args.rows or [100000, 300000, 1000000]
    args.workers = args.workers[0] if args.workers else None
    return data_stages_main(args)


@contextmanager
def work_folder(args: argparse.Namespace) -> Iterator[Path]:
    """--work-dir, kept; else a temporary folder, removed at the end."""
    if args.work_dir:
        args.work_dir.mkdir(parents=True, exist_ok=True)
        yield args.work_dir.resolve()
        return
    folder = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def redact_main(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    with work_folder(args) as folder:
        results, ingested = run_all(args, folder)

    print(
        f"\nredact stage, shard_rows {args.shard_rows}, executor {args.executor}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(format_table(results))
    print(
        "wall s: the stage call in a fresh process, worker start and engine loading included; rows/s = rows redacted / wall; "
        "speed-up: wall at the smallest worker count / wall, same size; CPU s: the process + its finished workers; "
        "RSS: peak (VmHWM) of the process running the stage / of its largest worker (- : none, the stage ran in the process); "
        "others %: share of the machine's CPU other processes used meanwhile"
    )
    ratios = memory_ratios(results)
    if ratios:
        print(
            "\npeak RSS, largest size / smallest (about 1.0: bounded by shard size; about the input ratio: grows with the input):"
        )
        print(format_ratios(ratios))
    failed = [r for r in results if "failed" in r]
    print(
        f"\ntotal {time.perf_counter() - started:.0f}s" + (f"; {len(failed)} measurement(s) FAILED" if failed else "")
    )
    if args.json:
        _write_json(
            args,
            ingest=ingested,
            results=results,
            memory_ratios={str(k): v for k, v in ratios.items()},
        )
    return 1 if failed else 0


def data_stages_main(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    with work_folder(args) as folder:
        results, placed = run_data_stages(args, folder)

    workers = f"workers {args.workers}" if args.workers is not None and workers_settings() else "the stages' workers"
    print(
        f"\ndata stages (redact placed, not run), {workers}, executor {args.executor}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    print(format_data_table(results))
    print(
        "wall s: the stage call in a fresh process; rows/s = the stage's total / wall; ms/row = wall / total; "
        "CPU s: the process + its finished child processes; RSS: peak (VmHWM) of the process running the stage / of "
        "its largest worker (- : none); total, kept, quarant.: the stage's stats (total = kept + quarant. = the rows "
        "it was given); others %: share of the machine's CPU other processes used meanwhile"
    )
    targets = stage_targets(results)
    if targets:
        print(
            f"\ntargets, largest size / smallest: peak RSS and wall per row at most x{MAX_RATIO}, every process's "
            f"peak RSS at most {MAX_RSS_MB:.0f} MiB (6 GB) at any size:"
        )
        print(format_targets(targets))
    failed = [r for r in results if "failed" in r]
    missed = [f"{stage} {key}" for stage, t in targets.items() for key, ok in t["passed"].items() if ok is False]
    measured = {(r["rows"], r["stage"]) for r in results if "failed" not in r}
    unmeasured = [f"{rows} rows" for rows in args.rows if any((rows, stage) not in measured for stage in DATA_STAGES)]
    print(
        f"\ntotal {time.perf_counter() - started:.0f}s"
        + (f"; {len(failed)} measurement(s) FAILED" if failed else "")
        + (f"; not every stage measured at {', '.join(unmeasured)}" if unmeasured else "")
        + (f"; targets missed: {', '.join(missed)}" if missed else "; every target judged passed" if targets else "")
    )
    if args.json:
        _write_json(args, placed={str(k): v for k, v in placed.items()}, results=results, targets=targets)
    return 1 if failed or missed or unmeasured else 0


def _write_json(args: argparse.Namespace, **measured: Any) -> None:
    settings = {key: value for key, value in vars(args).items() if key not in INTERNAL_ARGUMENTS}
    document = {"settings": settings, "cpus": os.cpu_count(), "python": platform.python_version(), **measured}
    args.json.write_text(json.dumps(document, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
