"""Importing saved worker logs (`kubectl logs` output) instead of running.

Both formats are read: RESULT lines (grouped into runs by run_id) and seed
001's `Node <host>: π ≈ …, Time: …s` lines (one legacy run, plus the legacy
block that reproduces seed 001's arithmetic beside the honest figure).
Malformed lines are counted and reported; only a log with nothing usable fails.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from .params import ParameterError
from .results import legacy_block, legacy_runs, parse_result_lines
from .runs import PlannedRun, run_record

MAX_LOG_BYTES = 256 * 1024 * 1024


def read_log(path: str) -> str:
    """The log's text; ParameterError naming the path when it cannot be used."""
    log = Path(path)
    if not log.exists():
        raise ParameterError(f"pi_import_logs={path!r}: no such file")
    if not log.is_file():
        raise ParameterError(f"pi_import_logs={path!r} is not a regular file")
    if log.stat().st_size > MAX_LOG_BYTES:
        raise ParameterError(f"pi_import_logs={path!r} is larger than {MAX_LOG_BYTES // 2**20} MiB")
    try:
        return log.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise ParameterError(f"pi_import_logs={path!r} cannot be read: {err.strerror}") from err


def result_runs(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run records from imported RESULT lines, one per run_id.

    A log holds no submit time, so t_e2e_s is the workers' span
    (max t_end − min t_start), a lower bound on the real makespan. All groups
    with the same total samples are strong scaling; otherwise weak.
    """
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        if record.get("workload") == "pi":
            groups[record["run_id"]].append(record)
    totals = {sum(r.get("samples", 0) for r in group) for group in groups.values()}
    mode = "strong" if len(totals) <= 1 else "weak"
    runs = []
    for order, (run_id, group) in enumerate(sorted(groups.items()), start=1):
        group.sort(key=lambda r: r["index"])
        span_s = (max(r["t_end_ns"] for r in group) - min(r["t_start_ns"] for r in group)) / 1e9
        count = group[0]["count"]
        problems = [] if sorted(r["index"] for r in group) == list(range(count)) else [
            f"worker indices {[r['index'] for r in group]} are not 0..{count - 1}"]
        planned = PlannedRun(run_id=run_id, workload="pi", mode=mode, workers=count, repetition=order,
                             warmup=False, order=order, work=sum(r.get("samples", 0) for r in group))
        runs.append(run_record(planned, span_s, group, problems).to_dict())
    return runs


def import_logs(path: str, reference_s: float | None) -> dict[str, Any]:
    """Runs, legacy block and parse counts from a saved log."""
    parsed = parse_result_lines(read_log(path))
    runs = result_runs(parsed.records) + legacy_runs(parsed.legacy, "legacy-import")
    if not runs:
        raise ParameterError(
            f"pi_import_logs={path!r} holds no usable result: no RESULT lines and no "
            f"'Node <host>: π ≈ <estimate>, Time: <seconds>s' lines "
            f"({parsed.malformed} malformed, {parsed.other} other lines)")
    outcome = parsed.as_dict()
    return {
        "runs": runs,
        "legacy": legacy_block(parsed.legacy, reference_s) if parsed.legacy else None,
        "malformed": outcome["malformed"],
        "malformed_examples": outcome["malformed_examples"],
        "other_lines": outcome["other"],
        "result_lines": len(parsed.records),
        "legacy_lines": len(parsed.legacy),
        # What the report shows as the experiment's parameters.
        "parameters": {"pi_import_logs": path, "pi_reference_seconds": reference_s,
                       "malformed_lines": outcome["malformed"], "malformed_examples": outcome["malformed_examples"]},
    }
