"""Chat conversations in the common messages form: a JSON list of `{"role": ..., "content": ...}` objects.

A source's `messages` column holds one conversation per record (a JSON list in
JSON and JSON Lines files, that list as a JSON string in a CSV cell). Ingest
parses it and writes it in the canonical form every later stage reads:
`json.dumps([{"role": r, "content": c}, ...], ensure_ascii=False)`, only those
two keys, in that order (any other key of a message is left out). Roles are
structure, not text: stages that read "the row's text" read the contents.

The reasons `parse_messages` gives go into quarantine details, so they name
the message and what is wrong with it, never a value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

ROLES = ("system", "user", "assistant")
MALFORMED_MESSAGES = "malformed_messages"  # the quarantine reason, in ingest (and in redact, should one get there)
CANONICAL_PREFIX = '[{"role": "'  # how every canonical value starts
CANONICAL_REGEX = r'^\[\{"role": "'  # the same, as the data contract's regex (pipeline.quality.contracts)
_JSON_TYPES = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}

Message = dict[str, str]


def parse_messages(value: str | list[Any]) -> list[Message]:
    """The conversation in `value` (JSON text, or the list itself), each message reduced to its role and content.

    Raises ValueError with the reason, e.g. `[2].role: not one of 'system', 'user', 'assistant'`, for text that is
    not JSON, a value that is not a list, an empty list, a message that is not an object, a missing or unknown
    role, a content that is missing or not a string, or a conversation whose contents are all empty.
    """
    data: Any = value
    if isinstance(value, str):
        try:
            data = json.loads(value, strict=False)  # a line break typed into a content in a spreadsheet cell is kept
        except json.JSONDecodeError as error:  # its message holds a position, never the text
            raise ValueError(f"not JSON ({error.msg} at character {error.pos})") from None
        except RecursionError:  # a CSV cell is not bounded by ingest.limits.max_json_depth
            raise ValueError("JSON nested too deeply to be a conversation") from None
    if not isinstance(data, list):
        raise ValueError(f"{_kind(data)}, not a list of messages")
    if not data:
        raise ValueError("an empty list: no messages")
    messages = [_message(index, item) for index, item in enumerate(data)]
    if not any(message["content"].strip() for message in messages):
        raise ValueError("every message's content is empty")
    return messages


def _message(index: int, item: Any) -> Message:
    if not isinstance(item, dict):
        raise ValueError(f"[{index}]: {_kind(item)}, not an object with a role and a content")
    role, content = item.get("role"), item.get("content")
    if "role" not in item:
        raise ValueError(f"[{index}].role: missing")
    if role not in ROLES:
        raise ValueError(f"[{index}].role: not one of {', '.join(repr(r) for r in ROLES)}")
    if "content" not in item:
        raise ValueError(f"[{index}].content: missing")
    if not isinstance(content, str):
        raise ValueError(f"[{index}].content: {_kind(content)}, not a string")
    return {"role": role, "content": content}


def _kind(value: Any) -> str:
    """The JSON type of a value, with its article: what a reason may say about a value without quoting it."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return _JSON_TYPES.get(type(value), type(value).__name__)


def located(column: str, error: ValueError) -> str:
    """A reason of `parse_messages` with the column it is about: `messages[2].role: ...`, `messages: not JSON ...`."""
    reason = str(error)
    return f"{column}{reason}" if reason.startswith("[") else f"{column}: {reason}"


def dump_messages(messages: Sequence[Mapping[str, str]]) -> str:
    """The canonical JSON text of a conversation: role and content only, in that order, not ASCII-escaped."""
    return json.dumps([{"role": m["role"], "content": m["content"]} for m in messages], ensure_ascii=False)


def messages_or_none(text: str) -> list[Message] | None:
    """The messages of a value in the canonical form; None for any other text (free text that merely
    looks like JSON included)."""
    if not text.startswith(CANONICAL_PREFIX):
        return None
    try:
        return parse_messages(text)
    except ValueError:
        return None


def is_messages(value: object) -> bool:
    """Whether a cell holds a conversation in the canonical form (a missing value or any other text does not)."""
    return isinstance(value, str) and messages_or_none(value) is not None


def message_text(messages: Sequence[Mapping[str, str]]) -> str:
    """The words of a conversation: its non-empty contents joined by line breaks (roles are not text)."""
    return "\n".join(m["content"] for m in messages if m["content"])


def with_contents(messages: Sequence[Mapping[str, str]], contents: Sequence[str]) -> list[Message]:
    """The conversation with each message's content replaced, roles and order kept (for redaction, swaps)."""
    if len(contents) != len(messages):
        raise ValueError(f"{len(contents)} contents for {len(messages)} messages")
    return [{"role": m["role"], "content": content} for m, content in zip(messages, contents, strict=True)]
