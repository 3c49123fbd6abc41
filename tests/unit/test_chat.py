"""Chat conversations in the messages form: parsing, the canonical JSON, and the reasons a value is refused."""

import json

import pandas as pd
import pytest

from pipeline.quality import chat
from pipeline.quality.text import join_text

CONVERSATION = [
    {"role": "system", "content": "You help customers of Acme."},
    {"role": "user", "content": "Hi, I'm Zoë; my card ends 1234.\nCan you help?"},
    {"role": "assistant", "content": "Of course, Zoë. What happened?"},
]


def test_a_conversation_round_trips_through_its_canonical_json():
    text = chat.dump_messages(CONVERSATION)
    assert text.startswith(chat.CANONICAL_PREFIX) and "Zoë" in text  # not ASCII-escaped
    assert chat.parse_messages(text) == CONVERSATION
    assert chat.dump_messages(chat.parse_messages(text)) == text
    assert chat.is_messages(text)


def test_parsing_keeps_role_and_content_only_in_that_order():
    given = json.dumps([{"content": "hello", "name": "Zoë", "role": "user", "ts": 1}])
    assert chat.dump_messages(chat.parse_messages(given)) == '[{"role": "user", "content": "hello"}]'


def test_a_line_break_typed_inside_a_content_is_kept():
    assert chat.parse_messages('[{"role": "user", "content": "two\nlines"}]') == [
        {"role": "user", "content": "two\nlines"}
    ]


def test_a_list_is_parsed_as_its_json_text_is():
    assert chat.parse_messages(CONVERSATION) == chat.parse_messages(json.dumps(CONVERSATION))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("Customer: my card was charged twice", "not JSON (Expecting value at character 0)"),
        ('{"role": "user", "content": "hi"}', "an object, not a list of messages"),
        ('"[{}]"', "a string, not a list of messages"),
        ("[]", "an empty list: no messages"),
        ('[{"role": "user", "content": "hi"}, "bye"]', "[1]: a string, not an object with a role and a content"),
        ('[{"content": "hi"}]', "[0].role: missing"),
        ('[{"role": "robot", "content": "hi"}]', "[0].role: not one of 'system', 'user', 'assistant'"),
        ('[{"role": null, "content": "hi"}]', "[0].role: not one of 'system', 'user', 'assistant'"),
        ('[{"role": "user"}]', "[0].content: missing"),
        (
            '[{"role": "user", "content": "a"}, {"role": "assistant", "content": 42}]',
            "[1].content: a number, not a string",
        ),
        ('[{"role": "user", "content": ["a", "b"]}]', "[0].content: a list, not a string"),
        ('[{"role": "user", "content": null}]', "[0].content: null, not a string"),
        (
            '[{"role": "user", "content": " "}, {"role": "assistant", "content": ""}]',
            "every message's content is empty",
        ),
        ("[" * 100_000, "JSON nested too deeply to be a conversation"),
    ],
)
def test_a_malformed_value_is_refused_with_a_precise_reason_that_quotes_no_value(value, reason):
    with pytest.raises(ValueError) as caught:
        chat.parse_messages(value)
    assert str(caught.value) == reason
    assert "robot" not in reason and "charged" not in reason
    assert not chat.is_messages(value)


@pytest.mark.parametrize(
    ("column", "reason", "located"),
    [
        ("messages", "[2].role: missing", "messages[2].role: missing"),
        ("chat", "an empty list: no messages", "chat: an empty list: no messages"),
    ],
)
def test_a_reason_is_located_in_its_column(column, reason, located):
    assert chat.located(column, ValueError(reason)) == located


@pytest.mark.parametrize(
    "text",
    [
        "plain text about a [bracket]",
        '[{"role": "robot", "content": "looks like a chat"}]',  # canonical prefix, not a conversation
        '[{"content": "hi", "role": "user"}]',  # a conversation, but not in the canonical form
    ],
)
def test_only_the_canonical_form_counts_as_messages(text):
    assert not chat.is_messages(text)
    assert chat.messages_or_none(text) is None


def test_the_words_of_a_conversation_are_its_contents_without_roles():
    assert chat.message_text(CONVERSATION) == (
        "You help customers of Acme.\nHi, I'm Zoë; my card ends 1234.\nCan you help?\nOf course, Zoë. What happened?"
    )


def test_contents_can_be_replaced_keeping_roles_and_order():
    replaced = chat.with_contents(CONVERSATION, ["a", "b", "c"])
    assert [m["role"] for m in replaced] == ["system", "user", "assistant"]
    assert [m["content"] for m in replaced] == ["a", "b", "c"]
    with pytest.raises(ValueError):
        chat.with_contents(CONVERSATION, ["a"])


def test_join_text_reads_a_conversation_by_its_contents():
    frame = pd.DataFrame(
        {
            "subject": ["Card", None, '[{"role": "robot", "content": "x"}]'],
            "messages": [chat.dump_messages(CONVERSATION[1:]), chat.dump_messages(CONVERSATION[:1]), None],
        }
    )
    assert join_text(frame, ["subject", "messages"]) == [
        "Card\n\nHi, I'm Zoë; my card ends 1234.\nCan you help?\nOf course, Zoë. What happened?",
        "You help customers of Acme.",
        '[{"role": "robot", "content": "x"}]',  # free text that looks like JSON stays as it is
    ]
