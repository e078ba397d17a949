"""Validation of user-supplied (-e) parameters, with messages that name the value.

Values arrive from Ansible as strings, numbers, lists or booleans; each parser
accepts the forms a person would type and raises ParameterError otherwise.
"""
from __future__ import annotations

import math
import re
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


def parse_int_list(name: str, value: Any, *, minimum: int = 1, maximum: int | None = None) -> list[int]:
    """A list of whole numbers: [1, 2, 4], "1,2,4", "1 2 4" or a single 4; sorted, duplicates removed."""
    items: list[Any]
    if isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, str):
        items = [part for part in re.split(r"[,\s]+", value.strip().strip("[]")) if part]
    else:
        items = [value]
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
