"""Builders for synthetic PII values: phones, Luhn-valid cards, dates, amounts, emails."""

from __future__ import annotations

import random
import re
import unicodedata
from datetime import datetime, timedelta

AGENTS = [
    ("Jamie Chen", "EMP-004521"),
    ("Priya Nair", "EMP-003187"),
    ("Marcus Webb", "EMP-005902"),
    ("Sofia Alvarez", "EMP-001276"),
]
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
EMAIL_DOMAINS = [
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.co.uk",
    "web.de",
    "orange.fr",
    "rediffmail.com",
    "example.com",
]


def pick(rng: random.Random, weights: dict[str, float]) -> str:
    """Weighted choice over a dict of value -> weight."""
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def make_phone(rng: random.Random, locale: str) -> str:
    """Phone number in one of the formats used in the given locale's country."""
    d = lambda n: digits(rng, n)  # noqa: E731
    formats = {
        "en_US": lambda: rng.choice(
            [f"({rng.randint(201, 989)}) 555-01{d(2)}", f"+1 {rng.randint(201, 989)}-{rng.randint(200, 999)}-{d(4)}"]
        ),
        "en_GB": lambda: rng.choice([f"+44 20 7946 0{d(3)}", f"020 7946 0{d(3)}", f"+44 7700 900{d(3)}"]),
        "de_DE": lambda: rng.choice([f"+49 30 9{d(5)}", f"030 9{d(5)}", f"+49 151 {d(8)}"]),
        "fr_FR": lambda: rng.choice([f"+33 1 {d(2)} {d(2)} {d(2)} {d(2)}", f"+33 6 {d(2)} {d(2)} {d(2)} {d(2)}"]),
        "en_IN": lambda: rng.choice([f"+91 9{d(4)} {d(5)}", f"+91 8{d(4)} {d(5)}"]),
    }
    phone = formats[locale]()
    if rng.random() < 0.07:
        phone += rng.choice([f" x{d(3)}", f" ext. {d(2)}"])
    return phone


def luhn_number(rng: random.Random, prefix: str, length: int) -> str:
    """Random digit string with the given prefix and a valid Luhn check digit."""
    body = prefix + digits(rng, length - len(prefix) - 1)
    total = 0
    for i, ch in enumerate(reversed(body)):
        n = int(ch) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return body + str((10 - total % 10) % 10)


def make_card(rng: random.Random) -> str:
    """Luhn-valid card number: Visa/Mastercard 16, Amex 15, and a few 13/19 digits."""
    kind = pick(rng, {"visa": 45, "mc": 30, "amex": 15, "v13": 5, "v19": 5})
    prefix, length, groups = {
        "visa": ("4", 16, (4, 4, 4, 4)),
        "mc": (str(rng.randint(51, 55)), 16, (4, 4, 4, 4)),
        "amex": (rng.choice(["34", "37"]), 15, (4, 6, 5)),
        "v13": ("4", 13, (13,)),
        "v19": ("4", 19, (4, 4, 4, 4, 3)),
    }[kind]
    number = luhn_number(rng, prefix, length)
    sep = rng.choice([" ", "-", ""])
    parts, pos = [], 0
    for g in groups:
        parts.append(number[pos : pos + g])
        pos += g
    return sep.join(parts)


def fmt_date(rng: random.Random, first_year: int = 2025, years: int = 1) -> str:
    """Random date in one of three formats (March 3, 2025 / 03/04/2025 / 2025-03-04)."""
    d = datetime(first_year, 1, 1) + timedelta(days=rng.randrange(365 * years))
    return rng.choice([f"{MONTHS[d.month - 1]} {d.day}, {d.year}", f"{d:%m/%d/%Y}", f"{d:%Y-%m-%d}"])


def fmt_amount(rng: random.Random, locale: str) -> str:
    value = rng.randint(5, 2500) + rng.randrange(100) / 100
    if locale in ("de_DE", "fr_FR"):
        return f"{value:.2f} €".replace(".", ",")
    return {"en_US": "$", "en_GB": "£", "en_IN": "Rs. "}[locale] + f"{value:,.2f}"


def ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", folded.lower())


def make_email(rng: random.Random, first: str, last: str) -> str:
    suffix = rng.choice(["", "", str(rng.randint(1, 99))])
    sep = rng.choice([".", "_", ""])
    return f"{ascii_slug(first)}{sep}{ascii_slug(last)}{suffix}@{rng.choice(EMAIL_DOMAINS)}"
