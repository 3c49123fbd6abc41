import logging

import pytest

from pipeline.logs import get_logger, printable


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("shipping\x00", "shipping\\x00"),
        ("\x1b[2J\x1b]0;owned\x07title", "\\x1b[2J\\x1b]0;owned\\x07title"),
        ("invoice\u202egpj.exe", "invoice\\u202egpj.exe"),
        ("carriage\rreturn", "carriage\\rreturn"),
        ("two\nlines\tand a tab, é and 日本", "two\nlines\tand a tab, é and 日本"),
    ],
)
def test_control_characters_are_written_as_escapes(raw, shown):
    assert printable(raw) == shown


def test_a_pipeline_logger_escapes_values_in_every_handler(caplog):
    caplog.set_level(logging.INFO, logger="pipeline.test")
    get_logger("pipeline.test").warning("label '%s' is rare", "ship\x00\x1b[31m")
    assert caplog.messages == ["label 'ship\\x00\\x1b[31m' is rare"]
    assert (
        get_logger("pipeline.test") is logging.getLogger("pipeline.test")
        and len(logging.getLogger("pipeline.test").filters) == 1
    )
