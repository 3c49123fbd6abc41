"""Generate the bundled synthetic customer-support sample dataset.

Usage: python -m pipeline.sample_data.generate [--out DIR] [--seed 7]

Writes tickets.csv, chat_export.jsonl, chat_messages.jsonl (support
conversations in the messages form: role and content per turn) and
planted.json (ground truth of the planted anomalies). Dev-only: needs Faker.
Output is byte-identical per seed; chat_messages.jsonl draws from its own
random streams, so the other files are as they were before it existed.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from faker import Faker

from pipeline.sample_data import templates as tpl
from pipeline.sample_data.values import AGENTS, digits, fmt_amount, fmt_date, make_card, make_email, make_phone, pick

LABELS = ["billing", "technical_issue", "account_access", "shipping", "refund_request", "fraud_report"]
MISSING = ["", "N/A", "n/a", "Not Provided", "null", "NULL", "-", "None"]
HEADER = [
    "Ticket ID",
    "Created At",
    "Customer ID",
    "Customer Name",
    "Customer Email",
    "Customer Phone",
    "Gender",
    "Age Band",
    "Channel",
    "Subject",
    "Description",
    "Category",
    "Priority",
]
LOCALES = {"en_US": 45, "en_GB": 20, "de_DE": 12, "fr_FR": 10, "en_IN": 13}
GENDERS = {"female": 46, "male": 44, "nonbinary": 4, "prefer not to say": 6}
AGE_BANDS = {"18-24": 12, "25-34": 22, "35-44": 21, "45-54": 18, "55-64": 15, "65+": 12}
CHANNELS = {"email": 35, "web": 30, "phone": 20, "chat": 15}
BASE_RATES = {
    "billing": 20,
    "technical_issue": 20,
    "account_access": 15,
    "shipping": 18,
    "refund_request": 15,
    "fraud_report": 12,
}
AGE_EFFECTS = {
    "18-24": {"technical_issue": 1.9, "fraud_report": 0.6},
    "25-34": {"technical_issue": 1.6},
    "55-64": {"fraud_report": 1.8, "account_access": 1.5, "technical_issue": 0.7},
    "65+": {"fraud_report": 2.2, "account_access": 1.8, "technical_issue": 0.6},
}
GENDER_EFFECTS = {"female": {"billing": 1.6}, "male": {"technical_issue": 1.2, "shipping": 1.1}}
PRIORITY_RATES = {"fraud_report": [5, 25, 40, 30], "account_access": [15, 45, 28, 12]}
PRIORITIES, DEFAULT_PRIORITY = ["low", "normal", "high", "urgent"], [25, 50, 18, 7]
TICKETS_PER_CUSTOMER = [37, 22, 13, 9, 6, 4, 3, 2, 2, 1]  # weights for 1..10 tickets
N_CUSTOMERS, N_CHATS, MIN_DESC, MAX_DESC = 1500, 800, 150, 900
N_CONVERSATIONS = 300
USER_TURNS = [2, 5, 3]  # weights for 1..3 customer turns, each answered by the agent
MESSAGES_STREAM = 1000  # chat_messages.jsonl's random streams: the seed plus this
MALFORMED_MESSAGES = "malformed_messages"  # the ingest stage's quarantine reason for the planted flaws
START = datetime(2025, 1, 1)
END = datetime(2025, 12, 31, 23, 59, 59)


@dataclass
class Customer:
    """One synthetic customer; attributes are shared by all their tickets and chats."""

    cid: str
    first: str
    last: str
    email: str | None
    phone: str | None
    gender: str | None
    age_band: str | None
    locale: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


@dataclass
class Ticket:
    """One helpdesk ticket before it is rendered as a CSV row."""

    created: datetime
    cust: Customer
    channel: str
    subject: str
    description: str
    category: str
    priority: str | None
    tid: str = ""


def random_time(rng: random.Random) -> datetime:
    return START + timedelta(seconds=rng.randrange(int((END - START).total_seconds())))


def make_customer(rng: random.Random, fakers: dict[str, Faker], idx: int) -> Customer:
    locale, gender = pick(rng, LOCALES), pick(rng, GENDERS)
    fake = fakers[locale]
    first = {"female": fake.first_name_female, "male": fake.first_name_male}.get(gender, fake.first_name)()
    last = fake.last_name()
    return Customer(
        cid=f"CUST-{idx:05d}",
        first=first,
        last=last,
        email=None if rng.random() < 0.04 else make_email(rng, first, last),
        phone=None if rng.random() < 0.08 else make_phone(rng, locale),
        gender=None if rng.random() < 0.09 else gender,
        age_band=None if rng.random() < 0.07 else pick(rng, AGE_BANDS),
        locale=locale,
    )


def label_weights(cust: Customer) -> dict[str, float]:
    """Label distribution for a customer, shifted by age band and gender."""
    weights = dict(BASE_RATES)
    for effects in (AGE_EFFECTS.get(cust.age_band or "", {}), GENDER_EFFECTS.get(cust.gender or "", {})):
        for label, factor in effects.items():
            weights[label] *= factor
    return weights


def make_slots(rng: random.Random, fakers: dict[str, Faker], cust: Customer) -> dict[str, str]:
    """Values (mostly PII) that text templates can refer to."""
    fake = fakers[cust.locale]
    agent, emp = rng.choice(AGENTS)
    card = make_card(rng)
    return {
        "name": cust.name,
        "first": cust.first,
        "agent": agent,
        "emp": emp,
        "spouse": f"{fake.first_name()} {cust.last}",
        "rel": rng.choice(["husband", "wife", "partner"]),
        "email": cust.email or make_email(rng, cust.first, cust.last),
        "alt_email": make_email(rng, cust.first, fake.last_name()),
        "phone": cust.phone or make_phone(rng, cust.locale),
        "alt_phone": make_phone(rng, pick(rng, LOCALES)),
        "card": card,
        "last4": card[-4:],
        "acc": f"ACC-{digits(rng, 8)}",
        "order": rng.choice([f"ORD-{digits(rng, 7)}", f"#{rng.randint(1000000, 9999999)}"]),
        "date": fmt_date(rng),
        "date2": fmt_date(rng),
        "dob": fmt_date(rng, 1950, 55),
        "amount": fmt_amount(rng, cust.locale),
        "code": f"E-{rng.randint(100, 599)}",
        "addr": fake.address().replace("\n", ", "),
    }


def assemble(opener: str, core: list[str], extra: list[str], closing: str, single: bool) -> str:
    parts = [f"{opener} {' '.join(core)}", " ".join(extra), closing]
    text = ("\n\n" if not single else " ").join(p for p in parts if p)
    return text.replace("\n", " ") if single else text


def make_description(
    rng: random.Random, category: str, slots: dict[str, str], single: bool, max_len: int = MAX_DESC
) -> str:
    """Free text: category sentences mixed with PII, filler and sometimes another topic."""
    fill = lambda template: template.format_map(slots)  # noqa: E731
    if rng.random() < 0.08:
        core = [rng.choice(tpl.VAGUE)]
    else:
        core = [fill(t) for t in rng.sample(tpl.CORE[category], rng.choice((1, 1, 2)))]
    if rng.random() < 0.25:
        other = rng.choice([label for label in LABELS if label != category])
        core.append(fill(rng.choice(tpl.CORE[other])))
    extra = [fill(t) for t in rng.sample(tpl.PII_LINES, rng.randint(1, 2))] + rng.sample(tpl.FILLER, rng.randint(0, 2))
    rng.shuffle(extra)
    if rng.random() < 0.04:
        extra.append(fill(rng.choice(tpl.MASKED_LINES)))
    opener, closing = fill(rng.choice(tpl.OPENERS)), fill(rng.choice(tpl.CLOSINGS))
    text = assemble(opener, core, extra, closing, single)
    while len(text) > max_len and (extra or len(core) > 1):
        (extra or core).pop()
        text = assemble(opener, core, extra, closing, single)
    while len(text) < MIN_DESC:
        extra.append(rng.choice(tpl.FILLER))
        text = assemble(opener, core, extra, closing, single)
    return text


def make_subject(rng: random.Random, category: str, slots: dict[str, str]) -> str:
    pool = tpl.GENERIC_SUBJECTS if rng.random() < 0.2 else tpl.SUBJECTS[category]
    return rng.choice(pool).format_map(slots)


def make_ticket(rng: random.Random, fakers: dict[str, Faker], cust: Customer) -> Ticket:
    category = pick(rng, label_weights(cust))
    slots = make_slots(rng, fakers, cust)
    priority = dict(zip(PRIORITIES, PRIORITY_RATES.get(category, DEFAULT_PRIORITY), strict=True))
    return Ticket(
        created=random_time(rng),
        cust=cust,
        channel=pick(rng, CHANNELS),
        subject=make_subject(rng, category, slots),
        description=make_description(rng, category, slots, single=rng.random() < 0.35),
        category=category,
        priority=None if rng.random() < 0.03 else pick(rng, priority),
    )


def near_duplicate(rng: random.Random, text: str) -> str:
    """Small edits: synonym swaps, a typo, an added/removed sentence, whitespace changes."""
    out = text
    for edit in rng.sample(["swap", "typo", "add", "drop", "space"], rng.randint(1, 3)):
        if edit == "swap":
            for old, new in [p for p in tpl.SYNONYMS if re.search(rf"\b{p[0]}\b", out)][:2]:
                out = re.sub(rf"\b{old}\b", new, out, count=1)
        elif edit == "typo":
            parts = out.split(" ")
            words = [i for i, w in enumerate(parts) if w.isalpha() and len(w) > 4]
            if words:
                i = rng.choice(words)
                w, j = parts[i], rng.randrange(1, len(parts[i]) - 2)
                parts[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
                out = " ".join(parts)
        elif edit == "add" and len(out) < 820:
            out = out.replace(". ", f". {rng.choice(tpl.FILLER)} ", 1)
        elif edit == "drop":
            sentences = out.split(". ")
            short = [i for i, piece in enumerate(sentences[1:-1], 1) if len(piece) < 120 and "\n" not in piece]
            if short and len(out) > MIN_DESC + 150:
                del sentences[rng.choice(short)]
                out = ". ".join(sentences)
        elif edit == "space":
            out = rng.choice([out.replace(" ", "  ", 2), out.replace("\n\n", "\n", 1), out + " \n"])
    return out if out != text else text + " Thanks again."


def follow_on(rng: random.Random, orig: Ticket, description: str) -> Ticket:
    """A later ticket from the same customer with the same subject and the given text."""
    created = min(END, orig.created + timedelta(minutes=rng.randint(3, 4 * 24 * 60)))
    return Ticket(
        created,
        orig.cust,
        pick(rng, CHANNELS),
        orig.subject,
        description,
        orig.category,
        rng.choice(["normal", "high", "urgent"]),
    )


def show(rng: random.Random, value: str | None) -> str:
    """The value, or one of the missing-value spellings."""
    return value if value is not None else rng.choice(MISSING)


def ticket_fields(rng: random.Random, t: Ticket) -> list[str]:
    c = t.cust
    return [
        t.tid,
        f"{t.created:%Y-%m-%d %H:%M:%S}",
        c.cid,
        c.name,
        show(rng, c.email),
        show(rng, c.phone),
        show(rng, c.gender),
        show(rng, c.age_band),
        t.channel,
        t.subject,
        t.description,
        t.category,
        show(rng, t.priority),
    ]


def unquoted_line(fields: list[str]) -> str:
    """A row written without quoting, so the comma-bearing description spills into extra fields."""
    flat = [f.replace("\n", " ").replace('"', "") for f in fields]
    flat[10] += "" if "," in flat[10] else ", thanks"
    return ",".join(flat) + "\r\n"


def csv_line(fields: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n").writerow(fields)
    return buf.getvalue()


def line_numbers(chunks: list[bytes], first_line: int) -> list[int]:
    """1-based physical line on which each chunk starts."""
    numbers, line = [], first_line
    for chunk in chunks:
        numbers.append(line)
        line += chunk.count(b"\n")
    return numbers


def build_tickets(rng: random.Random, fakers: dict[str, Faker], customers: list[Customer]) -> dict:
    """All tickets in time order with ids, plus the planted duplicate pairs."""
    base = [
        make_ticket(rng, fakers, c)
        for c in customers
        for _ in range(rng.choices(range(1, 11), TICKETS_PER_CUSTOMER)[0])
    ]
    origins = rng.sample(base, 110)
    exact = [(o, follow_on(rng, o, o.description)) for o in origins[:30]]
    near = [(o, follow_on(rng, o, near_duplicate(rng, o.description))) for o in origins[30:]]
    tickets = sorted(base + [d for _, d in exact + near], key=lambda t: t.created)
    for i, t in enumerate(tickets):
        t.tid = f"TCK-{100001 + i}"
    involved = {t.tid for pair in exact + near for t in pair}
    return {"tickets": tickets, "exact": exact, "near": near, "plain": [t for t in tickets if t.tid not in involved]}


def cp1252_safe(t: Ticket) -> bool:
    try:
        (t.cust.name + t.subject + t.description + (t.cust.email or "")).encode("cp1252")
    except UnicodeEncodeError:
        return False
    return len(t.description) < 760


def plant_ticket_flaws(rng: random.Random, built: dict) -> dict[str, list[Ticket]]:
    """Pick disjoint plain tickets for each flaw and apply the text/label flaws."""
    one_line = [t for t in built["plain"] if "\n" not in t.description]
    flaws = {"cross_source": rng.sample(one_line, 20)}
    flaws["cp1252"] = rng.sample([t for t in built["plain"] if cp1252_safe(t) and t not in flaws["cross_source"]], 5)
    taken = {t.tid for t in flaws["cross_source"] + flaws["cp1252"]}
    rest = [t for t in built["plain"] if t.tid not in taken]
    sizes = {
        "mislabelled": round(0.03 * len(built["tickets"])),
        "missing_text": 4,
        "missing_label": 5,
        "reexport": 20,
        "too_many": 3,
        "too_few": 3,
    }
    picks, start = rng.sample(rest, sum(sizes.values())), 0
    for name, size in sizes.items():
        flaws[name], start = sorted(picks[start : start + size], key=lambda t: t.tid), start + size
    for t in flaws["cp1252"]:
        head, sep, tail = t.description.partition(". ")
        line = rng.choice(tpl.CP1252_LINES)
        t.description = f"{head}{sep}{line} {tail}" if sep else f"{line} {head}"
    for t in flaws["mislabelled"]:
        t.category = rng.choice([label for label in LABELS if label != t.category])
    for t in flaws["missing_text"]:
        t.subject, t.description = rng.choice(["N/A", "", "Not Provided", "-"]), rng.choice(["", "N/A", "null"])
    for t, token in zip(flaws["missing_label"], ["N/A", "", "Not Provided", "", "n/a"], strict=True):
        t.category = token
    return flaws


def render_csv(rng: random.Random, built: dict, flaws: dict[str, list[Ticket]]) -> tuple[bytes, dict]:
    """tickets.csv bytes and its ground-truth section."""
    kinds = {t.tid: name for name in ("cp1252", "too_many", "too_few") for t in flaws[name]}
    entries: list[tuple[str, str, bytes]] = []
    for t in built["tickets"]:
        fields, kind = ticket_fields(rng, t), kinds.get(t.tid, "row")
        if kind == "too_many":
            entries.append((kind, t.tid, unquoted_line(fields).encode()))
        elif kind == "too_few":
            entries.append((kind, t.tid, csv_line(fields[: rng.randint(4, 9)]).encode()))
        else:
            entries.append((kind, t.tid, csv_line(fields).encode("cp1252" if kind == "cp1252" else "utf-8")))
    for t in flaws["reexport"]:
        pos = next(i for i, e in enumerate(entries) if e[1] == t.tid)
        entries.insert(rng.randint(pos + 1, len(entries)), ("reexport", t.tid, entries[pos][2]))
    for kind, raw in [("blank", b"\r\n"), ("all_empty", b",,,,,,,,,,,,\r\n")]:
        entries.insert(rng.randint(100, len(entries) - 100), (kind, "", raw))
    head = b"\xef\xbb\xbf" + csv_line(HEADER).encode()
    lines = line_numbers([e[2] for e in entries], 2)
    at = lambda kind: [n for n, e in zip(lines, entries, strict=True) if e[0] == kind]  # noqa: E731
    first_line = {e[1]: n for n, e in zip(lines, entries, strict=True) if e[0] != "reexport"}
    reexports = [[e[1], first_line[e[1]], n] for n, e in zip(lines, entries, strict=True) if e[0] == "reexport"]
    body = b"".join(e[2] for e in entries)
    truth = {
        "encoding": "utf-8-sig",
        "line_terminator": "\r\n",
        "physical_lines": 1 + body.count(b"\n"),
        "data_records": sum(e[0] != "blank" for e in entries),
        "blank_lines": 1,
        "blank_line_numbers": at("blank"),
        "too_many_fields": at("too_many"),
        "too_few_fields": at("too_few"),
        "all_fields_empty": at("all_empty"),
        "missing_text": [t.tid for t in flaws["missing_text"]],
        "missing_label": [t.tid for t in flaws["missing_label"]],
        "cp1252_rows": sorted(t.tid for t in flaws["cp1252"]),
        "cp1252_lines": at("cp1252"),
        "exact_reexports": sorted(reexports),
        "exact_text_duplicates": sorted([o.tid, d.tid] for o, d in built["exact"]),
        "near_duplicates": sorted([o.tid, d.tid] for o, d in built["near"]),
        "mislabelled": sorted(t.tid for t in flaws["mislabelled"]),
    }
    return head + body, truth


def make_chat(
    rng: random.Random, fakers: dict[str, Faker], cust: Customer, topic: str, message: str, opened: datetime
) -> dict:
    """One nested chat-platform record; the first customer turn is `message`."""
    slots = make_slots(rng, fakers, cust)
    turns = [
        f"Customer: {message}",
        "Agent: " + rng.choice(tpl.AGENT_LINES),
        "Customer: " + rng.choice(tpl.FOLLOW_UPS),
        "Agent: " + rng.choice(tpl.AGENT_CLOSINGS),
    ]
    nullish = lambda v: v if v is not None else rng.choice([None, "N/A", "Not Provided"])  # noqa: E731
    record = {
        "conversation_id": "",
        "opened_at": f"{opened:%Y-%m-%dT%H:%M:%SZ}",
        "customer": {"id": cust.cid, "name": cust.name, "email": nullish(cust.email), "phone": nullish(cust.phone)},
        "profile": {"gender": nullish(cust.gender), "age_band": nullish(cust.age_band)},
        "channel": "chat",
        "transcript": turns[0] + "\n" + "\n".join(turns[1:]).format_map(slots),
        "topic": topic,
        "csat": rng.randint(1, 5),
    }
    if rng.random() < 0.12:
        del record["csat"]
    return record


def render_chats(
    rng: random.Random, fakers: dict[str, Faker], customers: list[Customer], sources: list[Ticket]
) -> tuple[bytes, dict, list[list[str]]]:
    """chat_export.jsonl bytes, its ground-truth section and the cross-source pairs."""
    pairs = [
        (
            t,
            make_chat(
                rng,
                fakers,
                t.cust,
                t.category,
                t.description,
                min(END, t.created + timedelta(hours=rng.randint(1, 72))),
            ),
        )
        for t in sources
    ]
    chats = [chat for _, chat in pairs]
    for _ in range(N_CHATS - len(chats)):
        cust = rng.choice(customers)
        topic = pick(rng, label_weights(cust))
        message = make_description(rng, topic, make_slots(rng, fakers, cust), single=True, max_len=360)
        chats.append(make_chat(rng, fakers, cust, topic, message, random_time(rng)))
    chats.sort(key=lambda c: c["opened_at"])
    for i, chat in enumerate(chats):
        chat["conversation_id"] = f"CHAT-{i + 1:06d}"
    cross = {chat["conversation_id"] for _, chat in pairs}
    broken = rng.sample([c for c in chats if c["conversation_id"] not in cross], 7)
    invalid, array = [c["conversation_id"] for c in broken[:2]], broken[2]["conversation_id"]
    del broken[3]["transcript"]
    broken[4]["transcript"] = None
    for chat in broken[5:7]:
        chat["topic"] = None
    lines = []
    for chat in chats:
        text, kind = json.dumps(chat, ensure_ascii=False), "ok"
        if chat["conversation_id"] in invalid:
            text, kind = text[: len(text) // 2], "invalid"
        elif chat["conversation_id"] == array:
            text, kind = json.dumps([chat], ensure_ascii=False), "array"
        lines.append((kind, (text + "\n").encode()))
    for _ in range(2):
        lines.insert(rng.randint(50, len(lines) - 50), ("blank", b"\n"))
    numbers = line_numbers([raw for _, raw in lines], 1)
    truth = {
        "encoding": "utf-8",
        "line_terminator": "\n",
        "physical_lines": len(lines),
        "lines": sum(k != "blank" for k, _ in lines),
        "blank_lines": 2,
        "blank_line_numbers": [n for n, (k, _) in zip(numbers, lines, strict=True) if k == "blank"],
        "invalid_json": [n for n, (k, _) in zip(numbers, lines, strict=True) if k == "invalid"],
        "not_an_object": [n for n, (k, _) in zip(numbers, lines, strict=True) if k == "array"],
        "missing_text": sorted(c["conversation_id"] for c in broken[3:5]),
        "missing_label": sorted(c["conversation_id"] for c in broken[5:7]),
    }
    return b"".join(raw for _, raw in lines), truth, sorted([t.tid, c["conversation_id"]] for t, c in pairs)


def chat_opening(rng: random.Random, topic: str, slots: dict[str, str]) -> tuple[str, int]:
    """The customer's first message, on one line (opener, one CORE sentence, some personal details, a closing),
    and the index of its CORE sentence, which the agent's answer follows."""
    fill = lambda template: template.format_map(slots)  # noqa: E731
    core = rng.randrange(len(tpl.CORE[topic]))
    extra = [fill(t) for t in rng.sample(tpl.PII_LINES, rng.randint(1, 2))] + rng.sample(tpl.FILLER, rng.randint(0, 2))
    rng.shuffle(extra)
    parts = [fill(rng.choice(tpl.OPENERS)), fill(tpl.CORE[topic][core]), *extra, fill(rng.choice(tpl.CLOSINGS))]
    return " ".join(part.replace("\n", " ") for part in parts if part), core


def agent_reply(rng: random.Random, topic: str, core: int, slots: dict[str, str]) -> str:
    """The agent's answer to the customer's first message: a greeting, what was done about it, sometimes one of
    the customer's details repeated back (so the agent's turns need redacting too), and often a next step."""
    parts = [rng.choice(tpl.CHAT_GREETINGS), tpl.CHAT_REPLIES[topic][core]]
    if rng.random() < 0.35:
        parts.append(rng.choice(tpl.CHAT_ECHOES))
    if rng.random() < 0.6:
        parts.append(rng.choice(tpl.CHAT_NEXT_STEPS))
    return " ".join(parts).format_map(slots)


def make_conversation(rng: random.Random, fakers: dict[str, Faker], cust: Customer, topic: str) -> list[dict]:
    """A support chat in the messages form: 1-3 customer turns, each answered by the agent."""
    slots = make_slots(rng, fakers, cust)
    fill = lambda template: template.format_map(slots)  # noqa: E731
    turns = rng.choices(range(1, 4), USER_TURNS)[0]
    opening, core = chat_opening(rng, topic, slots)
    pairs = [(opening, agent_reply(rng, topic, core, slots))]
    if turns >= 2:
        question = rng.randrange(len(tpl.CHAT_USER_FOLLOW_UPS[topic]))
        pairs.append(
            (fill(tpl.CHAT_USER_FOLLOW_UPS[topic][question]), fill(tpl.CHAT_AGENT_FOLLOW_UPS[topic][question]))
        )
    if turns == 3:
        pairs.append((fill(rng.choice(tpl.CHAT_USER_CLOSINGS)), fill(rng.choice(tpl.CHAT_AGENT_SIGNOFFS))))
    return [
        {"role": role, "content": content}
        for user, agent in pairs
        for role, content in (("user", user), ("assistant", agent))
    ]


def plant_message_flaws(rng: random.Random, conversations: list[dict]) -> dict[str, str]:
    """Three conversations made malformed, one way each; returns flaw -> conversation id."""
    unknown_role, not_a_string, not_a_list = rng.sample(conversations, 3)
    unknown_role["messages"][1]["role"] = "robot"
    # a multi-part content, as some chat APIs write it: a list of parts instead of a string
    message = not_a_string["messages"][0]
    message["content"] = [{"type": "text", "text": message["content"]}]
    # the conversation flattened into one transcript string
    not_a_list["messages"] = "\n".join(f"{m['role'].title()}: {m['content']}" for m in not_a_list["messages"])
    return {
        "unknown_role": unknown_role["conversation_id"],
        "content_not_a_string": not_a_string["conversation_id"],
        "not_a_list": not_a_list["conversation_id"],
    }


def render_messages(seed: int, customers: list[Customer]) -> tuple[bytes, dict]:
    """chat_messages.jsonl bytes and its ground-truth section, from their own random streams (`seed` +
    MESSAGES_STREAM), so that adding this file changed none of the others."""
    rng, fakers = random.Random(seed + MESSAGES_STREAM), make_fakers(seed + MESSAGES_STREAM)
    conversations = []
    for i in range(N_CONVERSATIONS):
        cust = rng.choice(customers)
        topic = pick(rng, label_weights(cust))
        conversations.append(
            {
                "conversation_id": f"CONV-{i + 1:06d}",
                "customer": {"id": cust.cid, "name": cust.name, "email": cust.email},
                "profile": {"gender": cust.gender, "age_band": cust.age_band},
                "topic": topic,
                "messages": make_conversation(rng, fakers, cust, topic),
            }
        )
    flaws = plant_message_flaws(rng, conversations)
    truth = {
        "encoding": "utf-8",
        "line_terminator": "\n",
        "lines": len(conversations),
        "malformed_messages": {flaw: flaws[flaw] for flaw in sorted(flaws)},
        "malformed_messages_reason": MALFORMED_MESSAGES,
    }
    return b"".join((json.dumps(c, ensure_ascii=False) + "\n").encode() for c in conversations), truth


def make_fakers(seed: int) -> dict[str, Faker]:
    fakers = {}
    for i, locale in enumerate(LOCALES):
        fakers[locale] = Faker(locale)
        fakers[locale].seed_instance(seed * 100 + i)
    return fakers


def generate(out: Path, seed: int = 7) -> dict:
    """Write the four files into `out` and return the planted ground truth."""
    rng = random.Random(seed)
    fakers = make_fakers(seed)
    customers = [make_customer(rng, fakers, i + 1) for i in range(N_CUSTOMERS)]
    built = build_tickets(rng, fakers, customers)
    flaws = plant_ticket_flaws(rng, built)
    csv_bytes, csv_truth = render_csv(rng, built, flaws)
    chat_bytes, chat_truth, cross = render_chats(rng, fakers, customers, flaws["cross_source"])
    messages_bytes, messages_truth = render_messages(seed, customers)
    planted = {
        "seed": seed,
        "customers": N_CUSTOMERS,
        "labels": LABELS,
        "tickets_csv": csv_truth,
        "chat_export_jsonl": chat_truth,
        "chat_messages_jsonl": messages_truth,
        "cross_source_duplicates": cross,
        "missing_value_spellings": MISSING,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "tickets.csv").write_bytes(csv_bytes)
    (out / "chat_export.jsonl").write_bytes(chat_bytes)
    (out / "chat_messages.jsonl").write_bytes(messages_bytes)
    (out / "planted.json").write_bytes((json.dumps(planted, indent=1) + "\n").encode())
    return planted


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    generate(args.out, args.seed)


if __name__ == "__main__":
    main()
