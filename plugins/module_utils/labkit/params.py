"""Validation of user-supplied (-e) parameters, with messages that name the value.

Values arrive from Ansible as strings, numbers, lists or booleans; each parser
accepts the forms a person would type and raises ParameterError otherwise.
"""
from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Iterable
from typing import Any


# Beyond this many workers per core a local run measures the scheduler, not the work.
MAX_LOCAL_WORKERS_PER_CORE = 8


class ParameterError(ValueError):
    """A parameter the user set is unusable; the message says which and why."""


_INT_TEXT = re.compile(r"^[+-]?\d[\d_]*$")
_FLOAT_TEXT = re.compile(r"^[+-]?(\d[\d_]*(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def parse_int(name: str, value: Any, *, minimum: int = 1, maximum: int | None = None) -> int:
    """A whole number in [minimum, maximum]; accepts 10, "10", "1_000_000", "1e6" (if whole)."""
    number: int
    if isinstance(value, bool):
        raise ParameterError(f"{name}={value!r} is not a whole number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INT_TEXT.match(value.strip()):
        number = int(value.strip().replace("_", ""))
    elif isinstance(value, str) and _FLOAT_TEXT.match(value.strip()) and float(value).is_integer():
        number = int(float(value))
    else:
        raise ParameterError(f"{name}={value!r} is not a whole number")
    if number < minimum:
        raise ParameterError(f"{name}={value!r} must be at least {minimum}")
    if maximum is not None and number > maximum:
        raise ParameterError(f"{name}={value!r} must be at most {maximum}")
    return number


def parse_float(name: str, value: Any, *, low: float = -math.inf, high: float = math.inf,
                low_open: bool = False) -> float:
    """A finite number in [low, high] (or (low, high] with low_open); accepts 2.5, "2.5", "1e3"."""
    if isinstance(value, bool):
        raise ParameterError(f"{name}={value!r} is not a number")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and _FLOAT_TEXT.match(value.strip()):
        number = float(value.strip().replace("_", ""))
    else:
        raise ParameterError(f"{name}={value!r} is not a number")
    if not math.isfinite(number) or number < low or (low_open and number == low) or number > high:
        lower = f"greater than {low:g}" if low_open else f"at least {low:g}"
        bounds = [text for text, bounded in ((lower, low > -math.inf), (f"at most {high:g}", high < math.inf))
                  if bounded]
        raise ParameterError(f"{name}={value!r} must be a number {' and '.join(bounds) or 'that is finite'}")
    return number


def parse_positive_float(name: str, value: Any) -> float:
    """A number > 0 (seconds, for instance)."""
    return parse_float(name, value, low=0.0, low_open=True)


def _list_items(name: str, value: Any) -> list[Any]:
    """The items of a list value: a YAML list, "1,2,4", "1 2 4" or a single value.

    An empty item between commas ("1,,2", "1,2,") is refused: it is a typing slip, and
    silently dropping it would run something else than the user meant."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if not isinstance(value, str):
        return [value]
    text = value.strip().strip("[]").strip()
    if "," not in text:
        return text.split()
    parts = [part.strip() for part in text.split(",")]
    if any(part == "" for part in parts):
        raise ParameterError(f"{name}={value!r} has an empty item between commas; give numbers like 1,2,4")
    return parts


def parse_int_list(name: str, value: Any, *, minimum: int = 1, maximum: int | None = None) -> list[int]:
    """A list of whole numbers: [1, 2, 4], "1,2,4", "1 2 4" or a single 4; sorted, duplicates removed."""
    items = _list_items(name, value)
    if not items:
        raise ParameterError(f"{name}={value!r} is empty; give at least one number, e.g. 1,2,4")
    numbers = set()
    for item in items:
        try:
            numbers.add(parse_int(name, item, minimum=minimum, maximum=maximum))
        except ParameterError as err:
            if len(items) == 1:
                raise
            reason = str(err).split(" ", 1)[1]  # drop the "name=item" head: say which item of which list
            raise ParameterError(f"{name}={value!r}: {item!r} {reason}") from None
    return sorted(numbers)


def is_unset(value: Any) -> bool:
    """Whether the user left a value empty (-e name= or the role's empty default): the automatic choice."""
    return value is None or (isinstance(value, str) and value.strip() == "")


def parse_workers(name: str, value: Any, *, maximum: int, automatic: str, many: bool) -> list[int] | None:
    """Worker counts, one rule for every workload: empty means the automatic choice (None is
    returned and the caller makes it); anything else is whole numbers from 1 to `maximum`.

    0 is refused like any other count below 1, with a message that says how to get the
    automatic choice (`automatic` describes it: "the controller's cores"). `many` allows a
    list (pi_workers=1,2,4); otherwise exactly one number (transcode_workers=4)."""
    if is_unset(value):
        return None
    hint = f" (leave it empty, -e {name}=, for {automatic})"
    try:
        counts = parse_int_list(name, value, minimum=1, maximum=maximum)
    except ParameterError as err:
        wants_hint = "at least 1" in str(err) or "not a whole number" in str(err)
        raise ParameterError(f"{err}{hint}" if wants_hint else str(err)) from None
    if not many and len(counts) != 1:
        raise ParameterError(f"{name}={value!r} must be one number{hint}")
    return counts


def parse_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise ParameterError(f"{name}={value!r} is not one of: {', '.join(choices)}")
    return text


def parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on", "y"):
        return True
    if text in ("0", "false", "no", "off", "n", ""):
        return False
    raise ParameterError(f"{name}={value!r} is not true or false")


def unknown_variables(given: Iterable[str], known: Iterable[str], prefix: str,
                      elsewhere: Iterable[str] = ()) -> list[tuple[str, str | None]]:
    """The names in `given` that start with `prefix` (a workload's namespace, "pi_") but are not
    `known`, sorted, each with the closest known name, else the closest of `elsewhere` (other
    roles' variables: pi_prerequisites_reboot was renamed rpi_prerequisites_reboot), else None."""
    known_names = sorted(set(known))
    other_names = sorted(set(elsewhere) - set(known_names))

    def closest(name: str) -> str | None:
        for names in (known_names, other_names):
            match = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
            if match:
                return match[0]
        return None

    return [(name, closest(name)) for name in sorted(set(given)) if name.startswith(prefix) and name not in known_names]


def unknown_variables_message(unknown: list[tuple[str, str | None]], prefix: str, where: str) -> str:
    """One sentence naming every unknown variable and its closest known one ('' when none)."""
    if not unknown:
        return ""
    names = "; ".join(f"{name}" + (f" (did you mean {close}?)" if close else "") for name, close in unknown)
    noun = "variable" if len(unknown) == 1 else "variables"
    return (f"Unknown {prefix}* {noun}: {names}. Nothing was run: a misspelled name would be ignored and "
            f"its default used. The known {prefix}* variables are the options in {where}.")


def resolve_user_path(path: Any, cwd: str) -> str:
    """A file name the user typed, made absolute: ~ expanded, a relative name taken from `cwd`
    (the directory the command was run in). Empty stays empty (the role's automatic choice)."""
    if is_unset(path):
        return ""
    text = os.path.expanduser(str(path))
    return os.path.normpath(os.path.join(cwd, text))
