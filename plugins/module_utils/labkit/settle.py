"""Settle before measuring: load every core until the node's temperature stops rising.

A Pi's SoC takes tens of minutes to reach its working temperature under load, and an experiment
of a few minutes that starts cold measures the warm-up: the first runs are faster than the last,
and a node that throttles does so only late. `-e lab_settle=true` runs load on every core of
every node first, reading the temperature every `interval` seconds, until over the last
`window` seconds it rose less than `rise_c` (the least-squares slope × the window, so one noisy
reading neither stops nor prolongs it), or until `max_seconds`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

from .params import ParameterError, parse_float


@dataclass(frozen=True)
class Verdict:
    settled: bool
    rise_c: Optional[float]   # the fitted rise over the last window; None before a window has passed


def rise_over_window(readings: Sequence[tuple[float, float]], window_s: float) -> Optional[float]:
    """The least-squares slope of (seconds, °C) over the last window_s seconds × window_s; None until
    the readings span the window (at least three of them)."""
    if not readings or readings[-1][0] - readings[0][0] < window_s:
        return None
    last = [(t, c) for t, c in readings if t >= readings[-1][0] - window_s]
    if len(last) < 3:
        return None
    n = len(last)
    mean_t = sum(t for t, _ in last) / n
    mean_c = sum(c for _, c in last) / n
    spread = sum((t - mean_t) ** 2 for t, _ in last)
    if spread == 0:
        return None
    slope = sum((t - mean_t) * (c - mean_c) for t, c in last) / spread
    return slope * window_s


def verdict(readings: Sequence[tuple[float, float]], window_s: float, rise_c: float) -> Verdict:
    """Settled once a whole window has passed and the temperature rose less than rise_c over it."""
    rise = rise_over_window(readings, window_s)
    return Verdict(settled=rise is not None and rise < rise_c, rise_c=rise)


def check_settings(window_s: object, rise_c: object, max_seconds: object) -> str:
    """'' when -e lab_settle_window, lab_settle_rise_c and lab_settle_max_seconds are usable, else the message."""
    try:
        window = parse_float("lab_settle_window", window_s, low=1)
        parse_float("lab_settle_rise_c", rise_c, low=0, low_open=True)
        parse_float("lab_settle_max_seconds", max_seconds, low=window)
    except ParameterError as err:
        return str(err)
    return ""


def summary(node: str, result: dict) -> str:
    """One node's settling in words: "pi-1: 47.2 → 61.8 °C in 9.5 min, settled (+0.3 °C over the last 120 s)"."""
    if result.get("error"):
        return f"{node}: not settled ({result['error']})"
    if result.get("settled") is None:
        return f"{node}: {result.get('reason') or 'nothing to settle on'}"
    minutes = (result.get("seconds") or 0) / 60
    rise = result.get("rise_c")
    rise_text = f" ({rise:+.1f} °C over the last {result.get('window_s'):g} s)" if isinstance(rise, (int, float)) else ""
    state = "settled" if result.get("settled") else "still rising when the time ran out"
    return (f"{node}: {result.get('start_c'):.1f} → {result.get('end_c'):.1f} °C in {minutes:.1f} min, "
            f"{state}{rise_text}")


def from_results(entries: Sequence[object]) -> list[dict]:
    """Each node's settling from the registered start (async) and wait results of settle.yml: the
    module's `settle` where it finished, else the reason ("unreachable: …", a failure's message,
    or that it did not finish in time)."""
    found: dict[str, dict] = {}
    finished: set[str] = set()
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        item = entry.get("item")
        node = item.get("item") if isinstance(item, dict) else item  # async_status loops over the start results
        node = str(node)
        if isinstance(entry.get("settle"), dict):
            found[node] = dict(entry["settle"])
            finished.add(node)
        elif (entry.get("unreachable") or entry.get("failed")) and node not in finished:
            reason = str(entry.get("msg") or "failed").splitlines()[0][:200]
            found[node] = {"node": node, "settled": False,
                           "error": ("unreachable: " if entry.get("unreachable") else "") + reason}
        elif "ansible_job_id" in entry:
            found.setdefault(node, {"node": node, "settled": False, "error": "it did not finish in time"})
    return list(found.values())
