"""Deterministic generator of labelled PII text for benchmarking detectors.

`generate_sentences(n, seed)` renders `n` template sentences (support-ticket
style) and `generate_documents(n, seed, chars)` joins such sentences into
~`chars`-character tickets. Every PII value is recorded as a gold span
`(start, end, entity)` with `text[start:end]` equal to the value. The same
`(n, seed)` always gives the same output (seeded Faker + random.Random; Faker
is pinned by the project).

Labelling conventions:
- PERSON covers the name only, never a title ("Dr. [Anna Weber]").
- LOCATION covers cities, countries and whole street addresses.
- PHONE_NUMBER includes an extension when there is one ("[020 7946 0958 x204]").
- DATE_TIME covers a date, a time, or a date with its time as one span.
- EMPLOYEE_ID is `EMP-\\d{6}`, ACCOUNT_NUMBER is `ACC-\\d{8}`.
- Order numbers, amounts, product codes, version numbers, ticket ids and the
  like are not PII and are never labelled (negative sentences use only those).

Run `python bench/pii_data.py --n 20` to print samples and entity counts.
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from faker import Faker

Span = tuple[int, int, str]

ENTITIES: tuple[str, ...] = (
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "US_SSN",
    "IBAN_CODE",
    "IP_ADDRESS",
    "LOCATION",
    "DATE_TIME",
    "EMPLOYEE_ID",
    "ACCOUNT_NUMBER",
)
LOCALES: dict[str, float] = {"en_US": 35, "en_GB": 20, "de_DE": 15, "fr_FR": 15, "en_IN": 15}


@dataclass
class LabelledText:
    """A text and its gold PII spans: (start, end, entity), end exclusive, sorted by start."""

    text: str
    spans: list[Span] = field(default_factory=list)


# --------------------------------------------------------------------------- values

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
CITIES: dict[str, list[str]] = {
    "en_US": [
        "New York",
        "Chicago",
        "Houston",
        "Phoenix",
        "Philadelphia",
        "San Antonio",
        "San Diego",
        "Dallas",
        "Austin",
        "Seattle",
        "Denver",
        "Boston",
        "Nashville",
        "Portland",
        "Las Vegas",
        "Atlanta",
        "Miami",
        "Minneapolis",
        "Cleveland",
        "Pittsburgh",
        "Sacramento",
        "Tampa",
    ],
    "en_GB": [
        "London",
        "Manchester",
        "Birmingham",
        "Leeds",
        "Glasgow",
        "Liverpool",
        "Bristol",
        "Edinburgh",
        "Sheffield",
        "Cardiff",
        "Belfast",
        "Nottingham",
        "Leicester",
        "Brighton",
        "Oxford",
        "Cambridge",
        "York",
        "Aberdeen",
        "Southampton",
        "Newcastle",
    ],
    "de_DE": [
        "Berlin",
        "Hamburg",
        "Munich",
        "Cologne",
        "Frankfurt",
        "Stuttgart",
        "Düsseldorf",
        "Leipzig",
        "Dortmund",
        "Essen",
        "Bremen",
        "Dresden",
        "Hanover",
        "Nuremberg",
        "Bonn",
        "Mannheim",
        "Karlsruhe",
        "Freiburg",
    ],
    "fr_FR": [
        "Paris",
        "Marseille",
        "Lyon",
        "Toulouse",
        "Nice",
        "Nantes",
        "Strasbourg",
        "Montpellier",
        "Bordeaux",
        "Lille",
        "Rennes",
        "Reims",
        "Grenoble",
        "Dijon",
        "Angers",
        "Toulon",
    ],
    "en_IN": [
        "Mumbai",
        "Delhi",
        "Bengaluru",
        "Hyderabad",
        "Chennai",
        "Kolkata",
        "Pune",
        "Ahmedabad",
        "Jaipur",
        "Lucknow",
        "Kochi",
        "Chandigarh",
        "Indore",
        "Nagpur",
        "Bhopal",
        "Surat",
    ],
}
COUNTRIES = [
    "the United States",
    "Canada",
    "Mexico",
    "Brazil",
    "Argentina",
    "the United Kingdom",
    "Ireland",
    "France",
    "Germany",
    "Spain",
    "Portugal",
    "Italy",
    "the Netherlands",
    "Belgium",
    "Switzerland",
    "Austria",
    "Poland",
    "Sweden",
    "Norway",
    "Denmark",
    "Finland",
    "Greece",
    "Turkey",
    "Egypt",
    "Nigeria",
    "Kenya",
    "South Africa",
    "India",
    "Pakistan",
    "China",
    "Japan",
    "South Korea",
    "Vietnam",
    "Thailand",
    "Singapore",
    "Indonesia",
    "Australia",
    "New Zealand",
    "Morocco",
    "Chile",
]
TITLES: dict[str, dict[str, list[str]]] = {
    "en": {"m": ["Mr.", "Mr", "Dr.", "Prof."], "f": ["Mrs.", "Ms.", "Ms", "Dr.", "Miss"]},
    "de_DE": {"m": ["Herr", "Dr.", "Herr Dr."], "f": ["Frau", "Dr.", "Frau Dr."]},
    "fr_FR": {"m": ["M.", "Monsieur", "Dr"], "f": ["Mme", "Madame", "Dr"]},
}
EMAIL_DOMAINS: dict[str, list[str]] = {
    "en_US": ["gmail.com", "yahoo.com", "outlook.com", "aol.com", "icloud.com", "acme-corp.com", "northwind.io"],
    "en_GB": ["gmail.com", "hotmail.co.uk", "btinternet.com", "outlook.com", "contoso.co.uk", "nhs.net"],
    "de_DE": ["web.de", "gmx.de", "t-online.de", "gmail.com", "globex.de", "posteo.de"],
    "fr_FR": ["orange.fr", "free.fr", "laposte.net", "gmail.com", "sfr.fr", "initech.fr"],
    "en_IN": ["gmail.com", "rediffmail.com", "yahoo.co.in", "outlook.com", "infosys-mail.in", "tcs.co.in"],
}
US_AREA_CODES = [
    201,
    202,
    206,
    212,
    213,
    215,
    303,
    305,
    312,
    404,
    415,
    503,
    512,
    602,
    617,
    646,
    702,
    713,
    718,
    734,
    808,
    917,
    919,
    972,
]


def _digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def _ascii_slug(name: str) -> str:
    """'Jürgen Müller-Lüdenscheidt' -> 'juergen.mueller-luedenscheidt' style local-part fragment."""
    for src, dst in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"), ("Ä", "ae"), ("Ö", "oe"), ("Ü", "ue")):
        name = name.replace(src, dst)
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9-]", "", name)


def luhn_complete(body: str) -> str:
    """`body` plus the Luhn check digit that makes the whole number valid."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        n = int(ch) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return body + str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(reversed(digits)))
    return total % 10 == 0


def _group(number: str, sizes: tuple[int, ...], sep: str) -> str:
    out, i = [], 0
    for size in sizes:
        out.append(number[i : i + size])
        i += size
    return sep.join(out)


# length -> list of (prefixes, grouping)
CARD_KINDS: dict[int, list[tuple[list[str], tuple[int, ...]]]] = {
    12: [(["5018", "5020", "5038", "6304", "6759"], (4, 4, 4))],  # Maestro
    13: [(["4"], (4, 3, 3, 3))],  # old Visa
    15: [(["34", "37"], (4, 6, 5))],  # Amex
    16: [
        (["4"], (4, 4, 4, 4)),
        (["51", "52", "53", "54", "55", "2221", "2720"], (4, 4, 4, 4)),
        (["6011", "65"], (4, 4, 4, 4)),
        (["3528", "3589"], (4, 4, 4, 4)),
    ],  # Visa/MC/Discover/JCB
    19: [(["4", "6011", "6304"], (4, 4, 4, 4, 3))],  # Visa/Discover/Maestro
}


def make_card(rng: random.Random) -> str:
    """Luhn-valid card number of 12, 13, 15, 16 or 19 digits, grouped by spaces, dashes or not at all."""
    length = rng.choices([12, 13, 15, 16, 19], weights=[8, 7, 20, 55, 10])[0]
    prefixes, grouping = rng.choice(CARD_KINDS[length])
    prefix = rng.choice(prefixes)
    number = luhn_complete(prefix + _digits(rng, length - len(prefix) - 1))
    sep = rng.choices([" ", "-", ""], weights=[50, 25, 25])[0]
    return number if sep == "" else _group(number, grouping, sep)


def make_ssn(rng: random.Random) -> str:
    """US SSN that passes the SSA structural rules: area 001-899 except 666, group 01-99, serial 0001-9999."""
    area = rng.choice([a for a in range(1, 900) if a != 666])
    number = f"{area:03d}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}"
    style = rng.choices(["-", " ", ""], weights=[75, 10, 15])[0]
    return f"{number[:3]}{style}{number[3:5]}{style}{number[5:]}"


# country -> BBAN layout: (kind, length) with kind n=digit, a=upper letter, c=alphanumeric
IBAN_LAYOUTS: dict[str, list[tuple[str, int]]] = {
    "DE": [("n", 18)],
    "GB": [("a", 4), ("n", 14)],
    "FR": [("n", 10), ("c", 11), ("n", 2)],
    "NL": [("a", 4), ("n", 10)],
    "ES": [("n", 20)],
    "IT": [("a", 1), ("n", 10), ("c", 12)],
    "BE": [("n", 12)],
    "CH": [("n", 5), ("c", 12)],
    "IE": [("a", 4), ("n", 14)],
    "AT": [("n", 16)],
}
IBAN_BY_LOCALE = {"en_GB": "GB", "de_DE": "DE", "fr_FR": "FR"}


def iban_check_digits(country: str, bban: str) -> str:
    """The two ISO 13616 check digits (98 - mod 97 of BBAN + country + '00', letters as 10..35)."""
    rearranged = bban + country + "00"
    numeric = "".join(str(int(ch, 36)) for ch in rearranged)
    return f"{98 - int(numeric) % 97:02d}"


def iban_valid(iban: str) -> bool:
    compact = iban.replace(" ", "").upper()
    numeric = "".join(str(int(ch, 36)) for ch in compact[4:] + compact[:4])
    return int(numeric) % 97 == 1


def make_iban(rng: random.Random, locale: str) -> str:
    """IBAN with a valid mod-97 checksum, compact or in print format (groups of four)."""
    country = IBAN_BY_LOCALE.get(locale) if rng.random() < 0.6 else None
    country = country or rng.choice(sorted(IBAN_LAYOUTS))
    alphabet = {"n": "0123456789", "a": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "c": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
    bban = ""
    for kind, length in IBAN_LAYOUTS[country]:
        chars = alphabet[kind] if kind != "c" else (alphabet["n"] if rng.random() < 0.7 else alphabet["c"])
        bban += "".join(rng.choice(chars) for _ in range(length))
    iban = country + iban_check_digits(country, bban) + bban
    if rng.random() < 0.55:
        iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return iban


def make_ipv4(rng: random.Random) -> str:
    kind = rng.choices(["public", "10", "192", "172"], weights=[60, 15, 15, 10])[0]
    if kind == "10":
        octets = [10, rng.randrange(256), rng.randrange(256), rng.randint(1, 254)]
    elif kind == "192":
        octets = [192, 168, rng.randrange(256), rng.randint(1, 254)]
    elif kind == "172":
        octets = [172, rng.randint(16, 31), rng.randrange(256), rng.randint(1, 254)]
    else:
        first = rng.choice([a for a in range(1, 224) if a not in (10, 127, 172, 192)])
        octets = [first, rng.randrange(256), rng.randrange(256), rng.randint(1, 254)]
    return ".".join(map(str, octets))


def make_ipv6(rng: random.Random) -> str:
    prefix = rng.choice(
        [
            0x20010DB8,
            0x2A02_0000 | rng.randrange(0x10000),
            0x2600_0000 | rng.randrange(0x10000),
            0xFE80_0000,
            0x2001_4860,
        ]
    )
    if prefix == 0xFE80_0000:
        value = (prefix << 96) | rng.getrandbits(64)
    elif rng.random() < 0.5:
        value = (prefix << 96) | (rng.getrandbits(16) << 64) | rng.getrandbits(16)  # compressible zero run
    else:
        value = (prefix << 96) | rng.getrandbits(96)
    address = ipaddress.IPv6Address(value)
    return address.exploded if rng.random() < 0.15 else str(address)


def make_ip(rng: random.Random) -> str:
    return make_ipv4(rng) if rng.random() < 0.7 else make_ipv6(rng)


def make_phone(rng: random.Random, locale: str) -> str:
    """A plausible (valid numbering plan) phone number for the locale's country, national or international."""
    d = lambda n: _digits(rng, n)  # noqa: E731
    n2_9 = lambda: str(rng.randint(2, 9))  # noqa: E731
    n2_7 = lambda: str(rng.randint(2, 7))  # noqa: E731
    if locale == "en_US":
        area, exch, line = rng.choice(US_AREA_CODES), f"{n2_9()}{rng.randint(0, 9)}{rng.randint(2, 9)}", d(4)
        phone = rng.choice(
            [
                f"({area}) {exch}-{line}",
                f"{area}-{exch}-{line}",
                f"{area}.{exch}.{line}",
                f"+1 {area}-{exch}-{line}",
                f"+1 ({area}) {exch}-{line}",
                f"+1 {area} {exch} {line}",
                f"1-800-{exch}-{line}",
                f"{area} {exch} {line}",
            ]
        )
    elif locale == "en_GB":
        london, mob = f"{rng.choice('378')}{d(3)} {d(4)}", f"7{rng.choice('45789')}{d(2)} {d(6)}"
        phone = rng.choice(
            [
                f"020 {london}",
                f"+44 20 {london}",
                f"+44 (0)20 {london}",
                f"0{mob}",
                f"+44 {mob}",
                f"0161 {n2_9()}{d(2)} {d(4)}",
                f"+44 161 {n2_9()}{d(2)} {d(4)}",
                f"0113 {n2_9()}{d(2)} {d(4)}",
            ]
        )
    elif locale == "de_DE":
        phone = rng.choice(
            [
                f"030 {n2_9()}{d(7)}",
                f"+49 30 {n2_9()}{d(7)}",
                f"089 {n2_9()}{d(6)}",
                f"+49 89 {n2_9()}{d(6)}",
                f"0151 {d(8)}",
                f"+49 151 {d(8)}",
                f"0170 {d(7)}",
                f"+49 170 {d(7)}",
                f"040 {n2_9()}{d(3)} {d(4)}",
                f"+49 (0)40 {n2_9()}{d(3)} {d(4)}",
            ]
        )
    elif locale == "fr_FR":
        lead = rng.choice(["1", "2", "3", "4", "5", "6", "7"])
        pairs = [str(rng.randint(40, 58) if lead in "67" else rng.randint(20, 58))] + [
            f"{rng.randint(10, 99)}" for _ in range(3)
        ]
        phone = rng.choice(
            [
                f"0{lead} {' '.join(pairs)}",
                f"+33 {lead} {' '.join(pairs)}",
                f"0{lead}.{'.'.join(pairs)}",
                f"+33 (0){lead} {' '.join(pairs)}",
                f"0{lead}{''.join(pairs)}",
            ]
        )
    else:  # en_IN
        mob = f"{rng.randint(6, 9)}{d(4)}"
        rest = d(5)
        phone = rng.choice(
            [
                f"+91 {mob} {rest}",
                f"+91-{mob}-{rest}",
                f"0{mob} {rest}",
                f"{mob} {rest}",
                f"022 {n2_7()}{d(3)} {d(4)}",
                f"+91 22 {n2_7()}{d(3)} {d(4)}",
                f"+91 11 {n2_7()}{d(3)} {d(4)}",
                f"{mob}{rest}",
            ]
        )
    if locale in ("en_US", "en_GB") and rng.random() < 0.12:
        phone += rng.choice([f" x{d(3)}", f" ext. {d(2)}", f" ext {d(3)}", f" x{d(4)}"])
    return phone


def make_date(rng: random.Random, year_lo: int = 2015, year_hi: int = 2025) -> str:
    y, m, day = rng.randint(year_lo, year_hi), rng.randint(1, 12), rng.randint(1, 28)
    mon = MONTHS[m - 1]
    return rng.choice(
        [
            f"{day} {mon} {y}",
            f"{mon} {day}, {y}",
            f"{y}-{m:02d}-{day:02d}",
            f"{day:02d}/{m:02d}/{y}",
            f"{m:02d}/{day:02d}/{y}",
            f"{day:02d}.{m:02d}.{y}",
            f"{mon[:3]} {day}, {y}",
            f"{day}-{mon[:3]}-{y}",
            f"{DAYS[rng.randrange(7)]}, {day} {mon} {y}",
            f"{mon} {day}",
        ]
    )


def make_time(rng: random.Random) -> str:
    h, mi = rng.randint(0, 23), rng.randrange(60)
    h12 = h % 12 or 12
    return rng.choice(
        [
            f"{h:02d}:{mi:02d}",
            f"{h12}:{mi:02d} {'am' if h < 12 else 'pm'}",
            f"{h12}:{mi:02d}{'AM' if h < 12 else 'PM'}",
            f"{h:02d}:{mi:02d}:{rng.randrange(60):02d}",
        ]
    )


def make_datetime(rng: random.Random) -> str:
    y, m, day, h, mi = (
        rng.randint(2018, 2025),
        rng.randint(1, 12),
        rng.randint(1, 28),
        rng.randint(0, 23),
        rng.randrange(60),
    )
    return rng.choice(
        [
            f"{y}-{m:02d}-{day:02d} {h:02d}:{mi:02d}",
            f"{y}-{m:02d}-{day:02d}T{h:02d}:{mi:02d}:{rng.randrange(60):02d}Z",
            f"{make_time(rng)} on {make_date(rng, 2018, 2025)}",
            f"{make_date(rng, 2018, 2025)} at {make_time(rng)}",
            f"{day:02d}/{m:02d}/{y} {h:02d}:{mi:02d}",
        ]
    )


def make_dob(rng: random.Random) -> str:
    return make_date(rng, 1940, 2005)


# Non-PII look-alikes (never labelled).
def make_order(rng: random.Random) -> str:
    return rng.choice(
        [
            f"ORD-{_digits(rng, 7)}",
            f"#{rng.randint(100000, 999999)}",
            f"SO-{_digits(rng, 5)}",
            f"PO {_digits(rng, 4)}-{_digits(rng, 4)}",
            f"{rng.randint(1000000, 9999999)}",
            f"A{_digits(rng, 9)}",
        ]
    )


def make_amount(rng: random.Random) -> str:
    v = rng.choice([rng.randint(1, 99), rng.randint(100, 9999)]) + rng.randrange(100) / 100
    return rng.choice(
        [
            f"${v:,.2f}",
            f"€{v:.2f}",
            f"£{v:,.2f}",
            f"USD {v:.2f}",
            f"{v:.2f} EUR",
            f"Rs. {int(v * 80):,}",
            f"{v:,.2f}".replace(",", " ").replace(".", ",") + " €",
        ]
    )


def make_sku(rng: random.Random) -> str:
    letters = lambda n: "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(n))  # noqa: E731
    return rng.choice(
        [
            f"SKU-{_digits(rng, 4)}-{letters(2)}",
            f"{letters(1)}{_digits(rng, 1)}{letters(1)}-{_digits(rng, 3)}",
            f"PRD{_digits(rng, 5)}",
            f"{letters(3)}{_digits(rng, 4)}",
            f"{_digits(rng, 3)}-{_digits(rng, 4)}-{letters(1)}",
        ]
    )


def make_version(rng: random.Random) -> str:
    a, b, c = rng.randint(1, 12), rng.randint(0, 30), rng.randint(0, 40)
    return rng.choice(
        [
            f"v{a}.{b}.{c}",
            f"{a}.{b}.{c}",
            f"{a}.{b}",
            f"{a}.{b}.{c}-beta.{rng.randint(1, 9)}",
            f"{a}.{b}.{c}.{rng.randint(100, 9999)}",
            f"v{a}.{b}",
        ]
    )


def make_ticket(rng: random.Random) -> str:
    return rng.choice(
        [f"#{rng.randint(10000, 99999)}", f"TCK-{_digits(rng, 6)}", f"INC{_digits(rng, 7)}", f"CASE-{_digits(rng, 5)}"]
    )


def make_invoice(rng: random.Random) -> str:
    return rng.choice([f"INV-{_digits(rng, 6)}", f"INV/{_digits(rng, 3)}/{_digits(rng, 4)}", f"BL{_digits(rng, 8)}"])


def make_error_code(rng: random.Random) -> str:
    return rng.choice(
        [
            f"0x{rng.getrandbits(32):08X}",
            f"E{_digits(rng, 4)}",
            f"ERR_{rng.randint(100, 999)}",
            f"{rng.randint(400, 599)}",
        ]
    )


def make_reference(rng: random.Random) -> str:
    return rng.choice(
        [
            f"REF-{rng.getrandbits(24):06X}",
            f"{rng.choice(['SPRING', 'WELCOME', 'SAVE'])}{rng.randint(5, 50)}",
            f"TX{rng.getrandbits(40):010X}",
        ]
    )


# --------------------------------------------------------------------------- rendering

Segment = tuple[str, str | None]  # (text, entity or None)


class Context:
    """Per-text state: the random source, the locale's Faker, and fixed values (a document's customer)."""

    def __init__(
        self, rng: random.Random, fakers: dict[str, Faker], locale: str, fixed: dict[str, list[Segment]] | None = None
    ):
        self.rng, self.fakers, self.locale, self.fixed = rng, fakers, locale, fixed or {}

    @property
    def fake(self) -> Faker:
        return self.fakers[self.locale]

    def other_locale(self, p: float = 0.2) -> str:
        return _pick(self.rng, LOCALES) if self.rng.random() < p else self.locale


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _gender(ctx: Context) -> str:
    return ctx.rng.choice("mf")


def _first(ctx: Context, gender: str) -> str:
    return ctx.fake.first_name_male() if gender == "m" else ctx.fake.first_name_female()


def _full(ctx: Context) -> str:
    return f"{_first(ctx, _gender(ctx))} {ctx.fake.last_name()}"


def _titled(ctx: Context) -> list[Segment]:
    g = _gender(ctx)
    titles = TITLES.get(ctx.locale, TITLES["en"])[g]
    name = ctx.fake.last_name() if ctx.rng.random() < 0.6 else f"{_first(ctx, g)} {ctx.fake.last_name()}"
    return [(ctx.rng.choice(titles) + " ", None), (name, "PERSON")]


def _email_for(ctx: Context, first: str, last: str) -> str:
    f, l = _ascii_slug(first) or "user", _ascii_slug(last.replace(" ", "")) or "mail"  # noqa: E741 (first, last: short in the many f-strings below)
    rng = ctx.rng
    local = rng.choice(
        [
            f"{f}.{l}",
            f"{f[0]}.{l}",
            f"{f}{l}",
            f"{f}_{l}",
            f"{f}.{l}{rng.randint(1, 99)}",
            f"{l}{rng.randint(10, 99)}",
            f"{f[0]}{l}",
            f"{f}.{l}+billing",
            f"{f}{rng.randint(1970, 2005)}",
        ]
    )
    return f"{local}@{rng.choice(EMAIL_DOMAINS[ctx.locale])}"


def _email(ctx: Context) -> str:
    if ctx.rng.random() < 0.1:
        return f"{ctx.rng.choice(['support', 'billing', 'it-helpdesk', 'accounts', 'noreply'])}@{ctx.rng.choice(EMAIL_DOMAINS[ctx.locale])}"
    return _email_for(ctx, ctx.fake.first_name(), ctx.fake.last_name())


def _named_email(ctx: Context) -> list[Segment]:
    first, last = ctx.fake.first_name(), ctx.fake.last_name()
    return [(f"{first} {last}", "PERSON"), (" <", None), (_email_for(ctx, first, last), "EMAIL_ADDRESS"), (">", None)]


def _city(ctx: Context) -> str:
    loc = ctx.other_locale(0.3)
    if ctx.rng.random() < 0.25:
        return ctx.fakers[loc].city()
    return ctx.rng.choice(CITIES[loc])


def _address(ctx: Context) -> str:
    fake = ctx.fake
    street = fake.street_address().replace("\n", ", ")
    city = fake.city() if ctx.rng.random() < 0.5 else ctx.rng.choice(CITIES[ctx.locale])
    if ctx.locale in ("de_DE", "fr_FR"):
        return f"{street}, {fake.postcode()} {city}"
    if ctx.locale == "en_GB":
        return f"{street}, {city} {fake.postcode()}"
    if ctx.locale == "en_US":
        return f"{street}, {city}, {fake.state_abbr()} {fake.postcode()}"
    return f"{street}, {city} {fake.postcode()}"


def _one(value: Callable[[Context], str], entity: str | None) -> Callable[[Context], list[Segment]]:
    return lambda ctx: [(value(ctx), entity)]


SLOTS: dict[str, Callable[[Context], list[Segment]]] = {
    "full": _one(_full, "PERSON"),
    "first": _one(lambda c: c.fake.first_name(), "PERSON"),
    "last": _one(lambda c: c.fake.last_name(), "PERSON"),
    "titled": _titled,
    "email": _one(_email, "EMAIL_ADDRESS"),
    "named_email": _named_email,
    "phone": _one(lambda c: make_phone(c.rng, c.other_locale()), "PHONE_NUMBER"),
    "card": _one(lambda c: make_card(c.rng), "CREDIT_CARD"),
    "ssn": _one(lambda c: make_ssn(c.rng), "US_SSN"),
    "iban": _one(lambda c: make_iban(c.rng, c.locale), "IBAN_CODE"),
    "ip": _one(lambda c: make_ip(c.rng), "IP_ADDRESS"),
    "ipv4": _one(lambda c: make_ipv4(c.rng), "IP_ADDRESS"),
    "ipv6": _one(lambda c: make_ipv6(c.rng), "IP_ADDRESS"),
    "city": _one(_city, "LOCATION"),
    "country": _one(lambda c: c.rng.choice(COUNTRIES), "LOCATION"),
    "address": _one(_address, "LOCATION"),
    "date": _one(lambda c: make_date(c.rng), "DATE_TIME"),
    "datetime": _one(lambda c: make_datetime(c.rng), "DATE_TIME"),
    "time": _one(lambda c: make_time(c.rng), "DATE_TIME"),
    "dob": _one(lambda c: make_dob(c.rng), "DATE_TIME"),
    "emp": _one(lambda c: f"EMP-{_digits(c.rng, 6)}", "EMPLOYEE_ID"),
    "acc": _one(lambda c: f"ACC-{_digits(c.rng, 8)}", "ACCOUNT_NUMBER"),
    # not PII
    "order": _one(lambda c: make_order(c.rng), None),
    "amount": _one(lambda c: make_amount(c.rng), None),
    "sku": _one(lambda c: make_sku(c.rng), None),
    "version": _one(lambda c: make_version(c.rng), None),
    "ticket": _one(lambda c: make_ticket(c.rng), None),
    "invoice": _one(lambda c: make_invoice(c.rng), None),
    "code": _one(lambda c: make_error_code(c.rng), None),
    "ref": _one(lambda c: make_reference(c.rng), None),
    "qty": _one(lambda c: str(c.rng.randint(2, 500)), None),
    "pct": _one(lambda c: f"{c.rng.choice([5, 10, 12.5, 15, 20, 25, 30])}%", None),
    "model": _one(lambda c: c.rng.choice(["X200", "Pro 14", "T-800", "Mini 3", "S21", "Model 7B", "Z5 Ultra"]), None),
}

SLOT_PATTERN = re.compile(r"\{(\w+)\}")


def render(template: str, ctx: Context) -> LabelledText:
    """Fill a template's `{slot}`s; each labelled slot value becomes a gold span."""
    builder = _Builder()
    for i, piece in enumerate(SLOT_PATTERN.split(template)):
        if i % 2 == 0:
            builder.add(piece, None)
        else:
            for text, entity in ctx.fixed.get(piece) or SLOTS[piece](ctx):
                builder.add(text, entity)
    return builder.build()


class _Builder:
    """Concatenates text pieces and keeps span offsets right."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.spans: list[Span] = []
        self.length = 0

    def add(self, text: str, entity: str | None) -> None:
        if entity is not None:
            self.spans.append((self.length, self.length + len(text), entity))
        self.parts.append(text)
        self.length += len(text)

    def add_labelled(self, item: LabelledText) -> None:
        self.spans.extend((s + self.length, e + self.length, ent) for s, e, ent in item.spans)
        self.parts.append(item.text)
        self.length += len(item.text)

    def build(self) -> LabelledText:
        return LabelledText("".join(self.parts), sorted(self.spans))


# --------------------------------------------------------------------------- templates

TEMPLATES: dict[str, list[str]] = {
    "person": [
        "Hi, my name is {full} and I need help with my account.",
        "This is {first} again, still waiting on a reply.",
        "Please ask {titled} to call the customer back.",
        "{full} reported that the export keeps failing.",
        "Thanks {first}, that fixed it.",
        "The contract was signed by {full} on behalf of the client.",
        "I spoke with {titled} from the billing team.",
        "Escalated to {full}, who owns the integration.",
        "Customer {last} says the refund never arrived.",
        "Dear {titled}, thank you for your patience.",
        "{first} mentioned the app crashes on startup.",
        "Assigned to {full} for follow-up.",
        "Per {first}'s request, the subscription was paused.",
        "Both {full} and {full} were copied on the thread.",
        "Kind regards, {full}",
        "Best, {first}",
        "My manager, {full}, approved the upgrade.",
        "The account holder is listed as {titled}.",
        "{full} (account owner) cannot log in.",
        "Hello {first}! Your ticket has been updated.",
        "Please note that {last} is out of office.",
        "Refund approved by {full}.",
        "I am writing on behalf of my mother, {full}.",
        "The delivery was signed for by {first}.",
        "Could {titled} confirm the change in writing?",
        "Our accountant {full} needs read access to the reports.",
        "Spoke to {full} on the phone, issue resolved.",
        "Note from {last}: please do not close this ticket.",
    ],
    "email": [
        "You can reach me at {email}.",
        "Please send the invoice to {email} instead.",
        "My email changed from {email} to {email}.",
        "The reset link never arrived at {email}.",
        "Contact: {named_email}",
        "Reply-To: {email}",
        "From: {named_email}",
        "Please cc {email} on all future updates.",
        "Is {email} the correct address for billing?",
        "Login fails for user {email}.",
        "{full} can be emailed at {email}.",
        "Bounce notice: delivery to {email} failed.",
        "Add {email} as a second admin on the workspace.",
        "Send the receipts to {email} and {email}.",
    ],
    "phone": [
        "Call me back on {phone}.",
        "My number is {phone}, available after lunch.",
        "Please update the phone number on file to {phone}.",
        "You can text {phone} if email is easier.",
        "The caller left a voicemail from {phone}.",
        "Tel: {phone}",
        "Mobile: {phone} / Office: {phone}",
        "Reach {first} directly at {phone}.",
        "Our switchboard is {phone}; ask for {full}.",
        "The fax line {phone} is no longer in use.",
        "Callback requested to {phone} regarding order {order}.",
        "Phone: {phone}",
        "I tried calling {phone} several times without an answer.",
        "Please ring {titled} on {phone} before shipping.",
    ],
    "card": [
        "The charge on card {card} was declined.",
        "Please refund {amount} to {card}.",
        "Card number: {card}",
        "I was billed twice on my card {card}.",
        "Update my payment method to {card}.",
        "The last payment used {card}; please remove it.",
        "Customer read out the card number {card} over the phone.",
        "Order {order} was paid with {card}.",
        "My credit card {card} was charged {amount} without my consent.",
        "Please stop using the card {card}.",
        "Payment by card {card} for invoice {invoice} failed.",
    ],
    "ssn": [
        "My SSN is {ssn}.",
        "Social security number {ssn} was entered incorrectly on the form.",
        "For verification: SSN {ssn}.",
        "The W-2 shows {ssn} but that is not my number.",
        "Employee {full}, SSN {ssn}, needs a corrected form.",
        "Please mask {ssn} in the exported report.",
        "The tax form lists social security no. {ssn}.",
        "SSN: {ssn}",
    ],
    "iban": [
        "Please wire the refund to IBAN {iban}.",
        "My bank details are {iban}.",
        "Direct debit from {iban} failed twice.",
        "Update the payout account to {iban}, account holder {full}.",
        "IBAN: {iban}",
        "The transfer from {iban} shows as pending.",
        "Refund {amount} to {iban} please.",
        "We received {amount} from {iban} with reference {invoice}.",
    ],
    "ip": [
        "The login came from {ip}, which I don't recognise.",
        "Our firewall blocked {ip} after repeated failures.",
        "Server {ipv4} is unreachable since the update.",
        "Please whitelist {ip} and {ip}.",
        "Client IP: {ip}",
        "The VPN assigns me {ipv6}.",
        "Requests from {ipv4} return 403.",
        "Suspicious sign-in from {ip} was blocked.",
        "The printer at {ipv4} stopped responding.",
        "Gateway {ipv4} drops packets from {ipv6}.",
    ],
    "location": [
        "I recently moved to {city}.",
        "We ship from {city}, {country}.",
        "The outage seems to affect users in {country}.",
        "My new address is {address}.",
        "Please deliver to {address}.",
        "I'm travelling in {country} and the card stopped working.",
        "Our office in {city} has the same problem.",
        "The parcel is stuck in a depot near {city}.",
        "Billing address: {address}",
        "Is the service available in {country}?",
        "She works from our {city} branch.",
        "The replacement was sent to {address} by mistake.",
        "Flights from {city} to {city} are not showing.",
        "Shipping address changed to {address}.",
    ],
    "date": [
        "My date of birth is {dob}.",
        "The payment on {date} was charged twice.",
        "I placed the order on {date}.",
        "The incident started at {datetime}.",
        "Appointment booked for {datetime}.",
        "Born {dob}, {full} is the primary account holder.",
        "The contract ends on {date}.",
        "Last successful sync: {datetime}",
        "We were charged again at {time}.",
        "DOB: {dob}",
        "The engineer will visit on {date} at {time}.",
        "Service was down from {datetime} until {time}.",
    ],
    "employee": [
        "Employee ID {emp} cannot access the portal.",
        "Please reset the badge for {emp}.",
        "Ticket raised by {full} ({emp}).",
        "Approver: {emp}",
        "The payroll record for {emp} is missing.",
        "{emp} was offboarded but still has access.",
        "Please add {emp} to the finance group.",
        "Laptop asset reassigned from {emp} to {emp}.",
    ],
    "account": [
        "My account number is {acc}.",
        "Please close account {acc}.",
        "The statement for {acc} shows an unknown charge.",
        "Account: {acc}",
        "Merge {acc} into {acc}, please.",
        "Customer account {acc} is on hold.",
        "The direct debit on {acc} bounced.",
        "Reactivate {acc} once the balance of {amount} is paid.",
    ],
    "mixed": [
        "{full}, {email}, {phone}",
        "Name: {full} | Email: {email} | Phone: {phone}",
        "Customer {full} ({acc}) called from {phone} about the charge on {date}.",
        "{titled} from {city} says card {card} was charged twice.",
        "Refund {amount} to {iban} for {full}.",
        "Login by {email} from {ip} at {datetime}.",
        "Agent {full} ({emp}) verified SSN {ssn}.",
        "New address for {acc}: {address}.",
        "Contact {first} on {phone} or {email}.",
        "{full} was born on {dob} in {city}.",
        "Account {acc} belongs to {full}, {address}.",
        "{named_email} wrote from {ip} about order {order}.",
        "Ship to {full}, {address}, phone {phone}.",
        "Verified caller {full}, date of birth {dob}, SSN {ssn}.",
        "Employee {emp} ({full}) works from our {city} office.",
    ],
    "negative": [
        "Order {order} shipped and is on its way.",
        "The total came to {amount} including tax.",
        "Please upgrade to version {version} to get the fix.",
        "Product code {sku} is out of stock.",
        "Ticket {ticket} has been closed.",
        "Invoice {invoice} for {amount} is attached.",
        "We applied a {pct} discount to order {order}.",
        "Build {version} fixes the crash on export.",
        "The {model} model is no longer supported.",
        "Quantity: {qty} units of {sku}.",
        "Error code {code} appears when saving.",
        "Reference {ref} has been processed.",
        "The file is {qty} MB, above the upload limit.",
        "Restart the app and clear the cache.",
        "Thanks for the quick reply, that worked.",
        "Could you check the status of my order?",
        "The password reset email is not arriving.",
        "I'd like to cancel my subscription.",
        "Please escalate this, it's urgent.",
        "The dashboard shows {qty} open tickets.",
        "Plan upgraded from Basic to Pro for {amount}.",
        "Tracking reference {order} has not updated.",
        "Running {version} on a {model}; the issue persists.",
        "Discount code {ref} is not accepted at checkout.",
        "The CSV export has {qty} rows instead of {qty}.",
        "Item {sku} arrived damaged, order {order}.",
        "Firmware {version} bricked the device.",
        "I was charged {amount} instead of {amount}.",
        "Return label for order {order} is attached.",
        "Case {ticket} was merged into {ticket}.",
        "The app shows error {code} after the update to {version}.",
        "Please send a replacement for part {sku}.",
    ],
}
CATEGORY_WEIGHTS: dict[str, float] = {
    "person": 12,
    "email": 8,
    "phone": 10,
    "card": 8,
    "ssn": 5,
    "iban": 6,
    "ip": 6,
    "location": 9,
    "date": 8,
    "employee": 5,
    "account": 5,
    "mixed": 10,
    "negative": 14,
}
SUBJECTS = [
    "Refund not received",
    "Cannot log in",
    "Wrong amount charged",
    "Change of address",
    "Order {order} missing",
    "App crashes on startup",
    "Update payment details",
    "Account locked",
    "Question about invoice {invoice}",
    "Data export request",
    "Duplicate charge",
    "Access request",
    "Delivery problem",
    "Cancel subscription",
    "Error {code} when saving",
]
GREETINGS = ["Hi {agent},", "Hello {agent},", "Dear support team,", "Hi there,", "Hello,", "Dear {agent_titled},"]
CLOSINGS = [
    "Thanks,\n{cust_first}",
    "Kind regards,\n{cust_full}",
    "Best,\n{cust_full}\n{cust_phone}",
    "Regards,\n{cust_full}",
    "Cheers,\n{cust_first}",
    "Many thanks,\n{cust_full}\n{cust_email}",
]
AGENT_REPLIES = ["Hi {cust_first},", "Dear {cust_titled},", "Hello {cust_first},"]
AGENT_SIGNOFFS = [
    "Best regards,\n{agent} ({agent_emp})\nCustomer Support",
    "Thanks,\n{agent}\nSupport Team",
    "Kind regards,\n{agent}",
]


def _make_fakers(seed: int) -> dict[str, Faker]:
    fakers: dict[str, Faker] = {}
    for k, locale in enumerate(LOCALES):
        fake = Faker(locale)
        fake.seed_instance(seed * 1000 + k)
        fakers[locale] = fake
    return fakers


def _sentence(
    rng: random.Random,
    fakers: dict[str, Faker],
    fixed: dict[str, list[Segment]] | None = None,
    exclude: tuple[str, ...] = (),
) -> LabelledText:
    weights = {c: w for c, w in CATEGORY_WEIGHTS.items() if c not in exclude}
    category = _pick(rng, weights)
    ctx = Context(rng, fakers, _pick(rng, LOCALES), fixed)
    return render(rng.choice(TEMPLATES[category]), ctx)


def generate_sentences(n: int, seed: int) -> list[LabelledText]:
    """`n` labelled template sentences; deterministic for a given (n, seed) (a prefix of a longer run)."""
    rng = random.Random(seed)
    fakers = _make_fakers(seed)
    return [_sentence(rng, fakers) for _ in range(n)]


def _customer(ctx: Context) -> dict[str, list[Segment]]:
    """A document's fixed people: the customer and the support agent, with their details."""
    first, last = ctx.fake.first_name(), ctx.fake.last_name()
    title = ctx.rng.choice(TITLES.get(ctx.locale, TITLES["en"])[ctx.rng.choice("mf")])
    agent_fake = ctx.fakers[ctx.rng.choice(["en_US", "en_GB", "en_IN"])]
    agent_first, agent_last = agent_fake.first_name(), agent_fake.last_name()
    return {
        "cust_first": [(first, "PERSON")],
        "cust_full": [(f"{first} {last}", "PERSON")],
        "cust_titled": [(title + " ", None), (last, "PERSON")],
        "cust_email": [(_email_for(ctx, first, last), "EMAIL_ADDRESS")],
        "cust_phone": [(make_phone(ctx.rng, ctx.locale), "PHONE_NUMBER")],
        "agent": [(f"{agent_first} {agent_last}", "PERSON")] if ctx.rng.random() < 0.5 else [(agent_first, "PERSON")],
        "agent_titled": [(ctx.rng.choice(["Mr. ", "Ms. "]), None), (agent_last, "PERSON")],
        "agent_emp": [(f"EMP-{_digits(ctx.rng, 6)}", "EMPLOYEE_ID")],
    }


def _document(rng: random.Random, fakers: dict[str, Faker], chars: int) -> LabelledText:
    ctx = Context(rng, fakers, _pick(rng, LOCALES))
    ctx.fixed = _customer(ctx)
    builder = _Builder()
    header = f"Subject: {rng.choice(SUBJECTS)}\nFrom: {{cust_full}} <{{cust_email}}>\nDate: {{datetime}}\n\n"
    builder.add_labelled(render(header, ctx))
    builder.add_labelled(render(rng.choice(GREETINGS) + "\n", ctx))
    closing = render("\n\n" + rng.choice(CLOSINGS), ctx)
    reply = rng.random() < 0.35
    reply_at = chars * rng.uniform(0.55, 0.7) if reply else None
    sentences_in_paragraph = 0
    while builder.length + len(closing.text) < chars:
        if reply_at is not None and builder.length >= reply_at:
            builder.add_labelled(
                render("\n\n" + rng.choice(AGENT_SIGNOFFS) + "\n\n---\n" + rng.choice(AGENT_REPLIES) + "\n", ctx)
            )
            reply_at, sentences_in_paragraph = None, 0
            continue
        if sentences_in_paragraph:
            ended = builder.parts[-1].rstrip()[-1:] in ".!?"
            builder.add("\n\n" if rng.random() < 0.25 else (" " if ended else "\n"), None)
        builder.add_labelled(_sentence(rng, fakers, ctx.fixed))
        sentences_in_paragraph += 1
    builder.add_labelled(closing)
    return builder.build()


def generate_documents(n: int, seed: int, chars: int = 1000) -> list[LabelledText]:
    """`n` support-ticket-like documents of about `chars` characters (header, greeting, sentences, sign-off)."""
    rng = random.Random(seed)
    fakers = _make_fakers(seed)
    return [_document(rng, fakers, chars) for _ in range(n)]


# --------------------------------------------------------------------------- checks and CLI


def check(items: list[LabelledText]) -> list[str]:
    """Problems with gold spans: out of range, overlapping, surrounding whitespace, bad card/IBAN checksum. Empty when fine."""
    problems = []
    for i, item in enumerate(items):
        previous_end = 0
        for start, end, entity in item.spans:
            value = item.text[start:end]
            if not (0 <= start < end <= len(item.text)) or start < previous_end:
                problems.append(f"{i}: bad span {(start, end, entity)}")
            elif value != value.strip() or entity not in ENTITIES:
                problems.append(f"{i}: span {value!r} ({entity}) has whitespace or an unknown entity")
            elif (entity == "CREDIT_CARD" and not luhn_valid(value)) or (
                entity == "IBAN_CODE" and not iban_valid(value)
            ):
                problems.append(f"{i}: {entity} {value!r} fails its checksum")
            previous_end = end
    return problems


def entity_counts(items: list[LabelledText]) -> Counter[str]:
    return Counter(entity for item in items for _, _, entity in item.spans)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print samples and entity counts of the labelled PII generator.")
    parser.add_argument("--n", type=int, default=20, help="number of sentences (default 20)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--docs", type=int, default=0, help="also generate this many documents")
    parser.add_argument("--show", type=int, default=10, help="how many items to print with their spans")
    args = parser.parse_args(argv)
    sentences = generate_sentences(args.n, args.seed)
    documents = generate_documents(args.docs, args.seed) if args.docs else []
    for item in (sentences + documents)[: args.show]:
        print(item.text)
        for start, end, entity in item.spans:
            print(f"    {entity:<15} {item.text[start:end]!r}")
    for name, items in (("sentences", sentences), ("documents", documents)):
        if not items:
            continue
        lengths = [len(i.text) for i in items]
        print(
            f"\n{name}: {len(items)}, mean {sum(lengths) / len(items):.0f} chars, "
            f"{sum(1 for i in items if not i.spans)} without PII, problems: {len(check(items))}"
        )
        for entity, count in sorted(entity_counts(items).items()):
            print(f"  {entity:<15} {count:>6}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
