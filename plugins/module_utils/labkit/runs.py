"""Turning one executed run into the run record of docs/ARCHITECTURE.md."""
from __future__ import annotations

from typing import Any

from .environment import OCCURRED_OFFSET, parse_throttled
from .local_backend import PoolOutcome, describe_failure
from .results import parse_result_lines

# Planning-only fields that do not belong in the record.
_PLAN_ONLY = ("commands", "label", "seed")


def throttled_during(before: str | None, after: str | None) -> bool:
    """Did the node throttle between two `vcgencmd get_throttled` readings?

    Yes when a "now" bit (0–3) is set after the run, or a "has occurred" bit
    (16–19) is set after the run that was clear before it. No readings, no flag.
    """
    first, last = parse_throttled(before), parse_throttled(after)
    if last is None:
        return False
    new_occurred = (last["value"] >> OCCURRED_OFFSET) & ~((first or {"value": 0})["value"] >> OCCURRED_OFFSET)
    return bool(last["throttled_now"] or (first is not None and new_occurred & 0xF))


def collect_run(planned: dict[str, Any], outcome: PoolOutcome) -> tuple[dict[str, Any], list[str]]:
    """The run record from a planned run and its pool outcome, plus the problems found.

    Only RESULT lines are parsed (DESIGN §3). A run is valid when every worker
    exited 0 and exactly one well-formed result came back per worker, each
    tagged with this run's id.
    """
    problems = [describe_failure(item) for item in outcome.failed]
    parsed = parse_result_lines("\n".join(item.stdout for item in outcome.items))
    results = [r for r in parsed.records if r.get("run_id") == planned["run_id"]]
    if parsed.malformed:
        problems.append(f"{parsed.malformed} malformed RESULT line(s), e.g. {parsed.malformed_examples[0]['reason']}")
    expected = len(outcome.items)
    if len(results) != expected:
        problems.append(f"{len(results)} results for {expected} workers")
    indices = sorted(r["index"] for r in results)
    if len(set(indices)) != len(indices):
        problems.append(f"duplicate worker indices {indices}")
    record = {key: value for key, value in planned.items() if key not in _PLAN_ONLY}
    record.update(
        t_e2e_s=outcome.t_e2e_s,
        results=sorted(results, key=lambda r: r["index"]),
        throttled=bool(planned.get("throttled", False)),
        valid=not problems,
    )
    return record, problems
