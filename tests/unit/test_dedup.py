"""Exact and near-duplicate detection on small real texts."""

import pytest

from pipeline.quality.dedup import (
    DedupSettings,
    StagedClusters,
    find_clusters,
    minhashes,
    near_duplicate_similarity,
    normalise,
    shingles,
    signatures,
    text_key,
)

TICKET = (
    "Hello, I was charged twice for my order last week and the second payment has not been refunded yet. "
    "I checked my bank statement this morning and both payments are there. Could you please look into it "
    "and send the money back to my card? My account number is <ACCOUNT_NUMBER>. Thanks, <PERSON>"
)
OTHER = (
    "The parcel tracking page has said out for delivery for five days and nobody has come to the door. "
    "The courier does not answer the phone and the depot is closed at weekends. Please tell me where "
    "my parcel is and when it will arrive, or cancel the order. Regards, <PERSON>"
)


def clusters_of(texts: list[str], **settings) -> list[int]:
    normalised = [normalise(text) for text in texts]
    return find_clusters(normalised, DedupSettings(**settings)).cluster_of


@pytest.mark.parametrize(
    "a, b",
    [
        ("Hello,  World!", "hello world"),
        ("Line one.\nLine two.", "line one line two"),
        ("<PERSON> called", "<person> called"),
        ("ﬁle", "file"),  # NFKC
    ],
)
def test_normalise_ignores_case_punctuation_spacing_and_compatibility_forms(a, b):
    assert normalise(a) == normalise(b)


def test_redaction_tags_stay_whole_words():
    assert normalise("Call <PHONE_NUMBER> now") == "call <phone_number> now"


def test_short_text_is_one_shingle():
    assert shingles("two words", 3) == {b"two words"}
    assert len(shingles("one two three four", 3)) == 2


@pytest.mark.parametrize(
    "edited",
    [
        TICKET.replace("twice", "two times"),  # synonym
        TICKET.replace("statement", "statment"),  # typo
        TICKET.replace(" Could you please", " I am really upset. Could you please"),  # added sentence
        TICKET.replace(
            "I checked my bank statement this morning and both payments are there. ", ""
        ),  # dropped sentence
        TICKET.replace(" ", "  ", 3) + " \n",  # spacing
    ],
)
def test_small_edits_are_near_duplicates(edited):
    assert clusters_of([TICKET, OTHER, edited]) == [0, 1, 0]


def test_exact_duplicates_after_normalising_join_the_first_copy():
    assert clusters_of([OTHER, TICKET, TICKET.upper(), TICKET]) == [0, 1, 1, 1]


def test_unrelated_texts_stay_apart():
    assert clusters_of([TICKET, OTHER]) == [0, 1]


def test_a_ticket_inside_a_longer_transcript_is_found_by_containment():
    transcript = (
        f"Customer: {TICKET}\nAgent: Sorry to hear that, I have opened a case for you and our billing team will "
        "call you back within two working days with an answer.\nCustomer: Thank you, that is fine, I will wait for "
        "the call.\nAgent: You're welcome. Is there anything else I can help with today?"
    )
    assert clusters_of([TICKET, OTHER, transcript]) == [0, 1, 0]
    assert clusters_of([TICKET, OTHER, transcript], containment_threshold=0) == [0, 1, 2]


def test_a_short_text_is_never_matched_by_containment_alone():
    short = "Thanks, <PERSON>"
    a, b = frozenset(shingles(normalise(short), 3)), frozenset(shingles(normalise(TICKET), 3))
    assert near_duplicate_similarity(a, b, DedupSettings()) is None


def test_similarity_does_not_chain():
    """A~B and B~C with A not ~ C: C joins B's cluster only if B heads one; clusters are stars around their head."""
    words = [f"w{i}" for i in range(60)]
    a = " ".join(words[:40])
    b = " ".join(words[10:50])
    c = " ".join(words[20:60])
    normalised = [normalise(t) for t in (a, b, c)]
    settings = DedupSettings(threshold=0.5, containment_threshold=0)
    cluster_of = find_clusters(normalised, settings).cluster_of
    assert cluster_of[1] == 0
    assert cluster_of[2] == 2  # similar to b (0.6) but not to the head a (0.33)


def test_results_are_deterministic_and_signatures_are_reusable():
    texts = [normalise(t) for t in (TICKET, OTHER, TICKET.replace("twice", "two times"))]
    settings = DedupSettings()
    first = find_clusters(texts, settings)
    again = find_clusters(texts, settings, signatures(texts, settings))
    assert first == again
    assert signatures(texts, settings).shape == (3, settings.num_perm)


def test_empty_input_and_empty_texts():
    assert find_clusters([], DedupSettings()).cluster_of == []
    assert clusters_of(["", "", TICKET]) == [0, 0, 2]


def test_settings_are_the_configs_dedup_section_with_a_seed():
    from pipeline.config import DedupConfig

    assert DedupSettings().model_dump() == {**DedupConfig().model_dump(), "seed": 1}
    configured = DedupConfig(threshold=0.8, containment_threshold=0)
    assert DedupSettings(**configured.model_dump(), seed=7) == DedupSettings(
        threshold=0.8, containment_threshold=0, seed=7
    )
    with pytest.raises(ValueError, match="num_perm"):
        DedupSettings(num_perm=4)  # the config's bounds hold here too


def staged_clusters(texts: list[str], settings: DedupSettings, folder, shard: int):
    normalised = [normalise(text) for text in texts]
    rows, sizes = minhashes(normalised, settings)
    staged = StagedClusters(folder, settings)
    for start in range(0, len(normalised), shard):
        chunk = normalised[start : start + shard]
        staged.add(
            chunk, [text_key(text) for text in chunk], rows[start : start + shard], sizes[start : start + shard]
        )
    return staged.clusters()


def test_the_staged_clusters_are_the_in_memory_clusters_on_10k_documents(tmp_path):
    from bench.dedup import generate_corpus

    corpus = generate_corpus(10_000, seed=3, near_share=0.05, exact_share=0.01)
    settings = DedupSettings()
    expected = find_clusters([normalise(text) for text in corpus.texts], settings)
    staged = staged_clusters(corpus.texts, settings, tmp_path, shard=1_234)
    assert staged.cluster_of.tolist() == expected.cluster_of
    assert staged.near_pairs == expected.near_pairs > 300
    exact = sum(staged.first_of_key[i] != i for i in range(len(corpus.texts)))
    assert exact >= 90  # the planted exact copies are found by their key


def test_staged_clusters_never_chain_and_keep_exact_copies_with_their_first_text(tmp_path):
    middle = TICKET.replace("twice", "two times").replace("statement", "statment").replace("Thanks", "Cheers")
    far = middle.replace("this morning", "today").replace("send the money back", "refund me").replace("look", "see")
    texts = [TICKET, OTHER, middle, far, TICKET.upper(), "", ""]
    settings = DedupSettings()
    staged = staged_clusters(texts, settings, tmp_path, shard=2)
    assert staged.cluster_of.tolist() == find_clusters([normalise(t) for t in texts], settings).cluster_of
    assert staged.cluster_of[4] == 0 and staged.first_of_key[4] == 0  # an exact copy, by its normalised key
    assert staged.cluster_of[6] == 5


def test_staged_clusters_of_nothing(tmp_path):
    staged = staged_clusters([], DedupSettings(), tmp_path, shard=10)
    assert staged.cluster_of.tolist() == [] and staged.near_pairs == 0


def test_a_bucket_of_more_than_max_bucket_texts_is_left_out_and_counted(tmp_path):
    family = [TICKET, *(TICKET.replace(word, "something") for word in ("twice", "statement", "morning"))]
    texts = [*family, OTHER]
    roomy = staged_clusters(texts, DedupSettings(), tmp_path / "roomy", shard=2)
    assert roomy.crowded_buckets == 0
    assert roomy.cluster_of.tolist() == find_clusters([normalise(t) for t in texts], DedupSettings()).cluster_of
    crowded = staged_clusters(texts, DedupSettings(max_bucket_texts=3), tmp_path / "crowded", shard=2)
    assert crowded.crowded_buckets > 0 and crowded.crowded_texts == 4 * crowded.crowded_buckets


def test_sketches_rule_out_texts_that_share_only_boilerplate_and_keep_every_near_duplicate(tmp_path):
    from bench.dedup import generate_corpus

    footer = (
        "Kind regards, the customer support team. This message and any attachments are confidential and meant "
        "only for the person they are addressed to; if you received it by mistake please tell us and delete it."
    )
    fresh = generate_corpus(600, seed=5, near_share=0.0, exact_share=0.0).texts
    texts = [f"{text[:700]} {footer}" for text in fresh]  # unrelated texts with a long shared footer
    thread = f"Forwarded: {fresh[3][:200]} {TICKET}"
    texts += [TICKET, thread, TICKET.replace("twice", "two times")]  # a containment match and a near copy
    settings = DedupSettings(max_bucket_texts=1_000)  # no bucket left out: the sketches alone rule pairs out
    staged = staged_clusters(texts, settings, tmp_path, shard=64)
    expected = find_clusters([normalise(text) for text in texts], settings)
    assert staged.cluster_of.tolist() == expected.cluster_of
    assert staged.cluster_of[-2] == staged.cluster_of[-1] == 600 and staged.near_pairs == 2
    assert staged.candidate_pairs > 1_000  # the footer puts unrelated texts in the same band buckets
    assert staged.plausible_pairs < staged.candidate_pairs / 4
