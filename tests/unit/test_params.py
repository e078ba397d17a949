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


@pytest.mark.parametrize("value", ["1,,2", "1,2,", ",1", " , "])
def test_parse_int_list_refuses_an_empty_item_between_commas(value: str) -> None:
    with pytest.raises(ParameterError, match="has an empty item between commas"):
        parse_int_list("pi_workers", value)


def test_parse_int_list_still_takes_spaces_and_brackets() -> None:
    assert parse_int_list("pi_workers", "1 2 4") == [1, 2, 4]
    assert parse_int_list("pi_workers", "[1, 2]") == [1, 2]


@pytest.mark.parametrize("many,name", [(True, "pi_workers"), (False, "transcode_workers")])
def test_one_worker_rule_for_every_workload(many: bool, name: str) -> None:
    from labkit.params import parse_workers

    # Empty is the automatic choice (None: the caller makes it) ...
    assert parse_workers(name, "", maximum=16, automatic="the cores", many=many) is None
    assert parse_workers(name, None, maximum=16, automatic="the cores", many=many) is None
    # ... and 0 is an error that says how to get the automatic choice, for both workloads.
    for zero in (0, "0"):
        with pytest.raises(ParameterError, match=rf"{name}=.?0.? must be at least 1 \(leave it empty, -e {name}=, "
                                                 r"for the cores\)"):
            parse_workers(name, zero, maximum=16, automatic="the cores", many=many)
    assert parse_workers(name, "2", maximum=16, automatic="the cores", many=many) == [2]


def test_a_single_worker_count_is_one_number() -> None:
    from labkit.params import parse_workers

    assert parse_workers("pi_workers", "1,2", maximum=16, automatic="x", many=True) == [1, 2]
    with pytest.raises(ParameterError, match="transcode_workers='1,2' must be one number"):
        parse_workers("transcode_workers", "1,2", maximum=16, automatic="x", many=False)


def test_unknown_variables_name_the_closest_known_one() -> None:
    from labkit.params import unknown_variables, unknown_variables_message

    known = ["pi_samples", "pi_samples_per_worker", "pi_workers", "pi_repetitions"]
    found = unknown_variables(["pi_sampels", "pi_workers", "lab_root", "pi_zzz", "transcode_crf"], known, "pi_")
    assert found == [("pi_sampels", "pi_samples"), ("pi_zzz", None)]
    message = unknown_variables_message(found, "pi_", "roles/pi/meta/argument_specs.yml")
    assert "pi_sampels (did you mean pi_samples?)" in message and "pi_zzz;" not in message
    assert message.startswith("Unknown pi_* variables: ") and "roles/pi/meta/argument_specs.yml" in message
    assert unknown_variables(["pi_samples"], known, "pi_") == []
    assert unknown_variables_message([], "pi_", "x") == ""


def test_user_paths_resolve_from_the_directory_the_command_ran_in() -> None:
    import os

    from labkit.params import resolve_user_path

    assert resolve_user_path("clip.mp4", "/home/u/videos") == "/home/u/videos/clip.mp4"
    assert resolve_user_path("../clip.mp4", "/home/u/videos") == "/home/u/clip.mp4"
    assert resolve_user_path("/data/clip.mp4", "/home/u/videos") == "/data/clip.mp4"
    assert resolve_user_path("~/clip.mp4", "/elsewhere") == os.path.expanduser("~/clip.mp4")
    assert resolve_user_path("late audio.mkv", "/v") == "/v/late audio.mkv"
    assert resolve_user_path("", "/v") == "" and resolve_user_path(None, "/v") == ""


def test_plural_counts_things_in_words() -> None:
    from labkit.text import plural

    assert plural(1, "segment") == "1 segment" and plural(2, "segment") == "2 segments"
    assert plural(0, "run") == "0 runs" and plural(3, "child", "children") == "3 children"


def test_an_unknown_name_may_be_pointed_at_another_roles_variable() -> None:
    from labkit.params import unknown_variables

    found = unknown_variables(["pi_prerequisites_reboot"], ["pi_samples"], "pi_", elsewhere=["rpi_prerequisites_reboot"])
    assert found == [("pi_prerequisites_reboot", "rpi_prerequisites_reboot")]
    # This role's own names come first.
    assert unknown_variables(["pi_sampels"], ["pi_samples"], "pi_", elsewhere=["pi_sample"]) == [
        ("pi_sampels", "pi_samples")]
