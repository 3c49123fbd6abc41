"""Near-duplicate detection at 10k, 50k and 100k documents: time, peak memory, precision/recall.

`python bench/dedup.py [--sizes 10000,50000,100000] [--seed 1] [--json PATH]`

1. Generates one seeded synthetic corpus of the largest size (timed on its own).
   Documents are ~1,000 characters of English-like prose: sentences from a
   dozen grammatical patterns, words drawn per part of speech with a Zipf
   distribution (real English words at the top ranks, pronounceable made-up
   words below them, 15,546 words in all), and a shared pool of 400 stock
   sentences (greetings, sign-offs) of which a document usually has one or
   two. So unrelated documents share common word triples and whole stock
   sentences, as real ones do, without being near-duplicates; the script
   prints how much they overlap.
2. Plants duplicates as it goes: each document is, with `--near-share`
   (default 5%), an edited copy of an earlier original, with `--exact-share`
   (default 1%) a verbatim copy, else a fresh document. Originals are fresh
   documents chosen uniformly among the earlier ones. Edits (1 to 3 per copy,
   see `EDITS`): substitute 1-4 words, typos in 1-2 words, insert a sentence,
   delete a sentence, change case/punctuation/spacing (invisible after
   `normalise`), append 2-4 sentences (a reply), truncate the last 1-3
   sentences, quote (the original follows 0.5-1.5x its length of new text, as
   in an e-mail thread). Each planted pair's exact shingle similarity is
   computed with the product's own `shingles` / `near_duplicate_similarity`,
   so the report says how many are near-duplicates by the product's
   definition.
3. For each size n, the first n documents (a prefix, so the smaller corpora are
   part of the larger) are handed to a fresh Python process (this script with a
   hidden flag), which times `normalise`, `signatures` and `find_clusters` with
   the product defaults (`DedupSettings()`) and reports its peak RSS (VmHWM
   on Linux; see `_peak_rss_mib` for why not `ru_maxrss`). Loading the corpus
   is not timed; the peak RSS with the corpus loaded, before detection, is
   printed next to the peak.
4. Scores each run: a planted copy is found when `cluster_of[copy] ==
   cluster_of[original]`; a detected pair `(i, cluster_of[i])`, i not its own
   head, is correct when both belong to the same planted family (an original
   and its copies). Cost per 1,000 documents is compared with the smallest
   size of the same run (the baseline), and the targets are checked:
   100k documents detected in under 120 s, recall of planted near-duplicates
   >= 0.95 at every size, per-document cost at the largest size within 1.5x
   of the smallest.

Exit status: 0 when every target passes, 1 when one fails or a measuring
process fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from bisect import bisect
from dataclasses import asdict, dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from pipeline.quality.dedup import DedupSettings, near_duplicate_similarity, shingles  # noqa: E402

TARGET_SIZE, TARGET_SECONDS, TARGET_RECALL, TARGET_LINEARITY = 100_000, 120.0, 0.95, 1.5

# --------------------------------------------------------------------------- vocabulary

DETERMINERS = "the a this that our their every some each my your its no any one another".split()
PREPOSITIONS = (
    "of in to for with on at from by about into over after under between through during before "
    "without against among around across behind beyond near since until within along"
).split()
PRONOUNS = "it they we he she you I someone everyone nobody".split()
CONJUNCTIONS = "and but or because while although so since if when unless".split()
AUXILIARIES = "will can should might must would could may did does".split()
NOUNS = (
    "time year people way day man thing woman life child world school state family student group country "
    "problem hand part place case week company system program question work government number night point "
    "home water room mother area money story fact month lot right study book eye job word business issue "
    "side kind head house service friend father power hour game line end member law car city community name "
    "president team minute idea kid body information back parent face others level office door health person "
    "art war history party result change morning reason research girl guy moment air teacher force education "
    "foot boy age policy process music market sense nation plan college interest death experience effect use "
    "class control care field development role effort rate heart drug show leader light voice wife police mind "
    "price report decision son view relationship town road arm difference value building action model season "
    "society tax director position player record paper space ground form event official matter center couple "
    "site project activity star table need court oil situation cost industry figure street image phone data "
    "picture practice piece land product doctor wall patient worker news test movie north love support "
    "technology step baby computer type attention film tree source organization hair window evidence "
    "population site account order invoice delivery package refund garden river bridge engine letter "
    "meeting schedule budget contract customer shipment warehouse platform network signal pattern"
).split()
VERBS = (
    "said made went took came saw knew got gave found thought told became showed left felt brought began kept "
    "held wrote stood heard let meant set met ran paid sat spoke lay led read grew lost fell sent built "
    "understood drew broke spent cut rose drove bought wore chose asked needed wanted used tried called "
    "worked seemed turned started helped moved played lived believed happened included continued changed "
    "watched followed stopped created opened walked offered remembered considered appeared waited served "
    "expected sold required reported decided pulled returned explained hoped developed carried received "
    "agreed supported produced noticed fixed shipped checked updated cancelled replaced answered delayed"
).split()
ADJECTIVES = (
    "other new good high old great big small large national young different black long little important "
    "political bad white real best right social only public sure low early able human local late hard major "
    "better economic strong possible whole free military true federal international full special easy clear "
    "recent certain personal open red difficult available likely short single medical current wrong private "
    "past foreign fine common poor natural significant similar hot dead central happy serious ready simple "
    "left physical general environmental financial blue democratic dark various entire close legal religious "
    "cold final main green nice huge popular traditional cultural quiet broken urgent missing previous"
).split()
ADVERBS = (
    "also very often however too usually really early never always sometimes together likely simply "
    "generally instead actually again rather almost especially ever quickly probably already finally "
    "recently soon certainly clearly"
).split()

ONSETS = "b bl br c ch cl cr d dr f fl fr g gl gr h j k l m n p pl pr r s sc sh sl sp st str t th tr v w wh z".split()
VOWELS = "a e i o u ai ea ee io ou oa".split()
CODAS = ["", "", "n", "r", "l", "s", "t", "nd", "nt", "st", "rk", "ng", "ck", "m", "ll", "rd", "ss"]
NOUN_ENDINGS = ["", "", "er", "ion", "ment", "ness", "ity", "age", "ance"]
VERB_ENDINGS = ["ed", "ed", "ed", "es", "ened", "ified", "ated"]
ADJ_ENDINGS = ["", "al", "ic", "ous", "ive", "ful", "less", "able", "y"]

# Sentence patterns: D determiner, A adjective, N noun, V verb, P preposition, R pronoun,
# C conjunction, X auxiliary (followed by a verb), B adverb.
PATTERNS = [
    "D A N V D N",
    "D N V P D A N",
    "R V D N P D N",
    "D N P D N V B",
    "R X V D A N C R V D N",
    "D A N C D N V P D N",
    "B R V D N P D A N",
    "D N V D N C V D A N",
    "R V P D N P D N",
    "D A A N V D N P D N",
    "P D N R V D A N",
    "D N X V D N B",
]
STOCK_SENTENCES = 400


def _zipf_cumulative(n: int, exponent: float) -> list[float]:
    return list(accumulate(1.0 / (rank**exponent) for rank in range(1, n + 1)))


def _made_up_words(rng: random.Random, count: int, endings: list[str], taken: set[str]) -> list[str]:
    """Pronounceable English-like words (`blorndness`, `stealed`) not in `taken`."""
    words: list[str] = []
    while len(words) < count:
        word = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(rng.choice((1, 1, 2, 2, 3))))
        word += rng.choice(CODAS) + rng.choice(endings)
        if word not in taken:
            taken.add(word)
            words.append(word)
    return words


@dataclass
class WordClass:
    """Words of one part of speech and Zipf cumulative weights over their ranks."""

    words: list[str]
    cumulative: list[float] = field(init=False)

    def __post_init__(self) -> None:
        self.cumulative = _zipf_cumulative(len(self.words), 1.05)

    def draw(self, rng: random.Random) -> str:
        return self.words[bisect(self.cumulative, rng.random() * self.cumulative[-1])]


def build_vocabulary(rng: random.Random) -> dict[str, WordClass]:
    """Part-of-speech letter -> words; real words first (most frequent), made-up words after."""
    taken = {
        w.lower()
        for w in DETERMINERS
        + PREPOSITIONS
        + PRONOUNS
        + CONJUNCTIONS
        + AUXILIARIES
        + NOUNS
        + VERBS
        + ADJECTIVES
        + ADVERBS
    }
    verbs = VERBS + _made_up_words(rng, 3000, VERB_ENDINGS, taken)
    return {
        "D": WordClass(DETERMINERS),
        "P": WordClass(PREPOSITIONS),
        "R": WordClass(PRONOUNS),
        "C": WordClass(CONJUNCTIONS),
        "X": WordClass(AUXILIARIES),
        "B": WordClass(ADVERBS),
        "N": WordClass(NOUNS + _made_up_words(rng, 8000, NOUN_ENDINGS, taken)),
        "V": WordClass(verbs),
        "A": WordClass(ADJECTIVES + _made_up_words(rng, 4000, ADJ_ENDINGS, taken)),
    }


# --------------------------------------------------------------------------- corpus


@dataclass
class Corpus:
    """Documents in order, and for each its planted kind and the index of its original (itself if fresh)."""

    texts: list[str]
    kinds: list[str]  # "fresh", "exact" or "near"
    original: list[int]
    edits: list[list[str]]  # edit names applied to near copies


class Writer:
    """Seeded source of sentences and documents."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.vocab = build_vocabulary(self.rng)
        self.stock = [self.sentence() for _ in range(STOCK_SENTENCES)]
        self.stock_cumulative = _zipf_cumulative(STOCK_SENTENCES, 1.0)

    def sentence(self) -> str:
        pattern = self.rng.choice(PATTERNS).split()
        words = [self.vocab[letter].draw(self.rng) for letter in pattern]
        if self.rng.random() < 0.3:  # a trailing prepositional phrase
            words += [self.vocab["P"].draw(self.rng), self.vocab["D"].draw(self.rng), self.vocab["N"].draw(self.rng)]
        text = " ".join(words)
        return text[0].upper() + text[1:] + self.rng.choice(".....!?")

    def stock_sentence(self) -> str:
        return self.stock[bisect(self.stock_cumulative, self.rng.random() * self.stock_cumulative[-1])]

    def sentences(self, chars: int) -> list[str]:
        """Fresh sentences totalling about `chars` characters."""
        out: list[str] = []
        while sum(len(s) + 1 for s in out) < chars:
            out.append(self.sentence())
        return out

    def document(self) -> list[str]:
        """A new document as a list of sentences, ~1,000 characters (600-1,500)."""
        target = min(1500, max(600, int(self.rng.gauss(1000, 180))))
        opener = [self.stock_sentence()] if self.rng.random() < 0.6 else []
        closer = [self.stock_sentence()] if self.rng.random() < 0.6 else []
        body = self.sentences(target - sum(len(s) + 1 for s in opener + closer))
        return opener + body + closer


def render(sentences: list[str], rng: random.Random) -> str:
    """Sentences joined by spaces, with a paragraph break now and then."""
    parts: list[str] = []
    for i, sentence in enumerate(sentences):
        if i:
            parts.append("\n\n" if rng.random() < 0.12 else " ")
        parts.append(sentence)
    return "".join(parts)


def _edit_words(sentences: list[str], rng: random.Random, count: int, change: Any) -> list[str]:
    """Apply `change(word) -> word` to `count` random words of at least 3 letters."""
    words = [s.split(" ") for s in sentences]
    spots = [(i, j) for i, ws in enumerate(words) for j, w in enumerate(ws) if len(w.strip(".!?")) >= 3]
    for i, j in rng.sample(spots, min(count, len(spots))):
        word = words[i][j]
        tail = word[len(word.rstrip(".!?")) :]
        words[i][j] = change(word.rstrip(".!?")) + tail
    return [" ".join(ws) for ws in words]


def _typo(word: str, rng: random.Random) -> str:
    k = rng.randrange(len(word) - 1)
    if rng.random() < 0.5:
        return word[:k] + word[k + 1] + word[k] + word[k + 2 :]  # swap two letters
    return word[:k] + word[k + 1 :]  # drop a letter


def _reformat(sentence: str, rng: random.Random) -> str:
    choice = rng.randrange(3)
    if choice == 0:
        return sentence.upper()
    if choice == 1:
        return sentence.replace(" ", "  ", 2)
    return re.sub(r"[.!?]$", lambda m: m.group(0) * 3, sentence) if sentence[-1] in ".!?" else sentence + "."


# Edit name -> weight when picking 1 to 3 edits for a near copy.
EDITS = {"substitute": 4, "typo": 3, "insert": 3, "delete": 3, "format": 2, "append": 2, "truncate": 2, "quote": 1}


def near_copy(writer: Writer, original: list[str]) -> tuple[list[str], list[str]]:
    """An edited copy of `original` (sentences) and the names of the edits applied."""
    rng, out = writer.rng, list(original)
    names = list(EDITS)
    chosen: list[str] = []
    while len(chosen) < rng.choice((1, 1, 2, 2, 3)):
        name = rng.choices(names, weights=[EDITS[n] for n in names])[0]
        if name not in chosen:
            chosen.append(name)
    for name in chosen:
        if name == "substitute":
            out = _edit_words(out, rng, rng.randint(1, 4), lambda w: writer.vocab["N"].draw(rng))
        elif name == "typo":
            out = _edit_words(out, rng, rng.randint(1, 2), lambda w: _typo(w, rng))
        elif name == "insert":
            out.insert(rng.randrange(len(out) + 1), writer.sentence())
        elif name == "delete" and len(out) > 3:
            del out[rng.randrange(len(out))]
        elif name == "format":
            i = rng.randrange(len(out))
            out[i] = _reformat(out[i], rng)
        elif name == "append":
            out += [writer.sentence() for _ in range(rng.randint(2, 4))]
        elif name == "truncate" and len(out) > 5:
            out = out[: len(out) - rng.randint(1, 3)]
        elif name == "quote":
            new = writer.sentences(int(sum(len(s) + 1 for s in original) * rng.uniform(0.5, 1.5)))
            out = new + ["On an earlier day someone wrote:"] + out
    return out, chosen


def generate_corpus(n: int, seed: int, near_share: float, exact_share: float) -> Corpus:
    """`n` documents; the first k of them are the same for every n >= k (same seed and shares)."""
    writer = Writer(seed)
    rng = writer.rng
    sentences: list[list[str]] = []
    fresh: list[int] = []
    corpus = Corpus([], [], [], [])
    for index in range(n):
        draw = rng.random()
        if fresh and draw < near_share:
            original = rng.choice(fresh)
            copy, edits = near_copy(writer, sentences[original])
            text, kind = render(copy, rng), "near"
        elif fresh and draw < near_share + exact_share:
            original, copy, edits = rng.choice(fresh), [], []
            text, kind = corpus.texts[original], "exact"
        else:
            original, copy, edits = index, writer.document(), []
            text, kind = render(copy, rng), "fresh"
            fresh.append(index)
        sentences.append(copy)
        corpus.texts.append(text)
        corpus.kinds.append(kind)
        corpus.original.append(original)
        corpus.edits.append(edits)
    return corpus


def planted_similarity(corpus: Corpus, settings: DedupSettings) -> dict[int, tuple[float, bool]]:
    """Per near copy: the exact Jaccard with its original and whether it is a near-duplicate by the product's rule."""
    from pipeline.quality.dedup import normalise

    out: dict[int, tuple[float, bool]] = {}
    for index, kind in enumerate(corpus.kinds):
        if kind != "near":
            continue
        a = frozenset(shingles(normalise(corpus.texts[index]), settings.shingle_size))
        b = frozenset(shingles(normalise(corpus.texts[corpus.original[index]]), settings.shingle_size))
        overlap = len(a & b)
        jaccard = overlap / (len(a) + len(b) - overlap)
        out[index] = (jaccard, near_duplicate_similarity(a, b, settings) is not None)
    return out


def background_overlap(corpus: Corpus, settings: DedupSettings, pairs: int, seed: int) -> dict[str, float]:
    """Jaccard of random pairs of documents from different planted families: how much unrelated text overlaps."""
    from pipeline.quality.dedup import normalise

    rng = random.Random(seed)
    cache: dict[int, frozenset[bytes]] = {}

    def shingle_set(i: int) -> frozenset[bytes]:
        if i not in cache:
            cache[i] = frozenset(shingles(normalise(corpus.texts[i]), settings.shingle_size))
        return cache[i]

    values: list[float] = []
    n = len(corpus.texts)
    while len(values) < pairs:
        i, j = rng.randrange(n), rng.randrange(n)
        if corpus.original[i] == corpus.original[j]:
            continue
        a, b = shingle_set(i), shingle_set(j)
        overlap = len(a & b)
        values.append(overlap / (len(a) + len(b) - overlap))
    values.sort()
    return {
        "pairs": pairs,
        "mean": sum(values) / pairs,
        "share_nonzero": sum(v > 0 for v in values) / pairs,
        "p99": values[int(pairs * 0.99)],
        "max": values[-1],
    }


# --------------------------------------------------------------------------- measuring (child process)


def _peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB.

    On Linux this is VmHWM from /proc/self/status, not ru_maxrss: ru_maxrss
    survives fork and exec, so a child started by a parent holding the
    100k-document corpus would report at least the parent's RSS (measured
    here: a child started from a 600 MiB parent reports 611 MiB by ru_maxrss,
    11 MiB by VmHWM). Elsewhere ru_maxrss (bytes on macOS, KiB otherwise).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


STAGED_SHARD = 20_000  # the check stage's default shard size (check.shard_rows)


def measure(corpus_path: Path, n: int, staged: bool = False) -> dict[str, Any]:
    """Detect near-duplicates in the first `n` documents of the corpus file, in this process: with
    `find_clusters` (in memory), or with `StagedClusters` (through a temporary folder, as the check stage)."""
    from pipeline.quality.dedup import minhashes, normalise

    with corpus_path.open(encoding="utf-8") as handle:
        texts = [json.loads(line) for _, line in zip(range(n), handle, strict=False)]
    settings = DedupSettings()
    rss_loaded = _peak_rss_mib()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    normalised = [normalise(t) for t in texts]
    t1 = time.perf_counter()
    sig, sizes = minhashes(normalised, settings)
    t2 = time.perf_counter()
    cluster_of = _staged_clusters(normalised, settings, sig, sizes) if staged else _clusters(normalised, settings, sig)
    t3 = time.perf_counter()
    return {
        "docs": len(texts),
        "normalise_s": t1 - t0,
        "signatures_s": t2 - t1,
        "clusters_s": t3 - t2,
        "detect_s": t3 - t0,
        "cpu_s": time.process_time() - cpu0,
        "rss_loaded_mib": rss_loaded,
        "rss_peak_mib": _peak_rss_mib(),
        "cluster_of": cluster_of,
    }


def _clusters(normalised: list[str], settings: DedupSettings, sig: Any) -> list[int]:
    from pipeline.quality.dedup import find_clusters

    return find_clusters(normalised, settings, sig).cluster_of


def _staged_clusters(normalised: list[str], settings: DedupSettings, sig: Any, sizes: Any) -> list[int]:
    from pipeline.quality.dedup import StagedClusters, text_key

    with tempfile.TemporaryDirectory() as folder:
        staged = StagedClusters(Path(folder), settings)
        for start in range(0, len(normalised), STAGED_SHARD):
            shard = normalised[start : start + STAGED_SHARD]
            stop = start + STAGED_SHARD
            staged.add(shard, [text_key(text) for text in shard], sig[start:stop], sizes[start:stop])
        return staged.clusters().cluster_of.tolist()


def measure_in_subprocess(corpus_path: Path, n: int, staged: bool = False) -> dict[str, Any]:
    """Run `measure` in a fresh interpreter (this script with --measure) and return its result."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--measure",
            str(n),
            "--corpus",
            str(corpus_path),
            "--out",
            str(out),
            *(["--staged"] if staged else []),
        ]
        proc = subprocess.run(cmd, cwd=os.getcwd())
        if proc.returncode != 0 or not out.exists():
            return {"failed": f"measuring process exited with status {proc.returncode}"}
        return json.loads(out.read_text())


# --------------------------------------------------------------------------- scoring and report


@dataclass
class Scores:
    """Counts from comparing one run's clusters with the planted duplicates."""

    planted_near: int = 0
    found_near: int = 0
    planted_near_by_rule: int = 0  # planted near copies that meet the product's similarity rule
    found_near_by_rule: int = 0
    planted_exact: int = 0
    found_exact: int = 0
    detected_pairs: int = 0  # documents put in an earlier document's cluster
    correct_pairs: int = 0
    false_pairs: int = 0
    fresh_docs: int = 0
    recall_by_edit: dict[str, list[int]] = field(default_factory=dict)  # edit -> [found, planted]

    @property
    def recall(self) -> float:
        return self.found_near / self.planted_near if self.planted_near else float("nan")

    @property
    def recall_by_rule(self) -> float:
        return self.found_near_by_rule / self.planted_near_by_rule if self.planted_near_by_rule else float("nan")

    @property
    def recall_exact(self) -> float:
        return self.found_exact / self.planted_exact if self.planted_exact else float("nan")

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.detected_pairs if self.detected_pairs else float("nan")

    @property
    def false_positive_rate(self) -> float:
        """Share of fresh (never planted as a copy) documents put in another document's cluster."""
        return self.false_pairs / self.fresh_docs if self.fresh_docs else float("nan")


def score(corpus: Corpus, cluster_of: list[int], similarity: dict[int, tuple[float, bool]]) -> Scores:
    """Recall of planted copies (found: in their original's cluster) and precision of the detected pairs."""
    n = len(cluster_of)
    family = corpus.original  # originals are fresh documents, so a family is named by its original's index
    s = Scores()
    for i in range(n):
        kind, head = corpus.kinds[i], cluster_of[i]
        found = head == cluster_of[family[i]]
        if kind == "near":
            by_rule = similarity[i][1]
            s.planted_near += 1
            s.found_near += found
            s.planted_near_by_rule += by_rule
            s.found_near_by_rule += found and by_rule
            for edit in corpus.edits[i]:
                s.recall_by_edit.setdefault(edit, [0, 0])
                s.recall_by_edit[edit][0] += found
                s.recall_by_edit[edit][1] += 1
        elif kind == "exact":
            s.planted_exact += 1
            s.found_exact += found
        else:
            s.fresh_docs += 1
        if head != i:
            s.detected_pairs += 1
            correct = family[head] == family[i]
            s.correct_pairs += correct
            s.false_pairs += not correct
    return s


def format_table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'docs':>7} {'chars':>5} {'norm s':>7} {'sig s':>7} {'clust s':>7} {'detect s':>8} {'docs/s':>7} "
        f"{'s/1k':>6} {'x base':>6} {'RSS MiB':>8} {'corpus':>6} {'planted':>7} {'recall':>6} "
        f"{'r.rule':>6} {'exact':>6} {'prec':>6} {'FP':>5} {'FP rate':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        m, s = r["measured"], r["scores"]
        lines.append(
            f"{m['docs']:>7} {r['mean_chars']:>5.0f} {m['normalise_s']:>7.1f} {m['signatures_s']:>7.1f} "
            f"{m['clusters_s']:>7.1f} {m['detect_s']:>8.1f} {r['docs_per_s']:>7.0f} {r['s_per_1k']:>6.3f} "
            f"{r['ratio']:>6.2f} {m['rss_peak_mib']:>8.0f} {m['rss_loaded_mib']:>6.0f} {s.planted_near:>7} "
            f"{s.recall:>6.3f} {s.recall_by_rule:>6.3f} {s.recall_exact:>6.3f} {s.precision:>6.3f} "
            f"{s.false_pairs:>5} {s.false_positive_rate:>7.4f}"
        )
    return "\n".join(lines)


def check_targets(rows: list[dict[str, Any]]) -> list[tuple[str, bool | None, str]]:
    """(target, passed or None when not measured, figures)."""
    checks: list[tuple[str, bool | None, str]] = []
    at_target = [r for r in rows if r["measured"]["docs"] == TARGET_SIZE]
    if at_target:
        seconds = at_target[0]["measured"]["detect_s"]
        checks.append(
            (f"{TARGET_SIZE:,} docs in under {TARGET_SECONDS:.0f} s", seconds < TARGET_SECONDS, f"{seconds:.1f} s")
        )
    else:
        checks.append((f"{TARGET_SIZE:,} docs in under {TARGET_SECONDS:.0f} s", None, "size not measured"))
    worst = min(rows, key=lambda r: r["scores"].recall)
    checks.append(
        (
            f"recall of planted near-duplicates >= {TARGET_RECALL}",
            worst["scores"].recall >= TARGET_RECALL,
            "lowest " + f"{worst['scores'].recall:.3f} at {worst['measured']['docs']:,} docs",
        )
    )
    if len(rows) > 1:
        ratio = rows[-1]["ratio"]
        checks.append(
            (
                f"per-doc cost at the largest size within {TARGET_LINEARITY}x of the smallest",
                ratio <= TARGET_LINEARITY,
                f"x{ratio:.2f} ({rows[-1]['measured']['docs']:,} vs {rows[0]['measured']['docs']:,} docs)",
            )
        )
    else:
        checks.append(("roughly linear cost", None, "needs two sizes"))
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Near-duplicate detection time, peak RSS and precision/recall against planted duplicates, "
        "at several corpus sizes in one run (each size in a fresh process)."
    )
    parser.add_argument(
        "--sizes",
        default="10000,50000,100000",
        help="comma-separated corpus sizes (default 10000,50000,100000); the smallest is the baseline",
    )
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    parser.add_argument("--near-share", type=float, default=0.05, help="share of edited copies (default 0.05)")
    parser.add_argument("--exact-share", type=float, default=0.01, help="share of verbatim copies (default 0.01)")
    parser.add_argument(
        "--staged",
        action="store_true",
        help="cluster with StagedClusters through a temporary folder, as the check stage does (default: the "
        "in-memory find_clusters)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)  # internal: child mode, number of docs
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.measure:
        args.out.write_text(json.dumps(measure(args.corpus, args.measure, args.staged)))
        return 0

    sizes = sorted({int(x) for x in args.sizes.split(",") if x.strip()})
    if not sizes or sizes[0] <= 0:
        parser.error("--sizes needs positive integers")
    settings = DedupSettings()
    started = time.perf_counter()

    t0 = time.perf_counter()
    corpus = generate_corpus(sizes[-1], args.seed, args.near_share, args.exact_share)
    generate_s = time.perf_counter() - t0
    similarity = planted_similarity(corpus, settings)
    background = background_overlap(corpus, settings, 20_000, args.seed)
    below_rule = sorted(j for j, ok in similarity.values() if not ok)
    jaccards = sorted(j for j, _ in similarity.values())
    print(
        f"corpus: {sizes[-1]:,} documents (seed {args.seed}) generated in {generate_s:.1f} s (not in the detection "
        f"times); {corpus.kinds.count('near'):,} near copies, {corpus.kinds.count('exact'):,} exact copies"
    )
    print(
        f"planted near copies vs their original: Jaccard min {jaccards[0]:.2f}, 5th pct "
        f"{jaccards[len(jaccards) // 20]:.2f}, median {jaccards[len(jaccards) // 2]:.2f}; "
        f"{len(below_rule)} below the product rule (Jaccard >= {settings.threshold} or containment >= "
        f"{settings.containment_threshold})"
    )
    print(
        f"unrelated documents ({background['pairs']:,} random pairs): mean Jaccard {background['mean']:.4f}, "
        f"{background['share_nonzero']:.0%} share a shingle, 99th pct {background['p99']:.3f}, "
        f"max {background['max']:.3f}"
    )
    print(f"settings: {settings!r}; clustering: {'StagedClusters (on disk)' if args.staged else 'find_clusters'}")

    rows: list[dict[str, Any]] = []
    status = 0
    with tempfile.TemporaryDirectory() as tmp:
        corpus_path = Path(tmp) / "corpus.jsonl"
        with corpus_path.open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(text) + "\n" for text in corpus.texts)
        for n in sizes:
            print(f"measuring {n:,} documents in a fresh process ...", flush=True)
            measured = measure_in_subprocess(corpus_path, n, args.staged)
            if "failed" in measured:
                print(f"{n:,} documents FAILED: {measured['failed']}")
                status = 1
                continue
            prefix = Corpus(corpus.texts[:n], corpus.kinds[:n], corpus.original[:n], corpus.edits[:n])
            scores = score(prefix, measured.pop("cluster_of"), similarity)
            s_per_1k = measured["detect_s"] / n * 1000
            rows.append(
                {
                    "measured": measured,
                    "scores": scores,
                    "mean_chars": sum(map(len, prefix.texts)) / n,
                    "docs_per_s": n / measured["detect_s"],
                    "s_per_1k": s_per_1k,
                    "ratio": s_per_1k / (rows[0]["s_per_1k"] if rows else s_per_1k),
                }
            )
    if not rows:
        return 1

    print()
    print(format_table(rows))
    print(
        "norm/sig/clust s: normalise, signatures, find_clusters; detect s: their sum (wall). s/1k: detect s per "
        "1,000 docs; x base: that against the smallest size. RSS MiB: peak of the measuring process; corpus: its "
        "RSS with the corpus loaded, before detection. planted: near copies; recall: of those, share put in their "
        "original's cluster; r.rule: the same over copies that meet the product rule; exact: recall of verbatim "
        "copies; prec: detected pairs within a planted family; FP: detected pairs across families; FP rate: FP "
        "per fresh document."
    )
    largest = rows[-1]["scores"]
    print(
        f"\nrecall by edit at {rows[-1]['measured']['docs']:,} docs (a copy counts once for each of its edits): "
        + ", ".join(
            f"{edit} {found / planted:.3f} ({planted})"
            for edit, (found, planted) in sorted(largest.recall_by_edit.items())
        )
    )
    print()
    checks = check_targets(rows)
    for target, passed, figures in checks:
        verdict = "n/a " if passed is None else ("PASS" if passed else "FAIL")
        print(f"{verdict}  {target}: {figures}")
    if any(passed is False for _, passed, _ in checks):
        status = 1
    print(f"total {time.perf_counter() - started:.0f} s")

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "seed": args.seed,
                    "settings": settings.model_dump(),
                    "generate_s": generate_s,
                    "background": background,
                    "planted_below_rule": len(below_rule),
                    "sizes": [
                        {
                            **r["measured"],
                            "mean_chars": r["mean_chars"],
                            "docs_per_s": r["docs_per_s"],
                            "s_per_1k": r["s_per_1k"],
                            "ratio": r["ratio"],
                            "scores": {
                                **asdict(r["scores"]),
                                "recall": r["scores"].recall,
                                "recall_by_rule": r["scores"].recall_by_rule,
                                "recall_exact": r["scores"].recall_exact,
                                "precision": r["scores"].precision,
                                "false_positive_rate": r["scores"].false_positive_rate,
                            },
                        }
                        for r in rows
                    ],
                    "checks": [{"target": t, "passed": p, "figures": f} for t, p, f in checks],
                },
                indent=2,
            )
        )
    return status


if __name__ == "__main__":
    raise SystemExit(main())
