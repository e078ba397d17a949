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


def skipped_block(path: str, malformed: int, unrecognised: int, lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The report's `skipped_lines` block: how many lines of which file were left out, and the
    first of them with their line numbers and reasons."""
    return {
        "file": path,
        "total": malformed + unrecognised,
        "malformed": malformed,
        "unrecognised": unrecognised,
        "lines": [dict(line, file=path) for line in lines],
    }


def import_logs(path: str, reference_s: float | None) -> dict[str, Any]:
    """Runs, legacy block, what was skipped and the parse counts from a saved log.

    `extra` holds the report's blocks (legacy, skipped_lines); `parameters` only the
    user's values."""
    parsed = parse_result_lines(read_log(path))
    runs = result_runs(parsed.records) + legacy_runs(parsed.legacy, "legacy-import")
    if not runs:
        first = parsed.skipped[0] if parsed.skipped else None
        raise ParameterError(
            f"pi_import_logs={path!r} holds no usable result: no RESULT lines and no "
            f"'Node <host>: π ≈ <estimate>, Time: <seconds>s' lines "
            f"({parsed.malformed} malformed, {parsed.other} other lines"
            + (f"; line {first['line_no']}: {first['reason']}" if first else "") + ")")
    legacy = legacy_block(parsed.legacy, reference_s) if parsed.legacy else None
    skipped = skipped_block(path, parsed.malformed, parsed.other, parsed.skipped)
    extra: dict[str, Any] = {"legacy": legacy} if legacy else {}
    if skipped["total"]:
        extra["skipped_lines"] = skipped
    return {
        "runs": runs,
        "legacy": legacy,
        "skipped_lines": skipped,
        "extra": extra,
        "malformed": parsed.malformed,
        "malformed_examples": parsed.malformed_examples,
        "other_lines": parsed.other,
        "result_lines": len(parsed.records),
        "legacy_lines": len(parsed.legacy),
        # What the report shows as the experiment's parameters: the user's values, nothing else.
        "parameters": {"pi_import_logs": path, "pi_reference_seconds": reference_s},
    }
