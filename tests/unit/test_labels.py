"""Label checks: class counts, rare classes, and confident learning on a small real text set."""

import random

import pytest

from pipeline.errors import InputError
from pipeline.quality.labels import check_labels, require_two_classes

TOPICS = {
    "billing": [
        "charged twice",
        "refund my payment",
        "invoice is wrong",
        "card was billed",
        "double charge on statement",
    ],
    "shipping": [
        "parcel never arrived",
        "courier lost my package",
        "tracking number not working",
        "delivery is late",
        "wrong address on parcel",
    ],
    "login": [
        "cannot log in",
        "password reset link expired",
        "account locked out",
        "two factor code never comes",
        "username not recognised",
    ],
}


def corpus(per_class: int, flipped: int, seed: int = 3) -> tuple[list[str], list[str], list[int]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for label, phrases in TOPICS.items():
        for i in range(per_class):
            picked = rng.sample(phrases, 3)
            texts.append(f"Ticket {label[:2]}{i}: {picked[0]}, and {picked[1]}. Also {picked[2]}.")
            labels.append(label)
    wrong = rng.sample(range(len(texts)), flipped)
    for index in wrong:
        labels[index] = next(other for other in TOPICS if other != labels[index])
    return texts, labels, wrong


def test_flipped_labels_are_found_and_scored_low():
    texts, labels, wrong = corpus(per_class=40, flipped=6)
    findings = check_labels(texts, labels, [str(i) for i in range(len(texts))], min_class_rows=10, folds=5, seed=1)
    flagged = {i for i, issue in enumerate(findings.issue) if issue}
    assert findings.skipped is None
    found = set(wrong) & flagged
    assert len(found) >= 5 and len(flagged - found) <= 2
    assert max(findings.quality[i] for i in found) < min(q for i, q in enumerate(findings.quality) if i not in flagged)
    assert all(findings.suggested[i] != labels[i] for i in found)


def test_deterministic_for_a_seed():
    texts, labels, _ = corpus(per_class=30, flipped=4)
    groups = [str(i) for i in range(len(texts))]
    assert check_labels(texts, labels, groups, min_class_rows=5, folds=5, seed=2) == check_labels(
        texts, labels, groups, min_class_rows=5, folds=5, seed=2
    )


def test_rare_classes_are_listed_and_classes_smaller_than_the_folds_are_not_scored():
    texts, labels, _ = corpus(per_class=30, flipped=0)
    texts += ["my parcel is fine, thanks", "another note"]
    labels += ["praise", "praise"]
    findings = check_labels(texts, labels, [str(i) for i in range(len(texts))], min_class_rows=10, folds=5, seed=1)
    assert findings.rare_classes == ["praise"]
    assert findings.class_counts["praise"] == 2
    assert findings.quality[-1] is None and findings.issue[-1] is None
    assert "praise" not in findings.scored_classes and findings.quality[0] is not None


@pytest.mark.parametrize(
    "texts, labels, groups, reason",
    [
        (["a b c"] * 12, ["x"] * 12, [str(i) for i in range(12)], "at least two classes"),
        (["one ticket"], ["x"], ["0"], "at least two classes"),
        (["same text"] * 12, ["x", "y"] * 6, ["0"] * 12, "distinct texts"),
        (["?", "1"] * 10, ["x", "y"] * 10, [str(i) for i in range(20)], "nothing to learn"),
    ],
)
def test_unscorable_inputs_are_skipped_with_a_reason(texts, labels, groups, reason):
    findings = check_labels(texts, labels, groups, min_class_rows=2, folds=5, seed=0)
    assert reason in findings.skipped
    assert findings.quality == [None] * len(texts) and findings.issue == [None] * len(texts)


def test_one_label_class_is_an_input_error_naming_the_label_and_its_count():
    with pytest.raises(InputError, match=r"label 'category' has 1 class after curation \('shipping': 12\)"):
        require_two_classes(["shipping"] * 12, "category", "after curation")
    require_two_classes(["a", "b"], "category", "after curation")
