"""User parameter parsing: the forms people type, and messages naming the bad value."""
from __future__ import annotations

import pytest

from labkit.params import ParameterError, parse_bool, parse_choice, parse_int, parse_int_list, parse_positive_float


@pytest.mark.parametrize("value,expected", [(10, 10), ("10", 10), ("1_000_000", 1_000_000), ("1e6", 1_000_000),
                                            (4.0, 4)])
def test_parse_int_accepts_what_people_type(value: object, expected: int) -> None:
    assert parse_int("pi_samples", value) == expected


@pytest.mark.parametrize("value,message", [("ten", "pi_samples='ten' is not a whole number"),
                                           (0, "pi_samples=0 must be at least 1"),
                                           ("-5", "pi_samples='-5' must be at least 1"),
                                           (2.5, "is not a whole number"),
                                           (True, "is not a whole number")])
def test_parse_int_names_the_bad_value(value: object, message: str) -> None:
    with pytest.raises(ParameterError, match=message.replace("(", r"\(")):
        parse_int("pi_samples", value)


def test_parse_int_list_accepts_lists_and_comma_text_sorted_and_unique() -> None:
    assert parse_int_list("pi_workers", "4, 1,2,2") == [1, 2, 4]
    assert parse_int_list("pi_workers", [2, "1"]) == [1, 2]
    assert parse_int_list("pi_workers", 3) == [3]


def test_parse_int_list_rejects_an_absurd_count() -> None:
    with pytest.raises(ParameterError, match="pi_workers='1,5000': '5000' must be at most 16"):
        parse_int_list("pi_workers", "1,5000", maximum=16)


def test_parse_positive_float_and_choice_and_bool() -> None:
    assert parse_positive_float("pi_reference_seconds", "1.52") == 1.52
    with pytest.raises(ParameterError, match="pi_reference_seconds=.-1. must be a number greater than 0"):
        parse_positive_float("pi_reference_seconds", "-1")
    assert parse_choice("pi_kernel", "NumPy", ("python", "numpy")) == "numpy"
    with pytest.raises(ParameterError, match="pi_kernel='gpu' is not one of: python, numpy"):
        parse_choice("pi_kernel", "gpu", ("python", "numpy"))
    assert parse_bool("pi_warmup", "no") is False and parse_bool("pi_warmup", True) is True
    with pytest.raises(ParameterError):
        parse_bool("pi_warmup", "maybe")


def test_parse_float_bounds_are_named() -> None:
    from labkit.params import parse_float

    assert parse_float("transcode_crf", "23.5", low=0, high=63) == 23.5
    with pytest.raises(ParameterError, match="transcode_crf=70 must be a number at least 0 and at most 63"):
        parse_float("transcode_crf", 70, low=0, high=63)
    with pytest.raises(ParameterError, match="transcode_segment_seconds=0 must be a number greater than 0"):
        parse_float("transcode_segment_seconds", 0, low=0, low_open=True)
    with pytest.raises(ParameterError, match="is not a number"):
        parse_float("transcode_crf", "nan%", low=0)
    with pytest.raises(ParameterError, match="must be a number that is finite"):
        parse_float("x", float("inf"))
