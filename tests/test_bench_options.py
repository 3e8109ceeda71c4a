"""The benchmarks' own options: bad values get a clear error, not a traceback mid-run."""

from __future__ import annotations

import argparse

import pytest

from bench.line_search import widths_of


def test_widths_are_parsed_in_order() -> None:
    assert widths_of("1,3,8") == [1, 3, 8]


@pytest.mark.parametrize(("text", "message"), [
    ("x", "not comma-separated integers"),
    ("3,", "not comma-separated integers"),
    ("0,3", "must be 1 or more"),
])
def test_bad_widths_are_refused(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        widths_of(text)
