"""Fixed, labelled PII evaluation ("dev") set shaped like real third-party text.

What it is for
    Measuring a redactor's recall and its over-redaction (precision) on the kinds of text
    where the project's redactor was seen to leak more than Presidio's defaults:
    corporate e-mail threads, short clinical / health-insurance queries, and informal
    social-media or chat posts. About a fifth of each kind is `pii_free`: text with no
    personal data at all but full of things a naive detector redacts (amounts, versions,
    times, SKUs, drug doses, ICD-10/CPT codes, weekdays, departments, job titles), so
    over-redaction can be counted on it. Texts with PII carry such decoys as well.

How it is generated
    Independently of the detector (no code or patterns from pipeline/pii and no templates
    or value lists from bench/pii_data.py): hand-written templates for each kind, filled
    with values from Faker 40.63.0 in many locales (names with diacritics, non-Anglo
    names, streets, companies) and from small generators written here (phone numbers of
    many countries, IDs of many shapes, SSNs valid and invalid, card numbers with good and
    bad Luhn digits, IBANs with valid check digits in several cases and groupings).
    Every value is recorded as a span while the text is assembled, so `text[start:end]`
    equals the value by construction; it is asserted and checked again before writing.
    Seeded: `random.Random(seed)` and `Faker.seed_instance` per locale, so the same seed
    gives a byte-identical file (Faker's it_IT city() is avoided: it depends on
    PYTHONHASHSEED). All values are synthetic; no real person's data. Runs in about 2 s.

        python bench/realistic_pii.py --seed 7 --out bench/data/realistic_pii.jsonl
        python bench/realistic_pii.py --seed 7 --stats          # counts per kind and entity
        python bench/realistic_pii.py --seed 7 --show 3         # sample records

Size
    150 e-mail threads (600-3,000 characters, 2-4 messages), 450 clinical queries
    (40-300 characters) and 450 social posts (20-280 characters); 22% of each kind is
    `pii_free`. One JSON object per line, sorted keys:
    {"id", "kind", "pii_free", "text", "spans": [{"entity", "start", "end", "value"}]}.

Labelling conventions
    - PERSON: the name only, never a title or role ("Dr. [Okafor]", "my mom [Ana Ruiz]");
      every occurrence and every name part used alone (greeting, sign-off, nickname,
      "Last, First M" display names) is a span. In Lotus-Notes addresses only the name is
      the span ("[Gayle Muench]/HOU/NGT@NGT").
    - DATE_TIME: a calendar date (day and month, or a numeric date), with its time when
      the time is attached (header dates, "On <date>, X wrote:", dates of birth, visit
      dates). Weekdays, bare times, months, years, quarters and durations are NOT labelled.
    - LOCATION: streets, "City, ST 12345", cities, countries, neighbourhoods.
    - ORGANIZATION: employers, hospitals, clinics, schools, universities, banks. Team or
      department names, products, role senders ("IT Service Desk"), and public programmes
      (Medicare, the FDA) are not. A name containing a city ("Tulsa General Hospital") is
      one ORGANIZATION span, with no LOCATION span inside it.
    - ID_NUMBER: identifiers of a person's record: MRN, member / policy / claim / case /
      ticket / account / invoice / Rx / employee ids, licence numbers. Context words and a
      leading "#" are outside the span. SKUs, model numbers, versions, ICD-10 and CPT
      codes are not IDs.
    - US_SSN: SSN-shaped numbers, valid and invalid (000-12-3456, 123-45-6789).
    - CREDIT_CARD: 12-19 digit card numbers after card context, some with a bad Luhn digit.
    - IBAN_CODE (valid check digits), IP_ADDRESS (public addresses only),
      URL (personal profile links and personal sites only; a company website is not
      labelled), USERNAME ("@handle" with its "@", or a bare username after context),
      EMAIL_ADDRESS, PHONE_NUMBER (fax numbers too; an extension is part of the span).
      A username inside a URL or an e-mail address has no span of its own.
    - Not labelled: ages, languages, job titles, weekdays, relations ("my mom").

Rule
    fixed set: do not edit templates to make a detector score better; add new templates
    only as a new version with a new file name.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import random
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from faker import Faker

ENTITIES: tuple[str, ...] = (
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "DATE_TIME",
    "LOCATION",
    "ORGANIZATION",
    "ID_NUMBER",
    "US_SSN",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "URL",
    "USERNAME",
)
SIZES: dict[str, int] = {"email": 150, "clinical": 450, "social": 450}
LENGTHS: dict[str, tuple[int, int]] = {"email": (600, 3000), "clinical": (40, 300), "social": (20, 280)}
PII_FREE_SHARE = 0.22
DEFAULT_OUT = Path(__file__).resolve().parent / "data" / "realistic_pii.jsonl"

Slot = tuple[str, "str | None"]

# --------------------------------------------------------------------------- locales

# Name locales per kind (weights). hi_IN is left out: its names are in Devanagari; en_IN
# gives Indian names in Latin script.
NAME_LOCALES: dict[str, dict[str, float]] = {
    "email": {
        "en_US": 40,
        "en_GB": 10,
        "en_IE": 2,
        "en_IN": 3,
        "de_DE": 3,
        "fr_FR": 2,
        "pl_PL": 3,
        "es_MX": 3,
        "es_ES": 2,
        "it_IT": 2,
        "pt_BR": 2,
        "nl_NL": 2,
        "sv_SE": 2,
        "hr_HR": 2,
        "tr_TR": 2,
        "vi_VN": 2,
        "cs_CZ": 1,
        "ro_RO": 1,
        "fi_FI": 1,
        "da_DK": 1,
        "en_NG": 1,
        "zu_ZA": 1,
        "fr_CA": 1,
        "hu_HU": 1,
    },
    "clinical": {
        "en_US": 30,
        "es_MX": 7,
        "es_CO": 2,
        "es_ES": 2,
        "en_GB": 3,
        "pl_PL": 3,
        "pt_BR": 3,
        "vi_VN": 3,
        "en_IN": 3,
        "tr_TR": 2,
        "hr_HR": 2,
        "it_IT": 2,
        "de_DE": 2,
        "fr_FR": 2,
        "ro_RO": 2,
        "yo_NG": 2,
        "ig_NG": 1,
        "en_KE": 1,
        "cs_CZ": 1,
        "sk_SK": 1,
        "nl_NL": 1,
        "ga_IE": 1,
        "az_AZ": 1,
        "lt_LT": 1,
    },
    "social": {
        "en_US": 12,
        "en_GB": 5,
        "pl_PL": 5,
        "es_MX": 5,
        "es_ES": 3,
        "es_AR": 2,
        "hr_HR": 4,
        "de_DE": 3,
        "de_AT": 1,
        "fr_FR": 3,
        "it_IT": 3,
        "pt_BR": 5,
        "pt_PT": 2,
        "vi_VN": 3,
        "en_IN": 3,
        "tr_TR": 4,
        "nl_NL": 2,
        "sv_SE": 2,
        "cs_CZ": 2,
        "ro_RO": 2,
        "sl_SI": 1,
        "hu_HU": 1,
        "fi_FI": 1,
        "no_NO": 1,
        "id_ID": 2,
        "zu_ZA": 2,
        "yo_NG": 1,
        "ha_NG": 1,
        "sw": 1,
        "lv_LV": 1,
        "is_IS": 1,
        "uz_UZ": 1,
        "az_AZ": 1,
        "ga_IE": 1,
        "et_EE": 1,
        "tw_GH": 1,
    },
}
ALL_LOCALES: tuple[str, ...] = tuple(sorted({loc for w in NAME_LOCALES.values() for loc in w} | {"de_CH", "es_CL"}))
FAMILY_NAME_FIRST = {"vi_VN", "hu_HU"}
DOUBLE_SURNAME = {"es_MX": 0.4, "es_ES": 0.5, "es_CO": 0.4, "es_AR": 0.1, "pt_BR": 0.25}

# Phone country of a person's locale (else a random one).
LOCALE_PHONE: dict[str, str] = {
    "en_US": "US",
    "en_GB": "GB",
    "en_IE": "IE",
    "en_IN": "IN",
    "de_DE": "DE",
    "de_AT": "DE",
    "fr_FR": "FR",
    "fr_CA": "US",
    "pl_PL": "PL",
    "es_MX": "MX",
    "es_ES": "ES",
    "es_CO": "CO",
    "es_AR": "AR",
    "it_IT": "IT",
    "pt_BR": "BR",
    "pt_PT": "PT",
    "nl_NL": "NL",
    "sv_SE": "SE",
    "hr_HR": "HR",
    "tr_TR": "TR",
    "vi_VN": "VN",
    "cs_CZ": "CZ",
    "sk_SK": "CZ",
    "ro_RO": "RO",
    "zu_ZA": "ZA",
    "en_NG": "NG",
    "yo_NG": "NG",
    "ig_NG": "NG",
    "ha_NG": "NG",
    "en_KE": "KE",
    "sw": "KE",
    "id_ID": "ID",
    "da_DK": "DK",
    "no_NO": "DK",
    "lv_LV": "LV",
    "lt_LT": "LT",
    "fi_FI": "FI",
    "et_EE": "EE",
    "is_IS": "IS",
    "sl_SI": "SI",
    "hu_HU": "HU",
    "uz_UZ": "UZ",
    "az_AZ": "AZ",
    "ga_IE": "IE",
    "tw_GH": "GH",
}
FAKER_PHONE_LOCALES = (
    "pl_PL",
    "pt_BR",
    "de_DE",
    "hr_HR",
    "cs_CZ",
    "sv_SE",
    "nl_NL",
    "fr_FR",
    "it_IT",
    "en_GB",
    "es_ES",
    "ro_RO",
    "sk_SK",
    "da_DK",
    "id_ID",
    "en_US",
)

# --------------------------------------------------------------------------- value lists (written for this set)

MONTHS = (
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
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

NICKNAMES: dict[str, tuple[str, ...]] = {
    "David": ("Dave",),
    "Christopher": ("Chris",),
    "Christine": ("Chris", "Chrissy"),
    "Elizabeth": ("Liz", "Beth"),
    "Michael": ("Mike",),
    "Robert": ("Bob", "Rob"),
    "Katherine": ("Kate", "Kathy"),
    "Catherine": ("Cathy",),
    "James": ("Jim", "Jimmy"),
    "Thomas": ("Tom",),
    "William": ("Bill", "Will"),
    "Susan": ("Sue",),
    "Jennifer": ("Jen", "Jenny"),
    "Anthony": ("Tony",),
    "Richard": ("Rick", "Rich"),
    "Matthew": ("Matt",),
    "Steven": ("Steve",),
    "Stephen": ("Steve",),
    "Daniel": ("Dan",),
    "Samantha": ("Sam",),
    "Patricia": ("Pat", "Trish"),
    "Rebecca": ("Becky",),
    "Kimberly": ("Kim",),
    "Andrew": ("Andy", "Drew"),
    "Gregory": ("Greg",),
    "Benjamin": ("Ben",),
    "Nicholas": ("Nick",),
    "Joseph": ("Joe",),
    "Margaret": ("Maggie", "Peggy"),
    "Alexander": ("Alex",),
    "Alexandra": ("Alex",),
    "Jonathan": ("Jon",),
    "Timothy": ("Tim",),
    "Kenneth": ("Ken",),
    "Edward": ("Ed", "Eddie"),
    "Victoria": ("Vicky",),
    "Deborah": ("Deb",),
    "Jessica": ("Jess",),
    "Gerald": ("Gerry",),
    "Lawrence": ("Larry",),
    "Douglas": ("Doug",),
    "Jeffrey": ("Jeff",),
    "Raymond": ("Ray",),
    "Phillip": ("Phil",),
    "Zachary": ("Zach",),
    "Abigail": ("Abby",),
    "Cynthia": ("Cindy",),
    "Pamela": ("Pam",),
    "Stephanie": ("Steph",),
    "Gabriel": ("Gabe",),
    "Francisco": ("Paco",),
    "Katarzyna": ("Kasia",),
    "Małgorzata": ("Gosia",),
    "Aleksandra": ("Ola",),
    "Giuseppe": ("Beppe",),
    "Johannes": ("Hannes",),
    "Guadalupe": ("Lupe",),
}
NICKNAME_FIRSTS_M = (
    "David",
    "Christopher",
    "Michael",
    "Robert",
    "James",
    "Thomas",
    "William",
    "Anthony",
    "Richard",
    "Matthew",
    "Steven",
    "Daniel",
    "Andrew",
    "Gregory",
    "Nicholas",
    "Jeffrey",
    "Douglas",
)
NICKNAME_FIRSTS_F = (
    "Elizabeth",
    "Katherine",
    "Susan",
    "Jennifer",
    "Patricia",
    "Rebecca",
    "Kimberly",
    "Margaret",
    "Christine",
    "Deborah",
    "Jessica",
    "Pamela",
    "Stephanie",
    "Samantha",
)

US_PLACES: tuple[tuple[str, str], ...] = (
    ("Houston", "TX"),
    ("Tulsa", "OK"),
    ("Omaha", "NE"),
    ("Boise", "ID"),
    ("Fresno", "CA"),
    ("Spokane", "WA"),
    ("Albuquerque", "NM"),
    ("Louisville", "KY"),
    ("Richmond", "VA"),
    ("Madison", "WI"),
    ("Des Moines", "IA"),
    ("Little Rock", "AR"),
    ("Baton Rouge", "LA"),
    ("Charleston", "SC"),
    ("Savannah", "GA"),
    ("Tucson", "AZ"),
    ("El Paso", "TX"),
    ("Corpus Christi", "TX"),
    ("Lubbock", "TX"),
    ("Akron", "OH"),
    ("Dayton", "OH"),
    ("Grand Rapids", "MI"),
    ("Rochester", "NY"),
    ("Syracuse", "NY"),
    ("Hartford", "CT"),
    ("Providence", "RI"),
    ("Worcester", "MA"),
    ("Burlington", "VT"),
    ("Anchorage", "AK"),
    ("Honolulu", "HI"),
    ("Reno", "NV"),
    ("Salt Lake City", "UT"),
    ("Billings", "MT"),
    ("Fargo", "ND"),
    ("Sioux Falls", "SD"),
    ("Wichita", "KS"),
    ("Knoxville", "TN"),
    ("Chattanooga", "TN"),
    ("Huntsville", "AL"),
    ("Jackson", "MS"),
    ("Shreveport", "LA"),
    ("Pensacola", "FL"),
    ("Orlando", "FL"),
    ("Sugar Land", "TX"),
    ("The Woodlands", "TX"),
    ("Bakersfield", "CA"),
    ("Oakland", "CA"),
    ("Stockton", "CA"),
    ("Eugene", "OR"),
    ("Tacoma", "WA"),
    ("Lincoln", "NE"),
    ("Toledo", "OH"),
)
CITIES: dict[str, tuple[str, ...]] = {
    "UK": (
        "Swindon",
        "Reading",
        "Derby",
        "Plymouth",
        "Norwich",
        "Exeter",
        "Stoke-on-Trent",
        "Sunderland",
        "Dundee",
        "Inverness",
        "Swansea",
        "Wolverhampton",
        "Milton Keynes",
        "Luton",
        "Preston",
        "Bournemouth",
        "Hull",
        "Coventry",
        "Stockport",
        "Ipswich",
    ),
    "Mexico": (
        "Guadalajara",
        "Monterrey",
        "Puebla",
        "Tijuana",
        "Mérida",
        "Querétaro",
        "Oaxaca",
        "Toluca",
        "León",
        "Chihuahua",
        "Hermosillo",
        "Culiacán",
        "Morelia",
        "Saltillo",
        "Ciudad Juárez",
        "Aguascalientes",
        "Veracruz",
        "Cancún",
    ),
    "Brazil": (
        "São Paulo",
        "Belo Horizonte",
        "Porto Alegre",
        "Recife",
        "Fortaleza",
        "Salvador",
        "Curitiba",
        "Manaus",
        "Goiânia",
        "Florianópolis",
        "Campinas",
        "Niterói",
        "Belém",
        "Natal",
        "Vitória",
    ),
    "Turkey": (
        "İzmir",
        "Bursa",
        "Antalya",
        "Konya",
        "Gaziantep",
        "Eskişehir",
        "Kayseri",
        "Trabzon",
        "Samsun",
        "Mersin",
        "Diyarbakır",
        "Ankara",
        "Istanbul",
    ),
    "Philippines": (
        "Quezon City",
        "Cebu City",
        "Davao City",
        "Makati",
        "Pasig",
        "Taguig",
        "Iloilo City",
        "Bacolod",
        "Cagayan de Oro",
        "Baguio",
        "Zamboanga City",
    ),
    "South Africa": (
        "Johannesburg",
        "Durban",
        "Pretoria",
        "Gqeberha",
        "Bloemfontein",
        "Soweto",
        "Stellenbosch",
        "Polokwane",
        "East London",
        "Pietermaritzburg",
        "Cape Town",
    ),
    "Nigeria": ("Lagos", "Ibadan", "Abuja", "Kano", "Port Harcourt", "Enugu", "Benin City", "Abeokuta"),
    "Kenya": ("Nairobi", "Mombasa", "Kisumu", "Nakuru", "Eldoret"),
    "Vietnam": (
        "Hà Nội",
        "Đà Nẵng",
        "Hải Phòng",
        "Cần Thơ",
        "Nha Trang",
        "Huế",
        "Vũng Tàu",
        "Ho Chi Minh City",
        "Hanoi",
        "Da Nang",
    ),
    "Ireland": ("Cork", "Galway", "Limerick", "Waterford", "Kilkenny", "Dún Laoghaire", "Sligo", "Athlone"),
    "Canada": (
        "Winnipeg",
        "Halifax",
        "Saskatoon",
        "Regina",
        "Kitchener",
        "Hamilton",
        "Québec City",
        "Laval",
        "Victoria",
        "Kelowna",
    ),
    "Australia": ("Geelong", "Wollongong", "Hobart", "Darwin", "Cairns", "Townsville", "Ballarat", "Toowoomba"),
    "France": ("Rennes", "Dijon", "Angers", "Le Havre", "Tours", "Limoges", "Metz", "Perpignan", "Caen", "Brest"),
    "Romania": ("Cluj-Napoca", "Iași", "Timișoara", "Constanța", "Brașov", "Oradea", "Sibiu"),
    "Italy": ("Bergamo", "Verona", "Bari", "Cagliari", "Perugia", "Trieste", "Lecce", "Modena", "Palermo", "Parma"),
}
# Locales whose Faker city names are real places.
FAKER_CITY_COUNTRY: dict[str, str] = {
    "pl_PL": "Poland",
    "es_ES": "Spain",
    "es_AR": "Argentina",
    "es_CL": "Chile",
    "hr_HR": "Croatia",
    "de_DE": "Germany",
    "de_AT": "Austria",
    "de_CH": "Switzerland",
    "pt_PT": "Portugal",
    "sv_SE": "Sweden",
    "cs_CZ": "Czechia",
    "sk_SK": "Slovakia",
    "sl_SI": "Slovenia",
    "fi_FI": "Finland",
    "da_DK": "Denmark",
    "id_ID": "Indonesia",
    "en_IN": "India",
    "nl_NL": "Netherlands",
}  # not it_IT: Faker 40.63.0's it_IT city() depends on PYTHONHASHSEED
COUNTRIES = (
    "Portugal",
    "Croatia",
    "Poland",
    "Mexico",
    "Brazil",
    "Turkey",
    "Vietnam",
    "South Africa",
    "Colombia",
    "Peru",
    "Greece",
    "Morocco",
    "Romania",
    "Czechia",
    "Slovenia",
    "Iceland",
    "Norway",
    "Kenya",
    "Nigeria",
    "Ghana",
    "Indonesia",
    "Sri Lanka",
    "Japan",
    "Thailand",
    "Argentina",
    "Chile",
    "Ecuador",
    "Albania",
    "Montenegro",
    "Hungary",
    "Finland",
    "Estonia",
    "Latvia",
    "Lithuania",
    "Canada",
    "Ireland",
    "Scotland",
    "Wales",
    "Spain",
    "Italy",
    "Germany",
    "Bosnia",
    "Uzbekistan",
    "Azerbaijan",
)
NEIGHBOURHOODS = (
    "Kreuzberg",
    "Mokotów",
    "Żoliborz",
    "Trešnjevka",
    "Condesa",
    "Coyoacán",
    "Vila Madalena",
    "Lapa",
    "Kadıköy",
    "Beşiktaş",
    "Shoreditch",
    "Brixton",
    "Peckham",
    "Jordaan",
    "De Pijp",
    "Södermalm",
    "Žižkov",
    "Vinohrady",
    "Trastevere",
    "Navigli",
    "Malasaña",
    "Lavapiés",
    "Le Marais",
    "Belleville",
    "Ballsbridge",
    "Rathmines",
    "Williamsburg",
    "Bushwick",
    "Logan Square",
    "Pilsen",
    "Montrose",
    "Fishtown",
    "Poblacion",
    "Melville",
    "Yaba",
    "Westlands",
    "Thảo Điền",
    "Bandra",
    "Koramangala",
    "Fitzroy",
    "Ponsonby",
    "Cihangir",
    "Kazimierz",
    "Praga",
    "Palermo Soho",
    "Barranco",
    "Gràcia",
    "Alfama",
    "Moda",
)
SAINTS = (
    "Vincent",
    "Jude",
    "Luke",
    "Mary",
    "Joseph",
    "Francis",
    "Anne",
    "Elizabeth",
    "Catherine",
    "Michael",
    "Agnes",
    "Clare",
    "Rita",
    "Peter",
    "Bernard",
    "Camillus",
)
ORG_WORDS = (
    "Cedar",
    "Riverbend",
    "Harbor",
    "Prairie",
    "Summit",
    "Willow",
    "Bluebonnet",
    "Lakeshore",
    "Granite",
    "Evergreen",
    "Oak Hollow",
    "Red Mesa",
    "Pinecrest",
    "Silver Creek",
    "Northfield",
    "Seaview",
)
COMPANIES: tuple[tuple[str, str], ...] = (
    ("Northgate Energy Trading", "northgate-energy.com"),
    ("Halvorsen & Pike LLP", "halvorsenpike.com"),
    ("Brightwater Utilities", "brightwater-util.com"),
    ("Kestrel Capital Partners", "kestrelcap.co.uk"),
    ("Ostara Logistics", "ostara-logistics.example"),
    ("Marrow Creek Pipeline Co.", "marrowcreek.com"),
    ("Vantor Health Systems", "vantorhealth.org"),
    ("Lindqvist Engineering AB", "lindqvist-eng.se"),
    ("Corvane Insurance Group", "corvane.example.com"),
    ("Tallis Renewables", "tallisrenewables.co.uk"),
    ("Pereira & Filhos Ltda.", "pereirafilhos.com.br"),
    ("Redfern Analytics", "redfern-analytics.io"),
    ("Blue Heron Foods", "blueheronfoods.com"),
    ("Stonebridge Water District", "stonebridgewater.org"),
    ("Ardent Freight GmbH", "ardent-freight.de"),
    ("Copperline Telecom", "copperline.net"),
    ("Meridian Grain Cooperative", "meridiangrain.coop"),
    ("Wyncote Legal Services", "wyncote.example.org"),
    ("Salto Minerals S.A. de C.V.", "saltominerals.com.mx"),
    ("Dunmore Power Marketing", "dunmorepm.com"),
    ("Kovač Inženjering d.o.o.", "kovac-inz.hr"),
    ("Zielony Most Sp. z o.o.", "zielonymost.pl"),
)
WEBMAIL: dict[str, tuple[str, ...]] = {
    "default": (
        "gmail.com",
        "yahoo.com",
        "outlook.com",
        "hotmail.com",
        "icloud.com",
        "mail.example.org",
        "inbox.example.net",
    ),
    "pl_PL": ("wp.pl", "o2.pl", "onet.pl", "gmail.com"),
    "de_DE": ("gmx.de", "web.de", "posteo.de"),
    "pt_BR": ("uol.com.br", "bol.com.br", "gmail.com"),
    "es_MX": ("yahoo.com.mx", "hotmail.com", "gmail.com"),
    "cs_CZ": ("seznam.cz", "email.cz"),
    "it_IT": ("libero.it", "virgilio.it"),
    "fr_FR": ("orange.fr", "free.fr"),
    "tr_TR": ("yandex.com.tr", "hotmail.com"),
    "hr_HR": ("net.hr", "gmail.com"),
    "en_GB": ("btinternet.com", "sky.com"),
}
JOB_TITLES = (
    "Senior Analyst, Gas Structuring",
    "Director, Regulatory Affairs",
    "Paralegal",
    "VP, Origination",
    "Accounts Payable Specialist",
    "Project Coordinator",
    "Senior Counsel",
    "Scheduler",
    "Risk Manager",
    "Executive Assistant",
    "Field Engineer",
    "Credit Analyst",
    "Office Manager",
    "HR Generalist",
    "Procurement Lead",
    "Clinical Nurse Manager",
    "Data Engineer",
    "Manager, Trading Operations",
    "Contracts Administrator",
    "Associate",
    "Managing Director",
    "Environmental Specialist",
)
DEPARTMENTS = (
    "Cardiology",
    "Billing",
    "Radiology",
    "Oncology",
    "Orthopedics",
    "Pediatrics",
    "Dermatology",
    "Pharmacy",
    "Admissions",
    "Neurology",
    "Physical Therapy",
    "Labor & Delivery",
    "Endocrinology",
)
PRODUCTS = (
    "GasDesk",
    "TradeLink",
    "RiskView 4",
    "Pulse CRM",
    "Zentro X2",
    "Halo Scheduler",
    "OrderHub",
    "FleetTrack Pro",
    "Nimbus Docs",
    "Ledgerline",
    "MyPlan app",
    "CareConnect portal",
)
DRUGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("metformin", ("500 mg", "850mg", "1000 mg")),
    ("lisinopril", ("10 mg", "20mg", "5 mg")),
    ("atorvastatin", ("40 mg", "20mg")),
    ("amoxicillin", ("500 mg", "875 mg", "250mg/5ml")),
    ("levothyroxine", ("50 mcg", "75mcg", "100 mcg")),
    ("sertraline", ("50 mg", "100mg")),
    ("omeprazole", ("20 mg", "40mg")),
    ("amlodipine", ("5 mg", "10mg")),
    ("gabapentin", ("300 mg", "600mg")),
    ("prednisone", ("10 mg", "20 mg")),
    ("albuterol", ("90 mcg", "2 puffs")),
    ("losartan", ("50 mg", "100mg")),
    ("insulin glargine", ("20 units", "14 units")),
    ("semaglutide", ("0.25 mg", "1 mg")),
    ("hydrochlorothiazide", ("25 mg", "12.5mg")),
    ("montelukast", ("10 mg",)),
    ("escitalopram", ("10mg", "20 mg")),
    ("warfarin", ("5 mg", "2.5mg")),
    ("apixaban", ("5 mg", "2.5 mg")),
    ("furosemide", ("40 mg", "20mg")),
    ("ibuprofen", ("800 mg", "400mg")),
    ("cetirizine", ("10 mg",)),
    ("tamsulosin", ("0.4 mg",)),
)
FREQUENCIES = ("bid", "once daily", "q6h", "2x/day", "at bedtime", "prn", "tid", "daily", "")
ICD10 = (
    "E11.9",
    "E11.65",
    "I10",
    "J45.909",
    "M54.50",
    "F41.1",
    "F32.A",
    "K21.9",
    "N39.0",
    "R51.9",
    "Z00.00",
    "Z23",
    "J06.9",
    "S83.241A",
    "O24.419",
    "E78.5",
    "G43.909",
    "L40.0",
    "H52.4",
    "R05.9",
    "M17.11",
)
CPT = (
    "99213",
    "99214",
    "99203",
    "99395",
    "80053",
    "85025",
    "83036",
    "93000",
    "71046",
    "72148",
    "70553",
    "97110",
    "90471",
    "90686",
    "36415",
    "81002",
    "99284",
    "29881",
    "45378",
    "77067",
)
EMOJI = ("😂", "🙏", "🎉", "💪", "😭", "🙃", "✨", "🔥", "❤️", "👀", "😅", "🥲", "👍", "🍻", "🤦", "💀", "🥳")

# --------------------------------------------------------------------------- small generators


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def fill(rng: random.Random, pattern: str) -> str:
    """N: digit, X: digit 2-9, L: upper-case letter, A: upper-case letter or digit, Y: a year 2015-2025."""
    out = []
    for ch in pattern:
        if ch == "N":
            out.append(str(rng.randrange(10)))
        elif ch == "X":
            out.append(str(rng.randrange(2, 10)))
        elif ch == "L":
            out.append(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ"))
        elif ch == "A":
            out.append(rng.choice("ABCDEFGHJKLMNPQRTUVWXY0123456789"))
        elif ch == "Y":
            out.append(str(rng.randint(2015, 2025)))
        else:
            out.append(ch)
    return "".join(out)


def fold_ascii(text: str) -> str:
    """Lower-case ASCII form of a name part for e-mail local parts and usernames."""
    for src, dst in (
        ("ł", "l"),
        ("Ł", "l"),
        ("ø", "o"),
        ("Ø", "o"),
        ("đ", "d"),
        ("Đ", "d"),
        ("ß", "ss"),
        ("æ", "ae"),
        ("ı", "i"),
        ("ð", "d"),
        ("þ", "th"),
        ("ə", "e"),
        ("Ə", "e"),
    ):
        text = text.replace(src, dst)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", text)


PHONE_FORMATS: dict[str, tuple[str, ...]] = {
    "US": (
        "(XNN) XNN-NNNN",
        "XNN-XNN-NNNN",
        "XNN.XNN.NNNN",
        "+1 XNN XNN NNNN",
        "1-XNN-XNN-NNNN",
        "(XNN) XNN-NNNN x NNN",
        "XNN XNN NNNN",
        "+1 (XNN) XNN-NNNN",
        "XNN-XNN-NNNN ext. NNNN",
    ),
    "GB": (
        "07NNN NNNNNN",
        "+44 7NNN NNNNNN",
        "020 NNNN NNNN",
        "+44 (0)20 NNNN NNNN",
        "01NNN NNNNNN",
        "0161 NNN NNNN",
        "07NNNNNNNNN",
    ),
    "IE": ("08N NNN NNNN", "+353 8N NNN NNNN", "(01) NNN NNNN"),
    "PL": (
        "+48 5NN NNN NNN",
        "6NN NNN NNN",
        "5NN-NNN-NNN",
        "(22) NNN NN NN",
        "+48 22 NNN NN NN",
        "0048 6NN NNN NNN",
        "7NNNNNNNN",
    ),
    "MX": (
        "+52 55 NNNN NNNN",
        "55 NNNN NNNN",
        "(55) NNNN-NNNN",
        "+52 1 33 NNNN NNNN",
        "81 NNNN NNNN",
        "044 55 NNNN NNNN",
        "(999) NNN NNNN",
        "+52 (81) NNNN-NNNN",
    ),
    "BR": (
        "+55 11 9NNNN-NNNN",
        "(11) 9NNNN-NNNN",
        "(21) XNNN-NNNN",
        "11 9NNNN NNNN",
        "+55 (31) 9NNNN-NNNN",
        "(99) NNN-NNN",
    ),
    "TR": (
        "+90 5NN NNN NN NN",
        "05NN NNN NN NN",
        "0 (212) NNN NN NN",
        "(0216) NNN NN NN",
        "5NN NNN NNNN",
        "+90 (5NN) NNN-NNNN",
    ),
    "HR": ("+385 9N NNN NNNN", "09N NNN NNNN", "01/NNNN-NNN", "+385 1 NNNN NNN", "09N/NNN-NNN"),
    "VN": ("+84 9NN NNN NNN", "09NN NNN NNN", "090-NNN-NNNN", "(028) NNNN NNNN", "+84 (0)24 NNNN NNNN", "09NNNNNNNN"),
    "PH": ("+63 9NN NNN NNNN", "09NN-NNN-NNNN", "(02) 8NNN NNNN", "09NN NNN NNNN", "+63 2 8NNN NNNN"),
    "ZA": ("+27 8N NNN NNNN", "08N NNN NNNN", "011 NNN NNNN", "021 NNN NNNN", "+27 (0)21 NNN NNNN"),
    "NG": ("+234 80N NNN NNNN", "080N NNN NNNN", "0803-NNN-NNNN", "+234 (0)9 NNN NNNN"),
    "KE": ("+254 7NN NNNNNN", "07NN NNN NNN", "+254 (0) 7NN NNN NNN"),
    "IN": ("+91 9NNNN NNNNN", "9NNNNNNNNN", "+91-XNN-NNN-NNNN", "(022) NNNN NNNN", "0NN-NNNNNNNN"),
    "DE": ("+49 151 NNNNNNNN", "0151 NNNNNNNN", "030 NNNNNNNN", "+49 (0)89 NNNN NNN", "0NNNN/NNNNNN"),
    "FR": ("06 NN NN NN NN", "+33 6 NN NN NN NN", "01.NN.NN.NN.NN", "07NNNNNNNN"),
    "ES": ("+34 6NN NNN NNN", "6NN NN NN NN", "91 NNN NN NN"),
    "IT": ("+39 3NN NNN NNNN", "3NN NNNNNNN", "06 NNNN NNNN"),
    "PT": ("+351 9NN NNN NNN", "9NN NNN NNN", "21 NNN NNNN"),
    "NL": ("06-NNNNNNNN", "+31 6 NNNN NNNN", "020-NNN NNNN"),
    "SE": ("070-NNN NN NN", "+46 70 NNN NN NN", "08-NNN NNN NN"),
    "CZ": ("+420 6NN NNN NNN", "7NN NNN NNN"),
    "RO": ("+40 7NN NNN NNN", "07NN NNN NNN", "021 NNN NNNN"),
    "AR": ("+54 9 11 NNNN-NNNN", "11 NNNN-NNNN", "(011) 15-NNNN-NNNN"),
    "CO": ("+57 3NN NNN NNNN", "3NN NNN NNNN", "(601) NNN NNNN"),
    "ID": ("+62 81N-NNNN-NNNN", "081N NNNN NNNN", "(021) NNNN NNNN"),
    "DK": ("+45 NN NN NN NN", "NN NN NN NN", "NN-NN-NN-NN"),
    "LT": ("+370 6NN NNNNN", "86NN NNNNN"),
    "LV": ("+371 2N NNN NNN", "2N NNN NNN"),
    "SHORT": ("NN NNN NNN", "(NN) NNN-NNN", "NN-NN-NN-NN", "NNN-NNNN", "NNN NN NN", "NN NN NN"),
    "EE": ("+372 5NNN NNNN", "5NNN NNNN"),
    "IS": ("+354 NNN NNNN", "XNN NNNN"),
    "SI": ("+386 NN NNN NNN", "04N NNN NNN"),
    "HU": ("+36 NN NNN NNNN", "06 NN NNN NNNN", "06-NN/NNN-NNN"),
    "UZ": ("+998 9N NNN NN NN", "9N NNN-NN-NN"),
    "AZ": ("+994 5N NNN NN NN", "05N NNN NN NN"),
    "GH": ("+233 2N NNN NNNN", "02N NNN NNNN"),
    "FI": ("+358 40 NNN NNNN", "040 NNN NNNN", "09 NNNN NNNN"),
}
PHONE_COUNTRY_WEIGHTS: dict[str, float] = {
    "US": 10,
    "GB": 4,
    "PL": 4,
    "MX": 4,
    "BR": 4,
    "TR": 3,
    "HR": 3,
    "VN": 3,
    "PH": 3,
    "ZA": 3,
    "NG": 2,
    "KE": 2,
    "IN": 2,
    "DE": 2,
    "FR": 1,
    "ES": 1,
    "IT": 1,
    "PT": 1,
    "NL": 1,
    "SE": 1,
    "CZ": 1,
    "RO": 1,
    "AR": 1,
    "CO": 1,
    "ID": 1,
    "DK": 1,
    "LT": 1,
    "LV": 1,
    "SHORT": 4,
    "IE": 1,
    "EE": 1,
    "IS": 1,
    "SI": 1,
    "HU": 1,
    "UZ": 1,
    "AZ": 1,
    "GH": 1,
    "FI": 1,
}


def phone(rng: random.Random, country: str | None = None) -> str:
    country = country or _pick(rng, PHONE_COUNTRY_WEIGHTS)
    return fill(rng, rng.choice(PHONE_FORMATS[country]))


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def luhn_ok(number: str) -> bool:
    digits = [c for c in number if c.isdigit()]
    return luhn_digit("".join(digits[:-1])) == digits[-1]


CARD_SPECS: tuple[tuple[str, int], ...] = (
    ("4", 16),
    ("4", 16),
    ("4", 13),
    ("4", 19),
    ("51", 16),
    ("53", 16),
    ("55", 16),
    ("2221", 16),
    ("2720", 16),
    ("34", 15),
    ("37", 15),
    ("6011", 16),
    ("65", 16),
    ("35", 16),
    ("62", 16),
    ("62", 19),
    ("6759", 12),
    ("5018", 18),
    ("36", 14),
    ("6304", 19),
)


def card(rng: random.Random, bad_luhn: bool = False) -> str:
    prefix, length = rng.choice(CARD_SPECS)
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    check = luhn_digit(body)
    if bad_luhn:
        check = str((int(check) + rng.randint(1, 9)) % 10)
    digits = body + check
    sep = rng.choice((" ", " ", "-", ""))
    if length == 15:
        groups = (4, 6, 5)
    elif length == 14:
        groups = (4, 6, 4)
    else:
        groups = tuple([4] * (length // 4) + ([length % 4] if length % 4 else []))
    if not sep:
        return digits
    out, pos = [], 0
    for g in groups:
        out.append(digits[pos : pos + g])
        pos += g
    return sep.join(out)


def ssn(rng: random.Random, valid: bool = True) -> str:
    if valid:
        area = rng.choice([rng.randint(1, 665), rng.randint(667, 899)])
        parts = (f"{area:03d}", f"{rng.randint(1, 99):02d}", f"{rng.randint(1, 9999):04d}")
    else:
        parts = rng.choice(
            (
                ("123", "45", "6789"),
                ("000", fill(rng, "NN"), fill(rng, "NNNN")),
                ("666", fill(rng, "NN"), fill(rng, "NNNN")),
                (fill(rng, "9NN"), fill(rng, "NN"), fill(rng, "NNNN")),
                (fill(rng, "XNN"), "00", fill(rng, "NNNN")),
                (fill(rng, "XNN"), fill(rng, "XN"), "0000"),
                ("078", "05", "1120"),
                ("111", "11", "1111"),
                ("219", "09", "9999"),
                ("987", "65", "4320"),
            )
        )
    sep = rng.choices(("-", " ", "", "."), weights=(70, 12, 14, 4))[0]
    return sep.join(parts)


IBAN_BBAN: dict[str, str] = {
    "GB": "LLLLNNNNNNNNNNNNNN",
    "DE": "N" * 18,
    "PL": "N" * 24,
    "FR": "N" * 10 + "A" * 11 + "NN",
    "ES": "N" * 20,
    "NL": "LLLL" + "N" * 10,
    "IT": "L" + "N" * 10 + "A" * 12,
    "HR": "N" * 17,
    "TR": "NNNNN0" + "N" * 16,
    "RO": "LLLL" + "A" * 16,
    "CZ": "N" * 20,
    "PT": "N" * 21,
    "BR": "N" * 23 + "LA",
    "SE": "N" * 20,
    "CH": "NNNNN" + "A" * 12,
    "BE": "N" * 12,
    "AT": "N" * 16,
    "IE": "LLLL" + "N" * 14,
    "NO": "N" * 11,
    "DK": "N" * 14,
    "HU": "N" * 24,
    "SI": "N" * 15,
    "LT": "N" * 16,
    "GR": "N" * 7 + "A" * 16,
}


def _iban_number(text: str) -> int:
    return int("".join(str(int(c, 36)) for c in text))


def iban_valid(value: str) -> bool:
    compact = re.sub(r"\s", "", value).upper()
    return bool(re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]+", compact)) and _iban_number(compact[4:] + compact[:4]) % 97 == 1


def iban(rng: random.Random, country: str | None = None) -> str:
    country = country or rng.choice(sorted(IBAN_BBAN))
    bban = fill(rng, IBAN_BBAN[country])
    check = 98 - _iban_number(bban + country + "00") % 97
    compact = f"{country}{check:02d}{bban}"
    grouped = rng.random() < 0.5
    text = " ".join(compact[i : i + 4] for i in range(0, len(compact), 4)) if grouped else compact
    case = rng.choices(("upper", "lower", "cc-upper", "cc-lower"), weights=(50, 30, 10, 10))[0]
    if case == "lower":
        text = text.lower()
    elif case == "cc-upper":
        text = text[:2] + text[2:].lower()
    elif case == "cc-lower":
        text = text[:2].lower() + text[2:]
    return text


def public_ip(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return fill(
            rng, rng.choice(("2a02:81NN:9cN0:1aNN::4f", "2001:4860:NNNN:NNN::NN", "2804:14c:NNN:NNNN:NNNN::1"))
        )
    while True:
        addr = ipaddress.IPv4Address(rng.randrange(1 << 24, 224 << 24))
        if addr.is_global:
            return str(addr)


ID_SHAPES: dict[str, tuple[str, ...]] = {
    "mrn": ("NNNNNNNN", "L-Y-NNNNN", "MR-NNNNNNN", "NNNNNNN", "LNNNNNNNN", "NNN-NN-NNN", "NNNNNNNNNN"),
    "member": (
        "LLLNNNNNNNNN",
        "LLLNNNNNNNNN",
        "MBR-NNNNNN-NN",
        "LLL NNN NNN NNN",
        "NNNNNNNNN-01",
        "NAANNAANNNN",
        "LNNNNNNNNN",
        "U NNNN NNNN NN",
    ),
    "mbi": ("NLANN-LAN-LLNN", "NLANNLANLLNN"),
    "policy": ("PL-NNNNNNN", "POL/NNNN/NN", "NNNNNNN-NN", "LNNNNNNN", "LLL-NNNNNN-L", "NNNN NNNN NNNN"),
    "claim": ("Y-NNNN-NNNN", "CLMNNNNNNNN", "LNNNNNNNNNN", "NNNN-NNN-NN", "NNNNNNNNNNNN", "CL-NNNNNN"),
    "case": ("LL-NNNNNN", "LL-NNNNNN", "LLL-NNNNN", "CSNNNNNNN", "NNNNNNNN", "Y/NNNN", "LNN-NNNN-LL"),
    "ticket": ("INCNNNNNNN", "TKT-NNNNN", "REQ-NNNN-L", "NNNNNN", "SR NNNNNNN", "LLLL-NNNN"),
    "account": ("NNNNN-NNNNN", "NNNNNNNNNN", "LL NNNN NNNN", "NNN-NNNNNN-N", "NNNN NNNN NN"),
    "invoice": ("INV-NNNNN", "Y/NNNN", "NNNNNNN", "LL-Y-NNNN"),
    "rx": ("NNNNNNN", "RX-NNNNNNN", "NNNNNNN-NNNNN"),
    "license": ("LNNNNNNN", "LNNN-NNNN-NNNN", "NN NNN NNN", "LLLNXAXNN", "LL-NNNNN", "NNN-NNN-NNN"),
    "employee": ("ENNNNNN", "NNNNN", "L-NNNNNN", "NNNNNNNN"),
    "ref": ("LLNNLNN", "REF-NNNNNN", "NNNNNNNNN", "LNNN-LNNN", "PA-NNNNNNN"),
}


def id_number(rng: random.Random, kind: str) -> str:
    return fill(rng, rng.choice(ID_SHAPES[kind]))


MONTH3 = tuple(m[:3] for m in MONTHS)


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def format_date(rng: random.Random, d: dt.date, with_year: bool = True) -> str:
    if not with_year:
        return rng.choice(
            (
                f"{MONTHS[d.month - 1]} {d.day}",
                f"{MONTH3[d.month - 1].lower()} {d.day}",
                f"{d.month}/{d.day}",
                f"{MONTHS[d.month - 1]} {_ordinal(d.day)}",
                f"{d.day} {MONTHS[d.month - 1]}",
                f"{d.day}.{d.month}.",
                f"{MONTH3[d.month - 1]}. {d.day}",
            )
        )
    return rng.choice(
        (
            f"{d.month:02d}/{d.day:02d}/{d.year}",
            f"{d.month}/{d.day}/{d.year % 100:02d}",
            f"{d.day:02d}.{d.month:02d}.{d.year}",
            d.isoformat(),
            f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
            f"{d.day} {MONTH3[d.month - 1]} {d.year}",
            f"{MONTH3[d.month - 1].lower()} {d.day} {d.year}",
            f"{d.day}/{d.month}/{d.year}",
            f"{d.month}-{d.day}-{d.year}",
            f"{_ordinal(d.day)} {MONTHS[d.month - 1]} {d.year}",
            f"{d.month}/{d.day}/{d.year}",
            f"{d.day}-{MONTH3[d.month - 1]}-{d.year % 100:02d}",
        )
    )


def random_date(rng: random.Random, first_year: int, last_year: int) -> dt.date:
    start = dt.date(first_year, 1, 1).toordinal()
    return dt.date.fromordinal(rng.randint(start, dt.date(last_year, 12, 31).toordinal()))


# --------------------------------------------------------------------------- labelled text


@dataclass
class Doc:
    """Text assembled from parts; a part with an entity becomes a gold span."""

    parts: list[tuple[str, str | None]] = field(default_factory=list)

    def add(self, text: str, entity: str | None = None) -> Doc:
        if text:
            if entity is not None:
                assert entity in ENTITIES, entity
                assert text == text.strip() and "\n" not in text, repr(text)
            self.parts.append((text, entity))
        return self

    def extend(self, other: Doc) -> Doc:
        self.parts.extend(other.parts)
        return self

    def __len__(self) -> int:
        return sum(len(t) for t, _ in self.parts)

    def map(self, fn: Callable[[str], str], literals_only: bool = False) -> Doc:
        return Doc([(fn(t) if e is None or not literals_only else t, e) for t, e in self.parts])

    def quoted(self, prefix: str = "> ") -> Doc:
        out = Doc([(prefix, None)])
        out.parts.extend((t.replace("\n", "\n" + prefix) if e is None else t, e) for t, e in self.parts)
        return out

    def build(self) -> tuple[str, list[dict]]:
        pieces, spans, pos = [], [], 0
        for t, e in self.parts:
            if e is not None:
                spans.append({"entity": e, "start": pos, "end": pos + len(t), "value": t})
            pieces.append(t)
            pos += len(t)
        text = "".join(pieces)
        for s in spans:
            assert text[s["start"] : s["end"]] == s["value"], s
        return text, spans


@dataclass
class Org:
    name: str
    domain: str
    code: str
    street: str
    place: str
    web: str


@dataclass
class Person:
    locale: str
    gender: str
    first: str
    last: str
    middle: str
    nick: str
    extra: dict[str, Slot] = field(default_factory=dict)
    org: Org | None = None

    @property
    def full(self) -> str:
        return f"{self.last} {self.first}" if self.locale in FAMILY_NAME_FIRST else f"{self.first} {self.last}"


class Fakes:
    """One seeded Faker per locale."""

    def __init__(self, seed: int) -> None:
        self.by_locale: dict[str, Faker] = {}
        for i, loc in enumerate(ALL_LOCALES):
            f = Faker(loc)
            f.seed_instance(seed * 1009 + i)
            self.by_locale[loc] = f

    def _call(self, loc: str, *methods: str) -> str:
        f = self.by_locale[loc]
        for m in methods:
            try:
                return str(getattr(f, m)())
            except AttributeError:
                continue
        raise AttributeError(methods)

    def name_parts(self, rng: random.Random, loc: str, gender: str) -> tuple[str, str]:
        g = "male" if gender == "m" else "female"
        for _ in range(30):
            if loc == "vi_VN":
                first = self._call(loc, f"first_name_{g}")
                family, middle = self._call(loc, "last_name"), self._call(loc, "middle_name")
                last = f"{family} {middle}" if middle not in (family, first) else ""
            else:
                first = self._call(loc, f"first_name_{g}", "first_name")
                last = self._call(loc, f"last_name_{g}", "last_name")
                if rng.random() < DOUBLE_SURNAME.get(loc, 0):
                    last = f"{last} {self._call(loc, 'last_name')}"
            first, last = re.sub(r"\s+", " ", first).strip(), re.sub(r"\s+", " ", last).strip()
            if _latin_name(first) and _latin_name(last) and first not in ("John", "Jane"):
                return first, last
        raise RuntimeError(f"no Latin name from {loc}")

    def person(self, rng: random.Random, weights: dict[str, float], nick_boost: float = 0.0) -> Person:
        loc = _pick(rng, weights)
        gender = rng.choice("mf")
        first, last = self.name_parts(rng, loc, gender)
        if loc in ("en_US", "en_GB", "en_IE") and rng.random() < nick_boost:
            first = rng.choice(NICKNAME_FIRSTS_M if gender == "m" else NICKNAME_FIRSTS_F)
        nick = rng.choice(NICKNAMES[first]) if first in NICKNAMES and rng.random() < 0.75 else first
        middle = rng.choice("ABCDEFGHJKLMNPRSTW")
        return Person(loc, gender, first, last, middle, nick)

    def city(self, rng: random.Random) -> tuple[str, str]:
        """(city, its country)."""
        if rng.random() < 0.45:
            loc = rng.choice(sorted(FAKER_CITY_COUNTRY))
            for _ in range(10):
                name = self._call(loc, "city")
                if "(" not in name and _latin_name(name):
                    return name, FAKER_CITY_COUNTRY[loc]
        if rng.random() < 0.3:
            return rng.choice(US_PLACES)[0], "USA"
        country = rng.choice(sorted(CITIES))
        return rng.choice(CITIES[country]), country

    def city_of(self, rng: random.Random, loc: str) -> tuple[str, str]:
        """A real city of a locale's country, and the country."""
        if loc in FAKER_CITY_COUNTRY:
            for _ in range(10):
                name = self._call(loc, "city")
                if "(" not in name and _latin_name(name):
                    return name, FAKER_CITY_COUNTRY[loc]
        if loc == "en_US":
            return rng.choice(US_PLACES)[0], "USA"
        country = {
            "en_GB": "UK",
            "pt_BR": "Brazil",
            "tr_TR": "Turkey",
            "fr_FR": "France",
            "ro_RO": "Romania",
            "it_IT": "Italy",
            "es_MX": "Mexico",
            "vi_VN": "Vietnam",
            "en_IE": "Ireland",
        }.get(loc)
        if country is None:
            return self.city(rng)
        return rng.choice(CITIES[country]), country

    def street(self, rng: random.Random, loc: str | None = None) -> str:
        loc = loc or rng.choice(
            (
                "en_US",
                "en_US",
                "en_US",
                "en_GB",
                "pl_PL",
                "de_DE",
                "es_ES",
                "it_IT",
                "hr_HR",
                "nl_NL",
                "cs_CZ",
                "sv_SE",
                "pt_BR",
                "fr_FR",
                "tr_TR",
                "en_IN",
                "ro_RO",
            )
        )
        if loc not in self.by_locale:
            loc = "en_US"
        text = self._call(loc, "street_address")
        return re.sub(r"\s+", " ", text.replace("\n", ", ")).strip(" ,")

    def company(self, rng: random.Random, loc: str) -> str:
        if loc not in self.by_locale:
            loc = "en_US"
        return re.sub(r"\s+", " ", self._call(loc, "company")).strip()

    def postcode(self, loc: str) -> str:
        return self._call(loc if loc in self.by_locale else "en_US", "postcode")


def _latin_name(text: str) -> bool:
    return (
        bool(text)
        and all(unicodedata.name(c, "").startswith("LATIN") or c in " '-.’" for c in text)
        and not re.search(r"\b(?:I{2,3}|IV|Jr|Sr)\b", text)
    )


# --------------------------------------------------------------------------- per-record context and slots


class Ctx:
    """Values of one record: its people (fixed per record) and the slot values of the template being filled."""

    def __init__(self, rng: random.Random, fakes: Fakes, kind: str) -> None:
        self.rng, self.fakes, self.kind = rng, fakes, kind
        self.people: dict[str, Person] = {}
        self.alias: dict[str, Person] = {}
        self.cache: dict[str, Slot] = {}

    def person(self, key: str) -> Person:
        if key in self.alias:
            return self.alias[key]
        if key not in self.people:
            taken = {p.first for p in self.people.values()} | {p.last for p in self.people.values()}
            for _ in range(20):
                p = self.fakes.person(
                    self.rng, NAME_LOCALES[self.kind], nick_boost=0.3 if self.kind == "email" else 0.1
                )
                if p.first not in taken and p.last not in taken and p.nick not in taken:
                    break
            self.people[key] = p
        return self.people[key]

    def slot(self, name: str) -> Slot:
        if "." in name:
            key, attr = name.split(".", 1)
            return person_attr(self, self.person(key), attr)
        if name not in self.cache:
            self.cache[name] = SLOTS[name.rstrip("0123456789")](self)
        return self.cache[name]


def _username(rng: random.Random, p: Person) -> str:
    f, l = fold_ascii(p.first.split()[0]), fold_ascii(p.last.split()[0])  # noqa: E741 (first, last: short in the many f-strings below)
    return rng.choice(
        (
            f"{f}{l}{rng.randint(1, 99)}",
            f"{f}_{l[:1]}",
            f"{f[:3]}{l}",
            f"xx{f}xx",
            f"{f}.{l}",
            f"the_real_{f}",
            f"{f}{rng.randint(80, 99)}",
            f"{l}.{f[:1]}",
            f"{f}_{l}_",
            f"its{f}",
            f"{f}{l[:3]}",
            f"{f}.{rng.randint(1, 9)}{l}",
        )
    )


def _email(rng: random.Random, p: Person, domain: str | None) -> str:
    f, l = fold_ascii(p.first.split()[0]), fold_ascii(p.last.replace(" ", ""))  # noqa: E741 (first, last: short in the many f-strings below)
    if domain is None:
        domain = rng.choice(WEBMAIL.get(p.locale, ()) + WEBMAIL["default"])
    local = rng.choice(
        (
            f"{f}.{l}",
            f"{f[0]}{l}",
            f"{f}_{l}",
            f"{f}{l[0]}",
            f"{f}.{p.middle.lower()}.{l}",
            f"{l}.{f}",
            f"{f[0]}.{l}",
            f"{f}{l}{rng.randint(1, 99)}",
            f"{l}{f[0]}",
        )
    )
    return f"{local}@{domain}"


def _profile_url(rng: random.Random, p: Person, user: str) -> str:
    f, l = fold_ascii(p.first.split()[0]), fold_ascii(p.last.replace(" ", ""))  # noqa: E741 (first, last: short in the many f-strings below)
    return rng.choice(
        (
            f"https://www.linkedin.com/in/{f}-{l}-{fill(rng, 'NAANAA').lower()}",
            f"linkedin.com/in/{f}{l}",
            f"https://www.instagram.com/{user}/",
            f"instagram.com/{user}",
            f"https://github.com/{user}",
            f"https://{f}{l}.example.com",
            f"www.facebook.com/{f}.{l}.{rng.randint(10, 999)}",
            f"https://{user.replace('.', '').replace('_', '')}.substack.com",
            f"tiktok.com/@{user}",
            f"https://www.twitch.tv/{user}",
            f"behance.net/{f}{l}",
            f"https://{f}-{l}.example.net/portfolio",
        )
    )


def person_attr(ctx: Ctx, p: Person, attr: str) -> Slot:
    rng = ctx.rng
    names = {
        "first": p.first,
        "last": p.last,
        "full": p.full,
        "nick": p.nick,
        "fl": f"{p.first} {p.last}",
        "mid": f"{p.first} {p.middle} {p.last}",
        "midp": f"{p.first} {p.middle}. {p.last}",
        "formal": f"{p.last}, {p.first}",
        "formalmid": f"{p.last}, {p.first} {p.middle}",
    }
    if attr in names:
        return names[attr], "PERSON"
    if attr == "disp":  # the name a mail client shows; fixed per person
        if "disp" not in p.extra:
            p.extra["disp"] = (
                p.full if p.locale in FAMILY_NAME_FIRST or rng.random() < 0.7 else names["mid"],
                "PERSON",
            )
        return p.extra["disp"]
    if attr == "hon":
        return rng.choice(("Mr.", "Mr")) if p.gender == "m" else rng.choice(("Ms.", "Mrs.", "Ms")), None
    relations = {
        "child": ("son", "daughter"),
        "parent": ("dad", "mom"),
        "spouse": ("husband", "wife"),
        "sib": ("brother", "sister"),
        "they": ("he", "she"),
        "them": ("him", "her"),
        "their": ("his", "her"),
    }
    if attr in relations:
        return relations[attr][0 if p.gender == "m" else 1], None
    if attr in p.extra:
        return p.extra[attr]
    if attr == "email":
        value: Slot = (_email(rng, p, p.org.domain if p.org else None), "EMAIL_ADDRESS")
    elif attr == "email2":
        value = (_email(rng, p, None), "EMAIL_ADDRESS")
    elif attr in ("phone", "mobile", "fax"):
        country = LOCALE_PHONE.get(p.locale)
        if attr == "phone" and p.locale in FAKER_PHONE_LOCALES and rng.random() < 0.25:
            value = (ctx.fakes._call(p.locale, "phone_number"), "PHONE_NUMBER")
        else:
            value = (phone(rng, country), "PHONE_NUMBER")
    elif attr == "user":
        value = (_username(rng, p), "USERNAME")
    elif attr == "handle":
        value = ("@" + person_attr(ctx, p, "user")[0], "USERNAME")
    elif attr == "url":
        value = (_profile_url(rng, p, person_attr(ctx, p, "user")[0]), "URL")
    elif attr == "title":
        value = (rng.choice(JOB_TITLES), None)
    elif attr in ("org", "street", "place", "web", "code"):
        assert p.org is not None
        org = p.org
        value = {
            "org": (org.name, "ORGANIZATION"),
            "street": (org.street, "LOCATION"),
            "place": (org.place, "LOCATION"),
            "web": (org.web, None),
            "code": (org.code, None),
        }[attr]
    elif attr == "loc":  # Lotus-Notes location code
        value = (rng.choice(("HOU", "NYC", "LON", "CAL", "PDX", "DEN", "SAO", "WAW")), None)
    else:
        raise KeyError(attr)
    p.extra[attr] = value
    return value


def _us_place(rng: random.Random, with_zip: bool | None = None) -> str:
    city, state = rng.choice(US_PLACES)
    if with_zip is None:
        with_zip = rng.random() < 0.5
    return f"{city}, {state} {fill(rng, 'NNNNN')}" if with_zip else f"{city}, {state}"


STREET_LOCALES = (
    "en_US",
    "en_US",
    "en_GB",
    "pl_PL",
    "de_DE",
    "es_ES",
    "it_IT",
    "hr_HR",
    "nl_NL",
    "cs_CZ",
    "sv_SE",
    "pt_BR",
    "fr_FR",
    "tr_TR",
    "en_IN",
    "ro_RO",
    "da_DK",
    "fi_FI",
    "sl_SI",
    "sk_SK",
    "es_AR",
    "pt_PT",
)


def _street(ctx: Ctx) -> Slot:
    """A street address; a {city} later in the same template is a city of the same country."""
    loc = ctx.rng.choice(STREET_LOCALES)
    ctx.cache["_street_city"] = ctx.fakes.city_of(ctx.rng, loc)
    return ctx.fakes.street(ctx.rng, loc), "LOCATION"


def _city(ctx: Ctx) -> Slot:
    city, country = ctx.cache.pop("_street_city", None) or ctx.fakes.city(ctx.rng)
    ctx.cache.setdefault("_country", (country, "LOCATION"))
    return city, "LOCATION"


def _country(ctx: Ctx) -> Slot:
    if "_country" in ctx.cache:
        return ctx.cache["_country"]
    return ctx.rng.choice(COUNTRIES), "LOCATION"


def _hospital(ctx: Ctx) -> Slot:
    rng = ctx.rng
    city = rng.choice(US_PLACES)[0]
    sur = ctx.fakes._call(rng.choice(("en_US", "en_GB", "en_US")), "last_name")
    name = rng.choice(
        (
            f"St. {rng.choice(SAINTS)}'s",
            f"St. {rng.choice(SAINTS)}'s Hospital",
            f"St. {rng.choice(SAINTS)} Medical Center",
            f"Saint {rng.choice(SAINTS)} Regional",
            f"{city} General Hospital",
            f"{city} Regional Medical Center",
            f"{city} Methodist Hospital",
            "Methodist Hospital",
            f"Baptist Medical Center {city}",
            f"{sur} Memorial Hospital",
            f"{city} Children's Hospital",
            f"Mercy Hospital {city}",
            "Good Samaritan Hospital",
            f"Presbyterian {city}",
            f"University of {city} Medical Center",
            f"{city} University Hospital",
            f"{rng.choice(ORG_WORDS)} Medical Center",
            f"{rng.choice(ORG_WORDS)} Health",
            f"Hospital Ángeles {rng.choice(CITIES['Mexico'])}",
            f"Klinikum {ctx.fakes._call('de_DE', 'city')}",
            f"Ospedale San {rng.choice(('Raffaele', 'Camillo', 'Paolo', 'Martino'))}",
            f"Hospital São {rng.choice(('Lucas', 'José', 'Vicente', 'Camilo'))}",
            f"{sur}-{ctx.fakes._call('en_US', 'last_name')} Hospital",
            f"U{rng.choice('CMNT')}{rng.choice('SDHC')} Medical Center",
            "Providence St. Peter",
            f"Kaiser {city}",
        )
    )
    return name, "ORGANIZATION"


def _clinic(ctx: Ctx) -> Slot:
    rng = ctx.rng
    sur = ctx.fakes._call(rng.choice(("en_US", "es_MX", "en_GB", "pl_PL", "en_IN")), "last_name")
    city = rng.choice(US_PLACES)[0]
    return rng.choice(
        (
            f"{sur} Family Practice",
            f"{rng.choice(ORG_WORDS)} Urgent Care",
            f"{city} Dermatology Associates",
            f"{rng.choice(ORG_WORDS)} Pediatrics",
            f"{sur} & {ctx.fakes._call('en_US', 'last_name')} Orthopedics",
            f"Clínica {sur}",
            f"{rng.choice(ORG_WORDS)} Women's Health",
            f"{city} Eye Institute",
            f"{rng.choice(ORG_WORDS)} Behavioral Health",
            f"{sur} Medical Group",
            f"{city} Kidney Center",
            f"{rng.choice(ORG_WORDS)} Community Clinic",
        )
    ), "ORGANIZATION"


def _employer(ctx: Ctx) -> Slot:
    rng = ctx.rng
    if rng.random() < 0.4:
        return rng.choice(COMPANIES)[0], "ORGANIZATION"
    return ctx.fakes.company(
        rng,
        rng.choice(
            (
                "en_US",
                "en_GB",
                "pl_PL",
                "de_DE",
                "es_MX",
                "pt_BR",
                "hr_HR",
                "it_IT",
                "nl_NL",
                "tr_TR",
                "cs_CZ",
                "fr_FR",
                "sv_SE",
                "en_IN",
            )
        ),
    ), "ORGANIZATION"


def _school(ctx: Ctx) -> Slot:
    rng = ctx.rng
    city = rng.choice(US_PLACES)[0]
    sur = ctx.fakes._call("en_US", "last_name")
    return rng.choice(
        (
            f"{sur} High School",
            f"{city} Elementary",
            f"St. {rng.choice(SAINTS)}'s Academy",
            f"{rng.choice(ORG_WORDS)} Middle School",
            f"{sur} Montessori",
            f"Liceum im. {ctx.fakes._call('pl_PL', 'last_name')}",
            f"Colegio {ctx.fakes._call('es_MX', 'last_name')}",
            f"{city} Community College",
        )
    ), "ORGANIZATION"


def _uni(ctx: Ctx) -> Slot:
    rng = ctx.rng
    city = rng.choice(US_PLACES)[0]
    return rng.choice(
        (
            f"University of {city}",
            f"{city} State University",
            f"Universidad de {rng.choice(CITIES['Mexico'])}",
            f"Universidade Federal de {rng.choice(('Minas Gerais', 'Pernambuco', 'Goiás', 'Santa Catarina'))}",
            f"Uniwersytet {rng.choice(('Warszawski', 'Jagielloński', 'Gdański', 'Łódzki'))}",
            f"Sveučilište u {rng.choice(('Zagrebu', 'Splitu', 'Rijeci'))}",
            f"{rng.choice(ORG_WORDS)} College",
            f"{ctx.fakes._call('en_GB', 'last_name')} University",
            f"Technische Universität {ctx.fakes._call('de_DE', 'city')}",
        )
    ), "ORGANIZATION"


def _bank(ctx: Ctx) -> Slot:
    rng = ctx.rng
    sur = ctx.fakes._call(rng.choice(("en_US", "es_MX", "pt_BR", "it_IT")), "last_name")
    return rng.choice(
        (
            f"{rng.choice(ORG_WORDS)} Savings Bank",
            f"First {rng.choice(ORG_WORDS)} Bank",
            f"{rng.choice(US_PLACES)[0]} Community Credit Union",
            f"Banco {sur}",
            f"Banca {sur}",
            f"Bank Spółdzielczy w {rng.choice(('Gorlicach', 'Tarnowie', 'Płocku'))}",
            f"{sur} & Co. Bank",
            f"{rng.choice(ORG_WORDS)} Federal Credit Union",
            f"Caixa {rng.choice(('Rural', 'Geral', 'do Norte'))} {sur}",
        )
    ), "ORGANIZATION"


def _amount(ctx: Ctx) -> str:
    rng = ctx.rng
    n = rng.choice((rng.randint(5, 99), rng.randint(100, 999), rng.randint(1000, 25000)))
    cents = rng.choice((0, 0, 99, 50, rng.randint(1, 99)))
    return rng.choice(
        (
            f"${n:,}.{cents:02d}",
            f"${n:,}",
            f"€{n},{cents:02d}",
            f"£{n:,}",
            f"{n} USD",
            f"R$ {n},{cents:02d}",
            f"{n:,}.{cents:02d} zł",
            f"${n:,}.{cents:02d}",
        )
    )


def _dose(ctx: Ctx) -> str:
    drug, doses = ctx.rng.choice(DRUGS)
    freq = ctx.rng.choice(FREQUENCIES)
    return f"{drug} {ctx.rng.choice(doses)}" + (f" {freq}" if freq else "")


def _time(ctx: Ctx) -> str:
    rng = ctx.rng
    h, m = rng.randint(1, 12), rng.choice((0, 0, 15, 30, 45, rng.randint(0, 59)))
    return rng.choice((f"{h}:{m:02d}pm", f"{h}:{m:02d} AM", f"{h + 11}:{m:02d}", f"{h}am", f"{h} pm", f"{h}:{m:02d}"))


def _dur(ctx: Ctx) -> str:
    rng = ctx.rng
    return rng.choice(
        (
            f"{rng.randint(2, 10)} days",
            f"{rng.randint(2, 6)} weeks",
            f"{rng.choice((15, 20, 45, 90))} min",
            f"{rng.randint(2, 11)} months",
            "an hour",
            f"{rng.randint(2, 48)} hrs",
            "a week",
            "3 wks",
        )
    )


def _plain(fn: Callable[[Ctx], str]) -> Callable[[Ctx], Slot]:
    return lambda ctx: (fn(ctx), None)


SLOTS: dict[str, Callable[[Ctx], Slot]] = {
    # personal data
    "dob": lambda c: (format_date(c.rng, random_date(c.rng, 1932, 2022)), "DATE_TIME"),
    "kdob": lambda c: (format_date(c.rng, random_date(c.rng, 2006, 2024)), "DATE_TIME"),  # a child's
    "odob": lambda c: (format_date(c.rng, random_date(c.rng, 1925, 1960)), "DATE_TIME"),  # a parent's or grandparent's
    "date": lambda c: (format_date(c.rng, random_date(c.rng, 2018, 2025)), "DATE_TIME"),
    "sdate": lambda c: (format_date(c.rng, random_date(c.rng, 2018, 2025), with_year=False), "DATE_TIME"),
    "mrn": lambda c: (id_number(c.rng, "mrn"), "ID_NUMBER"),
    "member": lambda c: (id_number(c.rng, "member"), "ID_NUMBER"),
    "mbi": lambda c: (id_number(c.rng, "mbi"), "ID_NUMBER"),
    "policy": lambda c: (id_number(c.rng, "policy"), "ID_NUMBER"),
    "claim": lambda c: (id_number(c.rng, "claim"), "ID_NUMBER"),
    "case": lambda c: (id_number(c.rng, "case"), "ID_NUMBER"),
    "ticket": lambda c: (id_number(c.rng, "ticket"), "ID_NUMBER"),
    "acct": lambda c: (id_number(c.rng, "account"), "ID_NUMBER"),
    "invoice": lambda c: (id_number(c.rng, "invoice"), "ID_NUMBER"),
    "rx": lambda c: (id_number(c.rng, "rx"), "ID_NUMBER"),
    "license": lambda c: (id_number(c.rng, "license"), "ID_NUMBER"),
    "empid": lambda c: (id_number(c.rng, "employee"), "ID_NUMBER"),
    "ref": lambda c: (id_number(c.rng, "ref"), "ID_NUMBER"),
    "ssn": lambda c: (ssn(c.rng, valid=c.rng.random() < 0.65), "US_SSN"),
    "ssnbad": lambda c: (ssn(c.rng, valid=False), "US_SSN"),
    "card": lambda c: (card(c.rng, bad_luhn=c.rng.random() < 0.4), "CREDIT_CARD"),
    "iban": lambda c: (iban(c.rng), "IBAN_CODE"),
    "ip": lambda c: (public_ip(c.rng), "IP_ADDRESS"),
    "phone": lambda c: (phone(c.rng), "PHONE_NUMBER"),
    "usphone": lambda c: (phone(c.rng, "US"), "PHONE_NUMBER"),
    "email": lambda c: (_email(c.rng, c.fakes.person(c.rng, NAME_LOCALES[c.kind]), None), "EMAIL_ADDRESS"),
    "city": _city,
    "country": _country,
    "street": _street,
    "usstreet": lambda c: (c.fakes.street(c.rng, "en_US"), "LOCATION"),
    "place": lambda c: (_us_place(c.rng), "LOCATION"),
    "hood": lambda c: (c.rng.choice(NEIGHBOURHOODS), "LOCATION"),
    "hospital": _hospital,
    "clinic": _clinic,
    "employer": _employer,
    "school": _school,
    "uni": _uni,
    "bank": _bank,
    # not personal data
    "amount": _plain(_amount),
    "price": _plain(
        lambda c: c.rng.choice(
            (
                f"${c.rng.randint(20, 900)}",
                f"{c.rng.randint(50, 900)} zł",
                f"€{c.rng.randint(10, 400)}",
                f"R${c.rng.randint(30, 900)}",
                f"£{c.rng.randint(20, 300)}",
                f"${c.rng.randint(2, 6)}.{c.rng.randint(10, 99)}",
            )
        )
    ),
    "pct": _plain(
        lambda c: c.rng.choice(
            (
                f"{c.rng.randint(2, 60)}%",
                f"{c.rng.randint(1, 9)}.{c.rng.randint(0, 9)}%",
                f"{c.rng.randint(5, 40)} %",
                f"0.{c.rng.randint(10, 95)}%",
            )
        )
    ),
    "version": _plain(
        lambda c: c.rng.choice(
            (
                f"v{c.rng.randint(1, 12)}.{c.rng.randint(0, 9)}.{c.rng.randint(0, 30)}",
                f"{c.rng.randint(1, 6)}.{c.rng.randint(0, 20)}.{c.rng.randint(0, 9)}",
                f"v{c.rng.randint(2, 19)}",
                f"build {c.rng.randint(1000, 9999)}",
                f"{c.rng.randint(10, 24)}.{c.rng.randint(1, 12)}",
            )
        )
    ),
    "time": _plain(_time),
    "dur": _plain(_dur),
    "sku": _plain(
        lambda c: "SKU " + fill(c.rng, c.rng.choice(("NNNN-L", "NNNNN", "LL-NNN-NN", "NNN-NNNN", "LNNNN-LL")))
    ),
    "model": _plain(
        lambda c: fill(c.rng, c.rng.choice(("LL-NNN", "LLL NNNN", "LN Pro", "L-NNN", "LLNNN-L", "Series N")))
    ),
    "dose": _plain(_dose),
    "drug": _plain(lambda c: c.rng.choice(DRUGS)[0]),
    "icd": _plain(lambda c: c.rng.choice(ICD10)),
    "cpt": _plain(lambda c: c.rng.choice(CPT)),
    "room": _plain(lambda c: fill(c.rng, c.rng.choice(("NL", "NNNN", "NNL", "L-NNN", "NNN")))),
    "floor": _plain(lambda c: str(c.rng.randint(2, 40))),
    "pages": _plain(lambda c: (lambda a: f"{a}-{a + c.rng.randint(2, 12)}")(c.rng.randint(3, 80))),
    "qty": _plain(
        lambda c: c.rng.choice(
            (f"{c.rng.randint(2, 40) * 1000:,}", str(c.rng.randint(2, 60)), f"{c.rng.randint(100, 999)}")
        )
    ),
    "n": _plain(lambda c: str(c.rng.randint(2, 60))),
    "weekday": _plain(lambda c: c.rng.choice(WEEKDAYS)),
    "month": _plain(lambda c: c.rng.choice(MONTHS)),
    "year": _plain(lambda c: str(c.rng.randint(2015, 2026))),
    "q": _plain(lambda c: str(c.rng.randint(1, 4))),
    "dept": _plain(lambda c: c.rng.choice(DEPARTMENTS)),
    "jobtitle": _plain(lambda c: c.rng.choice(JOB_TITLES)),
    "product": _plain(lambda c: c.rng.choice(PRODUCTS)),
    "temp": _plain(
        lambda c: c.rng.choice(
            (
                f"10{c.rng.randint(0, 4)}.{c.rng.randint(0, 9)}",
                f"38.{c.rng.randint(1, 9)}°C",
                f"{c.rng.randint(100, 104)}F",
            )
        )
    ),
    "bp": _plain(lambda c: f"{c.rng.randint(105, 185)}/{c.rng.randint(60, 110)}"),
    "a1c": _plain(lambda c: f"{c.rng.randint(5, 11)}.{c.rng.randint(0, 9)}%"),
    "age": _plain(lambda c: str(c.rng.randint(19, 88))),
    "km": _plain(lambda c: f"{c.rng.randint(3, 42)}.{c.rng.randint(0, 9)}"),
    "emoji": _plain(lambda c: c.rng.choice(EMOJI)),
    "lang": _plain(
        lambda c: c.rng.choice(
            ("Spanish", "Polish", "Vietnamese", "Portuguese", "Turkish", "Croatian", "Yoruba", "Tagalog")
        )
    ),
}

SLOT_RE = re.compile(r"\{([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)?)(?:\|([a-z]+))?\}")
CASES: dict[str, Callable[[str], str]] = {"lower": str.lower, "upper": str.upper, "title": str.title}


def render(template: str, ctx: Ctx) -> Doc:
    """Fill one template. A slot repeated inside the template repeats its value; people persist per record."""
    ctx.cache = {}
    doc, pos = Doc(), 0
    for m in SLOT_RE.finditer(template):
        doc.add(template[pos : m.start()])
        text, entity = ctx.slot(m.group(1))
        doc.add(CASES[m.group(2)](text) if m.group(2) else text, entity)
        pos = m.end()
    doc.add(template[pos:])
    return doc


class Deck:
    """Templates dealt without replacement, reshuffled when used up, so every template is used."""

    def __init__(self, rng: random.Random, items: Sequence[str]) -> None:
        self.rng, self.items, self.pile = rng, list(items), []

    def draw(self) -> str:
        if not self.pile:
            self.pile = self.items[:]
            self.rng.shuffle(self.pile)
        return self.pile.pop()


# --------------------------------------------------------------------------- clinical / health-plan queries

CLINICAL_PII: tuple[str, ...] = (
    "pt {p.full} dob {dob} - needs refill {dose}, MRN {mrn}",
    "need prior auth for {p.full} ({dob}) MRI lumbar spine cpt 72148, member id {member}",
    "claim #{claim} denied?? visit {date} at {hospital}, dx {icd}",
    "my {q.child} {q.first} was seen at {hospital} ER on {sdate}, why is the bill {amount}",
    "Is Dr. {doc.last} at {clinic} in network? my member id is {member}",
    "looking for a pediatrician near {place} that takes my plan, policy #{policy}",
    "case #{case} - callback {usphone} re: {p.fl} appt",
    "hi this is {p.full}, my ssn is {ssn} and i never got my new card",
    "social security {ssn} dob {dob} name {p.full} pls update address to {usstreet}, {place}",
    "nurse line: my {q.parent} {q.full} (dob {odob}) fell at home, now at {hospital} room {room}",
    "MRN: {mrn} {p.formal|upper} - discharge summary missing from portal",
    "{p.fl} {dob} allergic to penicillin, on {dose}",
    "can i get a copy of my records from {hospital}? MRN {mrn}, dob {dob}",
    "billing question claim {claim} member {member} - charged {amount} for cpt {cpt}",
    "pateint {p.full} apointment {sdate} {time} w/ dr {doc.last|lower} - reschedule pls",
    "how do i add my newborn {q.first} to policy {policy}? born {date} at {hospital}",
    "fax records to {clinic} attn {doc.full}, fax {usphone}",
    "email me the eob at {p.email}, member id {member}",
    "my {q.spouse} {q.first} has chest pain since {time}, we're 10 min from {hospital} - go there or urgent care?",
    "lost card. member {member}, name {p.full}, {usstreet}, {place}",
    "rx #{rx} for {p.full} not ready at pharmacy, {dose}",
    "dr. {doc.last}'s office at {hospital} says they never got the referral, case {case}",
    "Appeal for claim {claim} - patient {p.full}, DOB {dob}, denial code CO-50",
    "who covers {p.first}'s physical therapy after surgery on {sdate}? 12 visits approved, used 9",
    "{p.full|lower} dob {dob} mrn {mrn} a1c {a1c} - flag for dr {doc.last|lower}",
    "ssn {ssn} member {member} - address change to {usstreet} {place}",
    "requesting transfer from {hospital} to {hospital2} for {q.full}, case #{case}",
    "my {q.child} {q.first|lower} needs tdap before school at {school}, do we need appt?",
    "policy # {policy} primary insured {p.full}, dependent {q.full}",
    "call back at {phone} - {p.first} re prior auth {ref}",
    "ER visit {date} at {hospital}, charged {amount} even tho in network. acct {acct}",
    "SS# {ssn}, need 1095-B form for {year}",
    "Patient: {p.formal} | MRN {mrn} | Admit {date} | Unit: {dept} {room}",
    "can {doc.full} at {clinic} see me before {weekday}? member id {member}",
    "pt states ssn {ssnbad}? system rejects it, dob {dob}",
    "medicare # {mbi} for {p.full}, {age}yo, part B effective {date}",
    "driver license {license} for id verification, name {p.full}",
    "need letter of medical necessity for {p.full}, dx {icd}, from dr {doc.last}",
    "my email changed, new one is {p.email}. policy {policy}",
    "covid test results for {p.fl} taken {sdate} at {clinic}?",
    "pls send card to {usstreet}, {place} - {p.full}, member {member}",
    "{hospital} billing says i owe {amount}, claim {claim}, they have wrong dob {dob}",
    "hi my name is {p.first} and i need a therapist in {city} who speaks {lang}",
    "dependent {q.full} turns 26 on {sdate}, when does coverage end? policy {policy}",
    "pt {p.formal} - bp {bp}, hr 88, sent to {hospital} ED via ambulance {time}",
    "MRN:{mrn} DOB:{dob} Dx:{icd} Rx:{dose}",
    "fmla paperwork for {p.full} from {employer}, leave starts {date}",
    "can i pay my bill w/ credit card {card}? acct {acct}",
    "card on file {card} was charged twice {amount} - {p.full}",
    "wire refund to iban {iban} please, claim {claim}",
    "I'm {p.first}, {age}yo, had knee surgery at {hospital} {sdate}, still swelling after {dur}",
    "portal login {p.user} locked out, member {member}",
    "who is my pcp? think its dr {doc.fl|lower} at {clinic|lower}",
    "ambulance bill from {city} fire dept, case {case}, {amount}",
    "pt's {q.spouse} {q.first} says pt takes {dose} and {dose2}, pt name {p.full}",
    "transfer records to {doc.full}, {clinic}, {usstreet}, {place}",
    "patient {p.full} seen in {dept} on {date}, f/u in {dur}",
    "is {hospital} out of network for policy {policy}? i live in {hood}",
    "{q.child} {q.first} dob {kdob} needs vision screening, member {member}",
    "claim {claim} for {q.full} - lab work at {clinic} on {sdate}, cpt {cpt}, {amount}",
    "MRN {mrn}/{p.last|upper}: allergy list update - sulfa, latex",
    "please call {p.first} at {phone} or email {p.email}",
    "case {case} escalated per {doc.full} ({dept}), pt {p.full}",
    "Ref {ref}: {p.full} requests itemized bill for stay {date} - {date2}",
    "hi, calling about my {q.parent} {q.fl}, {q.they}'s at {hospital} in {city}, mrn {mrn}",
    "pt {p.fl|lower} no show {sdate} {time}, 2nd time, policy {policy}",
    "my ip {ip} is blocked from the member portal?? member id {member}",
    "need {lang} interpreter for {p.full} appt {sdate} at {clinic}",
    "Dr {doc.last} ({clinic}) wants {p.first} back in {dur}, is the f/u covered? member {member}",
    "urgent: {p.full}, dob {dob}, ssn {ssn}, admitted {hospital} overnight",
    "{p.first} here - pharmacy says plan id {member} is inactive since {sdate}??",
    "claim no. {claim} / policy no. {policy} / insured {p.formalmid}",
    "my {q.child}'s name is {q.full}, dob {kdob}, she/he is on my plan {member}, cant find in app",
    "new address for {p.full}: {street}, {city}, {country}. member {member}",
    "pls update phone to {phone} for member {member} ({p.fl})",
    "ticket {ticket}: {p.user} can't log in to telehealth, {product}",
    "who do i talk to about claim {claim}? my {q.parent} {q.full} passed on {date}",
    "Dr. {doc.last|upper} at {hospital|upper} ordered {cpt}, PA #{ref}",
    "nurse {doc.first} at {clinic} said to call this line, pt {p.full}, {age} y/o, temp {temp}",
    "student health at {uni}, {p.fl}, member {member}",
    "self pay - charge my credit card {card} for the {amount} balance, acct {acct}",
    "hsa card {card} declined at {clinic} for {dose}",
    "refund to my bank please, iban {iban} (living abroad now), claim {claim}",
    "patient ssn {ssn}, name {p.full}, verify eligibility for {cpt}",
    "ss {ssn} / dob {dob} / {p.last|upper}",
    "{p.full} ssn# {ssn} needs id card reprint",
    "social {ssn}?? thats not mine, my dob is {dob}",
    "overpayment refund {amount} - send to IBAN {iban}, account holder {p.full}",
    "pay by card: {card}, name on card {p.fl}, invoice {invoice}",
    "nurse chat\nme: my {q.child} {q.first} has {temp} fever since {time}\nnurse: any rash?\n"
    "me: no. we are near {hospital}, my cell {phone}",
    "called 3x about case {case}!!! {p.full}, {usstreet}, {place}. {dur} on hold each time",
    "{p.fl} - Cardiology f/u at {hospital} {sdate} {time}, cardiologist Dr. {doc.last}, bring med list ({dose}, {dose2})",
    "pt dob {dob}, mrn {mrn}, seen by {doc.full} {sdate}; labs {cpt} and {cpt2} pending; pt phone {phone}",
    "can my caregiver {q.full} ({q.email}) get access to my portal? member {member}",
    "login from {ip} flagged? that was me in {city}. user {p.user}",
)

CLINICAL_FREE: tuple[str, ...] = (
    "is {dose} covered under tier 2? copay was {amount} last year",
    "what does cpt {cpt} mean on my eob",
    "difference between icd {icd} and {icd2}?",
    "prior auth needed for MRI lumbar spine ({cpt})?",
    "{dept} dept hours on {weekday}?",
    "urgent care vs ER for {temp} fever for {dur}",
    "how long after flu shot can i get tdap",
    "can i take ibuprofen 400 mg with {dose}?",
    "deductible is {amount}, i've paid {amount2} - do i still owe coinsurance {pct}?",
    "Room {room} call light not working, floor {floor}, please send someone",
    "out of pocket max for {year} plans? single vs family",
    "what's the copay for a telehealth visit, 15 min?",
    "are generic statins cheaper than brand on a 90 day supply",
    "fasting before blood work - 8 or 12 hours?",
    "{dept} referral expires after {dur}?",
    "A1c {a1c} is that prediabetic or diabetic",
    "bp {bp} at {time} after coffee, normal?",
    "how many PT visits per year does the gold plan cover, 20 or 30",
    "Billing: explanation of benefits shows adjustment code CO-45 for {amount}",
    "vaccine schedule for a 4 month old, is rotavirus included",
    "is {dose} safe in pregnancy 2nd trimester",
    "mail order pharmacy takes how many days? need {dose}, 90 tabs",
    "Pharmacy closed on {weekday}? need {dose} refill by {time}",
    "are hearing aids covered? looking at model {model}",
    "difference between HMO and PPO for out of network ER",
    "icd-10 code for type 2 diabetes w/o complications, {icd}?",
    "er copay waived if admitted within 24 hrs?",
    "cpt {cpt} billed twice same day, is that modifier 25?",
    "pen needles 32G 4mm - quantity limit 100 per {dur}?",
    "Open enrollment ends in {month}? can i switch to the HSA plan",
    "how to read EOB - allowed amount {amount} vs billed {amount2}",
    "Cardiology follow up every 6 months or yearly after a stent",
    "telehealth visits per year limit? used 12 already",
    "covered DME: cpap {model}, replacement mask every {dur}?",
    "why was {cpt} denied as not medically necessary",
    "Medicare part D coverage gap for {year}, what amount",
    "Is the {dept} clinic on floor {floor} or {floor2}?",
    "how many units of insulin is 0.5 ml of u-100",
    "what is the ICD-10 for high blood pressure, I10?",
    "Generic for {drug}? pharmacy quoted {amount} for 30 tabs",
    "Physical Therapy 97110 x4 units - copay per visit or per unit",
    "after hours line: {temp} temp and rash for {dur}, go to ER?",
    "Radiology says bring order + card, open {time}-{time2} on {weekday}",
    "Can a nurse practitioner prescribe {drug}? or only MD",
    "Billing dept said {pct} coinsurance after deductible, is that right for in network",
    "Lab CPT {cpt} and {cpt2} - preventive or diagnostic?",
)


CLINICAL_JOINS = (". ", " - ", "\n", " also ", ", ", "; ", "\n\n", ". also ")
SOCIAL_JOINS = ("\n\n", " ", "\n", " — ", " | ", "\n\nedit: ", " ... ", "\n> ")


def compose(
    ctx: Ctx, decks: dict[bool, Deck], pii_free: bool, joins: tuple[str, ...], share: float, limit: int
) -> Doc:
    """One template, or with probability `share` two or three joined (same people), up to `limit` characters.
    A text with PII may get a PII-free template as its second part."""
    rng = ctx.rng
    doc = render(decks[pii_free].draw(), ctx)
    more = 0 if rng.random() >= share else rng.choice((1, 1, 1, 2))
    for _ in range(more):
        extra = render(decks[pii_free or rng.random() < 0.5].draw(), ctx)
        if len(doc) + len(extra) + 4 > limit:
            break
        doc.add(rng.choice(joins)).extend(extra)
    return doc


def clinical_record(ctx: Ctx, decks: dict[bool, Deck], pii_free: bool) -> Doc:
    rng = ctx.rng
    doc = compose(ctx, decks, pii_free, CLINICAL_JOINS, 0.4, LENGTHS["clinical"][1])
    style = rng.random()
    if style < 0.3:
        doc = doc.map(str.lower)
    elif style < 0.38:
        doc = capitalize_first(doc)
    if rng.random() < 0.3:
        doc = doc.map(lambda t: typo(rng, t) if rng.random() < 0.5 else t, literals_only=True)
    if rng.random() < 0.15:
        doc = doc.map(lambda t: t.replace(", ", " , " if rng.random() < 0.5 else ",", 1), literals_only=True)
    if rng.random() < 0.2:
        doc.add(rng.choice(("?", " ??", " thx", " pls", " - thanks", ".", " asap", "!!")))
    return doc


def capitalize_first(doc: Doc) -> Doc:
    if doc.parts and doc.parts[0][1] is None:
        text = doc.parts[0][0]
        doc = Doc([(text[:1].upper() + text[1:], None)] + doc.parts[1:])
    return doc


def typo(rng: random.Random, text: str) -> str:
    words = list(re.finditer(r"[A-Za-z]{5,}", text))
    if not words:
        return text
    m = rng.choice(words)
    w, i = m.group(), rng.randrange(1, len(m.group()) - 2)
    op = rng.random()
    if op < 0.5:
        w2 = w[:i] + w[i + 1] + w[i] + w[i + 2 :]
    elif op < 0.8:
        w2 = w[:i] + w[i + 1 :]
    else:
        w2 = w[:i] + w[i] + w[i:]
    return text[: m.start()] + w2 + text[m.end() :]


# --------------------------------------------------------------------------- social posts and chat

SOCIAL_PII: tuple[str, ...] = (
    "talked to {p.first|lower} yesterday, says hi to everyone 😂",
    "omg {p.handle} you have to try the ramen place in {hood}",
    "call me at {phone} after {time}",
    "Selling my bike, {price} obo. Mobile: {phone}",
    "my iban is {iban} send the {n} quid pls 🙏",
    "used my credit card {card} on that site and now there are 3 charges of {amount} wtf",
    "happy bday {p.first}!!! 🎉🎉",
    "moving to {city} next month, anyone know a good dentist?",
    "shoutout to {p.full} for driving me all the way to {city} ✈️",
    "new post up 👉 {p.url}",
    "{p.first|lower} and i finally made it to {country} {emoji}",
    "dm me or whatsapp {phone} 🙂",
    "lost my dog near {street}, {city}. pls call {phone}",
    "congrats {p.handle} on the new job at {employer}!!",
    "anyone from {school} class of {year}? reunion planning, text {p.first} {phone}",
    "the bank asked for my ssn {ssn} over chat, is that normal??",
    "{p.fl} owes me {amount} since {month} 🙄",
    "follow my art acct {p.handle} pls 🎨",
    "met {p.first} at the {hood} farmers market, super nice",
    "my ip is {ip} and the server still bans me after {dur}",
    "Wedding of {p.first} & {q.first} in {city} was magical ✨",
    "ask for {p.first|lower} at the front desk of {employer}, tell them i sent u",
    "tfw {p.first|lower} forgets your bday again",
    "Contact: {p.full} | {phone} | {p.email}",
    "bro my venmo is {p.handle} 😂",
    "lmk if u want the room, {price}/mo, {hood}. {p.first} {phone}",
    "RIP grandpa {p.full}, {city} will miss you 🕊️",
    "{p.first|lower} from {city|lower} here, looking for gaming friends, discord {p.user}",
    "new phone who dis. jk it's {p.first}, save this: {phone}",
    "my friend {p.full} is missing since {sdate}, last seen in {hood}, {city}. please share",
    "anyone know {p.full}? we met at {uni} in {year}",
    "the guy at {bank} in {city} refused my card {card}",
    "gym buddy needed in {hood}! {p.first|lower}, {age}, mornings only. {phone}",
    "send it to my paypal {p.email} thx",
    "visiting {city} and {city2} in {month}, recs?? - {p.first}",
    "{p.handle} and {q.handle} carried the team tonight 🏆",
    "shoutout {q.first} from {employer} for fixing my wifi",
    "IBAN {iban} (name: {p.full}) for the group gift 🎁 {amount} each",
    "Mobile: {phone}\nEmail: {p.email}\n{city}",
    "{p.full|lower} is the best teacher at {school}, fight me",
    "{p.first}: u coming tonight?\n{q.first}: yes, {time}?\n{p.first}: ok 👍",
    "[{time}] {p.first}: call me at {phone}\n[{time2}] {q.first}: ok",
    "my cousin {p.first} got into {uni}!! 🎓",
    "ok who is {p.handle} and why do they have my old number {phone}",
    "registered at {clinic} with dr {doc.last}, super quick",
    "dear {p.first}, pls stop posting my address ({street}) in the group chat",
    "{p.fl|lower} on ig: {p.handle}",
    "found a wallet on {street} w/ license {license}, name {p.full}, dm me",
    "{p.first} said the party's at {street}, {hood}, {time}",
    "our landlord {p.full} still hasn't fixed the heating, {pct} of the building is freezing",
    "if anyone finds a black backpack in {hood} my number is {phone}",
    "tag {p.handle} in your {product} pics for a chance to win",
    "portfolio: {p.url}",
    "hmu on telegram {p.handle} or {phone}",
    "cheers {p.first}! see u in {country} 🍻",
    "made it to {city}, {country}! {p.first} picked me up at {time}",
    "hey {p.first|lower} whats ur iban again? mine is {iban}",
    "just transferred {amount} to {iban}, {p.first} confirm pls",
    "babysitter needed {weekday}s {time}-{time2} in {hood}, text {p.first} at {phone}",
    "{p.first|lower} n {q.first|lower} are engaged omg 💍",
    "my old roommate {p.full} works at {employer} in {city} now",
    "happy retirement {p.hon} {p.last}! 30 yrs at {school} 💐",
    "my email is {p.email} if the form bounces again",
    "Lost & found: keys with a tag that says {p.first} near {street}",
    "anyone near {hood}? {p.first|lower} needs a ride to {hospital} at {time}",
    "Pls RT: {p.full} ({p.handle}) missing since {sdate}",
    "a scam text had my full ssn {ssn}, reported it",
    "pay me back via credit card {card} or iban {iban}, whatever",
    "my {q.sib} {q.first} just opened a bakery in {hood}, go go go 🥐",
    "{p.fl} from {city} — {p.url}",
    "ugh {p.first|lower} called at {time} again. {dur} on the phone",
    "Salut {p.first} ! on se voit à {city} ? {phone}",
    "hola {p.first|lower}, te paso mi número: {phone}",
    "cześć {p.first}! mój numer to {phone}",
    "bok {p.first|lower}, zovi me na {phone}",
    "teşekkürler {p.first}! whatsapp: {phone}",
    "{p.handle} please return my charger, {hood} is not that far",
    "username {p.user} on every game, add me",
    "server admin here, banned {ip} for spam, appeal via {p.email}",
    "honestly {p.fl|lower} from {employer} is a legend",
    "credit card {card} expired so my sub got cancelled lmao",
    "reminder: {p.first}'s surprise party {weekday} at {street}, dont tell {p.them}",
    "Call me at {phone} — {p.first}\n(only after {time} pls)",
    "just landed in {city} {emoji} {q.first} where r u",
    "who needs my ssn for a gym membership?? they wrote {ssn} on the form in pen 😐",
    "bank app shows my iban as {iban}, why is it different from the paper one",
    "never post your credit card like this lol: {card}",
    "sending rent now: iban {iban}, ref {p.last|lower} {month}",
    "credit card {card} got cloned at a gas station in {city} 😤",
    "if ur paying for the trip my IBAN: {iban} ({p.full})",
    "my bday is {sdate} btw, {p.first} already forgot lol",
    "{p.full} born {odob} in {city}, thats my grandma 🎂 happy bday",
    "links: {p.url} and {q.url}",
    "check out my friend {p.first}'s work {p.url} ✨",
    "ok so. {p.first|lower} texted me at {time} asking for {q.first|lower}'s number ({phone}) and i gave it?? "
    "was that bad. {q.first|lower} pls dont be mad. also {p.first|lower} if ur reading this u owe me {amount}",
    "PSA for {hood}: someone in a grey van keeps asking for {p.first}. if u know {p.them} tell {p.them} to call "
    "{phone}. not a joke, {dur} of this already",
    "long story short: {p.full|lower} from {employer|lower} got me the interview, {q.first|lower} drove me to "
    "{city|lower} at {time} and i'm in!!! thank u both 😭😭",
    "Selling: {model} in mint condition, used {dur}, {price}. Pickup in {hood}, {city}. Mobile: {phone}. No lowballers pls",
    "looking for {p.full} who studied at {uni} around {year}. my email {q.email}",
    "router log shows {ip} trying to log in as {p.user} every {dur} 🤔",
    "my ssn ended up in a data breach ({ssn}), what do i even do",
)

SOCIAL_FREE: tuple[str, ...] = (
    "just hit 10k steps for the {n}th day in a row 💪",
    "{version} broke my mods again smh",
    "anyone else's order of {amount} stuck in 'processing' for {dur}?",
    "{weekday} mood ☕☕☕",
    "Preorder the {model} for {pct} off until {weekday}!",
    "out for delivery since {time} and still nothing 🙃",
    "new record: {km} km in {dur} 🏃",
    "why does the {product} update take {dur} lol",
    "summer plans: nothing. absolutely nothing. 🏖️",
    "{year} was wild, {year2} will be better",
    "pro tip: {sku} fits the old model too",
    "battery at {pct} after {dur} of gaming 😬",
    "Happy Friday everyone!!",
    "who else is watching the finale tonight at {time}",
    "just spent {amount} on groceries for 2 people, how",
    "my cat knocked over 3 plants today 🪴",
    "fixed it: rolled back to {version} and cleared cache",
    "page 214 of 380, this book is a slow burn 📚",
    "coffee #4 and it's only {time}",
    "rent went up {pct} this year... ok",
    "unpopular opinion: pineapple on pizza is fine 🍍",
    "Room {room} at the library is always freezing",
    "Sale ends {weekday} {time}, code SAVE20 for {pct} off",
    "Black Friday haul: {qty} items, {amount} total 😅",
    "lol the meeting at {time} could've been an email",
    "dentist appt done, no cavities 🦷",
    "Mondays should be illegal",
    "Firmware {version} fixed the wifi drops on the {model}",
    "my team lost 2-1 in extra time 😭",
    "gas is {price}/gal here now?!",
    "recipe: 200 g flour, 2 eggs, 350 ml milk, bake 25 min at 180°C",
    "congrats to everyone who finished the marathon in under 4 hours!",
    "the bus was {dur} late again. every. single. day.",
    "Level 47 finally 🎮 only took {dur}",
    "ordered model {model} in size 10, arrived in 9.5",
    "renewed my gym membership: {amount}/month, {pct} more than last year",
    "spring cleaning done ✅ donated 3 bags",
    "anyone else's app stuck on version {version}?",
    "big storm at {time}, lights flickered twice ⚡",
    "Mom's lasagna > any restaurant",
    "{month} goals: sleep 8h, drink water, touch grass",
    "Q{q} earnings call at {time} tomorrow, popcorn ready 🍿",
    "the new {product} UI moved every button, {pct} more clicks for everything",
    "Day {n} of learning Polish: still can't say 'szczęście' 😭",
    "grandma's 90th bday party was the best, 4 generations in one room",
    "Grocery list: 2 kg rice, 6 eggs, oat milk, {sku} filters",
    "3:45pm and i haven't eaten lunch, send help",
    "PSA: the {model} charger is NOT the same as the {model2} one",
    "ok who else has {n} unread emails after vacation",
    "Chapter 12 had me crying on the train 😭",
)


def social_record(ctx: Ctx, decks: dict[bool, Deck], pii_free: bool) -> Doc:
    rng = ctx.rng
    doc = compose(ctx, decks, pii_free, SOCIAL_JOINS, 0.35, LENGTHS["social"][1] - 10)
    style = rng.random()
    if style < 0.42:
        doc = doc.map(str.lower)
    elif style < 0.46:
        doc = doc.map(str.upper)
    elif style < 0.6:
        doc = capitalize_first(doc)
    if rng.random() < 0.25:
        doc = doc.map(lambda t: t.replace("'", "", 1).replace("you ", "u ", 1), literals_only=True)
    if rng.random() < 0.3:
        doc.add(" " + rng.choice(EMOJI) * rng.randint(1, 3))
    if rng.random() < 0.1:
        doc.add(rng.choice((" #blessed", " #mondays", " lol", " !!", " ...", " #tbt", " 🙏🏽")))
    return doc


# --------------------------------------------------------------------------- e-mail threads

EMAIL_PII_SENTENCES: tuple[str, ...] = (
    "I spoke with {t.full} at {employer} this morning and they can do {qty} MMBtu/d at {price}.",
    "{t.first} will be out until {date}, so please route anything urgent to me.",
    "Can you set up a call with {t.hon} {t.last} for {weekday} at {time}?",
    "My cell is {s.mobile} if you need me over the weekend.",
    "Please send the signed copy to {t.full}, {usstreet}, {place}.",
    "{t.first}'s direct line is {t.phone}.",
    "Per {c.nick}, the invoice was paid on {date}.",
    "I'm flying to {city} on {sdate} and back {weekday}.",
    "The wire should go to IBAN {iban} at {bank}.",
    "HR still needs your social security number for the I-9; the one on file, {ssn}, is missing a digit.",
    "Go ahead and put it on my card, {card}, and I'll expense it.",
    "The VPN log shows the login came from {ip}, not from our office range.",
    "Employee ID for {t.full} is {empid}, start date {date}.",
    "Ticket {ticket} is still open with the help desk.",
    "{t.full} from {employer} will join the {time} call.",
    "Thanks for the intro to {t.first}!",
    "I've attached {t.first}'s resume; {t.they} is currently at {employer} in {city}.",
    "Reminder: {t.fl}'s farewell lunch is {weekday} at {time} in Room {room}.",
    "Let me know if {c.nick} should be on the distribution list.",
    "Account {acct} was closed on {date}, so the refund has to go out by check.",
    "{c.nick} and I went through pages {pages} of the draft.",
    "You can reach {t.first} at {t.email} or {t.phone}.",
    "{t.hon} {t.last} (cc'd) handles the {country} accounts now.",
    "We met {t.full} and {u.full} at the {city} conference; both are keen on the {product} pilot.",
    "Invoice {invoice} for {amount} is addressed to {t.full}, who left {employer} in {month}.",
    "Please have {c.first} update my home address to {street}, {city}.",
    "I'm working from home today; call me on {s.mobile}.",
    "Dr. {t.last} signed off on the return-to-work note dated {date}.",
    "Did {r.nick} ever hear back from {u.full}?",
    "My personal email is {s.email2} in case the server is down again.",
    "Copying {c.first} - {c.they} has the {month} invoices.",
    "{u.fl} ({u.email}) is the new contact at {employer}.",
    "The driver's licence number on the rental form is {license}.",
    "I was at {hospital} with my {s.parent} on {weekday}, so I'm catching up now.",
    "Our new office address is {usstreet}, {place}.",
    "Can you ask {c.nick} to forward {t.first}'s profile? I think it's {t.url}.",
    "{t.first}'s flight from {city} lands at {time}; can someone pick {t.them} up?",
    "The background check for {t.full} (DOB {dob}) came back clear.",
    "Spoke to {r.first} - we agreed to push the signing to {sdate}.",
    "Congrats to {t.full} on the promotion!",
    "Expense report for the {city} trip is under {s.fl}, claim {ref}.",
    "{c.first} says the parking pass is registered to {c.email}.",
    "{u.hon} {u.last} from {bank} called about account {acct}.",
    "Can you send {t.first} the login for the shared drive? Username is {t.user}.",
    "Please refund the deposit to IBAN {iban}; the account is in {t.full}'s name.",
    "The corporate card {card} was declined at the hotel in {city}.",
    "Payroll shows SSN {ssn} for {t.full}, which doesn't match the W-4.",
    "The access request came from {ip} at {time}; {t.first} says it wasn't {t.them}.",
    "{t.full}'s portfolio is at {t.url} if you want to look before the interview.",
)
EMAIL_PLAIN_SENTENCES: tuple[str, ...] = (
    "The revised model ({version}) shows a {pct} variance against the Q{q} plan.",
    "Total comes to {amount} before tax.",
    "We're still waiting on legal for pages {pages} of the draft.",
    "Conference Room {room} is booked from {time} to {time2}.",
    "Volumes are {qty} MMBtu/d through {month}.",
    "The {product} release slipped to {weekday}; QA found {n} blocking bugs.",
    "Budget for {year} is {amount}, up {pct} on last year.",
    "Please use the standard template ({sku}) for orders over {amount}.",
    "I'll be in meetings until {time}.",
    "Let's discuss at the {weekday} staff meeting.",
    "Attached are the {month} numbers.",
    "Please review and let me know if you have any questions.",
    "The shipment of {qty} units of model {model} left the warehouse on {weekday}.",
    "I think we're close, but the {pct} escalator is still a sticking point.",
    "Can you check whether the {product} report ties to the GL? I'm off by {amount}.",
    "No rush on this - end of {month} is fine.",
    "See the redline on page {n}; section 4.2 still references the old rate.",
    "Credit wants a {amount} letter of credit before they approve.",
    "The {dept} group signed off, so we just need Legal.",
    "We need {qty} licenses of {product} for the {year} rollout.",
    "FYI - the {time} call moved to {time2}.",
    "I've updated the spreadsheet (tab 3, rows {pages}).",
    "The price curve moved {pct} overnight.",
    "Please don't forward outside the group.",
    "Sounds good to me.",
    "Agreed - let's go with option B.",
    "This is the third time the {product} export has timed out this week.",
    "The new rate is {price} per unit, effective next quarter.",
    "Let me know if you need anything else from me.",
    "I'll circulate the final version ({version}) once everyone has commented.",
    "The Accounts Payable queue has {n} items older than {dur}.",
    "Our Director of Operations wants a one-pager by {weekday}.",
)
EMAIL_FORWARD_NOTES: tuple[str, ...] = (
    "FYI - see below.",
    "{r.nick}, can you take a look at this before {weekday}?",
    "Forwarding for your records.",
    "See below - can you handle?",
    "Not sure who owns this now. {r.first}, is it you?",
    "Please see the note from {o.first} below and let me know what you think.",
    "fyi",
    "Per our call.",
    "{r.first} -\n\nCan you follow up on this one? {o.first} has been waiting since {weekday}.",
)
EMAIL_GREETINGS: tuple[str, ...] = (
    "Hi {r.nick},",
    "{r.first},",
    "{r.nick} -",
    "Hello {r.first},",
    "Dear {r.hon} {r.last},",
    "Hi {r.first} and {c.first},",
    "All,",
    "Team,",
    "Hi all,",
    "",
    "Hey {r.nick}",
    "Good morning {r.first},",
    "{r.nick}:",
    "Hi {r.first|lower},",
)
SIGNOFFS: dict[str, tuple[str, ...]] = {
    "en": (
        "Thanks,\n{s.nick}",
        "Regards,\n{s.disp}",
        "Best,\n{s.first}",
        "Cheers,\n{s.nick}",
        "-{s.nick}",
        "{s.first}",
        "Thanks!\n\n{s.nick}",
        "Kind regards,\n\n{s.disp}",
        "Thx\n{s.nick}",
        "Best regards,\n{s.fl}",
        "Thanks\n\n{s.first}",
        "Talk soon,\n{s.nick}",
    ),
    "de": ("Viele Grüße\n{s.first}", "Mit freundlichen Grüßen\n{s.full}", "Beste Grüße,\n{s.first}"),
    "pl": ("Pozdrawiam,\n{s.first}", "Pozdrawiam serdecznie\n{s.full}"),
    "es": ("Saludos,\n{s.first}", "Un saludo,\n{s.full}", "Saludos cordiales,\n{s.full}"),
    "fr": ("Cordialement,\n{s.full}", "Bonne journée,\n{s.first}"),
    "pt": ("Abraços,\n{s.first}", "Att,\n{s.full}"),
    "hr": ("Lijep pozdrav,\n{s.first}", "Srdačan pozdrav,\n{s.full}"),
    "it": ("Cordiali saluti,\n{s.full}", "Grazie,\n{s.first}"),
    "nl": ("Met vriendelijke groet,\n{s.full}", "Groeten,\n{s.first}"),
    "sv": ("Hälsningar,\n{s.first}", "Med vänliga hälsningar\n{s.full}"),
    "tr": ("Saygılarımla,\n{s.full}", "İyi çalışmalar,\n{s.first}"),
}
SIGNATURES: tuple[str, ...] = (
    "{s.disp}\n{s.title}\n{s.org}\n{s.phone}\n{s.email}",
    "{s.disp} | {s.title} | {s.org}\nT: {s.phone} | M: {s.mobile}",
    "{s.disp}\n{s.org}\n{s.street}\n{s.place}\nPhone: {s.phone}\nFax: {s.fax}",
    "--\n{s.disp}\n{s.title}, {s.org}\nDirect {s.phone}\n{s.web}",
    "{s.fl}\n{s.title}\n\n{s.org}\n{s.street}, {s.place}\nTel. {s.phone}\nMobile: {s.mobile}\nE-mail: {s.email}",
    "{s.disp}\n{s.org}\n(o) {s.phone}  (c) {s.mobile}",
    "________________________________\n{s.disp}\n{s.title}\n{s.org} | {s.web}\n{s.phone}",
    "{s.disp}\n{s.title}\n{s.dept_line}{s.org}\nOffice: {s.phone}",
    "{s.disp}\n{s.title} | {s.org}\n{s.phone}\nLinkedIn: {s.url}",
)
SUBJECTS: tuple[str, ...] = (
    "Q{q} capacity numbers",
    "revised term sheet",
    "{product} access",
    "Updated schedule for {weekday}",
    "Lunch with {t.first} {weekday}?",
    "{t.full} - references",
    "Meeting w/ {employer}",
    "budget {year} - first pass",
    "invoice {invoice}",
    "draft agreement ({version})",
    "transport contract",
    "expense report",
    "your voicemail",
    "Ticket {ticket}",
    "pricing for model {model}",
    "Room {room} booking",
    "Follow up",
    "checking in",
    "help with {product} export",
    "{month} close",
    "Offsite planning",
    "Contract extension - {employer}",
    "new hire paperwork",
    "travel to {city}",
    "call with {t.hon} {t.last}",
    "{pct} escalator",
    "Org announcement",
)
DISCLAIMERS: tuple[str, ...] = (
    "This e-mail is the property of {s.org} and may contain confidential and privileged material for the sole use "
    "of the intended recipient(s). Any review, use, distribution or disclosure by others is strictly prohibited.",
    "CONFIDENTIALITY NOTICE: This message and any attachments are intended only for the addressee and may contain "
    "information that is privileged or confidential. If you received it in error, please delete it and notify the sender.",
)
EMAIL_NOTICES: tuple[str, ...] = (
    "The {product} servers will be unavailable on {weekday} from {time} to {time2} while we apply patch {version}. "
    "Please save your work and log off before {time}. Expect a {dur} delay on overnight reports.",
    "As part of the Floor {floor} refurbishment, the {dept} team moves to Floor {floor2} next {weekday}. Boxes and "
    "labels are in Room {room}; please have everything packed by {time}.",
    "Quarterly fire drill: {weekday} at {time}. Use the stairwells, not the elevators, and gather at the north "
    "entrance. The drill takes about {dur}.",
    "Expense reports over {amount} now need a second approval. Mileage is reimbursed at {price} per mile from the "
    "start of the {year} fiscal year.",
    "Open enrollment closes at {time} on {weekday}. The PPO premium goes up {pct}; the HSA plan stays flat. Forms "
    "are in the {product} portal under Benefits > {year}.",
    "Password rotation: all accounts must change passwords every 90 days, with at least 14 characters. Accounts not "
    "updated by {weekday} will be locked and need a reset from the Help Desk.",
    "The Room {room} printer has been replaced with model {model}. Toner is {sku}; order it through the usual catalog.",
    "Budget templates for {year} are attached ({version}). Please return them by end of day {weekday}. Capital "
    "requests over {amount} need a one-page justification.",
    "The office is closed for the holiday on {weekday}. The help desk will be staffed from {time} to {time2} for "
    "urgent issues only.",
    "Parking garage level {n} is closed for resurfacing for {dur}. Overflow parking is across the street; validate "
    "your ticket at the front desk.",
    "Training: 'Records Retention Basics', {dur}, Room {room}, {weekday} at {time}. Seats are limited to {n}.",
    "Audit reminder: supporting documents for transactions above {amount} must be uploaded within {dur}. The sample "
    "covers {pct} of Q{q} entries.",
    "The travel policy now requires economy class for flights under {dur}. Hotel caps go up {pct} in high-cost cities.",
    "Shipping update: {qty} units of {model} are backordered; estimated restock is {dur}. Substitute {sku} is "
    "available at the same price.",
    "The cafeteria on Floor {floor} switches vendors in {month}. Menu feedback forms are by the registers.",
    "Reminder: the {month} close calendar is attached. Accruals are due by {time} on {weekday}; reversals post the "
    "following {weekday2}.",
)
EMAIL_FREE_REPLIES: tuple[str, ...] = (
    "Will the {product} web client also be down, or only the desktop app?",
    "Does this include the backup site? We have the {month} close that week.",
    "Thanks, noted. We'll plan around it.",
    "Can the deadline move to {weekday}? Half the team is out until then.",
    "Is Room {room} still available for the overflow?",
    "We're seeing the same {pct} discrepancy in the {product} export; is that related?",
    "Please add the {dept} group to the distribution.",
    "Understood. Is there a cost center code we should use for the {amount} charge?",
    "Quick question: does this apply to contractors as well?",
    "Confirmed - all {n} workstations on our side are updated to {version}.",
    "Where do we send questions about the {year} forms?",
    "Can we get the slides from the {time} session?",
)
ROLES = (
    "IT Service Desk",
    "Facilities Team",
    "Payroll",
    "Travel Desk",
    "Benefits Team",
    "Risk Systems Support",
    "Corporate Communications",
    "Procurement",
    "Mailroom",
    "Safety Committee",
    "Building Operations",
    "Learning & Development",
    "Internal Audit",
    "Records Management",
    "Help Desk",
    "Office Services",
    "Accounts Payable",
    "Treasury Operations",
    "Gas Scheduling Desk",
)
GROUPS = (
    "All Staff",
    "All Employees - Floor 32",
    "Risk Systems Users",
    "Finance Department",
    "Gas Structuring Group",
    "Trading Floor Distribution",
    "Project Leads",
    "New Hires - Orientation",
    "Legal Department",
    "Operations Managers",
    "Everyone",
    "Contractors and Temps",
)
LANG_OF_LOCALE = {
    "de": "de",
    "pl": "pl",
    "es": "es",
    "fr": "fr",
    "pt": "pt",
    "hr": "hr",
    "it": "it",
    "nl": "nl",
    "sv": "sv",
    "tr": "tr",
}
WEEKDAY3 = tuple(w[:3] for w in WEEKDAYS)
FR_DAYS = ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim.")
FR_MONTHS = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc.")
ES_MONTHS = ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic")


def header_date(rng: random.Random, when: dt.datetime, style: str) -> tuple[str, str]:
    """(date text labelled DATE_TIME, unlabelled suffix such as a time-zone name)."""
    h12 = when.hour % 12 or 12
    ampm = "AM" if when.hour < 12 else "PM"
    wd, mon, d, y = when.weekday(), when.month - 1, when.day, when.year
    if style == "rfc":
        offset, zone = rng.choice(
            (
                ("-0800", " (PST)"),
                ("-0600", " (CST)"),
                ("-0500", " (EST)"),
                ("+0100", " (CET)"),
                ("+0000", ""),
                ("-0700", ""),
            )
        )
        return f"{WEEKDAY3[wd]}, {d} {MONTH3[mon]} {y} {when:%H:%M:%S} {offset}", zone
    if style == "outlook":
        return f"{WEEKDAYS[wd]}, {MONTHS[mon]} {d:02d}, {y} {h12}:{when:%M} {ampm}", ""
    if style == "notes":
        return f"{when.month:02d}/{d:02d}/{y} {h12:02d}:{when:%M} {ampm}", ""
    if style == "gmail":
        return f"{WEEKDAY3[wd]}, {MONTH3[mon]} {d}, {y} at {h12}:{when:%M} {ampm}", ""
    if style == "apple":
        return f"{MONTHS[mon]} {d}, {y} at {h12}:{when:%M}:{when:%S} {ampm}", rng.choice(
            (" CST", " EDT", " GMT+1", "")
        )
    if style == "iso":
        return f"{y}-{when.month:02d}-{d:02d} {when:%H:%M}", ""
    if style == "de":
        return f"{d:02d}.{when.month:02d}.{y} um {when:%H:%M}", ""
    if style == "fr":
        return f"{FR_DAYS[wd]} {d} {FR_MONTHS[mon]} {y} à {when:%H:%M}", ""
    if style == "es":
        return f"{d} {ES_MONTHS[mon]} {y}, a las {when:%H:%M}", ""
    if style == "pl":
        return f"{d:02d}.{when.month:02d}.{y} o {when:%H:%M}", ""
    raise KeyError(style)


@dataclass
class Message:
    sender: Person
    to: list[Person]
    cc: list[Person]
    when: dt.datetime
    subject: Doc
    body: Doc = field(default_factory=Doc)
    forward: bool = False


def _pdoc(ctx: Ctx, p: Person, attr: str) -> Doc:
    text, entity = person_attr(ctx, p, attr)
    return Doc().add(text, entity)


def address(ctx: Ctx, p: Person, style: str) -> Doc:
    """A person as a mail header shows them."""
    if style == "name_email":
        return _pdoc(ctx, p, "disp").add(" <").extend(_pdoc(ctx, p, "email")).add(">")
    if style == "quoted_formal":
        return Doc().add('"').extend(_pdoc(ctx, p, "formal")).add('" <').extend(_pdoc(ctx, p, "email")).add(">")
    if style == "formal":
        return _pdoc(ctx, p, "formalmid" if person_attr(ctx, p, "disp")[0] != p.full else "formal")
    if style == "email":
        return _pdoc(ctx, p, "email")
    if style == "notes":
        return _pdoc(ctx, p, "disp").add(
            "/"
            + person_attr(ctx, p, "loc")[0]
            + "/"
            + person_attr(ctx, p, "code")[0]
            + "@"
            + person_attr(ctx, p, "code")[0]
        )
    if style == "mailto":
        return _pdoc(ctx, p, "disp").add(" [mailto:").extend(_pdoc(ctx, p, "email")).add("]")
    return _pdoc(ctx, p, "disp")


def address_list(ctx: Ctx, people: list[Person], style: str, sep: str = ", ") -> Doc:
    doc = Doc()
    for i, p in enumerate(people):
        if i:
            doc.add(sep)
        doc.extend(address(ctx, p, style))
    return doc


def _header(lines: list[tuple[str, Doc]], tab: bool = False) -> Doc:
    doc = Doc()
    for label, value in lines:
        if value.parts:
            doc.add(f"{label}:{chr(9) if tab else ' '}").extend(value).add("\n")
    return doc


def _date_doc(rng: random.Random, when: dt.datetime, style: str) -> Doc:
    text, suffix = header_date(rng, when, style)
    return Doc().add(text, "DATE_TIME").add(suffix)


def make_org(ctx: Ctx) -> Org:
    rng, fakes = ctx.rng, ctx.fakes
    loc = rng.choice(("en_US",) * 6 + ("en_GB", "pl_PL", "de_DE", "es_ES", "hr_HR", "nl_NL", "cs_CZ"))
    if rng.random() < 0.5:
        name, domain = rng.choice(COMPANIES)
    else:
        name = fakes.company(rng, loc)
        slug = fold_ascii(re.split(r"[ ,&-]", name)[0])[:14] or "corp"
        domain = slug + rng.choice((".com", ".com", ".co.uk", ".example.com", ".org", ".net", ".example"))
    code = "".join(w[0] for w in re.findall(r"[^\W\d_]+", name) if w[0].isupper())[:3].upper() or "CO"
    code = fold_ascii(code).upper() or "CO"
    if loc == "en_US":
        suffix = rng.choice(("", f", Suite {rng.randint(100, 4200)}", f", Floor {rng.randint(2, 40)}"))
        street = fakes.street(rng, "en_US") + suffix
        place = _us_place(rng, True)
    elif loc == "en_GB":
        street, place = fakes.street(rng, "en_GB"), f"{rng.choice(CITIES['UK'])} {fakes.postcode('en_GB')}"
    else:
        city = fakes.city_of(rng, loc)[0]
        street, place = fakes.street(rng, loc), f"{fakes.postcode(loc)} {city}"
    return Org(name, domain, code, street, place, "www." + domain)


def _lang(p: Person) -> str:
    return LANG_OF_LOCALE.get(p.locale[:2], "en")


def email_body(ctx: Ctx, msg: Message, signed: set[int]) -> Doc:
    rng = ctx.rng
    doc = Doc()
    greeting = rng.choice(EMAIL_GREETINGS)
    note = rng.choice(EMAIL_FORWARD_NOTES) if msg.forward else ""
    if "{c." in greeting and not msg.cc:
        greeting = "Hi {r.nick},"
    if greeting and not note.startswith("{r."):
        doc.extend(render(greeting, ctx)).add(rng.choice(("\n\n", "\n\n", "\n")))
    if msg.forward:
        doc.extend(render(note, ctx))
    else:
        used: set[str] = set()
        for pi in range(rng.choice((1, 2, 2, 3))):
            if pi:
                doc.add("\n\n")
            for si in range(rng.randint(1, 3)):
                if si:
                    doc.add(" ")
                pool = EMAIL_PII_SENTENCES if rng.random() < 0.4 else EMAIL_PLAIN_SENTENCES
                sentence = rng.choice([t for t in pool if t not in used])
                used.add(sentence)
                doc.extend(render(sentence, ctx))
    lang = _lang(msg.sender) if rng.random() < 0.7 else "en"
    doc.add("\n\n").extend(render(rng.choice(SIGNOFFS[lang]), ctx))
    if id(msg.sender) not in signed and rng.random() < 0.7:
        signed.add(id(msg.sender))
        doc.add(rng.choice(("\n\n", "\n\n\n", "\n"))).extend(render(person_signature(ctx, msg.sender), ctx))
    if rng.random() < 0.08:
        doc.add(
            "\n\n"
            + rng.choice(
                ("Sent from my iPhone", "Sent from my BlackBerry Wireless Handheld", "Get Outlook for Android")
            )
        )
    if rng.random() < 0.1:
        doc.add("\n\n").extend(render(rng.choice(DISCLAIMERS), ctx))
    return doc


def person_signature(ctx: Ctx, p: Person) -> str:
    if "sig" not in p.extra:
        p.extra["sig"] = (ctx.rng.choice(SIGNATURES), None)
        p.extra["dept_line"] = (
            ctx.rng.choice(("", "Gas Structuring\n", "Regulatory Affairs\n", "Credit Risk\n", "Human Resources\n")),
            None,
        )
    return p.extra["sig"][0]


def separator(ctx: Ctx, older: Message, newer: Message, style: str) -> tuple[Doc, bool]:
    """The block that introduces a quoted or forwarded older message, and whether its text is '> ' quoted."""
    rng = ctx.rng
    subj = older.subject
    if style == "outlook":
        sender = address(ctx, older.sender, rng.choice(("formal", "disp", "mailto")))
        to_style = "formal" if rng.random() < 0.6 else "disp"
        doc = (
            Doc()
            .add("-----Original Message-----\n")
            .extend(
                _header(
                    [
                        ("From", sender),
                        ("Sent", _date_doc(rng, older.when, "outlook")),
                        ("To", address_list(ctx, older.to, to_style, "; ")),
                        ("Cc", address_list(ctx, older.cc, to_style, "; ")),
                        ("Subject", subj),
                    ],
                    tab=rng.random() < 0.5,
                )
            )
            .add("\n")
        )
        return doc, False
    if style == "outlook_new":
        doc = (
            Doc()
            .add("________________________________\n")
            .extend(
                _header(
                    [
                        ("From", address(ctx, older.sender, "name_email")),
                        ("Sent", _date_doc(rng, older.when, "outlook")),
                        ("To", address_list(ctx, older.to, "name_email", "; ")),
                        ("Cc", address_list(ctx, older.cc, "name_email", "; ")),
                        ("Subject", subj),
                    ]
                )
            )
            .add("\n")
        )
        return doc, False
    if style == "gmail":
        lang = _lang(older.sender) if rng.random() < 0.6 else "en"
        who = address(ctx, older.sender, "name_email")
        if lang == "de":
            doc = Doc().add("Am ").extend(_date_doc(rng, older.when, "de")).add(" schrieb ").extend(who).add(":\n\n")
        elif lang == "fr":
            doc = Doc().add("Le ").extend(_date_doc(rng, older.when, "fr")).add(", ").extend(who).add(" a écrit :\n\n")
        elif lang == "es":
            doc = Doc().add("El ").extend(_date_doc(rng, older.when, "es")).add(", ").extend(who).add(" escribió:\n\n")
        elif lang == "pl":
            doc = (
                Doc().add("W dniu ").extend(_date_doc(rng, older.when, "pl")).add(", ").extend(who).add(" pisze:\n\n")
            )
        else:
            doc = Doc().add("On ").extend(_date_doc(rng, older.when, rng.choice(("gmail", "gmail", "iso"))))
            doc.add(", ").extend(who).add(" wrote:\n\n")
        return doc, True
    if style == "notes_fwd":
        fwd = _pdoc(ctx, newer.sender, "disp").add(
            "/" + person_attr(ctx, newer.sender, "loc")[0] + "/" + person_attr(ctx, newer.sender, "code")[0]
        )
        doc = Doc().add("---------------------- Forwarded by ").extend(fwd).add(" on ")
        doc.extend(_date_doc(rng, newer.when, "notes")).add(" ---------------------------\n\n\n")
        doc.extend(address(ctx, older.sender, rng.choice(("disp", "notes")))).add("\n")
        doc.extend(_date_doc(rng, older.when, "notes")).add("\n")
        doc.extend(
            _header(
                [
                    ("To", address_list(ctx, older.to, "notes")),
                    ("cc", address_list(ctx, older.cc, "notes")),
                    ("Subject", subj),
                ]
            )
        ).add("\n")
        return doc, False
    if style == "notes_reply":
        doc = Doc().extend(address(ctx, older.sender, "disp")).add(" on ").extend(_date_doc(rng, older.when, "notes"))
        doc.add("\n").extend(
            _header(
                [
                    ("To", address_list(ctx, older.to, "notes")),
                    ("cc", address_list(ctx, older.cc, "notes")),
                    ("Subject", subj),
                ]
            )
        ).add("\n")
        return doc, False
    if style == "fwd_gmail":
        doc = (
            Doc()
            .add("---------- Forwarded message ---------\n")
            .extend(
                _header(
                    [
                        ("From", address(ctx, older.sender, "name_email")),
                        ("Date", _date_doc(rng, older.when, "gmail")),
                        ("Subject", subj),
                        ("To", address_list(ctx, older.to, "name_email")),
                        ("Cc", address_list(ctx, older.cc, "name_email")),
                    ]
                )
            )
            .add("\n")
        )
        return doc, False
    if style == "apple":
        doc = _header(
            [
                ("From", address(ctx, older.sender, "name_email")),
                ("Subject", subj),
                ("Date", _date_doc(rng, older.when, "apple")),
                ("To", address_list(ctx, older.to, "name_email")),
            ]
        )
        return doc.add("\n"), True
    raise KeyError(style)


THREAD_STYLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # (reply separators, forward separators)
    "outlook": (("outlook", "outlook_new"), ("outlook",)),
    "gmail": (("gmail",), ("fwd_gmail", "apple")),
    "notes": (("notes_reply", "outlook"), ("notes_fwd",)),
    "mixed": (("outlook", "gmail", "notes_reply", "outlook_new"), ("notes_fwd", "fwd_gmail", "outlook", "apple")),
}


def email_thread(ctx: Ctx) -> Doc:
    rng = ctx.rng
    home, other = make_org(ctx), make_org(ctx)
    people = [ctx.person(k) for k in "abcd"]
    for i, p in enumerate(people):
        p.org = other if i == 3 or (i == 1 and rng.random() < 0.4) else home
        if rng.random() < 0.1:
            p.extra["email"] = (_email(rng, p, None), "EMAIL_ADDRESS")
    subject = render(rng.choice(SUBJECTS), ctx)
    n = rng.choice((2, 2, 3, 3, 3, 4))
    when = dt.datetime(
        rng.randint(1999, 2024),
        rng.randint(1, 12),
        rng.randint(1, 28),
        rng.randint(7, 18),
        rng.randint(0, 59),
        rng.randint(0, 59),
    )
    a, b, c, d = people
    msgs = [Message(a, [b], [c] if rng.random() < 0.6 else [], when, subject)]
    for _ in range(n - 1):
        prev = msgs[-1]
        when = prev.when + dt.timedelta(minutes=rng.randint(4, 60 * 40))
        if rng.random() < 0.7:
            sender = prev.to[0]
            cc = [p for p in prev.cc if p is not sender]
            msgs.append(Message(sender, [prev.sender], cc, when, Doc().add("RE: ").extend(prev.subject)))
        else:
            sender = rng.choice(prev.to + prev.cc)
            fresh = [p for p in people if p is not sender and p is not prev.sender and p not in prev.to + prev.cc]
            target = rng.choice(fresh or [p for p in people if p is not sender])
            msgs.append(
                Message(
                    sender,
                    [target],
                    [],
                    when,
                    Doc().add(rng.choice(("FW: ", "Fwd: ", "FW: "))).extend(prev.subject),
                    forward=True,
                )
            )
    signed: set[int] = set()
    for k, m in enumerate(msgs):
        others = [p for p in people if p is not m.sender and p is not m.to[0]]
        ctx.alias = {"s": m.sender, "r": m.to[0], "c": (m.cc or others)[0], "o": msgs[k - 1].sender if k else m.sender}
        m.body = email_body(ctx, m, signed)
    ctx.alias = {}
    family = rng.choice(sorted(THREAD_STYLES))
    doc = thread_header(ctx, msgs[-1])
    doc.extend(_chain(ctx, msgs, len(msgs) - 1, family))
    return doc


def _chain(ctx: Ctx, msgs: list[Message], i: int, family: str) -> Doc:
    rng = ctx.rng
    doc = Doc().extend(msgs[i].body)
    if i == 0:
        return doc
    replies, forwards = THREAD_STYLES[family]
    style = rng.choice(forwards if msgs[i].forward else replies)
    sep, quote = separator(ctx, msgs[i - 1], msgs[i], style)
    older = _chain(ctx, msgs, i - 1, family)
    doc.add(rng.choice(("\n\n", "\n\n\n", "\n\n \n")))
    if style == "apple":  # the forwarded header is quoted together with the message
        return doc.add("Begin forwarded message:\n\n").extend(sep.extend(older).quoted())
    if quote:
        return doc.extend(sep).extend(older.quoted())
    return doc.extend(sep).extend(older)


def thread_header(ctx: Ctx, m: Message) -> Doc:
    rng = ctx.rng
    style = rng.choice(("outlook", "enron", "subject", "none", "outlook", "enron", "gmail_print"))
    if style == "outlook":
        return _header(
            [
                ("From", address(ctx, m.sender, rng.choice(("name_email", "disp", "quoted_formal")))),
                ("Sent", _date_doc(rng, m.when, "outlook")),
                ("To", address_list(ctx, m.to, "name_email", "; ")),
                ("Cc", address_list(ctx, m.cc, "name_email", "; ")),
                ("Subject", m.subject),
            ]
        ).add("\n")
    if style == "enron":
        return _header(
            [
                ("Date", _date_doc(rng, m.when, "rfc")),
                ("From", _pdoc(ctx, m.sender, "email")),
                ("To", address_list(ctx, m.to, "email")),
                ("Subject", m.subject),
                ("Cc", address_list(ctx, m.cc, "email")),
                ("X-From", _pdoc(ctx, m.sender, "disp")),
                ("X-To", address_list(ctx, m.to, "disp")),
                ("X-cc", address_list(ctx, m.cc, "disp")),
            ]
        ).add("\n")
    if style == "subject":
        return Doc().add("Subject: ").extend(m.subject).add("\n\n")
    if style == "gmail_print":
        doc = address(ctx, m.sender, "name_email").add("\t").extend(_date_doc(rng, m.when, "gmail")).add("\n")
        return doc.add("To: ").extend(address_list(ctx, m.to, "name_email")).add("\n\n")
    return Doc()


def email_free_thread(ctx: Ctx) -> Doc:
    """An e-mail thread between teams and distribution lists: no names, addresses, or calendar dates."""
    rng = ctx.rng
    roles = rng.sample(ROLES, 4)
    group = rng.choice(GROUPS)
    n = rng.choice((2, 2, 3, 3, 4))
    subject = render(
        rng.choice(
            (
                "Planned outage - {product}",
                "Floor {floor} move",
                "Reminder: {month} close",
                "Policy update",
                "Fire drill {weekday}",
                "{year} budget templates",
                "Printer in Room {room}",
                "Open enrollment",
                "Training sessions",
                "Parking update",
                "Travel policy changes",
            )
        ),
        ctx,
    )
    family = rng.choice(("outlook", "gmail", "fwd"))
    extra = rng.randint(0, 2)
    while True:
        chain = Doc()
        sender, to = roles[0], group
        for k in range(n):
            if k:
                to = sender
                sender = rng.choice([r for r in roles if r != to])
            body = Doc()
            greeting = rng.choice(("All,", "Hi team,", "Hello everyone,", "Good morning,", "Hi,", "", "Team -"))
            if greeting:
                body.add(greeting + rng.choice(("\n\n", "\n")))
            body.extend(render(rng.choice(EMAIL_NOTICES if k == 0 else EMAIL_FREE_REPLIES), ctx))
            for _ in range(extra if k == 0 else rng.randint(0, 1)):
                body.add(" ").extend(render(rng.choice(EMAIL_PLAIN_SENTENCES), ctx))
            body.add("\n\n" + rng.choice(("Thanks,\n", "Regards,\n", "- ", "Thank you,\n\n", "")) + sender)
            if rng.random() < 0.2:
                body.add("\n\n").extend(render(DISCLAIMERS[1], ctx))
            if k == 0:
                chain, older_from, older_to = body, sender, to
                continue
            when = render(f"{{weekday}} {rng.choice(('at ', ''))}{{time}}", ctx).build()[0]
            subj = subject if k == 1 else Doc().add("RE: ").extend(subject)
            if family == "outlook":
                sep = Doc().add(
                    f"\n\n-----Original Message-----\nFrom: {older_from}\nSent: {when}\nTo: {older_to}\nSubject: "
                )
                sep.extend(subj).add("\n\n")
            elif family == "fwd":
                sep = Doc().add(
                    f"\n\n---------- Forwarded message ---------\nFrom: {older_from}\nDate: {when}\nSubject: "
                )
                sep.extend(subj).add(f"\nTo: {older_to}\n\n")
            else:
                sep = Doc().add(f"\n\nOn {when}, {older_from} wrote:\n\n")
            chain = body.extend(sep).extend(chain.quoted() if family == "gmail" else chain)
            older_from, older_to = sender, to
            continue
        doc = Doc()
        if rng.random() < 0.6:
            doc.add(f"From: {sender}\nTo: {to}\nSubject: RE: ").extend(subject).add("\n\n")
        doc.extend(chain)
        if len(doc) >= LENGTHS["email"][0] or extra > 8:
            return doc
        extra += 1


# --------------------------------------------------------------------------- records, checks, CLI

TEMPLATES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "clinical": (CLINICAL_PII, CLINICAL_FREE),
    "social": (SOCIAL_PII, SOCIAL_FREE),
}
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
IBAN_RE = re.compile(r"\b[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]{4}){3,7}\b")


def _doc_for(kind: str, ctx: Ctx, pii_free: bool, decks: dict[bool, Deck]) -> Doc:
    if kind == "email":
        return email_free_thread(ctx) if pii_free else email_thread(ctx)
    if kind == "clinical":
        return clinical_record(ctx, decks, pii_free)
    doc = social_record(ctx, decks, pii_free)
    if any(e in ("URL", "EMAIL_ADDRESS") for _, e in doc.parts) and doc.build()[0].isupper():
        doc = doc.map(str.lower)
    return doc


def check_record(rec: dict) -> list[str]:
    """Problems with one record; empty when it is fine."""
    text, spans, kind = rec["text"], rec["spans"], rec["kind"]
    problems = []
    low, high = LENGTHS[kind]
    if not low <= len(text) <= high:
        problems.append(f"length {len(text)} outside {low}-{high}")
    if rec["pii_free"] != (not spans):
        problems.append("pii_free does not match the spans")
    if "{" in text or "}" in text:
        problems.append("unrendered slot")
    previous_end, prev = 0, None
    for s in spans:
        value = s["value"]
        if not (previous_end <= s["start"] < s["end"] <= len(text)) or text[s["start"] : s["end"]] != value:
            problems.append(f"bad span {s}")
        if value != value.strip() or s["entity"] not in ENTITIES:
            problems.append(f"span {value!r} has whitespace or an unknown entity")
        if s["entity"] == "CREDIT_CARD" and not (
            re.fullmatch(r"[\d -]+", value) and 12 <= sum(c.isdigit() for c in value) <= 19
        ):
            problems.append(f"card {value!r}")
        if s["entity"] == "IBAN_CODE" and not iban_valid(value):
            problems.append(f"iban {value!r}")
        if s["entity"] == "US_SSN" and not re.fullmatch(r"\d{3}([- .]?)\d{2}\1\d{4}", value):
            problems.append(f"ssn {value!r}")
        if prev is not None and prev["entity"] == s["entity"] and not text[prev["end"] : s["start"]].strip():
            problems.append(f"spans {prev['value']!r} and {value!r} touch: one value split in two")
        previous_end, prev = s["end"], s
    # Every other whole-word occurrence of a labelled value must be labelled too.
    for value in {s["value"] for s in spans if len(s["value"]) >= 3 or s["entity"] == "PERSON"}:
        for m in re.finditer(r"(?<!\w)" + re.escape(value) + r"(?!\w)", text):
            if not any(s["start"] <= m.start() < s["end"] for s in spans):
                problems.append(f"unlabelled repeat of {value!r} at {m.start()}")
    if rec["pii_free"] and ("@" in text or EMAIL_RE.search(text) or IBAN_RE.search(text)):
        problems.append("pii_free text has an address or IBAN shape")
    return problems


def generate(seed: int) -> list[dict]:
    rng = random.Random(seed)
    fakes = Fakes(seed)
    records: list[dict] = []
    seen: set[str] = set()
    for kind, n in SIZES.items():
        free = set(rng.sample(range(n), round(n * PII_FREE_SHARE)))
        pii_templates, free_templates = TEMPLATES.get(kind, ((), ()))
        decks = {False: Deck(rng, pii_templates), True: Deck(rng, free_templates)}
        for i in range(n):
            pii_free = i in free
            for _ in range(200):
                ctx = Ctx(rng, fakes, kind)
                text, spans = _doc_for(kind, ctx, pii_free, decks).build()
                rec = {"id": f"{kind}-{i + 1:04d}", "kind": kind, "pii_free": pii_free, "text": text, "spans": spans}
                if not check_record(rec) and text not in seen:
                    break
            else:
                raise RuntimeError(f"{kind} {i}: no valid record in 200 tries: {check_record(rec)}")
            seen.add(text)
            records.append(rec)
    return records


def write_jsonl(records: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for rec in records:
            f.write(json.dumps(rec, sort_keys=True, ensure_ascii=False) + "\n")


def stats(records: list[dict]) -> str:
    kinds = list(SIZES)
    lines = [
        "| kind | texts | pii_free | with PII | spans | characters min / mean / max |",
        "|---|---|---|---|---|---|",
    ]
    for kind in kinds:
        recs = [r for r in records if r["kind"] == kind]
        lengths = [len(r["text"]) for r in recs]
        free = sum(r["pii_free"] for r in recs)
        lines.append(
            f"| {kind} | {len(recs)} | {free} | {len(recs) - free} | {sum(len(r['spans']) for r in recs)} | "
            f"{min(lengths)} / {sum(lengths) / len(lengths):.0f} / {max(lengths)} |"
        )
    counts = {k: Counter(s["entity"] for r in records if r["kind"] == k for s in r["spans"]) for k in kinds}
    lines += ["", "| entity | " + " | ".join(kinds) + " | total |", "|---|" + "---|" * (len(kinds) + 1)]
    for entity in ENTITIES:
        row = [counts[k][entity] for k in kinds]
        lines.append(f"| {entity} | " + " | ".join(str(c) for c in row) + f" | {sum(row)} |")
    totals = [sum(counts[k].values()) for k in kinds]
    lines.append("| all | " + " | ".join(str(c) for c in totals) + f" | {sum(totals)} |")
    extra = Counter()
    for r in records:
        for s in r["spans"]:
            if s["entity"] == "CREDIT_CARD" and not luhn_ok(s["value"]):
                extra["CREDIT_CARD with a bad Luhn digit"] += 1
            if s["entity"] == "US_SSN" and not _ssn_valid(s["value"]):
                extra["US_SSN that is not a valid SSN"] += 1
            if s["entity"] == "IBAN_CODE" and s["value"] != s["value"].upper():
                extra["IBAN_CODE not all upper case"] += 1
            if s["entity"] == "PERSON" and s["value"] == s["value"].lower():
                extra["PERSON all lower case"] += 1
            if s["entity"] == "PERSON" and " " not in s["value"] and "," not in s["value"]:
                extra["PERSON of one word"] += 1
            if s["entity"] == "PERSON" and any(ord(c) > 127 for c in s["value"]):
                extra["PERSON with non-ASCII letters"] += 1
    lines += ["", "| subset | spans |", "|---|---|"] + [f"| {k} | {v} |" for k, v in sorted(extra.items())]
    lines += [
        "",
        f"templates: clinical {len(CLINICAL_PII)} with PII + {len(CLINICAL_FREE)} PII-free; "
        f"social {len(SOCIAL_PII)} + {len(SOCIAL_FREE)}; e-mail {len(EMAIL_PII_SENTENCES)} PII sentences + "
        f"{len(EMAIL_PLAIN_SENTENCES)} plain sentences, {len(EMAIL_GREETINGS)} greetings, "
        f"{sum(len(v) for v in SIGNOFFS.values())} sign-offs, {len(SIGNATURES)} signatures, {len(SUBJECTS)} subjects, "
        f"7 quote/forward separators, 5 thread headers, {len(EMAIL_NOTICES)} notices + {len(EMAIL_FREE_REPLIES)} "
        f"replies for PII-free threads",
    ]
    return "\n".join(lines)


def _ssn_valid(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return (
        area not in ("000", "666")
        and area[0] != "9"
        and group != "00"
        and serial != "0000"
        and digits not in ("123456789", "078051120", "111111111", "219099999")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate the fixed realistic PII dev set (see the module docstring)."
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7, the committed set)")
    parser.add_argument("--out", type=Path, help=f"write the JSONL here (the committed set is {DEFAULT_OUT.name})")
    parser.add_argument("--stats", action="store_true", help="print counts per kind and per entity")
    parser.add_argument("--show", type=int, default=0, help="print this many records of each kind with their spans")
    args = parser.parse_args(argv)
    records = generate(args.seed)
    problems = [f"{r['id']}: {p}" for r in records for p in check_record(r)]
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    if args.out:
        write_jsonl(records, args.out)
        print(f"wrote {len(records)} records to {args.out}", file=sys.stderr)
    for kind in SIZES if args.show else ():
        for rec in [r for r in records if r["kind"] == kind][: args.show]:
            print(f"--- {rec['id']} pii_free={rec['pii_free']}\n{rec['text']}")
            for s in rec["spans"]:
                print(f"    {s['entity']:<14} {s['value']!r}")
    if args.stats or not (args.out or args.show):
        print(stats(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
