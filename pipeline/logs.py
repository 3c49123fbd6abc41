"""Loggers whose messages never carry control characters to a terminal or a log file.

Values from an export (a label, a column name, a file name) can hold NUL
bytes, ANSI escape sequences or bidirectional overrides; in a log they could
rewrite the terminal or forge lines. `printable` writes each such character
as an escape (`\\x00`, `\\x1b`, `\\u202e`); line breaks and tabs the pipeline
writes itself stay.
"""

from __future__ import annotations

import logging
import re

# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides and isolates
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    return CONTROL_CHARACTERS.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


class EscapeControlCharacters(logging.Filter):
    """Formats the record's message once and escapes its control characters, for every handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        escaped = printable(message)
        if escaped != message:
            record.msg, record.args = escaped, None
        return True


def get_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    if not any(isinstance(f, EscapeControlCharacters) for f in logger.filters):
        logger.addFilter(EscapeControlCharacters())
    return logger
