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
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH
from tqdm import tqdm

from pipeline.config import DedupConfig

SCHEME = "affine32"  # datasketch 2.x: 32-bit hash values
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
    rows = np.empty((len(normalised_texts), settings.num_perm), dtype=np.uint32)
    permutations = MinHash(
        num_perm=settings.num_perm, seed=settings.seed, scheme=SCHEME
    ).permutations  # made once, not per text
    for row, text in enumerate(tqdm(normalised_texts, desc="minhash", unit=" docs", disable=None, leave=False)):
        minhash = MinHash(
            num_perm=settings.num_perm, seed=settings.seed, hashfunc=_hash32, scheme=SCHEME, permutations=permutations
        )
        minhash.update_batch(list(shingles(text, settings.shingle_size)))
        rows[row] = minhash.hashvalues
    return rows


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
