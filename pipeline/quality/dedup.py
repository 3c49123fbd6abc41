"""Exact and near-duplicate detection: normalised-text hashes, MinHash + LSH (datasketch).

Texts are compared after `normalise` (case, punctuation and spacing do not
count). Two texts are near-duplicates when their word-shingle sets have a
Jaccard similarity of at least `threshold`, or when nearly all of the
smaller one's shingles are in the larger (`containment_threshold`: a ticket
re-exported inside a chat transcript or an e-mail thread). MinHash LSH at
`candidate_threshold` proposes the candidates; the exact shingle sets decide.
"""

from __future__ import annotations

import hashlib
import re
import struct
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH
from scipy.stats import binom
from tqdm import tqdm

from pipeline.config import DedupConfig

SCHEME = "affine32"  # datasketch 2.x: 32-bit hash values
SKETCH_VALUES = 128  # MinHash values per text (low bytes) that rule out candidate pairs before their texts are read
RULE_OUT_ERROR = 1e-12  # the chance that a ruled-out candidate pair was a near-duplicate, at most
WORD = re.compile(r"<[a-z][a-z0-9_]*>|\w+")


class DedupSettings(DedupConfig):
    """The config's `check.dedup` (its fields and defaults) with the MinHash seed; the check stage passes the run's seed."""

    seed: int = 1


@dataclass(frozen=True)
class Clusters:
    """Per document (in input order): its exact-text key and the index of its cluster's first member."""

    text_keys: list[str]
    cluster_of: list[int]
    near_pairs: int

    def members(self) -> dict[int, list[int]]:
        groups: dict[int, list[int]] = {}
        for index, first in enumerate(self.cluster_of):
            groups.setdefault(first, []).append(index)
        return {first: members for first, members in groups.items() if len(members) > 1}


def normalise(text: str) -> str:
    """Case-folded words and redaction tags, one space apart: punctuation and spacing do not count."""
    return " ".join(WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


def text_key(normalised: str) -> str:
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:32]


def shingles(normalised: str, size: int) -> set[bytes]:
    """Word n-grams; a text shorter than `size` words is one shingle."""
    words = normalised.split(" ")
    if len(words) <= size:
        return {normalised.encode("utf-8")}
    return {" ".join(words[i : i + size]).encode("utf-8") for i in range(len(words) - size + 1)}


def _hash32(data: bytes) -> int:
    return struct.unpack("<I", hashlib.blake2b(data, digest_size=4).digest())[0]


def signatures(normalised_texts: Sequence[str], settings: DedupSettings) -> np.ndarray:
    """MinHash signatures, one row per text."""
    return minhashes(normalised_texts, settings)[0]


def minhashes(normalised_texts: Sequence[str], settings: DedupSettings) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signatures, one row per text, and the size of each text's shingle set."""
    rows = np.empty((len(normalised_texts), settings.num_perm), dtype=np.uint32)
    sizes = np.empty(len(normalised_texts), dtype=np.uint32)
    permutations = MinHash(
        num_perm=settings.num_perm, seed=settings.seed, scheme=SCHEME
    ).permutations  # made once, not per text
    for row, text in enumerate(tqdm(normalised_texts, desc="minhash", unit=" docs", disable=None, leave=False)):
        minhash = MinHash(
            num_perm=settings.num_perm, seed=settings.seed, hashfunc=_hash32, scheme=SCHEME, permutations=permutations
        )
        shingle_set = shingles(text, settings.shingle_size)
        minhash.update_batch(list(shingle_set))
        rows[row] = minhash.hashvalues
        sizes[row] = len(shingle_set)
    return rows, sizes


def find_clusters(
    normalised_texts: Sequence[str], settings: DedupSettings, signature_rows: np.ndarray | None = None
) -> Clusters:
    """Put each document in the cluster of the earlier document it duplicates most closely.

    Clusters are stars around their first member (in input order): a document
    joins a cluster only when it is an exact or near-duplicate of that first
    member itself, so similarity never chains (A~B and B~C do not make A~C).
    LSH proposes candidates; the decision uses the exact shingle sets.
    `signature_rows` may be given when they were computed elsewhere; they
    must come from `signatures(normalised_texts, settings)`.
    """
    keys = [text_key(text) for text in normalised_texts]
    if signature_rows is None:
        signature_rows = signatures(normalised_texts, settings)

    @lru_cache(maxsize=4096)
    def shingle_set(index: int) -> frozenset[bytes]:
        return frozenset(shingles(normalised_texts[index], settings.shingle_size))

    lsh = MinHashLSH(threshold=settings.candidate_threshold, num_perm=settings.num_perm)
    first_with_key: dict[str, int] = {}
    cluster_of: list[int] = []
    near_pairs = 0
    for index, key in enumerate(tqdm(keys, desc="near-duplicates", unit=" docs", disable=None, leave=False)):
        if key in first_with_key:
            cluster_of.append(cluster_of[first_with_key[key]])
            continue
        first_with_key[key] = index
        minhash = LeanMinHash(seed=settings.seed, hashvalues=signature_rows[index], scheme=SCHEME)
        best: tuple[float, int] | None = None
        for other in lsh.query(minhash):
            similarity = near_duplicate_similarity(shingle_set(index), shingle_set(other), settings)
            if similarity is not None and (best is None or (similarity, -other) > (best[0], -best[1])):
                best = (similarity, other)
        if best is None:
            cluster_of.append(index)
            lsh.insert(index, minhash, check_duplication=False)
        else:
            cluster_of.append(best[1])
            near_pairs += 1
    return Clusters(text_keys=keys, cluster_of=cluster_of, near_pairs=near_pairs)


def near_duplicate_similarity(a: frozenset[bytes], b: frozenset[bytes], settings: DedupSettings) -> float | None:
    """The Jaccard similarity of two shingle sets when they are near-duplicates, else None."""
    overlap = len(a & b)
    jaccard = overlap / (len(a) + len(b) - overlap)
    if jaccard >= settings.threshold:
        return jaccard
    smaller = min(len(a), len(b))
    if (
        settings.containment_threshold > 0
        and smaller >= settings.containment_min_shingles
        and overlap / smaller >= settings.containment_threshold
    ):
        return jaccard
    return None


class StagedClusters:
    """`find_clusters` for a corpus too large for memory: the same clusters, in stages that stream through a folder.

    1. `add`, shard by shard in input order: each text's exact key (16 bytes), its normalised text (for
       verification), its MinHash bands and a sketch of its signature are appended to files under `folder`;
    2. `clusters`: exact duplicates by sorting the keys; then, one band at a time, the texts whose band
       values are equal (a MinHashLSH bucket: the same (b, r) datasketch chooses for
       `candidate_threshold`) give candidate pairs; the sketches rule out the pairs that cannot be
       near-duplicates (`_plausible`), and each pair left is verified on its exact shingle sets;
       and a pass in input order over the verified pairs replays `find_clusters`' rule: a text joins
       the closest earlier cluster head among its verified candidates, else it heads its own cluster.
       The replay, not union-find, is what keeps the clusters stars (union-find would chain A~B~C).

    It gives `find_clusters`' clusters unless a band bucket holds more than `max_bucket_texts` texts: such a
    bucket is left out (see `_candidate_pairs`), where `find_clusters` would compare each of its texts with
    every earlier cluster head in it.

    Memory: per text, 16 bytes of key, 8 of text offset, 132 of sketch and shingle count, 12 for the band being
    grouped and 8 of result, plus the plausible pairs (a few per near-duplicate); texts and bands stay on disk.
    """

    def __init__(self, folder: Path, settings: DedupSettings) -> None:
        self.folder = folder
        self.settings = settings
        lsh = MinHashLSH(threshold=settings.candidate_threshold, num_perm=settings.num_perm)
        self.bands: list[tuple[int, int]] = list(lsh.hashranges)
        self.count = 0
        self.crowded_buckets = 0  # band buckets left out for holding more than settings.max_bucket_texts texts
        self.crowded_texts = 0
        self.candidate_pairs = 0  # pairs that shared a band bucket, counted once per band
        self.plausible_pairs = 0  # of those, the pairs the sketches did not rule out
        self.sketch_width = min(SKETCH_VALUES, settings.num_perm)
        # per Jaccard similarity 0, 0.001, ..., 1: the fewest sketch values a pair that similar agrees on (see _plausible)
        self.fewest_agreements = binom.ppf(RULE_OUT_ERROR, self.sketch_width, np.arange(1001) / 1000)
        folder.mkdir(parents=True, exist_ok=True)
        self._texts = (folder / "texts.bin").open("wb")
        self._offsets = (folder / "offsets.bin").open("wb")
        self._keys = (folder / "keys.bin").open("wb")
        self._sketches = (folder / "sketches.bin").open("wb")
        self._sizes = (folder / "sizes.bin").open("wb")
        self._band_files = [(folder / f"band-{index:03d}.bin").open("wb") for index in range(len(self.bands))]
        self._written = 0

    def add(
        self, normalised_texts: Sequence[str], keys: Sequence[str], signature_rows: np.ndarray, sizes: np.ndarray
    ) -> None:
        """One shard's normalised texts, their `text_key`s and `minhashes` (signature rows and shingle set sizes),
        after every earlier shard's."""
        encoded = [text.encode("utf-8") for text in normalised_texts]
        ends = self._written + np.cumsum([len(text) for text in encoded], dtype=np.int64)
        self._texts.write(b"".join(encoded))
        self._offsets.write(ends.tobytes())
        self._written = int(ends[-1]) if len(ends) else self._written
        self._keys.write(b"".join(bytes.fromhex(key) for key in keys))
        self._sketches.write((signature_rows[:, : self.sketch_width] & 0xFF).astype(np.uint8).tobytes())
        self._sizes.write(np.asarray(sizes, dtype=np.uint32).tobytes())
        for (start, end), handle in zip(self.bands, self._band_files, strict=True):
            handle.write(np.ascontiguousarray(signature_rows[:, start:end], dtype=np.uint32).tobytes())
        self.count += len(encoded)

    def clusters(self) -> StagedResult:
        for handle in (self._texts, self._offsets, self._keys, self._sketches, self._sizes, *self._band_files):
            handle.close()
        first_of_key = self._first_of_key()
        heads_to_test = np.flatnonzero(first_of_key == np.arange(self.count))
        pairs = self._candidate_pairs(heads_to_test)
        cluster_of, near_pairs = self._replay(self._verified(pairs))
        cluster_of = cluster_of[first_of_key]  # an exact copy is in the cluster of the first text with its key
        return StagedResult(
            cluster_of,
            first_of_key,
            near_pairs,
            self.crowded_buckets,
            self.crowded_texts,
            self.candidate_pairs,
            self.plausible_pairs,
        )

    def _first_of_key(self) -> np.ndarray:
        keys = np.fromfile(self.folder / "keys.bin", dtype=">u8").reshape(self.count, 2)
        order = np.lexsort((keys[:, 1], keys[:, 0]))  # stable: equal keys stay in input order
        ordered = keys[order]
        starts = np.ones(self.count, dtype=bool)
        starts[1:] = np.any(ordered[1:] != ordered[:-1], axis=1)
        first = order[np.flatnonzero(starts)[np.cumsum(starts) - 1]]
        first_of_key = np.empty(self.count, dtype=np.int64)
        first_of_key[order] = first
        return first_of_key

    def _candidate_pairs(self, texts: np.ndarray) -> np.ndarray:
        """(later, earlier) index pairs of `texts` that share a band's values, as codes later * count + earlier.

        A bucket of more than `max_bucket_texts` texts is left out: texts that share only boilerplate (a greeting,
        a signature) fill such buckets, and their pairs grow with the square of the input; near-duplicates share
        many bands, so they still meet in the other buckets. The buckets left out are counted. Only the
        `_plausible` pairs are kept.
        """
        plausible = self._plausible_pairs(texts)  # the sketches are let go before the pairs' sort needs its room
        return np.unique(np.concatenate(plausible))

    def _plausible_pairs(self, texts: np.ndarray) -> list[np.ndarray]:
        """Per band, the `_plausible` pairs of `texts` that share one of its buckets (not crowded)."""
        sketches = np.fromfile(self.folder / "sketches.bin", dtype=np.uint8).reshape(self.count, self.sketch_width)
        set_sizes = np.fromfile(self.folder / "sizes.bin", dtype=np.uint32)
        plausible: list[np.ndarray] = [np.empty(0, dtype=np.int64)]
        for index, (start, end) in enumerate(self.bands):
            band = np.fromfile(self.folder / f"band-{index:03d}.bin", dtype=np.uint32).reshape(self.count, end - start)
            values = band[texts]
            order = np.lexsort(values.T[::-1])  # stable: a bucket's texts stay in input order
            ordered = values[order]
            starts = np.ones(len(order), dtype=bool)
            starts[1:] = np.any(ordered[1:] != ordered[:-1], axis=1)
            bounds = np.append(np.flatnonzero(starts), len(order))
            sizes = np.diff(bounds)
            crowded = sizes > self.settings.max_bucket_texts
            self.crowded_buckets += int(crowded.sum())
            self.crowded_texts += int(sizes[crowded].sum())
            codes = _bucket_pairs(texts[order], bounds[:-1], sizes, ~crowded, self.count)
            self.candidate_pairs += len(codes)
            plausible.append(self._plausible(codes, sketches, set_sizes))
            self.plausible_pairs += len(plausible[-1])
        return plausible

    def _plausible(self, codes: np.ndarray, sketches: np.ndarray, set_sizes: np.ndarray) -> np.ndarray:
        """The candidate pairs (codes) whose sketches do not rule out that they are near-duplicates.

        A pair whose shingle sets have Jaccard similarity J agrees on each MinHash value with probability J, so
        on at least `Binomial(sketch_width, J).ppf(RULE_OUT_ERROR)` of its sketch's values but with probability
        RULE_OUT_ERROR (low bytes that agree by chance only add agreements). The lowest J a near-duplicate can
        have follows from the two set sizes: `threshold`, or for a containment match
        c*s / (s + l - c*s) (c the containment threshold, s and l the smaller and larger set sizes). Texts that
        share only boilerplate agree on a few values and are ruled out without reading them.
        """
        kept = []
        for chunk in np.array_split(codes, max(1, len(codes) >> 16)):  # 2^16 pairs: 16 MB of sketches each
            later, earlier = np.divmod(chunk, self.count)
            agreed = (sketches[later] == sketches[earlier]).sum(axis=1)
            lowest = self._lowest_near_jaccard(set_sizes[later], set_sizes[earlier])
            grid = np.floor(lowest * 1000 - 1e-6).astype(np.int64)
            kept.append(chunk[agreed >= self.fewest_agreements[np.clip(grid, 0, 1000)]])
        return np.concatenate(kept) if kept else codes

    def _lowest_near_jaccard(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The lowest Jaccard similarity at which texts with shingle sets of these sizes can be near-duplicates."""
        smaller = np.minimum(a, b).astype(np.float64)
        larger = np.maximum(a, b).astype(np.float64)
        lowest = np.full(len(smaller), self.settings.threshold)
        containment = self.settings.containment_threshold
        if containment > 0:
            contained = containment * smaller / (smaller + larger - containment * smaller)
            allowed = smaller >= self.settings.containment_min_shingles
            lowest[allowed] = np.minimum(lowest[allowed], contained[allowed])
        return lowest

    def _verified(self, pairs: np.ndarray) -> Iterator[tuple[int, list[tuple[float, int]]]]:
        """Per later text (ascending), its candidate earlier texts that are near-duplicates, with their Jaccard."""
        offsets = np.fromfile(self.folder / "offsets.bin", dtype=np.int64)
        with (self.folder / "texts.bin").open("rb") as texts:

            def shingle_set(index: int) -> frozenset[bytes]:
                start = int(offsets[index - 1]) if index else 0
                texts.seek(start)
                text = texts.read(int(offsets[index]) - start).decode("utf-8")
                return frozenset(shingles(text, self.settings.shingle_size))

            cached = lru_cache(maxsize=4096)(shingle_set)
            for later_of, earlier_of in self._pair_chunks(pairs):
                bounds = np.append(np.flatnonzero(np.diff(later_of, prepend=-1)), len(later_of))
                for begin, stop in zip(bounds[:-1], bounds[1:], strict=True):
                    later = int(later_of[begin])
                    own = cached(later)
                    matches = []
                    for earlier in earlier_of[begin:stop].tolist():
                        similarity = near_duplicate_similarity(own, cached(earlier), self.settings)
                        if similarity is not None:
                            matches.append((similarity, earlier))
                    if matches:
                        yield later, matches

    def _pair_chunks(self, pairs: np.ndarray, size: int = 1 << 20) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The sorted pair codes as (later, earlier) arrays, about `size` at a time, a later text's pairs never split."""
        start = 0
        while start < len(pairs):
            stop = min(start + size, len(pairs))
            if stop < len(pairs):  # to the end of the last later text's pairs
                stop = int(np.searchsorted(pairs, (pairs[stop - 1] // self.count + 1) * self.count))
            yield np.divmod(pairs[start:stop], self.count)
            start = stop

    def _replay(self, verified: Iterator[tuple[int, list[tuple[float, int]]]]) -> tuple[np.ndarray, int]:
        cluster_of = np.arange(self.count, dtype=np.int64)
        is_head = np.ones(self.count, dtype=bool)
        near_pairs = 0
        for later, matches in tqdm(verified, desc="near-duplicates", unit=" texts", disable=None, leave=False):
            heads = [(similarity, -earlier) for similarity, earlier in matches if is_head[earlier]]
            if heads:
                cluster_of[later] = -max(heads)[1]
                is_head[later] = False
                near_pairs += 1
        return cluster_of, near_pairs


def _bucket_pairs(
    members: np.ndarray, begins: np.ndarray, sizes: np.ndarray, used: np.ndarray, count: int
) -> np.ndarray:
    """Every (later, earlier) pair of texts within each used bucket, as codes later * count + earlier.

    `members` are the texts grouped by bucket (bucket b at begins[b] : begins[b] + sizes[b]), each bucket's in
    input order; the text at rank r of its bucket pairs with the r texts before it.
    """
    bucket = np.repeat(np.arange(len(sizes)), sizes)
    first = np.repeat(begins, sizes)  # the position of each text's bucket's first text
    rank = np.where(used[bucket], np.arange(len(members)) - first, 0)
    later = np.repeat(members, rank)
    offset = np.arange(len(later)) - np.repeat(np.cumsum(rank) - rank, rank)
    earlier = members[np.repeat(first, rank) + offset]
    return later * count + earlier


@dataclass(frozen=True)
class StagedResult:
    """Per text (input order): the index of its cluster's first member, and of the first text with its exact key."""

    cluster_of: np.ndarray
    first_of_key: np.ndarray
    near_pairs: int
    crowded_buckets: int = 0  # band buckets left out (more than max_bucket_texts texts)
    crowded_texts: int = 0  # the texts in them, once per bucket
    candidate_pairs: int = 0  # pairs that shared a band bucket, once per band
    plausible_pairs: int = 0  # of those, the pairs whose sketches did not rule them out (verified on their texts)
